from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from complaints.api.tokens import api_token_issue_for_user

API = "/api/v1/"


class Api:
    """A JSON client for the API, with or without a bearer token."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.token = token

    def as_user(self, user: Any) -> Api:
        return Api(api_token_issue_for_user(user=user, via="password").token)

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             content_type: str = "application/json", **headers: str) -> Any:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        data: Any = raw if raw is not None else (json.dumps(body) if body is not None else "")
        url = path if path.startswith("/") else API + path
        return getattr(self.client, method.lower())(url, data=data, content_type=content_type,
                                                    headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        url = path if path.startswith("/") else API + path
        return self.client.get(url, params or {}, headers=headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(db: None) -> Api:
    return Api()


REPORT = {"category": "bullying", "summary": "Shouted at",
          "narrative": "He shouts at me in every meeting."}
