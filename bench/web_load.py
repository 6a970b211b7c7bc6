"""Web load benchmark: gunicorn (the Procfile's web command, sync workers) on loopback under
wrk, against a scratch database with 1,000,000 complaints, in one run:

1. the ceiling: a bare view doing one indexed read, with persistent database connections and
   with CONN_MAX_AGE=0, for several worker counts;
2. signed-in filings through the real form (POST /report/, CSRF token, rotating sessions of
   employees signed in beforehand), for several worker counts, checked in the database;
3. anonymous filings, against the Argon2id cost of one receipt key;
4. the HR reviewers' queue pages (mine, unassigned, overdue), measured before any filing;
5. where a signed-in filing and the ceiling's read spend their time (cProfile in the worker,
   statements per request), and the plans of the queue pages' statements;
6. django-helpdesk 2.6.1's public ticket filing side by side (its own virtualenv, project and
   scratch database; bench/helpdesk_site.py, bench/web/helpdesk.py), as ratios.

    .venv/bin/python bench/web_load.py [--quick] [--db bench_scale] [--workers 2,4]

See the "Web load benchmark" section of bench/README.md for what each number means. The run
works on a copy of its source database (``bench_web_run``; ``bench_scale_web`` for
``--db bench_scale``) and drops it at the end; it never touches the app's own database.
Results go to stdout and to ``bench/results/web-<timestamp>.json``.
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
from dataclasses import dataclass
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

from audit_bench import (  # noqa: E402 - bench/ is on the path only from here
    CpuMeter,
    background_load,
    db_url,
    git_revision,
    log,
    postgres_settings,
    redis_client,
)
from escalation_bench import BackendCpu, sql, wait_quiet  # noqa: E402
from helpdesk_site import DEFAULT_HELPDESK_VENV  # noqa: E402
from speed import python_speed  # noqa: E402

from bench.web import data, server  # noqa: E402
from bench.web.helpdesk import SUCCESS_ACCESS, SUCCESS_LOCATION, HelpdeskServer  # noqa: E402
from bench.web.profiling import (  # noqa: E402
    analyse_probe,
    analyse_profile,
    cpu_split,
    explain_queue_pages,
)
from bench.web.report import best_of, print_report, summarise  # noqa: E402

SIZES = {
    "full": {"seconds": 30, "warmup": 5, "workers": [2, 3, 4, 5, 6, 8], "profile_seconds": 20,
             "probe_seconds": 10, "quiet_limit": 30, "argon2_hashes": 20,
             "helpdesk_tickets": 100_000},
    "quick": {"seconds": 10, "warmup": 3, "workers": [2, 4], "profile_seconds": 8,
              "probe_seconds": 5, "quiet_limit": 10, "argon2_hashes": 6,
              "helpdesk_tickets": 20_000},
}
SEED = {"complaints": 1_000_000, "events": 1_000_000}


@dataclass(frozen=True)
class Scenario:
    """One kind of request: its request file, what a success looks like (status, where a
    redirect goes, a marker in the page) and its line in gunicorn's access log."""

    file: str
    status: int
    access: str
    location: str = "-"
    marker: str = "-"
    writes: bool = False
    helpdesk: bool = False  # served by django-helpdesk (bench/web/helpdesk.py), not the app


SCENARIOS = {
    "read": Scenario("read", 200, "GET /__bench__/read/ 200"),
    "file_signed_in": Scenario("file_signed_in", 302, "POST /report/ 302", location="/my/MC-",
                               writes=True),
    "file_anonymous": Scenario("file_anonymous", 200, "POST /report/ 200",
                               marker='id="receipt-key"', writes=True),
    **{f"queue_{q}": Scenario(f"queue_{q}", 200, "GET /staff/ 200",
                              marker=f'href="?queue={q}" aria-current="page"')
       for q in ("mine", "unassigned", "overdue")},
    # Any of the three, as a team of reviewers moves between them.
    "queue_team": Scenario("queue_team", 200, "GET /staff/ 200", marker='aria-current="page"'),
    "helpdesk_file": Scenario("helpdesk_file", 302, SUCCESS_ACCESS, location=SUCCESS_LOCATION,
                              writes=True, helpdesk=True),
}


