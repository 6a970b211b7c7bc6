"""The OpenAPI schema and the documentation page."""

from __future__ import annotations

import re
from typing import Any

import yaml
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema

from tests.api.conftest import Api

CONTRACT = {
    "/api/v1/auth/token/": {"post", "delete"},
    "/api/v1/reporter/session/": {"post"},
    "/api/v1/complaints/": {"get", "post"},
    "/api/v1/complaints/{reference}/": {"get"},
    "/api/v1/complaints/{reference}/transitions/{name}/": {"post"},
    "/api/v1/complaints/{reference}/messages/": {"get", "post"},
    "/api/v1/audit/events/": {"get"},
    "/api/v1/audit/verify/": {"get"},
    "/api/v1/audit/checkpoints/": {"get"},
    "/api/v1/audit/public-key/": {"get"},
    "/api/v1/directory/people/{employee_id}/": {"put"},
}


def test_the_schema_is_valid_openapi_3_and_covers_the_contract(api: Api) -> None:
    response = api.get("schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == CONTRACT
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"][
            "securitySchemes"]["bearerAuth"]["description"]}
    transition = schema["paths"]["/api/v1/complaints/{reference}/transitions/{name}/"]["post"]
    assert set(transition["responses"]) >= {"200", "400", "401", "403", "404", "409"}
    body = schema["components"]["schemas"]["ComplaintFileRequest"]
    assert body["additionalProperties"] is False


def test_the_schema_is_served_as_yaml_by_default(api: Api) -> None:
    response = api.get("schema/")

    assert yaml.safe_load(response.content)["info"]["title"]


def test_the_docs_page_runs_under_the_csp_from_our_own_static_files(api: Api) -> None:
    page = api.get("docs/")
    script = api.get("docs/", {"script": ""})

    assert page.status_code == 200 and script.status_code == 200
    html = page.content.decode()
    csp = page["Content-Security-Policy"]
    # Directive order in the header is not fixed: compare directives, not text.
    directives = {d.strip() for d in csp.split(";")}
    assert "script-src 'self'" in directives and "'unsafe-inline'" not in csp
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp)
    assert "<script>" not in html and "https://" not in html
    for asset in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
        assert finders.find(asset), asset
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in script.content.decode()


def test_unknown_api_paths_are_a_json_404(api: Api, hr_lead: Any) -> None:
    for path in ("nothing/", "complaints/MC-2222-2222/attachments/", "v2/"):
        response = api.as_user(hr_lead).get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
