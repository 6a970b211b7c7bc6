"""Scale data for the benchmarks: a large company's directory and three years of its
complaints, loaded by COPY into a scratch PostgreSQL database.

    make services                       # PostgreSQL 15 and Redis on loopback
    .venv/bin/python bench/scale_data.py                      # 200,000 / 1,000,000 / 10,000,000
    .venv/bin/python bench/scale_data.py --people 10000 --complaints 50000 --events 500000
    .venv/bin/python bench/scale_data.py --keep               # reuse a matching database

Other benchmarks call ``ensure_scale_database()``, which reuses a loaded database whose
parameters and counts match or runs this script to make one, and returns its URL and what
was loaded (staff accounts, their password, receipt keys); one that writes works on a
``clone()``, so the loaded database stays as loaded. See bench/README.md ("Scale data").
The script drops and recreates its own scratch database (``bench_scale`` by default); it
never touches the app's own database. Results go to stdout and to
``bench/results/scale-data-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import heapq
import json
import multiprocessing as mp
import os
import platform
import queue
import random
import re
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from audit_bench import (  # noqa: E402 - bench/ is on the path only from here
    CpuMeter,
    background_load,
    db_url,
    git_revision,
    log,
    recreate_database,
)

DEFAULT_SERVER_URL = os.environ.get(
    "BENCH_SERVER_URL", "postgres://complaints:complaints@127.0.0.1:5432/complaints")
DEFAULT_DB = "bench_scale"
SIZES = {"people": 200_000, "complaints": 1_000_000, "events": 10_000_000}
DEFAULT_SEED = 1
# Bumped whenever the generated data changes shape, so --keep never reuses an older one.
GENERATOR_VERSION = 1
PASSWORD = "bench-password"  # noqa: S105 - every scratch account's, hashed once
SETTINGS = "config.settings.local"
HISTORY_DAYS = 3 * 365  # the app's RETENTION_DAYS: nothing is old enough to be purged yet
# The sweep last ran this long before the data's "now" (an outage, a deploy): the deadlines
# that fell due since are overdue and open, as the next sweep will find them.
SWEEP_LAG_HOURS = 6
RECEIPT_KEYS = 50  # anonymous complaints whose receipt key is known (Argon2: 0.14 s each)
RECEIPT_KEY_DAYS = 60  # ... filed in the last this many days
NAME_PATTERN = re.compile(r"bench_scale(_[a-z0-9_]+)?")

# Tables the load writes. Their foreign keys (and with --indexes rebuild, their secondary
# indexes and unique constraints) are dropped for the load and recreated from the exact
# definitions PostgreSQL reports, then the whole schema is compared with its snapshot.
LOADED_TABLES = (
    "auth_user", "auth_user_groups", "complaints_person", "complaints_complaint",
    "complaints_subject", "complaints_witness", "complaints_conflict",
    "complaints_investigation", "complaints_interview", "complaints_evidenceitem",
    "complaints_casenote", "complaints_message", "escalation_deadline",
    "escalation_escalation", "escalation_notification", "audit_auditevent",
)


# --- What a loaded database is ----------------------------------------------------------------

@dataclass(frozen=True)
class ScaleDatabase:
    """A loaded scale database: where it is and what is in it (its metadata, stored as the
    database's comment)."""

    name: str
    url: str
    metadata: dict[str, Any]

    @property
    def password(self) -> str:
        return self.metadata["password"]

    @property
    def staff(self) -> list[dict[str, Any]]:
        """``{"username", "role", "user_id", "person_id"}`` for every staff account."""
        return self.metadata["staff"]

    @property
    def receipt_keys(self) -> list[list[str]]:
        """``[reference, receipt_key]`` pairs of anonymous complaints that open."""
        return self.metadata["receipt_keys"]

    @property
    def now(self) -> datetime:
        """The moment the data stands at (cases were simulated up to it)."""
        return datetime.fromisoformat(self.metadata["now"])

    def clone(self, server_url: str, name: str) -> str:
        """A disposable copy of the loaded database (file copy, no reload), for a benchmark
        that writes to it; returns its URL. The copy is dropped first if it exists."""
        import psycopg
        from psycopg import sql as pgsql

        if not NAME_PATTERN.fullmatch(name) or name == self.name:
            raise ValueError(f"refusing clone name {name!r}: bench_scale_<suffix> only")
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                pgsql.Identifier(name)))
            # FILE_COPY: PostgreSQL 15's default (WAL_LOG) would write the whole copy to WAL.
            conn.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                pgsql.Identifier(name), pgsql.Identifier(self.name)))
        return db_url(server_url, name)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for the app (gunicorn, manage.py) against this database, with the
        settings whose field key encrypted it."""
        env = dict(os.environ if base is None else base)
        env.update({"DATABASE_URL": self.url, "DJANGO_SETTINGS_MODULE": self.metadata["settings"]})
        return env


def params_of(people: int, complaints: int, events: int, seed: int,
              sweep_lag_hours: int = SWEEP_LAG_HOURS) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "people": people, "complaints": complaints,
            "events": events, "seed": seed, "sweep_lag_hours": sweep_lag_hours}


def read_metadata(server_url: str, name: str) -> dict[str, Any] | None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s", (name,)).fetchone()
    if row is None or not row[0]:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def matching(server_url: str, name: str, params: dict[str, int]) -> ScaleDatabase | None:
    """The database, if it was loaded completely with these parameters and its counts are
    still those it was loaded with."""
    import psycopg

    meta = read_metadata(server_url, name)
    if not meta or not meta.get("complete") or meta.get("params") != params:
        return None
    url = db_url(server_url, name)
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT (SELECT count(*) FROM complaints_person), "
            "(SELECT count(*) FROM complaints_complaint), "
            "(SELECT seq FROM audit_chainhead WHERE id = 1), "
            "(SELECT hash FROM audit_chainhead WHERE id = 1)").fetchone()
    counts = meta["counts"]
    if tuple(found) != (counts["people"], counts["complaints"], counts["events"],
                        meta["chain_head_hash"]):
        return None
    return ScaleDatabase(name=name, url=url, metadata=meta)


def ensure_scale_database(*, server_url: str = DEFAULT_SERVER_URL, db: str = DEFAULT_DB,
                          people: int = SIZES["people"], complaints: int = SIZES["complaints"],
                          events: int = SIZES["events"], seed: int = DEFAULT_SEED,
                          sweep_lag_hours: int = SWEEP_LAG_HOURS,
                          reuse: bool = True) -> ScaleDatabase:
    """A loaded scale database with these parameters: the existing one when it matches
    (``reuse``), otherwise made now by running this script (minutes at full size)."""
    params = params_of(people, complaints, events, seed, sweep_lag_hours)
    if reuse and (found := matching(server_url, db, params)):
        return found
    command = [PY, str(Path(__file__).resolve()), "--server-url", server_url, "--db", db,
               "--people", str(people), "--complaints", str(complaints),
               "--events", str(events), "--seed", str(seed),
               "--sweep-lag-hours", str(sweep_lag_hours)]
    if reuse:
        command.append("--keep")
    subprocess.run(command, cwd=ROOT, check=True)
    found = matching(server_url, db, params)
    if found is None:
        raise RuntimeError(f"{db} is not a complete scale database after loading it")
    return found


# --- Small helpers ----------------------------------------------------------------------------

def vm_hwm_mb(field: str = "VmHWM") -> float:
    """This process's own peak resident memory (VmHWM: not ru_maxrss, which a child
    inherits from its parent), or with ``field="VmRSS"`` its resident memory now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def vm_rss_mb() -> float:
    return vm_hwm_mb("VmRSS")


