"""The SQL that keeps complaints and their parts from being deleted (migration 0014).

A complaint row is never deleted, nor its investigation: the retention purge keeps both
and blanks their text. Its other parts (subjects, witnesses, notes, messages, attachments,
conflicts, interviews, evidence) are deleted only by the purge: a DELETE trigger refuses
one unless the complaint holds a purge permit. Conflicts included: they only grow (a
removal approved by two people marks the row, ``removed_at``), so a deleted conflict row
could only be someone hiding a case from its rules.

On PostgreSQL a permit comes only from ``complaint_purge_permit(complaint_id)``, a
SECURITY DEFINER function owned by the migrating role. It checks on the log, not on the
complaint row the application may update, that the case ended (closed, dismissed,
withdrawn) at least 365 days ago, the least retention the product allows, proved by a
signed checkpoint (migration 0015, below), and writes to ``complaints_purgepermit``, a
table the application's role may only read (``manage.py audit_db_roles``). TRUNCATE is
refused on every guarded table. Getting past this needs the owner's or a superuser's
rights, as for the audit log.

On SQLite there are no roles: the purge writes its permits itself, in its transaction, and
the triggers guard against the application's own mistakes (a stray ``delete()``, a
cascade), not against someone who can run SQL on the file.
"""

from __future__ import annotations

COMPLAINT = "complaints_complaint"
INVESTIGATION = "complaints_investigation"
PERMIT = "complaints_purgepermit"
CONFLICT = "complaints_conflict"
# Parts that point at their complaint, and those that point at its investigation.
BY_COMPLAINT = ("complaints_subject", "complaints_witness", "complaints_casenote",
                "complaints_message", "complaints_attachment", CONFLICT)
BY_INVESTIGATION = ("complaints_interview", "complaints_evidenceitem")
NEVER_DELETED = (COMPLAINT, INVESTIGATION)
GUARDED = (*NEVER_DELETED, *BY_COMPLAINT, *BY_INVESTIGATION)
# The least retention the product allows: a permit is never given sooner after the end.
RETENTION_FLOOR_DAYS = 365
ENDED_STATES = ("closed", "dismissed", "withdrawn")

NEVER_MESSAGE = "complaints are never deleted"
PART_MESSAGE = "complaint parts are deleted only by the retention purge"
_ENDED = ", ".join(f"'{state}'" for state in ENDED_STATES)
_INVESTIGATION_COMPLAINT = f"(SELECT complaint_id FROM {INVESTIGATION} WHERE id = OLD.investigation_id)"  # noqa: S608, E501


def _sqlite() -> list[str]:
    def permitted(complaint: str) -> str:
        return f"EXISTS (SELECT 1 FROM {PERMIT} WHERE complaint_id = {complaint})"  # noqa: S608

    def refuse(name: str, table: str, when: str, message: str) -> str:
        condition = f"WHEN {when} " if when else ""
        return (f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE DELETE ON {table} {condition}"
                f"BEGIN SELECT RAISE(ABORT, '{message}: DELETE refused'); END")

    out = [refuse(f"{table}_never_deleted", table, "", NEVER_MESSAGE)
           for table in NEVER_DELETED]
    out += [refuse(f"{table}_purge_only", table, f"NOT {permitted('OLD.complaint_id')}",
                   PART_MESSAGE) for table in BY_COMPLAINT]
    out += [refuse(f"{table}_purge_only", table, f"NOT {permitted(_INVESTIGATION_COMPLAINT)}",
                   PART_MESSAGE) for table in BY_INVESTIGATION]
    return out


# Migration 0014's permit, which trusted the row; replaced by _PERMIT_FROM_LOG (0015).
_PERMIT_FROM_ROW = f"""
    CREATE OR REPLACE FUNCTION complaint_purge_permit(p_complaint_id bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        PERFORM 1 FROM {COMPLAINT} AS c WHERE c.id = p_complaint_id
            AND c.state IN ({_ENDED})
            AND c.ended_at <= pg_catalog.now() - interval '{RETENTION_FLOOR_DAYS} days';
        IF NOT FOUND THEN
            RAISE EXCEPTION USING MESSAGE = 'complaint ' || p_complaint_id
                || ' may not be purged: it did not end {RETENTION_FLOOR_DAYS} days ago',
                ERRCODE = 'insufficient_privilege';
        END IF;
        INSERT INTO {PERMIT} (complaint_id, permitted_at)
            VALUES (p_complaint_id, pg_catalog.now())
            ON CONFLICT (complaint_id) DO NOTHING;
    END
    $$
    """  # noqa: S608

