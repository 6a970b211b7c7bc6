"""The worker half of bench/scale_out.py: N open complaints whose deadlines are overdue,
escalated by one Celery worker or by two worker processes (distinct ``-n`` node names, the
same broker and database), with the notification delivery the escalations queue, then
checked row by row.

What runs, as production runs it (the Procfile's ``worker`` and ``beat`` commands):
``celery -A config.celery_app worker --concurrency C -n scaleout<i>@%h -Q celery,scaleout<i>``
(the default queue every task goes to, plus a queue of the node's own so the benchmark can
hand each worker a sweep at the same instant) and one ``celery beat`` whose schedule sends
``sweep_deadlines`` and ``deliver_notifications`` every ``--beat-seconds``. At t0 the
benchmark sends ``sweep_deadlines`` twice at once (to each worker's own queue; with one
worker, both to it), starts beat, and, playing a faster beat, keeps one
``deliver_notifications`` wake-up per pool process waiting in the queue until the outbox is
empty (a delivery task sends at most 200 and does not requeue itself; see the report).
Mail goes to bench/scaleout_mail.py, which records every message per process.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from audit_bench import ROOT, CpuMeter, log
from escalation_bench import BackendCpu, refresh_next_due, sql, wait_quiet
from scaleout_checks import check_run, undelivered

from bench.web import server

CELERY = str(Path(sys.executable).parent / "celery")
QUEUE = "celery"
_SUCCEEDED = re.compile(r"Task (?P<task>[\w.]+)\[[^\]]+\] succeeded in (?P<s>[\d.]+)s: (?P<r>.*)$")
_TROUBLE = re.compile(r"(ERROR|CRITICAL|WARNING)/|Traceback|Retry in ")


class CeleryProcess:
    """A celery worker or beat, in its own session, logging to a file of its own."""

    def __init__(self, kind: str, name: str, args: list[str], env: dict[str, str],
                 work: Path) -> None:
        self.kind, self.name, self.env = kind, name, env
        self.log = work / f"{name}.log"
        self.command = [CELERY, "-A", "config.celery_app", kind, "--loglevel", "INFO",
                        "--logfile", str(self.log), *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = work / f"{name}.out"

    def start(self) -> None:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        server.CHILDREN.append(self.proc)

    def wait_for(self, pattern: str, timeout: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        found = re.compile(pattern)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   + self.text()[-3000:] + self.output.read_text()[-2000:])
            if found.search(self.text()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.text()[-3000:]}")

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cpu(self) -> float:
        """CPU seconds of the process, its live children (the prefork pool) and its reaped
        ones."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        return server.process_cpu(self.proc.pid, children=True) + sum(
            server.process_cpu(pid) for pid in server.child_pids(self.proc.pid))

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: running tasks finish), then SIGKILL after 40 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc in server.CHILDREN:
            server.CHILDREN.remove(self.proc)

    def tasks(self) -> dict[str, Any]:
        """What the log says each task did: successes with their results, and any trouble."""
        done: dict[str, list[tuple[float, Any]]] = defaultdict(list)
        trouble = []
        for line in self.text().splitlines():
            found = _SUCCEEDED.search(line)
            if found:
                try:
                    result = ast.literal_eval(found["r"])
                except (ValueError, SyntaxError):
                    result = found["r"]
                done[found["task"].rsplit(".", 1)[-1]].append((float(found["s"]), result))
            elif _TROUBLE.search(line):
                trouble.append(line[:300])
        sweeps = done.get("sweep_deadlines", [])
        deliveries = done.get("deliver_notifications", [])
        return {
            "sweeps": [{"seconds": s, **(r if isinstance(r, dict) else {"raw": r})}
                       for s, r in sweeps],
            "escalated": sum(r.get("escalated", 0) for _, r in sweeps if isinstance(r, dict)),
            "delivery_tasks": len(deliveries),
            "sent": sum(r.get("sent", 0) for _, r in deliveries if isinstance(r, dict)),
            "delivery_failed": sum(r.get("failed", 0) for _, r in deliveries
                                   if isinstance(r, dict)),
            "trouble_lines": trouble[:20], "trouble_count": len(trouble),
        }


# --- The data: overdue deadlines in the run's copy --------------------------------------------

def push_open_deadlines_out(url: str) -> int:
    """Move every running deadline due within a day (the seed's missed ones, and those that
    fell due since it was built) 30 days out, so that only the benchmark's sets are due."""
    moved = int(sql(url, "UPDATE escalation_deadline SET due_at = now() + interval '30 days' "
                         "+ (id % 1440) * interval '1 minute' WHERE closed_at IS NULL AND "
                         "paused_at IS NULL AND due_at <= now() + interval '1 day'"))
    refresh_next_due(url)
    return moved


