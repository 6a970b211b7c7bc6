from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from complaints.api import docs, views

app_name = "api"
urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("reporter/session/", views.ReporterSessionView.as_view(), name="reporter_session"),
    path("complaints/", views.ComplaintListView.as_view(), name="complaints"),
    path("complaints/<str:reference>/", views.ComplaintDetailView.as_view(), name="complaint"),
    path("complaints/<str:reference>/transitions/<str:name>/", views.TransitionView.as_view(),
         name="transition"),
    path("complaints/<str:reference>/messages/", views.MessageListView.as_view(),
         name="messages"),
    path("audit/events/", views.AuditEventListView.as_view(), name="audit_events"),
    path("audit/verify/", views.AuditVerifyView.as_view(), name="audit_verify"),
    path("audit/checkpoints/", views.CheckpointListView.as_view(), name="audit_checkpoints"),
    path("audit/public-key/", views.PublicKeyView.as_view(), name="audit_public_key"),
    path("directory/people/<str:employee_id>/", views.PersonView.as_view(), name="person"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^", views.NotFoundView.as_view()),
]
