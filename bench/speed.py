"""How fast this machine runs Python right now: a fixed piece of pure-Python work, timed.

The virtual machines these benchmarks run on have slow spells, in which the same code takes
a third to a half more CPU (bench/README.md). A benchmark that reports this figure at its
start and end says which spell its numbers come from, and two runs can be compared only
when their figures are close. The work is the kind a Django request does (small dicts,
attribute access, string formatting, function calls), none of it in C extensions.

    python bench/speed.py        # prints the figure, in ms; lower is faster
"""

from __future__ import annotations

import statistics
import time
from typing import Any


class _Row:
    __slots__ = ("pk", "name", "level")

    def __init__(self, pk: int, name: str, level: int) -> None:
        self.pk, self.name, self.level = pk, name, level


def _render(row: _Row, labels: dict[int, str]) -> str:
    return f"<tr><td>{row.name}</td><td>{labels.get(row.level, '-')}</td><td>{row.pk}</td></tr>"


def _work() -> int:
    labels = {0: "none", 1: "senior HR", 2: "compliance", 3: "committee"}
    total = 0
    for n in range(20_000):
        row = _Row(n, f"MC-{n:06d}", n % 4)
        context: dict[str, Any] = {"row": row, "open": n % 3 != 0}
        if context["open"]:
            total += len(_render(context["row"], labels))
        total += sum(k for k in labels if k <= row.level)
    return total


def python_speed(repeats: int = 7) -> dict[str, float]:
    """The fixed work's wall time over ``repeats`` runs, in ms: the fastest (least disturbed
    by anything else running) and the median."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _work()
        times.append(1000 * (time.perf_counter() - start))
    return {"min_ms": round(min(times), 2), "median_ms": round(statistics.median(times), 2)}


if __name__ == "__main__":
    print(python_speed())