class Context:
    """What every measurement needs: the server, the database, wrk, the request files."""

    def __init__(self, args: argparse.Namespace, size: dict[str, Any]) -> None:
        self.args = args
        self.size = size
        self.server_url: str = args.server_url
        self.dbname = run_db_name(args.db)
        self.url = db_url(self.server_url, self.dbname)
        self.port = server.free_port()
        self.origin = f"https://127.0.0.1:{self.port}"
        self.var_dir = Path(tempfile.mkdtemp(prefix="web-load-var-"))
        self.work = Path(tempfile.mkdtemp(prefix="web-load-"))
        self.wrk = ""
        self.files: dict[str, Path] = {}
        self.reviewer = ""
        self.helpdesk: HelpdeskServer | None = None
        self.base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.web.settings",
            "DATABASE_URL": self.url,
            "REDIS_URL": args.redis_url,
            "VAR_DIR": str(self.var_dir),
            # complaints/throttle.py limits wrong receipt keys and the API limits filings per
            # address; no request here is either, but every load comes from one address, so
            # both are lifted in case that changes.
            "RECEIPT_KEY_RATE_PER_CLIENT": "1000000/s",
            "API_FILING_RATE": "1000000/s",
            "OTP_REQUIRED_FOR_STAFF": "false",
        }

    def env(self, conn_max_age: int = 60, **extra: str) -> dict[str, str]:
        return {**self.base_env, "CONN_MAX_AGE": str(conn_max_age), **extra}

    def cleanup(self) -> None:
        shutil.rmtree(self.var_dir, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)
        if self.helpdesk:
            self.helpdesk.cleanup(drop=not self.args.keep_db)
            self.helpdesk = None


# --- What the database holds before and after ----------------------------------------------

def db_marks(url: str) -> dict[str, int]:
    row = sql(url, "SELECT (SELECT coalesce(max(id), 0) FROM complaints_complaint), "
                   "(SELECT seq FROM audit_chainhead WHERE id = 1), "
                   "(SELECT coalesce(max(id), 0) FROM escalation_notification)")[0]
    return {"complaint_id": row[0], "audit_seq": row[1], "notification_id": row[2]}


def db_growth(url: str, before: dict[str, int]) -> dict[str, Any]:
    complaints = sql(url, "SELECT count(*), count(*) FILTER (WHERE anonymous), "
                          "count(*) FILTER (WHERE reporter_user_id IS NOT NULL), "
                          "count(*) FILTER (WHERE receipt_key_hash <> '') "
                          "FROM complaints_complaint WHERE id > %s",
                     (before["complaint_id"],))[0]
    actions = dict(sql(url, "SELECT action, count(*) FROM audit_auditevent WHERE seq > %s "
                            "GROUP BY action", (before["audit_seq"],)))
    head = sql(url, "SELECT seq FROM audit_chainhead WHERE id = 1")[0][0]
    notifications = sql(url, "SELECT count(*) FROM escalation_notification WHERE id > %s",
                        (before["notification_id"],))[0][0]
    return {"complaints": complaints[0], "anonymous": complaints[1],
            "with_reporter_account": complaints[2], "with_receipt_key": complaints[3],
            "audit_events": sum(actions.values()), "audit_events_by_action": actions,
            "chain_head_moved": head - before["audit_seq"], "notifications": notifications}


def check_writes(scenario: Scenario, name: str, growth: dict[str, Any], access: dict[str, int],
                 wrk_ok: int, connections: int) -> dict[str, Any]:
    """Every filing the server answered with success wrote exactly one complaint and one
    audit event, nothing else was written, and nothing failed."""
    served_ok = access.get(scenario.access, 0)
    failed = {k: v for k, v in access.items()
              if k.startswith("POST /report/") and k != scenario.access}
    anonymous = name == "file_anonymous"
    problems = []
    if growth["complaints"] != served_ok:
        problems.append(f"{growth['complaints']} complaints for {served_ok} successful filings")
    if growth["audit_events"] != served_ok or growth["chain_head_moved"] != served_ok:
        problems.append(f"{growth['audit_events']} audit events (head moved "
                        f"{growth['chain_head_moved']}) for {served_ok} filings")
    if set(growth["audit_events_by_action"]) - {"complaint.submitted"}:
        problems.append(f"unexpected audit actions {growth['audit_events_by_action']}")
    expected_anonymous = served_ok if anonymous else 0
    if growth["anonymous"] != expected_anonymous or growth["with_receipt_key"] != \
            expected_anonymous:
        problems.append(f"{growth['anonymous']} anonymous complaints, expected "
                        f"{expected_anonymous}")
    if not anonymous and growth["with_reporter_account"] != served_ok:
        problems.append(f"only {growth['with_reporter_account']} complaints name their filer")
    if failed:
        problems.append(f"failed filings in the access log: {failed}")
    # wrk stops with requests in flight: the server finished them, wrk never counted them.
    in_flight = served_ok - wrk_ok
    if not 0 <= in_flight <= 2 * connections:
        problems.append(f"the server counted {served_ok} successes, wrk {wrk_ok}")
    return {"ok": not problems, "problems": problems, "served_ok": served_ok,
            "wrk_ok_including_warmup": wrk_ok, "in_flight_at_stop": in_flight,
            "growth": growth}


