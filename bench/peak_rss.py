"""Run a Python script in this process, then print its peak resident memory on stderr.

    python bench/peak_rss.py manage.py verify_audit --json

The kernel's rusage ``ru_maxrss`` of a child also counts the memory of the parent it was
forked from, before the exec, so a large benchmark process inflates it. ``VmHWM`` belongs
to the address space the exec created and counts only this process's own peak.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                print(f"PEAK_RSS_KB {line.split()[1]}", file=sys.stderr)


atexit.register(_report)
sys.argv = sys.argv[1:]
# As if the script had been run itself: its own folder first on the import path.
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
