-- IMPORT FOREIGN SCHEMA close: one foreign table per catalog collection with
-- typed columns, custom field columns read from Close at import time, only
-- the definitions the selected tables need, and nothing created on error.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT emu_reset();

-- the columns of an imported table: name, type, FDW options
CREATE FUNCTION import_columns(tbl regclass)
RETURNS TABLE (col name, type text, options text[]) LANGUAGE sql AS
$$ SELECT attname, format_type(atttypid, atttypmod), attfdwoptions
     FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
    ORDER BY attnum $$;
-- the foreign tables of a schema
CREATE FUNCTION import_tables(nsp text)
RETURNS TABLE (tbl name, options text[]) LANGUAGE sql AS
$$ SELECT c.relname, ft.ftoptions
     FROM pg_class c JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
    WHERE c.relnamespace = nsp::regnamespace
    ORDER BY c.relname $$;
-- store a raw object in the emulator (test fixture, no validation)
CREATE FUNCTION emu_put(collection text, obj jsonb) RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('POST', '/objects/' || collection, obj, 'emu_control') $$;

--
-- Everything: one request per custom field collection, the shared ones last.
--
CREATE SCHEMA close_all;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_all;
SELECT method, path, query, status FROM emu_requests();

-- one table per catalog collection, named after it, reading it, nothing else
SELECT count(*) AS catalog_objects, count(t.tbl) AS imported,
       count(*) FILTER (WHERE t.options = ARRAY['object=' || o.object]) AS object_option_right
  FROM closecrm_objects() o LEFT JOIN import_tables('close_all') t ON t.tbl = o.table_name;
SELECT count(*) AS tables FROM import_tables('close_all');
SELECT tbl, options FROM import_tables('close_all')
 WHERE tbl IN ('activity_note', 'status_lead', 'custom_field_lead', 'activity_status_change_lead',
               'unsubscribe_email', 'bulk_action_sequence_subscription');

-- every table: its key column first (text), attrs jsonb last
SELECT count(*) AS tables,
       count(*) FILTER (WHERE first.column_name = o.key_field AND first.data_type = 'text') AS key_first,
       count(*) FILTER (WHERE last.column_name = 'attrs' AND last.data_type = 'jsonb') AS attrs_last
  FROM closecrm_objects() o
  JOIN information_schema.columns first
    ON first.table_schema = 'close_all' AND first.table_name = o.table_name
   AND first.ordinal_position = 1
  JOIN information_schema.columns last
    ON last.table_schema = 'close_all' AND last.table_name = o.table_name
   AND last.ordinal_position = (SELECT max(ordinal_position) FROM information_schema.columns c
                                 WHERE c.table_schema = 'close_all' AND c.table_name = o.table_name);

-- lead: the catalog's fields in catalog order, then its custom fields in
-- Close's order, then the shared fields associated with leads, then attrs;
-- every custom field column records its Close type (custom_type, "[]" for
-- several values).  The seeded custom field "Source" keeps its name: the
-- catalog's source is a Smart Field Close sends only on request (source_2)
-- task: the fields of every task type, date a date
-- activity/custom: ActivityBase, request bodies, the custom fields
SELECT * FROM import_columns('close_all.lead');
SELECT * FROM import_columns('close_all.task');
SELECT * FROM import_columns('close_all.activity_custom');
-- unsubscribe/email is keyed by the address
SELECT * FROM import_columns('close_all.unsubscribe_email');

-- custom field columns appear exactly on the five objects that have them:
-- lead, contact (with the shared fields), opportunity, activity/custom,
-- custom_object
SELECT t.tbl, c.*
  FROM import_tables('close_all') t,
       LATERAL import_columns(format('close_all.%I', t.tbl)::regclass) c
 WHERE c.options::text LIKE '%custom.%';

