"""Time ``audit.services.verify()`` alone, in a fresh process (run by audit_bench.py).

Prints one JSON line: events, intact, seconds spent in verify(), and this process's RSS
before the walk (its peak RSS is read by the parent with os.wait4). With --profile, the
walk runs under cProfile (slower; the time is then not the number to report) and the top
functions are added to the JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def main() -> None:
    import django

    django.setup()
    from audit import services

    profile = "--profile" in sys.argv[1:]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = services.verify()
    seconds = time.perf_counter() - started
    out = {"events": result.events, "intact": result.intact, "seconds": round(seconds, 3),
           "rss_before_mb": round(rss_before, 1)}
    if profile:
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
