/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  JSON conversion: parsing Close's responses with cJSON (trees freed
 *		  with the memory context they were parsed in), finding a column's
 *		  value in an object, turning JSON values into Datums of the column
 *		  types, and extracting Close's error text from an error body.
 *
 * Values go through the column type's own input function wherever possible,
 * so every type PostgreSQL can read from text works, with PostgreSQL's own
 * checks and messages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "closecrm_fdw.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Longest piece of a response body quoted in an error DETAIL. */
#define MAX_QUOTED_BODY 1000

/* memory context reset callback: frees a cJSON tree */
static void
free_json_tree(void *arg)
{
	cJSON_Delete((cJSON *) arg);
}

/*
 * close_json_parse
 *		Parse "len" bytes of JSON: one value, nothing after it but white
 *		space; a \u0000 escape reads as U+FFFD (text cannot hold it).  The
 *		tree is freed when the current memory context is reset or deleted
 *		(including on ERROR), so callers never free it.  Returns NULL if the
 *		text is not JSON.
 */
cJSON *
close_json_parse(const char *text, size_t len)
{
	cJSON	   *root;
	MemoryContextCallback *cb;
	const char *parse_end = NULL;
	const char *end = text + len;

	/* U+0000 would cut a string short: read it as U+FFFD */
	if (close_json_replace_nul_escapes(text, len, NULL) > 0)
	{
		char	   *copy = palloc_extended(len + 1, MCXT_ALLOC_HUGE);

		close_json_replace_nul_escapes(text, len, copy);
		copy[len] = '\0';
		text = copy;
		end = text + len;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &parse_end, false);
	if (root == NULL)
		return NULL;
	/* cJSON stops after the first value: anything but white space is wrong */
	while (parse_end < end && (*parse_end == ' ' || *parse_end == '\t' ||
							   *parse_end == '\n' || *parse_end == '\r'))
		parse_end++;
	if (parse_end != end)
	{
		cJSON_Delete(root);
		return NULL;
	}
	cb = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(*cb),
									MCXT_ALLOC_NO_OOM);
	if (cb == NULL)
	{
		cJSON_Delete(root);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	}
	cb->func = free_json_tree;
	cb->arg = root;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return root;
}

/*
 * close_json_text
 *		Compact JSON text of "value" as cJSON prints it (UTF-8, as Close
 *		reads it), palloc'd.
 */
