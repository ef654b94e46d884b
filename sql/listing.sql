-- Listing: page by page as rows are consumed, required filters, every
-- listable collection returns exactly the emulator's objects.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE lead (id text, display_name text, date_created timestamptz, attrs jsonb)
  SERVER emu OPTIONS (object 'lead', use_search 'false');

-- 250 leads: three pages of 100, each fetched once, in Close's order
SELECT count(*), count(DISTINCT id) FROM lead;
SELECT method, path, query FROM emu_requests() ORDER BY query;
SELECT emu_clear();
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name FROM lead;
-- rows come out in Close's order (the first three, by the emulator's order)
SELECT id, display_name FROM lead LIMIT 3;
-- streaming: stopping early fetches only the pages needed
SELECT id FROM lead OFFSET 120 LIMIT 1;
SELECT method, query FROM emu_requests();
SELECT emu_clear();

-- a smaller page_size means more, smaller pages
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
CREATE SERVER emu_small FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', page_size '40');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_small OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_small (id text) SERVER emu_small OPTIONS (object 'lead', use_search 'false');
SELECT count(*) FROM lead_small;
SELECT count(*) AS pages, string_agg(query, ' | ' ORDER BY query) FILTER (WHERE query LIKE '_skip=240%') AS last
  FROM emu_requests();
SELECT emu_clear();

-- the same rows as the emulator holds, for every listable collection that
-- needs no filter (event: the cursor-paged log; others: one page)
CREATE TABLE listing_results (object text, fdw_rows bigint, emulator_rows bigint, same_ids boolean);
DO $$
DECLARE
  o record;
  fdw_ids text[];
  emu_ids text[];
BEGIN
  FOR o IN SELECT * FROM closecrm_objects() WHERE can_list AND required_filters = '{}' ORDER BY object LOOP
    EXECUTE format('CREATE FOREIGN TABLE %I (id text OPTIONS (field %L)) SERVER emu OPTIONS (object %L)',
                   'list_' || o.table_name, o.key_field, o.object);
    EXECUTE format('SELECT array_agg(id ORDER BY id) FROM %I', 'list_' || o.table_name) INTO fdw_ids;
    -- the generic activity listing holds every typed activity
    SELECT array_agg(x->>o.key_field ORDER BY x->>o.key_field) INTO emu_ids
      FROM closecrm_objects() c, emu_objects(c.object) x
     WHERE c.object = o.object OR (o.object = 'activity' AND c.object LIKE 'activity/%');
    INSERT INTO listing_results VALUES (o.object, cardinality(fdw_ids), cardinality(emu_ids),
                                        fdw_ids IS NOT DISTINCT FROM emu_ids);
  END LOOP;
END $$;
SELECT count(*) AS collections, sum(fdw_rows) AS rows, bool_and(same_ids) AS all_same FROM listing_results;
SELECT * FROM listing_results WHERE NOT same_ids OR same_ids IS NULL;
-- task listings ask for every task type, not only lead tasks
SELECT DISTINCT query FROM emu_requests() WHERE path = '/api/v1/task/';
SELECT emu_clear();

-- collections that need a filter say which; custom objects, which Close
-- lists only by lead, are read through its search instead
CREATE FOREIGN TABLE custom_object (id text, lead_id text, name text) SERVER emu OPTIONS (object 'custom_object');
SELECT * FROM custom_object;
CREATE FOREIGN TABLE comment (id text, object_id text, thread_id text, body text) SERVER emu OPTIONS (object 'comment');
SELECT * FROM comment;
CREATE FOREIGN TABLE sequence_subscription (id text, sequence_id text, contact_id text, lead_id text)
  SERVER emu OPTIONS (object 'sequence_subscription');
SELECT * FROM sequence_subscription;
-- ... and work once it is there
SELECT id, name FROM custom_object WHERE lead_id = 'lead_0000000000000000000001' ORDER BY id;
SELECT count(*) > 0 AS found FROM comment WHERE object_id = (SELECT c->>'object_id' FROM emu_objects('comment') c LIMIT 1);
SELECT count(*) > 0 AS found FROM sequence_subscription WHERE lead_id = (SELECT c->>'lead_id' FROM emu_objects('sequence_subscription') c LIMIT 1);
SELECT method, path, query FROM emu_requests();
SELECT emu_clear();

-- the event log pages by cursor
CREATE FOREIGN TABLE event (id text, object_type text, action text, date_updated timestamp)
  SERVER emu OPTIONS (object 'event');
SELECT count(*) FROM event;
SELECT count(*) AS pages, count(*) FILTER (WHERE query LIKE '%_cursor=%') AS with_cursor FROM emu_requests();
SELECT emu_clear();

-- a page that fails after the retries fails the query: never a partial result
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 503, "times": 3}');
SELECT count(*) FROM lead;
SELECT emu_reset();
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 503, "times": 2}');
SELECT count(*) FROM lead;
-- a page after the first failing: ERROR too, not 100 rows
SELECT emu_reset();
SELECT count(*) FROM (SELECT id FROM lead LIMIT 100) s;
SELECT emu_fault('{"method": "GET", "path_prefix": "/api/v1/lead/", "status": 500, "times": -1}');
SELECT count(*) FROM (SELECT id FROM lead LIMIT 101) s;
SELECT emu_reset();

-- the _skip cap: a listing sorted by date_created goes on in slices
-- (date_created__lte the last date seen), returning every row once
SELECT close_raw('POST', '/config', '{"max_skip": {"opportunity": 50, "task": 30}}', 'emu_control') IS NOT NULL AS configured;
CREATE FOREIGN TABLE opportunity (id text, date_created timestamptz) SERVER emu OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE task (id text) SERVER emu OPTIONS (object 'task');
SELECT count(*), count(DISTINCT id) FROM opportunity;
SELECT count(*) = (SELECT count(*) FROM emu_objects('opportunity')) AS all_rows FROM opportunity;
SELECT count(*), count(DISTINCT id) FROM task;
SELECT count(*) FILTER (WHERE query LIKE '%date_created__lte=%') > 0 AS sliced,
       count(*) FILTER (WHERE status = 400) > 0 AS hit_the_cap FROM emu_requests();
SELECT emu_reset();
DROP FOREIGN TABLE opportunity, task;

-- where Close cannot be sliced (leads take no date filter), the error says so
SELECT close_raw('POST', '/config', '{"max_skip": {"lead": 150}}', 'emu_control') IS NOT NULL AS configured;
SELECT count(*) FROM lead;
SELECT emu_reset();

DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT 'list_' || table_name FROM closecrm_objects() WHERE can_list AND required_filters = '{}' LOOP
    EXECUTE format('DROP FOREIGN TABLE %I', t);
  END LOOP;
END $$;
DROP TABLE listing_results;
DROP SERVER emu_small CASCADE;
DROP FOREIGN TABLE lead, custom_object, comment, sequence_subscription, event;
