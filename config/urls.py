from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from complaints import two_factor
from complaints.views.public import ends_follow_up

urlpatterns = [
    # Signing in ends an anonymous follow-up open in the same browser (ends_follow_up).
    path("admin/login/", ends_follow_up(admin.site.login)),
    path("admin/", admin.site.urls),
    path("accounts/two-factor/", two_factor.two_factor_verify_view, name="two_factor_verify"),
    path("accounts/two-factor/setup/", two_factor.two_factor_setup_view,
         name="two_factor_setup"),
    path("accounts/login/", ends_follow_up(LoginView.as_view()), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    # set_language: the language switcher in templates/base.html posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("complaints.api.urls")),
    path("compliance/", include("compliance.urls")),
    # /healthz, /readyz, /metrics (docs/operations.md).
    path("", include("operations.urls")),
    path("", include("complaints.urls")),
]
handler500 = "complaints.unavailable.server_error"