char *
close_json_text(const cJSON *value)
{
	char	   *printed = cJSON_PrintUnformatted(value);
	char	   *result;

	if (printed == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	result = pstrdup(printed);
	cJSON_free(printed);
	return result;
}

/*
 * json_print
 *		Compact JSON text of "value", palloc'd, in the server encoding.
 */
static char *
json_print(const cJSON *value)
{
	char	   *printed = close_json_text(value);
	char	   *result = pg_any_to_server(printed, strlen(printed), PG_UTF8);

	if (result != printed)
		pfree(printed);
	return result;
}

/*
 * close_json_field
 *		The value of key "field" in "object": the key as written (Close's
 *		custom fields are flat keys like "custom.cf_x"), else, if the field
 *		has dots, the path through nested objects and array indexes
 *		("address.city", "emails.0.email").  NULL when absent, or when the
 *		path has an empty segment.
 */
cJSON *
close_json_field(cJSON *object, const char *field)
{
	cJSON	   *value;
	char	   *path;
	char	   *segment;
	char	   *saveptr = NULL;

	if (!cJSON_IsObject(object))
		return NULL;
	value = cJSON_GetObjectItemCaseSensitive(object, field);
	if (value != NULL || strchr(field, '.') == NULL)
		return value;

	/* an empty segment names nothing (strtok_r would skip it) */
	if (field[0] == '.' || field[strlen(field) - 1] == '.' ||
		strstr(field, "..") != NULL)
		return NULL;
	path = pstrdup(field);
	value = object;
	for (segment = strtok_r(path, ".", &saveptr); segment != NULL;
		 segment = strtok_r(NULL, ".", &saveptr))
	{
		if (cJSON_IsObject(value))
			value = cJSON_GetObjectItemCaseSensitive(value, segment);
		else if (cJSON_IsArray(value) && strlen(segment) <= 9 &&
				 strspn(segment, "0123456789") == strlen(segment))
			value = cJSON_GetArrayItem(value, atoi(segment));
		else
			value = NULL;
		if (value == NULL)
			break;
	}
	pfree(path);
	return value;
}

/*
 * number_text
 *		Shortest decimal text that reads back as the same double.
 */
static char *
number_text(double d)
{
	char		buf[64];

	if (isnan(d) || isinf(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("JSON number is not finite")));
	if (d == floor(d) && fabs(d) < 1e15)
		snprintf(buf, sizeof(buf), "%.0f", d);
	else
	{
		snprintf(buf, sizeof(buf), "%.15g", d);
		if (strtod(buf, NULL) != d)
			snprintf(buf, sizeof(buf), "%.17g", d);
	}
	return pstrdup(buf);
}

/*
 * timestamp_text_utc
 *		Close's timestamp text with "+00:00" added when it has no offset:
 *		Close timestamps without one are UTC, not the session's time zone.
 */
static char *
timestamp_text_utc(const char *s)
{
	const char *t = strpbrk(s, "Tt ");
	size_t		len = strlen(s);

	if (len == 10)				/* a bare date */
		return psprintf("%sT00:00:00+00:00", s);
	if (t == NULL || strpbrk(t + 1, "Zz+-") == NULL)
		return psprintf("%s+00:00", s);
	return pstrdup(s);
}

/*
 * scalar_text
 *		The text a JSON value gives a column of a scalar type: strings as
 *		they are, numbers in shortest form, booleans as true/false, arrays
 *		and objects as JSON text.
 */
static char *
scalar_text(const cJSON *value)
{
	if (cJSON_IsString(value))
		return pg_any_to_server(value->valuestring, strlen(value->valuestring),
								PG_UTF8);
	if (cJSON_IsNumber(value))
		return number_text(value->valuedouble);
	if (cJSON_IsBool(value))
		return pstrdup(cJSON_IsTrue(value) ? "true" : "false");
	return json_print(value);
}

/*
 * close_json_to_datum
 *		Convert a JSON value to a Datum of type "typid"/"typmod".  JSON null
 *		(or a missing value) is SQL NULL.  ERRORs from the type's input
 *		function propagate; the caller's error context names the column.
 */
Datum
close_json_to_datum(cJSON *value, Oid typid, int32 typmod, bool *isnull)
{
	Oid			elemtype;
	Oid			infunc;
	Oid			ioparam;
	char	   *text;

	*isnull = false;
	if (value == NULL || cJSON_IsNull(value))
	{
		*isnull = true;
		return (Datum) 0;
	}

	if (typid == JSONBOID || typid == JSONOID)
	{
		getTypeInputInfo(typid, &infunc, &ioparam);
		return OidInputFunctionCall(infunc, json_print(value), ioparam, typmod);
	}
	if (typid == BOOLOID && cJSON_IsBool(value))
		return BoolGetDatum(cJSON_IsTrue(value));

	elemtype = get_element_type(typid);
	if (OidIsValid(elemtype) && get_typlen(typid) == -1)
	{
		ArrayBuildState *astate = NULL;
		cJSON	   *elem;

		if (!cJSON_IsArray(value))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("JSON %s cannot be converted to %s",
							cJSON_IsObject(value) ? "object" : "scalar",
							format_type_be(typid)),
					 errhint("Declare the column as jsonb or as the element type.")));
		astate = initArrayResult(elemtype, CurrentMemoryContext, false);
		cJSON_ArrayForEach(elem, value)
		{
			bool		elemnull;
			Datum		d = close_json_to_datum(elem, elemtype, -1, &elemnull);

			astate = accumArrayResult(astate, d, elemnull, elemtype,
									  CurrentMemoryContext);
		}
		return makeArrayResult(astate, CurrentMemoryContext);
	}

	text = scalar_text(value);
	if (typid == TIMESTAMPTZOID || typid == TIMESTAMPOID)
	{
		Datum		ts;

		getTypeInputInfo(TIMESTAMPTZOID, &infunc, &ioparam);
		ts = OidInputFunctionCall(infunc, timestamp_text_utc(text), ioparam,
								  typmod);
		/* a timestamp column shows the UTC wall-clock time */
		return ts;
	}
	getTypeInputInfo(typid, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, text, ioparam, typmod);
}

