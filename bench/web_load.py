"""Web load benchmark: gunicorn (the Procfile's sync workers) under wrk on loopback, against
1,000,000 complaints (one in a hundred open): signed-in filings through the real form, the
HR reviewers' queue pages, and a bare indexed-read view as this machine's ceiling.

    .venv/bin/python bench/web_load.py [--quick]

Needs `wrk` (Debian's package). Scratch database ``bench_web``; production settings with
the loopback differences in bench/web/settings.py. Every successful filing is checked in
the database: one complaint per 302.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

# Three years of a large company's work: nearly every case has ended (closed, its deadline
# met); one in a hundred is open, as the escalation benchmark loads them.
RESHAPE = [
    "UPDATE complaints_complaint SET state = 'closed', ended_at = submitted_at, "
    "next_due_at = NULL WHERE id % 100 <> 1",
    "UPDATE escalation_deadline SET closed_at = started_at, outcome = 'met' "
    "WHERE complaint_id % 100 <> 1",
]
SIZES = {"full": {"complaints": 1_000_000, "seconds": 30, "workers": 4},
         "quick": {"complaints": 100_000, "seconds": 8, "workers": 4}}
EMPLOYEES, REVIEWERS = 500, 40
LUA = harness.BENCH / "web" / "load.lua"
HEADERS = {"X-Forwarded-Proto": "https", "User-Agent": "bench/web_load.py",
           "Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-GB,en;q=0.9"}
CATEGORIES = ["bullying", "other", "discrimination", "safety", "fraud", "retaliation"]


def sign_in(user: Any) -> tuple[str, str]:
    """Sign ``user`` in as the login view does; the browser's Cookie header and CSRF token."""
    from django.conf import settings
    from django.contrib.auth import login
    from django.middleware.csrf import get_token
    from django.test import RequestFactory
    from django.utils.module_loading import import_string

    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="127.0.0.1")
    request.session = import_string(settings.SESSION_ENGINE + ".SessionStore")()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    token = get_token(request)
    cookie = (f"{settings.SESSION_COOKIE_NAME}={request.session.session_key}; "
              f"{settings.CSRF_COOKIE_NAME}={request.META['CSRF_COOKIE']}")
    return cookie, token


def line(method: str, path: str, body: str = "", **headers: str) -> str:
    """One request for bench/web/load.lua: tab-separated method, path, body, headers."""
    fields = [method, path, body, *(x for pair in {**HEADERS, **headers}.items() for x in pair)]
    return "\t".join(fields)


def write_requests(work: Path, origin: str, complaints: int) -> dict[str, Path]:
    """Employees (directory people with accounts) and HR reviewers, signed in; one request
    file per kind of request."""
    import logging

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from complaints import access
    from complaints.models import Person

    logging.getLogger("axes").setLevel(logging.WARNING)  # one line per sign-in otherwise
    users = get_user_model().objects
    employees = []
    for person in Person.objects.filter(user__isnull=True).order_by("pk")[100:100 + EMPLOYEES]:
        person.user = users.create(username=f"bench_employee_{person.pk}")
        person.save(update_fields=["user"])
        employees.append(sign_in(person.user))
    group = Group.objects.get_or_create(name=access.HR_REVIEWER)[0]
    reviewers = []
    for i in range(REVIEWERS):
        user = users.create(username=f"bench_reviewer_{i}")
        user.groups.add(group)
        reviewers.append(sign_in(user))
    taken = set(Person.objects.filter(user__isnull=False).values_list("employee_id", flat=True))
    subjects = [e for e in Person.objects.values_list("employee_id", flat=True)
                if e not in taken]
    rng = random.Random(7)
    files = {
        "read": [line("GET", f"/__bench__/read/{rng.randrange(1, complaints)}/")
                 for _ in range(2000)],
        "file": [line("POST", "/report/", urlencode({
            "csrfmiddlewaretoken": token, "category": CATEGORIES[i % len(CATEGORIES)],
            "summary": f"Shouted at in team meetings ({i})",
            "narrative": "My manager shouts at me in front of the team, most weeks.",
            "subjects": rng.choice(subjects), "conflicted": "", "occurred_at": "",
            "location": "Third floor meeting room"}), Cookie=cookie, Origin=origin,
            Referer=f"{origin}/report/", **{"Content-Type": "application/x-www-form-urlencoded"})
            for i, (cookie, token) in enumerate(employees * 4)],
        "queue": [line("GET", f"/staff/?queue={queue}", Cookie=cookie, Referer=f"{origin}/staff/")
                  for cookie, _ in reviewers for queue in ("mine", "unassigned", "overdue")],
    }
    paths = {}
    for kind, lines in files.items():
        paths[kind] = work / f"{kind}.tsv"
        paths[kind].write_text("\n".join(lines) + "\n")
    return paths


