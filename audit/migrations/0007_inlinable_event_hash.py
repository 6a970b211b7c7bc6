"""audit_event_hash becomes a function PostgreSQL can inline into audit_append.

Its ``SET search_path = pg_catalog`` clause (migration 0004) kept PostgreSQL from inlining
it: every append called it through the SQL-function executor, which parsed and planned its
body again in each transaction and switched search_path around the call. That was most of
the time an append spends holding the chain head's lock. The same definition now names
every function, operator and type by its schema instead, so no search_path can change what
it calls, and it is STABLE, as the functions it calls (to_char, to_json, convert_to) are;
an IMMUTABLE function is only inlined when everything in it is immutable too.

The hash itself is unchanged, byte for byte: the verifier recomputes every event's hash in
Python (audit/chain.py) and finds the chain intact before and after.
"""

from django.db import migrations

HASH = r"""
CREATE OR REPLACE FUNCTION audit_event_hash(
    p_prev_hash text, p_seq bigint, p_occurred_at timestamptz, p_actor_type text,
    p_actor_id text, p_action text, p_target_type text, p_target_id text,
    p_from_state text, p_to_state text, p_payload text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
        p_prev_hash OPERATOR(pg_catalog.||) E'\n[' OPERATOR(pg_catalog.||) p_seq::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.to_char(
            p_occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_actor_type)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_actor_id)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_action)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_target_type)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_target_id)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_from_state)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_to_state)::pg_catalog.text
        OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) pg_catalog.to_json(p_payload)::pg_catalog.text
        OPERATOR(pg_catalog.||) ']', 'UTF8')), 'hex')
$$
"""

# Migration 0004's definition, for going back.
PREVIOUS_HASH = r"""
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


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(HASH)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_HASH)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_anonymous_actor")]
    operations = [migrations.RunPython(forward, backward)]