/*
 * close_datum_text
 *		Text form of a Datum of type "typid" as Close reads it: dates as
 *		YYYY-MM-DD and timestamps as ISO 8601 in UTC whatever DateStyle and
 *		TimeZone say (timestamp without time zone is taken as UTC, as
 *		closecrm_fdw shows Close's times), booleans as true/false.
 */
char *
close_datum_text(Datum value, Oid typid)
{
	Oid			outfunc;
	bool		isvarlena;
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;

	switch (typid)
	{
		case BOOLOID:
			return pstrdup(DatumGetBool(value) ? "true" : "false");
		case DATEOID:
			if (DATE_NOT_FINITE(DatumGetDateADT(value)))
				break;
			j2date(DatumGetDateADT(value) + POSTGRES_EPOCH_JDATE,
				   &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
			EncodeDateOnly(&tm, USE_ISO_DATES, buf);
			return pstrdup(buf);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(value)) ||
				timestamp2tm(DatumGetTimestamp(value), NULL, &tm, &fsec, NULL, NULL) != 0)
				break;
			tm.tm_isdst = 0;	/* so that the +00:00 offset is printed */
			EncodeDateTime(&tm, fsec, true, 0, NULL, USE_XSD_DATES, buf);
			return pstrdup(buf);
	}
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, value);
}

/*
 * close_array_elements
 *		The elements of array Datum "value": their type, values, null flags
 *		and number.
 */
void
close_array_elements(Datum value, Oid *elemtype, Datum **elems, bool **nulls,
					 int *nelems)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	*elemtype = ARR_ELEMTYPE(arr);
	get_typlenbyvalalign(*elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, *elemtype, typlen, typbyval, typalign,
					  elems, nulls, nelems);
}

/*
 * datum_to_json
 *		A new cJSON node for a Datum of type "typid": numbers and json stay
 *		as their text (no precision lost), booleans become true/false,
 *		arrays JSON arrays, dates and timestamps ISO 8601 strings (UTC), and
 *		everything else the string of its output function.
 */
static cJSON *
datum_to_json(Datum value, Oid typid)
{
	Oid			elemtype = get_element_type(typid);
	cJSON	   *node;
	char	   *text;

	if (OidIsValid(elemtype) && get_typlen(typid) == -1)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int			i;

		close_array_elements(value, &elemtype, &elems, &nulls, &nelems);
		node = cJSON_CreateArray();
		/* the array is not in the body yet: free it if an element fails */
		PG_TRY();
		{
			for (i = 0; node != NULL && i < nelems; i++)
				cJSON_AddItemToArray(node, nulls[i] ? cJSON_CreateNull() :
									 datum_to_json(elems[i], elemtype));
		}
		PG_CATCH();
		{
			cJSON_Delete(node);
			PG_RE_THROW();
		}
		PG_END_TRY();
		return node;
	}
	switch (typid)
	{
		case BOOLOID:
			return cJSON_CreateBool(DatumGetBool(value));
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			text = close_datum_text(value, typid);
			if (strspn(text, "-0123456789.e+E") != strlen(text))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("%s cannot be sent to Close as a JSON number", text),
						 errhint("Close accepts only finite numbers.")));
			return cJSON_CreateRaw(text);
		case JSONOID:
		case JSONBOID:
			text = close_datum_text(value, typid);
			return cJSON_CreateRaw(pg_server_to_any(text, strlen(text), PG_UTF8));
		default:
			text = close_datum_text(value, typid);
			return cJSON_CreateString(pg_server_to_any(text, strlen(text), PG_UTF8));
	}
}

/*
 * close_values_to_json
 *		The JSON object body for the columns "attnums" (1-based) of a row:
 *		each under its field's key; NULLs as JSON null when "nulls_as_null"
 *		(an UPDATE unsets the field) and left out otherwise (an INSERT); an
 *		attrs column's keys merged in first, so that columns override them.
 *		Columns whose field is in "skip_fields" are left out.
 */
