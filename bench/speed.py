"""How fast this machine runs Python right now: two fixed pieces of pure-Python work, timed.

The virtual machines these benchmarks run on have slow spells, in which the same code takes
a third to a half more CPU (bench/README.md). A benchmark that reports these figures at its
start and end says which spell its numbers come from, and two runs can be compared only
when their figures are close.

- ``min_ms``: the kind of work a Django request does (small dicts, attribute access, string
  formatting, function calls), none of it in C extensions, in a working set that fits the
  CPU's caches.
- ``memory_min_ms``: a walk of 50,000 dependent steps through two lists of 1,000,000
  entries in a shuffled order, so nearly every step waits on main memory, as a database's
  and a large process's work does; a neighbour on the host that fills the shared caches or
  the memory bus slows this one first.

    python bench/speed.py        # prints the figures, in ms; lower is faster
"""

from __future__ import annotations

import random
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


_SLOTS = 1_000_000
_STEPS = 50_000


def _memory_walk(following: list[int], boxes: list[list[int]]) -> int:
    at = total = 0
    for _ in range(_STEPS):
        at = following[at]
        total += boxes[at][0]
    return total


def _timed(work: Any, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(1000 * (time.perf_counter() - start))
    return times


def python_speed(repeats: int = 7) -> dict[str, float]:
    """Each piece of work's wall time over ``repeats`` runs, in ms: the fastest (least
    disturbed by anything else running) and the median. About two seconds in all, most of
    it building the memory walk's lists."""
    times = _timed(_work, repeats)
    order = list(range(_SLOTS))
    random.Random(8).shuffle(order)
    following = [0] * _SLOTS
    for here, there in zip(order, order[1:] + order[:1], strict=True):
        following[here] = there
    boxes = [[n] for n in range(_SLOTS)]  # one small object per entry, spread over memory
    walks = _timed(lambda: _memory_walk(following, boxes), repeats)
    return {"min_ms": round(min(times), 2), "median_ms": round(statistics.median(times), 2),
            "memory_min_ms": round(min(walks), 1),
            "memory_median_ms": round(statistics.median(walks), 1)}


def describe(speed: dict[str, dict[str, float]]) -> str:
    """A run's readings at its start and end, as its printed results give them."""
    start, end = speed["start"], speed["end"]
    return (f"speed probe (bench/speed.py, lower is faster) start/end: python "
            f"{start['min_ms']}/{end['min_ms']} ms, memory {start['memory_min_ms']}/"
            f"{end['memory_min_ms']} ms")


if __name__ == "__main__":
    print(python_speed())