class Server:
    """gunicorn with sync workers on a free loopback port."""

    def __init__(self, workers: int, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - read when it fails to start
        self.proc = subprocess.Popen(
            [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers",
             str(workers)], cwd=harness.ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                for _ in range(4 * workers):  # each worker imports the app on first request
                    ready = urllib.request.Request(
                        f"http://127.0.0.1:{self.port}/__bench__/ready/", headers=HEADERS)
                    urllib.request.urlopen(ready, timeout=10).read()  # noqa: S310 - loopback
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"gunicorn did not start:\n{self.log.read().decode()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=40)


def wrk(port: int, requests: Path, seconds: float, connections: int, status: int,
        location: str = "-", marker: str = "-") -> dict[str, Any]:
    """One wrk run; a response counts as good when it has ``status``, its Location starts
    with ``location`` and its body holds ``marker`` ("-" turns a check off)."""
    done = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s",
                           "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}", "--",
                           str(requests), str(status), location, marker],
                          capture_output=True, text=True, check=True)
    found = [x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")]
    result = json.loads(found[-1][len("WRK_JSON "):])
    good = result["statuses"].get(str(status), 0)
    seconds_run = result["duration_us"] / 1e6
    return {"good": good, "requests": result["requests"], "statuses": result["statuses"],
            "per_s": round(good / seconds_run, 1),
            "p95_ms": round(result["latency_us"]["p95"] / 1000, 1),
            "p99_ms": round(result["latency_us"]["p99"] / 1000, 1),
            "errors": result["requests"] - good + sum(result["socket_errors"].values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 complaints, 8 s runs")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    size = SIZES["quick" if args.quick else "full"]
    run = harness.Run("web", quick=args.quick, redis_url=harness.REDIS_URL)
    run.report["size"] = size
    import escalation_bench

    work = Path(tempfile.mkdtemp(prefix="web-load-"))
    # This process makes the sessions, so it runs under the server's settings.
    server_env = {"DJANGO_SETTINGS_MODULE": "bench.web.settings", "VAR_DIR": str(work),
                  "REDIS_URL": harness.REDIS_URL}
    harness.setup_django(harness.db_url("bench_web"), **server_env)
    url = escalation_bench.load("bench_web", size["complaints"], size["complaints"] // 100)
    for statement in RESHAPE:
        harness.sql(url, statement)
    harness.settle(url)
    env = harness.app_env(url, **server_env)
    server = None
    try:
        server = Server(size["workers"], env)
        files = write_requests(work, f"https://127.0.0.1:{server.port}", size["complaints"])
        seconds = size["seconds"]
        results: dict[str, Any] = {}
        harness.wait_quiet()
        results["queue"] = wrk(server.port, files["queue"], seconds, 2, 200,
                               marker='aria-current="page"')
        harness.log(f"queue pages: p95 {results['queue']['p95_ms']} ms")
        harness.wait_quiet()
        results["read"] = wrk(server.port, files["read"], seconds, 16, 200)
        harness.log(f"bare read: {results['read']['per_s']:,.0f}/s")
        before = harness.sql(url, "SELECT count(*) FROM complaints_complaint")[0][0]
        harness.wait_quiet()
        results["file"] = wrk(server.port, files["file"], seconds, 16, 302, location="/my/MC-")
        filed = harness.sql(url, "SELECT count(*) FROM complaints_complaint")[0][0] - before
        # Requests in flight when wrk stops are served but not counted by wrk.
        if not 0 <= filed - results["file"]["good"] <= 16:
            raise RuntimeError(f"{results['file']['good']} filings answered 302, {filed} filed")
        harness.log(f"signed-in filings: {results['file']['per_s']:,.0f}/s, "
                    f"p99 {results['file']['p99_ms']} ms")
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    file_run = results["file"]
    run.report["runs"] = results
    run.report["summary"] = {
        "filings_per_s": file_run["per_s"], "filing_p99_ms": file_run["p99_ms"],
        "filing_errors": file_run["errors"], "queue_p95_ms": results["queue"]["p95_ms"],
        "bare_read_per_s": results["read"]["per_s"],
        "targets": {"filings_ge_300": file_run["per_s"] >= 300 and not file_run["errors"],
                    "filing_p99_lt_150ms": file_run["p99_ms"] < 150,
                    "queue_p95_lt_100ms": results["queue"]["p95_ms"] < 100}}
    run.save()


if __name__ == "__main__":
    main()