_PG_FUNCTIONS = [
    f"""
    CREATE OR REPLACE FUNCTION complaint_refuse_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING MESSAGE = '{NEVER_MESSAGE}: ' || TG_OP || ' on '
            || TG_TABLE_NAME || ' refused', ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    # SECURITY DEFINER: the check runs as the owner, whatever the caller's rights.
    f"""
    CREATE OR REPLACE FUNCTION complaint_part_delete_guard() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        v_complaint bigint;
    BEGIN
        IF TG_ARGV[0] = 'investigation' THEN
            SELECT i.complaint_id INTO v_complaint FROM {INVESTIGATION} AS i
                WHERE i.id = OLD.investigation_id;
        ELSE
            v_complaint := OLD.complaint_id;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM {PERMIT} AS p WHERE p.complaint_id = v_complaint) THEN
            RAISE EXCEPTION USING MESSAGE = '{PART_MESSAGE}: DELETE on ' || TG_TABLE_NAME
                || ' refused', ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END
    $$
    """,  # noqa: S608
    _PERMIT_FROM_ROW,
    # Nobody but the owner may write permits: not even through the public grant.
    f"REVOKE ALL ON {PERMIT} FROM PUBLIC",
]


def _postgresql() -> list[str]:
    out = list(_PG_FUNCTIONS)
    for table in NEVER_DELETED:
        out.append(f"CREATE OR REPLACE TRIGGER {table}_never_deleted BEFORE DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION complaint_refuse_delete()")
    kinds = ([(table, "complaint") for table in BY_COMPLAINT]
             + [(table, "investigation") for table in BY_INVESTIGATION])
    for table, kind in kinds:
        out.append(f"CREATE OR REPLACE TRIGGER {table}_purge_only BEFORE DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION complaint_part_delete_guard('{kind}')")
    for table in GUARDED:
        out.append(f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION complaint_refuse_delete()")
    return out


UP = {"sqlite": _sqlite(), "postgresql": _postgresql()}
DOWN = {
    "sqlite": [f"DROP TRIGGER IF EXISTS {table}_never_deleted" for table in NEVER_DELETED]
    + [f"DROP TRIGGER IF EXISTS {table}_purge_only"
       for table in (*BY_COMPLAINT, *BY_INVESTIGATION)],
    "postgresql": [f"DROP TRIGGER IF EXISTS {table}_never_deleted ON {table}"
                   for table in NEVER_DELETED]
    + [f"DROP TRIGGER IF EXISTS {table}_purge_only ON {table}"
       for table in (*BY_COMPLAINT, *BY_INVESTIGATION)]
    + [f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}" for table in GUARDED]
    + ["DROP FUNCTION IF EXISTS complaint_purge_permit(bigint)",
       "DROP FUNCTION IF EXISTS complaint_part_delete_guard()",
       "DROP FUNCTION IF EXISTS complaint_refuse_delete()"],
}


def statements(direction: dict[str, list[str]], vendor: str) -> list[str]:
    if vendor not in direction:
        raise RuntimeError(f"no delete guard for {vendor}: complaints must not run unprotected")
    return direction[vendor]


# --- The permit rests on the log (migration 0015) -------------------------------------------
#
# The complaint row is the application's to update, so a permit that trusted its state and
# ended_at could be had for an open case by anyone holding the application's role. The
# log cannot be rewritten by that role, so the permit asks it instead: the complaint's last
# event with a to_state must be an ended state, and that event must be provably a year
# old. audit_append lets its caller choose occurred_at, so a time alone proves nothing for
# an event appended now; what proves an event's age is a signed checkpoint covering it
# (checkpoint.seq >= event.seq) made at least a year ago, and checkpoints cannot be
# back-dated (audit/triggers.py, the insert guard). An event written before the first
# checkpoint existed (seq at most the first checkpoint's) is history the append-only log
# cannot have gained since, so its own occurred_at counts; so does every event while no
# checkpoint exists at all, which leaves a window until the beat signs the first one
# (its first tick, within a minute of the upgrade; at most an hour).

AUDIT_EVENT = "audit_auditevent"
CHECKPOINT = "audit_checkpoint"

_PERMIT_FROM_LOG = f"""
    CREATE OR REPLACE FUNCTION complaint_purge_permit(p_complaint_id bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        v_reference text;
        v_seq bigint;
        v_state text;
        v_at timestamptz;
        v_floor timestamptz := pg_catalog.now() - interval '{RETENTION_FLOOR_DAYS} days';
    BEGIN
        SELECT c.reference INTO v_reference FROM {COMPLAINT} AS c
            WHERE c.id = p_complaint_id AND c.state IN ({_ENDED});
        IF v_reference IS NOT NULL THEN
            SELECT e.seq, e.to_state, e.occurred_at INTO v_seq, v_state, v_at
                FROM {AUDIT_EVENT} AS e
                WHERE e.target_type = 'complaint' AND e.target_id = v_reference
                  AND e.to_state <> ''
                ORDER BY e.seq DESC LIMIT 1;
        END IF;
        IF v_seq IS NULL OR v_state NOT IN ({_ENDED}) OR NOT (
            EXISTS (SELECT 1 FROM {CHECKPOINT} AS k
                    WHERE k.seq >= v_seq AND k.made_at <= v_floor)
            OR (v_at <= v_floor
                AND NOT EXISTS (SELECT 1 FROM {CHECKPOINT} AS k WHERE k.seq < v_seq)))
        THEN
            RAISE EXCEPTION USING MESSAGE = 'complaint ' || p_complaint_id
                || ' may not be purged: the log does not show it ended {RETENTION_FLOOR_DAYS}'
                || ' days ago', ERRCODE = 'insufficient_privilege';
        END IF;
        INSERT INTO {PERMIT} (complaint_id, permitted_at)
            VALUES (p_complaint_id, pg_catalog.now())
            ON CONFLICT (complaint_id) DO NOTHING;
    END
    $$
    """  # noqa: S608

# On SQLite the purge writes its own permits (no roles): nothing to change there.
PERMIT_FROM_LOG_UP = {"sqlite": [], "postgresql": [_PERMIT_FROM_LOG]}
PERMIT_FROM_LOG_DOWN = {"sqlite": [], "postgresql": [_PERMIT_FROM_ROW]}
