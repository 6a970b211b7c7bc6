"""gunicorn configuration for the benchmark's profiling runs only (``-c`` this file).

With BENCH_WEB_CPROFILE set to a path prefix, each worker profiles the requests whose path
starts with it (from the request parsed to the response written), skipping the first
BENCH_WEB_CPROFILE_SKIP of them (imports and caches of a fresh worker), and writes
``worker-<pid>.prof`` and ``worker-<pid>.json`` (how many requests it profiled) when it
exits. With BENCH_WEB_PROBE_DIR set it also writes the request probe's counts
(bench/web/probe.py). Everything goes to BENCH_WEB_PROBE_DIR.
"""

from __future__ import annotations

import json
import os
from typing import Any

_PREFIX = os.environ.get("BENCH_WEB_CPROFILE", "")
_SKIP = int(os.environ.get("BENCH_WEB_CPROFILE_SKIP", "0"))


def post_worker_init(worker: Any) -> None:
    worker.bench_seen = 0
    worker.bench_profiled = 0
    worker.bench_profile = None
    worker.bench_active = False
    if _PREFIX:
        import cProfile

        worker.bench_profile = cProfile.Profile()


def pre_request(worker: Any, req: Any) -> None:
    if worker.bench_profile is None or not req.path.startswith(_PREFIX):
        return
    worker.bench_seen += 1
    if worker.bench_seen > _SKIP:
        worker.bench_active = True
        worker.bench_profile.enable()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    if worker.bench_active:
        worker.bench_profile.disable()
        worker.bench_active = False
        worker.bench_profiled += 1


def worker_exit(server: Any, worker: Any) -> None:
    directory = os.environ.get("BENCH_WEB_PROBE_DIR")
    if not directory:
        return
    if getattr(worker, "bench_profiled", 0):
        worker.bench_profile.dump_stats(os.path.join(directory, f"worker-{worker.pid}.prof"))
        with open(os.path.join(directory, f"worker-{worker.pid}.json"), "w") as handle:
            json.dump({"profiled_requests": worker.bench_profiled}, handle)
    from bench.web import probe

    probe.dump(directory)
