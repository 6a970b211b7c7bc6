-- The ceiling of a serialized, hash-chained append on this machine: one transaction that
-- locks a one-row chain head, inserts a log row and moves the head, the same shape as
-- audit.services.record (minus Django, Python and the complaint row). Scratch tables only
-- (bench_chain_head / bench_chain_log, created by bench/audit_bench.py), never the app's
-- audit tables. Run: pgbench -n -c 8 -j 2 -T 15 -f bench/pgbench_chain_head.sql <db>
BEGIN;
SELECT seq AS head_seq, hash AS head_hash FROM bench_chain_head WHERE id = 1 FOR UPDATE \gset
\set next_seq :head_seq + 1
INSERT INTO bench_chain_log (seq, occurred_at, action, payload, prev_hash, hash)
  VALUES (:next_seq, now(), 'bench.append', '{}', ':head_hash',
          md5(':head_hash' || :next_seq) || md5(:next_seq || ':head_hash'));
UPDATE bench_chain_head
  SET seq = :next_seq, hash = md5(':head_hash' || :next_seq) || md5(:next_seq || ':head_hash')
  WHERE id = 1;
COMMIT;
