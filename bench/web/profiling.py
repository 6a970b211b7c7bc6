"""Where a request's time goes: gunicorn workers' cProfile dumps and request-probe counts
(bench/web/gunicorn_hooks.py, bench/web/probe.py), the CPU split they imply, and the plans of
the queue pages' statements."""

from __future__ import annotations

import json
import pstats
import re
from pathlib import Path
from typing import Any

# label, file suffix, function, depth in the printed tree. Cumulative (wall) time per
# request of each; rows that never ran are left out.
TREE = [
    ("Django: WSGIHandler (request in, response out)", "django/core/handlers/wsgi.py",
     "__call__", 0),
    ("URL resolving and the view (_get_response)", "django/core/handlers/base.py",
     "_get_response", 1),
    ("view: complaints.views.public.report", "complaints/views/public.py", "report", 2),
    ("view: the bench's indexed_read", "bench/web/urls.py", "indexed_read", 2),
    ("session load (lazy: the first request.user)", "django/contrib/sessions/backends/db.py",
     "load", 3),
    ("user load (auth.get_user)", "django/contrib/auth/__init__.py", "get_user", 3),
    ("form: ReportForm.is_valid", "django/forms/forms.py", "is_valid", 3),
    ("service: complaint_submit", "complaints/services/intake.py", "complaint_submit", 3),
    ("receipt_key_hash (Argon2id)", "complaints/receipts.py", "receipt_key_hash", 4),
    ("_people (directory look-ups of subjects, witnesses)", "complaints/services/intake.py",
     "_people", 4),
    ("Model.save (the complaint insert, encryption)", "django/db/models/base.py", "save", 4),
    ("deadlines_follow", "escalation/services/deadlines.py", "deadlines_follow", 4),
    ("conflicts_refresh", "complaints/services/conflicts.py", "conflicts_refresh", 4),
    ("directory_conflicts (chain walk, a query per level)", "complaints/conflicts.py",
     "directory_conflicts", 5),
    ("conflicted_on (re-reads the rows just written)", "complaints/conflicts.py",
     "conflicted_on", 4),
    ("_route_around_hr (loads every HR handler)", "complaints/services/intake.py",
     "_route_around_hr", 4),
    ("_tell_audit_committee", "complaints/services/intake.py", "_tell_audit_committee", 4),
    ("Celery wake-up after commit (deliver_notifications.delay)",
     "escalation/services/notifications.py", "_wake_delivery", 5),
    ("audit.record", "audit/services.py", "record", 4),
    ("messages.success", "django/contrib/messages/api.py", "success", 3),
    ("template render", "django/template/backends/django.py", "render", 3),
    ("database round trips: psycopg Cursor.execute (wall, PostgreSQL included)",
     "psycopg/cursor.py", "execute", 1),
    ("database: psycopg Connection.commit (wall)", "psycopg/connection.py", "commit", 1),
    ("of which CONN_HEALTH_CHECKS is_usable (SELECT 1)",
     "django/db/backends/postgresql/base.py", "is_usable", 2),
]
_SITE = re.compile(r".*/site-packages/")


def _group(file: str) -> str:
    """Own time is summed by library (two path levels inside site-packages) or app package."""
    if file.startswith("~") or file.startswith("<"):
        return "C built-ins (hashing, I/O, ...)"
    path = _SITE.sub("", file)
    if path != file:
        parts = path.split("/")
        return "/".join(parts[:2]) if parts[0] == "django" else parts[0]
    parts = Path(file).parts
    for anchor in ("complaints", "audit", "escalation", "bench", "config"):
        if anchor in parts:
            i = parts.index(anchor)
            return "app: " + "/".join(parts[i:i + 2]).removesuffix(".py")
    return "python stdlib"


def analyse_profile(directory: Path, top: int = 25) -> dict[str, Any]:
    paths = sorted(directory.glob("worker-*.prof"))
    requests = sum(json.loads(p.read_text())["profiled_requests"]
                   for p in directory.glob("worker-*.json"))
    if not paths or not requests:
        return {"error": "no profile was written"}
    stats = pstats.Stats(*[str(p) for p in paths])
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]

    def cumulative(suffix: str, function: str) -> tuple[int, float]:
        calls, seconds = 0, 0.0
        for (file, _line, func), (_cc, nc, _tt, ct, _callers) in table.items():
            if func == function and file.endswith(suffix):
                calls += nc
                seconds += ct
        return calls, seconds

    tree = []
    for label, suffix, function, depth in TREE:
        calls, seconds = cumulative(suffix, function)
        if calls:
            tree.append({"label": label, "depth": depth, "key": f"{suffix}:{function}",
                         "calls_per_request": round(calls / requests, 2),
                         "ms_per_request": round(1000 * seconds / requests, 3)})
    groups: dict[str, float] = {}
    for (file, _line, _func), (_cc, _nc, tt, _ct, _callers) in table.items():
        groups[_group(file)] = groups.get(_group(file), 0.0) + tt
    total_own = sum(groups.values())
    by_group = [{"group": g, "own_ms_per_request": round(1000 * s / requests, 3),
                 "share": round(s / total_own, 3)}
                for g, s in sorted(groups.items(), key=lambda kv: -kv[1])]
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    own = [{"function": f"{_SITE.sub('', file)}:{line}({func})",
            "calls_per_request": round(nc / requests, 2),
            "own_ms_per_request": round(1000 * tt / requests, 4),
            "cumulative_ms_per_request": round(1000 * ct / requests, 3)}
           for (file, line, func), (_cc, nc, tt, ct, _callers) in ranked]
    app = sorted(((key, value) for key, value in table.items()
                  if _group(key[0]).startswith("app: complaints")
                  or _group(key[0]).startswith(("app: audit", "app: escalation"))),
                 key=lambda item: item[1][3], reverse=True)[:top]
    app_cumulative = [{"function": f"{_group(file)[5:]}:{line}({func})",
                       "calls_per_request": round(nc / requests, 2),
                       "cumulative_ms_per_request": round(1000 * ct / requests, 3)}
                      for (file, line, func), (_cc, nc, _tt, ct, _callers) in app]
    return {"requests": requests, "tree": tree, "own_time_by_group": by_group,
            "top_own_time": own, "app_functions_by_cumulative": app_cumulative}


