"""The HR system's sync of the directory, one person at a time."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from complaints.api import serializers as s
from complaints.api.permissions import MaySyncDirectory
from complaints.api.schema import BODY_ERRORS, errors
from complaints.api.views.base import ApiView, valid
from complaints.models import Person
from complaints.services.directory import person_upsert


class PersonView(ApiView):
    permission_classes = [MaySyncDirectory]

    @extend_schema(
        operation_id="directory_person_put",
        parameters=[OpenApiParameter("employee_id", str, OpenApiParameter.PATH)],
        request=s.PersonInputSerializer,
        examples=[OpenApiExample("A person", request_only=True, value={
            "name": "Ada Lovelace", "email": "ada@example.com", "department": "Engineering",
            "manager_employee_id": "E1000"})],
        responses={200: s.PersonSerializer, 201: s.PersonSerializer,
                   **errors(*BODY_ERRORS, 401, 403, 404)},
        description="The HR system's sync, one person at a time: 201 when new, 200 when "
                    "updated or unchanged (repeating it changes nothing). A new manager "
                    "adds conflicts on the open cases below this person (never removes "
                    "one). A change that would leave an open case with no unconflicted "
                    "compliance officer or audit committee member is refused (400) and "
                    "recorded. Only a directory_sync account; 403 for every staff role.")
    def put(self, request: Request, employee_id: str) -> Response:
        data = valid(s.PersonInputSerializer, request.data)
        synced = person_upsert(employee_id=employee_id, actor=request.user,
                               name=data["name"], email=data.get("email", ""),
                               department=data.get("department", ""),
                               manager_employee_id=data.get("manager_employee_id") or "")
        person = Person.objects.select_related("manager").get(pk=synced.person.pk)
        return Response(s.PersonSerializer(person).data,
                        status=status.HTTP_201_CREATED if synced.created else status.HTTP_200_OK)
