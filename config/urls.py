from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from complaints import two_factor

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/two-factor/", two_factor.two_factor_verify_view, name="two_factor_verify"),
    path("accounts/two-factor/setup/", two_factor.two_factor_setup_view,
         name="two_factor_setup"),
    path("accounts/", include("django.contrib.auth.urls")),
    # set_language: the language switcher in templates/base.html posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("complaints.api.urls")),
    path("compliance/", include("audit.urls")),
    path("", include("complaints.urls")),
]
handler500 = "complaints.unavailable.server_error"
