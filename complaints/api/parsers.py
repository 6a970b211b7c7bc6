"""JSON in, strictly: nothing a client sends may reach the view as a 500."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

from complaints.api.errors import PayloadTooLarge, body_limit


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, also refusing what it lets through as a 500 or a surprise: nesting
    deep enough to exhaust the recursion limit, numbers too large for a float, and bodies
    over the size limit whatever the Content-Length said (a chunked upload)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        raw = stream.read(body_limit() + 1) if stream is not None else b""
        if len(raw) > body_limit():
            raise PayloadTooLarge
        try:
            text = raw.decode(encoding)
            return json.loads(text, parse_constant=_refuse_constant,
                              parse_float=_finite_float)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {exc}") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is too large")
    return value
