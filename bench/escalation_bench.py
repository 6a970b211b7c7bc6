"""Escalation sweep benchmark: one sweep over 10,000 missed deadlines among 1,000,000 open
complaints, the idle sweep, the sweep's memory at two sizes, and django-helpdesk 2.6.1's
``escalate_tickets`` side by side.

    .venv/bin/python bench/escalation_bench.py [--quick] [--skip-helpdesk]

Scratch databases ``bench_sweep`` (large), ``bench_sweep_small`` and
``bench_sweep_helpdesk``. Each measurement runs in a fresh child process (this script with
``--child``), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SIZES = {
    "full": {"small": 100_000, "large": 1_000_000, "overdue": 10_000, "reps": 3,
             "idle_calls": 20, "helpdesk_tickets": 100_000},
    "quick": {"small": 20_000, "large": 200_000, "overdue": 2_000, "reps": 1,
              "idle_calls": 10, "helpdesk_tickets": 20_000},
}
# The staff the sweep escalates to: username, role, directory person. Person 2 manages a
# fifth of the directory, so hr_lead_1 is conflicted on a fifth of the complaints and the
# sweep must pick another hr_lead for those.
STAFF = [("bench_hr_lead_1", "hr_lead", 2), ("bench_hr_lead_2", "hr_lead", 4001),
         ("bench_hr_lead_3", "hr_lead", 4002), ("bench_compliance_1", "compliance_officer", 4003),
         ("bench_compliance_2", "compliance_officer", 4004),
         ("bench_committee_1", "audit_committee", 4005),
         ("bench_committee_2", "audit_committee", 4006)]
DIRECTORY = 5_000  # people; person i reports to person i // 10


# --- Data, by COPY ------------------------------------------------------------------------------

# The conflict rows the app writes for a directory subject: the subject and everyone above
# them in the management chain (what the sweep's conflict check reads).
CONFLICTS_SQL = """
WITH RECURSIVE chain(person_id, above_id, depth) AS (
  SELECT id, manager_id, 1 FROM complaints_person WHERE manager_id IS NOT NULL
  UNION ALL
  SELECT chain.person_id, p.manager_id, chain.depth + 1 FROM chain
  JOIN complaints_person p ON p.id = chain.above_id
  WHERE p.manager_id IS NOT NULL AND chain.depth < 64)
INSERT INTO complaints_conflict (complaint_id, person_id, source, created_at)
SELECT s.complaint_id, s.person_id, 'subject', c.submitted_at
FROM complaints_subject s JOIN complaints_complaint c ON c.id = s.complaint_id
UNION ALL
SELECT s.complaint_id, chain.above_id, 'chain', c.submitted_at
FROM complaints_subject s JOIN complaints_complaint c ON c.id = s.complaint_id
JOIN chain ON chain.person_id = s.person_id WHERE chain.above_id <> s.person_id
"""
# Open complaints' next_due_at from their running deadlines, as the app keeps it.
NEXT_DUE_SQL = """
UPDATE complaints_complaint c SET next_due_at = m.due
FROM (SELECT o.id, (SELECT min(d.due_at) FROM escalation_deadline d WHERE d.complaint_id = o.id
                    AND d.closed_at IS NULL AND d.paused_at IS NULL) AS due
      FROM complaints_complaint o WHERE o.ended_at IS NULL) m
