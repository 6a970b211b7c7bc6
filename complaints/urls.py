from __future__ import annotations

from django.urls import path

from complaints import views
from escalation.views import notification_list

app_name = "complaints"
urlpatterns = [
    path("", views.home, name="home"),
    path("notifications/", notification_list, name="notifications"),
]
