"""Appends on PostgreSQL go through SECURITY DEFINER functions, so the application's role
needs no write right on the audit tables at all; the chain head is guarded by triggers;
SQLite refuses INSERT OR REPLACE of an event.

The hash is computed by one SQL function, audit_event_hash, the same definition as
audit/chain.py (``to_json`` escapes text exactly as Python's ``json.dumps`` with
``ensure_ascii=False``); the verifier recomputes every hash in Python.
"""

from django.db import migrations

from audit import triggers

HASH = r"""
CREATE OR REPLACE FUNCTION audit_event_hash(
    p_prev_hash text, p_seq bigint, p_occurred_at timestamptz, p_actor_type text,
    p_actor_id text, p_action text, p_target_type text, p_target_id text,
    p_from_state text, p_to_state text, p_payload text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT encode(sha256(convert_to(
        p_prev_hash || E'\n' || '[' || p_seq::text
        || ',' || to_json(to_char(p_occurred_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',' || to_json(p_actor_type)::text || ',' || to_json(p_actor_id)::text
        || ',' || to_json(p_action)::text || ',' || to_json(p_target_type)::text
        || ',' || to_json(p_target_id)::text || ',' || to_json(p_from_state)::text
        || ',' || to_json(p_to_state)::text || ',' || to_json(p_payload)::text || ']',
        'UTF8')), 'hex')
$$
"""

APPEND = r"""
CREATE OR REPLACE FUNCTION audit_append(
    p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text,
    p_target_type text, p_target_id text, p_from_state text, p_to_state text, p_payload text,
    OUT new_seq bigint, OUT new_prev_hash text, OUT new_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT h.seq + 1, h.hash INTO new_seq, new_prev_hash
        FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.seq + 1, h.hash INTO new_seq, new_prev_hash
            FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    END IF;
    new_hash := audit_event_hash(new_prev_hash, new_seq, p_occurred_at, p_actor_type,
        p_actor_id, p_action, p_target_type, p_target_id, p_from_state, p_to_state, p_payload);
    INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, action, target_type,
                                  target_id, from_state, to_state, payload, prev_hash, hash)
        VALUES (new_seq, p_occurred_at, p_actor_type, p_actor_id, p_action, p_target_type,
                p_target_id, p_from_state, p_to_state, p_payload, new_prev_hash, new_hash);
    UPDATE audit_chainhead AS h SET seq = new_seq, hash = new_hash WHERE h.id = 1;
END
$$
"""

APPEND_MANY = r"""
CREATE OR REPLACE FUNCTION audit_append_many(
    p_occurred_at timestamptz, p_actor_types text[], p_actor_ids text[], p_actions text[],
    p_target_types text[], p_target_ids text[], p_from_states text[], p_to_states text[],
    p_payloads text[])
RETURNS TABLE (new_seq bigint, new_prev_hash text, new_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_seq bigint;
    v_prev text;
    v_hash text;
BEGIN
    SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chainhead AS h WHERE h.id = 1
            FOR UPDATE;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_actions, 1), 0) LOOP
        v_seq := v_seq + 1;
        v_hash := audit_event_hash(v_prev, v_seq, p_occurred_at, p_actor_types[i],
            p_actor_ids[i], p_actions[i], p_target_types[i], p_target_ids[i],
            p_from_states[i], p_to_states[i], p_payloads[i]);
        INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, action,
                                      target_type, target_id, from_state, to_state, payload,
                                      prev_hash, hash)
            VALUES (v_seq, p_occurred_at, p_actor_types[i], p_actor_ids[i], p_actions[i],
                    p_target_types[i], p_target_ids[i], p_from_states[i], p_to_states[i],
                    p_payloads[i], v_prev, v_hash);
        new_seq := v_seq; new_prev_hash := v_prev; new_hash := v_hash;
        RETURN NEXT;
        v_prev := v_hash;
    END LOOP;
    UPDATE audit_chainhead AS h SET seq = v_seq, hash = v_prev WHERE h.id = 1;
END
$$
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for sql in (HASH, APPEND, APPEND_MANY):
            schema_editor.execute(sql)
    for sql in triggers.statements(triggers.UP, vendor):
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_append_many(timestamptz, text[], "
                              "text[], text[], text[], text[], text[], text[], text[])")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_function")]
    operations = [migrations.RunPython(forward, backward)]
