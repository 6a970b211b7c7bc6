"""Run ``complaints.services.sweep.sweep()`` in a fresh process (run by escalation_bench.py).

One mode per call; each prints one JSON line on stdout, with this process's peak RSS
(VmHWM, see ``_rss_mb``). A child does nothing but its one measurement, so that peak is
the measurement's (plus Django and the app, loaded before it).

    DATABASE_URL=... .venv/bin/python bench/sweep_child.py sweep      # one sweep, timed
    DATABASE_URL=... .venv/bin/python bench/sweep_child.py idle --calls 20
    DATABASE_URL=... .venv/bin/python bench/sweep_child.py verify     # audit verify()
    DATABASE_URL=... .venv/bin/python bench/sweep_child.py profile    # one sweep, cProfile

``sweep``: before the clock starts the process warms up as a worker that has swept before
is (``warm_up``), so the timed call is a warm worker's. The timed call is ``sweep()``
exactly as the beat task makes it (``now`` is the current time). Reported: wall and CPU
seconds of the call, its PostgreSQL backend's CPU over the same window, the wall time of
each step (``PhaseTimer``) and inside each kind of SQL statement (``StatementTimer``), and
the peak RSS before the call and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.IGNORECASE)


def _rss_mb() -> float:
    """Peak RSS of this program since it was exec'd: VmHWM of its own memory map.

    Not ru_maxrss: on Linux that survives execve, so a child's ru_maxrss starts at its
    parent's RSS when it forked (a bare ``python -c pass`` under a 300 MB parent reports
    300 MB)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def backend_cpu_seconds(pid: int) -> float:
    """CPU (user + system) of one PostgreSQL backend so far, from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        raw = handle.read()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def statement_kind(sql: str, many: bool) -> str:
    """'UPDATE escalation_deadline', 'SELECT ... FOR UPDATE complaints_complaint', ..."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    match = _TABLE.search(sql)
    table = match.group(1) if match else ""
    if verb == "SELECT" and "FUNCTION" not in sql and " FOR UPDATE" in sql.upper():
        verb = "SELECT ... FOR UPDATE"
    return f"{verb} {table}".strip() + (" (executemany)" if many else "")


class StatementTimer:
    """A Django execute wrapper: seconds and calls per kind of statement."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.captured: list[tuple[str, Any]] = []
        self.capture = False

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool,
                 context: dict[str, Any]) -> Any:
        kind = statement_kind(sql, many)
        if self.capture:
            self.captured.append((sql, params))
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds[kind] += time.perf_counter() - started
            self.calls[kind] += 1

    def report(self) -> dict[str, dict[str, float]]:
        return {kind: {"seconds": round(self.seconds[kind], 4), "calls": self.calls[kind]}
                for kind in sorted(self.seconds, key=lambda k: -self.seconds[k])}


class PhaseTimer:
    """Wall seconds and calls of the sweep's steps, by wrapping (never changing) them.

    Each wrapper only times the call it wraps, so a step's seconds include its Python and
    its SQL round trips. ``commit`` is the transaction commit (Django's atomic exit), and
    ``wake worker (on_commit)`` the broker message each batch sends after commit.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, name: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, name)
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            key = label(*args) if callable(label) else label
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds[key] += time.perf_counter() - started
                timer.calls[key] += 1

        setattr(owner, name, timed)

    def install(self) -> None:
        from django.db import connections
        from django.db.models.query import QuerySet

        from audit import services as audit_services
        from complaints.services import sweep as sweep_module
        from escalation.services import notifications

        self.wrap(sweep_module, "_due", "find due deadlines (_due)")
        self.wrap(sweep_module, "_claim", "claim deadlines (_claim UPDATE)")
        self.wrap(sweep_module, "conflicted_many", "conflicts (subjects, managers)")
        self.wrap(sweep_module, "_users", "reporters and assignees (_users)")
        self.wrap(sweep_module._Plan, "escalate", "plan each complaint (_Plan.escalate)")
        self.wrap(sweep_module._Plan, "write", "_Plan.write (all its writes, below)")
        self.wrap(QuerySet, "bulk_update", lambda qs, *a: f"bulk_update {qs.model.__name__}")
        self.wrap(QuerySet, "bulk_create", lambda qs, *a: f"bulk_create {qs.model.__name__}")
        self.wrap(notifications, "enqueue", "notifications.enqueue (incl. bulk_create)")
        self.wrap(notifications, "_wake_delivery", "wake worker (on_commit, Redis)")
        self.wrap(audit_services, "record_many", "audit.record_many")
        # Atomic's exit calls commit() on the connection object itself.
        self.wrap(connections["default"], "commit", "commit")

    def report(self) -> dict[str, dict[str, float]]:
        return {key: {"seconds": round(self.seconds[key], 4), "calls": self.calls[key]}
                for key in sorted(self.seconds, key=lambda k: -self.seconds[k])}


