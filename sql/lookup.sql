-- Lookup by id: exactly one GET /{object}/{id}/ per distinct id.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE lead (
  id text,
  display_name text,
  name varchar(40),
  description text,
  status_label text,
  date_created timestamptz,
  date_updated timestamp,
  custom_number numeric OPTIONS (field 'custom.cf_lead_number'),
  custom_count int8 OPTIONS (field 'custom.cf_lead_number'),
  custom_multi text[] OPTIONS (field 'custom.cf_lead_multi'),
  custom_date date OPTIONS (field 'custom.cf_lead_date'),
  custom_dt timestamptz OPTIONS (field 'custom.cf_lead_datetime'),
  city text OPTIONS (field 'addresses.0.city'),
  addresses jsonb,
  addresses_json json OPTIONS (field 'addresses'),
  missing_field text OPTIONS (field 'missing_field'),  -- a key leads lack: NULL
  attrs jsonb
) SERVER emu OPTIONS (object 'lead', use_search 'false');

-- one lookup, every column type
SELECT id, display_name, name, description, status_label, date_created, date_updated,
       custom_number, custom_count, custom_multi, custom_date, custom_dt, city,
       addresses->1->>'city' AS second_city, json_typeof(addresses_json) AS json_kind,
       missing_field, attrs->>'html_url' AS html_url, attrs ? 'custom.cf_lead_text' AS attrs_has_custom
  FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT method, path, query FROM emu_requests();
SELECT emu_clear();

-- the constant on the left, a missing id (zero rows, not an error), NULL, ''
SELECT display_name FROM lead WHERE 'lead_0000000000000000000001' = id;
SELECT count(*) FROM lead WHERE id = 'lead_missing';
SELECT count(*) FROM lead WHERE id = NULL;
SELECT count(*) FROM lead WHERE id = '';
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- percent-encoding of ids: each reaches Close as one path segment
SELECT id, display_name FROM lead WHERE id = 'lead_a/b?c#d';
SELECT id, display_name FROM lead WHERE id = 'lead_ünïcødé';
SELECT count(*) FROM lead WHERE id = '..';
SELECT count(*) FROM lead WHERE id = '.';
SELECT count(*) FROM lead WHERE id = 'with space';
SELECT count(*) FROM lead WHERE id = 'a%2Fb';
SELECT count(*) FROM lead WHERE id = E'cr\r\nlf';
SELECT count(*) FROM lead WHERE id = 'quote''s"';
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- EXPLAIN shows the request
EXPLAIN (VERBOSE, COSTS OFF) SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
EXPLAIN (VERBOSE, COSTS OFF) SELECT display_name FROM lead WHERE id = ANY(ARRAY['a', 'b']);

-- id = ANY / IN: one GET per distinct id, results in id order
SELECT id, display_name FROM lead
 WHERE id IN ('lead_ünïcødé', 'lead_0000000000000000000001', 'lead_missing', 'lead_ünïcødé', NULL);
SELECT method, path, status FROM emu_requests() ORDER BY path;
SELECT emu_clear();

-- prepared statements, custom and generic plans
PREPARE by_id(text) AS SELECT display_name FROM lead WHERE id = $1;
EXECUTE by_id('lead_0000000000000000000001');
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id('lead_0000000000000000000001');
EXECUTE by_id('lead_0000000000000000000001');
EXECUTE by_id('lead_ünïcødé');
PREPARE by_ids(text[]) AS SELECT id FROM lead WHERE id = ANY($1) ORDER BY id;
EXECUTE by_ids(ARRAY['lead_0000000000000000000001', 'lead_a/b?c#d']);
RESET plan_cache_mode;
SELECT method, path FROM emu_requests() ORDER BY path;
SELECT emu_clear();
-- keep-alive: one connection serves statement after statement
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM lead WHERE id = 'lead_a/b?c#d';
SELECT count(*) FROM lead WHERE id = 'lead_missing';
SELECT count(*) AS requests, count(DISTINCT connection) AS connections FROM emu_requests();
SELECT emu_clear();

-- PL/pgSQL
CREATE FUNCTION lead_name(lead_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
  SELECT display_name INTO result FROM lead WHERE id = lead_id;
  RETURN coalesce(result, '(none)');
END $$;
SELECT lead_name('lead_0000000000000000000001'), lead_name('lead_missing');
SELECT count(*) AS requests FROM emu_requests();
SELECT emu_clear();

-- a join with a local table: a nested loop of lookups, never a listing
CREATE TABLE local_signups (email text, lead_id text);
INSERT INTO local_signups VALUES
  ('zoe@acme.example', 'lead_0000000000000000000001'),
  ('x@example.com', 'lead_ünïcødé'),
  ('nobody@example.com', 'lead_missing');
ANALYZE local_signups;
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT s.email, l.display_name FROM local_signups s JOIN lead l ON l.id = s.lead_id$$);
SELECT s.email, l.display_name FROM local_signups s JOIN lead l ON l.id = s.lead_id ORDER BY 1;
SELECT s.email, l.display_name FROM local_signups s LEFT JOIN lead l ON l.id = s.lead_id ORDER BY 1;
SELECT s.email, l.name FROM local_signups s, LATERAL (SELECT name FROM lead WHERE id = s.lead_id) l ORDER BY 1;
SELECT method, path FROM emu_requests() ORDER BY path;
SELECT count(*) FILTER (WHERE path = '/api/v1/lead/') AS listings FROM emu_requests();
SELECT emu_clear();

