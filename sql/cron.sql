-- Scheduled jobs with pg_cron: the README's two jobs (an incremental lead
-- copy driven by the event log, and the removal of completed tasks older
-- than 90 days), set up exactly as the README says (tools/readme_sql.py runs
-- its pg_cron section), then run by pg_cron itself.  The cluster must load
-- pg_cron with cron.database_name = this database and
-- cron.use_background_workers = on (test/run_all.sh does), so jobs run as
-- this role, with its user mapping, without a password.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
\set api_key test_key_alpha
SELECT emu_reset();
SELECT current_setting('cron.database_name') = current_database() AS cron_runs_here,
       current_setting('cron.use_background_workers') AS background_workers;

-- what the README's quick start sets up, as it does
CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER close OPTIONS (api_key :'api_key');
CREATE SCHEMA close;
IMPORT FOREIGN SCHEMA close LIMIT TO (lead, task, event) FROM SERVER close INTO close;
SELECT emu_clear();

-- the README's section "Scheduled jobs with pg_cron"
\! python3 tools/readme_sql.py --section 'Scheduled jobs with pg_cron' > results/cron_examples.sql
\i results/cron_examples.sql
SELECT clock_timestamp() AS after_first_run \gset

-- the first run copied every lead: two pages of Close's search, walked by
-- date_created (the second from the last one of the first)
SELECT method, path, body->'_limit' AS page, coalesce(body->'query'->'queries'->1->'condition' ? 'on_or_after', false) AS anchored
  FROM emu_requests() WHERE path LIKE '/api/v1/lead/%' OR path = '/api/v1/data/search/' ORDER BY anchored;
SELECT count(*) AS copied, count(*) = (SELECT count(*) FROM emu_objects('lead')) AS all_leads
  FROM lead_copy;
SELECT job, last_run > now() - interval '1 hour' AS recorded FROM close_sync_state;
SELECT jobname, schedule, username = current_user AS as_me, database = current_database() AS here, active
  FROM cron.job ORDER BY jobname;

--
-- Changes in Close after the first run, with the events Close would log for
-- them (the emulator does not log events for writes: they are stored as the
-- event log's objects, dated now, in the format Close uses).
--
SELECT status AS renamed FROM close_raw('PUT', '/lead/lead_0000000000000000000001/',
  '{"name": "Acme Corporation (renamed)"}', 'close');
SELECT status AS created, body->>'id' AS new_lead
  FROM close_raw('POST', '/lead/', '{"name": "Brand New Lead"}', 'close') \gset
SELECT :'created' AS created;
SELECT status AS deleted FROM close_raw('DELETE', '/lead/lead_a%2Fb%3Fc%23d/', NULL, 'close');
SELECT action, (close_raw('POST', '/objects/event', jsonb_build_object(
         'id', 'ev_cron_' || n, 'object_type', 'lead', 'object_id', lead, 'lead_id', lead,
         'action', action, 'user_id', 'user_0000000000000000000001',
         'date_created', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
         'date_updated', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
       'emu_control')).status AS logged
  FROM (VALUES (1, 'lead_0000000000000000000001', 'updated'), (2, :'new_lead', 'created'),
               (3, 'lead_a/b?c#d', 'deleted')) e(n, lead, action) ORDER BY n;
SELECT count(*) AS complete_tasks FROM emu_objects('task') t WHERE (t->>'is_complete')::boolean;
SELECT emu_clear();

--
-- Let pg_cron run both jobs now: every minute (pg_cron 1.4 schedules by the
-- minute), then wait for one finished run of each, at most three minutes.
--
SELECT count(cron.alter_job(jobid, schedule := '* * * * *')) AS rescheduled
  FROM cron.job WHERE jobname IN ('close-lead-sync', 'close-task-cleanup');
DO $$
BEGIN
  FOR i IN 1..180 LOOP
    EXIT WHEN (SELECT count(DISTINCT jobid) FROM cron.job_run_details
                WHERE status IN ('succeeded', 'failed')) >= 2;
    PERFORM pg_sleep(1);
  END LOOP;
END $$;
-- stop them before they run again
CREATE TEMP TABLE ran_jobs AS SELECT jobid, jobname FROM cron.job;
SELECT cron.unschedule('close-lead-sync') AND cron.unschedule('close-task-cleanup') AS unscheduled;
SELECT DISTINCT ON (j.jobname) j.jobname, d.status, d.return_message,
       d.username = current_user AS as_me, d.database = current_database() AS here
  FROM cron.job_run_details d JOIN ran_jobs j USING (jobid)
 ORDER BY j.jobname, d.start_time;

--
-- What the lead sync sent: the three event log listings, each with the
-- object_type, action and date_updated filters Close evaluates (the date is
-- the first run's start less 10 minutes), then the changed leads: one search by id,
-- and a GET for each id the search does not return (a deleted lead: 404).
--
SELECT method, path,
       regexp_replace(query, 'date_updated__gt=[0-9-]+T[0-9%A.]+%2B00%3A00', 'date_updated__gt=<since>') AS query,
       status
  FROM emu_requests() WHERE path LIKE '/api/v1/event/%' OR path LIKE '/api/v1/lead/%'
 ORDER BY path, query;
-- the changed leads that exist come back in one search by id
SELECT count(*) AS searches, sum(jsonb_array_length(body->'query'->'queries'->1->'queries')) AS ids
  FROM emu_requests() WHERE path = '/api/v1/data/search/';
SELECT last_run > :'after_first_run' AS last_run_moved_on FROM close_sync_state;
-- the copy: renamed, added, deleted; the other leads untouched
SELECT id, display_name FROM lead_copy
 WHERE id IN ('lead_0000000000000000000001', :'new_lead', 'lead_a/b?c#d') ORDER BY display_name;
SELECT count(*) AS copied, count(*) = (SELECT count(*) FROM emu_objects('lead')) AS all_leads,
       count(*) FILTER (WHERE copied_at > :'after_first_run') AS recopied,
       count(*) FILTER (WHERE copied_at > :'after_first_run' AND id <> :'new_lead'
                          AND id <> 'lead_0000000000000000000001') AS others_recopied
  FROM lead_copy;

--
-- What the cleanup sent: one listing with both conditions, then one DELETE
-- per task; no completed task is left (the seeded ones are all from 2024).
--
SELECT method, path,
       regexp_replace(query, 'date_updated__lt=[0-9-]+T[0-9%A.]+%2B00%3A00', 'date_updated__lt=<90 days ago>') AS query
  FROM emu_requests() WHERE path = '/api/v1/task/';
SELECT count(*) AS task_deletes, count(*) FILTER (WHERE status = 200) AS deleted
  FROM emu_requests() WHERE method = 'DELETE' AND path LIKE '/api/v1/task/%';
SELECT count(*) AS complete_tasks_left FROM emu_objects('task') t WHERE (t->>'is_complete')::boolean;
SELECT count(*) AS other_requests FROM emu_requests()
 WHERE path NOT LIKE '/api/v1/event/%' AND path NOT LIKE '/api/v1/lead/%' AND path NOT LIKE '/api/v1/task/%'
   AND path <> '/api/v1/data/search/';

DROP PROCEDURE close_sync_leads();
DROP TABLE lead_copy, close_sync_state;
DROP SCHEMA close CASCADE;
DROP SERVER close CASCADE;
SELECT emu_reset();