WHERE c.id = m.id AND c.next_due_at IS DISTINCT FROM m.due
"""


def _copy(cursor: Any, table_columns: str, rows: Any) -> None:
    with cursor.copy(f"COPY {table_columns} FROM STDIN") as copy:
        lines = []
        for row in rows:
            lines.append("\t".join(row) + "\n")
            if len(lines) >= 20_000:
                copy.write("".join(lines))
                lines.clear()
        copy.write("".join(lines))


def load(name: str, complaints: int, overdue: int) -> str:
    """A migrated scratch database with the staff, a directory, ``complaints`` open
    complaints (one subject each, and its conflict rows) and one open level-0 deadline
    each; complaint i is overdue when (i - 1) % step == 0, spread evenly over the table."""
    import psycopg

    from complaints.encryption import fernet
    from complaints.models import CRITICAL_CATEGORIES, Category

    harness.log(f"{name}: migrating, loading {complaints:,} open complaints ({overdue:,} due)")
    url = harness.fresh_app_database(name)
    now, step = datetime.now(UTC), complaints // overdue
    summary, narrative, empty = (fernet().encrypt(text).decode() for text in (
        b"Shouted at in every team meeting since March.",
        b"My manager shouts at me in front of the team, most weeks.", b""))
    categories = [c.value for c in Category]

    def due(i: int) -> str:
        if (i - 1) % step == 0 and (i - 1) // step < overdue:
            return (now - timedelta(minutes=5 + i % 715)).isoformat()  # missed 5 min-12 h ago
        return (now + timedelta(days=1, minutes=i % 10_080)).isoformat()

    def complaint(i: int) -> list[str]:
        category = categories[i % len(categories)]
        anonymous = i % 3 == 0  # an unusable receipt-key hash: 64 hex digits no key opens
        receipt = hashlib.sha256(f"no-key:{i}".encode()).hexdigest() if anonymous else ""
        return [str(i), f"MC-{i // 10000:04d}-{i % 10000:04d}", category,
                "critical" if category in CRITICAL_CATEGORIES else "standard", summary,
                narrative, empty, "t" if anonymous else "f", receipt, empty, "submitted", "0",
                now.isoformat(), now.isoformat(), due(i)]

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        user_of = {}
        for username, role, person in STAFF:
            cursor.execute("INSERT INTO auth_group (name) VALUES (%s) ON CONFLICT DO NOTHING",
                           (role,))
            user_of[person] = cursor.execute(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
                " email, is_staff, is_active, date_joined) VALUES ('!', false, %s, '', '', %s,"
                " true, true, now()) RETURNING id", (username, f"{username}@example.com"),
            ).fetchone()[0]
            cursor.execute("INSERT INTO auth_user_groups (user_id, group_id) SELECT %s, id "
                           "FROM auth_group WHERE name = %s", (user_of[person], role))
        _copy(cursor, "complaints_person (id, employee_id, name, email, department, updated_at,"
              " manager_id, user_id)",
              ([str(i), f"E{i:06d}", f"Person {i}", f"p{i}@example.com", f"Dept {i % 40}",
                now.isoformat(), "\\N" if i == 1 else str(max(1, i // 10)),
                str(user_of.get(i, "\\N"))] for i in range(1, DIRECTORY + 1)))
        _copy(cursor, "complaints_complaint (id, reference, category, severity, summary, "
              "narrative, location, anonymous, receipt_key_hash, reporter_identity, state, "
              "escalation_level, submitted_at, updated_at, next_due_at)",
              (complaint(i) for i in range(1, complaints + 1)))
        _copy(cursor, "escalation_deadline (id, complaint_id, kind, level, started_at, due_at,"
              " outcome)", ([str(i), str(i), "acknowledge", "0", now.isoformat(), due(i), ""]
                            for i in range(1, complaints + 1)))
        _copy(cursor, "complaints_subject (id, name_given, complaint_id, person_id)",
              ([str(i), empty, str(i), str(100 + (i * 7919) % (DIRECTORY - 100))]
               for i in range(1, complaints + 1)))
        cursor.execute(CONFLICTS_SQL)
        for table in ("complaints_complaint", "escalation_deadline", "complaints_subject",
                      "complaints_person"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))")
    harness.settle(url)
    return url


def make_overdue(url: str, step: int, residue: int, expected: int) -> None:
    """Another ``expected`` level-0 deadlines, disjoint from earlier sets, missed."""
    changed = harness.sql(url, "UPDATE escalation_deadline SET due_at = now() - (5 + id %% 715)"
                          " * interval '1 minute' WHERE level = 0 AND closed_at IS NULL AND "
                          "paused_at IS NULL AND (complaint_id - 1) %% %s = %s", (step, residue))
    if changed != expected:
        raise RuntimeError(f"made {changed} deadlines overdue, expected {expected}")
    harness.sql(url, NEXT_DUE_SQL)
    harness.settle(url)


COUNTS_SQL = """SELECT
  (SELECT count(*) FROM audit_auditevent WHERE action = 'complaint.escalated'),
  (SELECT count(*) FROM escalation_escalation),
  (SELECT count(*) FROM escalation_deadline WHERE outcome = 'escalated'),
  (SELECT count(*) FROM complaints_complaint WHERE escalation_level >= 1),
  (SELECT count(*) FROM escalation_deadline WHERE closed_at IS NULL AND paused_at IS NULL
     AND level = 0 AND due_at <= now()),
  (SELECT count(*) FROM escalation_notification)"""


def checked(url: str, expected: int, measure: Any) -> dict[str, Any]:
    """Run ``measure()``; it must have escalated exactly ``expected`` complaints, each with
    its audit event, escalation row and closed deadline, leaving nothing overdue."""
    before = harness.sql(url, COUNTS_SQL)[0]
    result = measure()
    after = harness.sql(url, COUNTS_SQL)[0]
    delta = [a - b for a, b in zip(after, before, strict=True)]
    if delta[:4] != [expected] * 4 or after[4] or delta[5] < expected:
        raise RuntimeError(f"expected {expected} escalations; events, escalations, deadlines,"
                           f" complaints changed by {delta[:4]}, {after[4]} still overdue, "
                           f"{delta[5]} notifications")
    return dict(result)


# --- The measurements, each in a child process --------------------------------------------------

def child(mode: str, calls: int) -> None:
    """``--child MODE``: one measurement against $DATABASE_URL; one JSON line."""
    harness.setup_django(os.environ["DATABASE_URL"])
    from django.db import connection

    sweep = harness.sweep()
    out: dict[str, Any] = {}
    if mode == "sweep":
        sweep(now=datetime(2000, 1, 1, tzinfo=UTC))  # warm: connection, staff, policies
        out["rss_before_mb"] = round(harness.vm_hwm_mb(), 1)
        cpu, started = time.process_time(), time.perf_counter()
        result = sweep()
        out.update({"seconds": round(time.perf_counter() - started, 3),
                    "python_cpu_seconds": round(time.process_time() - cpu, 3),
                    "result": result.as_dict()})
    elif mode == "idle":
        sweep()
        seconds, found = [], 0
        for _ in range(calls):
            started = time.perf_counter()
            result = sweep()
            seconds.append(time.perf_counter() - started)
            found += result.escalated + result.replies_expired
        statements: list[tuple[str, Any]] = []

        def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            sweep()
        due = [(s, p) for s, p in statements if "escalation_deadline" in s and "due_at" in s]
        plan = ""
        if due:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + due[0][0], due[0][1])
                plan = "\n".join(row[0] for row in cursor.fetchall())
        out = {"median_ms": round(statistics.median(seconds) * 1000, 3),
               "max_ms": round(max(seconds) * 1000, 3), "escalated": found,
               "statements": len(statements), "plan": plan,
               "uses_partial_index": "deadline_due_running" in plan}
    else:
        from audit import services

        started = time.perf_counter()
        result = services.verify(completeness=False)
        out = {"intact": result.intact, "events": result.events,
               "seconds": round(time.perf_counter() - started, 3)}
    out["peak_rss_mb"] = round(harness.vm_hwm_mb(), 1)
    print(json.dumps(out))


def run_child(url: str, mode: str, redis_url: str, calls: int = 0) -> dict[str, Any]:
    env = harness.app_env(url, REDIS_URL=redis_url)
    done = harness.run_measured([harness.PY, __file__, "--child", mode, "--calls", str(calls)],
                                env, dbname=url.rsplit("/", 1)[1])
    if done["code"] != 0:
        raise RuntimeError(f"child {mode} failed:\n{done['stdout'][-2000:]}"
                           f"\n{done['stderr'][-3000:]}")
    return {**harness.last_json(done["stdout"]), "postgres_cpu_seconds":
            done["postgres_cpu_seconds"]}


def timed_sweep(url: str, overdue: int, redis_url: str, label: str) -> dict[str, Any]:
    harness.wait_quiet()
    run = checked(url, overdue, lambda: run_child(url, "sweep", redis_url))
    run["escalations_per_s"] = round(run["result"]["escalated"] / run["seconds"])
    harness.log(f"  {label}: {run['result']['escalated']:,} escalated in {run['seconds']} s = "
                f"{run['escalations_per_s']:,}/s; python CPU {run['python_cpu_seconds']} s, "
                f"postgres {run['postgres_cpu_seconds']} s; peak RSS {run['peak_rss_mb']} MB")
    return run


# --- Main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 / 200,000 complaints, 2,000 due, helpdesk 20,000 tickets")
    parser.add_argument("--skip-helpdesk", action="store_true")
    parser.add_argument("--child", choices=["sweep", "idle", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.calls)
    size = SIZES["quick" if args.quick else "full"]
    redis_url = harness.REDIS_URL
    run = harness.Run("escalation", quick=args.quick, redis_url=redis_url)
    run.report["size"] = size
    harness.setup_django(harness.db_url("bench_sweep"))
    import redis

    broker = redis.Redis.from_url(redis_url)
    keys_before = set(broker.keys("*"))
    overdue = size["overdue"]
    try:
        small_url = load("bench_sweep_small", size["small"], overdue)
        small = timed_sweep(small_url, overdue, redis_url, f"sweep at {size['small']:,} open")
        harness.drop_database("bench_sweep_small")
        url = load("bench_sweep", size["large"], overdue)
        large = []
        for rep in range(size["reps"]):
            if rep:
                make_overdue(url, size["large"] // overdue, rep, overdue)
            large.append(timed_sweep(url, overdue, redis_url, f"sweep at {size['large']:,} "
                                     f"open, rep {rep + 1}"))
        harness.sql(url, "VACUUM (ANALYZE)", autocommit=True)
        harness.wait_quiet()
        idle = run_child(url, "idle", redis_url, size["idle_calls"])
        if idle["escalated"]:
            raise RuntimeError("the idle sweep found work: the data is not idle")
        harness.log(f"  idle sweep: median {idle['median_ms']} ms, {idle['statements']} "
                    f"statements, partial index used: {idle['uses_partial_index']}")
        make_overdue(url, size["large"] // overdue, size["reps"], overdue)
        harness.wait_quiet()
        command_env = harness.app_env(url, REDIS_URL=redis_url)
        command = checked(url, overdue, lambda: harness.run_measured(
            [harness.PY, "manage.py", "sweep_deadlines"], command_env))
        harness.log(f"  manage.py sweep_deadlines: {command['wall_seconds']} s wall")
        verify = run_child(url, "verify", redis_url)
        if not verify["intact"]:
            raise RuntimeError(f"audit chain after the sweeps: {verify}")
    finally:
        for key in set(broker.keys("*")) - keys_before:
            broker.delete(key)

    helpdesk: dict[str, Any] = {"skipped": True}
    if not args.skip_helpdesk:
        import helpdesk_compare

        helpdesk = helpdesk_compare.run_escalate(size["helpdesk_tickets"], overdue)
        harness.log(f"  helpdesk escalate_tickets: {helpdesk['escalations_per_s']}/s")
    rate = harness.median_of(large, "escalations_per_s")["escalations_per_s"]
    growth = statistics.median(r["peak_rss_mb"] for r in large) - small["peak_rss_mb"]
    command_rate = round(overdue / command["wall_seconds"])
    ratio = round(rate / helpdesk["escalations_per_s"], 1) if "wall_seconds" in helpdesk else None
    run.report.update({"small": small, "large": large, "idle": idle, "verify": verify,
                       "command": {k: command[k] for k in ("wall_seconds", "peak_rss_mb",
                                                           "cpu_seconds")},
                       "helpdesk": helpdesk})
    run.report["summary"] = {
        "escalations_per_s": rate,
        "command_escalations_per_s": command_rate,
        "helpdesk_escalations_per_s": helpdesk.get("escalations_per_s"),
        "ratio_vs_helpdesk": ratio,
        "ratio_command_vs_helpdesk": (round(command_rate / helpdesk["escalations_per_s"], 1)
                                      if ratio else None),
        "idle_sweep_ms": idle["median_ms"],
        "sweep_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in large),
        "rss_growth_pct_small_to_large": round(100 * growth / small["peak_rss_mb"], 1),
        "targets": {"ratio_ge_25x": ratio >= 25 if ratio else None,
                    "idle_lt_20ms": idle["median_ms"] < 20,
                    "idle_uses_partial_index": idle["uses_partial_index"],
                    "memory_flat_within_10pct": growth <= 0.10 * small["peak_rss_mb"]},
    }
    print(idle["plan"])
    run.save()


if __name__ == "__main__":
    main()