-- other conditions are applied locally after the lookup
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001' AND status_label = 'Potential';
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001' AND status_label = 'Lost';

-- values that do not fit the column type: ERROR naming table, column, id
CREATE FOREIGN TABLE lead_badtypes (id text, description int, name varchar(3), addresses int[])
  SERVER emu OPTIONS (object 'lead');
SELECT description FROM lead_badtypes WHERE id = 'lead_0000000000000000000001';
SELECT name FROM lead_badtypes WHERE id = 'lead_0000000000000000000001';
SELECT addresses FROM lead_badtypes WHERE id = 'lead_0000000000000000000001';
SELECT id FROM lead_badtypes WHERE id = 'lead_0000000000000000000001';

-- numbers and booleans into every numeric type; opportunity value is in cents
CREATE FOREIGN TABLE opportunity (
  id text, value int4, value_big int8 OPTIONS (field 'value'), value_small int2 OPTIONS (field 'confidence'),
  value_f4 float4 OPTIONS (field 'value'), value_f8 float8 OPTIONS (field 'value'),
  value_num numeric(12,2) OPTIONS (field 'value'), is_stalled boolean, is_stalled_text text OPTIONS (field 'is_stalled'),
  date_won date, date_lost date, value_currency char(3)
) SERVER emu OPTIONS (object 'opportunity');
SELECT * FROM opportunity WHERE id = 'oppo_0000000000000000000001';
CREATE FOREIGN TABLE opportunity_small (id text, value int2) SERVER emu OPTIONS (object 'opportunity');
SELECT value FROM opportunity_small WHERE id = 'oppo_0000000000000000000001';

-- statuses and pipelines by id (Close's newer reference documents these GETs)
CREATE FOREIGN TABLE status_lead (id text, label text) SERVER emu OPTIONS (object 'status/lead');
SELECT * FROM status_lead WHERE id = 'stat_0000000000000000000001';
CREATE FOREIGN TABLE pipeline (id text, name text) SERVER emu OPTIONS (object 'pipeline');
SELECT * FROM pipeline WHERE id = 'pipe_0000000000000000000001';

-- other object types: an activity, a custom field, a webhook (no-offset timestamps are UTC)
CREATE FOREIGN TABLE note (id text, lead_id text, note text, date_created timestamptz, _type text)
  SERVER emu OPTIONS (object 'activity/note');
SELECT id, lead_id, _type, date_created FROM note WHERE id = 'acti_0000000000000000000001';
CREATE FOREIGN TABLE webhook (id text, url text, date_created timestamptz, date_updated timestamp)
  SERVER emu OPTIONS (object 'webhook');
SET TimeZone = 'America/New_York';
SELECT id, url, date_created, date_updated FROM webhook WHERE id = 'whsub_0000000000000000000001';
RESET TimeZone;
CREATE FOREIGN TABLE unsubscribed (id text OPTIONS (field 'email'), attrs jsonb)
  SERVER emu OPTIONS (object 'unsubscribe/email');
-- a lookup asks only for the fields it uses where Close's GET takes _fields,
-- custom fields included where Close documents selecting them (leads);
-- elsewhere it fetches the whole object rather than lose custom values
CREATE FOREIGN TABLE lead_few (id text, display_name text,
  employees numeric OPTIONS (field 'custom.cf_lead_number')) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE contact_few (id text, name text,
  custom_text text OPTIONS (field 'custom.cf_contact_text')) SERVER emu OPTIONS (object 'contact');
CREATE FOREIGN TABLE contact_plain (id text, name text) SERVER emu OPTIONS (object 'contact');
SELECT emu_clear();
SELECT display_name, employees FROM lead_few WHERE id = 'lead_0000000000000000000001';
SELECT name, custom_text FROM contact_few WHERE id = 'cont_0000000000000000000001';
SELECT name FROM contact_plain WHERE id = 'cont_0000000000000000000001';
SELECT path, query FROM emu_requests();
SELECT emu_clear();
DROP FOREIGN TABLE lead_few, contact_few, contact_plain;

DROP TABLE local_signups;
DROP FUNCTION lead_name(text);
DROP FOREIGN TABLE lead, opportunity, opportunity_small, lead_badtypes, status_lead, pipeline, note, webhook, unsubscribed;
