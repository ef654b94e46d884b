-- LIMIT, ORDER BY and projection: what reaches Close, and only when safe.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE lead (id text, display_name text, description text, attrs jsonb)
  SERVER emu OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE opportunity (id text, lead_id text, status_type text, value bigint,
  confidence int, date_created timestamptz, date_won date, note text)
  SERVER emu OPTIONS (object 'opportunity');

-- LIMIT 5 fetches one small page; OFFSET adds to it
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name FROM lead LIMIT 5;
SELECT count(*) FROM (SELECT id, display_name FROM lead LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM lead LIMIT 5 OFFSET 10) s;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- not when it would be wrong or useless: local conditions, joins, aggregates, DISTINCT
SELECT count(*) FROM (SELECT id FROM lead WHERE display_name LIKE 'A%' LIMIT 2) s;
SELECT count(*) FROM (SELECT l.id FROM lead l JOIN opportunity o ON o.lead_id = l.id LIMIT 3) s;
SELECT count(*) FROM (SELECT DISTINCT display_name FROM lead LIMIT 4) s;
SELECT count(*) FROM (SELECT count(*) FROM lead GROUP BY display_name LIMIT 2) s;
SELECT DISTINCT query ~ '_limit=100' AS full_pages FROM emu_requests();
SELECT emu_clear();

-- pushed filters keep the small page
SELECT count(*) FROM (SELECT id FROM opportunity WHERE status_type = 'won' LIMIT 3) s;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- ORDER BY on fields Close sorts like SQL: _order_by, and then LIMIT goes too
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id, date_created FROM opportunity ORDER BY date_created DESC LIMIT 3;
SELECT id, date_created FROM opportunity ORDER BY date_created DESC LIMIT 3;
SELECT id, confidence FROM opportunity WHERE status_type = 'active' ORDER BY confidence, date_created LIMIT 4;
SELECT query FROM emu_requests();
SELECT emu_clear();
-- the same rows as a local sort
SELECT (SELECT array_agg(id) FROM (SELECT id FROM opportunity ORDER BY date_created DESC LIMIT 20) a) =
       (SELECT array_agg(id) FROM (SELECT id FROM opportunity ORDER BY date_created + interval '0' DESC LIMIT 20) b)
       AS same_order;
SELECT emu_clear();
-- nullable fields (date_won) and text columns are sorted locally
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM opportunity ORDER BY date_won LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM opportunity ORDER BY note LIMIT 3;
-- objects without _order_by are sorted locally
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM lead ORDER BY id LIMIT 3;

-- _fields names only what the query uses; all fields when attrs is used
SELECT length(description) > 0 AS has_description FROM lead LIMIT 1;
SELECT attrs ? 'addresses' AS whole_object FROM lead LIMIT 1;
SELECT (l).attrs IS NOT NULL AS whole_row FROM lead l LIMIT 1;
SELECT query FROM emu_requests();
SELECT emu_clear();

-- EXPLAIN ANALYZE shows what was sent
SELECT * FROM explain_stable('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', $$
SELECT count(*) FROM lead$$);

DROP FOREIGN TABLE lead, opportunity;
