-- Filter pushdown: conditions Close can evaluate become query parameters;
-- the rest are applied locally; results are the same either way.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE opportunity (
  id text, lead_id text, user_id text, status_type text, status_label text,
  value bigint, value_period text, date_won date, date_created timestamptz,
  is_stalled boolean
) SERVER emu OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE task (
  id text, _type text, lead_id text, is_complete boolean, date date, text text,
  date_created timestamptz
) SERVER emu OPTIONS (object 'task');

-- = with a constant on either side, IN, ranges on dates and timestamps
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM opportunity WHERE status_type = 'won' AND 'annual' = value_period;
SELECT count(*) FROM opportunity WHERE status_type = 'won' AND 'annual' = value_period;
SELECT query FROM emu_requests();
SELECT emu_clear();

EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM opportunity WHERE status_type IN ('won', 'lost') AND date_won >= '2024-01-01'
   AND date_created < '2024-06-01 12:00:00+02';
SELECT count(*) FROM opportunity WHERE status_type IN ('won', 'lost') AND date_won >= '2024-01-01'
   AND date_created < '2024-06-01 12:00:00+02';
SELECT query FROM emu_requests();
SELECT emu_clear();

-- the operator commuted when the column is on the right
SELECT count(*) FROM opportunity WHERE '2024-01-01' <= date_won;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- stable expressions and parameters are evaluated once and sent
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM opportunity WHERE date_created > now() - interval '100 years';
SELECT count(*) FROM opportunity WHERE date_created > now() - interval '100 years';
SELECT query ~ '&date_created__gt=19[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.%A]+%2B00%3A00$' AS sent_iso_utc FROM emu_requests();
SELECT emu_clear();
PREPARE opps(text, date) AS SELECT count(*) FROM opportunity WHERE status_type = $1 AND date_won > $2;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE opps('won', '2024-01-01');
EXECUTE opps('won', '2024-01-01');
EXECUTE opps('lost', NULL);
RESET plan_cache_mode;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- timestamps are sent in UTC whatever the session's time zone
SET TimeZone = 'Asia/Tokyo';
SELECT count(*) FROM opportunity WHERE date_created >= '2024-05-01 09:00:00';
RESET TimeZone;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- booleans, and the task type: an explicit _type replaces the default _type=all
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM task WHERE NOT is_complete AND _type = 'lead';
SELECT count(*) FROM task WHERE NOT is_complete AND _type = 'lead';
SELECT count(*) FROM task WHERE is_complete;
SELECT count(*) FROM task WHERE _type IN ('missed_call', 'voicemail');
SELECT query FROM emu_requests();
SELECT emu_clear();

-- what Close cannot evaluate is filtered locally (and shown as Filter)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM opportunity WHERE status_type = 'won' AND value > 100000 AND status_label LIKE 'W%';
SELECT query FROM emu_requests();

-- the same rows with and without pushdown ("|| ''" hides a column from it)
CREATE TEMP TABLE pushdown_cases (label text, pushed bigint, local bigint);
INSERT INTO pushdown_cases
SELECT 'status_type', (SELECT count(*) FROM opportunity WHERE status_type = 'active'),
       (SELECT count(*) FROM opportunity WHERE status_type || '' = 'active')
UNION ALL
SELECT 'in + range', (SELECT count(*) FROM opportunity WHERE status_type IN ('won', 'active') AND date_created >= '2024-03-01'),
       (SELECT count(*) FROM opportunity WHERE status_type || '' IN ('won', 'active') AND date_created + interval '0' >= '2024-03-01')
UNION ALL
SELECT 'date_won range', (SELECT count(*) FROM opportunity WHERE date_won > '2024-02-01' AND date_won <= '2024-06-30'),
       (SELECT count(*) FROM opportunity WHERE date_won + 0 > '2024-02-01' AND date_won + 0 <= '2024-06-30')
UNION ALL
SELECT 'mixed local', (SELECT count(*) FROM opportunity WHERE value_period = 'monthly' AND value > 50000),
       (SELECT count(*) FROM opportunity WHERE value_period || '' = 'monthly' AND value > 50000)
UNION ALL
SELECT 'task complete', (SELECT count(*) FROM task WHERE is_complete AND lead_id IS NOT NULL),
       (SELECT count(*) FROM task WHERE is_complete IS TRUE AND lead_id IS NOT NULL)
UNION ALL
SELECT 'task types', (SELECT count(*) FROM task WHERE _type = ANY (ARRAY['lead', 'email_followup'])),
       (SELECT count(*) FROM task WHERE _type || '' = ANY (ARRAY['lead', 'email_followup']));
SELECT label, pushed, local, pushed = local AS same, pushed > 0 AS nonempty FROM pushdown_cases;

-- a value with a comma cannot go into an __in list: filtered locally instead
SELECT count(*) FROM opportunity WHERE status_type IN ('won', 'a,b');
SELECT query FROM emu_requests() ORDER BY query DESC LIMIT 1;
SELECT emu_clear();

DROP FOREIGN TABLE opportunity, task;
