"""``Authorization: Bearer <token>``, and nothing else: no sessions, so no CSRF."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from complaints.api.tokens import api_token_holder

KEYWORD = "Bearer"


class BearerTokenAuthentication(BaseAuthentication):
    """A request without an Authorization header is anonymous (filing needs no account);
    one with any other header than ``Bearer <token>``, or with an unknown, expired or
    revoked token, is refused with 401."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, token = header.decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise exceptions.AuthenticationFailed(
                f"Send the header as: Authorization: {KEYWORD} <token>.") from None
        if scheme.lower() != KEYWORD.lower():  # auth schemes are case-insensitive (RFC 9110)
            raise exceptions.AuthenticationFailed(
                f"Send the header as: Authorization: {KEYWORD} <token>.")
        found = api_token_holder(token)
        if found is None:
            raise exceptions.AuthenticationFailed("This token is unknown, expired or revoked.")
        return found

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD
