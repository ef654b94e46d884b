-- INSERT, UPDATE and DELETE with RETURNING: exact requests and bodies.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE lead (
  id text, name text, description text, status_label text, url text,
  date_created timestamptz, date_updated timestamptz, display_name text,
  budget numeric OPTIONS (field 'custom.cf_lead_number'),
  tags text[] OPTIONS (field 'custom.cf_lead_multi'),
  kickoff date OPTIONS (field 'custom.cf_lead_date'),
  attrs jsonb
) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE contact (id text, lead_id text, name text, title text,
  emails jsonb, date_created timestamptz) SERVER emu OPTIONS (object 'contact');
CREATE FOREIGN TABLE opportunity (id text, lead_id text, status_type text, confidence int,
  value bigint, value_currency text, note text) SERVER emu OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE task (id text, lead_id text, text text, date date, is_complete boolean,
  _type text) SERVER emu OPTIONS (object 'task');
CREATE FOREIGN TABLE note (id text, lead_id text, note text, _type text)
  SERVER emu OPTIONS (object 'activity/note');

-- INSERT: one POST with the non-NULL columns, RETURNING from Close's answer
EXPLAIN (VERBOSE, COSTS OFF)
INSERT INTO lead (name) VALUES ('x') RETURNING id;
INSERT INTO lead (name, description, budget, tags, kickoff, attrs)
VALUES ('Globex Ltd', 'Ünïcødé ok', 1234.5, ARRAY['Widgets', 'Gadgets'], '2025-01-31',
        '{"url": "https://globex.example", "name": "overridden by the column"}')
RETURNING id LIKE 'lead_%' AS has_id, name, description, budget, tags, kickoff, url,
          display_name, date_created IS NOT NULL AS dated;
SELECT method, path, body FROM emu_requests();
SELECT o->>'name' AS name, o->'custom.cf_lead_number' AS budget, o->'custom.cf_lead_multi' AS tags
  FROM emu_objects('lead') o WHERE o->>'name' = 'Globex Ltd';
SELECT emu_clear();

-- computed fields are not sent, even when the row carries them
INSERT INTO lead (id, name, date_created, display_name) VALUES ('lead_mine', 'Initech', now(), 'x')
RETURNING id <> 'lead_mine' AS id_from_close, name;
SELECT body FROM emu_requests();
SELECT emu_clear();

-- child objects; multi-row INSERT and INSERT ... SELECT, one POST per row
INSERT INTO contact (lead_id, name, title, emails)
VALUES ('lead_0000000000000000000001', 'Ada', 'CTO', '[{"email": "ada@acme.example", "type": "office"}]'),
       ('lead_0000000000000000000001', 'Brian', NULL, NULL)
RETURNING lead_id, name, title, emails;
INSERT INTO task (lead_id, text, date)
SELECT 'lead_0000000000000000000001', 'Follow up ' || n, date '2025-02-01' + n FROM generate_series(1, 3) n
RETURNING text, date, is_complete, _type;
INSERT INTO note (lead_id, note) VALUES ('lead_0000000000000000000001', 'Met at the fair') RETURNING note, _type;
INSERT INTO opportunity (lead_id, value, value_currency, confidence)
VALUES ('lead_0000000000000000000001', 500000, 'EUR', 40) RETURNING value, value_currency, confidence;
SELECT method, path, body FROM emu_requests();
SELECT emu_clear();

-- without RETURNING, rows go in batches of max_concurrency concurrent POSTs
EXPLAIN (VERBOSE, COSTS OFF)
INSERT INTO contact (lead_id, name) SELECT 'lead_0000000000000000000001', 'Batch ' || n FROM generate_series(1, 16) n;
SELECT close_raw('POST', '/config', '{"latency_ms": 50}', 'emu_control') IS NOT NULL AS slow;
INSERT INTO contact (lead_id, name) SELECT 'lead_0000000000000000000001', 'Batch ' || n FROM generate_series(1, 16) n;
SELECT count(*) AS posts, emu_max_overlap() > 1 AS concurrent, emu_max_overlap() <= 8 AS bounded FROM emu_requests();
SELECT count(*) AS stored FROM emu_objects('contact') c WHERE c->>'name' LIKE 'Batch %';
SELECT close_raw('POST', '/config', '{"latency_ms": 0}', 'emu_control') IS NOT NULL AS fast;
SELECT emu_clear();