char *
close_values_to_json(CloseTableInfo *table, TupleDesc tupdesc, Datum *values,
					 bool *isnull, List *attnums, bool nulls_as_null,
					 const char *const *skip_fields)
{
	cJSON	   *body = cJSON_CreateObject();
	MemoryContextCallback *cb;
	ListCell   *lc;
	int			pass;

	if (body == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	/* freed with the current context, even if an ERROR comes first */
	cb = palloc(sizeof(*cb));
	cb->func = free_json_tree;
	cb->arg = body;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	for (pass = 0; pass < 2; pass++)
	{
		foreach(lc, attnums)
		{
			int			i = lfirst_int(lc) - 1;
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);
			const char *field = table->field_names[i];
			const char *const *sf;
			bool		skip = false;

			if (att->attisdropped || field == NULL ||
				(pass == 0) != table->is_attrs[i])
				continue;
			for (sf = skip_fields; sf != NULL && *sf != NULL; sf++)
				skip = skip || strcmp(*sf, field) == 0;
			if (skip || (isnull[i] && !nulls_as_null && !table->is_attrs[i]))
				continue;
			if (table->is_attrs[i])
			{
				cJSON	   *extra;
				cJSON	   *item;
				char	   *text;

				if (isnull[i])
					continue;
				text = close_datum_text(values[i], att->atttypid);
				extra = close_json_parse(text, strlen(text));
				if (!cJSON_IsObject(extra))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("column \"%s\" must hold a JSON object to be sent to Close",
									NameStr(att->attname)),
							 errhint("Its keys are merged into the object sent.")));
				cJSON_ArrayForEach(item, extra)
				{
					cJSON_DeleteItemFromObjectCaseSensitive(body, item->string);
					cJSON_AddItemToObject(body, item->string, cJSON_Duplicate(item, true));
				}
				continue;
			}
			cJSON_DeleteItemFromObjectCaseSensitive(body, field);
			cJSON_AddItemToObject(body, field, isnull[i] ? cJSON_CreateNull() :
								  datum_to_json(values[i], att->atttypid));
		}
	}
	return close_json_text(body);
}

/* What the conversion error context reports. */
typedef struct ConversionContext
{
	const char *relname;
	const char *colname;
	const char *object_id;
} ConversionContext;

/* Longest part of an object id quoted in an error context. */
#define MAX_QUOTED_ID 200

/*
 * printable_id
 *		"id" as an error message may show it, without anything that could
 *		raise an error while one is being reported: as it is if it is valid
 *		in the database encoding (clipped to MAX_QUOTED_ID bytes), else in
 *		ASCII with other bytes as \xNN.
 */
static char *
printable_id(const char *id)
{
	size_t		len = strlen(id);
	StringInfoData buf;
	size_t		i;

	if (GetDatabaseEncoding() == PG_UTF8 &&
		pg_verify_mbstr(PG_UTF8, id, len, true))
	{
		if (len <= MAX_QUOTED_ID)
			return (char *) id;
		return psprintf("%.*s...", pg_mbcliplen(id, len, MAX_QUOTED_ID), id);
	}
	initStringInfo(&buf);
	for (i = 0; i < len && buf.len < MAX_QUOTED_ID; i++)
	{
		unsigned char c = (unsigned char) id[i];

		if (c >= 0x20 && c < 0x7F && c != '\\')
			appendStringInfoChar(&buf, c);
		else
			appendStringInfo(&buf, "\\x%02X", c);
	}
	if (i < len)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

static void
conversion_error_callback(void *arg)
{
	ConversionContext *cc = (ConversionContext *) arg;

	if (cc->colname != NULL)
		errcontext("column \"%s\" of foreign table \"%s\", Close object \"%s\"",
				   cc->colname, cc->relname,
				   cc->object_id ? printable_id(cc->object_id) : "(no id)");
}

/*
 * close_object_to_values
 *		Fill values/nulls for every column of "tupdesc" from Close object
 *		"object": each column reads its field, an attrs column gets the
 *		whole object; columns not "wanted" (when given) are left NULL.  A
 *		value that does not fit its column is an ERROR
 *		whose context names the table, the column and the object's id.
 */
void
close_object_to_values(cJSON *object, CloseTableInfo *table, TupleDesc tupdesc,
					   const bool *wanted, const char *relname,
					   Datum *values, bool *nulls)
{
	ErrorContextCallback errcallback;
	ConversionContext cc;
	cJSON	   *id = cJSON_GetObjectItemCaseSensitive(object, "id");
	int			i;

	cc.relname = relname;
	cc.colname = NULL;
	cc.object_id = cJSON_IsString(id) ? id->valuestring : NULL;
	errcallback.callback = conversion_error_callback;
	errcallback.arg = &cc;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		cJSON	   *value;

		if (att->attisdropped || table->field_names[i] == NULL ||
			(wanted != NULL && !wanted[i]))
		{
			values[i] = (Datum) 0;
			nulls[i] = true;
			continue;
		}
		cc.colname = NameStr(att->attname);
		value = table->is_attrs[i] ? object :
			close_json_field(object, table->field_names[i]);
		values[i] = close_json_to_datum(value, att->atttypid, att->atttypmod,
										&nulls[i]);
	}
	error_context_stack = errcallback.previous;
}