# --- One measurement --------------------------------------------------------------------------

def measure(ctx: Context, name: str, *, workers: int, connections: int, seconds: float,
            warmup: float, conn_max_age: int = 60, extra_env: dict[str, str] | None = None,
            hooks: bool = False, quiet_limit: float | None = None, think_ms: float = 0
            ) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    helpdesk = ctx.helpdesk if scenario.helpdesk else None
    if helpdesk:
        dbname, url = helpdesk.dbname, helpdesk.url
        env = {**helpdesk.env(conn_max_age), **(extra_env or {})}
        options = helpdesk.gunicorn_options()
        marks = helpdesk.marks()
    else:
        dbname, url = ctx.dbname, ctx.url
        env = ctx.env(conn_max_age, **(extra_env or {}))
        options = {}
        marks = db_marks(url) if scenario.writes else None
    requests = ctx.files[scenario.file]
    stat0 = server.pg_stat(ctx.server_url, dbname)

    def wrk(duration: float) -> dict[str, Any]:
        return server.run_wrk(ctx.wrk, ctx.port, requests, expect_status=scenario.status,
                              expect_location=scenario.location,
                              expect_marker=scenario.marker, seconds=duration,
                              connections=connections, think_ms=think_ms)

    gun = server.Gunicorn(ctx.port, workers, env, hooks=hooks, **options)
    try:
        with gun:
            warm = wrk(warmup) if warmup else None
            quiet = wait_quiet(ctx.size["quiet_limit"] if quiet_limit is None else quiet_limit)
            meter, backends = CpuMeter(), BackendCpu(dbname)
            cpu0 = gun.cpu()
            meter.start()
            backends.start()
            result = wrk(seconds)
            backend_cpu = backends.stop()
            machine = meter.stop()
            cpu1 = gun.cpu()
            worker_rss = [round(server.rss_mb(pid), 1) for pid in gun.worker_pids()]
        access = gun.access()
        command = gun.command
    finally:
        gun.stop()
        gun.cleanup()
    stat1 = server.pg_stat(ctx.server_url, dbname)

    n = max(result["requests"], 1)
    duration = result["duration_us"] / 1e6
    ok = result["statuses"].get(str(scenario.status), 0)
    socket_errors = sum(result["socket_errors"].values())
    gunicorn_cpu = sum(cpu1[pid] - cpu0[pid] for pid in cpu1 if pid in cpu0)
    restarted = sorted(set(cpu1) ^ set(cpu0))
    served = sum(v for k, v in access["counts"].items() if "/__bench__/ready/" not in k)
    lat = result["latency_us"]
    out: dict[str, Any] = {
        "scenario": name, "workers": workers, "connections": connections,
        "think_ms": think_ms, "conn_max_age": conn_max_age, "seconds": round(duration, 2),
        "requests": result["requests"], "ok": ok, "errors": n - ok + socket_errors,
        "statuses": result["statuses"], "socket_errors": result["socket_errors"],
        "ok_per_s": round(ok / duration, 1),
        "latency_ms": {k: round(lat[k] / 1000, 2)
                       for k in ("p50", "p90", "p95", "p99", "p999", "max", "mean")},
        "cpu_ms_per_request": {
            "gunicorn": round(1000 * gunicorn_cpu / n, 3),
            "postgres_backends_of_this_db": round(1000 * backend_cpu / n, 3),
            "postgres_all": round(1000 * machine["postgres_cpu_s"] / n, 3),
            "wrk": round(1000 * result["cpu_seconds"] / n, 3),
            "machine_busy": round(1000 * machine["machine_busy_cpu_s"] / n, 3),
            # Busy CPU that is none of the three: the kernel's network and process work for
            # them, and anything else running on this shared machine.
            "other": round(1000 * (machine["machine_busy_cpu_s"] - gunicorn_cpu
                                   - machine["postgres_cpu_s"] - result["cpu_seconds"]) / n, 3),
        },
        "machine_busy_pct": round(machine["machine_busy_pct"], 1),
        "quiet_before": quiet,
        "pg_per_request": {k: round((stat1[k] - stat0[k]) / max(served, 1), 2)
                           for k in server.PG_STAT_COLUMNS},
        "server_access_log": access,
        "worker_rss_mb": worker_rss,
        "workers_restarted": restarted,
        "warmup": ({"seconds": warmup, "requests": warm["requests"],
                    "ok": warm["statuses"].get(str(scenario.status), 0)} if warm else None),
        "gunicorn_command": " ".join(command),
        "wrk_command": result["command"],
    }
    if marks is not None:
        wrk_ok = ok + (out["warmup"]["ok"] if out["warmup"] else 0)
        if helpdesk:
            out["db_check"] = helpdesk.check(marks, access["counts"], wrk_ok, connections)
        else:
            out["db_check"] = check_writes(scenario, name, db_growth(url, marks),
                                           access["counts"], wrk_ok, connections)
    cpu = out["cpu_ms_per_request"]
    log(f"  {name}, {workers} workers, {connections} connections"
        + (f", {think_ms:g} ms think time" if think_ms else "")
        + (f", CONN_MAX_AGE={conn_max_age}" if conn_max_age != 60 else "")
        + f": {out['ok_per_s']:,.0f} ok/s, p50 {out['latency_ms']['p50']} p95 "
          f"{out['latency_ms']['p95']} p99 {out['latency_ms']['p99']} ms, errors "
          f"{out['errors']}; CPU/req gunicorn {cpu['gunicorn']} pg "
          f"{cpu['postgres_backends_of_this_db']} (all pg {cpu['postgres_all']}) wrk "
          f"{cpu['wrk']} other {cpu['other']} ms; machine {out['machine_busy_pct']:.0f}% busy"
        + ("" if "db_check" not in out else
           f"; database check {'ok' if out['db_check']['ok'] else 'FAILED'}"))
    if out.get("db_check") and not out["db_check"]["ok"]:
        log(f"  DATABASE CHECK FAILED: {out['db_check']['problems']}")
    if out["errors"]:
        log(f"  ERRORS: statuses {out['statuses']}, socket errors {out['socket_errors']}")
    return out


