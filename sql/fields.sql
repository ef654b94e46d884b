-- Every imported table against the emulator's seed data, which is shaped
-- like real Close objects: each object type fills every column of its table
-- (a column may stay NULL only for a field Close documents as sent only
-- sometimes), with values of real shapes; every collection Close can GET by
-- id is read by id; a column naming no field is refused (or, where objects
-- carry fields of their own type, noticed); custom_type is checked.
\set VERBOSITY default
-- dates must not move with the session's time zone
SET timezone = 'America/Los_Angeles';
SET datestyle = 'ISO, YMD';
SELECT emu_reset();

CREATE SCHEMA fx;
IMPORT FOREIGN SCHEMA close FROM SERVER emu INTO fx;

--
-- The import-time report: typed columns per table.  No listable object with
-- data fields is left with only its key (unsubscribe/email: the address is
-- all Close sends; activity: the fields of every activity type).
--
SELECT object, typed_columns, open_fields, can_get, can_list
  FROM closecrm_objects() ORDER BY object;
SELECT object, typed_columns FROM closecrm_objects()
 WHERE can_list AND typed_columns <= 1;
-- the imported tables have exactly the catalog's fields, with their types
SELECT count(*) AS catalog_fields,
       count(c.column_name) AS imported,
       count(*) FILTER (WHERE a.atttypid = f.type::regtype) AS typed_as_catalog
  FROM closecrm_fields() f
  JOIN closecrm_objects() o ON o.object = f.object
  LEFT JOIN information_schema.columns c
    ON c.table_schema = 'fx' AND c.table_name = o.table_name
   AND c.column_name = f.field
  LEFT JOIN pg_attribute a
    ON a.attrelid = format('fx.%I', o.table_name)::regclass AND a.attname = c.column_name;
-- the types that follow real values
SELECT object, field, type FROM closecrm_fields()
 WHERE (object, field) IN (('opportunity', 'value'), ('opportunity', 'expected_value'),
                           ('opportunity', 'annualized_value'), ('opportunity', 'annualized_expected_value'),
                           ('opportunity', 'confidence'), ('phone_number', 'next_billing_on'),
                           ('task', 'date'), ('task', '_type'), ('task', 'date_created'),
                           ('activity/call', 'duration'), ('activity/call', 'cost'),
                           ('event', 'data'), ('user', 'email'))
 ORDER BY object, field;

--
-- Each table against its seeded objects: how many, and the columns no
-- object fills.  Collections listed without a filter are listed; the others
-- (a required filter, or no listing) are read by id, every seeded id.
--
CREATE FUNCTION fx_ids_of(collection text) RETURNS text[] LANGUAGE sql AS
$$ SELECT array_agg(i) FROM jsonb_array_elements_text((close_raw('GET', '/ids', NULL, 'emu_control')).body->collection) i $$;
CREATE TABLE fx_fill (object text, read_by text, objects bigint, columns int, always_null text[]);
DO $$
DECLARE
  o record;
  cols text[];
  counts bigint[];
  source text;
  n bigint;
BEGIN
  FOR o IN SELECT * FROM closecrm_objects() ORDER BY object LOOP
    SELECT array_agg(attname::text ORDER BY attnum) INTO cols
      FROM pg_attribute
     WHERE attrelid = format('fx.%I', o.table_name)::regclass AND attnum > 0
       AND NOT attisdropped AND attname <> 'attrs';
    IF o.can_list AND o.required_filters = '{}' THEN
      source := format('fx.%I', o.table_name);
    ELSE
      source := format('fx.%I WHERE %I = ANY (%L::text[])', o.table_name, o.key_field,
                       fx_ids_of(o.object));
    END IF;
    EXECUTE format('SELECT count(*), ARRAY[%s] FROM %s',
                   (SELECT string_agg(format('count(%I)', c), ', ') FROM unnest(cols) c), source)
      INTO n, counts;
    INSERT INTO fx_fill
    SELECT o.object, CASE WHEN source LIKE '% WHERE %' THEN 'id' ELSE 'listing' END, n,
           array_length(cols, 1),
           coalesce(array_agg(c ORDER BY i) FILTER (WHERE counts[i] = 0), '{}')
      FROM unnest(cols) WITH ORDINALITY u(c, i);
  END LOOP;
END $$;
-- every object type has objects; the columns no object fills
SELECT * FROM fx_fill ORDER BY object;
-- ... are all fields Close documents as sent only sometimes
SELECT x.object, u.col AS never_filled_but_not_optional
  FROM fx_fill x, unnest(x.always_null) u(col)
 WHERE NOT EXISTS (SELECT FROM closecrm_fields() f
                    WHERE f.object = x.object AND f.field = u.col AND f.optional);
SELECT count(*) AS objects_without_rows FROM fx_fill WHERE objects = 0;

--
-- Real value shapes.
--
-- ids: every id column of every table holds Close-style ids ("lead_..."),
-- except those of other systems: a calendar event's, a WhatsApp message's,
-- a scheduling provider's; and a dialer's caller id is a phone number
CREATE TABLE fx_ids (object text, col text, sample text);
DO $$
DECLARE
  c record;
  bad text;