def vacuum(url: str, tables: tuple[str, ...] = (
        "escalation_deadline", "escalation_notification", "escalation_escalation",
        "complaints_complaint")) -> None:
    for table in tables:
        sql(url, f"VACUUM (ANALYZE) {table}", autocommit=True)


def make_overdue(url: str, count: int) -> dict[str, Any]:
    """``count`` open level-0 deadlines, one per complaint, on complaints never escalated,
    spread over the table (by a hash of the id), missed 5 minutes to 12 hours ago. Returns
    them with the complaints' references and assignees as they were."""
    started = time.perf_counter()
    rows = sql(url, """
        WITH candidates AS (
          SELECT DISTINCT ON (d.complaint_id) d.id, d.complaint_id
          FROM escalation_deadline d JOIN complaints_complaint c ON c.id = d.complaint_id
          WHERE d.closed_at IS NULL AND d.paused_at IS NULL AND d.level = 0
            AND d.kind <> 'reporter_reply' AND c.escalation_level = 0 AND d.due_at > now()
            AND NOT EXISTS (SELECT 1 FROM escalation_deadline o WHERE o.complaint_id =
                            d.complaint_id AND o.id <> d.id AND o.closed_at IS NULL
                            AND o.paused_at IS NULL AND o.kind <> 'reporter_reply')
          ORDER BY d.complaint_id, d.id
        ), pick AS (SELECT id FROM candidates ORDER BY md5(id::text) LIMIT %s)
        UPDATE escalation_deadline d SET due_at = now() - (5 + d.id %% 715) * interval '1 minute'
        FROM pick WHERE d.id = pick.id RETURNING d.id, d.complaint_id, d.kind
    """, (count,))
    if len(rows) != count:
        raise SystemExit(f"only {len(rows)} open deadlines could be made overdue, not {count}: "
                         "fewer --escalations, or fewer --worker-reps")
    complaint_ids = sorted(r[1] for r in rows)
    refresh_next_due(url)
    before = sql(url, "SELECT id, reference, assignee_id FROM complaints_complaint "
                      "WHERE id = ANY(%s)", (complaint_ids,))
    # The UPDATEs' dead versions, out of the indexes before the sweep reads them.
    vacuum(url, ("escalation_deadline", "complaints_complaint"))
    return {"deadline_ids": sorted(r[0] for r in rows), "complaint_ids": complaint_ids,
            "references": {r[0]: r[1] for r in before},
            "assignee_before": {r[0]: r[2] for r in before},
            "kinds": dict(Counter(r[2] for r in rows)),
            "seconds": round(time.perf_counter() - started, 2)}


def marks(url: str) -> dict[str, int]:
    row = sql(url, "SELECT (SELECT coalesce(max(id), 0) FROM escalation_escalation), "
                   "(SELECT seq FROM audit_chainhead WHERE id = 1), "
                   "(SELECT coalesce(max(id), 0) FROM escalation_notification), "
                   "(SELECT coalesce(max(id), 0) FROM escalation_deadline)")[0]
    return {"escalation_id": row[0], "audit_seq": row[1], "notification_id": row[2],
            "deadline_id": row[3]}


# --- One configuration ------------------------------------------------------------------------

def _beat_ticks(beats: list[CeleryProcess]) -> int:
    return sum(b.text().count("Sending due task") for b in beats)


class Pump(threading.Thread):
    """Keeps ``depth`` deliver_notifications wake-ups waiting in the default queue: what a
    beat ticking fast enough (or a delivery task that requeued itself) would do."""

    def __init__(self, redis_url: str, depth: int) -> None:
        super().__init__(daemon=True)
        import redis

        self.broker = redis.Redis.from_url(redis_url)
        self.depth = depth
        self.sent = 0
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from escalation.tasks import deliver_notifications

        try:
            while not self.stop_event.wait(0.05):
                for _ in range(max(0, self.depth - int(self.broker.llen(QUEUE)))):
                    deliver_notifications.apply_async()
                    self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        if self.ident is not None:
            self.join(timeout=10)


def purge_queues(redis_url: str, nodes: int) -> None:
    """Drop messages left in the broker by an earlier configuration (only the run's scratch
    Redis db: the default queue, the nodes' own queues, and unacknowledged messages)."""
    import redis

    broker = redis.Redis.from_url(redis_url)
    broker.delete(QUEUE, "unacked", "unacked_index",
                  *[f"scaleout{i}" for i in range(1, nodes + 1)])


