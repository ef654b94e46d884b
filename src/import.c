/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA close: one foreign table per collection of the
 *		  Close object catalog, with a typed column per top-level field, and,
 *		  on the objects Close lets organisations extend, one column per
 *		  custom field defined in Close at the time of the import.
 *
 * Everything is read and checked before the first CREATE FOREIGN TABLE is
 * returned to PostgreSQL, so a failure (a bad option, an unknown table name,
 * a Close error while reading custom field definitions) creates nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "closecrm_fdw.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

/* The one remote schema: every Close collection lives in it. */
#define CLOSE_REMOTE_SCHEMA "close"

/* The IMPORT FOREIGN SCHEMA options closecrm_fdw accepts. */
static const char *const import_options[] = {"custom_fields"};

/*
 * Which custom field definitions extend which catalog object.
 *
 * Each of lead, contact and opportunity has its own definitions; the fields
 * of custom activities (custom_field/activity, each tied to one custom
 * activity type) all go on activity/custom, which lists the activities of
 * every custom activity type; the fields of custom object types
 * (custom_field/custom_object_type) all go on custom_object likewise.
 *
 * Shared custom fields (custom_field/shared) are defined once and attached
 * to object types by "associations", whose object_type is lead, contact,
 * opportunity, custom_activity_type or custom_object_type (openapi.json,
 * POST /custom_field/shared/{id}/association/; the URL form of the last two
 * carries "/<type id>").  Their values appear on the associated objects as
 * the same flat "custom.<id>" keys as other custom fields (NOTES.md), so a
 * shared field becomes a column of every imported table one of its
 * associations names, after that table's own custom fields.  The shared
 * definitions are read only when such a table is imported.
 */
typedef struct CustomFieldSource
{
	const char *object;			/* catalog collection the columns go on */
	const char *definitions;	/* collection listing its definitions */
	const char *association;	/* object_type of shared field associations */
} CustomFieldSource;

static const CustomFieldSource custom_field_sources[] = {
	{"lead", "custom_field/lead", "lead"},
	{"contact", "custom_field/contact", "contact"},
	{"opportunity", "custom_field/opportunity", "opportunity"},
	{"activity/custom", "custom_field/activity", "custom_activity_type"},
	{"custom_object", "custom_field/custom_object_type", "custom_object_type"},
};

#define SHARED_DEFINITIONS "custom_field/shared"

/* One custom field definition as read from Close. */
typedef struct CustomField
{
	char	   *id;				/* "cf_…" / "lcf_…", in the server encoding */
	const char *name;			/* display name, UTF-8 as Close sent it */
	const char *type;			/* "text", "number", "choices", … */
	bool		multiple;		/* accepts_multiple_values */
	cJSON	   *associations;	/* shared fields: where they apply */
} CustomField;

/*
 * report_unknown_import_option
 *		ERROR for an IMPORT FOREIGN SCHEMA option closecrm_fdw does not know,
 *		suggesting the closest valid one.
 */
static void
report_unknown_import_option(const char *name)
{
	const char *best = NULL;
	int			bestdist = INT_MAX;
	int			i;

	for (i = 0; i < lengthof(import_options); i++)
	{
		int			dist = varstr_levenshtein(name, strlen(name),
											  import_options[i],
											  strlen(import_options[i]),
											  1, 1, 1, false);

		if (dist < bestdist)
		{
			bestdist = dist;
			best = import_options[i];
		}
	}
	if (best != NULL && bestdist <= Max(2, (int) strlen(name) / 3))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid IMPORT FOREIGN SCHEMA option \"%s\"", name),
				 errdetail("The only option of IMPORT FOREIGN SCHEMA with closecrm_fdw is custom_fields."),
				 errhint("Perhaps you meant the option \"%s\".", best)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid IMPORT FOREIGN SCHEMA option \"%s\"", name),
			 errdetail("The only option of IMPORT FOREIGN SCHEMA with closecrm_fdw is custom_fields."),
			 errhint("Write OPTIONS (custom_fields 'false') to import without custom field columns.")));
}

