"""The web half of bench/scale_out.py: signed-in filings against one gunicorn master (one
"host") and against two masters on two ports (two "hosts"), the same total of sync workers
and of wrk connections split between them, checked in the database after every run.

Each host has its own VAR_DIR (static files collected into it, media, nothing shared on
disk), as two machines would; they share only PostgreSQL and Redis. The machinery is
bench/web_load.py's: the signed-in sessions and request files of bench/web/data.py, gunicorn
and wrk from bench/web/server.py, and its database check of every filing run.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit_bench import PY, ROOT, CpuMeter, log
from escalation_bench import BackendCpu, sql, wait_quiet
from web_load import SCENARIOS, check_writes, db_growth, db_marks

from bench.web import data, server

SCENARIO = SCENARIOS["file_signed_in"]


@dataclass
class Host:
    """One "machine" of the web tier: a port and a VAR_DIR of its own."""

    name: str
    port: int
    var_dir: Path
    requests: Path = Path()


@dataclass
class WebContext:
    url: str
    dbname: str
    wrk: str
    base_env: dict[str, str]
    hosts: list[Host] = field(default_factory=list)

    def env(self, host: Host) -> dict[str, str]:
        return {**self.base_env, "VAR_DIR": str(host.var_dir)}


def prepare_hosts(ctx: WebContext, work: Path, employees: int) -> dict[str, Any]:
    """Two hosts (ports, VAR_DIRs, static files), signed-in employees, and each host's request
    file: the same filings, host B's started half-way through the list so that at any moment
    the two hosts serve different employees, as one host's two wrk threads do."""
    for host in ctx.hosts:
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                       env=ctx.env(host), check=True)
    log(f"signing in {employees} employees (sessions in the database, shared by every host)")
    actors = data.prepare_actors(employees, 1, strangers=1)
    for i, host in enumerate(ctx.hosts):
        files = data.write_requests(work / f"requests-{host.name}", actors,
                                    f"https://127.0.0.1:{host.port}")
        path = files["file_signed_in"]
        if i:
            lines = path.read_text().splitlines()
            half = len(lines) // 2
            path.write_text("\n".join(lines[half:] + lines[:half]) + "\n")
        host.requests = path
    return {"employees": len(actors.employees), "seconds": actors.seconds}