def mode_sweep(args: argparse.Namespace) -> dict[str, Any]:
    from audit_bench import CpuMeter
    from django.db import connection
    from django.utils import timezone

    from complaints.services.sweep import sweep

    what_if = None  # the set-based writes it measured are the app's own since 124af6d
    warm_up()
    timer, phases = StatementTimer(), PhaseTimer()
    phases.install()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rss_before = _rss_mb()
    meter = CpuMeter()
    with connection.execute_wrapper(timer):
        meter.start()
        backend0 = backend_cpu_seconds(backend)
        cpu0, started_at = time.process_time(), timezone.now()
        t0 = time.perf_counter()
        result = sweep()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        backend_cpu = backend_cpu_seconds(backend) - backend0
        pg = meter.stop()
    sql_seconds = sum(timer.seconds.values())
    return {
        "what_if": what_if,
        "result": result.as_dict(), "failed_ids": result.failed[:20],
        "started_at": started_at.isoformat(), "finished_at": timezone.now().isoformat(),
        "wall_seconds": round(wall, 4), "python_cpu_seconds": round(cpu, 4),
        # This sweep's own backend; every postgres process (WAL writer, checkpointer, and any
        # other client's backends); everything busy on the machine.
        "postgres_cpu_seconds": round(backend_cpu, 4),
        "all_postgres_cpu_seconds": round(pg["postgres_cpu_s"], 4),
        "machine_busy_cpu_seconds": round(pg["machine_busy_cpu_s"], 4),
        "other_cpu_seconds": round(pg["machine_busy_cpu_s"] - cpu - backend_cpu, 4),
        "machine_busy_pct": round(pg["machine_busy_pct"], 1),
        "sql_seconds": round(sql_seconds, 4), "statements": timer.report(),
        "phases": phases.report(),
        "rss_before_mb": round(rss_before, 1), "rss_now_mb": round(_current_rss_mb(), 1),
    }


def mode_idle(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from complaints.services.sweep import sweep

    connection.ensure_connection()
    for _ in range(2):  # warm
        sweep()
    seconds, escalated = [], 0
    for _ in range(args.calls):
        t0 = time.perf_counter()
        result = sweep()
        seconds.append(time.perf_counter() - t0)
        escalated += result.escalated + result.replies_expired
    # One more call, untimed, with every statement captured: how many queries an idle sweep
    # makes, and the plan of the one that looks for due deadlines.
    timer = StatementTimer()
    timer.capture = True
    with connection.execute_wrapper(timer):
        sweep()
    due_sql = [(sql, params) for sql, params in timer.captured
               if "escalation_deadline" in sql and "due_at" in sql and sql.lstrip().upper()
               .startswith("SELECT")]
    plan = ""
    if due_sql:
        sql, params = due_sql[0]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    ordered = sorted(seconds)
    return {
        "calls": args.calls, "escalated_during_idle_calls": escalated,
        "seconds": [round(s, 5) for s in seconds],
        "median_ms": round(statistics.median(seconds) * 1000, 3),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3), "min_ms": round(min(seconds) * 1000, 3),
        "statements_per_idle_sweep": [statement_kind(sql, False) for sql, _ in timer.captured],
        "due_query": due_sql[0][0] if due_sql else None,
        "explain": plan,
        "uses_deadline_due_running": "deadline_due_running" in plan,
    }


def mode_verify(args: argparse.Namespace) -> dict[str, Any]:
    from audit import services

    started, cpu = time.perf_counter(), time.process_time()
    result = services.verify()
    return {"intact": result.intact, "events": result.events, "problem": result.problem,
            "first_broken_seq": result.first_broken_seq,
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3)}


def warm_up() -> None:
    """What a worker that has swept before already has: the connection, the staff and SLA
    reads (an idle sweep as of 2000-01-01: nothing is due then), the broker connection (one
    wake-up message, as each batch sends) and this year's holiday calendar."""
    from django.db import connection
    from django.utils import timezone

    from complaints.services.sweep import sweep
    from escalation import calendar
    from escalation.services import notifications

    connection.ensure_connection()
    sweep(now=LONG_AGO)
    notifications._wake_delivery()
    today = timezone.now().date()
    calendar.is_business_day(today)
    calendar.is_business_day(today.replace(year=today.year + 1, month=1, day=1))


def mode_profile(args: argparse.Namespace) -> dict[str, Any]:
    import cProfile
    import io
    import pstats

    from complaints.services.sweep import sweep

    what_if = None  # the set-based writes it measured are the app's own since 124af6d
    warm_up()
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    result = sweep()
    profiler.disable()
    wall = time.perf_counter() - t0
    out = {}
    for order in ("tottime", "cumulative"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(args.top)
        out[order] = buffer.getvalue()
    return {"what_if": what_if, "result": result.as_dict(),
            "wall_seconds_under_profiler": round(wall, 3),
            "profile": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["sweep", "idle", "verify", "profile"])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--what-if", action="store_true",
                        help="sweep mode: replace the complaints' bulk_update (see "
                             "raw_complaint_update); never the headline")
    args = parser.parse_args()

    import django

    django.setup()
    modes = {"sweep": mode_sweep, "idle": mode_idle, "verify": mode_verify,
             "profile": mode_profile}
    out = modes[args.mode](args)
    out["rss_peak_self_mb"] = round(_rss_mb(), 1)  # VmHWM, the headline peak
    out["ru_maxrss_mb"] = round(_ru_maxrss_mb(), 1)  # inflated by the parent: see _rss_mb
    print(json.dumps(out))


if __name__ == "__main__":
    main()
