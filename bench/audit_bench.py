"""Audit-log benchmark: audited transitions/s with 1 and 8 writers against pgbench's ceiling
for a serialized hash-chained append, and verify_audit's speed and peak memory.

    .venv/bin/python bench/audit_bench.py [--quick]

Scratch databases ``bench_audit`` (transitions, pgbench tables) and ``bench_audit_verify``
(generated events). The transitions go through ``complaints.services.complaint_acknowledge``,
each writing its audit event; the generated chain is checked by ``manage.py verify_audit``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SIZES = {"full": {"ops": 4000, "reps": 3, "pgbench_seconds": 15, "events": 1_000_000},
         "quick": {"ops": 1000, "reps": 1, "pgbench_seconds": 5, "events": 200_000}}
WRITERS = (1, 8)
WARMUP = 25  # transitions per writer before its clock starts
HR_USERNAME = "bench_hr_reviewer"


# --- Audited transitions ------------------------------------------------------------------------

def seed_complaints(count: int) -> list[int]:
    """An hr_reviewer and ``count`` submitted complaints (bulk-created: only the measured
    transitions go through the services)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from complaints import access
    from complaints.models import Category, Complaint, Severity

    user, _ = get_user_model().objects.get_or_create(username=HR_USERNAME)
    user.groups.add(Group.objects.get_or_create(name=access.HR_REVIEWER)[0])
    Complaint.objects.bulk_create(
        [Complaint(category=Category.BULLYING, severity=Severity.STANDARD,
                   summary=f"Bench complaint {i}", narrative="Shouted at in every meeting.",
                   submitted_at=timezone.now()) for i in range(count)], batch_size=2000)
    return list(Complaint.objects.filter(state="submitted").order_by("pk")
                .values_list("pk", flat=True))


def _writer(pks: list[int], warm: list[int], start: Any, done: Any, out: Any) -> None:
    """One writer process: warm up, wait for the others, acknowledge each complaint once,
    report, and keep its connection until the parent has read the CPU counters."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from complaints.models import Complaint
    from complaints.services import complaint_acknowledge

    try:
        actor = get_user_model().objects.get(username=HR_USERNAME)
        by_pk = Complaint.objects.in_bulk(pks + warm)
        for pk in warm:
            complaint_acknowledge(complaint=by_pk[pk], actor=actor)
        start.wait(timeout=120)
        usage0, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        latencies = []
        for pk in pks:
            t0 = time.perf_counter()
            complaint_acknowledge(complaint=by_pk[pk], actor=actor)
            latencies.append(time.perf_counter() - t0)
        finished, usage1 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
        out.put({"started": started, "finished": finished, "cpu_s": cpu,
                 "latencies": latencies})
        done.wait(timeout=900)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put({"error": repr(exc)})
        start.abort()
        done.abort()
    finally:
        connections.close_all()


def run_writers(writers: int, pks: list[int], warm: list[int]) -> dict[str, Any]:
    """``writers`` processes, each with its own connection and share of ``pks``; the clock
    runs from the start barrier to the last writer finishing."""
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    connections.close_all()  # nothing shared across fork
    ctx = mp.get_context("fork")
    start, done, out = ctx.Barrier(writers + 1), ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pks[i::writers], warm[i::writers], start, done,
                                               out)) for i in range(writers)]
    for proc in procs:
        proc.start()
    start.wait(timeout=300)
    with harness.CpuMeter() as meter:
        results = [out.get(timeout=900) for _ in procs]
    done.wait(timeout=60)
    for proc in procs:
        proc.join(timeout=60)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{writers} writers: {errors[0]}")
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    ops = len(latencies)
    return {"writers": writers, "ops": ops, "seconds": round(elapsed, 3),
            "ops_per_s": round(ops / elapsed, 1),
            "p50_ms": round(harness.percentile(latencies, 0.5) * 1000, 2),
            "p99_ms": round(harness.percentile(latencies, 0.99) * 1000, 2),
            "python_cpu_ms_per_op": round(1000 * sum(r["cpu_s"] for r in results) / ops, 3),
            "postgres_cpu_ms_per_op": round(1000 * meter.result["postgres_cpu_s"] / ops, 3),
            "machine_busy_pct": round(meter.result["machine_busy_pct"], 1)}


# --- The pgbench ceiling ------------------------------------------------------------------------

PGBENCH_TABLES = """
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_chain_log; DROP TABLE IF EXISTS bench_chain_head;
CREATE TABLE bench_chain_head (id smallint PRIMARY KEY, seq bigint NOT NULL,
                               hash varchar(64) NOT NULL);