def _wrk_all(ctx: WebContext, hosts: list[Host], seconds: float, connections: int,
             threads: int) -> list[dict[str, Any]]:
    """One wrk per host, all at once; their results in host order."""
    results: list[dict[str, Any] | None] = [None] * len(hosts)
    errors: list[BaseException] = []

    def one(i: int, host: Host) -> None:
        try:
            results[i] = server.run_wrk(
                ctx.wrk, host.port, host.requests, expect_status=SCENARIO.status,
                expect_location=SCENARIO.location, expect_marker=SCENARIO.marker,
                seconds=seconds, connections=connections, threads=threads)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    running = [threading.Thread(target=one, args=(i, h)) for i, h in enumerate(hosts)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def extra_checks(url: str, before: dict[str, int]) -> dict[str, Any]:
    """What web_load's check does not look at: every new complaint has a reference no other
    complaint has and exactly one complaint.submitted event naming it; receipt keys (if any)
    are unique too."""
    refs = sql(url, "SELECT count(*) FROM (SELECT reference FROM complaints_complaint WHERE "
                    "reference IN (SELECT reference FROM complaints_complaint WHERE id > %s) "
                    "GROUP BY reference HAVING count(*) > 1) d", (before["complaint_id"],))[0][0]
    keys = sql(url, "SELECT count(*) FROM (SELECT receipt_key_hash FROM complaints_complaint "
                    "WHERE receipt_key_hash IN (SELECT receipt_key_hash FROM "
                    "complaints_complaint WHERE id > %s AND receipt_key_hash <> '') "
                    "GROUP BY receipt_key_hash HAVING count(*) > 1) d",
               (before["complaint_id"],))[0][0]
    events = sql(url, "SELECT count(*) FROM (SELECT reference FROM complaints_complaint WHERE "
                      "id > %s) n LEFT JOIN (SELECT target_id, count(*) AS c FROM "
                      "audit_auditevent WHERE seq > %s AND action = 'complaint.submitted' "
                      "GROUP BY target_id) e ON e.target_id = n.reference "
                      "WHERE e.c IS DISTINCT FROM 1",
                 (before["complaint_id"], before["audit_seq"]))[0][0]
    problems = []
    if refs:
        problems.append(f"{refs} references held by more than one complaint")
    if keys:
        problems.append(f"{keys} receipt-key hashes held by more than one complaint")
    if events:
        problems.append(f"{events} new complaints without exactly one complaint.submitted event")
    return {"duplicate_references": refs, "duplicate_receipt_keys": keys,
            "complaints_without_one_submitted_event": events, "problems": problems}


def measure(ctx: WebContext, hosts: int, *, workers: int, connections: int, seconds: float,
            warmup: float, quiet_limit: float, per_host: bool = False) -> dict[str, Any]:
    """Signed-in filings against ``hosts`` gunicorn masters sharing ``workers`` workers and
    ``connections`` wrk connections equally, one wrk per host, all at once. With
    ``per_host``, every host has ``workers`` workers of its own: a second host adds
    processes instead of splitting them."""
    if per_host:
        workers *= hosts
    if workers % hosts or connections % hosts:
        raise SystemExit(f"--web-workers and --connections must divide by {hosts}")
    chosen = ctx.hosts[:hosts]
    # One host's wrk runs two threads; with two hosts each wrk runs one, so the load
    # generator has the same threads and connections in both configurations.
    threads = max(1, 2 // hosts)
    per_workers, per_connections = workers // hosts, connections // hosts
    marks = db_marks(ctx.url)
    guns = [server.Gunicorn(h.port, per_workers, ctx.env(h)) for h in chosen]
    try:
        for gun in guns:
            gun.__enter__()
        warm = _wrk_all(ctx, chosen, warmup, per_connections, threads) if warmup else []
        quiet = wait_quiet(quiet_limit)
        meter, backends = CpuMeter(), BackendCpu(ctx.dbname)
        cpu0 = [gun.cpu() for gun in guns]
        meter.start()
        backends.start()
        results = _wrk_all(ctx, chosen, seconds, per_connections, threads)
        backend_cpu = backends.stop()
        machine = meter.stop()
        cpu1 = [gun.cpu() for gun in guns]
        for gun in guns:
            gun.stop()
        accesses = [gun.access() for gun in guns]
    finally:
        for gun in guns:
            gun.stop()
            gun.cleanup()

    status = str(SCENARIO.status)
    host_rows = []
    for host, result, access, c0, c1 in zip(chosen, results, accesses, cpu0, cpu1, strict=True):
        duration = result["duration_us"] / 1e6
        ok = result["statuses"].get(status, 0)
        host_rows.append({
            "host": host.name, "port": host.port, "workers": per_workers,
            "connections": per_connections, "wrk_threads": threads,
            "requests": result["requests"], "ok": ok, "ok_per_s": round(ok / duration, 1),
            "seconds": round(duration, 2), "statuses": result["statuses"],
            "socket_errors": result["socket_errors"],
            "latency_ms": {k: round(result["latency_us"][k] / 1000, 2)
                           for k in ("p50", "p90", "p99", "max", "mean")},
            "gunicorn_cpu_s": round(sum(c1[p] - c0[p] for p in c1 if p in c0), 2),
            "workers_restarted": sorted(set(c1) ^ set(c0)),
            "access_log": access["counts"],
        })
    requests = sum(h["requests"] for h in host_rows)
    ok = sum(h["ok"] for h in host_rows)
    socket_errors = sum(sum(r["socket_errors"].values()) for r in results)
    duration = max(r["duration_us"] for r in results) / 1e6
    gunicorn_cpu = sum(h["gunicorn_cpu_s"] for h in host_rows)
    wrk_cpu = sum(r["cpu_seconds"] for r in results)
    n = max(requests, 1)
    counts: Counter[str] = Counter()
    for access in accesses:
        counts.update(access["counts"])
    wrk_ok = ok + sum(w["statuses"].get(status, 0) for w in warm)
    db_check = check_writes(SCENARIO, "file_signed_in", db_growth(ctx.url, marks), dict(counts),
                            wrk_ok, connections)
    more = extra_checks(ctx.url, marks)
    db_check["extra"] = more
    if more["problems"]:
        db_check["ok"] = False
        db_check["problems"] += more["problems"]
    out = {
        "hosts": hosts, "workers": workers, "connections": connections,
        "seconds": round(duration, 2), "requests": requests, "ok": ok,
        "errors": requests - ok + socket_errors, "ok_per_s": round(ok / duration, 1),
        "latency_ms": {
            # Two wrk processes cannot pool their histograms: the median is the mean of the
            # hosts' medians weighted by requests, the tail the worse host's.
            "p50": round(sum(h["latency_ms"]["p50"] * h["requests"] for h in host_rows) / n, 2),
            "p99": max(h["latency_ms"]["p99"] for h in host_rows),
            "max": max(h["latency_ms"]["max"] for h in host_rows)},
        "cpu_ms_per_request": {
            "gunicorn": round(1000 * gunicorn_cpu / n, 3),
            "postgres_backends_of_this_db": round(1000 * backend_cpu / n, 3),
            "postgres_all": round(1000 * machine["postgres_cpu_s"] / n, 3),
            "wrk": round(1000 * wrk_cpu / n, 3),
            "machine_busy": round(1000 * machine["machine_busy_cpu_s"] / n, 3),
            "other": round(1000 * (machine["machine_busy_cpu_s"] - gunicorn_cpu
                                   - machine["postgres_cpu_s"] - wrk_cpu) / n, 3)},
        "machine_busy_pct": round(machine["machine_busy_pct"], 1),
        "quiet_before": quiet, "per_host": host_rows,
        "warmup": {"seconds": warmup, "ok": wrk_ok - ok},
        "gunicorn_commands": [" ".join(g.command) for g in guns],
        "db_check": db_check,
    }
    cpu = out["cpu_ms_per_request"]
    log(f"  {hosts} host(s) x {per_workers} workers, {connections} connections: "
        f"{out['ok_per_s']:,.0f} ok/s (" + " + ".join(f"{h['ok_per_s']:,.0f}" for h in host_rows)
        + f"), p50 {out['latency_ms']['p50']} p99 {out['latency_ms']['p99']} ms, errors "
          f"{out['errors']}; CPU/req gunicorn {cpu['gunicorn']} pg {cpu['postgres_all']} wrk "
          f"{cpu['wrk']} other {cpu['other']} ms; machine {out['machine_busy_pct']:.0f}% busy; "
          f"database check {'ok' if db_check['ok'] else 'FAILED'}")
    if not db_check["ok"]:
        log(f"  DATABASE CHECK FAILED: {db_check['problems']}")
    return out