# --- The cost of a receipt key ------------------------------------------------------------------

def receipt_key_cost(hashes: int) -> dict[str, Any]:
    """One receipt_key_hash alone in this process, as a filing pays it: wall and CPU (all of
    Argon2's threads)."""
    from django.conf import settings

    from complaints.receipts import new_receipt_key, receipt_key_hash

    receipt_key_hash(new_receipt_key())
    walls, cpus = [], []
    for _ in range(hashes):
        key = new_receipt_key()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        receipt_key_hash(key)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    cores = os.cpu_count() or 1
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"argon2": dict(settings.RECEIPT_KEY_ARGON2), "hashes": hashes,
            "wall_ms": round(1000 * wall, 1), "cpu_ms": round(1000 * cpu, 1),
            "cores": cores,
            # Every core busy hashing and nothing else: the most filings/s Argon2 allows.
            "bound_per_s_by_cpu": round(cores / cpu, 1),
            "bound_per_s_by_wall": round(cores / wall, 1)}


# --- Where the time goes ---------------------------------------------------------------------

PROFILED = {
    # scenario: (key in the report, path prefix to profile, the probe's key for it)
    "file_signed_in": ("filing", "/report/", "POST complaints:report 302"),
    "read": ("read", "/__bench__/read/", "GET bench_indexed_read 200"),
}


