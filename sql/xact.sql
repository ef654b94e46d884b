-- Transactions.  Close has none: what a request changes stays changed.  A
-- rollback after a change says so (WARNING, with the number of requests
-- that changed Close), PREPARE TRANSACTION after a change is refused (as
-- postgres_fdw refuses), and close_raw requests that may change Close are
-- refused in read-only transactions, as writes to foreign tables are.
\set VERBOSITY default
SELECT emu_reset();
CREATE FOREIGN TABLE x_lead (id text, description text) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE x_contact (id text, lead_id text, name text) SERVER emu OPTIONS (object 'contact');
SELECT emu_clear();

-- committed: nothing to say
BEGIN;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'Committed');
COMMIT;

-- rolled back: two requests changed Close (the INSERT's POST and close_raw's
-- PUT); the GET, and a DELETE that found nothing (404), did not
BEGIN;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'Rolled back');
SELECT status FROM close_raw('PUT', '/lead/lead_0000000000000000000001/', '{"description": "changed in a rolled-back transaction"}', 'emu');
SELECT status FROM close_raw('GET', '/lead/lead_0000000000000000000001/', NULL, 'emu');
DELETE FROM x_contact WHERE id = 'cont_missing';
ROLLBACK;
SELECT method, path, status FROM emu_requests();
-- ... and they stay in Close
SELECT count(*) AS kept FROM emu_objects('contact') c WHERE c->>'name' = 'Rolled back';
SELECT description FROM x_lead WHERE id = 'lead_0000000000000000000001';

-- a transaction that only read Close rolls back silently
BEGIN;
SELECT count(*) FROM x_lead WHERE id = 'lead_0000000000000000000001';
ROLLBACK;

-- a savepoint rolled back warns of its own change; the transaction's
-- rollback then of the one before the savepoint
BEGIN;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'Before the savepoint');
SAVEPOINT s;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'In the savepoint');
ROLLBACK TO SAVEPOINT s;
ROLLBACK;
-- a released savepoint's changes are the transaction's
BEGIN;
SAVEPOINT s;
DELETE FROM x_contact WHERE id = (SELECT c->>'id' FROM emu_objects('contact') c WHERE c->>'name' = 'Committed');
RELEASE SAVEPOINT s;
ROLLBACK;
-- a PL/pgSQL block that catches an error is a subtransaction too
DO $$
BEGIN
  INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'In a block');
  PERFORM 1 / 0;
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught';
END $$;
-- a statement that fails after a change: the WARNING comes as its
-- transaction rolls back, right after the ERROR (psql prints the two in the
-- order they reach it, which varies: hence the exception block, a
-- subtransaction that rolls back the same way)
-- (RETURNING: each row is sent as it comes, not in a batch at the end)
DO $$
DECLARE
  first text;
BEGIN
  INSERT INTO x_contact (lead_id, name)
  SELECT 'lead_0000000000000000000001', CASE WHEN n = 1 THEN 'First of two' ELSE (1 / (n - 2))::text END
    FROM generate_series(1, 2) n
  RETURNING name INTO first;
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught: %', SQLERRM;
END $$;

-- PREPARE TRANSACTION after a change: refused, and nothing is left prepared
-- (the rollback's WARNING, which races the ERROR to psql, is left out)
BEGIN;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'Prepared');
SET LOCAL client_min_messages = error;
PREPARE TRANSACTION 'closecrm_x';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'closecrm_x';

-- read-only transactions: close_raw may GET, nothing else (SQLSTATE 25006,
-- as an INSERT into a Close table gets), and nothing is sent
SELECT emu_clear();
BEGIN READ ONLY;
SELECT status FROM close_raw('GET', '/me/', NULL, 'emu');
SELECT status FROM close_raw('POST', '/lead/', '{"name": "Read-only Co"}', 'emu');
ROLLBACK;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
BEGIN READ ONLY;
INSERT INTO x_contact (lead_id, name) VALUES ('lead_0000000000000000000001', 'Read-only');
ROLLBACK;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SET default_transaction_read_only = on;
SELECT status FROM close_raw('delete', '/lead/lead_0000000000000000000001/', NULL, 'emu');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT status FROM close_raw('PATCH', '/lead/lead_0000000000000000000001/', '{}', 'emu');
SELECT status FROM close_raw('PUT', '/lead/lead_0000000000000000000001/', '{}', 'emu');
SELECT status FROM close_raw('GET', '/lead/lead_0000000000000000000001/', NULL, 'emu');
RESET default_transaction_read_only;
SELECT method, path, status FROM emu_requests();

DROP FOREIGN TABLE x_lead, x_contact;
SELECT emu_reset();