def sql(url: str, statement: str, params: Any = None, *, autocommit: bool = False) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=autocommit) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


class Phases:
    """Wall time of each phase of the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._name = ""
        self._started = 0.0

    def start(self, name: str, message: str) -> None:
        self.stop()
        log(message)
        self._name, self._started = name, time.perf_counter()

    def stop(self) -> None:
        if self._name:
            took = time.perf_counter() - self._started
            self.seconds[self._name] = round(took, 1)
            log(f"  ({self._name}: {took:.1f} s)")
            self._name = ""


# --- Schema around the load -------------------------------------------------------------------

SNAPSHOT_SQL = """
SELECT 'constraint', c.conrelid::regclass::text, c.conname,
       c.contype::text || ' ' || pg_get_constraintdef(c.oid) || ' valid=' || c.convalidated
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE n.nspname = 'public'
UNION ALL
SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t WHERE NOT tgisinternal
ORDER BY 1, 2, 3
"""


def schema_snapshot(url: str) -> list[tuple[str, str, str, str]]:
    return [tuple(row) for row in sql(url, SNAPSHOT_SQL)]


def drop_for_load(url: str, rebuild_indexes: bool) -> dict[str, list[str]]:
    """Drop the loaded tables' foreign keys (and, with ``rebuild_indexes``, their unique
    constraints and secondary indexes; primary keys stay). Returns the statements that
    recreate them, from PostgreSQL's own definitions."""
    import psycopg

    tables = list(LOADED_TABLES)
    with psycopg.connect(url) as conn:
        fks = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) "
            "ORDER BY 1, 2", (tables,)).fetchall()
        uniques = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s) "
            "ORDER BY 1, 2", (tables,)).fetchall() if rebuild_indexes else []
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i WHERE i.indrelid::regclass::text = ANY(%s) "
            "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = i.indexrelid) ORDER BY 1", (tables,)).fetchall() \
            if rebuild_indexes else []
        for table, name, _ in fks:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for table, name, _ in uniques:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
    return {
        "indexes": [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                    for table, name, definition in uniques]
        + [definition for _, definition in indexes],
        "foreign_keys": [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                         for table, name, definition in fks],
    }