def profile_phase(ctx: Context) -> dict[str, Any]:
    """One worker and one connection, so nothing queues and nothing competes: per profiled
    kind a plain run (CPU from /proc), a run with the request probe (statements, CPU inside
    Django) and a run under cProfile (how Django's time divides); the probe alone over the
    other kinds; and the plans of the queue pages' statements."""
    seconds, probe_seconds = ctx.size["profile_seconds"], ctx.size["probe_seconds"]
    one = {"workers": 1, "connections": 1}
    out: dict[str, Any] = {"statements": {}}
    for name, (key, prefix, probe_key) in PROFILED.items():
        log(f"5. {name}: plain, with the request probe, under cProfile ({seconds:g} s each)")
        plain = measure(ctx, name, seconds=seconds, warmup=2, **one)
        probe_dir = ctx.work / f"probe-{name}"
        probe_dir.mkdir()
        probe_run = measure(ctx, name, seconds=seconds, warmup=2, hooks=True, quiet_limit=5,
                            extra_env={"BENCH_WEB_PROBE_DIR": str(probe_dir)}, **one)
        probe = analyse_probe(probe_dir)
        out["statements"].update(probe)
        cprofile_dir = ctx.work / f"cprofile-{name}"
        cprofile_dir.mkdir()
        profiled = measure(ctx, name, seconds=seconds, warmup=0, hooks=True, quiet_limit=5,
                           extra_env={"BENCH_WEB_PROBE_DIR": str(cprofile_dir),
                                      "BENCH_WEB_CPROFILE": prefix,
                                      "BENCH_WEB_CPROFILE_SKIP": "50"}, **one)
        cprofile = analyse_profile(cprofile_dir)
        out[key] = {"plain": plain, "probe": probe.get(probe_key),
                    "profiled_run": {k: profiled[k] for k in ("ok_per_s", "latency_ms")},
                    "cprofile": cprofile,
                    "cpu_split": cpu_split(plain, probe_run, probe.get(probe_key), cprofile)}
    others = [n for n in ("file_anonymous", "queue_mine", "queue_unassigned", "queue_overdue")
              if not (n == "file_anonymous" and ctx.args.skip_anonymous)
              and not (n.startswith("queue") and ctx.args.skip_queues)]
    if others:
        log(f"5. request probe over {', '.join(others)} ({probe_seconds:g} s each)")
        others_dir = ctx.work / "probe-others"
        others_dir.mkdir()
        out["probe_runs"] = {}
        for name in others:
            run = measure(ctx, name, seconds=probe_seconds, warmup=2, hooks=True,
                          quiet_limit=0, extra_env={"BENCH_WEB_PROBE_DIR": str(others_dir)},
                          **one)
            out["probe_runs"][name] = {k: run[k] for k in ("ok", "errors", "ok_per_s",
                                                           "latency_ms", "pg_per_request")}
        out["statements"].update(analyse_probe(others_dir))
    return out




# --- Main ----------------------------------------------------------------------------------------

def prepare_database(args: argparse.Namespace, run_db: str) -> dict[str, Any]:
    """Make sure the source database exists, and copy it to ``run_db`` (the run writes)."""
    if args.db == "bench_scale":
        try:
            import scale_data  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SystemExit("--db bench_scale needs bench/scale_data.py, which is not there "
                             f"({exc}); use the default --db bench_web") from None
        meta = scale_data.read_metadata(args.server_url, "bench_scale")
        if data.database_exists(args.server_url, "bench_scale") and not (
                meta and meta.get("complete")) and data.connected(args.server_url,
                                                                  "bench_scale"):
            # ensure_scale_database() would start a second load over the running one.
            raise SystemExit("bench_scale is being loaded right now; run again when it is "
                             "done")
        log("bench_scale through scale_data.ensure_scale_database() (loads it when missing: "
            "minutes at full size)")
        scale = scale_data.ensure_scale_database(server_url=args.server_url)
        if scale.metadata.get("field_key_fingerprint") != scale_data.field_key_fingerprint():
            raise SystemExit("bench_scale was encrypted with another field key than "
                             "bench/web/settings.py uses")
        log(f"copying bench_scale to {run_db}")
        started = time.perf_counter()
        scale.clone(args.server_url, run_db)
        return {"source": "bench_scale", "built_by": "scale_data.ensure_scale_database",
                "scale_params": scale.metadata.get("params"),
                "clone_seconds": round(time.perf_counter() - started, 1)}
    if args.db == "bench_web":
        source = {"source": "bench_web", **data.ensure_seed(
            args.server_url, "bench_web", args.complaints, args.events, rebuild=args.rebuild)}
    elif data.database_exists(args.server_url, args.db):
        source = {"source": args.db}
    else:
        raise SystemExit(f"database {args.db} does not exist")
    log(f"copying {source['source']} to {run_db}")
    source["clone_seconds"] = data.clone_database(args.server_url, source["source"], run_db)
    return source


def run_db_name(source: str) -> str:
    # scale_data's clone() takes bench_scale_<suffix> names only.
    return "bench_scale_web" if source == "bench_scale" else "bench_web_run"