BEGIN
  FOR c IN SELECT o.object, o.table_name, f.field
             FROM closecrm_objects() o JOIN closecrm_fields() f ON f.object = o.object
            WHERE f.type = 'text' AND (f.field LIKE '%\_id' OR f.field = 'id')
              AND o.can_list AND o.required_filters = '{}'
              AND f.field NOT IN ('provider_calendar_event_id', 'external_whatsapp_message_id',
                                  'source_id', 'caller_id')
            ORDER BY 1, 3 LOOP
    EXECUTE format('SELECT min(%1$I) FROM fx.%2$I WHERE %1$I !~ ''^[a-z0-9]+_.''',
                   c.field, c.table_name) INTO bad;
    IF bad IS NOT NULL THEN
      INSERT INTO fx_ids VALUES (c.object, c.field, bad);
    END IF;
  END LOOP;
END $$;
SELECT * FROM fx_ids ORDER BY object, col;
-- plain dates are the day Close sent, in a Los Angeles session too: a task's
-- date, a won date, a won date sent as midnight UTC
SELECT count(*) AS tasks_with_date,
       count(*) FILTER (WHERE date::text = left(attrs->>'date', 10)) AS same_day
  FROM fx.task WHERE date IS NOT NULL;
SELECT count(*) AS notifications, count(date) AS with_date,
       count(*) FILTER (WHERE attrs->>'date' LIKE '%T%') AS sent_with_time
  FROM fx.task WHERE _type NOT IN ('lead', 'outgoing_call');
SELECT count(*) AS won, count(*) FILTER (WHERE date_won::text = attrs->>'date_won') AS same_day
  FROM fx.opportunity WHERE date_won IS NOT NULL;
SELECT count(*) AS won_changes,
       count(*) FILTER (WHERE opportunity_date_won::text = left(attrs->>'opportunity_date_won', 10)) AS same_day
  FROM fx.activity_status_change_opportunity WHERE opportunity_date_won IS NOT NULL;
-- strings where Close sends strings: a call's cost; numbers in cents
SELECT jsonb_typeof(attrs->'cost') AS cost_json, count(*) FROM fx.activity_call GROUP BY 1;
SELECT count(*) AS opportunities,
       count(*) FILTER (WHERE value IS NOT DISTINCT FROM (attrs->>'value')::numeric) AS value_exact
  FROM fx.opportunity;
-- money and confidence are numeric: one fractional value does not break a listing
SELECT status FROM close_raw('PUT', '/opportunity/oppo_0000000000000000000001/',
                             '{"value": 1234567.5, "confidence": 12.5}', 'emu');
SELECT value, confidence, expected_value FROM fx.opportunity WHERE id = 'oppo_0000000000000000000001';
SELECT count(*) AS opportunities, sum(value) > 0 AS summed FROM fx.opportunity;
-- what the README's sync job reads from the event log, without adding columns
SELECT object_type, action, count(*) FILTER (WHERE object_id IS NOT NULL AND date_updated IS NOT NULL) AS complete
  FROM fx.event WHERE object_type = 'lead' AND action = 'updated' GROUP BY 1, 2;
-- activities carry what each activity is
SELECT note IS NOT NULL AS has_note, title FROM fx.activity_note WHERE id = 'acti_0000000000000000000001';
SELECT direction, duration >= 0 AS has_duration, phone LIKE '+%' AS e164
  FROM fx.activity_call WHERE id = 'acti_0000000000000000000002';
SELECT title IS NOT NULL AS has_title, ends_at - starts_at AS length
  FROM fx.activity_meeting WHERE id = 'acti_0000000000000000000007';
SELECT count(*) AS changes, count(*) FILTER (WHERE old_status_label <> new_status_label) AS changed
  FROM fx.activity_status_change_lead;
-- a Smart Field (lead.source) comes only when _fields names it: a listing
-- that uses the column names it (a custom field "Source" is column source)
SELECT emu_clear();
SELECT source, source_2 FROM fx.lead WHERE display_name = 'Acme Corporation';
SELECT DISTINCT method, path, body->'_fields' AS search_fields FROM emu_requests();
SELECT count(source_2) AS with_smart_source FROM fx.lead;
SELECT emu_reset();

--
-- Every collection Close can GET by id, read by id (the catalog suite checks
-- that each lookup sends exactly one GET): the object is found, as the same
-- row the listing shows.
--
CREATE TABLE fx_lookup (object text, found bigint, same_as_listing boolean);
DO $$
DECLARE
  o record;
  some_id text;
  n bigint;
  same boolean;
