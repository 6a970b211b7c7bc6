"""Mounted at /compliance/ (config/urls.py)."""

from __future__ import annotations

from django.urls import path

from compliance import views

app_name = "compliance"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("report.pdf", views.report_pdf, name="report_pdf"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/verify/", views.verify_chain, name="verify_chain"),
    path("policies/", views.policies, name="policies"),
    path("policies/changes/<int:pk>/approve/", views.policy_change_approve,
         name="policy_change_approve"),
    path("policies/changes/<int:pk>/reject/", views.policy_change_reject,
         name="policy_change_reject"),
    path("cases/<str:reference>/audit.csv", views.case_audit_csv, name="case_audit_csv"),
    path("cases/<str:reference>/audit.pdf", views.case_audit_pdf, name="case_audit_pdf"),
]
