from __future__ import annotations

from django.urls import path

from complaints.views import public, staff
from complaints.views.notifications import notification_list

app_name = "complaints"
urlpatterns = [
    path("", public.home, name="home"),
    path("report/", public.report, name="report"),
    path("follow-up/", public.follow_up, name="follow_up"),
    path("follow-up/case/", public.reporter_case, name="reporter_case"),
    path("follow-up/end/", public.follow_up_end, name="follow_up_end"),
    path("follow-up/case/attachments/<int:pk>/", public.reporter_attachment,
         name="reporter_attachment"),
    path("my/", public.my_cases, name="my_cases"),
    path("my/<str:reference>/", public.my_case, name="my_case"),
    path("my/<str:reference>/attachments/<int:pk>/", public.my_attachment,
         name="my_attachment"),
    path("staff/", staff.queue, name="staff_queue"),
    path("staff/cases/<str:reference>/", staff.case, name="staff_case"),
    path("staff/cases/<str:reference>/transitions/<str:name>/", staff.transition,
         name="staff_transition"),
    path("staff/cases/<str:reference>/messages/", staff.send_message, name="staff_message"),
    path("staff/cases/<str:reference>/attachments/", staff.add_attachment,
         name="staff_add_attachment"),
    path("staff/cases/<str:reference>/attachments/<int:pk>/", staff.attachment,
         name="staff_attachment"),
    path("staff/cases/<str:reference>/notes/", staff.add_note, name="staff_note"),
    path("staff/cases/<str:reference>/investigation/", staff.investigation,
         name="staff_investigation"),
    path("staff/cases/<str:reference>/investigation/plan/", staff.update_plan,
         name="staff_investigation_plan"),
    path("staff/cases/<str:reference>/investigation/interviews/", staff.record_interview,
         name="staff_investigation_interview"),
    path("staff/cases/<str:reference>/investigation/evidence/", staff.record_evidence,
         name="staff_investigation_evidence"),
    path("staff/cases/<str:reference>/conflict/", staff.declare_conflict,
         name="staff_declare_conflict"),
    path("staff/cases/<str:reference>/conflicts/<int:pk>/removal/",
         staff.request_conflict_removal, name="staff_conflict_removal"),
    path("staff/cases/<str:reference>/conflict-removals/<int:pk>/decision/",
         staff.decide_conflict_removal, name="staff_conflict_removal_decision"),
    path("notifications/", notification_list, name="notifications"),
]