-- COPY into a Close table: one POST per row, in batches
COPY contact (lead_id, name) FROM stdin;
lead_0000000000000000000001	Copied One
lead_0000000000000000000001	Copied Two
\.
SELECT count(*) AS posts FROM emu_requests() WHERE method = 'POST';
SELECT count(*) AS stored FROM emu_objects('contact') c WHERE c->>'name' LIKE 'Copied %';
-- (16 and later send COPY's rows in batches: the error names no line)
\set SHOW_CONTEXT never
COPY contact (name) FROM stdin;
No lead
\.
\set SHOW_CONTEXT errors
CREATE FOREIGN TABLE ro_contact (id text, lead_id text, name text)
  SERVER emu OPTIONS (object 'contact', updatable 'false');
COPY ro_contact (lead_id, name) FROM stdin;
lead_0000000000000000000001	Refused
\.
DROP FOREIGN TABLE ro_contact;
SELECT emu_clear();

-- UPDATE by id: one PUT with only the assigned fields, no GET; NULL unsets
EXPLAIN (VERBOSE, COSTS OFF)
UPDATE lead SET description = 'x', budget = NULL WHERE id = 'lead_0000000000000000000001';
UPDATE lead SET description = 'Key account', budget = NULL WHERE id = 'lead_0000000000000000000001'
RETURNING id, description, budget, name;
SELECT method, path, body FROM emu_requests();
SELECT emu_clear();
-- a missing id: 0 rows
UPDATE lead SET description = 'x' WHERE id = 'lead_missing';
-- parameters and generic plans
PREPARE upd(text, int) AS UPDATE opportunity SET confidence = $2 WHERE id = $1;
SET plan_cache_mode = force_generic_plan;
EXECUTE upd('oppo_0000000000000000000001', 75);
RESET plan_cache_mode;
SELECT method, path, body, status FROM emu_requests();
SELECT emu_clear();

-- UPDATE with other conditions, or values computed from the row: find the rows, then PUT each
EXPLAIN (VERBOSE, COSTS OFF)
UPDATE opportunity SET confidence = confidence + 1 WHERE status_type = 'active';
UPDATE opportunity SET confidence = confidence + 1 WHERE status_type = 'active' AND confidence < 10
RETURNING confidence <= 10 AS ok;
SELECT method, count(*), min(body::text) = max(body::text) AS same_shape
  FROM (SELECT method, jsonb_object_keys(body) AS body FROM emu_requests() WHERE method = 'PUT') s
 GROUP BY method;
SELECT count(*) FILTER (WHERE method = 'GET') AS listings FROM emu_requests();
SELECT emu_clear();

-- what cannot be changed
UPDATE lead SET id = 'lead_new' WHERE id = 'lead_0000000000000000000001';
UPDATE lead SET date_created = now() WHERE id = 'lead_0000000000000000000001';
CREATE FOREIGN TABLE lead_city (id text, city text OPTIONS (field 'addresses.0.city'))
  SERVER emu OPTIONS (object 'lead');
UPDATE lead_city SET city = 'Paris' WHERE id = 'lead_0000000000000000000001';
INSERT INTO lead (name) VALUES ('x') ON CONFLICT DO NOTHING;
CREATE FOREIGN TABLE event (id text) SERVER emu OPTIONS (object 'event');
INSERT INTO event (id) VALUES ('ev_x');
UPDATE event SET id = 'x';
CREATE FOREIGN TABLE ro_lead (id text, name text) SERVER emu OPTIONS (object 'lead', updatable 'false');
INSERT INTO ro_lead (name) VALUES ('x');
SELECT table_name, is_insertable_into FROM information_schema.tables
 WHERE table_name IN ('lead', 'event', 'ro_lead') ORDER BY 1;
SELECT count(*) AS requests FROM emu_requests();

-- Close's validation errors: each field and message in DETAIL, the row not skipped
INSERT INTO contact (name) VALUES ('No Lead');
INSERT INTO task (lead_id) VALUES ('lead_0000000000000000000001');
INSERT INTO opportunity (lead_id) VALUES ('lead_does_not_exist');
SELECT count(*) AS posts FROM emu_requests() WHERE method = 'POST';
SELECT emu_clear();

-- a multi-row statement that fails half-way: what was sent stays sent, and the context says so
-- (so does a WARNING as the transaction rolls back, left out here: psql
-- prints it before or after the ERROR as the two arrive; sql/xact.sql shows it)
SET client_min_messages = error;
INSERT INTO contact (lead_id, name)
VALUES ('lead_0000000000000000000001', 'First'), ('lead_0000000000000000000001', 'Second'), (NULL, 'Third');
RESET client_min_messages;
SELECT count(*) AS created FROM emu_objects('contact') c WHERE c->>'name' IN ('First', 'Second');
SELECT emu_clear();

-- POST is never retried after a server error (it may have been processed) ...
SELECT emu_fault('{"method": "POST", "path": "/api/v1/lead/", "status": 503, "times": 1}');
INSERT INTO lead (name) VALUES ('Once only');
SELECT method, status FROM emu_requests();
SELECT emu_clear();
-- ... but is retried after 429 (not processed)
SELECT emu_fault('{"method": "POST", "path": "/api/v1/lead/", "status": 429, "times": 1, "headers": {"Retry-After": "0"}}');
INSERT INTO lead (name) VALUES ('After a 429') RETURNING name;
SELECT method, status FROM emu_requests();
SELECT emu_clear();
-- PUT is idempotent: retried after 503
SELECT emu_fault('{"method": "PUT", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 503, "times": 1}');
UPDATE lead SET description = 'retried' WHERE id = 'lead_0000000000000000000001' RETURNING description;
SELECT method, status FROM emu_requests();
SELECT emu_clear();

-- DELETE with RETURNING * (found by a listing)
WITH gone AS (DELETE FROM task WHERE text LIKE 'Follow up %' RETURNING text, date)
SELECT * FROM gone ORDER BY text;
SELECT count(*) FILTER (WHERE method = 'DELETE') AS deletes FROM emu_requests();

DROP FOREIGN TABLE lead, contact, opportunity, task, note, lead_city, event, ro_lead;
