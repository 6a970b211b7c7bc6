"""The web load benchmark's summary and printed report."""

from __future__ import annotations

from typing import Any

from audit_bench import verdict
from speed import describe

# Targets from the brief.
TARGET_FILING_RATE = 300.0  # signed-in filings/s, sustained
TARGET_FILING_P99_MS = 150.0
TARGET_QUEUE_P95_MS = 100.0


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The error-free run with the highest rate (all runs when every one had errors)."""
    clean = [r for r in runs if not r["errors"]] or runs
    return max(clean, key=lambda r: r["ok_per_s"])


def filing_met(run: dict[str, Any]) -> bool:
    return (run["ok_per_s"] >= TARGET_FILING_RATE
            and run["latency_ms"]["p99"] < TARGET_FILING_P99_MS and not run["errors"]
            and run["db_check"]["ok"])


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    m = report["measurements"]
    out: dict[str, Any] = {"targets": {}}
    if m.get("ceiling_persistent"):
        best = best_of(m["ceiling_persistent"])
        out["ceiling_persistent_per_s"] = best["ok_per_s"]
        out["ceiling_persistent_workers"] = best["workers"]
    if m.get("ceiling_bare"):
        out["ceiling_bare_per_s"] = m["ceiling_bare"]["ok_per_s"]
    if m.get("ceiling_conn_max_age_0"):
        out["ceiling_conn_max_age_0_per_s"] = m["ceiling_conn_max_age_0"]["ok_per_s"]
    if m.get("file_signed_in"):
        best = best_of(m["file_signed_in"])
        out.update({"signed_in_per_s": best["ok_per_s"], "signed_in_workers": best["workers"],
                    "signed_in_p99_ms": best["latency_ms"]["p99"]})
        out["targets"].update({
            "signed_in_ge_300_per_s": best["ok_per_s"] >= TARGET_FILING_RATE,
            "signed_in_p99_lt_150ms": best["latency_ms"]["p99"] < TARGET_FILING_P99_MS,
            "signed_in_no_errors": not best["errors"],
            "signed_in_database_checks": all(r["db_check"]["ok"] for r in m["file_signed_in"]),
        })
    if m.get("file_anonymous"):
        run, cost = m["file_anonymous"], report["receipt_key_cost"]
        out.update({"anonymous_per_s": run["ok_per_s"],
                    "anonymous_p99_ms": run["latency_ms"]["p99"],
                    "anonymous_share_of_argon2_bound": round(
                        run["ok_per_s"] / cost["bound_per_s_by_cpu"], 3)})
    for queue in ("mine", "unassigned", "overdue"):
        for key in (f"queue_{queue}", f"queue_{queue}_unqueued"):
            run = m.get(key)
            if run:
                out[key] = {"per_s": run["ok_per_s"], "connections": run["connections"], **{
                    k: run["latency_ms"][k] for k in ("p50", "p95", "p99")}}
                out["targets"][f"{key}_p95_lt_100ms"] = (
                    run["latency_ms"]["p95"] < TARGET_QUEUE_P95_MS)
    team = m.get("queue_team")
    if team:
        out["queue_team"] = {"per_s": team["ok_per_s"], "connections": team["connections"],
                             "think_ms": team["think_ms"], **{
                                 k: team["latency_ms"][k] for k in ("p50", "p95", "p99")}}
        out["targets"]["queue_team_p95_lt_100ms"] = (
            team["latency_ms"]["p95"] < TARGET_QUEUE_P95_MS and not team["errors"])
        out["queue_team_faster"] = [
            {"per_s": run["ok_per_s"], "think_ms": run["think_ms"], "errors": run["errors"],
             **{k: run["latency_ms"][k] for k in ("p50", "p95", "p99")}}
            for run in m.get("queue_team_faster", [])]
    if report.get("chain"):
        out["targets"]["chain_intact"] = report["chain"]["intact"]
    out.update(_helpdesk_summary(report))
    if m.get("helpdesk_file"):
        out["targets"]["helpdesk_database_check"] = m["helpdesk_file"]["db_check"]["ok"]
    return out


def _speed_note(report: dict[str, Any]) -> str:
    """bench/speed.py's readings at the start and end of the run: which of the machine's
    spells the numbers come from."""
    speed = report.get("python_speed")
    return f"; {describe(speed)}" if speed else ""


def _cpu_per_request(run: dict[str, Any]) -> float:
    """The server's CPU per request: its gunicorn and its own database's backends."""
    cpu = run["cpu_ms_per_request"]
    return cpu["gunicorn"] + cpu["postgres_backends_of_this_db"]


def _helpdesk_summary(report: dict[str, Any]) -> dict[str, Any]:
    """django-helpdesk's public filing against ours: its numbers and the ratios ours /
    helpdesk (rates; CPU per filing)."""
    m = report["measurements"]
    hd = m.get("helpdesk_file")
    if not hd:
        error = (report.get("helpdesk") or {}).get("error")
        return {"helpdesk": {"not_run": error or "skipped"}}
    out: dict[str, Any] = {
        "per_s": hd["ok_per_s"], "workers": hd["workers"], "errors": hd["errors"],
        **{k: hd["latency_ms"][k] for k in ("p50", "p95", "p99")},
        "cpu_ms_per_request": _cpu_per_request(hd), "ratios": {}}
    ours = {"signed_in": best_of(m["file_signed_in"]) if m.get("file_signed_in") else None,
            "anonymous": m.get("file_anonymous")}
    for kind, run in ours.items():
        if run and hd["ok_per_s"]:
            out["ratios"][kind] = {
                "rate": round(run["ok_per_s"] / hd["ok_per_s"], 3),
                "cpu_ms_per_request": round(_cpu_per_request(run) / _cpu_per_request(hd), 2),
                "p99": round(run["latency_ms"]["p99"] / hd["latency_ms"]["p99"], 2),
                "ours_workers": run["workers"]}
    return {"helpdesk": out}


def _row(run: dict[str, Any], label: str, target: str = "") -> tuple[str, ...]:
    lat, cpu = run["latency_ms"], run["cpu_ms_per_request"]
    return (label, f"{run['ok_per_s']:,.0f}", f"{lat['p50']}", f"{lat['p95']}", f"{lat['p99']}",
            f"{run['errors']}", f"{run['workers']}w/{run['connections']}c",
            f"{cpu['gunicorn']}/{cpu['postgres_all']}/{cpu['wrk']}/{cpu['other']}",
            f"{run['machine_busy_pct']:.0f}%", target)


def _table(rows: list[tuple[str, ...]], heads: tuple[str, ...], right: set[int]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in rows:
        print("  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())


def print_report(report: dict[str, Any]) -> None:
    rows: list[tuple[str, ...]] = []
    m = report["measurements"]
    for run in m.get("ceiling_persistent", []):
        rows.append(_row(run, "ceiling, persistent connections"))
    if m.get("ceiling_bare"):
        rows.append(_row(m["ceiling_bare"], "ceiling, bare view (no middleware)"))
    if m.get("ceiling_conn_max_age_0"):
        rows.append(_row(m["ceiling_conn_max_age_0"], "ceiling, CONN_MAX_AGE=0"))
    for run in m.get("file_signed_in", []):
        rows.append(_row(run, "signed-in filings",
                         f">=300/s, p99<150 ms, no error: {verdict(filing_met(run))}"))
    if m.get("file_anonymous"):
        run, cost = m["file_anonymous"], report["receipt_key_cost"]
        rows.append(_row(run, "anonymous filings",
                         f"{run['ok_per_s'] / cost['bound_per_s_by_cpu']:.0%} of the Argon2 "
                         f"bound, {cost['bound_per_s_by_cpu']:.1f}/s"))
    for suffix, how in (("", ""), ("_unqueued", ", 1 conn/worker")):
        for name in ("mine", "unassigned", "overdue"):
            run = m.get(f"queue_{name}{suffix}")
            if run:
                rows.append(_row(run, f"queue page ?queue={name}{how}", "p95<100 ms: " +
                                 verdict(run["latency_ms"]["p95"] < TARGET_QUEUE_P95_MS)))
    for run in [m["queue_team"], *m.get("queue_team_faster", [])] if m.get("queue_team") \
            else []:
        rows.append(_row(run, f"queue pages, a team: {run['think_ms']:g} ms think time",
                         "p95<100 ms, no error: " + verdict(
                             run["latency_ms"]["p95"] < TARGET_QUEUE_P95_MS
                             and not run["errors"])))
    if m.get("helpdesk_file"):
        run = m["helpdesk_file"]
        rows.append(_row(run, "helpdesk 2.6.1 public filings",
                         "database check: " + verdict(run["db_check"]["ok"])))
    print()
    bg, rev, db = report["background_busy_pct"], report["app_revision"], report["database"]
    print(f"app code {rev['commit'][:10]}" + (" + uncommitted changes" if rev["app_code_dirty"]
                                             else "")
          + f"; database {db['source']} ({db['complaints']:,} complaints, "
            f"{db['open_complaints']:,} open, {db['audit_events']:,} audit events); machine "
            f"busy with nothing of ours before/after: {bg['before']:.0f}%/{bg['after']:.0f}%"
            + _speed_note(report))
    if rows:
        _table(rows, ("measurement", "ok/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server",
                      "CPU ms/req gunicorn/pg/wrk/other", "busy", "target"), {1, 2, 3, 4, 5})
        print("(ok/s counts only the expected response; errors are every other status and "
              "socket error. pg is every PostgreSQL process: parallel workers, short-lived "
              "backends and the WAL writer included)")
    cost = report.get("receipt_key_cost")
    if cost:
        print(f"\nreceipt_key_hash alone: {cost['wall_ms']} ms wall, {cost['cpu_ms']} ms CPU "
              f"(Argon2id {cost['argon2']}); {cost['cores']} cores / CPU = "
              f"{cost['bound_per_s_by_cpu']}/s, {cost['cores']} cores / wall = "
              f"{cost['bound_per_s_by_wall']}/s")
    choice = report.get("workers_chosen")
    if choice:
        print(f"workers used after the sweeps: {choice['reads']} for the queue pages and "
              f"CONN_MAX_AGE=0, {choice['filings']} for anonymous filings ({choice['why']})")
    if report.get("chain"):
        chain = report["chain"]
        print(f"audit chain after the run: {'intact' if chain['intact'] else 'BROKEN'}, "
              f"{chain['events']:,} events")
    _print_helpdesk(report)
    prof = report.get("profile")
    if prof:
        _print_profile(prof)
    if report.get("queue_plans"):
        _print_plans(report["queue_plans"])
    print()


def _print_helpdesk(report: dict[str, Any]) -> None:
    hd = report["summary"].get("helpdesk") or {}
    if "not_run" in hd:
        if hd["not_run"] != "skipped":
            print(f"\ndjango-helpdesk filing side by side: NOT RUN ({hd['not_run'][:200]})")
        return
    print(f"\nOurs / django-helpdesk 2.6.1 public filing ({hd['per_s']:,.1f}/s, p99 {hd['p99']} "
          f"ms, {hd['cpu_ms_per_request']:.2f} ms CPU per filing in gunicorn and its "
          f"database's backends, {hd['workers']} workers):")
    names = {"signed_in": "signed-in filings", "anonymous": "anonymous filings"}
    for kind, ratio in hd["ratios"].items():
        print(f"  {names[kind]:18} rate {ratio['rate']:.2f}x, CPU per filing "
              f"{ratio['cpu_ms_per_request']:.2f}x, p99 {ratio['p99']:.2f}x "
              f"(ours with {ratio['ours_workers']} workers)")
    print("  (ours encrypts fields, resolves conflicts, starts deadlines and appends a "
          "hash-chained audit event; helpdesk's creates a ticket and a follow-up and builds "
          "one e-mail, in memory)")


def _print_profile(prof: dict[str, Any]) -> None:
    for key, title in (("filing", "a signed-in filing"), ("read", "the ceiling's read")):
        part = prof.get(key)
        if not part:
            continue
        plain, split = part["plain"], part["cpu_split"]
        print(f"\nCPU of {title}, one worker and one connection (ms per request): "
              f"p50 latency {plain['latency_ms']['p50']} ms alone")
        for name, value in split.items():
            if not isinstance(value, dict):
                print(f"  {value:8.3f}  {name.replace('_', ' ')}")
        cprof = part["cprofile"]
        if "tree" in cprof:
            print(f"  under cProfile ({cprof['requests']} requests; wall ms per request, "
                  "inflated by the profiler):")
            for row in cprof["tree"]:
                print(f"    {'  ' * row['depth']}{row['ms_per_request']:8.3f}  "
                      f"x{row['calls_per_request']:<5g} {row['label']}")
            print("  own time by library (profiled ms per request):")
            for row in cprof["own_time_by_group"][:12]:
                print(f"    {row['own_ms_per_request']:8.3f}  {row['share']:5.1%}  {row['group']}")
    statements = prof.get("statements") or {}
    if statements:
        print("\nStatements per request (request probe; the driver's BEGIN/COMMIT and the "
              "health check's SELECT 1 are not counted; pg_per_request.xact_commit in the "
              "JSON counts transactions):")
        for key, entry in sorted(statements.items()):
            print(f"  {entry['statements_per_request']:6.2f} statements, "
                  f"{entry['sql_ms_per_request']:7.3f} ms in them, "
                  f"{entry['cpu_ms_per_request']:7.3f} ms CPU in Django: {key}")
        filing = next((v for k, v in statements.items()
                       if k.startswith("POST complaints:report 302")), None)
        if filing:
            print("  a signed-in filing, by statement:")
            for s in filing["statements"]:
                print(f"    {s['per_request']:5.2f} x  {s['ms_per_request']:7.3f} ms  "
                      f"{s['statement']}")


def _print_plans(plans: dict[str, Any]) -> None:
    if plans:
        print(f"\nQueue pages as {plans['as']} (EXPLAIN ANALYZE of each statement):")
        for queue in ("mine", "unassigned", "overdue"):
            entry = plans.get(queue)
            if not entry:
                continue
            print(f"  ?queue={queue}: counts {entry['counts']}, {entry['rows_on_page']} rows "
                  "on the page")
            for plan in entry["plans"]:
                first = plan["plan"][0].split("  (")[0].strip() if plan["plan"] else ""
                jit = (f"(jit off {plan['execution_ms_jit_off']:.1f})"
                       if plan.get("execution_ms_jit_off") is not None else "")
                print(f"    {plan['execution_ms'] or 0:8.2f} ms {jit:16} {first:22} "
                      f"{plan['sql'][:80]}")