def parse_workers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 s runs, workers 2 and 4, shorter profile")
    parser.add_argument("--duration", type=float, help="seconds of each measured run")
    parser.add_argument("--warmup", type=float, help="seconds of load before each run")
    parser.add_argument("--workers", help="gunicorn worker counts to sweep for the ceiling and "
                        "signed-in filings, e.g. 2,3,4 (one number: no sweep); the best "
                        "filing count is used for the rest")
    parser.add_argument("--connections", type=int, default=16,
                        help="wrk connections (default 16)")
    parser.add_argument("--db", default="bench_web",
                        help="source database: bench_web (our seed, built when missing), "
                             "bench_scale (bench/scale_data.py), or any existing database; "
                             "the run works on a copy")
    parser.add_argument("--complaints", type=int, default=SEED["complaints"],
                        help="complaints in the bench_web seed")
    parser.add_argument("--events", type=int, default=SEED["events"],
                        help="audit events in the bench_web seed")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the bench_web seed")
    parser.add_argument("--keep-db", action="store_true",
                        help="keep the run's copy of the database (bench_web_run, or "
                             "bench_scale_web for --db bench_scale) afterwards")
    parser.add_argument("--employees", type=int, default=1000,
                        help="employees signed in for filing")
    parser.add_argument("--reviewers", type=int, default=40, help="HR reviewers signed in")
    parser.add_argument("--think-ms", default="1000",
                        help="mean think time between a reviewer's pages in the team run "
                             "(above 0); several, e.g. 1000,600,450, run the team at each "
                             "pace in turn (the first is the one the target is judged on)")
    for name in ("ceiling", "signed-in", "anonymous", "queues", "profile", "verify"):
        parser.add_argument(f"--skip-{name}", action="store_true")
    parser.add_argument("--skip-helpdesk", action="store_true",
                        help="do not run django-helpdesk's filing side by side (reported as "
                             "not run)")
    parser.add_argument("--helpdesk-venv", type=Path,
                        default=Path(os.environ.get("HELPDESK_VENV", DEFAULT_HELPDESK_VENV)),
                        help="throwaway virtualenv for django-helpdesk (created or reused; "
                             "shared with escalation_bench.py)")
    parser.add_argument("--helpdesk-tickets", type=int,
                        help="tickets in helpdesk's database before its filing run (default "
                             "100,000; 20,000 with --quick)")
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_SERVER_URL", "postgres://complaints:complaints@127.0.0.1:5432/complaints"),
        help="any database on the server, used for CREATE/DROP DATABASE and its statistics")
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="cache and Celery broker of the server under test (a scratch Redis db; keys "
             "the run adds are deleted afterwards)")
    args = parser.parse_args()
    try:
        args.think_ms = [float(ms) for ms in str(args.think_ms).split(",")]
    except ValueError:
        parser.error("--think-ms takes numbers separated by commas, e.g. 1000,600")
    if not args.think_ms or min(args.think_ms) <= 0:
        parser.error("--think-ms must be above 0 (the team run paces its reviewers)")

    size = dict(SIZES["quick" if args.quick else "full"])
    if args.duration:
        size["seconds"] = args.duration
    if args.warmup is not None:
        size["warmup"] = args.warmup
    if args.workers:
        size["workers"] = parse_workers(args.workers)
    if args.helpdesk_tickets is not None:
        size["helpdesk_tickets"] = args.helpdesk_tickets
    connections = args.connections

    ctx = Context(args, size)
    os.environ.update({k: v for k, v in ctx.env().items() if k not in os.environ
                       or k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
                                "VAR_DIR")})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Run on any exit, Ctrl-C and errors included (last registered, first run).
    atexit.register(ctx.cleanup)
    atexit.register(server.stop_all)
    run_started = time.perf_counter()

    server_version, pg_settings = postgres_settings(args.server_url, (
        "synchronous_commit", "fsync", "shared_buffers", "work_mem", "max_connections", "jit"))
    broker = redis_client(args.redis_url)
    redis_keys_before = set(broker.keys("*"))
    queue_before = broker.llen("celery") if b"celery" in redis_keys_before else 0

    ctx.wrk, wrk_version = server.ensure_wrk()
    background = background_load()
    speed_start = python_speed()
    if background > 10:
        log(f"WARNING: the machine is {background:.0f}% busy before the benchmark starts; "
            "numbers will be low and noisy")
    revision = git_revision()
    log(f"app code at {revision['commit'][:10]} ({revision['subject'][:70]})"
        + (" + uncommitted changes" if revision["app_code_dirty"] else ""))

    import django

    django.setup()
    from django.db import connections as db_connections

    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": "quick" if args.quick else "full", "sizes": size, "connections": connections,
        "app_revision": revision, "measurements": {},
    }
    try:
        source = prepare_database(args, ctx.dbname)
        # The seed may predate the code measured (new indexes, new columns): the copy is
        # brought up to date, as a deployment migrates before it serves.
        started = time.perf_counter()
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                       env=ctx.env(), check=True)
        source["migrate_seconds"] = round(time.perf_counter() - started, 1)
        source["complaints"] = sql(ctx.url, "SELECT count(*) FROM complaints_complaint")[0][0]
        source["audit_events"] = sql(ctx.url, "SELECT seq FROM audit_chainhead WHERE id = 1")[0][0]
        source["open_complaints"] = sql(
            ctx.url, "SELECT count(*) FROM complaints_complaint WHERE state NOT IN "
                     "('closed', 'dismissed', 'withdrawn')")[0][0]
        report["database"] = source
        log(f"  -> {source['complaints']:,} complaints ({source['open_complaints']:,} open), "
            f"{source['audit_events']:,} audit events, copied in {source['clone_seconds']} s")
        log("collectstatic (production serves the hashed, compressed files)")
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                       env=ctx.env(), check=True)
        log(f"signing in {args.employees} employees and {args.reviewers} HR reviewers")
        actors = data.prepare_actors(args.employees, args.reviewers, strangers=500)
        report["actors"] = {"employees": len(actors.employees),
                            "reviewers": len(actors.reviewers),
                            "anonymous_browsers": len(actors.anonymous),
                            "seconds": actors.seconds}
        report["queue_sizes"] = queue_sizes(actors)
        # The plans are read as the reviewer with the fullest "mine" queue of those counted.
        ctx.reviewer = max(report["queue_sizes"].items(), key=lambda kv: kv[1]["mine"])[0]
        db_connections.close_all()
        ctx.files = data.write_requests(ctx.work / "requests", actors, ctx.origin)
        run_all(ctx, report, connections)
        if not args.skip_verify:
            log("audit verify() over the whole chain")
            from audit import services as audit_services

            started = time.perf_counter()
            check = audit_services.verify()
            report["chain"] = {"intact": check.intact, "events": check.events,
                               "seconds": round(time.perf_counter() - started, 1)}
            log(f"  -> {'intact' if check.intact else 'BROKEN'}, {check.events:,} events")
            db_connections.close_all()
    finally:
        server.stop_all()
        db_connections.close_all()
        for key in set(broker.keys("*")) - redis_keys_before:
            broker.delete(key)
        if b"celery" in redis_keys_before:
            added = broker.llen("celery") - queue_before
            if added > 0:
                broker.ltrim("celery", added, -1)
        if not args.keep_db:
            with contextlib.suppress(Exception):
                data.drop_database(args.server_url, ctx.dbname)
        ctx.cleanup()

    report.update({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "postgresql": server_version,
                    "pg_settings": pg_settings, "wrk": wrk_version},
        "django": {"settings": "bench.web.settings (config.settings.production + bench "
                               "urlconf, OTP_REQUIRED_FOR_STAFF off)",
                   "lifted_limits": ["RECEIPT_KEY_RATE_PER_CLIENT",
                                     "API_FILING_RATE"]},
        "background_busy_pct": {"before": round(background, 1),
                                "after": round(background_load(), 1)},
        "python_speed": {"start": speed_start, "end": python_speed()},
        "run_seconds": round(time.perf_counter() - run_started, 1),
    })
    report["summary"] = summarise(report)
    print_report(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"web-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(ROOT)}  (run took {report['run_seconds']} s)")
    failed = [run for run in report["measurements"].get("file_signed_in", [])
              + [report["measurements"].get("file_anonymous") or {},
                 report["measurements"].get("helpdesk_file") or {}]
              if run and not run["db_check"]["ok"]]
    if failed or (report.get("chain") and not report["chain"]["intact"]):
        print("A DATABASE CHECK FAILED: see db_check in the JSON")
        sys.exit(2)
    if "error" in report.get("helpdesk", {}):
        print(f"THE HELPDESK COMPARISON DID NOT RUN: {report['helpdesk']['error']}")
        sys.exit(2)


