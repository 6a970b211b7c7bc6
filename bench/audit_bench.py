"""Audit-log benchmark on PostgreSQL: audited transitions/s, the serialized-append ceiling,
and verify_audit over a million events, in one run.

    make services                       # PostgreSQL 15 and Redis on loopback
    .venv/bin/python bench/audit_bench.py [--quick] [--profile]

See bench/README.md for what each number means. The run drops and recreates its own
scratch databases (``bench_audit`` and ``bench_audit_verify`` by default) on the server of
``--server-url``; it never touches the app's own database. Results go to stdout and to
``bench/results/audit-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PY = sys.executable
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Targets from the brief.
TARGET_WRITERS_8 = 1000.0  # audited transitions/s with 8 writers
TARGET_CEILING_RATIO = 0.60  # of the pgbench serialized-append ceiling
TARGET_VERIFY_RATE = 100_000.0  # events/s
TARGET_VERIFY_RSS_MB = 150.0

HR_USERNAME = "bench_hr_reviewer"
WARMUP_PER_WRITER = 25
CLK_TCK = os.sysconf("SC_CLK_TCK")

SIZES = {
    # ops per writer configuration and repetition; repetitions (interleaved, the median is
    # reported); pgbench seconds (run before and after the writers); events for verify.
    "full": {"ops": 4000, "reps": 3, "pgbench_seconds": 15, "events": 1_000_000},
    "quick": {"ops": 1000, "reps": 1, "pgbench_seconds": 5, "events": 200_000},
}


# --- Small helpers ---------------------------------------------------------------------------

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def db_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def postgres_settings(server_url: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """PostgreSQL's version and these settings, recorded with each run; exits saying what to
    run when the server does not answer."""
    import psycopg

    try:
        with psycopg.connect(server_url, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            found = dict(conn.execute("SELECT name, setting FROM pg_settings "
                                      "WHERE name = ANY(%s)", [list(names)]).fetchall())
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable ({exc}); run `make services`") from None
    return version, found


def redis_client(redis_url: str) -> Any:
    """A Redis client that has answered; exits saying what to run when Redis does not."""
    import redis

    broker = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    try:
        broker.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis at {redis_url} is not reachable ({exc}); "
                         "run `make services`") from None
    return broker


def pg_env(url: str) -> dict[str, str]:
    """libpq environment for psql/pgbench from a postgres:// URL."""
    parts = urlsplit(url)
    env = dict(os.environ)
    env.update({
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": parts.username or "",
        "PGPASSWORD": parts.password or "",
        "PGDATABASE": parts.path.lstrip("/"),
    })
    return env


def django_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    return env


def recreate_database(server_url: str, name: str) -> None:
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing odd database name {name!r}")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def migrate(url: str) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=django_env(url), check=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip("\n")

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()
             if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "app_code_dirty": bool(dirty), "uncommitted_files": dirty}


class CpuMeter:
    """Machine CPU (from /proc/stat) and PostgreSQL's own CPU over a window.

    PostgreSQL's CPU is the sum over every ``postgres`` process of its own time plus its
    reaped children's (a backend that exits inside the window lands in the postmaster's
    cutime/cstime), so backends that come and go are still counted.
    """

    @staticmethod
    def _machine() -> tuple[float, float]:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) / CLK_TCK, idle / CLK_TCK

    @staticmethod
    def _postgres() -> float:
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    raw = handle.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            if comm != "postgres":
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / CLK_TCK

    def start(self) -> None:
        self.wall = time.monotonic()
        self.machine = self._machine()
        self.pg = self._postgres()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        total, idle = self._machine()
        busy = (total - self.machine[0]) - (idle - self.machine[1])
        return {"window_s": wall, "machine_busy_cpu_s": busy,
                "machine_busy_pct": 100 * busy / max(total - self.machine[0], 1e-9),
                "postgres_cpu_s": self._postgres() - self.pg}