/*
 * parse_import_options
 *		Read the statement's options; returns whether to add custom field
 *		columns.  ERROR on an unknown option or a value that is not boolean.
 */
static bool
parse_import_options(List *options)
{
	bool		custom_fields = true;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "custom_fields") == 0)
		{
			char	   *value = defGetString(def);

			if (!parse_bool(value, &custom_fields))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"custom_fields\": \"%s\"",
								value),
						 errhint("Use 'true' or 'false'.")));
		}
		else
			report_unknown_import_option(def->defname);
	}
	return custom_fields;
}

/*
 * find_table
 *		Index in the catalog of the collection imported as table "name", or
 *		-1 if there is none.
 */
static int
find_table(const char *name)
{
	int			i;

	for (i = 0; i < close_object_catalog_size; i++)
	{
		if (strcmp(close_object_catalog[i].table_name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * select_tables
 *		Which catalog entries the statement imports: all, those in LIMIT TO,
 *		or all but those in EXCEPT.  A name in either list that is no table
 *		of the catalog is an ERROR naming the closest matches (PostgreSQL
 *		would ignore it, silently importing nothing or something unwanted).
 */
static bool *
select_tables(ImportForeignSchemaStmt *stmt)
{
	bool	   *selected = palloc(sizeof(bool) * close_object_catalog_size);
	bool		limit_to = stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
	ListCell   *lc;
	int			i;

	for (i = 0; i < close_object_catalog_size; i++)
		selected[i] = !limit_to;
	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return selected;

	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		int			index = find_table(rv->relname);

		if (index < 0)
		{
			char	   *suggestions = close_catalog_suggestions(rv->relname, true);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
					 errmsg("Close has no table \"%s\" to import", rv->relname),
					 errdetail("%s names a table that IMPORT FOREIGN SCHEMA close cannot create; each table is named after its Close collection with \"/\" replaced by \"_\".",
							   limit_to ? "LIMIT TO" : "EXCEPT"),
					 errhint("%s", suggestions ?
							 psprintf("Perhaps you meant %s.", suggestions) :
							 "SELECT table_name FROM closecrm_objects() lists the tables.")));
		}
		selected[index] = limit_to;
	}
	return selected;
}

/*
 * definitions_error_callback
 *		Error context while custom field definitions are read; "arg" points
 *		to the collection being read, NULL while the connection is set up.
 */
static void
definitions_error_callback(void *arg)
{
	const char *collection = *(const char **) arg;

	if (collection != NULL)
		errcontext("reading custom field definitions from /%s/ for IMPORT FOREIGN SCHEMA (OPTIONS (custom_fields 'false') skips them)",
				   collection);
	else
		errcontext("reading custom field definitions for IMPORT FOREIGN SCHEMA (OPTIONS (custom_fields 'false') skips them)");
}

/*
 * json_string
 *		The string value of key "key" of "object", or NULL if it is absent or
 *		not a string.
 */
static const char *
json_string(cJSON *object, const char *key)
{
	cJSON	   *value = cJSON_GetObjectItemCaseSensitive(object, key);

	return cJSON_IsString(value) ? value->valuestring : NULL;
}

/*
 * read_definition
 *		The custom field described by "item", an element of the listing of
 *		"collection".  ERROR unless it is an object with a non-empty string
 *		id.
 */
static CustomField *
read_definition(const char *collection, cJSON *item)
{
	CustomField *field = palloc0(sizeof(CustomField));
	const char *id = json_string(item, "id");
	cJSON	   *multiple;

	if (!cJSON_IsObject(item) || id == NULL || id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("Close returned a malformed list response to GET /%s/",
						collection),
				 errdetail("An element of \"data\" is not a custom field definition with an \"id\"."),
				 errhint("Check that base_url points at the Close API.")));
	field->id = pg_any_to_server(id, strlen(id), PG_UTF8);
	if (field->id == id)
		field->id = pstrdup(id);
	field->name = json_string(item, "name");
	field->type = json_string(item, "type");
	if (field->type == NULL)
		field->type = "";
	multiple = cJSON_GetObjectItemCaseSensitive(item, "accepts_multiple_values");
	field->multiple = cJSON_IsTrue(multiple);
	field->associations = cJSON_GetObjectItemCaseSensitive(item, "associations");
	return field;
}