def queue_sizes(actors: data.Actors) -> dict[str, Any]:
    """How many open cases each queue holds for the first few reviewers (what the pages
    count and paginate)."""
    from django.contrib.auth import get_user_model

    from complaints.selectors import staff_queue

    users = get_user_model().objects.filter(
        username__in=[v.username for v in actors.reviewers[:5]])
    return {user.username: staff_queue(user).counts for user in users}


def run_all(ctx: Context, report: dict[str, Any], connections: int) -> None:
    """The measurements, reads first: the queue pages are measured on the data as loaded,
    before the filings add to the queues they count."""
    args, size = ctx.args, ctx.size
    m = report["measurements"]
    sweep = size["workers"]
    common = {"connections": connections, "seconds": size["seconds"], "warmup": size["warmup"]}
    if not args.skip_ceiling:
        log(f"1. ceiling: GET /__bench__/read/<pk>/, workers {sweep}")
        m["ceiling_persistent"] = [measure(ctx, "read", workers=w, **common) for w in sweep]
    reads = best_of(m["ceiling_persistent"])["workers"] if m.get("ceiling_persistent") \
        else sweep[0]
    if not args.skip_ceiling:
        log(f"1. ceiling, bare: the same view without any middleware, {reads} workers")
        m["ceiling_bare"] = measure(ctx, "read", workers=reads,
                                    extra_env={"BENCH_WEB_BARE": "1"}, **common)
    if not args.skip_queues:
        log(f"4. queue pages as HR reviewers, {reads} workers (the ceiling's best)")
        for queue in ("mine", "unassigned", "overdue"):
            m[f"queue_{queue}"] = measure(ctx, f"queue_{queue}", workers=reads, **common)
        # Then one connection per worker: the page's own latency, with no request waiting
        # behind another (the 16-connection runs above measure how many the server can
        # take, and their latency is mostly the queue in front of the workers).
        for queue in ("mine", "unassigned", "overdue"):
            m[f"queue_{queue}_unqueued"] = measure(ctx, f"queue_{queue}", workers=reads,
                                                   **{**common, "connections": reads})
        # Then a team at work: each reviewer moves between its three queues with a think
        # time between pages (exponential, mean --think-ms), through bench/web/paced.py.
        team = report["actors"]["reviewers"]
        paces = []
        for think_ms in args.think_ms:
            log(f"4. queue pages as a team: {team} reviewers, {think_ms:g} ms mean think "
                f"time, {reads} workers")
            paces.append(measure(ctx, "queue_team", workers=reads,
                                 **{**common, "connections": team}, think_ms=think_ms))
        # The first pace is the team's; the others, faster, find where p95 crosses 100 ms.
        m["queue_team"] = paces[0]
        if len(paces) > 1:
            m["queue_team_faster"] = paces[1:]
        if not args.skip_profile:
            log("4. EXPLAIN ANALYZE of the queue pages' statements")
            report["queue_plans"] = explain_queue_pages(ctx.reviewer)
    if not args.skip_ceiling:
        log(f"1b. ceiling with CONN_MAX_AGE=0, {reads} workers")
        m["ceiling_conn_max_age_0"] = measure(ctx, "read", workers=reads, conn_max_age=0,
                                              **common)
    if not args.skip_signed_in:
        log(f"2. signed-in filings: POST /report/, workers {sweep}")
        m["file_signed_in"] = [measure(ctx, "file_signed_in", workers=w, **common)
                               for w in sweep]
    workers = best_of(m["file_signed_in"])["workers"] if m.get("file_signed_in") else reads
    report["workers_chosen"] = {
        "reads": reads, "filings": workers,
        "why": "the highest error-free rate of each sweep (ceiling; signed-in filings)"}
    if not args.skip_anonymous:
        log(f"3. receipt_key_hash alone, {size['argon2_hashes']} hashes")
        report["receipt_key_cost"] = receipt_key_cost(size["argon2_hashes"])
        log(f"  -> {report['receipt_key_cost']['wall_ms']} ms wall, "
            f"{report['receipt_key_cost']['cpu_ms']} ms CPU")
        log(f"3. anonymous filings, {workers} workers (the signed-in filings' best)")
        m["file_anonymous"] = measure(ctx, "file_anonymous", workers=workers, **common)
    if not args.skip_profile:
        report["profile"] = profile_phase(ctx)
    if not args.skip_helpdesk:
        report["helpdesk"] = helpdesk_phase(ctx, workers, common)
        if "error" not in report["helpdesk"]:
            m["helpdesk_file"] = report["helpdesk"].pop("run")


def helpdesk_phase(ctx: Context, workers: int, common: dict[str, Any]) -> dict[str, Any]:
    """django-helpdesk's public filing under the same load, with as many workers as our
    signed-in filings had. A failure is reported (and fails the run), never skipped
    quietly."""
    hd = HelpdeskServer(ctx.args.helpdesk_venv, ctx.server_url, f"{ctx.dbname}_helpdesk")
    ctx.helpdesk = hd
    try:
        log(f"6. django-helpdesk: virtualenv, project, database ({hd.dbname})")
        path = ctx.work / "requests" / "helpdesk_file.tsv"
        info = hd.prepare(path, f"http://127.0.0.1:{ctx.port}", ctx.size["helpdesk_tickets"])
        ctx.files["helpdesk_file"] = path
        log(f"6. django-helpdesk public filings: POST /helpdesk/tickets/submit/, {workers} "
            "workers (as our signed-in filings)")
        run = measure(ctx, "helpdesk_file", workers=workers, **common)
        return {**info, "workers": workers, "run": run}
    except Exception as exc:  # noqa: BLE001 - reported loudly and fails the run
        log(f"HELPDESK COMPARISON FAILED: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    main()
