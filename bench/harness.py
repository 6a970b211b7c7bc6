"""What every benchmark shares: scratch databases, Django set-up, timing, peak memory, the
machine-speed probe and the JSON result.

A benchmark script puts bench/ on the import path and imports this module first:

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness

Scratch databases are always named ``bench_*`` and live on the server of ``SERVER_URL``
(``BENCH_SERVER_URL``); the app's own database is used only to issue CREATE/DROP DATABASE.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

SERVER_URL = os.environ.get("BENCH_SERVER_URL",
                            "postgres://complaints:complaints@127.0.0.1:5432/complaints")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sweep() -> Any:
    """The app's sweep function. The one place the benchmarks name where it lives."""
    from complaints.services.sweep import sweep as app_sweep

    return app_sweep


# --- Databases and Django ---------------------------------------------------------------------

def db_url(name: str, server_url: str = SERVER_URL) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def check_services(redis_url: str | None = None) -> str:
    """PostgreSQL's version; exits saying what to run when a service does not answer."""
    import psycopg

    try:
        with psycopg.connect(SERVER_URL, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable ({exc}); run `make services`") from None
    if redis_url:
        import redis

        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            raise SystemExit(f"Redis is not reachable ({exc}); run `make services`") from None
    return str(version)


def recreate_database(name: str) -> str:
    """Drop and create the scratch database ``name`` (it must start with ``bench_``)."""
    import psycopg

    if not re.fullmatch(r"bench_[a-z0-9_]+", name):
        raise SystemExit(f"refusing database name {name!r}: scratch names start with bench_")
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return db_url(name)


def drop_database(name: str) -> None:
    import psycopg

    if re.fullmatch(r"bench_[a-z0-9_]+", name):
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def app_env(url: str, **extra: str) -> dict[str, str]:
    """The environment the app runs in for a benchmark: production's DEBUG off (DEBUG on also
    logs every query), the development settings module and keys, this database."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    env.setdefault("DJANGO_DEBUG", "false")
    env.update({"DATABASE_URL": url, **extra})
    return env


def migrate(url: str) -> None:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=app_env(url), check=True)


def fresh_app_database(name: str) -> str:
    """A new, migrated scratch database; its URL."""
    url = recreate_database(name)
    migrate(url)
    return url


def setup_django(url: str, **extra: str) -> None:
    """Configure and start Django in this process against ``url``."""
    os.environ.update({k: v for k, v in app_env(url, **extra).items()
                       if k in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "DATABASE_URL")
                       or k in extra})
    import django

    django.setup()


def sql(url: str, statement: str, params: Any = None, *, autocommit: bool = False) -> Any:
    """Run one statement on its own connection: its rows, or its row count."""
    import psycopg

    with psycopg.connect(url, autocommit=autocommit) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def settle(url: str) -> None:
    """Hint bits, statistics and a checkpoint now, so a timed run measures its own work."""
    sql(url, "VACUUM (ANALYZE)", autocommit=True)
    sql(url, "CHECKPOINT", autocommit=True)


# --- Timing, CPU and memory --------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def median_of(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The median run by ``key``, with every run's value beside it."""
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[len(ordered) // 2], f"{key}_all": [r[key] for r in runs]}


def _postgres_cpu(dbname: str | None = None) -> float:
    """CPU seconds of every postgres process (own + reaped children), or of the backends
    connected to ``dbname`` (their process title names it)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if dbname:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    title = handle.read().decode(errors="replace")
                if not title.startswith("postgres:") or f" {dbname} " not in title:
                    continue
            with open(f"/proc/{pid}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        if raw[raw.index("(") + 1:raw.rindex(")")] != "postgres":
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15 if dbname is None else 13])
    return total / CLK_TCK


def _machine_cpu() -> tuple[float, float]:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    return sum(fields[:8]) / CLK_TCK, (fields[3] + fields[4]) / CLK_TCK


class CpuMeter:
    """Machine CPU and PostgreSQL's CPU over a window (``with CpuMeter() as m: ...``;
    ``m.result`` afterwards)."""

    def __enter__(self) -> CpuMeter:
        self.wall, self.machine, self.pg = time.monotonic(), _machine_cpu(), _postgres_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        total, idle = _machine_cpu()
        busy = (total - self.machine[0]) - (idle - self.machine[1])
        self.result = {"window_s": time.monotonic() - self.wall, "machine_busy_cpu_s": busy,
                       "machine_busy_pct": 100 * busy / max(total - self.machine[0], 1e-9),
                       "postgres_cpu_s": _postgres_cpu() - self.pg}


def background_load(seconds: float = 2.0) -> float:
    """How busy the machine is (percent of all CPUs) with nothing of ours running."""
    with CpuMeter() as meter:
        time.sleep(seconds)
    return max(0.0, meter.result["machine_busy_pct"])


def wait_quiet(limit_seconds: float = 60, threshold_pct: float = 15) -> float:
    """Wait (up to ``limit_seconds``) for the shared machine to be quiet; its busy %."""
    waited = 0
    while (busy := background_load(1.0)) >= threshold_pct and waited < limit_seconds:
        waited += 1
    if waited:
        log(f"  (waited {waited} s for the machine to be quiet; now {busy:.0f}% busy)")
    return round(busy, 1)


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak RSS of a process since its exec (VmHWM). Not ru_maxrss: Linux carries that
    across execve, so a child's would start at its (large) parent's."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def run_measured(command: list[str], env: dict[str, str], cwd: Path = ROOT,
                 dbname: str | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run a child: exit code, output, wall and CPU seconds (os.wait4: this child alone),
    peak RSS (VmHWM polled every 10 ms once it runs its own program) and, with ``dbname``,
    the CPU of the PostgreSQL backends connected to that database while it ran."""
    argv = [a.encode() for a in command]
    pg_before = _postgres_cpu(dbname) if dbname else 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        peak, pg_seen = 0.0, pg_before
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{proc.pid}/cmdline", "rb") as handle:
                    if handle.read().rstrip(b"\0").split(b"\0") == argv:
                        peak = max(peak, vm_hwm_mb(proc.pid))
            except (OSError, RuntimeError):
                pass
            if dbname:  # a backend that exits takes its CPU with it: keep the last reading
                pg_seen = max(pg_seen, _postgres_cpu(dbname))
            if time.perf_counter() - started > timeout:
                proc.kill()
            time.sleep(0.01)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {"code": os.waitstatus_to_exitcode(status), "stdout": out.read(),
                "stderr": err.read(), "wall_seconds": round(wall, 3), "peak_rss_mb": peak,
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                "postgres_cpu_seconds": round(pg_seen - pg_before, 3)}


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError(f"no JSON line in output:\n{text[-2000:]}")


# --- Machine speed ------------------------------------------------------------------------------

def _python_work() -> int:
    labels = {0: "none", 1: "senior HR", 2: "compliance", 3: "committee"}
    total = 0
    for n in range(20_000):
        context = {"name": f"MC-{n:06d}", "level": n % 4, "open": n % 3 != 0}
        if context["open"]:
            total += len(f"<td>{context['name']}</td><td>{labels.get(n % 4, '-')}</td>")
        total += sum(k for k in labels if k <= n % 4)
    return total


def machine_speed(repeats: int = 7) -> dict[str, float]:
    """The fastest of ``repeats`` timings of two fixed pieces of pure-Python work, in ms
    (lower is faster): request-like work in the CPU's caches, and a walk of dependent steps
    through lists far larger than the caches. The shared VM has slow spells; runs compare
    only when these agree."""
    def best(work: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            work()
            times.append(1000 * (time.perf_counter() - started))
        return round(min(times), 2)

    slots = 1_000_000
    order = list(range(slots))
    random.Random(8).shuffle(order)
    following = [0] * slots
    for here, there in zip(order, order[1:] + order[:1], strict=True):
        following[here] = there
    boxes = [[n] for n in range(slots)]

    def walk() -> int:
        at = total = 0
        for _ in range(50_000):
            at = following[at]
            total += boxes[at][0]
        return total

    return {"python_ms": best(_python_work), "memory_ms": best(walk)}


# --- Results ------------------------------------------------------------------------------------

def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
             if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "HEAD")[:12], "app_code_dirty": bool(dirty)}


