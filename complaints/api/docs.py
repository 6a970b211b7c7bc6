"""The documentation page (Swagger UI) under our Content-Security-Policy.

Its scripts come from the drf-spectacular-sidecar package as our own static files, and the
split view serves its set-up script from a URL rather than inline, so ``script-src 'self'``
holds. The page's one inline ``<style>`` block is allowed by its SHA-256, read from the
template itself, rather than by loosening ``style-src``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from typing import Any

from django.template.loader import get_template
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView


@cache
def _inline_style_hashes(template_name: str) -> list[str]:
    source = get_template(template_name).template.source  # type: ignore[attr-defined]
    digests = (hashlib.sha256(block.encode()).digest()
               for block in re.findall(r"<style>(.*?)</style>", source, flags=re.DOTALL))
    return [f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests]


class DocsView(SpectacularSwaggerSplitView):
    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)
        hashes = _inline_style_hashes(self.template_name)
        if hashes and request.GET.get("script") is None:
            response._csp_update = {"style-src": hashes}
        return response