/*
 * is_jsonb_text
 *		True if the "len" bytes at "text" are JSON that jsonb accepts: valid
 *		UTF-8 without NULs, parsed by cJSON (which bounds the nesting depth)
 *		and by PostgreSQL's own JSON parser (which is stricter about numbers
 *		and refuses \u0000).  "*converted" gets the text in the database
 *		encoding.
 */
static bool
is_jsonb_text(const char *text, size_t len, char **converted)
{
	MemoryContext tmp;
	MemoryContext old;
	bool		ok;

	if (!pg_verify_mbstr(PG_UTF8, text, len, true))
		return false;

	tmp = AllocSetContextCreate(CurrentMemoryContext,
								"closecrm_fdw json check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);
	ok = close_json_parse(text, len) != NULL;
	MemoryContextSwitchTo(old);
	MemoryContextReset(tmp);
	if (ok)
	{
		*converted = pg_any_to_server(text, len, PG_UTF8);
		if (*converted == text)
			*converted = pnstrdup(text, len);
		old = MemoryContextSwitchTo(tmp);
		ok = pg_parse_json(close_json_lex_context(*converted,
														strlen(*converted),
														GetDatabaseEncoding(),
														true),
						   &nullSemAction) == JSON_SUCCESS;
		MemoryContextSwitchTo(old);
		if (!ok)
			pfree(*converted);
	}
	MemoryContextDelete(tmp);
	return ok;
}

/* error context of turning a response body into jsonb */
static void
jsonb_body_error_callback(void *arg)
{
	errcontext("converting a response body from Close to jsonb");
}

/*
 * close_text_to_jsonb
 *		jsonb of a response body: the parsed JSON when the body is JSON that
 *		jsonb can hold (a \u0000 escape read as U+FFFD), else the body as a
 *		JSON string (invalid UTF-8 sequences and NULs replaced by U+FFFD).
 */
Datum
close_text_to_jsonb(const char *text, size_t len)
{
	JsonbValue	string;
	char	   *converted;
	char	   *clean;
	size_t		cleanlen;

	/* jsonb cannot hold U+0000: read \u0000 as U+FFFD, as for the tables */
	if (close_json_replace_nul_escapes(text, len, NULL) > 0)
	{
		char	   *copy = palloc_extended(len + 1, MCXT_ALLOC_HUGE);

		close_json_replace_nul_escapes(text, len, copy);
		copy[len] = '\0';
		text = copy;
	}
	if (is_jsonb_text(text, len, &converted))
	{
		ErrorContextCallback errcallback;
		Datum		result;

		/* numbers beyond numeric's range still fail: say where */
		errcallback.callback = jsonb_body_error_callback;
		errcallback.arg = NULL;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(converted));
		error_context_stack = errcallback.previous;
		return result;
	}

	/* not JSON: a JSON string of the text, built directly (no escaping) */
	cleanlen = close_utf8_sanitize(text, len, NULL, false);
	clean = palloc_extended(cleanlen + 1, MCXT_ALLOC_HUGE);
	close_utf8_sanitize(text, len, clean, false);
	string.type = jbvString;
	string.val.string.val = pg_any_to_server(clean, cleanlen, PG_UTF8);
	string.val.string.len = strlen(string.val.string.val);
	return JsonbPGetDatum(JsonbValueToJsonb(&string));
}

