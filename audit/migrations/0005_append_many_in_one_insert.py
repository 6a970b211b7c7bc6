"""audit_append_many hashes in its loop (the chain is sequential) and then inserts the whole
batch with one statement, instead of one INSERT per event."""

from django.db import migrations

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
    v_n integer := coalesce(array_length(p_actions, 1), 0);
    v_seqs bigint[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chainhead AS h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_prev FROM audit_chainhead AS h WHERE h.id = 1
            FOR UPDATE;
    END IF;
    FOR i IN 1 .. v_n LOOP
        v_seqs[i] := v_seq + i;
        v_prevs[i] := v_prev;
        v_prev := audit_event_hash(v_prev, v_seq + i, p_occurred_at, p_actor_types[i],
            p_actor_ids[i], p_actions[i], p_target_types[i], p_target_ids[i],
            p_from_states[i], p_to_states[i], p_payloads[i]);
        v_hashes[i] := v_prev;
    END LOOP;
    IF v_n = 0 THEN
        RETURN;
    END IF;
    INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, action, target_type,
                                  target_id, from_state, to_state, payload, prev_hash, hash)
        SELECT s, p_occurred_at, at, ai, ac, tt, ti, fs, ts, pl, pv, hs
        FROM unnest(v_seqs, p_actor_types, p_actor_ids, p_actions, p_target_types,
                    p_target_ids, p_from_states, p_to_states, p_payloads, v_prevs, v_hashes)
             AS e(s, at, ai, ac, tt, ti, fs, ts, pl, pv, hs);
    UPDATE audit_chainhead AS h SET seq = v_seq + v_n, hash = v_prev WHERE h.id = 1;
    RETURN QUERY SELECT * FROM unnest(v_seqs, v_prevs, v_hashes);
END
$$
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_MANY)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_definer_functions_head_guard")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
