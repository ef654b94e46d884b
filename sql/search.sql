-- Close's search API (POST /data/search/) as a read path: which conditions
-- reach Close and how, that answers never change because of it (every row
-- is checked locally again), keyset paging past the 10,000-object cap and
-- the 30-second cursor, many ids in few requests, and the fallbacks.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();

-- a server with small search pages, so that 250 leads take several
CREATE SERVER emu_s FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', search_page_size '40', max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_s OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE s_lead (id text, display_name text, status_id text, status_label text,
  date_created timestamptz, date_updated timestamptz, created_by text,
  employees numeric OPTIONS (field 'custom.cf_lead_number'),
  tier text OPTIONS (field 'custom.cf_lead_choice', custom_type 'choices'),
  source text OPTIONS (field 'custom.cf_lead_text', custom_type 'text'),
  owner text OPTIONS (field 'custom.cf_lead_user', custom_type 'user'),
  since date OPTIONS (field 'custom.cf_lead_date', custom_type 'date'))
  SERVER emu_s OPTIONS (object 'lead');
-- the same table read through the list endpoint only
CREATE FOREIGN TABLE s_lead_list (id text, display_name text, status_id text, status_label text,
  date_created timestamptz, date_updated timestamptz, created_by text,
  employees numeric OPTIONS (field 'custom.cf_lead_number'),
  tier text OPTIONS (field 'custom.cf_lead_choice', custom_type 'choices'),
  source text OPTIONS (field 'custom.cf_lead_text', custom_type 'text'),
  owner text OPTIONS (field 'custom.cf_lead_user', custom_type 'user'),
  since date OPTIONS (field 'custom.cf_lead_date', custom_type 'date'))
  SERVER emu_s OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE s_contact (id text, lead_id text, name text, title text,
  date_created timestamptz) SERVER emu_s OPTIONS (object 'contact');
CREATE FOREIGN TABLE s_opportunity (id text, lead_id text, status_type text, status_label text,
  value numeric, date_created timestamptz) SERVER emu_s OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE s_note (id text, lead_id text) SERVER emu_s OPTIONS (object 'activity/note');

-- the search requests sent since the last clear, and what Close returned
CREATE FUNCTION emu_searches(OUT body jsonb, OUT returned int, OUT status int)
RETURNS SETOF record LANGUAGE sql AS
$$ SELECT r->'body', (r->'search'->>'returned')::int, (r->>'status')::int
     FROM jsonb_array_elements((close_raw('GET', '/requests', NULL, 'emu_control')).body) r
    WHERE r->>'path' = '/api/v1/data/search/' ORDER BY (r->>'seq')::int $$;
-- the conditions of a search body, after the object_type node
CREATE FUNCTION search_conditions(body jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_agg(q) FROM jsonb_array_elements(body->'query'->'queries') WITH ORDINALITY AS x(q, n)
    WHERE n > 1 $$;
-- does a query give the same rows through search and through the list?
-- And how many objects more than match did the search bring back?
CREATE FUNCTION search_differs(cond text, OUT matching bigint, OUT differing bigint,
                               OUT pushed boolean, OUT extra bigint)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(*) FROM s_lead_list WHERE %s', cond) INTO matching;
  PERFORM emu_clear();
  EXECUTE format('SELECT count(*) FROM s_lead WHERE %s', cond);
  -- the first search has no keyset anchor: its conditions are the pushed ones
  SELECT (SELECT search_conditions(body) IS NOT NULL FROM emu_searches() LIMIT 1),
         sum(returned) - matching
    INTO pushed, extra FROM emu_searches();
  EXECUTE format('SELECT count(*) FROM ((SELECT * FROM s_lead WHERE %1$s EXCEPT ALL SELECT * FROM s_lead_list WHERE %1$s)
                   UNION ALL (SELECT * FROM s_lead_list WHERE %1$s EXCEPT ALL SELECT * FROM s_lead WHERE %1$s)) d',
                 cond) INTO differing;
END $$;

--
-- 1. What reaches Close, in EXPLAIN VERBOSE: the search body, with the
-- values as placeholders and the keyset anchor where it goes
--
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM s_lead WHERE date_created >= '2024-05-01' AND status_label = 'Qualified'
  AND employees > 100.5 AND display_name LIKE 'A%';