/*
 * fetch_definitions
 *		Every custom field definition in collection "definitions"
 *		("custom_field/lead", ...), read by the pager, as a List of
 *		CustomField.  Any failure, after the transport's retries, is an
 *		ERROR: never a partial set of columns.
 */
static List *
fetch_definitions(CloseConnection *conn, const char *definitions)
{
	const CloseObjectDef *object = close_catalog_lookup(definitions);
	List	   *fields = NIL;
	ListCell   *lc;

	if (object == NULL)
		elog(ERROR, "the catalog has no collection \"%s\"", definitions);
	foreach(lc, close_list_all(conn, object))
		fields = lappend(fields, read_definition(definitions, (cJSON *) lfirst(lc)));
	return fields;
}

/*
 * shared_field_applies
 *		True if shared custom field "field" has an association with object
 *		type "association" ("lead", "custom_activity_type", …; the URL form
 *		"custom_activity_type/<id>" counts too).
 */
static bool
shared_field_applies(CustomField *field, const char *association)
{
	size_t		len = strlen(association);
	cJSON	   *assoc;

	if (!cJSON_IsArray(field->associations))
		return false;
	cJSON_ArrayForEach(assoc, field->associations)
	{
		const char *type;

		if (!cJSON_IsObject(assoc))
			continue;
		type = json_string(assoc, "object_type");
		if (type != NULL && strncmp(type, association, len) == 0 &&
			(type[len] == '\0' || type[len] == '/'))
			return true;
	}
	return false;
}

/*
 * custom_field_type
 *		The column type of a custom field: number → numeric, date → date,
 *		datetime → timestamptz, other single values text; several values an
 *		array of text when they are strings (text, choices, user and other
 *		ids), else jsonb.
 */
static const char *
custom_field_type(CustomField *field)
{
	bool		string_valued = false;

	if (field->multiple)
	{
		if (close_custom_type_known(field->type, &string_valued) &&
			string_valued)
			return "text[]";
		return "jsonb";
	}
	if (strcmp(field->type, "number") == 0)
		return "numeric";
	if (strcmp(field->type, "date") == 0)
		return "date";
	if (strcmp(field->type, "datetime") == 0)
		return "timestamptz";
	return "text";
}

/*
 * Latin letters with diacritics (U+00C0 to U+017F) as the ASCII letters a
 * column name uses for them ("Größe" → grosse, "Łódź" → lodz).  Code points
 * not covered (× and ÷ among them) count as separators.
 */
static const struct
{
	pg_wchar	first;
	pg_wchar	last;
	const char *ascii;
}			latin_letters[] = {
	{0x00C0, 0x00C5, "a"}, {0x00C6, 0x00C6, "ae"}, {0x00C7, 0x00C7, "c"},
	{0x00C8, 0x00CB, "e"}, {0x00CC, 0x00CF, "i"}, {0x00D0, 0x00D0, "d"},
	{0x00D1, 0x00D1, "n"}, {0x00D2, 0x00D6, "o"}, {0x00D8, 0x00D8, "o"},
	{0x00D9, 0x00DC, "u"}, {0x00DD, 0x00DD, "y"}, {0x00DE, 0x00DE, "th"},
	{0x00DF, 0x00DF, "ss"}, {0x00E0, 0x00E5, "a"}, {0x00E6, 0x00E6, "ae"},
	{0x00E7, 0x00E7, "c"}, {0x00E8, 0x00EB, "e"}, {0x00EC, 0x00EF, "i"},
	{0x00F0, 0x00F0, "d"}, {0x00F1, 0x00F1, "n"}, {0x00F2, 0x00F6, "o"},
	{0x00F8, 0x00F8, "o"}, {0x00F9, 0x00FC, "u"}, {0x00FD, 0x00FD, "y"},
	{0x00FE, 0x00FE, "th"}, {0x00FF, 0x00FF, "y"}, {0x0100, 0x0105, "a"},
	{0x0106, 0x010D, "c"}, {0x010E, 0x0111, "d"}, {0x0112, 0x011B, "e"},
	{0x011C, 0x0123, "g"}, {0x0124, 0x0127, "h"}, {0x0128, 0x0131, "i"},
	{0x0132, 0x0133, "ij"}, {0x0134, 0x0135, "j"}, {0x0136, 0x0138, "k"},
	{0x0139, 0x0142, "l"}, {0x0143, 0x014B, "n"}, {0x014C, 0x0151, "o"},
	{0x0152, 0x0153, "oe"}, {0x0154, 0x0159, "r"}, {0x015A, 0x0161, "s"},
	{0x0162, 0x0167, "t"}, {0x0168, 0x0173, "u"}, {0x0174, 0x0175, "w"},
	{0x0176, 0x0178, "y"}, {0x0179, 0x017E, "z"}, {0x017F, 0x017F, "s"},
};

