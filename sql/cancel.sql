-- statement_timeout and cancel stop a request in flight with SQLSTATE 57014.
\set VERBOSITY sqlstate
SELECT emu_reset();
CREATE FOREIGN TABLE cancel_lead (id text, display_name text) SERVER emu OPTIONS (object 'lead', use_search 'false');
SELECT id AS some_lead FROM cancel_lead LIMIT 1 \gset

-- a lookup against an endpoint that answers after 30 s
SELECT emu_fault(jsonb_build_object('method', 'GET', 'path', '/api/v1/lead/' || :'some_lead' || '/', 'delay', 30, 'times', -1));
SET statement_timeout = '500ms';
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM cancel_lead WHERE id = :'some_lead';
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '5 s' AS stopped_promptly;

-- a listing page that never comes
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "hang": true, "times": -1}');
SET statement_timeout = '500ms';
SELECT count(*) FROM cancel_lead;
-- close_raw too
SELECT status FROM close_raw('GET', '/lead/', NULL, 'emu');
RESET statement_timeout;

-- a retry wait (503 then backoff) is interruptible as well
SELECT emu_reset();
SELECT emu_fault('{"method": "GET", "path": "/api/v1/me/", "status": 429, "headers": {"Retry-After": "60"}, "times": -1}');
SET statement_timeout = '500ms';
SELECT status FROM close_raw('GET', '/me/', NULL, 'emu');
RESET statement_timeout;

-- pg_cancel_backend from another session stops a lookup in flight
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT emu_reset();
SELECT emu_fault(jsonb_build_object('method', 'GET', 'path', '/api/v1/lead/' || :'some_lead' || '/', 'delay', 30, 'times', -1));
\set pgpass ''
\set pghost ''
\set pgpass `echo "$PGPASSWORD"`
\set pghost `echo "$PGHOST"`
SELECT dblink_connect('victim', format('dbname=%s user=%s port=%s host=%s password=%s',
  current_database(), current_user, current_setting('port'),
  coalesce(nullif(:'pghost', ''), 'localhost'), :'pgpass'));
SELECT dblink_exec('victim', 'SET application_name = closecrm_cancel_victim');
SELECT dblink_send_query('victim', format('SELECT display_name FROM cancel_lead WHERE id = %L', :'some_lead'));
-- wait until the victim's request reached the emulator, then cancel it
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT count(*) FROM emu_requests() WHERE method = 'GET') > 0;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT clock_timestamp() AS t1 \gset
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'closecrm_cancel_victim';
SELECT count(*) FROM dblink_get_result('victim', false) AS r(display_name text);
SELECT dblink_error_message('victim') ~ 'canceling statement due to user request' AS cancelled;
SELECT clock_timestamp() - :'t1'::timestamptz < interval '5 s' AS stopped_promptly;
SELECT dblink_disconnect('victim');

-- the backend is fine afterwards
SELECT emu_reset();
SELECT count(*) FROM cancel_lead WHERE id = :'some_lead';
\set VERBOSITY default
DROP FOREIGN TABLE cancel_lead;
