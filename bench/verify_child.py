"""Time ``audit.services.verify()`` alone, in a fresh process (run by audit_bench.py).

Prints one JSON line: events, intact, the wall seconds and CPU seconds of each verify()
call, and this process's RSS before the first walk (its peak RSS is read by the parent
with os.wait4). With --profile, one more walk runs under cProfile (slower; not timed) and
its top functions are added to the JSON.

    DATABASE_URL=... .venv/bin/python bench/verify_child.py [--repeat N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from audit import services

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, cpu_seconds = [], []
    result = None
    for _ in range(max(1, args.repeat)):
        started, cpu = time.perf_counter(), time.process_time()
        result = services.verify()
        seconds.append(round(time.perf_counter() - started, 3))
        cpu_seconds.append(round(time.process_time() - cpu, 3))
        if not result.intact:
            break
    assert result is not None
    out = {"events": result.events, "intact": result.intact, "problem": result.problem,
           "seconds": seconds, "cpu_seconds": cpu_seconds, "rss_before_mb": round(rss_before, 1)}
    if args.profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        services.verify()
        profiler.disable()
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(15)
        out["profile"] = buffer.getvalue()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