CREATE TABLE bench_chain_log (seq bigint PRIMARY KEY, occurred_at timestamptz NOT NULL,
                              action varchar(64) NOT NULL, payload text NOT NULL,
                              prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL);
INSERT INTO bench_chain_head VALUES (1, 0, repeat('0', 64));
"""


def run_pgbench(dbname: str, seconds: int) -> float:
    """tps of bench/pgbench_chain_head.sql with 8 clients; checks the chain has no gap."""
    url = harness.db_url(dbname)
    harness.sql(url, PGBENCH_TABLES, autocommit=True)
    harness.sql(url, "CHECKPOINT", autocommit=True)
    harness.wait_quiet()
    done = subprocess.run(["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f",
                           str(harness.BENCH / "pgbench_chain_head.sql"), url],
                          check=True, capture_output=True, text=True)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    txns = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if not tps or not txns:
        raise RuntimeError(f"cannot read pgbench output:\n{done.stdout}\n{done.stderr}")
    head, rows = harness.sql(url, "SELECT seq, (SELECT count(*) FROM bench_chain_log) "
                                  "FROM bench_chain_head")[0]
    if head != int(txns.group(1)) or rows != head:
        raise RuntimeError(f"pgbench chain has a gap: head {head}, rows {rows}")
    return round(float(tps.group(1)), 1)


# --- verify_audit over generated events ---------------------------------------------------------

EVENT_KINDS = [  # (actor_type, action, from_state, to_state, payload): a mix like the log's
    ("user", "complaint.acknowledged", "submitted", "acknowledged", "{}"),
    ("reporter", "complaint.submitted", "", "submitted",
     '{"anonymous":true,"category":"bullying","severity":"standard","subjects":1}'),
    ("user", "complaint.information_requested", "acknowledged", "awaiting_reporter",
     '{"reason_note":"N","reason_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b8"}'),
    ("user", "complaint.investigation_started", "acknowledged", "investigating",
     '{"investigator":42}'),
    ("system", "audit.chain_verified", "", "", '{"events":123456,"intact":true}'),
]


def generate_events(url: str, count: int) -> str:
    """COPY ``count`` hash-chained events into the audit log, hashed by ``audit.chain`` as
    the writer hashes them, and move the chain head; the head hash."""
    import psycopg

    from audit.chain import GENESIS_HASH, event_hash, format_time

    base, prev = datetime(2025, 1, 1, tzinfo=UTC), GENESIS_HASH
    columns = ("seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
               "from_state, to_state, payload, prev_hash, hash")
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor, cursor.copy(
                f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            lines = []
            for seq in range(1, count + 1):
                actor_type, action, before, after, payload = EVENT_KINDS[seq % len(EVENT_KINDS)]
                reference = f"MC-{seq // 5:04X}-{seq % 7919:04X}"
                actor_id = {"user": str(seq % 97 + 1), "reporter": reference}.get(actor_type, "")
                target_type, target_id = (("audit_chain", "head") if actor_type == "system"
                                          else ("complaint", reference))
                at = format_time(base + timedelta(microseconds=seq * 1_733))
                digest = event_hash(prev, seq, at, actor_type, actor_id, action, target_type,
                                    target_id, before, after, payload)
                lines.append(f"{seq}\t{at}\t{actor_type}\t{actor_id}\t{action}\t{target_type}\t"
                             f"{target_id}\t{before}\t{after}\t{payload}\t{prev}\t{digest}\n")
                prev = digest
                if len(lines) >= 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        conn.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1",
                     (count, prev))
    harness.settle(url)
    return prev


def verify_child() -> None:
    """``--verify-child``: time ``audit.services.verify()`` alone in a fresh process."""
    harness.setup_django(os.environ["DATABASE_URL"])
    from audit import services

    started = time.perf_counter()
    result = services.verify()
    print(json.dumps({"events": result.events, "intact": result.intact,
                              "seconds": round(time.perf_counter() - started, 3)}))


def run_verify(url: str, expected: int, head: str) -> dict[str, Any]:
    env = harness.app_env(url)
    command = harness.run_measured([harness.PY, "manage.py", "verify_audit", "--json"], env)
    found = harness.last_json(command["stdout"])
    # The generated log names complaints that were never written, so the completeness check
    # fails (exit 1, complete false) on an intact generated chain; anything else is an error.
    if not (found.get("intact") and found.get("events") == expected
            and found.get("head_hash") == head and command["code"] in (0, 1)):
        raise RuntimeError(f"verify_audit: {command['code']} {found} {command['stderr'][-800:]}")
    inner = harness.run_measured([harness.PY, __file__, "--verify-child"], env)
    timed = harness.last_json(inner["stdout"])
    if not (timed["intact"] and timed["events"] == expected):
        raise RuntimeError(f"verify() did not find the generated chain intact: {timed}")
    return {"events": expected, "verify_seconds": timed["seconds"],
            "verify_events_per_s": round(expected / timed["seconds"]),
            "command_wall_seconds": command["wall_seconds"],
            "command_peak_rss_mb": round(command["peak_rss_mb"], 1)}


# --- Main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 ops, 1 repetition, "
                        "pgbench 5 s, 200,000 events (about 1 minute)")
    parser.add_argument("--verify-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verify_child:
        return verify_child()
    size = SIZES["quick" if args.quick else "full"]
    run = harness.Run("audit", quick=args.quick)
    run.report["size"] = size

    harness.log("recreating bench_audit and bench_audit_verify, migrating")
    url = harness.fresh_app_database("bench_audit")
    verify_url = harness.fresh_app_database("bench_audit_verify")
    harness.setup_django(url)
    ops = size["ops"]
    pks = seed_complaints(size["reps"] * sum(ops + w * WARMUP for w in WRITERS))
    harness.settle(url)

    ceiling_runs = [run_pgbench("bench_audit", size["pgbench_seconds"])]
    harness.log(f"pgbench ceiling: {ceiling_runs[0]:,.0f} tps")
    runs: dict[int, list[dict[str, Any]]] = {w: [] for w in WRITERS}
    taken = 0
    for rep in range(size["reps"]):
        for writers in WRITERS:  # interleaved, so drift touches every configuration
            measured, warm = pks[taken:taken + ops], pks[taken + ops:taken + ops + writers * WARMUP]
            taken += ops + writers * WARMUP
            harness.wait_quiet()
            result = run_writers(writers, measured, warm)
            runs[writers].append(result)
            harness.log(f"rep {rep + 1}: {writers} writer(s): {result['ops_per_s']:,.0f}/s "
                        f"(python {result['python_cpu_ms_per_op']} + postgres "
                        f"{result['postgres_cpu_ms_per_op']} ms CPU/op)")

    from audit import services

    check = services.verify(completeness=False)
    if not check.intact or check.events != taken:
        raise SystemExit(f"chain after the writers: {check}, expected {taken} events")
    ceiling_runs.append(run_pgbench("bench_audit", size["pgbench_seconds"]))
    ceiling = round(sum(ceiling_runs) / len(ceiling_runs), 1)
    harness.log(f"pgbench ceiling after the writers: {ceiling_runs[1]:,.0f} tps")

    harness.log(f"generating {size['events']:,} hash-chained events; timing verify_audit")
    head = generate_events(verify_url, size["events"])
    verify = run_verify(verify_url, size["events"], head)

    eight = harness.median_of(runs[8], "ops_per_s")
    ratio = eight["ops_per_s"] / ceiling
    run.report.update({
        "transitions": {w: harness.median_of(r, "ops_per_s") for w, r in runs.items()},
        "pgbench_tps": ceiling_runs, "verify": verify,
        "summary": {
            "writers_1_per_s": harness.median_of(runs[1], "ops_per_s")["ops_per_s"],
            "writers_8_per_s": eight["ops_per_s"], "pgbench_ceiling_tps": ceiling,
            "ratio_8_writers_to_ceiling": round(ratio, 3),
            "verify_events_per_s": verify["verify_events_per_s"],
            "verify_audit_peak_rss_mb": verify["command_peak_rss_mb"],
            "targets": {"ratio_ge_60pct": ratio >= 0.60,
                        "verify_ge_100k_per_s": verify["verify_events_per_s"] >= 100_000,
                        "verify_rss_lt_150mb": verify["command_peak_rss_mb"] < 150}},
    })
    run.save()


if __name__ == "__main__":
    main()