def restore_after_load(url: str, statements: dict[str, list[str]]) -> dict[str, float]:
    """Recreate what ``drop_for_load`` dropped: indexes two at a time (one per core), then
    the foreign keys one by one (each validated against the loaded rows)."""
    import psycopg

    local = threading.local()
    connections: list[Any] = []

    def run(statement: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url, autocommit=True)
            connections.append(conn)
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute(statement)

    timings = {}
    started = time.perf_counter()
    # The biggest builds first, so the two workers finish together.
    ordered = sorted(statements["indexes"], key=lambda s: ("audit_" not in s,
                                                          "conflict" not in s))
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(run, ordered))
        timings["indexes"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for statement in statements["foreign_keys"]:
            run(statement)
        timings["foreign_keys"] = round(time.perf_counter() - started, 1)
    finally:
        for conn in connections:
            conn.close()
    return timings


# --- The directory: groups, accounts, people --------------------------------------------------

def load_directory(url: str, org: Any, now: int, first: int, hashed: str) -> dict[str, int]:
    """The five role groups, one account per person (the staff's in their roles), and the
    directory itself, by COPY. Every account's password hash is ``hashed`` (PASSWORD's)."""
    import psycopg
    from scale_org import DAY, iso

    from complaints import access

    joined = iso(first - 30 * DAY)
    updated = iso(now)
    staff_count = len(org.staff)
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        group_ids = {}
        for role in access.ALL_ROLES:
            group_ids[role] = conn.execute("INSERT INTO auth_group (name) VALUES (%s) "
                                           "RETURNING id", (role,)).fetchone()[0]
        # As seed_demo does: compliance officers edit the SLA policies, in the admin.
        conn.execute(
            "INSERT INTO auth_group_permissions (group_id, permission_id) SELECT %s, p.id "
            "FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id "
            "WHERE ct.app_label = 'escalation' AND ct.model = 'slapolicy'",
            (group_ids[access.COMPLIANCE_OFFICER],))
        with conn.cursor() as cursor:
            with cursor.copy("COPY auth_user (id, password, last_login, is_superuser, username, "
                             "first_name, last_name, email, is_staff, is_active, date_joined) "
                             "FROM STDIN") as copy:
                lines = []
                for member in org.staff:
                    first_name, last_name = org.name(member.person_id).split(" ", 1)
                    is_staff = "t" if member.role == access.COMPLIANCE_OFFICER else "f"
                    lines.append(f"{member.user_id}\t{hashed}\t\\N\tf\t{member.username}\t"
                                 f"{first_name}\t{last_name}\t{member.username}@example.com\t"
                                 f"{is_staff}\tt\t{joined}\n")
                for person in range(1, org.size + 1):
                    if person in org.user_of:
                        continue
                    first_name, last_name = org.name(person).split(" ", 1)
                    username = f"e{person:07d}"
                    lines.append(f"{staff_count + person}\t{hashed}\t\\N\tf\t{username}\t"
                                 f"{first_name}\t{last_name}\t{username}@example.com\tf\tt\t"
                                 f"{joined}\n")
                    if len(lines) >= 20_000:
                        copy.write("".join(lines))
                        lines.clear()
                copy.write("".join(lines))
            with cursor.copy("COPY auth_user_groups (id, user_id, group_id) FROM STDIN") as copy:
                copy.write("".join(f"{m.user_id}\t{m.user_id}\t{group_ids[m.role]}\n"
                                   for m in org.staff))
            with cursor.copy("COPY complaints_person (id, employee_id, name, email, department, "
                             "updated_at, manager_id, user_id) FROM STDIN") as copy:
                lines = []
                for person in range(1, org.size + 1):
                    manager = org.manager[person] or "\\N"
                    lines.append(f"{person}\tE{person:07d}\t{org.name(person)}\t"
                                 f"{org.email(person)}\t{org.department[person]}\t{updated}\t"
                                 f"{manager}\t{org.user_id(person)}\n")
                    if len(lines) >= 20_000:
                        copy.write("".join(lines))
                        lines.clear()
                copy.write("".join(lines))
    return {"groups": len(group_ids), "users": org.size, "user_groups": staff_count,
            "people": org.size}


# --- The cases --------------------------------------------------------------------------------

_WORLD: dict[str, Any] = {}  # the model, shared with the forked first-pass workers


def _filing(index: int) -> list[int]:
    """The filing instants of the ``index``-th day of the window (its own random stream)."""
    from scale_model import filing_times

    w = _WORLD
    day = w["first_day"] + index
    return filing_times(day, w["per_day"][index], random.Random(f"day:{w['seed']}:{day}"),
                        w["first"], w["now"])


SHARDS = 2  # part of the data's definition: ids are strided by shard
SAMPLE_EVERY = 10  # the sample pass simulates every tenth complaint of a shard ...
EXACT_TAIL = 10_000  # ... and each of its last ones


class ReadShares:
    """Gives each case of a shard its reads as it is simulated, in proportion to its read
    weight, so that the shard ends with exactly ``budget`` events.

    The events and weights still to come are estimated from the shard's sample (each
    sampled complaint stands for SAMPLE_EVERY, in the tail for itself), and the rate is set
    again for every case, so estimation errors are spread thinly over the cases that follow
    instead of piling up at the end; the tail is sampled completely, so the last cases land
    on the budget exactly.
    """

    def __init__(self, budget: int, sample: list[tuple[int, int, int]], cases: int,
                 tail_from: int) -> None:
        self.budget, self.last = budget, cases - 1
        self.indexes = [index for index, _, _ in sample]
        size = len(sample)
        self.events_after, self.weight_after = [0] * (size + 1), [0] * (size + 1)
        for i in range(size - 1, -1, -1):
            index, events, weight = sample[i]
            scale = 1 if index >= tail_from else SAMPLE_EVERY
            self.events_after[i] = self.events_after[i + 1] + events * scale
            self.weight_after[i] = self.weight_after[i + 1] + weight * scale
        self.position = 0
        self.done = self.lifecycle = self.reads = 0
        self.carry = 0.0

    def __call__(self, index: int, events: int, weight: int) -> int:
        while self.position < len(self.indexes) and self.indexes[self.position] <= index:
            self.position += 1
        remaining = self.budget - self.done - events - self.events_after[self.position]
        if index == self.last:
            reads = remaining
        else:
            rest_weight = self.weight_after[self.position]
            share = max(0.0, remaining * weight / max(1, weight + rest_weight)) + self.carry
            reads = int(share)
            self.carry = share - reads
        reads = max(0, reads)
        self.done += events + reads
        self.lifecycle += events
        self.reads += reads
        return reads


def _shard_filings(shard: int) -> Iterator[tuple[int, int, int]]:
    """(local index, complaint id, filing instant) of this shard's complaints, in filing
    order: complaint ``cid`` belongs to shard ``(cid - 1) % SHARDS``."""
    cid = 0
    for index in range(len(_WORLD["per_day"])):
        for t0 in _filing(index):
            cid += 1
            if (cid - 1) % SHARDS == shard:
                yield (cid - 1) // SHARDS, cid, t0


def _shard(shard: int, url: str, out: Any, inbox: Any) -> None:
    """One shard, in its own process: sample its complaints, learn its event budget, then
    simulate them all again, write their rows and send their events in time order."""
    try:
        gc.disable()  # the model makes no reference cycles; collection would only cost time
        from scale_copy import STREAMS, ShardEmitter, Streams, Tokens, merge

        w = _WORLD
        sim = w["sim"]
        cases = (w["complaints"] - shard + SHARDS - 1) // SHARDS
        tail_from = cases - EXACT_TAIL // SHARDS
        started = time.perf_counter()
        sample = []
        for index, cid, t0 in _shard_filings(shard):
            if index % SAMPLE_EVERY == 0 or index >= tail_from:
                case = sim.simulate(cid, t0)
                case.run = None
                sample.append((index, case.events, case.weight))
        scale = [1 if i >= tail_from else SAMPLE_EVERY for i, _, _ in sample]
        out.put(("estimate", sum(e * k for (_, e, _), k in zip(sample, scale, strict=True)),
                 sum(wt * k for (_, _, wt), k in zip(sample, scale, strict=True)),
                 len(sample), time.perf_counter() - started))
        budget, hashes = inbox.get()
        shares = ReadShares(budget, sample, cases, tail_from)
        del sample

        streams = Streams(url, [key for key in STREAMS if key != "audit"])
        emitter = ShardEmitter(streams, w["org"], Tokens(), w["seed"], w["now"], shard,
                               SHARDS, hashes, lambda batch: out.put(("ops", batch)))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()

        def simulated() -> Iterator[Any]:
            for index, cid, t0 in _shard_filings(shard):
                case = sim.simulate(cid, t0)
                sim.add_reads(case, shares(index, case.events, case.weight))
                yield case

        merge(emitter, simulated())
        generated = time.perf_counter() - started
        rss_end = vm_rss_mb()
        streams.finish()
        after = resource.getrusage(resource.RUSAGE_SELF)
        out.put(("done", {
            "rows": streams.rows, "events": emitter.events, "budget": budget,
            "lifecycle_events": shares.lifecycle, "reads": shares.reads,
            "landed_on_budget": shares.done == budget,
            "generating_seconds": round(generated, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "waiting_on_copy_writes_seconds": round(streams.write_seconds, 1),
            "cpu_user_seconds": round(after.ru_utime - usage.ru_utime, 1),
            "cpu_system_seconds": round(after.ru_stime - usage.ru_stime, 1),
            "peak_rss_mb": round(vm_hwm_mb(), 1), "rss_at_end_mb": round(rss_end, 1)}))
    except BaseException:
        out.put(("error", traceback.format_exc()))
        raise


class Shards:
    """The shard processes, and the queues between them and the chain (this process)."""

    def __init__(self, url: str) -> None:
        ctx = mp.get_context("fork")  # the model is built once and shared
        # Bounded: a shard that runs ahead of the chain waits instead of filling memory.
        self.out = [ctx.Queue(maxsize=24) for _ in range(SHARDS)]
        self.inbox = [ctx.Queue() for _ in range(SHARDS)]
        self.procs = [ctx.Process(target=_shard, args=(k, url, self.out[k], self.inbox[k]),
                                  name=f"scale-shard-{k}") for k in range(SHARDS)]
        self.stats: list[dict[str, Any]] = [{} for _ in range(SHARDS)]
        for proc in self.procs:
            proc.start()

    def get(self, shard: int) -> tuple[Any, ...]:
        while True:
            try:
                message = self.out[shard].get(timeout=5)
            except queue.Empty:
                if not self.procs[shard].is_alive():
                    raise RuntimeError(f"shard {shard} died (exit code "
                                       f"{self.procs[shard].exitcode})") from None
                continue
            if message[0] == "error":
                raise RuntimeError(f"shard {shard} failed:\n{message[1]}")
            return message

    def ops(self, shard: int) -> Iterator[tuple[int, int, int, list[tuple[str, ...]]]]:
        while True:
            message = self.get(shard)
            if message[0] == "done":
                self.stats[shard] = message[1]
                return
            yield from message[1]

    def stop(self) -> None:
        for proc in self.procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
                proc.join()


def receipt_key_pool(seed: int, complaints: int, per_day: list[int], count: int
                     ) -> list[int]:
    """Anonymous complaints of the last RECEIPT_KEY_DAYS days, spread evenly."""
    from scale_model import is_anonymous

    first_recent = sum(per_day[:-RECEIPT_KEY_DAYS]) + 1
    recent = [cid for cid in range(first_recent, complaints + 1) if is_anonymous(cid, seed)]
    if not recent or not count:
        return []
    step = max(1, len(recent) // count)
    return recent[::step][:count]


# --- Checks -----------------------------------------------------------------------------------

COUNT_TABLES = {
    "people": "complaints_person", "users": "auth_user", "complaints": "complaints_complaint",
    "subjects": "complaints_subject", "witnesses": "complaints_witness",
    "conflicts": "complaints_conflict", "deadlines": "escalation_deadline",
    "escalations": "escalation_escalation", "notifications": "escalation_notification",
    "investigations": "complaints_investigation", "interviews": "complaints_interview",
    "evidence": "complaints_evidenceitem", "case_notes": "complaints_casenote",
    "messages": "complaints_message", "events": "audit_auditevent",
}


def table_counts(url: str) -> dict[str, int]:
    query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})"
                                  for table in COUNT_TABLES.values())
    return dict(zip(COUNT_TABLES, sql(url, query)[0], strict=True))


