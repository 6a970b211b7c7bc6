"""The deadline sweep and the audit verification at a large company's size.

On a copy of ``scale_data.py``'s database (200,000 people, 1,000,000 complaints over three
years, 10,000,000 hash-chained audit events), in one run:

1. a ``sweep()`` that finds 10,000 missed deadlines among the open cases, timed in a
   fresh process exactly as ``escalation_bench.py`` times it, with the same checks; three
   times (``--reps``), each on a fresh copy, the median the headline;
2. the idle sweep (nothing due) at that size, and the plan of its due-deadline query;
3. ``audit.services.verify()`` over the whole chain (the 10,000,000 events and the sweep's),
   its rate and the peak memory of the process that ran it.

    .venv/bin/python bench/scale_sweep.py [--due 10000] [--reps 3] [--keep-db]

The copy (``bench_scale_sweep``) is a file copy of ``bench_scale``, made again for each
sweep and dropped at the end; ``bench_scale`` itself is only read. See "Sweep and
verification at scale" in bench/README.md. Results go to stdout and
``bench/results/scale-sweep-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from audit_bench import git_revision, log  # noqa: E402 - bench/ is on the path only from here
from escalation_bench import (  # noqa: E402
    measured_sweep,
    refresh_next_due,
    run_sweep_child,
    sql,
    wait_quiet,
)  # noqa: E402
from scale_data import DEFAULT_SERVER_URL, ensure_scale_database  # noqa: E402
from speed import describe, python_speed  # noqa: E402

CLONE = "bench_scale_sweep"

# Before the run, nothing may be due but the deadlines this run makes due: the data stands
# at the moment it was generated, and deadlines that fell due since then (a few hundred,
# at every level) would be escalated too and blur the count. They are moved a day on.
CLEAR_DUE = """
UPDATE escalation_deadline SET due_at = now() + interval '1 day' + (id % 1440) * interval '1 minute'
WHERE closed_at IS NULL AND due_at < now() + interval '1 hour'
"""
# ``due`` running deadlines, one per complaint not yet escalated, chosen spread over the
# table (by a hash of the id, not the first rows), missed 5 minutes to 12 hours ago. Not
# the reporter's reply windows: those expire rather than escalate. So each is exactly one
# escalation from level 0, which the checks count.
MAKE_DUE = """
UPDATE escalation_deadline SET due_at = now() - (5 + id %% 715) * interval '1 minute'
WHERE id IN (
  SELECT id FROM (
    SELECT DISTINCT ON (d.complaint_id) d.id FROM escalation_deadline d
    JOIN complaints_complaint c ON c.id = d.complaint_id AND c.escalation_level = 0
    WHERE d.closed_at IS NULL AND d.paused_at IS NULL AND d.level = 0
      AND d.kind <> 'reporter_reply'
    ORDER BY d.complaint_id, d.id) one_each
  ORDER BY md5(id::text) LIMIT %s)
