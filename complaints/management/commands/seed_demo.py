from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from complaints import access, services
from complaints.models import Category, Complaint, Outcome
from complaints.services.directory import directory_import

DIRECTORY = """employee_id,name,email,department,manager_employee_id
D001,Grace Okafor,grace.okafor@demo.example,Executive,
D002,Victor Hale,victor.hale@demo.example,Sales,D001
D003,Marcus Reed,marcus.reed@demo.example,Sales,D002
D004,Lena Fischer,employee@demo.example,Sales,D003
D005,Tom Brandt,tom.brandt@demo.example,Sales,D003
D006,Priya Nair,hr.director@demo.example,People,D001
D007,Sam Ortiz,hr.reviewer@demo.example,People,D006
D008,Wei Zhang,hr.lead@demo.example,People,D006
D009,Ana Costa,investigator@demo.example,People,D006
D010,Omar Haddad,compliance@demo.example,Compliance,D001
D011,Ruth Adler,audit.committee@demo.example,Board,
"""

# (username, role, password). Demo only: `make run` prints them.
ACCOUNTS = [
    ("employee", None, "demo-employee-2026"),
    ("hr.reviewer", access.HR_REVIEWER, "demo-reviewer-2026"),
    ("hr.lead", access.HR_LEAD, "demo-lead-2026"),
    ("investigator", access.INVESTIGATOR, "demo-investigator-2026"),
    ("compliance", access.COMPLIANCE_OFFICER, "demo-compliance-2026"),
    ("audit.committee", access.AUDIT_COMMITTEE, "demo-committee-2026"),
    # The HR system's service account: the directory's only writer (PUT directory/people/).
    ("hr-system", access.DIRECTORY_SYNC, "demo-hr-system-2026"),
]
ADMIN = ("admin", "demo-admin-2026")


class Command(BaseCommand):
    help = "Seed a small demo organisation, one account per role and a few complaints."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username="hr.reviewer").exists():
            self.stdout.write("Demo data is already there.")
        else:
            with transaction.atomic():
                self._seed(user_model)
        self._print_accounts()

    def _seed(self, user_model: Any) -> None:
        for name in access.ALL_GROUPS:
            Group.objects.get_or_create(name=name)
        users = {}
        for username, role, password in ACCOUNTS:
            user = user_model.objects.create_user(
                username=username, email=f"{username}@demo.example", password=password)
            if role:
                user.groups.add(Group.objects.get(name=role))
            users[username] = user
        user_model.objects.create_superuser(username=ADMIN[0], email="admin@demo.example",
                                            password=ADMIN[1])
        directory_import(text=DIRECTORY, actor=users["hr-system"])

        reporter, reviewer, lead = users["employee"], users["hr.reviewer"], users["hr.lead"]

        def file(category: str, summary: str, narrative: str, subjects: list[str],
                 anonymous: bool = False) -> Complaint:
            filed = services.complaint_submit(
                reporter=reporter, category=category, summary=summary, narrative=narrative,
                subjects=subjects, anonymous=anonymous)
            if filed.receipt_key:
                self.receipt = (filed.complaint.reference, filed.receipt_key)
            return filed.complaint

        file(Category.SEXUAL_ASSAULT, "Assault after the sales offsite",
             "After the offsite dinner my manager followed me to my room and forced his way in.",
             ["D003"])
        file(Category.BULLYING, "Shouted at in team meetings",
             "I am shouted at and belittled in front of the team every week.", ["D003"])
        acknowledged = file(Category.SEXUAL_HARASSMENT, "Comments about my appearance",
                            "A colleague keeps commenting on my body in the office.", ["D005"])
        services.complaint_acknowledge(complaint=acknowledged, actor=reviewer)
        fraud = file(Category.FRAUD, "Split invoices", "Invoices from one supplier are split "
                     "to stay under the approval limit.", ["D002"], anonymous=True)
        services.complaint_acknowledge(complaint=fraud, actor=reviewer)
        services.complaint_start_investigation(complaint=fraud, actor=lead,
                                               investigator=users["investigator"],
                                               plan="Pull the supplier's invoices for a year.")
        dismissal = file(Category.OTHER, "Parking allocation",
                         "The parking spaces are unfairly allocated.", [])
        services.complaint_acknowledge(complaint=dismissal, actor=reviewer)
        services.complaint_propose_dismissal(complaint=dismissal, actor=reviewer,
                                             reason="A facilities matter, not misconduct.")
        closed = file(Category.SAFETY, "Blocked fire exit",
                      "The fire exit in the warehouse is blocked by pallets.", [])
        services.complaint_acknowledge(complaint=closed, actor=reviewer)
        services.complaint_start_investigation(complaint=closed, actor=lead,
                                               investigator=users["investigator"])
        services.complaint_record_findings(complaint=closed, actor=users["investigator"],
                                           outcome=Outcome.SUBSTANTIATED,
                                           findings="Pallets were there on three visits.")
        services.complaint_approve_findings(complaint=closed, actor=users["compliance"])
        services.complaint_close(complaint=closed, actor=reviewer)

    receipt: tuple[str, str] | None = None

    def _print_accounts(self) -> None:
        self.stdout.write("")
        if self.receipt:
            # Shown once, as to a real anonymous reporter: try it at /follow-up/.
            self.stdout.write(f"Anonymous report {self.receipt[0]}: receipt key "
                              f"{self.receipt[1]} (shown only now; try it at /follow-up/)")
        self.stdout.write("Demo accounts (username / password / role):")
        for username, role, password in ACCOUNTS:
            self.stdout.write(f"  {username:<16} {password:<24} {role or 'employee (reporter)'}")
        self.stdout.write(f"  {ADMIN[0]:<16} {ADMIN[1]:<24} superuser (admin site)")
        by_state = ", ".join(
            f"{c.reference} {c.state}" for c in Complaint.objects.order_by("submitted_at"))
        self.stdout.write(f"Complaints: {by_state}")
