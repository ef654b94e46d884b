-- Statements that change what they read: Close has no snapshot, and its
-- listings move while they are paged (a delete moves every later row one
-- place up; a created object appears in the listing).  A statement that
-- changes Close therefore reads its scans completely before its first
-- change: the row count is Close's truth, no matching row is left, nothing
-- is changed twice, and an INSERT ... SELECT never reads what it created.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();

-- small pages, so that every statement below spans several
CREATE SERVER emu_p FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', page_size '20', search_page_size '20', max_concurrency '4',
           max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_p OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE p_contact (id text, lead_id text, name text, title text)
  SERVER emu_p OPTIONS (object 'contact');
CREATE FOREIGN TABLE p_contact_list (id text, lead_id text, name text, title text)
  SERVER emu_p OPTIONS (object 'contact', use_search 'false');
CREATE FOREIGN TABLE p_opportunity (id text, lead_id text, status_type text, status_id text,
  confidence numeric, note text) SERVER emu_p OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE p_lead (id text, name text, description text)
  SERVER emu_p OPTIONS (object 'lead');
CREATE FOREIGN TABLE p_task (id text, lead_id text, text text, is_complete boolean, _type text)
  SERVER emu_p OPTIONS (object 'task', use_search 'false');

--
-- DELETE with a WHERE Close cannot evaluate, over many pages: the list
-- endpoint (pages of 20 by _skip), then Close's search
--
SELECT count(*) AS to_delete FROM emu_objects('contact') o WHERE o->>'title' LIKE '%e%';
EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM p_contact_list WHERE title LIKE '%e%';
DELETE FROM p_contact_list WHERE title LIKE '%e%';
SELECT count(*) AS left_in_close FROM emu_objects('contact') o WHERE o->>'title' LIKE '%e%';
-- the listing was read to its end before the first DELETE went out
SELECT max(seq) FILTER (WHERE method = 'GET') < min(seq) FILTER (WHERE method = 'DELETE') AS read_first
  FROM (SELECT (r->>'seq')::int AS seq, r->>'method' AS method
          FROM jsonb_array_elements((close_raw('GET', '/requests', NULL, 'emu_control')).body) r) s;
SELECT emu_reset();

SELECT count(*) AS to_delete FROM emu_objects('contact') o WHERE o->>'title' IS NOT NULL;
DELETE FROM p_contact WHERE title IS NOT NULL;
SELECT count(*) AS left_in_close FROM emu_objects('contact') o WHERE o->>'title' IS NOT NULL;
SELECT count(*) FILTER (WHERE method = 'DELETE') AS deletes,
       count(*) FILTER (WHERE method = 'DELETE' AND status <> 200) AS failed_deletes
  FROM emu_requests();
SELECT emu_reset();

-- RETURNING shows each deleted row once
SELECT count(*) AS to_delete FROM emu_objects('contact') o WHERE o->>'name' LIKE 'J%';
WITH d AS (DELETE FROM p_contact_list WHERE name LIKE 'J%' RETURNING id)
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_ids FROM d;
SELECT emu_reset();

--
-- UPDATE that makes its rows stop matching the filter Close applies:
-- every active opportunity becomes lost, none is left active
--
SELECT count(*) AS active FROM emu_objects('opportunity') o WHERE o->>'status_type' = 'active';
SELECT id AS lost_status FROM (SELECT o->>'id' AS id FROM emu_objects('status/opportunity') o
  WHERE o->>'type' = 'lost' LIMIT 1) s \gset
UPDATE p_opportunity SET status_id = :'lost_status' WHERE status_type = 'active';
SELECT count(*) AS still_active FROM emu_objects('opportunity') o WHERE o->>'status_type' = 'active';
SELECT count(*) FILTER (WHERE method = 'PUT') AS puts, count(DISTINCT path) FILTER (WHERE method = 'PUT') AS distinct_objects
  FROM emu_requests();
SELECT emu_reset();

-- an UPDATE that changes the sort key of the listing (a note on every
-- completed task): each task once
SELECT count(*) AS complete FROM emu_objects('task') t
 WHERE (t->>'is_complete')::boolean AND t->>'_type' = 'lead';