-- the imported lead table reads the seeded lead, every custom value typed
-- (source_2, the Smart Field, is NULL: Close sends it only when _fields
-- names it, and a lookup by id sends no _fields)
SELECT emu_clear();
SELECT id, display_name, source, source_2, employees, product_interest, renewal_date,
       last_demo_at, tier, account_owner, legacy_ref, region, priority, tags,
       attrs->>'custom.cf_lead_number' AS raw_employees
  FROM close_all.lead WHERE id = 'lead_0000000000000000000001';
SELECT method, path, query FROM emu_requests();
SELECT pg_typeof(employees) AS employees, pg_typeof(product_interest) AS product_interest,
       pg_typeof(renewal_date) AS renewal_date, pg_typeof(last_demo_at) AS last_demo_at
  FROM close_all.lead WHERE id = 'lead_0000000000000000000001';
-- contact and opportunity custom values, and the shared fields on contacts
SELECT id, preferred_language, lead_score, topics, birthday, last_contacted_at, region, tags
  FROM close_all.contact WHERE id = 'cont_0000000000000000000001';
SELECT id, competitor, seats, modules, expected_close, kickoff_at
  FROM close_all.opportunity WHERE id = 'oppo_0000000000000000000001';
-- a full listing converts every seeded value (mixed int/decimal numbers,
-- missing keys) without error
SELECT count(*) AS leads, count(source) AS with_source, count(employees) AS with_employees,
       count(product_interest) AS with_interest, count(renewal_date) AS with_date,
       count(last_demo_at) AS with_datetime, count(region) AS with_region,
       sum(employees) > 0 AS employees_sum
  FROM close_all.lead;
SELECT count(*) AS contacts, count(lead_score) AS with_score, count(topics) AS with_topics
  FROM close_all.contact;
SELECT count(*) AS custom_activities, count(meeting_notes) AS with_notes,
       count(duration_min) AS with_duration
  FROM close_all.activity_custom;

-- importing again into the same schema: PostgreSQL's usual error
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_all;
IMPORT FOREIGN SCHEMA close LIMIT TO (task) FROM SERVER emu INTO close_all;

--
-- LIMIT TO and EXCEPT: only the definitions the selected tables need.
--
CREATE SCHEMA close_some;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close LIMIT TO (lead, activity_note, status_lead)
  FROM SERVER emu INTO close_some;
SELECT method, path, query FROM emu_requests();
SELECT tbl FROM import_tables('close_some');

-- no table with custom fields selected: no request at all
CREATE SCHEMA close_plain;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close LIMIT TO (task, pipeline, "activity_status_change_opportunity")
  FROM SERVER emu INTO close_plain;
SELECT count(*) AS requests FROM emu_requests();
SELECT tbl, options FROM import_tables('close_plain');

CREATE SCHEMA close_except;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close EXCEPT (lead, contact, opportunity, activity_custom)
  FROM SERVER emu INTO close_except;
SELECT method, path, query FROM emu_requests();
SELECT count(*) AS tables,
       count(*) FILTER (WHERE tbl IN ('lead', 'contact', 'opportunity', 'activity_custom')) AS excepted
  FROM import_tables('close_except');
SELECT * FROM import_columns('close_except.custom_object');

--
-- custom_fields 'false': catalog columns only, no request, no API key needed.
--
CREATE SCHEMA close_nocf;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_nocf OPTIONS (custom_fields 'false');
SELECT count(*) AS requests FROM emu_requests();
SELECT count(*) AS tables FROM import_tables('close_nocf');
SELECT count(*) AS lead_columns,
       count(*) FILTER (WHERE options IS NOT NULL) AS with_field_option
  FROM import_columns('close_nocf.lead');
CREATE SCHEMA close_on;
IMPORT FOREIGN SCHEMA close LIMIT TO (contact) FROM SERVER emu INTO close_on
  OPTIONS (custom_fields 'on');
SELECT count(*) AS contact_columns FROM import_columns('close_on.contact');

CREATE SERVER emu_nokey FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
CREATE SCHEMA close_nokey;
IMPORT FOREIGN SCHEMA close LIMIT TO (lead) FROM SERVER emu_nokey INTO close_nokey
  OPTIONS (custom_fields 'false');
