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
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
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
 *		Parse "len" bytes of JSON.  The tree is freed when the current memory
 *		context is reset or deleted (including on ERROR), so callers never
 *		free it.  Returns NULL if the text is not JSON.
 */
cJSON *
close_json_parse(const char *text, size_t len)
{
	cJSON	   *root;
	MemoryContextCallback *cb;

	root = cJSON_ParseWithLength(text, len);
	if (root == NULL)
		return NULL;
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
 * json_print
 *		Compact JSON text of "value", palloc'd.
 */
static char *
json_print(const cJSON *value)
{
	char	   *printed = cJSON_PrintUnformatted(value);
	char	   *result;

	if (printed == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	result = pg_any_to_server(printed, strlen(printed), PG_UTF8);
	if (result == printed)
		result = pstrdup(printed);
	cJSON_free(printed);
	return result;
}

/*
 * close_json_field
 *		The value of key "field" in "object": the key as written (Close's
 *		custom fields are flat keys like "custom.cf_x"), else, if the field
 *		has dots, the path through nested objects and array indexes
 *		("address.city", "emails.0.email").  NULL when absent.
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

	path = pstrdup(field);
	value = object;
	for (segment = strtok_r(path, ".", &saveptr); segment != NULL;
		 segment = strtok_r(NULL, ".", &saveptr))
	{
		if (cJSON_IsObject(value))
			value = cJSON_GetObjectItemCaseSensitive(value, segment);
		else if (cJSON_IsArray(value) && strspn(segment, "0123456789") == strlen(segment))
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

/* What the conversion error context reports. */
typedef struct ConversionContext
{
	const char *relname;
	const char *colname;
	const char *object_id;
} ConversionContext;

static void
conversion_error_callback(void *arg)
{
	ConversionContext *cc = (ConversionContext *) arg;

	if (cc->colname != NULL)
		errcontext("column \"%s\" of foreign table \"%s\", Close object \"%s\"",
				   cc->colname, cc->relname,
				   cc->object_id ? cc->object_id : "(no id)");
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
 * close_text_to_jsonb
 *		jsonb of a response body: the parsed JSON when the body is valid JSON
 *		that jsonb can hold, else the body as a JSON string (invalid UTF-8
 *		sequences replaced by U+FFFD).
 */
Datum
close_text_to_jsonb(const char *text, size_t len)
{
	StringInfoData buf;
	StringInfoData str;
	const char *p = text;
	const char *end = text + len;
	cJSON	   *parsed;

	if (pg_verify_mbstr(PG_UTF8, text, len, true) && memchr(text, '\0', len) == NULL &&
		strstr(text, "\\u0000") == NULL)
	{
		MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
												  "closecrm_fdw json check",
												  ALLOCSET_SMALL_SIZES);
		MemoryContext old = MemoryContextSwitchTo(tmp);

		parsed = close_json_parse(text, len);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
		if (parsed != NULL)
			return DirectFunctionCall1(jsonb_in,
									   CStringGetDatum(pg_any_to_server(pnstrdup(text, len),
																		len, PG_UTF8)));
	}

	/* not JSON: a JSON string of the valid characters */
	initStringInfo(&str);
	while (p < end)
	{
		int			l = pg_utf_mblen((const unsigned char *) p);

		if (*p != '\0' && p + l <= end && pg_verify_mbstr(PG_UTF8, p, l, true))
		{
			appendBinaryStringInfo(&str, p, l);
			p += l;
		}
		else
		{
			appendStringInfoString(&str, "\xEF\xBF\xBD");
			p++;
		}
	}
	initStringInfo(&buf);
	escape_json(&buf, pg_any_to_server(str.data, str.len, PG_UTF8));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * quote_body
 *		A response body fit for a message: valid UTF-8, at most
 *		MAX_QUOTED_BODY bytes, with control characters shown as spaces.
 */
static char *
quote_body(const char *body, size_t len)
{
	StringInfoData buf;
	const char *p = body;
	const char *end = body + Min(len, MAX_QUOTED_BODY);

	initStringInfo(&buf);
	while (p < end)
	{
		int			l = pg_utf_mblen((const unsigned char *) p);

		if (p + l <= end && (unsigned char) *p >= 0x20 &&
			pg_verify_mbstr(PG_UTF8, p, l, true))
		{
			appendBinaryStringInfo(&buf, p, l);
			p += l;
		}
		else
		{
			appendStringInfoChar(&buf, ' ');
			p++;
		}
	}
	if (len > MAX_QUOTED_BODY)
		appendStringInfoString(&buf, "...");
	return pg_any_to_server(buf.data, buf.len, PG_UTF8);
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

	initStringInfo(&buf);
	item = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(item))
		appendStringInfoString(&buf, item->valuestring);
	else if (cJSON_IsObject(item))
	{
		cJSON	   *msg = cJSON_GetObjectItemCaseSensitive(item, "message");

		appendStringInfoString(&buf, cJSON_IsString(msg) ? msg->valuestring :
							   json_print(item));
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "errors");
	if (!cJSON_IsArray(item))
		item = NULL;
	cJSON_ArrayForEach(elem, item)
	{
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? "; " : "",
						 cJSON_IsString(elem) ? elem->valuestring : json_print(elem));
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "field-errors");
	if (!cJSON_IsObject(item))
		item = NULL;
	cJSON_ArrayForEach(elem, item)
	{
		appendStringInfo(&buf, "%sfield \"%s\": %s", buf.len > 0 ? "; " : "",
						 elem->string,
						 cJSON_IsString(elem) ? elem->valuestring : json_print(elem));
	}
	if (buf.len == 0)
		return quote_body(body, len);
	return quote_body(buf.data, buf.len);
}
