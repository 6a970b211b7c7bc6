"""On PostgreSQL, the append is one function call: lock the head, hash, insert, move the head.

The hash is the one audit/chain.py defines, computed by the database: the same canonical
JSON array (``to_json`` escapes text exactly as Python's ``json.dumps`` with
``ensure_ascii=False``) and the same time format. The verifier recomputes every hash in
Python, so the two definitions are checked against each other on every verification.
"""

from django.db import migrations

APPEND = r"""
CREATE OR REPLACE FUNCTION audit_append(
    p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text,
    p_target_type text, p_target_id text, p_from_state text, p_to_state text, p_payload text,
    OUT new_seq bigint, OUT new_prev_hash text, OUT new_hash text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT h.seq + 1, h.hash INTO new_seq, new_prev_hash
        FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.seq + 1, h.hash INTO new_seq, new_prev_hash
            FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    END IF;
    new_hash := encode(sha256(convert_to(
        new_prev_hash || E'\n' || '[' || new_seq::text
        || ',' || to_json(to_char(p_occurred_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',' || to_json(p_actor_type)::text || ',' || to_json(p_actor_id)::text
        || ',' || to_json(p_action)::text || ',' || to_json(p_target_type)::text
        || ',' || to_json(p_target_id)::text || ',' || to_json(p_from_state)::text
        || ',' || to_json(p_to_state)::text || ',' || to_json(p_payload)::text || ']',
        'UTF8')), 'hex');
    INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, action, target_type,
                                  target_id, from_state, to_state, payload, prev_hash, hash)
        VALUES (new_seq, p_occurred_at, p_actor_type, p_actor_id, p_action, p_target_type,
                p_target_id, p_from_state, p_to_state, p_payload, new_prev_hash, new_hash);
    UPDATE audit_chainhead AS h SET seq = new_seq, hash = new_hash WHERE h.id = 1;
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_append(timestamptz, text, text, "
                              "text, text, text, text, text, text)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]
    operations = [migrations.RunPython(create, drop)]