IMPORT FOREIGN SCHEMA close LIMIT TO (task) FROM SERVER emu_nokey INTO close_nokey;
-- custom fields need the user mapping's API key
IMPORT FOREIGN SCHEMA close LIMIT TO (contact) FROM SERVER emu_nokey INTO close_nokey;
SELECT tbl, options FROM import_tables('close_nokey');

--
-- Paging: the custom field list is read page by page (page_size 3: 8 fields
-- in pages of 3, 3, 2); the shared list is one page.  A 503 is retried.
--
CREATE SERVER emu_paged FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', page_size '3', max_retries '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_paged OPTIONS (api_key 'test_key_alpha');
CREATE SCHEMA close_paged;
SELECT emu_clear();
SELECT emu_fault('{"path": "/api/v1/custom_field/lead/", "status": 503, "times": 1}');
IMPORT FOREIGN SCHEMA close LIMIT TO (lead) FROM SERVER emu_paged INTO close_paged;
-- pages after the first are read ahead, concurrently: in page order here
SELECT method, path, query, status FROM emu_requests() ORDER BY path, query, status;
SELECT count(*) FILTER (WHERE options::text LIKE '%custom.%') AS custom_columns
  FROM import_columns('close_paged.lead');

--
-- Errors: nothing is created.
--
CREATE SCHEMA close_err;
-- the only remote schema is close
IMPORT FOREIGN SCHEMA public FROM SERVER emu INTO close_err;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
IMPORT FOREIGN SCHEMA "Close" FROM SERVER emu INTO close_err;
-- unknown options, bad values
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_err OPTIONS (custom_field 'false');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_err OPTIONS (import_default 'true');
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_err OPTIONS (custom_fields 'maybe');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- names that are no table: the closest matches
IMPORT FOREIGN SCHEMA close LIMIT TO (leads) FROM SERVER emu INTO close_err;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
IMPORT FOREIGN SCHEMA close LIMIT TO (lead, "activity/note") FROM SERVER emu INTO close_err;
IMPORT FOREIGN SCHEMA close LIMIT TO ("Opportunity") FROM SERVER emu INTO close_err;
IMPORT FOREIGN SCHEMA close LIMIT TO (lead_status) FROM SERVER emu INTO close_err;
IMPORT FOREIGN SCHEMA close LIMIT TO (note) FROM SERVER emu INTO close_err;
IMPORT FOREIGN SCHEMA close LIMIT TO (xyzzy) FROM SERVER emu INTO close_err;
IMPORT FOREIGN SCHEMA close EXCEPT (contacts) FROM SERVER emu INTO close_err;
-- a 500 from /custom_field/lead/: ERROR, no table (not even those before it)
SELECT emu_clear();
SELECT emu_fault('{"path": "/api/v1/custom_field/lead/", "status": 500, "times": 1, "body": {"error": "Internal error"}}');
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO close_err;
SELECT method, path, query, status FROM emu_requests();
-- a 500 on the last list, after the others were read: still nothing
SELECT emu_clear();
SELECT emu_fault('{"path": "/api/v1/custom_field/shared/", "status": 500, "times": 1}');
IMPORT FOREIGN SCHEMA close LIMIT TO (contact, custom_object) FROM SERVER emu INTO close_err;
SELECT method, path, query, status FROM emu_requests();
-- a response that is not a custom field list
SELECT emu_fault('{"path": "/api/v1/custom_field/opportunity/", "status": 200, "times": 1, "body": {"data": [{"name": "no id"}], "has_more": false}}');
IMPORT FOREIGN SCHEMA close LIMIT TO (opportunity) FROM SERVER emu INTO close_err;
SELECT emu_fault_clear();
SELECT count(*) AS tables_created FROM import_tables('close_err');

