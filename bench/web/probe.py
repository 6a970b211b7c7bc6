"""Bench-only request probe: statements, time in the database and CPU per request, by view,
kept in each gunicorn worker and written out when the worker exits
(bench/web/gunicorn_hooks.py). Installed only when BENCH_WEB_PROBE_DIR is set
(bench/web/settings.py).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

# view key -> totals; per statement shape -> [count, seconds]
_STATS: dict[str, dict[str, Any]] = {}
# The first requests of each kind in a fresh worker import modules and fill caches: not
# counted.
SKIP_FIRST = 5
_SEEN: dict[str, int] = {}

_SHAPES = [
    (re.compile(r'^\s*INSERT\s+INTO\s+"?(\w+)', re.I), "INSERT {}"),
    (re.compile(r'^\s*UPDATE\s+"?(\w+)', re.I), "UPDATE {}"),
    (re.compile(r'^\s*DELETE\s+FROM\s+"?(\w+)', re.I), "DELETE {}"),
    (re.compile(r'^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)', re.I), "{}"),
    (re.compile(r'^\s*SELECT\s+(\w+)\s*\(', re.I), "SELECT {}()"),
    (re.compile(r'^\s*(?:WITH\b.*?\)\s*)?SELECT\b.*?\bFROM\s+"?(\w+)', re.I | re.S),
     "SELECT FROM {}"),
]


def shape(sql: str) -> str:
    """A statement's kind and first table: enough to tell statements apart, no values."""
    for pattern, label in _SHAPES:
        found = pattern.search(sql[:2000])
        if found:
            return label.format(found.group(1).upper() if label == "{}" else found.group(1))
    return " ".join(sql.split()[:3])[:60]


class RequestProbe:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        statements: list[tuple[str, float]] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                statements.append((shape(sql), time.perf_counter() - started))

        wall0, cpu0 = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(record):
            response = self.get_response(request)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else request.path
        if "queue" in request.GET:
            view += f"?queue={request.GET['queue']}"
        key = f"{request.method} {view} {response.status_code}"
        _SEEN[key] = _SEEN.get(key, 0) + 1
        if _SEEN[key] <= SKIP_FIRST:
            return response
        entry = _STATS.setdefault(key, {"requests": 0, "statements": 0, "sql_seconds": 0.0,
                                        "wall_seconds": 0.0, "cpu_seconds": 0.0,
                                        "by_shape": {}})
        entry["requests"] += 1
        entry["statements"] += len(statements)
        entry["sql_seconds"] += sum(seconds for _, seconds in statements)
        entry["wall_seconds"] += wall
        entry["cpu_seconds"] += cpu
        for label, seconds in statements:
            count_time = entry["by_shape"].setdefault(label, [0, 0.0])
            count_time[0] += 1
            count_time[1] += seconds
        return response


def dump(directory: str) -> None:
    if _STATS:
        path = Path(directory) / f"probe-{os.getpid()}.json"
        path.write_text(json.dumps(_STATS))