/*
 * latin_ascii
 *		The ASCII letters for code point "c", or NULL if it is not a Latin
 *		letter with a diacritic.
 */
static const char *
latin_ascii(pg_wchar c)
{
	int			i;

	for (i = 0; i < lengthof(latin_letters); i++)
	{
		if (c >= latin_letters[i].first && c <= latin_letters[i].last)
			return latin_letters[i].ascii;
	}
	return NULL;
}

/*
 * snake_case
 *		UTF-8 "text" in lower snake case: ASCII letters (lower-cased) and
 *		digits kept, Latin letters with diacritics spelt in ASCII, every run
 *		of other characters (spaces, punctuation, other scripts, emoji) one
 *		"_", none at either end.  The result is ASCII and may be empty.
 */
static char *
snake_case(const char *text)
{
	StringInfoData buf;
	const unsigned char *p = (const unsigned char *) text;
	const unsigned char *end = p + strlen(text);

	initStringInfo(&buf);
	while (p < end)
	{
		int			len = pg_utf_mblen(p);
		const char *ascii = NULL;

		if (len > end - p || !pg_utf8_islegal(p, len))
			len = 1;			/* not UTF-8: a separator */
		else if (len == 2)
			ascii = latin_ascii(utf8_to_unicode(p));

		if (len == 1 && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
			appendStringInfoChar(&buf, *p);
		else if (len == 1 && *p >= 'A' && *p <= 'Z')
			appendStringInfoChar(&buf, pg_ascii_tolower(*p));
		else if (ascii != NULL)
			appendStringInfoString(&buf, ascii);
		else if (buf.len > 0 && buf.data[buf.len - 1] != '_')
			appendStringInfoChar(&buf, '_');
		p += len;
	}
	while (buf.len > 0 && buf.data[buf.len - 1] == '_')
		buf.data[--buf.len] = '\0';
	return buf.data;
}

/*
 * custom_column_name
 *		The column name a custom field asks for: its name in lower snake
 *		case; its id (already "cf_…") when nothing of the name is left (a
 *		name in another script, say); "cf_" in front when it would start
 *		with a digit.
 */
static char *
custom_column_name(CustomField *field)
{
	char	   *name = snake_case(field->name ? field->name : "");

	if (name[0] == '\0')
		name = snake_case(field->id);
	if (name[0] == '\0')
		name = pstrdup("custom_field");
	if (isdigit((unsigned char) name[0]))
		name = psprintf("cf_%s", name);
	return name;
}

/*
 * unique_column_name
 *		"wanted", cut to NAMEDATALEN - 1 bytes (on a character boundary), or
 *		if another column of the table already has that name, the same with
 *		the smallest suffix "_2", "_3", … that is free, cut so that the
 *		suffix fits.  The name is added to *used.
 */
static char *
unique_column_name(const char *wanted, List **used)
{
	char	   *name = NULL;
	int			n;

	for (n = 1;; n++)
	{
		char		suffix[16];
		int			room;
		int			len;
		ListCell   *lc;
		bool		taken = false;

		if (n == 1)
			suffix[0] = '\0';
		else
			snprintf(suffix, sizeof(suffix), "_%d", n);
		room = NAMEDATALEN - 1 - strlen(suffix);
		len = pg_mbcliplen(wanted, strlen(wanted), room);
		name = psprintf("%.*s%s", len, wanted, suffix);
		foreach(lc, *used)
		{
			if (strcmp((char *) lfirst(lc), name) == 0)
			{
				taken = true;
				break;
			}
		}
		if (!taken)
			break;
	}
	*used = lappend(*used, name);
	return name;
}

/*
 * append_column
 *		Add one column definition to "buf": name, type and, when the JSON
 *		key it reads differs from its name, OPTIONS (field …); for a custom
 *		field also its Close type, custom_type 'choices' ("choices[]" when it
 *		accepts several values), for the code that turns conditions into
 *		Close searches.  A type closecrm_fdw does not know is left out.
 */
static void
append_column(StringInfo buf, const char *column, const char *type,
			  const char *field, CustomField *custom)
{
	bool		field_option = field != NULL && strcmp(field, column) != 0;
	bool		type_option = custom != NULL &&
		close_custom_type_known(custom->type, NULL);

	appendStringInfo(buf, ",\n  %s %s", quote_identifier(column), type);
	if (!field_option && !type_option)
		return;
	appendStringInfoString(buf, " OPTIONS (");
	if (field_option)
		appendStringInfo(buf, "field %s", quote_literal_cstr(field));
	if (type_option)
		appendStringInfo(buf, "%scustom_type %s", field_option ? ", " : "",
						 quote_literal_cstr(custom->multiple ?
											psprintf("%s[]", custom->type) :
											custom->type));
	appendStringInfoChar(buf, ')');
}

/*
 * table_ddl
 *		CREATE FOREIGN TABLE for catalog entry "object" on server "server":
 *		the key column first, then the object's other fields in catalog
 *		order, then "custom_fields" (a List of CustomField, reading
 *		custom.<id>), then attrs jsonb.  Column names are unique and fit
 *		NAMEDATALEN; every identifier and literal is quoted.
 *
 *		Names are given in order of how surely objects carry the field: the
 *		key and the fields real objects carry, then the custom fields, then
 *		the fields Close documents but sends only sometimes (a Smart Field
 *		such as lead.source): a custom field "Source" is column source, the
 *		Smart Field source_2.
 */
static char *
table_ddl(const CloseObjectDef *object, ForeignServer *server,
		  List *custom_fields)
{
	StringInfoData buf;
	List	   *used = NIL;
	const CloseFieldDef *f;
	ListCell   *lc;
	int			nfields = close_catalog_typed_columns(object);
	char	  **field_columns = palloc0(sizeof(char *) * nfields);
	char	  **custom_columns = palloc0(sizeof(char *) * (list_length(custom_fields) + 1));
	char	   *key_column;
	int			pass;
	int			i;

	/* attrs must keep its name: a jsonb column named attrs gets the object */
	used = lappend(used, pstrdup("attrs"));
	key_column = unique_column_name(object->key_field, &used);
	for (pass = 0; pass < 2; pass++)
	{
		for (f = object->fields, i = 0; f->name != NULL; f++, i++)
		{
			if (f->optional == (pass == 1) &&
				strcmp(f->name, object->key_field) != 0)
				field_columns[i] = unique_column_name(f->name, &used);
		}
		if (pass == 0)
		{
			foreach(lc, custom_fields)
				custom_columns[foreach_current_index(lc)] =
					unique_column_name(custom_column_name((CustomField *) lfirst(lc)),
									   &used);
		}
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (",
					 quote_identifier(object->table_name));
	appendStringInfo(&buf, "\n  %s text", quote_identifier(key_column));
	if (strcmp(key_column, object->key_field) != 0)
		appendStringInfo(&buf, " OPTIONS (field %s)",
						 quote_literal_cstr(object->key_field));
	for (f = object->fields, i = 0; f->name != NULL; f++, i++)
	{
		if (field_columns[i] != NULL)
			append_column(&buf, field_columns[i], f->pgtype, f->name, NULL);
	}
	foreach(lc, custom_fields)
	{
		CustomField *cf = (CustomField *) lfirst(lc);

		append_column(&buf, custom_columns[foreach_current_index(lc)],
					  custom_field_type(cf), psprintf("custom.%s", cf->id), cf);
	}

	appendStringInfoString(&buf, ",\n  attrs jsonb");
	appendStringInfo(&buf, "\n) SERVER %s OPTIONS (object %s)",
					 quote_identifier(server->servername),
					 quote_literal_cstr(object->name));
	return buf.data;
}

/*
 * add_field
 *		Append "field" to "fields" unless a field with its id is there
 *		already (a shared field also listed with the object's own).
 */
static List *
add_field(List *fields, CustomField *field)
{
	ListCell   *lc;

	foreach(lc, fields)
	{
		if (strcmp(((CustomField *) lfirst(lc))->id, field->id) == 0)
			return fields;
	}
	return lappend(fields, field);
}

/*
 * closeImportForeignSchema
 *		The CREATE FOREIGN TABLE commands for IMPORT FOREIGN SCHEMA close:
 *		one per selected catalog collection, with custom field columns read
 *		from Close (with the current user's mapping) for the selected
 *		objects that have them, unless OPTIONS (custom_fields 'false').
 */
List *
closeImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *custom[lengthof(custom_field_sources)] = {0};
	bool		wanted[lengthof(custom_field_sources)] = {0};
	List	   *commands = NIL;
	bool		with_custom_fields;
	bool	   *selected;
	int			i,
				j;

	if (strcmp(stmt->remote_schema, CLOSE_REMOTE_SCHEMA) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("Close has no schema \"%s\"", stmt->remote_schema),
				 errdetail("closecrm_fdw offers every Close collection in one remote schema, \"%s\".",
						   CLOSE_REMOTE_SCHEMA),
				 errhint("Write IMPORT FOREIGN SCHEMA %s FROM SERVER %s INTO %s.",
						 CLOSE_REMOTE_SCHEMA,
						 quote_identifier(server->servername),
						 quote_identifier(stmt->local_schema))));

	with_custom_fields = parse_import_options(stmt->options);
	selected = select_tables(stmt);

	/*
	 * Read the definitions only for the selected tables that take custom
	 * fields: each one's own collection, then the shared fields once.
	 */
	if (with_custom_fields)
	{
		CloseConnection *conn = NULL;
		List	   *shared = NIL;
		ListCell   *lc;
		const char *reading = NULL;
		ErrorContextCallback errcallback;

		errcallback.callback = definitions_error_callback;
		errcallback.arg = (void *) &reading;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;

		for (j = 0; j < lengthof(custom_field_sources); j++)
		{
			const CustomFieldSource *src = &custom_field_sources[j];
			const CloseObjectDef *object = close_catalog_lookup(src->object);

			if (object == NULL)
				elog(ERROR, "the catalog has no collection \"%s\"", src->object);
			wanted[j] = selected[object - close_object_catalog];
			if (!wanted[j])
				continue;
			if (conn == NULL)
				conn = close_get_connection(serverOid, GetUserId());
			reading = src->definitions;
			foreach(lc, fetch_definitions(conn, src->definitions))
				custom[j] = add_field(custom[j], (CustomField *) lfirst(lc));
		}
		if (conn != NULL)
		{
			reading = SHARED_DEFINITIONS;
			shared = fetch_definitions(conn, SHARED_DEFINITIONS);
		}
		error_context_stack = errcallback.previous;

		foreach(lc, shared)
		{
			CustomField *field = (CustomField *) lfirst(lc);

			for (j = 0; j < lengthof(custom_field_sources); j++)
			{
				if (wanted[j] &&
					shared_field_applies(field, custom_field_sources[j].association))
					custom[j] = add_field(custom[j], field);
			}
		}
	}

	for (i = 0; i < close_object_catalog_size; i++)
	{
		const CloseObjectDef *object = &close_object_catalog[i];
		List	   *fields = NIL;

		if (!selected[i])
			continue;
		for (j = 0; j < lengthof(custom_field_sources); j++)
		{
			if (strcmp(custom_field_sources[j].object, object->name) == 0)
				fields = custom[j];
		}
		commands = lappend(commands, table_ddl(object, server, fields));
	}
	return commands;
}