--
-- 2. A date filter: only searches, and only the matching rows come back
--
SELECT emu_clear();
SELECT count(*) AS found,
       (SELECT count(*) FROM emu_objects('lead') o
         WHERE (o->>'date_created')::timestamptz >= '2024-05-25 12:00+00') AS in_close
  FROM s_lead WHERE date_created >= '2024-05-25 12:00+00';
SELECT count(*) FILTER (WHERE path = '/api/v1/data/search/') AS searches,
       count(*) FILTER (WHERE path <> '/api/v1/data/search/') AS other_requests
  FROM emu_requests();
SELECT search_conditions(body) AS conditions, returned FROM emu_searches();
SELECT emu_clear();

-- a timestamp is widened to the whole second around it: never fewer rows
SELECT count(*) FROM s_lead WHERE date_created < '2024-05-20 10:00:00.5+00'
                              AND date_created > '2024-05-19 10:00:00.5+00';
SELECT jsonb_path_query_array(search_conditions(body), '$[*].condition') AS sent FROM emu_searches();
SELECT emu_clear();

--
-- 3. Status labels are sent as the ids of the statuses so named: the
-- statuses are read once (GET /status/lead/), then one search
--
SELECT count(*) AS qualified,
       (SELECT count(*) FROM emu_objects('lead') o WHERE o->>'status_label' = 'Qualified') AS in_close
  FROM s_lead WHERE status_label = 'Qualified';
SELECT method, path FROM emu_requests();
SELECT search_conditions(body) AS conditions FROM emu_searches();
SELECT emu_clear();
-- a label no status has: nothing to ask Close for
SELECT count(*) FROM s_lead WHERE status_label = 'No such status';
SELECT method, path FROM emu_requests();
SELECT emu_clear();