"""
SHAPE = """
SELECT (SELECT count(*) FROM complaints_complaint),
       (SELECT count(*) FROM complaints_complaint WHERE ended_at IS NULL),
       (SELECT count(*) FROM escalation_deadline WHERE closed_at IS NULL AND paused_at IS NULL),
       (SELECT seq FROM audit_chainhead WHERE id = 1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=10_000, help="deadlines made overdue")
    parser.add_argument("--reps", type=int, default=3,
                        help="sweeps, each on a fresh copy (the median is the headline)")
    parser.add_argument("--idle-calls", type=int, default=20)
    parser.add_argument("--keep-db", action="store_true", help=f"keep {CLONE} afterwards")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL",
                                                              "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()

    source = ensure_scale_database(server_url=args.server_url)
    var_dir = tempfile.mkdtemp(prefix="scale-sweep-var-")
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(),
                              "app": git_revision(), "source": source.name,
                              "source_params": source.metadata["params"], "sweeps": [],
                              "python_speed": {"start": python_speed()}}
    try:
        for rep in range(1, args.reps + 1):
            url, env = _fresh_copy(source, args, var_dir, report)
            report["sweeps"].append(measured_sweep(url, env, args.due,
                                                   f"sweep at scale {rep}/{args.reps}"))
        report["sweep"] = sorted(report["sweeps"], key=lambda r: r["escalations_per_s"])[
            len(report["sweeps"]) // 2]
        report["idle"] = run_sweep_child(url, env, "idle", ["--calls", str(args.idle_calls)])
        if report["idle"]["escalated_during_idle_calls"]:
            raise RuntimeError("the idle sweep escalated something")
        log(f"  idle sweep: median {report['idle']['median_ms']} ms over {args.idle_calls} "
            f"calls; plan uses deadline_due_running: "
            f"{report['idle']['uses_deadline_due_running']}")
        report["verify_quiet"] = wait_quiet()
        verify = run_sweep_child(url, env, "verify")
        verify["events_per_s"] = round(verify["events"] / verify["seconds"])
        report["verify"] = verify
        if not verify["intact"] or verify["events"] != report["shape"]["events_before"] + args.due:
            raise RuntimeError(f"verify(): {verify}")
        log(f"  verify(): intact, {verify['events']:,} events in {verify['seconds']} s = "
            f"{verify['events_per_s']:,}/s, peak RSS {verify['process_peak_rss_mb']} MB")
    finally:
        if not args.keep_db:
            sql(args.server_url, f"DROP DATABASE IF EXISTS {CLONE} WITH (FORCE)", autocommit=True)
    report["python_speed"]["end"] = python_speed()
    report["finished_at"] = datetime.now(UTC).isoformat()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scale-sweep-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    log(f"results: {out.relative_to(ROOT)}")


def _fresh_copy(source: Any, args: argparse.Namespace, var_dir: str,
                report: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A new copy of the scale data, migrated, with exactly ``args.due`` deadlines due."""
    log(f"copying {source.name} to {CLONE} (file copy)")
    url = source.clone(args.server_url, CLONE)
    env = source.env()
    env.update({"DATABASE_URL": url, "REDIS_URL": args.redis_url, "VAR_DIR": var_dir,
                "DJANGO_DEBUG": "false"})
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    moved = sql(url, CLEAR_DUE)
    made = sql(url, MAKE_DUE, (args.due,))
    refresh_next_due(url)
    if made != args.due:
        raise RuntimeError(f"made {made} deadlines overdue, expected {args.due}")
    sql(url, "VACUUM (ANALYZE)", autocommit=True)
    sql(url, "CHECKPOINT", autocommit=True)
    complaints, open_cases, running, events = sql(url, SHAPE)[0]
    report["shape"] = {"complaints": complaints, "open": open_cases,
                       "running_deadlines": running, "events_before": events,
                       "due_moved_a_day_on": moved, "made_due": made}
    log(f"{complaints:,} complaints ({open_cases:,} open, {running:,} running deadlines), "
        f"{events:,} events; {made:,} deadlines made overdue ({moved:,} moved a day on)")
    return url, env


def print_table(report: dict[str, Any]) -> None:
    sweep, idle, verify, shape = (report["sweep"], report["idle"], report["verify"],
                                  report["shape"])
    rows = [
        ("complaints / open / events before", f"{shape['complaints']:,} / {shape['open']:,} / "
                                              f"{shape['events_before']:,}", "-"),
        ("sweep(): escalations/s, median", f"{sweep['escalations_per_s']:,} "
                                           f"({sweep['result']['escalated']:,} in "
                                           f"{sweep['wall_seconds']:.2f} s)", ">= 5,000"),
        ("  each sweep", " / ".join(f"{r['escalations_per_s']:,}" for r in report["sweeps"]),
         "-"),
        ("sweep process peak RSS", f"{sweep['process_peak_rss_mb']} MB "
                                   f"(before the call {sweep['rss_before_mb']} MB)", "flat"),
        ("sweep checks", "passed" if all(r["check"]["ok"] for r in report["sweeps"])
         else "FAILED", "-"),
        ("idle sweep, median", f"{idle['median_ms']} ms", "< 20 ms"),
        ("idle due query uses deadline_due_running", str(idle["uses_deadline_due_running"]),
         "yes"),
        ("verify(): events/s", f"{verify['events_per_s']:,} ({verify['events']:,} in "
                               f"{verify['seconds']} s)", ">= 100,000"),
        ("verify process peak RSS", f"{verify['process_peak_rss_mb']} MB", "< 150 MB"),
    ]
    rows.append(("speed probe", describe(report["python_speed"]).removeprefix("speed probe "),
                 "-"))
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<44}  {target}")


if __name__ == "__main__":
    main()
