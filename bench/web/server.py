"""gunicorn and wrk as child processes of the benchmark, and what is measured around them:
CPU of each party, PostgreSQL's own counters, and gunicorn's access log.

Every child starts in its own session and is registered in ``CHILDREN``; ``stop_all()``
(run on exit, on error and on Ctrl-C) ends those still running, by their own process
group, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from audit_bench import CLK_TCK, ROOT, log

# The Procfile's web command: gunicorn config.wsgi --bind ... --workers ... --access-logfile -
# --access-logformat FORMAT. The benchmark writes the access log to a file and reads it back.
ACCESS_LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) '
                          r'\S+ (?P<ms>\d+)ms')
HOOKS = ROOT / "bench" / "web" / "gunicorn_hooks.py"
LUA = ROOT / "bench" / "web" / "load.lua"
PACED = ROOT / "bench" / "web" / "paced.py"

CHILDREN: list[subprocess.Popen[bytes]] = []


def stop_all() -> None:
    for proc in CHILDREN:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    CHILDREN.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- CPU from /proc ------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def process_cpu(pid: int, children: bool = False) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry))
    return sorted(found)


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- gunicorn -------------------------------------------------------------------------------

def gunicorn_command(port: int, workers: int, access_log: Path, hooks: bool, *,
                     executable: str | None = None, app: str = "config.wsgi") -> list[str]:
    """The Procfile's web command; ``executable`` and ``app`` serve another project (the
    side-by-side helpdesk) with its own virtualenv's gunicorn."""
    local = Path(sys.executable).parent / "gunicorn"
    if executable:
        head = [executable]
    else:
        head = [str(local)] if local.exists() else [sys.executable, "-m", "gunicorn"]
    return [*head, app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT,
            *(["-c", str(HOOKS)] if hooks else [])]


class Gunicorn:
    """gunicorn on 127.0.0.1 with sync workers, as the Procfile runs it; by default the app,
    or with ``executable``, ``app`` and ``cwd`` another project (it must answer
    ``/__bench__/ready/`` without touching its database)."""

    def __init__(self, port: int, workers: int, env: dict[str, str], *, hooks: bool = False,
                 executable: str | None = None, app: str = "config.wsgi",
                 cwd: Path = ROOT) -> None:
        self.port, self.workers, self.env, self.hooks = port, workers, env, hooks
        self.cwd = cwd
        self.dir = Path(tempfile.mkdtemp(prefix="web-load-gunicorn-"))
        self.access_log = self.dir / "access.log"
        self.output = self.dir / "gunicorn.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.command = gunicorn_command(port, workers, self.access_log, hooks,
                                        executable=executable, app=app)

    def __enter__(self) -> Gunicorn:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        CHILDREN.append(self.proc)
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n"
                                   + self.output.read_text()[-3000:])
            if len(self.worker_pids()) == self.workers:
                try:
                    # Each worker imports the app on its first request: ask enough times
                    # that every worker has most likely answered once.
                    for _ in range(4 * self.workers):
                        self.get("/__bench__/ready/")
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start:\n" + self.output.read_text()[-3000:])

    def get(self, path: str) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"X-Forwarded-Proto": "https"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.read().decode()

    def worker_pids(self) -> list[int]:
        return child_pids(self.proc.pid) if self.proc else []

    def cpu(self) -> dict[int, float]:
        """CPU seconds so far of the master and of each worker."""
        assert self.proc is not None
        pids = [self.proc.pid, *self.worker_pids()]
        return {pid: process_cpu(pid) for pid in pids}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # A graceful stop, so the workers run their exit hooks (bench/web/gunicorn_hooks.py).
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc in CHILDREN:
            CHILDREN.remove(self.proc)

    def access(self) -> dict[str, Any]:
        """The access log: requests by method, path kind and status, and server time."""
        by: Counter[str] = Counter()
        times: dict[str, list[int]] = {}
        if self.access_log.exists():
            for line in self.access_log.read_text().splitlines():
                found = _ACCESS_LINE.search(line)
                if not found:
                    continue
                key = f"{found['method']} {path_kind(found['path'])} {found['status']}"
                by[key] += 1
                times.setdefault(key, []).append(int(found["ms"]))
        return {"counts": dict(by), "server_ms": {
            key: {"p50": _pct(v, 0.50), "p99": _pct(v, 0.99), "mean": round(statistics.fmean(v),
                                                                              2)}
            for key, v in times.items()}}

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def path_kind(path: str) -> str:
    path = path.split("?")[0]
    if path.startswith("/__bench__/read/"):
        return "/__bench__/read/"
    if path.startswith("/my/"):
        return "/my/"
    return path


def _pct(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- wrk ------------------------------------------------------------------------------------

def ensure_wrk() -> tuple[str, str]:
    """wrk's path and version, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if not found:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit("wrk is not installed and cannot be installed here "
                             "(needs root and apt-get): install Debian's `wrk` package")
        log("wrk is missing: apt-get install -y wrk (Debian's package)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           check=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env,
                           capture_output=True, check=True)
        found = shutil.which("wrk")
        if not found:
            raise SystemExit("apt-get installed no wrk")
    version = subprocess.run([found, "--version"], capture_output=True, text=True)
    return found, (version.stdout or version.stderr).splitlines()[0].strip()


def run_wrk(wrk: str, port: int, requests: Path, *, expect_status: int, expect_location: str,
            expect_marker: str, seconds: float, connections: int, threads: int = 2,
            think_ms: float = 0) -> dict[str, Any]:
    """One wrk run; its result (bench/web/load.lua's JSON) and its own CPU seconds. With
    ``think_ms``, bench/web/paced.py instead: ``connections`` people, each with their own
    run of the request file, waiting a random think time of that mean before each request
    and sending it on a connection of its own."""
    threads = max(1, min(threads, connections))
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}",
               "--", str(requests), str(expect_status), expect_location or "-",
               expect_marker or "-"]
    marker = "WRK_JSON "
    if think_ms:
        command = [sys.executable, str(PACED), str(port), str(requests), str(expect_status),
                   expect_location or "-", expect_marker or "-", str(connections),
                   f"{think_ms:g}", f"{seconds:g}"]
        marker = "PACED_JSON "
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err,
                                start_new_session=True)
        CHILDREN.append(proc)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        CHILDREN.remove(proc)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    lines = [line for line in text.splitlines() if line.startswith(marker)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]} {errors[-2000:]}")
    result = json.loads(lines[-1][len(marker):])
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["command"] = " ".join(command)
    return result


# --- PostgreSQL's counters for one database -------------------------------------------------

PG_STAT_COLUMNS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched",
                   "tup_inserted", "tup_updated", "tup_deleted", "blks_read", "blks_hit")


def pg_stat(url: str, dbname: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(f"SELECT {', '.join(PG_STAT_COLUMNS)} FROM pg_stat_database "  # noqa: S608
                           "WHERE datname = %s", (dbname,)).fetchone()
    return dict(zip(PG_STAT_COLUMNS, row, strict=True))