def run_config(*, url: str, dbname: str, redis_url: str, base_env: dict[str, str], work: Path,
               workers: int, concurrency: int, escalations: int, beat_seconds: float,
               beats: int, quiet_limit: float, timeout: float, label: str,
               pump_wakeups: bool = True) -> dict[str, Any]:
    """Start ``workers`` workers, make ``escalations`` deadlines overdue, sweep twice at once,
    deliver everything; measure and check."""
    from complaints.tasks import sweep_deadlines

    run_dir = work / label
    mail_dir = run_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    purge_queues(redis_url, 2)
    procs: list[CeleryProcess] = []
    for i in range(1, workers + 1):
        node = f"scaleout{i}"
        var = run_dir / f"var-{node}"
        var.mkdir(parents=True, exist_ok=True)
        env = {**base_env, "VAR_DIR": str(var), "SCALEOUT_MAIL_DIR": str(mail_dir),
               "SCALEOUT_NODE": node}
        procs.append(CeleryProcess("worker", node, [
            "--concurrency", str(concurrency), "-n", f"{node}@%h", "-Q", f"{QUEUE},{node}"],
            env, run_dir))
    beat_procs = [CeleryProcess("beat", f"beat{i}", ["-s", str(run_dir / f"beat{i}-schedule")],
                                {**base_env, "VAR_DIR": str(run_dir / f"var-beat{i}"),
                                 "SWEEP_EVERY_SECONDS": str(beat_seconds)}, run_dir)
                  for i in range(1, beats + 1)]
    result: dict[str, Any] = {"label": label, "workers": workers, "concurrency": concurrency,
                              "pool_processes": workers * concurrency, "beats": beats,
                              "beat_seconds": beat_seconds}
    # Without the pump (the default), delivery runs on what production has: one wake-up per
    # committed sweep batch, beat's ticks, and a delivery task's own after a full batch.
    pump = Pump(redis_url, workers * concurrency if pump_wakeups else 0)
    result["pump"] = pump_wakeups
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_for(r"\bready\.")
        left = undelivered(url)
        if left:
            # The web phase's filings queued notifications (fraud and accounting reports go
            # to the audit committee): delivered first, untimed, and checked at the end.
            log(f"  delivering {left} notifications left from the web phase first (untimed)")
            drain = Pump(redis_url, workers * concurrency)
            drain.start()
            deadline = time.monotonic() + timeout
            while undelivered(url) and time.monotonic() < deadline:
                time.sleep(0.2)
            drain.stop()
            result["drained_before"] = left - undelivered(url)
        # Before the clock: the last run's garbage vacuumed, a checkpoint, beat started (its
        # start-up is not measured), the machine quiet. Then, just after one of beat's ticks
        # (so its next falls inside the run, not before t0), the deadlines are made overdue
        # and both sweeps sent.
        vacuum(url)
        sql(url, "CHECKPOINT", autocommit=True)
        for beat in beat_procs:
            beat.start()
        for beat in beat_procs:
            beat.wait_for(r"beat: Starting")
        quiet = wait_quiet(quiet_limit)
        ticks = _beat_ticks(beat_procs)
        tick_deadline = time.monotonic() + beat_seconds + 10
        while beat_procs and _beat_ticks(beat_procs) == ticks and time.monotonic() < tick_deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the tick's sweep finds nothing due and ends before the UPDATE
        before = marks(url)
        chosen = make_overdue(url, escalations)
        n = len(chosen["deadline_ids"])
        ticks_at_t0 = _beat_ticks(beat_procs)
        early = sql(url, "SELECT count(*) FROM escalation_escalation WHERE id > %s",
                    (before["escalation_id"],))[0][0]
        meter, backends = CpuMeter(), BackendCpu(dbname)
        cpu0 = [p.cpu() for p in procs]
        beat0 = sum(b.cpu() for b in beat_procs)
        self0 = time.process_time()
        meter.start()
        backends.start()
        t0 = time.monotonic()
        wall0 = time.time()
        # Two sweeps at the same instant: one to each worker's own queue (one worker: both
        # to it, where its pool runs them side by side).
        for i in (1, 2):
            sweep_deadlines.apply_async(queue=f"scaleout{min(i, workers)}")
        pump.start()
        timeline = []
        t_escalated = t_done = None
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM escalation_escalation WHERE id > %s), "
                    "(SELECT count(*) FROM escalation_notification WHERE email <> '' AND "
                    "delivered_at IS NULL), (SELECT count(*) FROM escalation_notification "
                    "WHERE id > %s AND email <> '' AND delivered_at IS NOT NULL)",
                    (before["escalation_id"], before["notification_id"])).fetchone()
                now = time.monotonic() - t0
                if not timeline or now - timeline[-1][0] >= 0.5:
                    timeline.append((round(now, 2), row[0], row[2]))
                if t_escalated is None and row[0] >= n:
                    t_escalated = now
                if t_escalated is not None and row[1] == 0:
                    t_done = now
                    break
                if now > timeout:
                    break
                time.sleep(0.05)
        pump.stop()
        backend_cpu = backends.stop()
        machine = meter.stop()
        cpu1 = [p.cpu() for p in procs]
        beat_cpu = sum(b.cpu() for b in beat_procs) - beat0
        self_cpu = time.process_time() - self0
    finally:
        pump.stop()
        for beat in beat_procs:
            beat.stop()
        for proc in procs:
            proc.stop()
    if pump.error:
        raise RuntimeError(f"the delivery pump failed: {pump.error}")
    timeline.append((round((t_done or timeout), 2), row[0], row[2]))
    check = check_run(url, before, chosen, mail_dir)
    if t_escalated is None or t_done is None:
        check["ok"] = False
        check["problems"].insert(0, f"not finished within {timeout:.0f} s: {row[0]} of {n} "
                                    f"escalated, {row[1]} notifications undelivered")
    nodes = {p.name: p.tasks() for p in procs}
    beat_lines = {"sent_before_t0": ticks_at_t0, "sent_in_all": _beat_ticks(beat_procs)}
    if early:
        check["problems"].append(f"{early} escalated before t0 (a beat tick came early): "
                                 "the rates are not valid, run again")
        check["ok"] = False
    celery_cpu = sum(b - a for a, b in zip(cpu0, cpu1, strict=True))
    delivered = check["delivery"]["delivered"]
    end = t_done or timeout
    first, last = check["delivery"]["first_at"], check["delivery"]["last_at"]
    busy = machine["machine_busy_cpu_s"]
    result.update({
        "escalations": n, "deadline_kinds": chosen["kinds"],
        "make_overdue_seconds": chosen["seconds"],
        "notifications_delivered": delivered,
        "seconds_to_escalate": round(t_escalated, 2) if t_escalated else None,
        "seconds_to_deliver_all": round(end, 2),
        "escalations_per_s": round(n / t_escalated, 1) if t_escalated else 0.0,
        "notifications_per_s": round(delivered / end, 1),
        "delivery_window_per_s": (round(delivered / max(last - first, 1e-3), 1)
                                  if first and last else 0.0),
        "first_delivery_after_s": round(first - wall0, 2) if first else None,
        "cpu_seconds": {
            "celery_workers": round(celery_cpu, 2),
            "celery_per_worker": [round(b - a, 2) for a, b in zip(cpu0, cpu1, strict=True)],
            "beat": round(beat_cpu, 2),
            "postgres_backends_of_this_db": round(backend_cpu, 2),
            "postgres_all": round(machine["postgres_cpu_s"], 2),
            "benchmark_process": round(self_cpu, 2),
            "machine_busy": round(busy, 2),
            "other": round(busy - celery_cpu - beat_cpu - machine["postgres_cpu_s"] - self_cpu,
                           2)},
        "cpu_ms_per_escalation_all_in": round(1000 * busy / max(n, 1), 3),
        "machine_busy_pct": round(machine["machine_busy_pct"], 1),
        "window_s": round(machine["window_s"], 2),
        "quiet_before": quiet, "wakeups_sent_by_benchmark": pump.sent,
        "beat_ticks_sent": beat_lines, "nodes": nodes, "timeline": timeline,
        "commands": [" ".join(p.command) for p in procs + beat_procs], "check": check,
    })
    per_node = ", ".join(
        f"{name}: {t['escalated']} escalated in {len(t['sweeps'])} sweeps, "
        f"{check['delivery']['by_node'].get(name, 0)} mails" for name, t in nodes.items())
    cpu = result["cpu_seconds"]
    log(f"  {label}: {n:,} escalated in {result['seconds_to_escalate']} s = "
        f"{result['escalations_per_s']:,.0f}/s; {delivered:,} notifications delivered, all done "
        f"at {result['seconds_to_deliver_all']} s = {result['notifications_per_s']:,.0f}/s; "
        f"CPU s celery {cpu['celery_workers']} pg {cpu['postgres_all']} beat {cpu['beat']} "
        f"other {cpu['other']}; machine {result['machine_busy_pct']:.0f}% busy; ({per_node}); "
        f"check {'ok' if check['ok'] else 'FAILED'}")
    for name, t in nodes.items():
        if t["trouble_count"]:
            log(f"  {name} logged {t['trouble_count']} warning/error lines, e.g. "
                f"{t['trouble_lines'][:2]}")
    if not check["ok"]:
        log(f"  CHECK FAILED: {check['problems']}")
    return result