def check_clocks(url: str, now: datetime) -> dict[str, Any]:
    """Every complaint runs exactly the clocks its state runs (STATE_KINDS), paused only
    while it waits on the reporter; and how many running deadlines are overdue."""
    from escalation.services.deadlines import PAUSED, STATE_KINDS

    rows = sql(url, """
        WITH k AS (
            SELECT c.state,
                   coalesce(string_agg(d.kind, ',' ORDER BY d.kind), '') AS kinds,
                   coalesce(string_agg(d.kind, ',' ORDER BY d.kind)
                            FILTER (WHERE d.paused_at IS NOT NULL), '') AS paused
            FROM complaints_complaint c
            LEFT JOIN escalation_deadline d ON d.complaint_id = c.id AND d.closed_at IS NULL
            GROUP BY c.id, c.state)
        SELECT state, kinds, paused, count(*) FROM k GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
    problems = []
    by_state: dict[str, int] = {}
    for state, kinds, paused, n in rows:
        by_state[state] = by_state.get(state, 0) + n
        if kinds != ",".join(sorted(STATE_KINDS[state])):
            problems.append(f"{n} {state} complaints run clocks [{kinds}]")
        if paused != ",".join(sorted(PAUSED.get(state, frozenset()))):
            problems.append(f"{n} {state} complaints have paused clocks [{paused}]")
    running, overdue, overdue_levels = sql(url, """
        SELECT count(*), count(*) FILTER (WHERE due_at <= %(now)s),
               count(DISTINCT level) FILTER (WHERE due_at <= %(now)s)
        FROM escalation_deadline WHERE closed_at IS NULL AND paused_at IS NULL""",
        {"now": now})[0]
    # Each open complaint's next_due_at is its running clocks' earliest due time.
    stale = sql(url, """
        SELECT count(*) FROM complaints_complaint c WHERE c.ended_at IS NULL
        AND c.next_due_at IS DISTINCT FROM (
          SELECT min(d.due_at) FROM escalation_deadline d WHERE d.complaint_id = c.id
          AND d.closed_at IS NULL AND d.paused_at IS NULL)""")[0][0]
    if stale:
        problems.append(f"{stale} open complaints' next_due_at is not their next deadline")
    return {"ok": not problems, "problems": problems, "running_deadlines": running,
            "overdue_at_now": overdue, "overdue_levels": overdue_levels,
            "stale_next_due": stale}


def check_conflicts(url: str, sample: int, seed: int) -> dict[str, Any]:
    """The conflict rows of a sample of complaints are exactly what the app's own
    ``directory_conflicts`` derives from the directory (complaints/conflicts.py)."""
    from complaints.services.conflicts import directory_conflicts

    total = sql(url, "SELECT max(id) FROM complaints_complaint")[0][0]
    ids = sorted(random.Random(seed).sample(range(1, total + 1), min(sample, total)))
    wanted = directory_conflicts(ids)
    have: dict[int, dict[int, str]] = {cid: {} for cid in ids}
    for cid, person, source in sql(url, "SELECT complaint_id, person_id, source FROM "
                                        "complaints_conflict WHERE complaint_id = ANY(%s)",
                                   (ids,)):
        have[cid][person] = source
    wrong = [cid for cid in ids if have[cid] != wanted[cid]]
    return {"ok": not wrong, "sampled": len(ids), "wrong": wrong[:10]}


def check_no_conflicted_actor(url: str, staff_ids: list[int]) -> dict[str, Any]:
    """No member of staff ever acts on, or opens, a case they are conflicted on: no event in
    the log names a staff account as actor on a complaint that has a Conflict row for that
    account's directory person."""
    # From the staff's own conflict rows to each case's events (audit_target_seq): a few
    # thousand index probes, not a join of the whole log.
    found = sql(url, """
        SELECT count(*) FROM complaints_person p
        JOIN complaints_conflict k ON k.person_id = p.id
        JOIN complaints_complaint c ON c.id = k.complaint_id
        JOIN audit_auditevent e ON e.target_type = 'complaint' AND e.target_id = c.reference
             AND e.actor_type = 'user' AND e.actor_id = p.user_id::text
        WHERE p.user_id = ANY(%s)""", (staff_ids,))[0][0]
    return {"ok": found == 0, "events_by_conflicted_staff": found}


def check_app_reads(sample: int, seed: int, keys: list[tuple[str, str]]) -> dict[str, Any]:
    """The app reads what was written: a sample of complaints and their encrypted rows
    through the ORM (every token decrypts under the app's field key), the password of a
    staff account and an employee account, and a published receipt key finds its case.
    Nothing is written."""
    from django.contrib.auth import get_user_model

    from complaints.models import CaseNote, Complaint, Investigation, Message, Subject
    from complaints.receipts import receipt_key_hash

    total = Complaint.objects.count()
    ids = random.Random(seed + 1).sample(range(1, total + 1), min(sample, total))
    read = 0
    for complaint in Complaint.objects.filter(pk__in=ids):
        read += bool(complaint.summary) + bool(complaint.narrative is not None)
    for model in (Subject, CaseNote, Message, Investigation):
        for row in model.objects.filter(complaint_id__in=ids):
            read += 1
            for field in row._meta.concrete_fields:
                getattr(row, field.attname)  # decrypted on load; a bad token raises there
    users = get_user_model().objects
    staff = users.filter(groups__isnull=False).order_by("pk").first()
    employee = users.filter(groups__isnull=True).order_by("pk").first()
    logins = {u.username: u.check_password(PASSWORD) for u in (staff, employee) if u}
    opened = None
    if keys:
        reference, key = next(iter(keys))
        opened = Complaint.objects.filter(
            receipt_key_hash=receipt_key_hash(key)).values_list("reference", flat=True).first()
        opened = opened == reference
    return {"ok": all(logins.values()) and len(logins) == 2 and opened is not False,
            "rows_read": read, "passwords": logins, "receipt_key_opens_its_case": opened}


def verify_chain(url: str, expected: int, head: str) -> dict[str, Any]:
    """``manage.py verify_audit --json`` on the loaded chain, with its wall time and its
    own peak memory (bench/peak_rss.py)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    started = time.perf_counter()
    done = subprocess.run([PY, str(BENCH / "peak_rss.py"), "manage.py", "verify_audit",
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak = re.findall(r"^PEAK_RSS_KB (\d+)$", done.stderr, re.M)
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"error": done.stdout[-500:] + done.stderr[-500:]}
    ok = (done.returncode == 0 and result.get("intact") is True
          and result.get("events") == expected and result.get("head_hash") == head)
    return {"ok": ok, "exit_code": done.returncode, "result": result,
            "wall_seconds": round(wall, 1), "events_per_s": round(expected / wall),
            "peak_rss_mb": round(int(peak[-1]) / 1024, 1) if peak else None}


def distributions(url: str) -> dict[str, Any]:
    """What the data looks like, for the README."""
    def pairs(query: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in sql(url, query)}

    out: dict[str, Any] = {
        "state": pairs("SELECT state, count(*) FROM complaints_complaint GROUP BY 1 "
                       "ORDER BY 2 DESC"),
        "escalation_level": pairs("SELECT escalation_level, count(*) FROM "
                                  "complaints_complaint GROUP BY 1 ORDER BY 1"),
        "category": pairs("SELECT category, count(*) FROM complaints_complaint GROUP BY 1 "
                          "ORDER BY 2 DESC"),
        "severity": pairs("SELECT severity, count(*) FROM complaints_complaint GROUP BY 1"),
        "anonymous": pairs("SELECT anonymous, count(*) FROM complaints_complaint GROUP BY 1"),
        "routed_to_compliance_at_filing": sql(
            url, "SELECT count(*) FROM audit_auditevent WHERE action = 'complaint.submitted' "
                 "AND payload LIKE '%%routed_to%%'")[0][0],
        "subjects_per_complaint": pairs(
            "SELECT n, count(*) FROM (SELECT count(*) AS n FROM complaints_subject "
            "GROUP BY complaint_id) s GROUP BY 1 ORDER BY 1"),
        "conflicts_per_complaint": float(sql(
            url, "SELECT round(count(*)::numeric / (SELECT count(*) FROM "
                 "complaints_complaint), 2) FROM complaints_conflict")[0][0]),
        "open_deadlines_by_kind": pairs(
            "SELECT kind || ' L' || level, count(*) FROM escalation_deadline "
            "WHERE closed_at IS NULL GROUP BY 1 ORDER BY 2 DESC"),
        "deadline_outcomes": pairs("SELECT coalesce(nullif(outcome, ''), 'open'), count(*) "
                                   "FROM escalation_deadline GROUP BY 1 ORDER BY 2 DESC"),
        "events_by_action": pairs("SELECT action, count(*) FROM audit_auditevent GROUP BY 1 "
                                  "ORDER BY 2 DESC"),
        "events_by_actor_type": pairs("SELECT actor_type, count(*) FROM audit_auditevent "
                                      "GROUP BY 1 ORDER BY 2 DESC"),
        "filed_per_year": pairs("SELECT extract(year FROM submitted_at)::int, count(*) FROM "
                                "complaints_complaint GROUP BY 1 ORDER BY 1"),
        "first_and_last_event": [str(x) for x, in sql(
            url, "SELECT occurred_at FROM audit_auditevent WHERE seq = 1 OR seq = "
                 "(SELECT seq FROM audit_chainhead WHERE id = 1) ORDER BY seq")],
    }
    return out


def sizes(url: str) -> dict[str, Any]:
    database = sql(url, "SELECT pg_database_size(current_database())")[0][0]
    tables = sql(url, """
        SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid), c.reltuples::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
        ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 12""")
    return {"database_mb": round(database / 2**20),
            "tables": {name: {"table_mb": round(t / 2**20), "indexes_mb": round(i / 2**20),
                              "rows": rows}
                       for name, t, i, rows in tables}}


# --- The run ----------------------------------------------------------------------------------

def load(args: argparse.Namespace, name: str, url: str, revision: dict[str, Any]
         ) -> dict[str, Any]:
    phases = Phases()
    phases.start("migrate", f"recreating scratch database {name}, migrating")
    recreate_database(args.server_url, name)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=dict(os.environ), check=True)

    import django

    django.setup()
    import scale_model as model
    import scale_org as world
    from django.conf import settings as django_settings
    from django.contrib.auth.hashers import make_password
    from scale_copy import Chain, Streams, check_text

    from complaints.receipts import receipt_key_hash

    phases.start("model", f"building the organisation ({args.people:,} people) and calendar")
    now_dt = datetime.now(UTC).replace(microsecond=0)
    now = world.to_us(now_dt)
    now_day = now // world.DAY
    first_day = now_day - HISTORY_DAYS + 1
    first = first_day * world.DAY
    model.check_templates()
    org = world.build_org(args.people, args.seed)
    clock = world.Clock(first, now)
    clock_errors = clock.self_check(random.Random(args.seed), first, now, 2000)
    if clock_errors:
        raise SystemExit(f"deadline arithmetic differs from escalation/calendar.py in "
                         f"{clock_errors} of 2000 samples")
    horizon = now - args.sweep_lag_hours * world.HOUR
    sim = model.Simulator(org, clock, args.seed, now, horizon)
    per_day = model.filing_days(first_day, now_day, args.complaints)
    # The beat entry audit-verify-chain (config/settings/base.py, hourly by default) records
    # one audit.chain_verified after each walk of the chain.
    every = int(django_settings.CELERY_BEAT_SCHEDULE["audit-verify-chain"]["schedule"])
    system_times = [t + (t // world.SECOND % 7_919) * 1_000 for t in range(
        first + every * world.SECOND, now + 1, every * world.SECOND)]
    _WORLD.update(sim=sim, per_day=per_day, first_day=first_day, first=first, now=now,
                  seed=args.seed, complaints=args.complaints)
    for text in (*world.DIVISIONS, *(m.username for m in org.staff), world.BOARD,
                 *world.FIRST, *world.LAST):
        check_text(text)

    pool_ids = receipt_key_pool(args.seed, args.complaints, per_day, args.receipt_keys)
    keys = {cid: model.receipt_key(cid, args.seed) for cid in pool_ids}
    _WORLD.update(org=org)
    # Argon2 here, never in the shards: the password hasher's memory cost (100 MiB) and
    # the receipt keys' (64 MiB) would otherwise be most of a shard's peak memory.
    password_hash = make_password(PASSWORD)

    phases.start("drop", "dropping foreign keys" + (" and secondary indexes"
                                                    if args.indexes == "rebuild" else "")
                 + " of the loaded tables for the load")
    before = schema_snapshot(url)
    restore = drop_for_load(url, args.indexes == "rebuild")

    from escalation_bench import BackendCpu

    phases.start("cases", f"{SHARDS} shards: sampling their complaints (while this process "
                 "loads the directory), then simulating them all, merging in time order, "
                 "hashing the chain, COPY into 13 tables")
    meter, backends = CpuMeter(), BackendCpu(name)
    meter.start()
    backends.start()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cases_started = time.perf_counter()
    shards = Shards(url)
    hasher = ThreadPoolExecutor(1)
    try:
        receipt_hashes = {cid: hasher.submit(receipt_key_hash, key) for cid, key in keys.items()}
        directory_started = time.perf_counter()
        directory = load_directory(url, org, now, first, password_hash)
        directory_seconds = time.perf_counter() - directory_started
        # Split the budget: each shard its own events plus its share of the reads.
        budget = args.events - len(system_times)
        estimates = [shards.get(k) for k in range(SHARDS)]
        lifecycle = sum(e[1] for e in estimates)
        weight = sum(e[2] for e in estimates)
        if lifecycle > 0.98 * budget:
            raise SystemExit(f"{args.complaints:,} complaints make about {lifecycle:,} events "
                             f"of their own (and there are {len(system_times)} scheduled "
                             "verifications): ask for more --events")
        budgets = [e[1] + (budget - lifecycle) * e[2] // weight for e in estimates]
        budgets[-1] += budget - sum(budgets)
        hashes = {cid: future.result() for cid, future in receipt_hashes.items()}
        for k in range(SHARDS):
            shards.inbox[k].put((budgets[k], {cid: h for cid, h in hashes.items()
                                              if (cid - 1) % SHARDS == k}))
        log(f"  directory loaded in {directory_seconds:.1f} s; sample of "
            f"{sum(e[3] for e in estimates):,} complaints in {max(e[4] for e in estimates):.1f}"
            f" s: about {lifecycle:,} lifecycle events, so about {budget - lifecycle:,} reads "
            f"and {len(system_times):,} scheduled chain verifications")
        chain_streams = Streams(url, ["audit"])
        chain = Chain(chain_streams)
        scheduled = ((t, -1, i, None) for i, t in enumerate(system_times))
        for t, _, _, events in heapq.merge(scheduled,
                                           *(shards.ops(k) for k in range(SHARDS))):
            if events is None:
                chain.chain_verified(t)
            else:
                chain.append(events)
        generated = time.perf_counter() - cases_started
        chain_rss_end = vm_rss_mb()
        chain_streams.finish()
    finally:
        shards.stop()
        hasher.shutdown()
    cases_seconds = time.perf_counter() - cases_started
    after_usage = resource.getrusage(resource.RUSAGE_SELF)
    chain_cpu = (after_usage.ru_utime - usage.ru_utime) + (after_usage.ru_stime
                                                           - usage.ru_stime)
    backend_cpu = backends.stop()
    cpu = meter.stop()
    shard_cpu = sum(st["cpu_user_seconds"] + st["cpu_system_seconds"] for st in shards.stats)
    log(f"  CPU: chain process {chain_cpu:.1f} s, shards {shard_cpu:.1f} s (second pass), "
        f"their PostgreSQL backends {backend_cpu:.1f} s, anything else "
        f"{cpu['machine_busy_cpu_s'] - chain_cpu - shard_cpu - backend_cpu:.1f} s; machine "
        f"{cpu['machine_busy_pct']:.0f}% busy")
    copied: dict[str, int] = {"audit": chain_streams.rows["audit"]}
    for st in shards.stats:
        for key, n in st["rows"].items():
            copied[key] = copied.get(key, 0) + n
    if chain.seq != args.events or not all(st["landed_on_budget"] for st in shards.stats):
        raise SystemExit(f"the chain has {chain.seq:,} events, not {args.events:,}: "
                         f"{shards.stats}")
    log(f"  {chain.seq:,} events ({sum(st['lifecycle_events'] for st in shards.stats):,} of "
        f"the lifecycle, {sum(st['reads'] for st in shards.stats):,} reads); chain waited "
        f"{chain_streams.write_seconds:.1f} s on COPY writes, shards "
        + ", ".join(f"{st['waiting_on_copy_writes_seconds']} s" for st in shards.stats))

    phases.start("restore", "recreating the dropped indexes and constraints, checking the "
                 "schema against its snapshot")
    restore_timings = restore_after_load(url, restore)
    after = schema_snapshot(url)
    if after != before:
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        raise SystemExit(f"schema differs after the load: missing {missing[:5]}, "
                         f"extra {extra[:5]}")
    for table in LOADED_TABLES:
        if table != "audit_auditevent":
            sql(url, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}")
    sql(url, "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1",
        (chain.seq, chain.prev))
    # The column the app keeps from the running clocks, which the COPY leaves empty.
    from escalation_bench import refresh_next_due
    refresh_next_due(url)

    phases.start("vacuum", "VACUUM (ANALYZE) and CHECKPOINT")
    sql(url, "VACUUM (ANALYZE)", autocommit=True)
    sql(url, "CHECKPOINT", autocommit=True)

    phases.start("checks", "checking counts, clocks and conflicts")
    counts = table_counts(url)
    expected = {
        "people": args.people, "users": args.people, "complaints": args.complaints,
        "events": args.events, "subjects": copied["subject"], "witnesses": copied["witness"],
        "conflicts": copied["conflict"], "deadlines": copied["deadline"],
        "escalations": copied["escalation"], "notifications": copied["notification"],
        "investigations": copied["investigation"], "interviews": copied["interview"],
        "evidence": copied["evidence"], "case_notes": copied["note"],
        "messages": copied["message"],
    }
    count_problems = [f"{k}: {counts[k]:,} in the database, {v:,} expected"
                      for k, v in expected.items() if counts[k] != v]
    clocks = check_clocks(url, now_dt)
    conflicts = check_conflicts(url, 2000, args.seed)
    app_reads = check_app_reads(1000, args.seed, [(model.reference(cid, args.seed), key)
                                                  for cid, key in keys.items()])
    unconflicted = check_no_conflicted_actor(url, [m.user_id for m in org.staff])

    phases.start("verify", "manage.py verify_audit --json over the whole chain")
    verified = verify_chain(url, args.events, chain.prev)
    phases.stop()

    ok = (not count_problems and clocks["ok"] and conflicts["ok"] and app_reads["ok"]
          and unconflicted["ok"] and verified["ok"])
    load_seconds = sum(v for k, v in phases.seconds.items() if k not in ("checks", "verify"))
    rows_loaded = sum(copied.values()) + sum(directory.values())
    staff = [{"username": m.username, "role": m.role, "user_id": m.user_id,
              "person_id": m.person_id} for m in org.staff]
    report: dict[str, Any] = {
        "ok": ok, "params": params_of(args.people, args.complaints, args.events, args.seed,
                             args.sweep_lag_hours),
        "now": now_dt.isoformat(), "indexes": args.indexes,
        "phases_seconds": phases.seconds, "load_seconds": round(load_seconds, 1),
        "cases_pass": {"seconds": round(cases_seconds, 1),
                       "until_last_event_seconds": round(generated, 1),
                       "directory_seconds": round(directory_seconds, 1),
                       "chain_waiting_on_copy_writes_seconds": round(
                           chain_streams.write_seconds, 1),
                       "events_per_s": round(chain.seq / cases_seconds),
                       "chain_cpu_seconds": round(chain_cpu, 1),
                       "shards_cpu_seconds": round(shard_cpu, 1),
                       "backends_cpu_seconds": round(backend_cpu, 1),
                       "other_cpu_seconds": round(cpu["machine_busy_cpu_s"] - chain_cpu
                                                  - shard_cpu - backend_cpu, 1),
                       "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
                       "rows_per_s": round(sum(copied.values()) / cases_seconds)},
        "restore_seconds": restore_timings,
        "rows": {"directory": directory, "copied": copied, "total": rows_loaded},
        "shards": shards.stats, "budgets": budgets,
        "sample": {"complaints": sum(e[3] for e in estimates),
                   "estimated_lifecycle_events": lifecycle,
                   "seconds": round(max(e[4] for e in estimates), 1)},
        "lifecycle_events": sum(st["lifecycle_events"] for st in shards.stats),
        "reads": sum(st["reads"] for st in shards.stats),
        "scheduled_chain_verifications": len(system_times),
        "peak_rss_mb": {"chain_process": round(vm_hwm_mb(), 1),
                        "chain_process_at_end": round(chain_rss_end, 1),
                        "shards": [st["peak_rss_mb"] for st in shards.stats],
                        "shards_at_end": [st["rss_at_end_mb"] for st in shards.stats]},
        "counts": counts, "count_problems": count_problems, "clocks": clocks,
        "conflicts": conflicts, "app_reads": app_reads,
        "no_conflicted_actor": unconflicted, "verify_audit": verified,
        "org": org.stats, "sizes": sizes(url), "distributions": distributions(url),
        "receipt_key_pool": len(keys),
        "app_revision": revision,
    }
    if ok:
        metadata = {
            "complete": True, "params": report["params"], "now": report["now"],
            "settings": os.environ["DJANGO_SETTINGS_MODULE"],
            "field_key_fingerprint": field_key_fingerprint(),
            "password": PASSWORD, "staff": staff,
            "receipt_keys": [[model.reference(cid, args.seed), key] for cid, key in keys.items()],
            "counts": {"people": counts["people"], "complaints": counts["complaints"],
                       "events": counts["events"]},
            "chain_head_hash": chain.prev, "loaded_at": datetime.now(UTC).isoformat(),
        }
        set_metadata(args.server_url, name, metadata)
    return report


def field_key_fingerprint() -> str:
    from django.conf import settings

    return hashlib.sha256(settings.FIELD_ENCRYPTION_KEYS[0].encode()).hexdigest()[:16]


def set_metadata(server_url: str, name: str, metadata: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql as pgsql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("COMMENT ON DATABASE {} IS {}").format(
            pgsql.Identifier(name), pgsql.Literal(json.dumps(metadata))))


def print_summary(report: dict[str, Any]) -> None:
    params, counts = report["params"], report["counts"]
    print()
    print(f"scale data: {params['people']:,} people, {params['complaints']:,} complaints, "
          f"{params['events']:,} events (seed {params['seed']}); data as of {report['now']}")
    print("phase                 seconds")
    for phase, seconds in report["phases_seconds"].items():
        print(f"  {phase:<20}{seconds:>7.1f}")
    print(f"  {'load, in all':<20}{report['load_seconds']:>7.1f}  (without checks and verify)")
    cases = report["cases_pass"]
    print(f"cases pass: {cases['events_per_s']:,} events/s, {cases['rows_per_s']:,} rows/s "
          f"of the other tables; {report['rows']['total']:,} rows loaded in all; CPU: chain "
          f"{cases['chain_cpu_seconds']} s, shards {cases['shards_cpu_seconds']} s, their "
          f"backends {cases['backends_cpu_seconds']} s, anything else "
          f"{cases['other_cpu_seconds']} s")
    rss = report["peak_rss_mb"]
    print(f"peak RSS (VmHWM): chain process {rss['chain_process']} MB (Argon2 hashing included),"
          f" shards " + ", ".join(f"{mb} MB" for mb in rss["shards"])
          + f"; RSS at the end of the case pass: chain {rss['chain_process_at_end']} MB, shards "
          + ", ".join(f"{mb} MB" for mb in rss["shards_at_end"]))
    size = report["sizes"]
    print(f"database: {size['database_mb']:,} MB")
    for table, info in size["tables"].items():
        print(f"  {table:<28}{info['rows']:>12,} rows {info['table_mb']:>7,} MB "
              f"+ {info['indexes_mb']:>6,} MB indexes")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    dist = report["distributions"]
    print("states: " + ", ".join(f"{k} {v:,}" for k, v in dist["state"].items()))
    print("escalation levels: " + ", ".join(f"{k}: {v:,}" for k, v in
                                            dist["escalation_level"].items()))
    clocks = report["clocks"]
    print(f"running deadlines {clocks['running_deadlines']:,}, overdue now "
          f"{clocks['overdue_at_now']:,}; clocks per state "
          + ("consistent" if clocks["ok"] else f"WRONG: {clocks['problems'][:3]}"))
    conflicts = report["conflicts"]
    print(f"conflict rows of {conflicts['sampled']:,} sampled complaints match the app's "
          f"directory_conflicts: " + ("yes" if conflicts["ok"] else
                                      f"NO: {conflicts['wrong']}"))
    unconflicted = report["no_conflicted_actor"]
    print(f"events by staff on cases they are conflicted on: "
          f"{unconflicted['events_by_conflicted_staff']:,}"
          + ("" if unconflicted["ok"] else "  WRONG"))
    app_reads = report["app_reads"]
    print(f"the app reads it: {app_reads['rows_read']:,} rows decrypted through the ORM, "
          f"passwords {app_reads['passwords']}, a receipt key opens its case: "
          f"{app_reads['receipt_key_opens_its_case']}: " + ("yes" if app_reads["ok"] else "NO"))
    verified = report["verify_audit"]
    print(f"manage.py verify_audit: {verified['result']} in {verified['wall_seconds']} s "
          f"({verified['events_per_s']:,} events/s, peak RSS {verified['peak_rss_mb']} MB): "
          + ("INTACT" if verified["ok"] else "FAILED"))
    if report["count_problems"]:
        print("COUNTS WRONG: " + "; ".join(report["count_problems"]))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL,
                        help="any database on the server, used only for CREATE/DROP DATABASE")
    parser.add_argument("--db", default=DEFAULT_DB,
                        help="scratch database: bench_scale or bench_scale_<suffix>")
    parser.add_argument("--people", type=int, default=SIZES["people"])
    parser.add_argument("--complaints", type=int, default=SIZES["complaints"])
    parser.add_argument("--events", type=int, default=SIZES["events"])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--sweep-lag-hours", type=int, default=SWEEP_LAG_HOURS,
                        help="the sweep last ran this long before the data's moment, so the "
                             "deadlines due since are overdue (default %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the database if it was loaded with these parameters and "
                             "its counts still match")
    parser.add_argument("--indexes", choices=("rebuild", "keep"), default="rebuild",
                        help="drop the loaded tables' secondary indexes for the load and "
                             "rebuild them (default), or load into them")
    parser.add_argument("--receipt-keys", type=int, default=RECEIPT_KEYS,
                        help="anonymous complaints whose receipt key is known")
    args = parser.parse_args()
    name = args.db
    if not NAME_PATTERN.fullmatch(name):
        raise SystemExit(f"refusing database {name!r}: scratch databases are bench_scale or "
                         "bench_scale_<suffix>")
    if args.people < 1000 or args.complaints < 1:
        raise SystemExit("need at least 1,000 people and one complaint")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    os.environ.setdefault("DJANGO_DEBUG", "false")
    url = db_url(args.server_url, name)
    os.environ["DATABASE_URL"] = url
    params = params_of(args.people, args.complaints, args.events, args.seed,
                             args.sweep_lag_hours)
    if args.keep and (found := matching(args.server_url, name, params)):
        meta = found.metadata
        log(f"{name} already holds this data (loaded {meta['loaded_at']}, as of "
            f"{meta['now']}; {meta['counts']}): kept")
        return
    background = background_load()
    revision = git_revision()
    started = time.perf_counter()
    report = load(args, name, url, revision)
    report["run_seconds"] = round(time.perf_counter() - started, 1)
    report["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["background_busy_pct"] = {"before": round(background, 1),
                                     "after": round(background_load(), 1)}
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "platform": platform.platform(),
                         "postgresql": sql(url, "SHOW server_version")[0][0]}
    print_summary(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scale-data-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(ROOT)}  (run took {report['run_seconds']} s)")
    if not report["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