class Run:
    """One benchmark run: its context at the start, and its JSON result at the end.

        run = harness.Run("audit", quick=args.quick)
        ... run.report["summary"] = {...}
        run.save()
    """

    def __init__(self, name: str, *, quick: bool, redis_url: str | None = None) -> None:
        self.name = name
        self.started = time.perf_counter()
        version = check_services(redis_url)
        busy = background_load()
        if busy > 10:
            log(f"WARNING: the machine is {busy:.0f}% busy before the run; figures will be low")
        revision = git_revision()
        log(f"{name}: app code at {revision['commit']}"
            + (" + uncommitted changes" if revision["app_code_dirty"] else ""))
        self.report: dict[str, Any] = {
            "benchmark": name, "quick": quick,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app_revision": revision,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "postgresql": version, "busy_pct_before": round(busy, 1),
                        "speed_before": machine_speed()},
        }

    def save(self) -> Path:
        self.report["machine"]["speed_after"] = machine_speed()
        self.report["run_seconds"] = round(time.perf_counter() - self.started, 1)
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{self.name}-{stamp}.json"
        path.write_text(json.dumps(self.report, indent=2, default=str) + "\n")
        print_summary(self.report)
        print(f"results: {path.relative_to(ROOT)}  (run took {self.report['run_seconds']} s)")
        return path


def print_summary(report: dict[str, Any]) -> None:
    """The summary and the targets, one per line."""
    print()
    for key, value in report.get("summary", {}).items():
        if key != "targets":
            print(f"  {key:40} {value}")
    for target, met in report.get("summary", {}).get("targets", {}).items():
        print(f"  target {target:33} {'met' if met else 'NOT MET' if met is False else 'n/a'}")
    print()