BEGIN
  FOR o IN SELECT * FROM closecrm_objects() WHERE can_get ORDER BY object LOOP
    some_id := (fx_ids_of(o.object))[1];
    EXECUTE format('SELECT count(*) FROM fx.%I t WHERE %I = $1', o.table_name, o.key_field)
      INTO n USING some_id;
    same := NULL;
    IF o.can_list AND o.required_filters = '{}' THEN
      EXECUTE format('SELECT (SELECT t FROM fx.%1$I t WHERE %2$I = $1) IS NOT DISTINCT FROM
                             (SELECT t FROM fx.%1$I t WHERE %2$I || '''' = $1)',
                     o.table_name, o.key_field)
        INTO same USING some_id;
    END IF;
    INSERT INTO fx_lookup VALUES (o.object, n, same);
  END LOOP;
END $$;
SELECT count(*) AS gettable, sum(found) AS found,
       count(*) FILTER (WHERE same_as_listing) AS same_as_listing,
       count(*) FILTER (WHERE same_as_listing IS NULL) AS not_listable
  FROM fx_lookup;
SELECT * FROM fx_lookup WHERE object IN ('pipeline', 'status/lead', 'status/opportunity', 'organization')
 ORDER BY object;
SELECT id, label FROM fx.status_lead WHERE id = 'stat_0000000000000000000001';
SELECT id, name, jsonb_array_length(statuses) AS statuses FROM fx.pipeline
 WHERE id = 'pipe_0000000000000000000001';
-- an object without a list endpoint says so
SELECT id FROM fx.organization;
SELECT name FROM fx.organization WHERE id = 'orga_0000000000000000000001';

--
-- Columns naming no field of the object.
--
-- a typo: an ERROR at first use, naming the closest field
CREATE FOREIGN TABLE fx_typo (id text, dispaly_name text) SERVER emu OPTIONS (object 'lead');
SELECT * FROM fx_typo WHERE id = 'lead_0000000000000000000001';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO fx_typo (dispaly_name) VALUES ('x');
-- a name in another spelling, a path through a misspelt field, nothing close
CREATE FOREIGN TABLE fx_cased ("Status_Label" text) SERVER emu OPTIONS (object 'lead');
SELECT * FROM fx_cased LIMIT 1;
CREATE FOREIGN TABLE fx_path ("adresses.0.city" text) SERVER emu OPTIONS (object 'lead');
SELECT * FROM fx_path LIMIT 1;
CREATE FOREIGN TABLE fx_far (id text, xyzzy text) SERVER emu OPTIONS (object 'user');
SELECT * FROM fx_far LIMIT 1;
-- attrs must be jsonb to receive the object
CREATE FOREIGN TABLE fx_attrs (id text, attrs text) SERVER emu OPTIONS (object 'lead');
SELECT * FROM fx_attrs LIMIT 1;
-- accepted: the key, catalog fields, a path into one, custom fields by id,
-- any key named by the field option (an absent one reads NULL)
CREATE FOREIGN TABLE fx_ok (id text, display_name text, "addresses.0.city" text,
  "custom.cf_lead_text" text, absent text OPTIONS (field 'no_such_key'), attrs jsonb)
  SERVER emu OPTIONS (object 'lead');
SELECT id, display_name, "addresses.0.city", "custom.cf_lead_text", absent, attrs IS NOT NULL AS whole
  FROM fx_ok WHERE id = 'lead_0000000000000000000001';
CREATE FOREIGN TABLE fx_email (email text, attrs jsonb) SERVER emu OPTIONS (object 'unsubscribe/email');
SELECT count(*) FROM fx_email;
-- objects whose fields vary by type: a NOTICE, once per table
CREATE FOREIGN TABLE fx_act (id text, _type text, duration bigint, durration bigint)
  SERVER emu OPTIONS (object 'activity');
SELECT _type, duration FROM fx_act WHERE _type = 'Call' LIMIT 1;
SELECT count(*) > 0 AS listed FROM fx_act WHERE _type = 'Call';
DROP FOREIGN TABLE fx_typo, fx_cased, fx_path, fx_far, fx_attrs, fx_ok, fx_email, fx_act;

--
-- custom_type: the Close type of a custom field column, as IMPORT records it.
--
SELECT attname, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'fx.lead'::regclass AND attname IN ('tier', 'product_interest', 'account_owner');
CREATE FOREIGN TABLE fx_ct (id text,
  tier text OPTIONS (field 'custom.cf_lead_choice', custom_type 'choices'),
  owners text[] OPTIONS (field 'custom.cf_lead_user', custom_type 'user[]'))
  SERVER emu OPTIONS (object 'lead');
ALTER FOREIGN TABLE fx_ct ALTER COLUMN tier OPTIONS (SET custom_type 'choice');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE fx_ct ALTER COLUMN tier OPTIONS (SET custom_type 'choices[][]');
ALTER FOREIGN TABLE fx_ct ALTER COLUMN tier OPTIONS (SET custom_type '');
ALTER FOREIGN TABLE fx_ct OPTIONS (ADD custom_type 'text');
SELECT tier FROM fx_ct WHERE id = 'lead_0000000000000000000001';
DROP FOREIGN TABLE fx_ct;

DROP SCHEMA fx CASCADE;
DROP FUNCTION fx_ids_of(text);
DROP TABLE fx_fill, fx_ids, fx_lookup;