--
-- 4. Custom fields, numbers, choices, users, dates; IS NULL; OR trees
--
SELECT cond, (search_differs(cond)).* FROM (VALUES
  ('employees >= 1000'),
  ('employees = 1250'),
  ('employees < 10.5'),
  ('tier = ''Gold'''),
  ('tier IN (''Gold'', ''Silver'')'),
  ('owner = ''user_0000000000000000000001'''),
  ('since >= ''2024-05-01'''),
  ('since = ''2024-05-01'''),
  ('source IS NULL'),
  ('employees IS NOT NULL'),
  ('status_label = ''Customer'' OR employees > 5000'),
  ('status_id = ''stat_0000000000000000000001'' OR (tier = ''Gold'' AND date_created > ''2024-05-20'')'),
  ('created_by = ''user_0000000000000000000002'''),
  ('date_updated >= ''2024-05-30'' AND display_name LIKE ''%a%'''),
  ('NOT (status_label = ''Customer'')'),
  ('display_name = ''Acme Corporation''')
) v(cond);
-- (the last two are checked only locally: NOT and text equality are never
-- pushed, as Close's matching is not SQL's; neither is IS NOT NULL on text,
-- as Close's "exists" is false for "")
SELECT (search_differs('source IS NOT NULL')).*;
SELECT emu_clear();

--
-- 5. ORDER BY date_created/date_updated ... LIMIT: Close sorts, and the
-- first page holds only the rows asked for
--
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, date_created FROM s_lead ORDER BY date_created DESC LIMIT 3;
SELECT id, date_created FROM s_lead ORDER BY date_created DESC LIMIT 3;
SELECT body->'sort' AS sort, body->'_limit' AS page FROM emu_searches();
SELECT (SELECT array_agg(id ORDER BY date_created DESC) FROM (SELECT id, date_created FROM s_lead ORDER BY date_created DESC LIMIT 7) s) =
       (SELECT array_agg(id ORDER BY date_created DESC) FROM (SELECT id, date_created FROM s_lead_list ORDER BY date_created DESC LIMIT 7) s)
       AS same_as_list;
-- date_updated too (a lead updated during the walk could come twice: ids
-- are remembered for the whole walk)
SELECT (SELECT array_agg(id ORDER BY date_updated) FROM (SELECT id, date_updated FROM s_lead ORDER BY date_updated LIMIT 50) s) =
       (SELECT array_agg(id ORDER BY date_updated) FROM (SELECT id, date_updated FROM s_lead_list ORDER BY date_updated LIMIT 50) s)
       AS same_as_list;
SELECT body->'sort'->0->'field'->>'field_name' AS sorted_by, body->'sort'->0->>'direction' AS direction, count(*)
  FROM emu_searches() GROUP BY 1, 2 ORDER BY 1, 2;
SELECT emu_clear();

--
-- 6. Many ids in few requests: 200 lead ids (3 of them unknown) in one
-- search by id, plus one GET for each id it did not return
--
SELECT array_agg(id) AS ids200 FROM (
  (SELECT o->>'id' AS id FROM emu_objects('lead') o LIMIT 197)
  UNION ALL SELECT 'lead_missing_' || n FROM generate_series(1, 3) n) s \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM s_lead WHERE id = ANY('{a,b}');
SELECT count(*) FROM s_lead WHERE id = ANY(:'ids200'::text[]);
SELECT count(*) AS requests, count(*) FILTER (WHERE method = 'POST') AS searches,
       count(*) FILTER (WHERE method = 'GET' AND status = 404) AS not_found
  FROM emu_requests();
SELECT jsonb_array_length(search_conditions(body)->0->'queries') AS ids_in_search FROM emu_searches();
SELECT emu_clear();
-- id = a OR id = b is a lookup, not a listing
SELECT count(*) FROM s_lead WHERE id = 'lead_0000000000000000000001' OR id = 'lead_a/b?c#d';
SELECT count(*) AS requests, count(*) FILTER (WHERE path = '/api/v1/lead/') AS listings FROM emu_requests();
SELECT emu_clear();

-- a join on a local table of 200 ids: batches of 200 ids as the join asks
CREATE TABLE s_accounts AS SELECT 'acct-' || n AS account, id
  FROM unnest(:'ids200'::text[]) WITH ORDINALITY AS u(id, n);
ANALYZE s_accounts;
SELECT count(*) FROM s_accounts a JOIN s_lead l ON l.id = a.id;
SELECT count(*) AS requests, count(*) FILTER (WHERE method = 'POST') AS searches FROM emu_requests();
SELECT emu_clear();
-- LIMIT 2 over the join: no more than one batch is looked up (one search,
-- and a GET for each of the three unknown ids in it)
SELECT count(*) FROM (SELECT a.account FROM s_accounts a JOIN s_lead l ON l.id = a.id LIMIT 2) s;
SELECT count(*) FILTER (WHERE method = 'POST') AS searches, count(*) FILTER (WHERE method = 'GET') AS gets
  FROM emu_requests();
SELECT emu_clear();
SELECT count(*) FROM (SELECT a.account FROM s_accounts a JOIN s_lead_list l ON l.id = a.id LIMIT 2) s;
SELECT count(*) <= 8 AS at_most_one_batch_of_gets FROM emu_requests();
SELECT emu_clear();

-- Close refuses search by id: GETs instead, for the rest of the session
SELECT close_raw('POST', '/config', '{"search": {"reject_id_node": true}}', 'emu_control') IS NOT NULL AS refusing;
SET client_min_messages = debug1;
SELECT count(*) FROM s_lead WHERE id = ANY(ARRAY['lead_0000000000000000000001', 'lead_a/b?c#d']);
RESET client_min_messages;
SELECT method, path, status FROM emu_requests() ORDER BY method, path;
SELECT emu_clear();
SELECT count(*) FROM s_lead WHERE id = ANY(ARRAY['lead_0000000000000000000001', 'lead_a/b?c#d']);
SELECT count(*) FILTER (WHERE method = 'POST') AS searches, count(*) FILTER (WHERE method = 'GET') AS gets
  FROM emu_requests();
SELECT emu_reset();

--
-- 7. lead_id = ANY(...) on children: one search for contacts, one filtered
-- listing per lead for notes (no search, no lead_id__in); never the whole
-- collection
--
SELECT count(*) AS contacts,
       (SELECT count(*) FROM emu_objects('contact') o
         WHERE o->>'lead_id' IN ('lead_0000000000000000000001', 'lead_a/b?c#d')) AS in_close
  FROM s_contact WHERE lead_id = ANY(ARRAY['lead_0000000000000000000001', 'lead_a/b?c#d']);
SELECT method, path, search_conditions(body) AS conditions FROM emu_requests();
SELECT emu_clear();
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM s_note WHERE lead_id = 'lead_0000000000000000000001' OR lead_id = 'lead_a/b?c#d';
SELECT count(*) AS notes,
       (SELECT count(*) FROM emu_objects('activity/note') o
         WHERE o->>'lead_id' IN ('lead_0000000000000000000001', 'lead_a/b?c#d')) AS in_close
  FROM s_note WHERE lead_id = 'lead_0000000000000000000001' OR lead_id = 'lead_a/b?c#d';
SELECT method, path, regexp_replace(query, '_skip=\d+&', '') AS query FROM emu_requests() ORDER BY query;
SELECT emu_clear();

-- opportunities keep the list endpoint when it can say everything, go to
-- search when only search can (an OR), and are listed when neither can
-- (value is no field Close's search documents)
SELECT count(*) FROM s_opportunity WHERE status_type = 'won';
SELECT count(*) FROM s_opportunity WHERE status_type = 'won' OR status_label = 'Lost';
SELECT count(*) FROM s_opportunity WHERE value > 100000;
SELECT method, path, count(*) FROM emu_requests() GROUP BY 1, 2 ORDER BY 1, 2;
SELECT emu_clear();

--
-- 8. Past the cap of objects per walk, with a consumer slower than the
-- cursor's lifetime: keyset paging asks afresh each time, so every lead
-- comes once
--
SELECT close_raw('POST', '/config', '{"search": {"walk_cap": 50, "cursor_ttl": 1}}', 'emu_control') IS NOT NULL AS capped;
CREATE TEMP TABLE walked (id text);
DO $$
DECLARE
  c refcursor;
  r record;
  n int := 0;
BEGIN
  OPEN c FOR SELECT id FROM s_lead;
  LOOP
    FETCH c INTO r;
    EXIT WHEN NOT FOUND;
    INSERT INTO walked VALUES (r.id);
    n := n + 1;
    IF n IN (30, 130) THEN
      PERFORM pg_sleep(1.5);
    END IF;
  END LOOP;
  CLOSE c;
END $$;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       (SELECT count(*) FROM emu_objects('lead')) AS in_close,
       (SELECT count(*) FROM emu_objects('lead') o WHERE o->>'id' NOT IN (SELECT id FROM walked)) AS missed
  FROM walked;
SELECT count(*) AS pages, count(*) FILTER (WHERE body ? 'cursor') AS cursors, max(returned) AS largest_page
  FROM emu_searches();
SELECT emu_reset();

-- a plateau: 90 leads created in one second, more than two pages: Close's
-- cursor is followed at once through it, every lead once
SELECT close_raw('POST', '/generate', '{"count": 90, "step_seconds": 0, "start": "2024-06-01T00:00:00+00:00", "contacts_per_lead": 0}', 'emu_control') IS NOT NULL AS generated;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids, (SELECT count(*) FROM emu_objects('lead')) AS in_close
  FROM s_lead;
SELECT count(*) FILTER (WHERE body ? 'cursor') > 0 AS followed_cursor FROM emu_searches();
SELECT emu_clear();
-- a plateau larger than Close walks through at once: an ERROR, never part
SELECT close_raw('POST', '/config', '{"search": {"walk_cap": 60}}', 'emu_control') IS NOT NULL AS smaller_cap;
SELECT count(*) FROM s_lead;
SELECT emu_reset();

--
-- 9. use_search 'false' lists only; Close refusing a search is an ERROR
-- that names the way out
--
SELECT count(*) FROM s_lead_list WHERE status_label = 'Qualified';
SELECT count(*) FILTER (WHERE path = '/api/v1/data/search/') AS searches, count(*) AS requests FROM emu_requests();
SELECT emu_fault('{"path": "/api/v1/data/search/", "status": 400, "times": 1, "body": {"errors": [], "field-errors": {"query": "Unknown field."}}}');
SELECT count(*) FROM s_lead WHERE created_by = 'user_0000000000000000000001';
SELECT emu_fault('{"path": "/api/v1/data/search/", "status": 200, "times": 1, "body": {"data": [{"__object_type": "lead"}], "cursor": null}}');
SELECT count(*) FROM s_lead;
SELECT emu_reset();

DROP TABLE s_accounts;
DROP FUNCTION search_differs(text), search_conditions(jsonb), emu_searches();
DROP SERVER emu_s CASCADE;