--
-- Column names: lower snake case, unique, valid, at most 63 bytes; every
-- custom field type.  Custom fields added to the emulator (listed after the
-- seeded ones, by id).
--
SELECT emu_put('custom_field/lead', f) FROM jsonb_array_elements($$[
  {"id": "cf_t01", "name": "Status Label", "type": "text"},
  {"id": "cf_t02", "name": "source", "type": "text"},
  {"id": "cf_t03", "name": "Attrs", "type": "text"},
  {"id": "cf_t04", "name": "ID", "type": "text"},
  {"id": "cf_t05", "name": "2024 Budget (€)", "type": "number"},
  {"id": "cf_t06", "name": "😀 ✋", "type": "text"},
  {"id": "cf_t07", "name": null, "type": "text"},
  {"id": "cf_t08", "name": "A very long custom field name that goes on and on past the identifier limit (first)", "type": "text"},
  {"id": "cf_t09", "name": "A very long custom field name that goes on and on past the identifier limit (second)", "type": "text"},
  {"id": "cf_t10", "name": "Größe / Łódź — Zoë", "type": "text"},
  {"id": "cf_t11", "name": "Order", "type": "date"},
  {"id": "cf_t12's", "name": "--Quote's  Field--", "type": "text"},
  {"id": "cf_t13", "name": "Watchers", "type": "user", "accepts_multiple_values": true},
  {"id": "cf_t14", "name": "Scores", "type": "number", "accepts_multiple_values": true},
  {"id": "cf_t15", "name": "Champion", "type": "contact"},
  {"id": "cf_t16", "name": "Sync Key", "type": "hidden"},
  {"id": "cf_t17", "name": "Website URL", "type": "url"},
  {"id": "cf_t18", "name": "Rating", "type": "stars"},
  {"id": "cf_t19", "name": "Ratings", "type": "stars", "accepts_multiple_values": true},
  {"id": "cf_t20", "name": "Milestones", "type": "date", "accepts_multiple_values": true},
  {"id": "cf_t21", "name": "Linked Objects", "type": "custom_object", "accepts_multiple_values": true},
  {"id": "cf_t22", "name": "Status Label", "type": "datetime"}
]$$::jsonb) f;
-- a shared field for opportunities and one custom activity type (URL form),
-- and one associated with nothing
SELECT emu_put('custom_field/shared', f) FROM jsonb_array_elements($$[
  {"id": "cf_t30", "name": "Deal Region", "type": "choices", "accepts_multiple_values": false,
   "associations": [{"object_type": "opportunity"},
                    {"object_type": "custom_activity_type/actitype_0000000000000000000001"}]},
  {"id": "cf_t31", "name": "Orphan", "type": "text", "associations": []}
]$$::jsonb) f;
-- values for some of them on the seeded lead
SELECT status FROM close_raw('PUT', '/lead/lead_0000000000000000000001/', $${
  "custom.cf_t01": "custom status", "custom.cf_t05": 1234.5,
  "custom.cf_t12's": "quoted id", "custom.cf_t13": ["user_0000000000000000000001", "user_0000000000000000000002"],
  "custom.cf_t14": [1, 2.5], "custom.cf_t20": ["2024-01-01", "2024-06-30"],
  "custom.cf_t22": "2024-05-01T10:00:00+02:00"}$$, 'emu');

CREATE SCHEMA close_names;
SELECT emu_clear();
IMPORT FOREIGN SCHEMA close LIMIT TO (lead, opportunity, activity_custom)
  FROM SERVER emu INTO close_names;
SELECT method, path, query FROM emu_requests();
SELECT col, octet_length(col) AS bytes, type, options
  FROM import_columns('close_names.lead') WHERE options::text LIKE '%custom.%';
SELECT col, type, options FROM import_columns('close_names.opportunity')
 WHERE options::text LIKE '%custom.%';
SELECT col, type, options FROM import_columns('close_names.activity_custom')
 WHERE options::text LIKE '%custom.%';
-- the renamed columns still read their fields
SELECT id, status_label, status_label_2, status_label_3, cf_2024_budget, quote_s_field,
       watchers, scores, milestones, pg_typeof(scores) AS scores_type
  FROM close_names.lead WHERE id = 'lead_0000000000000000000001';

SELECT emu_reset();
