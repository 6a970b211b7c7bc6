"""Scale-out benchmark: one host against two on one PostgreSQL and one Redis, in one run:

1. web: signed-in filings (POST /report/) against one gunicorn master, then against two
   masters on two ports with the same total of workers and of wrk connections split between
   them (two wrk processes at once); every run checked in the database;
2. workers: N overdue deadlines escalated, and their notifications delivered, by one Celery
   worker and by two worker processes (own node names, same broker and database), the sweep
   sent to both at once and beat running; every escalation and every delivery checked to
   have happened exactly once.

    .venv/bin/python bench/scale_out.py [--quick] [--keep-db]

See "Scale-out benchmark" in bench/README.md. The run works on a copy of the bench_web seed
(``CREATE DATABASE bench_scaleout TEMPLATE bench_web``; the seed is built by
bench/web_load.py and never changed here) and a scratch Redis db that must be empty, and
drops the copy at the end. A duplicate or a mismatch anywhere makes it exit 2. Results go to
stdout and to ``bench/results/scaleout-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import scaleout_checks  # noqa: E402 - bench/ is on the path only from here
import scaleout_web  # noqa: E402
import scaleout_workers  # noqa: E402
from audit_bench import (  # noqa: E402
    background_load,
    db_url,
    git_revision,
    log,
    postgres_settings,
    redis_client,
)
from escalation_bench import sql  # noqa: E402
from speed import describe, python_speed  # noqa: E402

from bench.web import data, server  # noqa: E402

SIZES = {
    "quick": {"web_seconds": 10, "warmup": 3, "web_reps": 1, "escalations": 5000,
              "worker_reps": 2, "quiet_limit": 10, "timeout": 240},
    "full": {"web_seconds": 30, "warmup": 5, "web_reps": 3, "escalations": 8000,
             "worker_reps": 2, "quiet_limit": 20, "timeout": 300},
}
PROTECTED = {"bench_web", "bench_scale", "complaints", "postgres", "template0", "template1"}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 1) if runs else 0.0


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    web = report.get("web", {}).get("runs", [])
    one = [r for r in web if r["hosts"] == 1]
    two = [r for r in web if r["hosts"] == 2]
    if one and two:
        out["web"] = {
            "one_host_ok_per_s": _median(one, "ok_per_s"),
            "two_hosts_ok_per_s": _median(two, "ok_per_s"),
            "ratio": round(_median(two, "ok_per_s") / max(_median(one, "ok_per_s"), 1e-9), 3),
            "errors": {"one": sum(r["errors"] for r in one), "two": sum(r["errors"] for r in two)},
            "checks_ok": all(r["db_check"]["ok"] for r in web),
        }
    workers = report.get("workers", {}).get("runs", [])
    w1 = [r for r in workers if r["workers"] == 1]
    w2 = [r for r in workers if r["workers"] == 2]
    if w1 and w2:
        out["workers"] = {
            "one_escalations_per_s": _median(w1, "escalations_per_s"),
            "two_escalations_per_s": _median(w2, "escalations_per_s"),
            "escalations_ratio": round(_median(w2, "escalations_per_s")
                                       / max(_median(w1, "escalations_per_s"), 1e-9), 3),
            "one_notifications_per_s": _median(w1, "notifications_per_s"),
            "two_notifications_per_s": _median(w2, "notifications_per_s"),
            "notifications_ratio": round(_median(w2, "notifications_per_s")
                                         / max(_median(w1, "notifications_per_s"), 1e-9), 3),
            "checks_ok": all(r["check"]["ok"] for r in workers),
        }
    problems = []
    for r in web:
        problems += [f"web {r['hosts']} host(s): {p}" for p in r["db_check"]["problems"]]
    for r in workers:
        problems += [f"{r['label']}: {p}" for p in r["check"]["problems"]]
    if report.get("mail_check"):
        problems += [f"mail: {p}" for p in report["mail_check"]["problems"]]
    if report.get("chain") and not report["chain"]["intact"]:
        problems.append(f"audit chain broken at {report['chain']['first_broken_seq']}")
    out["problems"] = problems
    out["ok"] = not problems
    return out


def _table(rows: list[tuple[str, ...]]) -> None:
    heads = ("measurement", "one", "two", "two/one", "detail")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in rows:
        print("  ".join(c.rjust(w) if i in (1, 2, 3) else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())


def _sweeps(run: dict[str, Any]) -> str:
    """Per worker: how many sweeps ran, and what each that escalated anything escalated."""
    parts = []
    for node in run["nodes"].values():
        busy = [str(sweep["escalated"]) for sweep in node["sweeps"] if sweep.get("escalated")]
        parts.append(f"{len(node['sweeps'])}:{'+'.join(busy) or '0'}")
    return " / ".join(parts)


def _pick(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key`` (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def print_report(report: dict[str, Any]) -> None:
    s = report["summary"]
    rows: list[tuple[str, ...]] = []
    web = report.get("web", {}).get("runs", [])
    if "web" in s:
        a = _pick([r for r in web if r["hosts"] == 1], "ok_per_s")
        b = _pick([r for r in web if r["hosts"] == 2], "ok_per_s")
        w = s["web"]
        rows.append((f"web: signed-in filings/s, {a['workers']} vs {b['workers']} workers, "
                     f"{a['connections']} conns",
                     f"{w['one_host_ok_per_s']:,.0f}", f"{w['two_hosts_ok_per_s']:,.0f}",
                     f"{w['ratio']:.2f}x", "two: " + " + ".join(
                         f"{h['ok_per_s']:,.0f}" for h in b["per_host"]) + " per host"))
        rows.append(("  p50 / p99 ms", f"{a['latency_ms']['p50']}/{a['latency_ms']['p99']}",
                     f"{b['latency_ms']['p50']}/{b['latency_ms']['p99']}", "", ""))
        rows.append(("  errors (all runs)", str(w["errors"]["one"]), str(w["errors"]["two"]), "",
                     ""))
        ca, cb = a["cpu_ms_per_request"], b["cpu_ms_per_request"]
        rows.append(("  CPU ms/filing: gunicorn / pg / wrk / other",
                     f"{ca['gunicorn']}/{ca['postgres_all']}/{ca['wrk']}/{ca['other']}",
                     f"{cb['gunicorn']}/{cb['postgres_all']}/{cb['wrk']}/{cb['other']}", "",
                     f"machine {a['machine_busy_pct']:.0f}% / {b['machine_busy_pct']:.0f}% busy"))
        rows.append(("  database checks", "ok" if all(r["db_check"]["ok"] for r in web
                                                      if r["hosts"] == 1) else "FAILED",
                     "ok" if all(r["db_check"]["ok"] for r in web if r["hosts"] == 2)
                     else "FAILED", "", "complaints = events = successes; refs unique"))
    workers = report.get("workers", {}).get("runs", [])
    if "workers" in s:
        a = _pick([r for r in workers if r["workers"] == 1], "escalations_per_s")
        b = _pick([r for r in workers if r["workers"] == 2], "escalations_per_s")
        w = s["workers"]
        rows.append((f"workers: escalations/s, {a['escalations']:,} overdue",
                     f"{w['one_escalations_per_s']:,.0f}", f"{w['two_escalations_per_s']:,.0f}",
                     f"{w['escalations_ratio']:.2f}x",
                     f"{a['pool_processes']} vs {b['pool_processes']} pool processes"))
        latency = report.get("options", {}).get("mail_latency_ms") or 0
        rows.append(("  notifications delivered/s (end to end)"
                     + (f", mail {latency:g} ms each" if latency else ""),
                     f"{w['one_notifications_per_s']:,.0f}",
                     f"{w['two_notifications_per_s']:,.0f}", f"{w['notifications_ratio']:.2f}x",
                     f"{a['notifications_delivered']:,} / {b['notifications_delivered']:,} "
                     "delivered"))
        rows.append(("  seconds to escalate / to deliver all",
                     f"{a['seconds_to_escalate']}/{a['seconds_to_deliver_all']}",
                     f"{b['seconds_to_escalate']}/{b['seconds_to_deliver_all']}", "", ""))
        ca, cb = a["cpu_seconds"], b["cpu_seconds"]
        rows.append(("  CPU s: celery / pg / beat+bench / other",
                     f"{ca['celery_workers']}/{ca['postgres_all']}/"
                     f"{ca['beat'] + ca['benchmark_process']:.2f}/{ca['other']}",
                     f"{cb['celery_workers']}/{cb['postgres_all']}/"
                     f"{cb['beat'] + cb['benchmark_process']:.2f}/{cb['other']}", "",
                     f"machine {a['machine_busy_pct']:.0f}% / {b['machine_busy_pct']:.0f}% busy"))
        rows.append(("  escalated by each sweep, per worker",
                     _sweeps(a), _sweeps(b), "", "sweeps run: what each escalated (workers' logs)"))
        rows.append(("  exactly once (escalations, mail)",
                     "ok" if all(r["check"]["ok"] for r in workers if r["workers"] == 1)
                     else "FAILED",
                     "ok" if all(r["check"]["ok"] for r in workers if r["workers"] == 2)
                     else "FAILED", "", "rows, events, notifications, recorded mail"))
    if report.get("mail_check"):
        m = report["mail_check"]
        rows.append(("mail, whole run", "", "", "",
                     f"{m['mails']:,} mails, {m['duplicates']} duplicates, "
                     f"{m['undelivered']} undelivered: {'ok' if m['ok'] else 'FAILED'}"))
    if report.get("chain"):
        c = report["chain"]
        rows.append(("audit chain verify()", "", "", "",
                     f"{'intact' if c['intact'] else 'BROKEN'}, {c['events']:,} events, "
                     f"{c['seconds']} s"))
    bg = report["background_busy_pct"]
    print()
    print(f"app code: {report['app_revision']['commit'][:10]}"
          + (" + uncommitted changes" if report["app_revision"]["app_code_dirty"] else "")
          + f"; machine busy before/after with nothing of ours: {bg['before']:.0f}%/"
            f"{bg['after']:.0f}%; {report['machine']['cpus']} CPUs; "
            f"{describe(report['python_speed'])}")
    _table(rows)
    for problem in s["problems"]:
        print(f"PROBLEM: {problem}")
    print()


def main() -> None:  # noqa: C901 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 s web runs once; 5,000 escalations, twice (~3 min)")
    parser.add_argument("--web-seconds", type=float, help="seconds of each measured web run")
    parser.add_argument("--warmup", type=float, help="seconds of load before each web run")
    parser.add_argument("--web-workers", type=int, default=4,
                        help="gunicorn workers in all (one host: all; two: half each); "
                             "with --web-per-host, on each host")
    parser.add_argument("--web-per-host", action="store_true",
                        help="--web-workers is per host: the second host adds its workers "
                             "to the first's (one process against two with --web-workers 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="wrk connections in all (two hosts: half each)")
    parser.add_argument("--web-reps", type=int, help="repetitions of the web pair")
    parser.add_argument("--escalations", type=int, help="overdue deadlines per worker run")
    parser.add_argument("--worker-reps", type=int, help="repetitions of the worker pair")
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="prefork processes per worker (the Procfile's WORKER_CONCURRENCY)")
    parser.add_argument("--beat-seconds", type=float, default=5.0,
                        help="beat's sweep and delivery interval during the worker runs")
    parser.add_argument("--beats", type=int, default=1,
                        help="beat processes (production runs one; 2 shows a second is "
                             "harmless)")
    parser.add_argument("--pump", action="store_true",
                        help="keep one extra delivery wake-up per pool process queued (the "
                             "app's own wake-ups are the sweep's, beat's and a delivery "
                             "task's after a full batch)")
    parser.add_argument("--prove-checks", action="store_true",
                        help="record every 97th mail twice, as a double delivery would be: "
                             "the run must then report duplicates and exit 2")
    parser.add_argument("--mail-latency-ms", type=float, default=0.0,
                        help="time the recording mail backend takes per message, as a mail "
                             "relay's round trips would (default 0: no wait)")
    parser.add_argument("--timeout", type=float, help="seconds a worker run may take")
    parser.add_argument("--employees", type=int, default=1000,
                        help="employees signed in for filing")
    parser.add_argument("--skip-web", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--source", default="bench_web",
                        help="seed database to copy (built by bench/web_load.py)")
    parser.add_argument("--db", default="bench_scaleout", help="the run's copy")
    parser.add_argument("--keep-db", action="store_true", help="keep the run's copy afterwards")
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_SERVER_URL", "postgres://complaints:complaints@127.0.0.1:5432/complaints"),
        help="any database on the server, used for CREATE/DROP DATABASE")
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379/11"),
        help="cache and broker (a scratch Redis db that must be empty; emptied afterwards)")
    args = parser.parse_args()

    size = dict(SIZES["quick" if args.quick else "full"])
    for key in ("web_seconds", "warmup", "web_reps", "escalations", "worker_reps", "timeout"):
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if args.db in PROTECTED or args.db == args.source:
        raise SystemExit(f"refusing to use {args.db} as the run's copy")

    url = db_url(args.server_url, args.db)
    var_dir = Path(tempfile.mkdtemp(prefix="scaleout-var-"))
    work = Path(tempfile.mkdtemp(prefix="scaleout-"))
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.scaleout_settings",
        "DATABASE_URL": url,
        "REDIS_URL": args.redis_url,
        "VAR_DIR": str(var_dir),
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
        # As web_load: every request comes from one address; no request here hits a limit,
        # but nothing should start to if that changes.
        "RECEIPT_KEY_RATE_PER_CLIENT": "1000000/s",
        "API_FILING_RATE": "1000000/s",
        "OTP_REQUIRED_FOR_STAFF": "false",
        "SCALEOUT_MAIL_RECORD_TWICE_EVERY": "97" if args.prove_checks else "0",
        "SCALEOUT_MAIL_LATENCY_MS": str(args.mail_latency_ms),
    }
    os.environ.update({k: base_env[k] for k in (
        "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "CONN_MAX_AGE",
        "OTP_REQUIRED_FOR_STAFF")})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(shutil.rmtree, work, True)
    atexit.register(shutil.rmtree, var_dir, True)
    atexit.register(server.stop_all)
    started = time.perf_counter()

    import redis

    server_version, pg_settings = postgres_settings(args.server_url, (
        "synchronous_commit", "fsync", "shared_buffers", "max_connections", "jit"))
    broker = redis_client(args.redis_url)
    if broker.dbsize():
        raise SystemExit(f"the Redis db {args.redis_url} is not empty: workers would take "
                         "someone else's messages; pick another --redis-url")
    if not data.database_exists(args.server_url, args.source):
        raise SystemExit(f"{args.source} does not exist: build it once with "
                         "`.venv/bin/python bench/web_load.py --quick` (about 7 minutes)")
    label = data.database_comment(args.server_url, args.source)
    if args.source == "bench_web" and not label.startswith("bench/web_load.py seed"):
        raise SystemExit(f"bench_web is not web_load's seed (comment {label!r})")

    wrk, wrk_version = server.ensure_wrk()
    background = background_load()
    speed_start = python_speed()
    if background > 10:
        log(f"WARNING: the machine is {background:.0f}% busy before the benchmark starts; "
            "numbers will be low and noisy")
    revision = git_revision()
    log(f"app code at {revision['commit'][:10]} ({revision['subject'][:70]})"
        + (" + uncommitted changes" if revision["app_code_dirty"] else ""))
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": "quick" if args.quick else "full", "sizes": size, "app_revision": revision,
        "options": {k: v for k, v in vars(args).items() if k not in ("server_url",)},
    }

    import django
    from django.db import connections as db_connections

    try:
        log(f"copying {args.source} to {args.db} (CREATE DATABASE ... TEMPLATE)")
        clone_seconds = data.clone_database(args.server_url, args.source, args.db)
        sql(url, f"COMMENT ON DATABASE {args.db} IS "
                 f"'bench/scale_out.py run copy of {args.source}'", autocommit=True)
        counts = sql(url, "SELECT (SELECT count(*) FROM complaints_complaint), "
                          "(SELECT seq FROM audit_chainhead WHERE id = 1)")[0]
        report["database"] = {"source": args.source, "source_label": label, "copy": args.db,
                              "clone_seconds": clone_seconds, "complaints": counts[0],
                              "audit_events": counts[1]}
        log(f"  -> {counts[0]:,} complaints, {counts[1]:,} audit events, copied in "
            f"{clone_seconds} s")
        # The seed may predate the code measured (new columns, new indexes): the copy is
        # brought up to date, as a deployment migrates before it serves.
        migrating = time.perf_counter()
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env={**os.environ, **base_env},
                       check=True)
        report["database"]["migrate_seconds"] = round(time.perf_counter() - migrating, 1)
        log(f"  -> migrated in {report['database']['migrate_seconds']} s")
        django.setup()
        import config.celery_app  # noqa: F401 - binds the tasks to the app and its broker

        if not args.skip_web:
            ctx = scaleout_web.WebContext(url=url, dbname=args.db, wrk=wrk, base_env=base_env)
            ctx.hosts = [scaleout_web.Host(name, server.free_port(),
                                           Path(tempfile.mkdtemp(prefix=f"host-{name}-",
                                                                 dir=work)))
                         for name in ("a", "b")]
            report["web"] = {"actors": scaleout_web.prepare_hosts(ctx, work, args.employees),
                             "runs": []}
            db_connections.close_all()
            log(f"1. web: signed-in filings, {args.web_workers} workers and "
                f"{args.connections} connections on one host, then "
                + (f"{args.web_workers} workers on each of two hosts, the connections split"
                   if args.web_per_host else "both split over two hosts"))
            for rep in range(size["web_reps"]):
                for hosts in ((1, 2) if rep % 2 == 0 else (2, 1)):
                    report["web"]["runs"].append(scaleout_web.measure(
                        ctx, hosts, workers=args.web_workers, connections=args.connections,
                        seconds=size["web_seconds"], warmup=size["warmup"],
                        quiet_limit=size["quiet_limit"], per_host=args.web_per_host))

        if not args.skip_workers:
            moved = scaleout_workers.push_open_deadlines_out(url)
            log(f"2. workers: {size['escalations']:,} overdue deadlines per run, one worker "
                f"then two, concurrency {args.worker_concurrency}, {args.beats} beat every "
                f"{args.beat_seconds:g} s ({moved:,} running deadlines due within a day moved "
                "30 days out first)")
            report["workers"] = {"deadlines_moved_out": moved, "runs": []}
            for rep in range(size["worker_reps"]):
                for count in ((1, 2) if rep % 2 == 0 else (2, 1)):
                    report["workers"]["runs"].append(scaleout_workers.run_config(
                        url=url, dbname=args.db, redis_url=args.redis_url, base_env=base_env,
                        work=work, workers=count, concurrency=args.worker_concurrency,
                        escalations=size["escalations"], beat_seconds=args.beat_seconds,
                        beats=args.beats, quiet_limit=size["quiet_limit"],
                        timeout=size["timeout"], label=f"{count}-worker-rep{rep + 1}",
                        pump_wakeups=args.pump))
            report["mail_check"] = scaleout_checks.check_all_mail(url, work)

        log("audit verify() over the whole chain")
        from audit import services as audit_services

        t = time.perf_counter()
        verified = audit_services.verify()
        report["chain"] = {"intact": verified.intact, "events": verified.events,
                           "first_broken_seq": verified.first_broken_seq,
                           "seconds": round(time.perf_counter() - t, 1)}
        log(f"  -> {'intact' if verified.intact else 'BROKEN'}, {verified.events:,} events")
    finally:
        server.stop_all()
        db_connections.close_all()
        with contextlib.suppress(redis.RedisError):
            broker.flushdb()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                data.drop_database(args.server_url, args.db)

    report.update({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "postgresql": server_version,
                    "pg_settings": pg_settings, "wrk": wrk_version},
        "django": {"settings": "bench.scaleout_settings (bench/web/settings.py, i.e. "
                               "config.settings.production, with mail recorded per process)"},
        "background_busy_pct": {"before": round(background, 1),
                                "after": round(background_load(), 1)},
        "python_speed": {"start": speed_start, "end": python_speed()},
        "run_seconds": round(time.perf_counter() - started, 1),
    })
    report["summary"] = summarise(report)
    print_report(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scaleout-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(ROOT)}  (run took {report['run_seconds']} s)")
    if not report["summary"]["ok"]:
        print("A CHECK FAILED: a duplicate or a mismatch (see PROBLEM lines and the JSON)")
        sys.exit(2)


if __name__ == "__main__":
    main()
