"""Rewrite the figures table in bench/README.md from the newest JSON result of each
benchmark in bench/results/.

    .venv/bin/python bench/report.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"

# benchmark -> (summary key, what it is, target, target key in summary["targets"] or "")
FIGURES = {
    "escalation": [
        ("escalations_per_s", "sweep: escalations/s", "", ""),
        ("helpdesk_escalations_per_s", "django-helpdesk escalate_tickets: /s", "", ""),
        ("ratio_vs_helpdesk", "sweep / helpdesk", ">= 25x", "ratio_ge_25x"),
        ("ratio_command_vs_helpdesk", "sweep_deadlines command / helpdesk", "", ""),
        ("idle_sweep_ms", "idle sweep, median ms", "< 20 ms", "idle_lt_20ms"),
        ("sweep_peak_rss_mb", "sweep process peak RSS, MB", "flat (<= +10 %)",
         "memory_flat_within_10pct"),
    ],
    "audit": [
        ("writers_1_per_s", "audited transitions/s, 1 writer", "", ""),
        ("writers_8_per_s", "audited transitions/s, 8 writers", "", ""),
        ("pgbench_ceiling_tps", "pgbench serialized-append ceiling, tps", "", ""),
        ("ratio_8_writers_to_ceiling", "8 writers / ceiling", ">= 60 %", "ratio_ge_60pct"),
        ("verify_events_per_s", "verify(): events/s", ">= 100,000", "verify_ge_100k_per_s"),
        ("verify_audit_peak_rss_mb", "verify_audit peak RSS, MB", "< 150",
         "verify_rss_lt_150mb"),
    ],
    "web": [
        ("filings_per_s", "signed-in filings/s", ">= 300", "filings_ge_300"),
        ("filing_p99_ms", "filing p99 ms", "< 150", "filing_p99_lt_150ms"),
        ("queue_p95_ms", "queue page p95 ms", "< 100", "queue_p95_lt_100ms"),
        ("bare_read_per_s", "bare indexed-read view/s (the machine's ceiling)", "", ""),
    ],
}


def newest(name: str) -> tuple[str, dict[str, Any]] | None:
    paths = sorted((BENCH / "results").glob(f"{name}-*.json"))
    return (paths[-1].name, json.loads(paths[-1].read_text())) if paths else None


def fmt(value: Any) -> str:
    if isinstance(value, float) and value < 1:
        return f"{value:.0%}"
    if isinstance(value, int | float):
        return f"{value:,.1f}" if isinstance(value, float) and value < 100 else f"{value:,.0f}"
    return "-" if value is None else str(value)


def table() -> str:
    lines = ["| benchmark | figure | latest | target | met | run |", "|---|---|---|---|---|---|"]
    for name, figures in FIGURES.items():
        found = newest(name)
        if not found:
            lines.append(f"| {name} | (no result yet) | | | | |")
            continue
        path, report = found
        summary, targets = report.get("summary", {}), report.get("summary", {}).get("targets", {})
        run = (f"{path}, app {report['app_revision']['commit'][:8]}"
               + (", quick" if report.get("quick") else ""))
        for i, (key, label, target, target_key) in enumerate(figures):
            met = targets.get(target_key) if target_key else None
            mark = "" if not target_key else "yes" if met else "n/a" if met is None else "**no**"
            lines.append(f"| {name if not i else ''} | {label} | {fmt(summary.get(key))} "
                         f"| {target} | {mark} | {run if not i else ''} |")
    return "\n".join(lines)


def main() -> None:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}")
    print(table())


if __name__ == "__main__":
    main()