def analyse_probe(directory: Path) -> dict[str, Any]:
    merged: dict[str, dict[str, Any]] = {}
    for path in directory.glob("probe-*.json"):
        for key, entry in json.loads(path.read_text()).items():
            into = merged.setdefault(key, {"requests": 0, "statements": 0, "sql_seconds": 0.0,
                                           "wall_seconds": 0.0, "cpu_seconds": 0.0,
                                           "by_shape": {}})
            for name in ("requests", "statements", "sql_seconds", "wall_seconds",
                         "cpu_seconds"):
                into[name] += entry[name]
            for shape, (count, seconds) in entry["by_shape"].items():
                have = into["by_shape"].setdefault(shape, [0, 0.0])
                have[0] += count
                have[1] += seconds
    out = {}
    for key, entry in merged.items():
        n = entry["requests"]
        out[key] = {
            "requests": n,
            "statements_per_request": round(entry["statements"] / n, 2),
            "sql_ms_per_request": round(1000 * entry["sql_seconds"] / n, 3),
            "wall_ms_per_request": round(1000 * entry["wall_seconds"] / n, 3),
            "cpu_ms_per_request": round(1000 * entry["cpu_seconds"] / n, 3),
            "statements": sorted(
                ({"statement": shape, "per_request": round(count / n, 2),
                  "ms_per_request": round(1000 * seconds / n, 3)}
                 for shape, (count, seconds) in entry["by_shape"].items()),
                key=lambda s: -s["ms_per_request"]),
        }
    return out


def cpu_split(plain: dict[str, Any], probe_run: dict[str, Any], probe: dict[str, Any] | None,
              profile: dict[str, Any]) -> dict[str, Any]:
    """CPU per request, by who spends it, from three runs of one worker and one connection:
    a plain one (the worker's and PostgreSQL's CPU from /proc); one with the request probe,
    whose worker CPU minus the CPU the probe saw inside Django's middleware stack is what
    gunicorn and the WSGI handler spend around Django; and one under cProfile, whose
    proportions (its times are inflated by the profiler) divide Django's share between the
    middleware and the view."""
    cpu = plain["cpu_ms_per_request"]
    worker = cpu["gunicorn"]
    out: dict[str, Any] = {"gunicorn_worker_total": worker,
                           "postgresql_backend": cpu["postgres_backends_of_this_db"],
                           "wrk": cpu["wrk"], "other_on_the_machine": cpu["other"]}
    if not probe:
        return out
    outside = max(0.0, probe_run["cpu_ms_per_request"]["gunicorn"] - probe["cpu_ms_per_request"])
    django = max(0.0, worker - outside)
    out["gunicorn_and_wsgi_around_django"] = round(outside, 3)
    tree = {row["key"]: row["ms_per_request"] for row in profile.get("tree", [])}
    wsgi = tree.get("django/core/handlers/wsgi.py:__call__", 0.0)
    view = sum(v for k, v in tree.items() if k.endswith((":report", ":indexed_read")))
    database = tree.get("psycopg/cursor.py:execute", 0.0) + tree.get(
        "psycopg/connection.py:commit", 0.0)
    python = wsgi - database
    if wsgi and python > 0:
        # Every statement of these requests runs inside the view (the session and the user
        # are loaded lazily, on the view's first request.user).
        out["django_middleware_and_handler"] = round(django * (wsgi - view) / python, 3)
        out["django_view_python"] = round(django * (view - database) / python, 3)
        out["profile_wall_ms"] = {"wsgi": wsgi, "view": view, "database_wait": database}
    return out


def explain_queue_pages(username: str) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement one queue page runs, for each queue, as
    the reviewer ``username``."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from complaints.selectors import staff_queue

    user = get_user_model().objects.get(username=username)
    out: dict[str, Any] = {"as": username}
    for queue in ("mine", "unassigned", "overdue"):
        fresh = get_user_model().objects.get(pk=user.pk)  # no cached roles or person
        with CaptureQueriesContext(connection) as captured:
            found = staff_queue(fresh, name=queue)
            rows = len(list(found.page))
        plans = []
        for query in captured.captured_queries:
            sql = query["sql"]
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            entry = {"sql": sql, "execution_ms": _execution_ms(plan), "plan": plan}
            if any(line.lstrip().startswith("JIT:") for line in plan):
                # The same statement without JIT compilation, in this transaction only.
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")
                    cursor.execute("EXPLAIN (ANALYZE) " + sql)
                    entry["execution_ms_jit_off"] = _execution_ms(
                        [row[0] for row in cursor.fetchall()])
            plans.append(entry)
        out[queue] = {"counts": found.counts, "rows_on_page": rows,
                      "statements": len(plans), "plans": plans}
    return out


def _execution_ms(plan: list[str]) -> float | None:
    return next((float(line.split(":")[1].split()[0]) for line in plan
                 if line.startswith("Execution Time")), None)