def background_load(seconds: float = 2.0) -> float:
    """How busy the machine is (percent of all CPUs) with nothing of ours running."""
    meter = CpuMeter()
    meter.start()
    time.sleep(seconds)
    return max(0.0, meter.stop()["machine_busy_pct"])


# --- 1. Audited transitions through the real services ----------------------------------------

def seed_complaints(count: int) -> list[int]:
    """An hr_reviewer and ``count`` complaints in state submitted, written in bulk."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from complaints import access
    from complaints.models import Category, Complaint, Severity

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=HR_USERNAME,
                                               defaults={"email": "bench@example.com"})
    user.groups.add(Group.objects.get_or_create(name=access.HR_REVIEWER)[0])
    now = timezone.now()
    rows = [
        Complaint(category=Category.BULLYING, severity=Severity.STANDARD,
                  summary=f"Bench complaint {i}", narrative="Shouted at in every meeting.",
                  submitted_at=now)
        for i in range(count)
    ]
    Complaint.objects.bulk_create(rows, batch_size=2000)
    return list(Complaint.objects.filter(state="submitted").order_by("pk")
                .values_list("pk", flat=True))


def _writer_body(pks: list[int], warm: list[int], barrier: Any, done: Any,
                 report: Callable[[dict[str, Any]], None],
                 cpu_clock: Callable[[], float]) -> None:
    """One writer: warm up, wait for the others, then acknowledge each complaint once.

    The result is reported, then the writer waits at ``done`` until the parent has read
    the CPU counters, so its database connection (and its backend's CPU) is still there.
    """
    from django.contrib.auth import get_user_model
    from django.db import connections

    from complaints.models import Complaint
    from complaints.services import complaint_acknowledge

    try:
        # The actor and the complaints are loaded before the clock starts, as a view would
        # have them; the service re-reads and locks the row itself.
        actor = get_user_model().objects.get(username=HR_USERNAME)
        by_pk = Complaint.objects.in_bulk(pks + warm)
        todo = [by_pk[pk] for pk in pks]
        for pk in warm:
            complaint_acknowledge(complaint=by_pk[pk], actor=actor)
        latencies: list[float] = []
        barrier.wait(timeout=120)
        cpu0, started = cpu_clock(), time.monotonic()
        for complaint in todo:
            t0 = time.perf_counter()
            complaint_acknowledge(complaint=complaint, actor=actor)
            latencies.append(time.perf_counter() - t0)
        finished, cpu1 = time.monotonic(), cpu_clock()
        report({"started": started, "finished": finished, "ops": len(todo),
                "cpu_s": cpu1 - cpu0, "latencies": latencies})
        done.wait(timeout=900)
    finally:
        connections.close_all()


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_writer(pks: list[int], warm: list[int], barrier: Any, done: Any,
                    out: Any) -> None:
    try:
        _writer_body(pks, warm, barrier, done, out.put, _process_cpu)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put({"error": repr(exc)})
        for each in (barrier, done):
            with contextlib.suppress(Exception):
                each.abort()


def run_writers(mode: str, writers: int, pks: list[int], warm: list[int]) -> dict[str, Any]:
    """Run ``writers`` concurrent writers (processes or threads) over ``pks``.

    Each writer has its own connection and its own share of the complaints. The clock runs
    from the first writer leaving the start barrier to the last one finishing.
    """
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")  # no checkpoint half-way through a short measurement
    connections.close_all()  # nothing shared across fork
    shares = [pks[i::writers] for i in range(writers)]
    warms = [warm[i::writers] for i in range(writers)]
    results: list[dict[str, Any]] = []
    meter = CpuMeter()
    if mode == "processes":
        ctx = mp.get_context("fork")
        # The parent joins both barriers: it starts the CPU meter when the writers start,
        # and lets them disconnect only after it has stopped the meter.
        barrier, done = ctx.Barrier(writers + 1), ctx.Barrier(writers + 1)
        out = ctx.Queue()
        procs = [ctx.Process(target=_process_writer,
                             args=(shares[i], warms[i], barrier, done, out))
                 for i in range(writers)]
        for proc in procs:
            proc.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=300)
        meter.start()
        results = [out.get(timeout=900) for _ in procs]
        cpu = meter.stop()
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait(timeout=60)
        for proc in procs:
            proc.join(timeout=60)
    else:
        tbarrier, tdone = threading.Barrier(writers + 1), threading.Barrier(writers + 1)
        lock = threading.Lock()
        reported = threading.Semaphore(0)

        def report(result: dict[str, Any]) -> None:
            with lock:
                results.append(result)
            reported.release()

        def body(i: int) -> None:
            try:
                _writer_body(shares[i], warms[i], tbarrier, tdone, report, time.thread_time)
            except BaseException as exc:  # noqa: BLE001 - reported below
                tbarrier.abort()
                tdone.abort()
                report({"error": repr(exc)})

        threads = [threading.Thread(target=body, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            tbarrier.wait(timeout=300)
        meter.start()
        for _ in threads:
            reported.acquire(timeout=900)
        cpu = meter.stop()
        with contextlib.suppress(threading.BrokenBarrierError):
            tdone.wait(timeout=60)
        for thread in threads:
            thread.join(timeout=60)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{mode} x{writers}: {errors[0]}")
    ops = sum(r["ops"] for r in results)
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    client_cpu = sum(r["cpu_s"] for r in results)
    return {
        "mode": mode, "writers": writers, "ops": ops, "seconds": round(elapsed, 3),
        "ops_per_s": round(ops / elapsed, 1),
        "latency_ms": {"p50": round(percentile(latencies, 0.50) * 1000, 2),
                       "p95": round(percentile(latencies, 0.95) * 1000, 2),
                       "p99": round(percentile(latencies, 0.99) * 1000, 2),
                       "mean": round(statistics.fmean(latencies) * 1000, 2)},
        "cpu": {
            "python_ms_per_op": round(1000 * client_cpu / ops, 3),
            "postgres_ms_per_op": round(1000 * cpu["postgres_cpu_s"] / ops, 3),
            "machine_busy_ms_per_op": round(1000 * cpu["machine_busy_cpu_s"] / ops, 3),
            # Busy CPU that is neither the writers nor PostgreSQL: kernel work on their
            # behalf, and anything else running on the machine (a noisy neighbour).
            "other_ms_per_op": round(
                1000 * (cpu["machine_busy_cpu_s"] - client_cpu - cpu["postgres_cpu_s"]) / ops,
                3),
            "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
        },
    }


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median repetition of one configuration (by ops/s), with the spread."""
    rates = [r["ops_per_s"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["ops_per_s"])[len(runs) // 2]
    return {**median_run, "ops_per_s_all": rates, "ops_per_s_median": statistics.median(rates),
            "repetitions": len(runs)}


def profile_single_writer(pks: list[int]) -> str:
    """cProfile of one writer's transitions, top functions by own time."""
    import cProfile
    import io
    import pstats

    from django.contrib.auth import get_user_model

    from complaints.models import Complaint
    from complaints.services import complaint_acknowledge

    actor = get_user_model().objects.get(username=HR_USERNAME)
    by_pk = Complaint.objects.in_bulk(pks)
    profiler = cProfile.Profile()
    profiler.enable()
    for pk in pks:
        complaint_acknowledge(complaint=by_pk[pk], actor=actor)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(30)
    return buffer.getvalue()


# --- 2. The pgbench ceiling --------------------------------------------------------------------

PGBENCH_TABLES = """
DROP TABLE IF EXISTS bench_chain_log;
DROP TABLE IF EXISTS bench_chain_head;
CREATE TABLE bench_chain_head (id smallint PRIMARY KEY, seq bigint NOT NULL,
                               hash varchar(64) NOT NULL);
CREATE TABLE bench_chain_log (seq bigint PRIMARY KEY, occurred_at timestamptz NOT NULL,
                              action varchar(64) NOT NULL, payload text NOT NULL,
                              prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL);
INSERT INTO bench_chain_head VALUES (1, 0, repeat('0', 64));
CHECKPOINT;
"""


def run_pgbench(url: str, seconds: int, clients: int = 8, threads: int = 2) -> dict[str, Any]:
    env = pg_env(url)
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "SET client_min_messages = warning;" + PGBENCH_TABLES],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    command = ["pgbench", "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds),
               "-f", str(BENCH / "pgbench_chain_head.sql")]
    meter = CpuMeter()
    meter.start()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    cpu = meter.stop()
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if not match or not processed:
        raise RuntimeError(f"cannot read pgbench output:\n{done.stdout}\n{done.stderr}")
    txns = int(processed.group(1))
    check = subprocess.run(
        ["psql", "-Atc", "SELECT h.seq, (SELECT count(*) FROM bench_chain_log) "
                         "FROM bench_chain_head h"],
        env=env, check=True, capture_output=True, text=True).stdout.strip().split("|")
    if int(check[0]) != txns or int(check[1]) != txns:
        raise RuntimeError(f"pgbench chain has a gap: head {check[0]}, rows {check[1]}, "
                           f"transactions {txns}")
    return {
        "command": " ".join(["pgbench", *command[1:-1], "bench/pgbench_chain_head.sql"]),
        "clients": clients, "seconds": seconds, "tps": round(float(match.group(1)), 1),
        "transactions": txns,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else None,
        "cpu": {"postgres_ms_per_txn": round(1000 * cpu["postgres_cpu_s"] / txns, 3),
                "machine_busy_ms_per_txn": round(1000 * cpu["machine_busy_cpu_s"] / txns, 3),
                "machine_busy_pct": round(cpu["machine_busy_pct"], 1)},
    }


# --- 3. verify_audit over a million events ----------------------------------------------------

# (actor_type, action, from_state, to_state, payload): a mix like the real log's.
_EVENT_KINDS = [
    ("user", "complaint.acknowledged", "submitted", "acknowledged", ""),
    ("reporter", "complaint.submitted", "", "submitted",
     '{"anonymous":true,"category":"bullying","severity":"standard","subjects":1}'),
    ("user", "complaint.information_requested", "acknowledged", "awaiting_reporter",
     '{"reason_note":NOTE,"reason_sha256":"'
     '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}'),
    ("user", "complaint.investigation_started", "acknowledged", "investigating",
     '{"investigator":42}'),
    ("user", "complaint.findings_recorded", "investigating", "findings_recorded",
     '{"outcome":"substantiated"}'),
    ("system", "audit.chain_verified", "", "", '{"events":123456,"intact":true}'),
]
_REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _reference(i: int) -> str:
    chars = []
    for _ in range(8):
        i, r = divmod(i, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[r])
    return f"MC-{''.join(chars[:4])}-{''.join(chars[4:])}"


def generate_events(url: str, count: int) -> dict[str, Any]:
    """COPY ``count`` valid hash-chained events into audit_auditevent and move the head.

    Hashes are computed exactly as audit.services.record computes them (audit.chain's
    event_hash over format_time of the instant), so verify() must find the chain intact.
    The append-only triggers refuse UPDATE/DELETE/TRUNCATE only; COPY is an insert.
    """
    import psycopg

    from audit.chain import GENESIS_HASH, event_hash, format_time

    base = datetime(2025, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    started = time.perf_counter()
    columns = ("seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
               "from_state, to_state, payload, prev_hash, hash")
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor, cursor.copy(
                f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            lines: list[str] = []
            for seq in range(1, count + 1):
                actor_type, action, from_state, to_state, payload = (
                    _EVENT_KINDS[seq % len(_EVENT_KINDS)])
                if actor_type == "user":
                    actor_id = str(seq % 97 + 1)
                    target_type, target_id = "complaint", _reference(seq // 5)
                elif actor_type == "reporter":
                    actor_id = _reference(seq // 5)
                    target_type, target_id = "complaint", actor_id
                else:
                    actor_id, target_type, target_id = "", "audit_chain", "head"
                payload = payload.replace("NOTE", str(seq)) if payload else "{}"
                at = format_time(base + timedelta(microseconds=seq * 1_733))
                digest = event_hash(prev, seq, at, actor_type, actor_id, action, target_type,
                                    target_id, from_state, to_state, payload)
                # COPY text format: none of these values holds a tab, newline or backslash.
                lines.append(f"{seq}\t{at}\t{actor_type}\t{actor_id}\t{action}\t{target_type}\t"
                             f"{target_id}\t{from_state}\t{to_state}\t{payload}\t{prev}\t"
                             f"{digest}\n")
                prev = digest
                if len(lines) >= 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            if lines:
                copy.write("".join(lines))
        conn.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1",
                     (count, prev))
        conn.commit()
    loaded = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        # Hint bits and statistics now, so the verify runs measure reading, not vacuuming.
        conn.execute("VACUUM (ANALYZE) audit_auditevent")
        conn.execute("CHECKPOINT")
        size = conn.execute(
            "SELECT pg_total_relation_size('audit_auditevent')").fetchone()[0]
    return {"events": count, "head_hash": prev, "load_seconds": round(loaded, 1),
            "seconds_with_vacuum": round(time.perf_counter() - started, 1),
            "table_mb_with_indexes": round(size / 2**20, 1)}


def _run_measured(command: list[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Run a child; return its exit code, output, wall seconds and its own peak RSS in MB.

    os.wait4 gives this child's rusage alone (RUSAGE_CHILDREN would be the largest of all
    children so far, the writers included).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it: Popen.wait is not used
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        errors = err.read()
        # The child's own peak (bench/peak_rss.py); ru_maxrss would count this parent too.
        peak = re.findall(r"^PEAK_RSS_KB (\d+)$", errors, re.M)
        rss_kib = int(peak[-1]) if peak else usage.ru_maxrss
        return proc.returncode, out.read(), errors, wall, rss_kib / 1024


def run_verify(url: str, expected: int, expected_head: str, repeat: int,
               profile: bool) -> dict[str, Any]:
    env = django_env(url)
    # (a) The command an operator runs: wall time and peak RSS of the whole process.
    code, out, err, wall, rss = _run_measured(
        [PY, str(BENCH / "peak_rss.py"), "manage.py", "verify_audit", "--json"], env)
    result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    # The generated log files complaints that were never written, so the completeness
    # check (run and timed with the chain's) reports them: exit 1 with complete false is
    # what an intact generated chain gives. Anything else is a failure.
    if code != 0 and not (code == 1 and result.get("intact") and not result.get("complete")):
        raise RuntimeError(f"verify_audit failed ({code}): {out} {err}")
    if not (result["intact"] and result["events"] == expected
            and result["head_hash"] == expected_head):
        raise RuntimeError(f"verify_audit did not find the generated chain intact: {result}")
    command = {"wall_seconds": round(wall, 2), "peak_rss_mb": round(rss, 1),
               "events_per_s_wall": round(expected / wall)}
    # (b) audit.services.verify() alone, timed inside a fresh process (no Django start-up).
    code, out, err, wall, rss = _run_measured(
        [PY, str(BENCH / "peak_rss.py"), str(BENCH / "verify_child.py"), "--repeat", str(repeat),
         *(["--profile"] if profile else [])], env)
    if code != 0:
        raise RuntimeError(f"verify_child failed ({code}): {out} {err}")
    child = json.loads(out.strip().splitlines()[-1])
    if not (child["intact"] and child["events"] == expected):
        raise RuntimeError(f"verify() did not find the generated chain intact: {child}")
    seconds = statistics.median(child["seconds"])
    inner = {"verify_seconds": seconds, "verify_seconds_all": child["seconds"],
             "events_per_s": round(expected / seconds),
             "events_per_s_all": [round(expected / s) for s in child["seconds"]],
             "python_cpu_seconds_all": child["cpu_seconds"],
             "peak_rss_mb": round(rss, 1), "rss_before_verify_mb": child["rss_before_mb"]}
    if profile:
        inner["profile"] = child.get("profile", "")
    return {"events": expected, "manage_py_verify_audit": command, "services_verify": inner}


# --- Report ------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(report: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for run in report["transitions"]["configs"]:
        lat, cpu = run["latency_ms"], run["cpu"]
        spread = "/".join(f"{x:.0f}" for x in run["ops_per_s_all"])
        rows.append((f"transitions/s, {run['writers']} writer(s) as {run['mode']}",
                     f"{run['ops_per_s_median']:,.0f}",
                     f"runs {spread}; p50 {lat['p50']} p99 {lat['p99']} ms; CPU/op: python "
                     f"{cpu['python_ms_per_op']}, pg {cpu['postgres_ms_per_op']}, other "
                     f"{cpu['other_ms_per_op']} ms; machine {cpu['machine_busy_pct']:.0f}% busy",
                     ""))
    pgb = report["pgbench"]
    summary = report["summary"]
    best = summary["writers_8_ops_per_s"]
    ratio = summary["ratio_8_writers_to_ceiling"]
    rows.append(("pgbench ceiling, 8 clients, tps", f"{summary['pgbench_ceiling_tps']:,.0f}",
                 "runs " + "/".join(f"{r['tps']:.0f}" for r in pgb["runs"])
                 + f"; pg CPU/txn {pgb['runs'][0]['cpu']['postgres_ms_per_txn']} ms", ""))
    rows.append(("best 8-writer rate", f"{best:,.0f}", summary["writers_8_method"],
                 f">= {TARGET_WRITERS_8:,.0f}: {verdict(best >= TARGET_WRITERS_8)}"))
    rows.append(("8-writer rate / ceiling", f"{ratio:.0%}", "",
                 f">= {TARGET_CEILING_RATIO:.0%}: {verdict(ratio >= TARGET_CEILING_RATIO)}"))
    ver = report.get("verify")
    if ver:
        cmd, inner = ver["manage_py_verify_audit"], ver["services_verify"]
        rows.append((f"verify() events/s, {ver['events']:,} events",
                     f"{inner['events_per_s']:,}",
                     "runs " + "/".join(f"{x:,}" for x in inner["events_per_s_all"])
                     + f" ({inner['verify_seconds']:.2f} s median)",
                     f">= {TARGET_VERIFY_RATE:,.0f}: "
                     f"{verdict(inner['events_per_s'] >= TARGET_VERIFY_RATE)}"))
        rows.append(("manage.py verify_audit, events/s of wall", f"{cmd['events_per_s_wall']:,}",
                     f"{cmd['wall_seconds']} s wall incl. Django start-up", ""))
        rows.append(("manage.py verify_audit peak RSS, MB", f"{cmd['peak_rss_mb']}",
                     "ru_maxrss of the child (os.wait4)",
                     f"< {TARGET_VERIFY_RSS_MB:.0f}: "
                     f"{verdict(cmd['peak_rss_mb'] < TARGET_VERIFY_RSS_MB)}"))
    heads = ("measurement", "value", "detail", "target")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
    print()
    bg = report["background_busy_pct"]
    print(f"app code: {report['app_revision']['commit'][:10]}"
          + (" + uncommitted changes" if report["app_revision"]["app_code_dirty"] else "")
          + f"; machine busy before/after the run with nothing of ours: "
            f"{bg['before']:.0f}%/{bg['after']:.0f}%")
    print(line.rstrip())
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.rjust(w) if i == 1 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes: 1,000 ops x 1 repetition, pgbench 5 s, "
                             "200,000 events")
    parser.add_argument("--ops", type=int, help="transitions per configuration and repetition")
    parser.add_argument("--reps", type=int, help="repetitions of each writer configuration")
    parser.add_argument("--events", type=int, help="events for the verify measurement")
    parser.add_argument("--pgbench-seconds", type=int)
    parser.add_argument("--server-url",
                        default=os.environ.get(
                            "BENCH_SERVER_URL",
                            "postgres://complaints:complaints@127.0.0.1:5432/complaints"),
                        help="any database on the server, used for CREATE/DROP DATABASE")
    parser.add_argument("--db", default="bench_audit", help="scratch database (transitions, "
                        "pgbench tables); '<db>_verify' holds the generated events")
    parser.add_argument("--skip-threads", action="store_true",
                        help="only measure writers as processes")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one writer and verify() (adds ~30 s)")
    args = parser.parse_args()

    size = dict(SIZES["quick" if args.quick else "full"])
    for key in ("ops", "reps", "events", "pgbench_seconds"):
        if getattr(args, key):
            size[key] = getattr(args, key)
    ops = size["ops"] - size["ops"] % 8

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # Production runs with DEBUG off; DEBUG on would also time Django's query log.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    tx_url = db_url(args.server_url, args.db)
    verify_url = db_url(args.server_url, f"{args.db}_verify")
    os.environ["DATABASE_URL"] = tx_url
    run_started = time.perf_counter()

    server_version, pg_settings = postgres_settings(args.server_url, (
        "synchronous_commit", "fsync", "shared_buffers", "wal_sync_method", "max_connections",
        "full_page_writes"))

    background = background_load()
    if background > 10:
        log(f"WARNING: the machine is {background:.0f}% busy before the benchmark starts; "
            "numbers will be low and noisy")
    revision = git_revision()
    log(f"app code at {revision['commit'][:10]} ({revision['subject'][:70]})"
        + (f" + uncommitted changes to {', '.join(revision['uncommitted_files'])}"
           if revision["app_code_dirty"] else ""))
    log(f"recreating scratch databases {args.db} and {args.db}_verify, migrating")
    for name in (args.db, f"{args.db}_verify"):
        recreate_database(args.server_url, name)
    for url in (tx_url, verify_url):
        migrate(url)

    import django

    django.setup()
    from django.db import connection

    configs: list[tuple[str, int]] = [("processes", 1), ("processes", 8)]
    if not args.skip_threads:
        configs.append(("threads", 8))
    per_rep = sum(ops + w * WARMUP_PER_WRITER for _, w in configs)
    profile_ops = 1000 if args.profile else 0
    total = per_rep * size["reps"] + profile_ops
    log(f"seeding {total:,} submitted complaints and an hr_reviewer")
    pks = seed_complaints(total)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")

    pgbench_runs = []
    log(f"pgbench ceiling (before the writers): 8 clients, {size['pgbench_seconds']} s")
    pgbench_runs.append(run_pgbench(tx_url, size["pgbench_seconds"]))
    log(f"  -> {pgbench_runs[-1]['tps']:,.0f} tps")

    by_config: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in configs}
    taken = 0
    for rep in range(size["reps"]):
        for mode, writers in configs:  # interleaved, so drift hits every configuration
            measured = pks[taken:taken + ops]
            taken += ops
            warm = pks[taken:taken + writers * WARMUP_PER_WRITER]
            taken += writers * WARMUP_PER_WRITER
            run = run_writers(mode, writers, measured, warm)
            log(f"transitions, rep {rep + 1}/{size['reps']}: {writers} writer(s) as {mode}: "
                f"{run['ops_per_s']:,.0f}/s (python {run['cpu']['python_ms_per_op']} + pg "
                f"{run['cpu']['postgres_ms_per_op']} ms CPU/op, machine "
                f"{run['cpu']['machine_busy_pct']:.0f}% busy)")
            by_config[(mode, writers)].append(run)
    profile_text = ""
    if args.profile:
        log("profiling one writer (cProfile, 1,000 transitions; slower under the profiler)")
        profile_text = profile_single_writer(pks[taken:taken + profile_ops])
        taken += profile_ops

    # The real services must have left one intact chain holding every transition.
    from audit import services as audit_services
    from complaints.models import Complaint

    check = audit_services.verify()
    acknowledged = Complaint.objects.filter(state="acknowledged").count()
    if not check.intact or check.events != taken or acknowledged != taken:
        raise SystemExit(f"chain check failed: {check} acknowledged={acknowledged} "
                         f"expected={taken}")
    log(f"chain after the writers: intact, {check.events:,} events, no gap")
    connection.close()

    log(f"pgbench ceiling (after the writers): 8 clients, {size['pgbench_seconds']} s")
    pgbench_runs.append(run_pgbench(tx_url, size["pgbench_seconds"]))
    log(f"  -> {pgbench_runs[-1]['tps']:,.0f} tps")
    ceiling = round(statistics.fmean(r["tps"] for r in pgbench_runs), 1)

    verify = None
    if not args.skip_verify:
        log(f"generating {size['events']:,} hash-chained events (COPY)")
        generated = generate_events(verify_url, size["events"])
        log(f"  -> loaded in {generated['load_seconds']} s "
            f"({generated['table_mb_with_indexes']} MB with indexes)")
        log("timing manage.py verify_audit and audit.services.verify()")
        verify = run_verify(verify_url, size["events"], generated["head_hash"],
                            repeat=2 if not args.quick else 1, profile=args.profile)
        verify["generation"] = generated
        log(f"  -> verify() {verify['services_verify']['events_per_s']:,} events/s, "
            f"verify_audit peak RSS {verify['manage_py_verify_audit']['peak_rss_mb']} MB")

    summaries = [summarise_runs(runs) for runs in by_config.values()]
    best_8 = max((s for s in summaries if s["writers"] == 8),
                 key=lambda s: s["ops_per_s_median"])
    ratio = best_8["ops_per_s_median"] / ceiling
    summary: dict[str, Any] = {
        "writers_1_ops_per_s": next(s["ops_per_s_median"] for s in summaries
                                    if s["writers"] == 1),
        "writers_8_ops_per_s": best_8["ops_per_s_median"],
        "writers_8_method": best_8["mode"],
        "pgbench_ceiling_tps": ceiling,
        "ratio_8_writers_to_ceiling": round(ratio, 3),
        "targets": {
            "writers_8_ge_1000": best_8["ops_per_s_median"] >= TARGET_WRITERS_8,
            "ratio_ge_60pct": ratio >= TARGET_CEILING_RATIO,
        },
    }
    if verify:
        summary["verify_events_per_s"] = verify["services_verify"]["events_per_s"]
        summary["verify_audit_peak_rss_mb"] = verify["manage_py_verify_audit"]["peak_rss_mb"]
        summary["targets"]["verify_ge_100k_per_s"] = (
            summary["verify_events_per_s"] >= TARGET_VERIFY_RATE)
        summary["targets"]["verify_rss_lt_150mb"] = (
            summary["verify_audit_peak_rss_mb"] < TARGET_VERIFY_RSS_MB)

    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": "quick" if args.quick else "full",
        "sizes": size,
        "app_revision": revision,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "postgresql": server_version,
                    "pg_settings": pg_settings},
        "django": {"settings": os.environ["DJANGO_SETTINGS_MODULE"],
                   "DJANGO_DEBUG": os.environ["DJANGO_DEBUG"]},
        "transitions": {"ops_per_config_and_rep": ops, "warmup_per_writer": WARMUP_PER_WRITER,
                        "service": "complaints.services.complaint_acknowledge",
                        "configs": summaries},
        "pgbench": {"runs": pgbench_runs, "ceiling_tps_mean": ceiling},
        "verify": verify,
        "summary": summary,
        "background_busy_pct": {"before": round(background, 1),
                                "after": round(background_load(), 1)},
        "run_seconds": round(time.perf_counter() - run_started, 1),
    }
    if profile_text:
        report["profile_single_writer"] = profile_text
        print(profile_text)
    if verify and verify["services_verify"].get("profile"):
        print(verify["services_verify"]["profile"])
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"audit-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}  (run took {report['run_seconds']} s)")


if __name__ == "__main__":
    main()
