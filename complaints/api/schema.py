"""What the OpenAPI schema says beyond what drf-spectacular infers: the bearer scheme, the
error bodies of every status a view can answer, and request bodies closed to unknown fields
(the serializers refuse them, so the schema says so)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "complaints.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer",
                "description": "A token from POST /api/v1/auth/token/ (users) or "
                               "POST /api/v1/reporter/session/ (anonymous reporters)."}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    state = serializers.CharField(help_text="The case's current state.")


FIELD_ERRORS = {
    "type": "object",
    "description": "Messages field by field.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
_ERRORS: dict[int, tuple[Any, str]] = {
    400: (FIELD_ERRORS, "Bad input: messages field by field (`non_field_errors` for "
                                 "the body as a whole, e.g. malformed JSON)."),
    401: (ErrorSerializer, "No valid bearer token."),
    403: (ErrorSerializer, "The caller may not do this."),
    404: (ErrorSerializer, "No such resource for this caller (a case they may not see "
                           "does not exist for them)."),
    409: (ConflictSerializer, "Not possible from the case's current state."),
    413: (ErrorSerializer, "The request body is too large."),
    415: (ErrorSerializer, "The body is not JSON."),
    429: (ErrorSerializer, "Too many requests; see Retry-After."),
    503: (ErrorSerializer, "Busy or briefly unavailable; try again after Retry-After."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(_ERRORS[code][0], description=_ERRORS[code][1])
            for code in codes}


# Every operation with a JSON body can also answer these.
BODY_ERRORS = (400, 413, 415)


def reject_unknown_fields(result: dict[str, Any], generator: Any, request: Any,
                          public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: request bodies admit no other properties."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