/*
 * quote_body
 *		A response body fit for a message: valid UTF-8 (invalid bytes and
 *		NULs shown as U+FFFD), at most MAX_QUOTED_BODY bytes of it, with
 *		control characters shown as spaces, in the database encoding.
 */
static char *
quote_body(const char *body, size_t len)
{
	size_t		quoted = Min(len, MAX_QUOTED_BODY);
	char	   *buf = palloc(3 * quoted + 4);
	size_t		n = close_utf8_sanitize(body, quoted, buf, true);

	if (len > MAX_QUOTED_BODY)
		strcpy(buf + n, "...");
	return pg_any_to_server(buf, strlen(buf), PG_UTF8);
}

/*
 * append_json_print
 *		Append the compact JSON text of "value" as cJSON prints it, bytes
 *		unchecked (the caller quotes the result with quote_body).
 */
static void
append_json_print(StringInfo buf, const cJSON *value)
{
	char	   *printed = cJSON_PrintUnformatted(value);

	if (printed == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	appendStringInfoString(buf, printed);
	cJSON_free(printed);
}

/*
 * close_report_malformed_list
 *		ERROR for a list response that is not Close's list envelope.
 */
void
close_report_malformed_list(CloseRequest *req, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("Close returned a malformed list response to %s %s",
					req->method, req->path),
			 errdetail("%s", what),
			 errhint("Check that base_url points at the Close API.")));
}

/*
 * close_list_data
 *		The "data" array of a list response, its envelope in *root; ERROR
 *		when the body is not Close's list envelope.
 */
cJSON *
close_list_data(CloseRequest *req, cJSON **root)
{
	cJSON	   *data;

	*root = close_json_parse(req->response.data, req->response.len);
	if (!cJSON_IsObject(*root))
		close_report_malformed_list(req, "The body is not a JSON object.");
	data = cJSON_GetObjectItemCaseSensitive(*root, "data");
	if (!cJSON_IsArray(data))
		close_report_malformed_list(req, "The key \"data\" is missing or not an array.");
	return data;
}

/*
 * close_error_text
 *		Close's explanation in an error response body, whichever of its
 *		shapes it uses: {"error": "..."}, {"error": {"message": ...}},
 *		{"errors": [...], "field-errors": {...}}; else the body itself.
 */
char *
close_error_text(const char *body, size_t len)
{
	StringInfoData buf;
	cJSON	   *root;
	cJSON	   *item;
	cJSON	   *elem;

	if (len == 0)
		return pstrdup("(empty response body)");
	root = close_json_parse(body, len);
	if (!cJSON_IsObject(root))
		return quote_body(body, len);

	/* Close's text is gathered as sent, and made valid once, at the end */
	initStringInfo(&buf);
	item = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(item))
		appendStringInfoString(&buf, item->valuestring);
	else if (cJSON_IsObject(item))
	{
		cJSON	   *msg = cJSON_GetObjectItemCaseSensitive(item, "message");

		if (cJSON_IsString(msg))
			appendStringInfoString(&buf, msg->valuestring);
		else
			append_json_print(&buf, item);
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "errors");
	if (!cJSON_IsArray(item))
		item = NULL;
	cJSON_ArrayForEach(elem, item)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		if (cJSON_IsString(elem))
			appendStringInfoString(&buf, elem->valuestring);
		else
			append_json_print(&buf, elem);
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "field-errors");
	if (!cJSON_IsObject(item))
		item = NULL;
	cJSON_ArrayForEach(elem, item)
	{
		appendStringInfo(&buf, "%sfield \"%s\": ", buf.len > 0 ? "; " : "",
						 elem->string);
		if (cJSON_IsString(elem))
			appendStringInfoString(&buf, elem->valuestring);
		else
			append_json_print(&buf, elem);
	}
	if (buf.len == 0)
		return quote_body(body, len);
	return quote_body(buf.data, buf.len);
}
