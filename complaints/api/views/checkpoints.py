"""The audit log's witnesses: the signed checkpoints, and the public keys that check them
without the signing secret (audit/checkpoints.py, audit/keys.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from audit import keys
from audit.checkpoints import checkpoint_document
from audit.models import Checkpoint
from complaints.api import serializers as s
from complaints.api.permissions import MayReadCheckpoints
from complaints.api.schema import errors
from complaints.api.views.base import ApiView, valid


class CheckpointListView(ApiView):
    permission_classes = [MayReadCheckpoints]

    @extend_schema(
        operation_id="audit_checkpoints_list", parameters=[s.CheckpointQuerySerializer],
        responses={200: s.CheckpointPageSerializer, **errors(400, 401, 403)},
        description="Signed checkpoints of the chain head, newest first, each naming the one "
                    "before it. Save one and check it later with `manage.py verify_audit "
                    "--checkpoint FILE --public-key KEY`: a log cut back below it fails. "
                    "Compliance officers and the audit committee.")
    def get(self, request: Request) -> Response:
        query = valid(s.CheckpointQuerySerializer, request.query_params)
        limit = min(query["limit"], s.PAGE_SIZE_MAX)
        rows = Checkpoint.objects.order_by("-seq")
        if "before" in query:
            rows = rows.filter(seq__lt=query["before"])
        page: list[Any] = list(rows[:limit + 1])
        more = len(page) > limit
        page = page[:limit]
        next_url = (replace_query_param(request.build_absolute_uri(), "before", page[-1].seq)
                    if more else None)
        return Response(s.CheckpointPageSerializer({
            "results": [checkpoint_document(row) for row in page], "next": next_url}).data)


class PublicKeyView(ApiView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="audit_public_key", auth=[], responses={200: s.PublicKeysSerializer},
        description="The Ed25519 public keys that sign audit checkpoints (and proofs of "
                    "filing), by `key_id`; retired keys stay listed. Anyone may read them. "
                    "Pass this answer (saved to a file) to `verify_audit --public-key`.")
    def get(self, request: Request) -> Response:
        return Response(s.PublicKeysSerializer(keys.published_keys_document()).data)