UPDATE p_task SET text = text || ' (done)' WHERE is_complete AND _type = 'lead';
SELECT count(*) AS marked FROM emu_objects('task') t WHERE t->>'text' LIKE '% (done)';
SELECT count(*) AS marked_twice FROM emu_objects('task') t WHERE t->>'text' LIKE '% (done) (done)';
SELECT emu_reset();

--
-- INSERT ... SELECT from the collection it inserts into: exactly one copy
-- of each lead read, never a copy of a copy
--
SELECT count(*) AS leads_before FROM emu_objects('lead');
INSERT INTO p_lead (name, description) SELECT name || ' (copy)', description FROM p_lead;
SELECT count(*) AS leads_after, count(*) FILTER (WHERE o->>'name' LIKE '% (copy)') AS copies,
       count(*) FILTER (WHERE o->>'name' LIKE '% (copy) (copy)') AS copies_of_copies
  FROM emu_objects('lead') o;
SELECT emu_reset();

-- the same through the list endpoint, and for opportunities (which Close
-- lists newest first: the new ones at the head of the listing)
INSERT INTO p_contact_list (lead_id, name, title)
  SELECT lead_id, name || ' (copy)', title FROM p_contact_list WHERE lead_id = 'lead_0000000000000000000001';
SELECT count(*) FILTER (WHERE o->>'name' LIKE '% (copy)') AS copies,
       (SELECT count(*) FROM emu_objects('contact') c
         WHERE c->>'lead_id' = 'lead_0000000000000000000001' AND c->>'name' NOT LIKE '% (copy)') AS originals
  FROM emu_objects('contact') o;
SELECT count(*) AS opportunities_before FROM emu_objects('opportunity');
INSERT INTO p_opportunity (lead_id, note, confidence)
  SELECT lead_id, 'copy of ' || id, confidence FROM p_opportunity;
SELECT count(*) AS opportunities_after, count(*) FILTER (WHERE o->>'note' LIKE 'copy of %') AS copies
  FROM emu_objects('opportunity') o;
SELECT emu_reset();

--
-- An INSERT whose source fails half-way: the error says how many objects
-- this statement had already created (they stay in Close)
--
CREATE TABLE p_source (n int);
INSERT INTO p_source SELECT generate_series(1, 30);
CREATE FUNCTION p_fail_at(n int, at int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF n = at THEN
    RAISE EXCEPTION 'source row % cannot be read', n;
  END IF;
  RETURN n;
END $$;
-- (the rollback's WARNING is kept out: psql may show it before or after)
SET client_min_messages = error;
INSERT INTO p_lead (name) SELECT 'Batch lead ' || p_fail_at(n, 23) FROM p_source ORDER BY n;
SELECT count(*) AS created FROM emu_objects('lead') o WHERE o->>'name' LIKE 'Batch lead %';
-- and when a page of a Close source fails
SELECT emu_fault('{"path": "/api/v1/data/search/", "status": 500, "times": -1}');
INSERT INTO p_task (lead_id, text)
  SELECT 'lead_0000000000000000000001', 'from ' || l.name FROM p_source s, p_lead l
   WHERE l.id = 'lead_0000000000000000000001' AND s.n <= 9
  UNION ALL
  SELECT id, 'never' FROM p_lead WHERE name IS NOT NULL;
RESET client_min_messages;
SELECT emu_fault_clear();
SELECT count(*) AS created FROM emu_objects('task') t WHERE t->>'text' LIKE 'from %';
SELECT emu_reset();

--
-- The event log's cursor: each page asks for the next with the cursor the
-- previous page gave (kept by the pager, not in the page's memory)
--
CREATE FOREIGN TABLE p_event (id text, object_type text, date_updated timestamp)
  SERVER emu_p OPTIONS (object 'event');
SELECT count(*) AS events, count(DISTINCT id) AS distinct_ids,
       (SELECT count(*) FROM emu_objects('event')) AS in_close FROM p_event;
-- (a cursor Close did not give would be a 400: the count above is the proof
-- that each was passed on; here, that there were several)
SELECT count(*) AS pages, count(*) FILTER (WHERE query LIKE '%\_cursor=%') AS with_cursor
  FROM emu_requests() WHERE path = '/api/v1/event/';
SELECT emu_reset();

DROP TABLE p_source;
DROP FUNCTION p_fail_at(int, int);
DROP SERVER emu_p CASCADE;
