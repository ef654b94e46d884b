/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		  Look-ups in the generated Close object catalog (catalog_data.c):
 *		  find a collection or one of its fields by name, suggest close
 *		  matches, describe what a collection supports; Close's custom field
 *		  types; the catalog as SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "closecrm_fdw.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

/*
 * close_catalog_lookup
 *		Return the catalog entry for collection "name", or NULL if Close has
 *		no such collection.  Leading and trailing slashes are not accepted:
 *		the option value is the bare collection path.
 */
const CloseObjectDef *
close_catalog_lookup(const char *name)
{
	int			i;

	for (i = 0; i < close_object_catalog_size; i++)
	{
		if (strcmp(close_object_catalog[i].name, name) == 0)
			return &close_object_catalog[i];
	}
	return NULL;
}

/*
 * close_catalog_has_filter
 *		True if Close's list endpoint of "object" takes query parameter
 *		"name".
 */
bool
close_catalog_has_filter(const CloseObjectDef *object, const char *name)
{
	const char *const *f;

	for (f = object->filters; *f != NULL; f++)
	{
		if (strcmp(*f, name) == 0)
			return true;
	}
	return false;
}

/*
 * close_catalog_field
 *		The catalog's field "name" of "object", or NULL if the catalog does
 *		not know that field.
 */
const CloseFieldDef *
close_catalog_field(const CloseObjectDef *object, const char *name)
{
	const CloseFieldDef *f;

	for (f = object->fields; f->name != NULL; f++)
	{
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

/*
 * close_catalog_field_suggestion
 *		The field of "object" closest to "name" for a "did you mean" hint:
 *		the same name in another case or with "_" for " " and "-" first, else
 *		the nearest by edit distance, if it is near enough; NULL if none.
 */
const char *
close_catalog_field_suggestion(const CloseObjectDef *object, const char *name)
{
	const CloseFieldDef *f;
	const char *best = NULL;
	int			bestdist = INT_MAX;
	int			namelen = strlen(name);
	char	   *folded = pstrdup(name);
	char	   *c;

	for (c = folded; *c; c++)
		*c = (*c == ' ' || *c == '-') ? '_' : pg_ascii_tolower((unsigned char) *c);
	for (f = object->fields; f->name != NULL; f++)
	{
		int			dist;

		if (strcmp(f->name, folded) == 0)
			return f->name;
		dist = varstr_levenshtein(name, namelen, f->name, strlen(f->name),
								  1, 1, 1, false);
		if (dist < bestdist)
		{
			bestdist = dist;
			best = f->name;
		}
	}
	return bestdist <= Max(2, namelen / 3) ? best : NULL;
}

/*
 * Close's custom field types (research notes section 7, Close's custom
 * field docs), and whether their values are strings (text, choices, ids)
 * rather than numbers or dates.
 */
static const struct
{
	const char *name;
	bool		string_valued;
}			custom_field_types[] = {
	{"text", true}, {"textarea", true}, {"number", false}, {"date", false},
	{"datetime", false}, {"choices", true}, {"user", true}, {"contact", true},
	{"custom_object", true}, {"hidden", true}, {"url", true}, {"email", true},
	{"phone", true},
};

/*
 * close_custom_type_known
 *		True if "name" is a custom field type Close uses; *string_valued
 *		(if not NULL) tells whether its values are strings.
 */
bool
close_custom_type_known(const char *name, bool *string_valued)
{
	int			i;

	for (i = 0; i < lengthof(custom_field_types); i++)
	{
		if (strcmp(custom_field_types[i].name, name) == 0)
		{
			if (string_valued)
				*string_valued = custom_field_types[i].string_valued;
			return true;
		}
	}
	return false;
}

/*
 * close_custom_type_names
 *		The custom field types Close uses, comma-separated, for messages;
 *		with "closest_to", only the one nearest to it by edit distance.
 */
char *
close_custom_type_names(const char *closest_to)
{
	StringInfoData buf;
	int			best = 0;
	int			bestdist = INT_MAX;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(custom_field_types); i++)
	{
		if (closest_to == NULL)
			appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
							 custom_field_types[i].name);
		else
		{
			int			dist = varstr_levenshtein(closest_to, strlen(closest_to),
												  custom_field_types[i].name,
												  strlen(custom_field_types[i].name),
												  1, 1, 1, false);

			if (dist < bestdist)
			{
				bestdist = dist;
				best = i;
			}
		}
	}
	if (closest_to != NULL)
		appendStringInfoString(&buf, custom_field_types[best].name);
	return buf.data;
}

/*
 * close_catalog_typed_columns
 *		How many typed columns IMPORT FOREIGN SCHEMA gives "object": one per
 *		catalog field, the key included (attrs and custom fields not).
 */
int
close_catalog_typed_columns(const CloseObjectDef *object)
{
	const CloseFieldDef *f;
	int			n = 0;

	for (f = object->fields; f->name != NULL; f++)
		n++;
	return n;
}

/*
 * compare_words
 *		list_sort comparator for Lists of C strings.
 */
static int
compare_words(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * sorted_words
 *		The words of "name" (separated by "_" or "/"), lower-cased and
 *		sorted, joined by "_": "Status/Lead" and "lead_status" both give
 *		"lead_status".
 */
static char *
sorted_words(const char *name)
{
	char	   *copy = pstrdup(name);
	char	   *saveptr = NULL;
	char	   *w;
	List	   *words = NIL;
	StringInfoData buf;
	ListCell   *lc;

	for (w = copy; *w; w++)
		*w = pg_ascii_tolower((unsigned char) *w);
	for (w = strtok_r(copy, "_/", &saveptr); w != NULL;
		 w = strtok_r(NULL, "_/", &saveptr))
		words = lappend(words, w);
	list_sort(words, compare_words);
	initStringInfo(&buf);
	foreach(lc, words)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? "_" : "",
						 (char *) lfirst(lc));
	return buf.data;
}

/*
 * close_catalog_suggestions
 *		A comma-separated, quoted list of up to three collection names (or,
 *		with "table_names", IMPORT table names) closest to "name", for an
 *		error hint; NULL if none is reasonably close.  Closest are names
 *		with the same words ("Lead", "activity/note", "lead_status" for
 *		"status/lead"), alone if there is one; then by edit distance, a name
 *		containing "name" counting as distance 1 ("note").
 */
char *
close_catalog_suggestions(const char *name, bool table_names)
{
	StringInfoData buf;
	int			best[3] = {-1, -1, -1};
	int			bestdist[3] = {INT_MAX, INT_MAX, INT_MAX};
	int			namelen = strlen(name);
	char	   *words = sorted_words(name);
	int			i,
				j;

	for (i = 0; i < close_object_catalog_size; i++)
	{
		const char *cand = table_names ? close_object_catalog[i].table_name :
			close_object_catalog[i].name;
		int			dist;

		dist = varstr_levenshtein(name, namelen, cand, strlen(cand),
								  1, 1, 1, false);
		if (namelen >= 3 && strstr(cand, name) != NULL)
			dist = Min(dist, 1);
		if (strcmp(sorted_words(cand), words) == 0)
			dist = 0;
		if (dist > Max(2, namelen / 2))
			continue;
		for (j = 0; j < 3; j++)
		{
			if (dist < bestdist[j])
			{
				memmove(&best[j + 1], &best[j], sizeof(int) * (2 - j));
				memmove(&bestdist[j + 1], &bestdist[j], sizeof(int) * (2 - j));
				best[j] = i;
				bestdist[j] = dist;
				break;
			}
		}
	}
	if (best[0] < 0)
		return NULL;
	initStringInfo(&buf);
	for (j = 0; j < 3 && best[j] >= 0; j++)
	{
		if (bestdist[0] == 0 && bestdist[j] > 0)
			break;
		appendStringInfo(&buf, "%s\"%s\"", j > 0 ? ", " : "",
						 table_names ? close_object_catalog[best[j]].table_name :
						 close_object_catalog[best[j]].name);
	}
	return buf.data;
}

/*
 * close_catalog_ops_text
 *		Describe the operations a collection supports, e.g. "get, list",
 *		for error details.
 */
char *
close_catalog_ops_text(const CloseObjectDef *object)
{
	static const struct
	{
		int			flag;
		const char *word;
	}			ops[] = {
		{CLOSE_OP_GET, "get by id"},
		{CLOSE_OP_LIST, "list"},
		{CLOSE_OP_CREATE, "create"},
		{CLOSE_OP_UPDATE, "update"},
		{CLOSE_OP_DELETE, "delete"},
	};
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(ops); i++)
	{
		if (object->ops & ops[i].flag)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
							 ops[i].word);
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "nothing");
	return buf.data;
}

/*
 * close_catalog_group
 *		The rate-limit endpoint group of a request, as Close counts them
 *		(method and path template): "GET lead/{id}", "GET lead", or for a
 *		path outside the catalog the path itself ("GET me").
 */
char *
close_catalog_group(const char *method, const char *path)
{
	size_t		len;
	const char *best = NULL;
	size_t		bestlen = 0;
	int			i;

	while (*path == '/')
		path++;
	len = strcspn(path, "?");
	while (len > 0 && path[len - 1] == '/')
		len--;
	for (i = 0; i < close_object_catalog_size; i++)
	{
		const char *name = close_object_catalog[i].name;
		size_t		namelen = strlen(name);

		if (namelen <= len && namelen > bestlen && strncmp(path, name, namelen) == 0 &&
			(namelen == len || path[namelen] == '/'))
		{
			best = name;
			bestlen = namelen;
		}
	}
	if (best == NULL)
		return psprintf("%s %.*s", method, (int) len, path);
	return psprintf("%s %s%s", method, best, bestlen < len ? "/{id}" : "");
}

PG_FUNCTION_INFO_V1(closecrm_objects);

/*
 * text_array
 *		A text[] of the NULL-terminated C strings "items", with "|" groups
 *		kept as they are.
 */
static Datum
text_array(const char *const *items)
{
	ArrayBuildState *astate = initArrayResult(TEXTOID, CurrentMemoryContext, false);

	for (; *items != NULL; items++)
		astate = accumArrayResult(astate, CStringGetTextDatum(*items), false,
								  TEXTOID, CurrentMemoryContext);
	return makeArrayResult(astate, CurrentMemoryContext);
}

/*
 * closecrm_objects
 *		The object catalog as a table: every Close collection, what it
 *		supports, how it pages, its filters, how many typed columns IMPORT
 *		gives it and whether its objects carry fields the catalog cannot
 *		list.
 */
Datum
closecrm_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const paging_names[] = {"none", "skip", "cursor", "single"};
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < close_object_catalog_size; i++)
	{
		const CloseObjectDef *o = &close_object_catalog[i];
		Datum		values[15];
		bool		nulls[15] = {0};

		values[0] = CStringGetTextDatum(o->name);
		values[1] = CStringGetTextDatum(o->table_name);
		values[2] = BoolGetDatum((o->ops & CLOSE_OP_GET) != 0);
		values[3] = BoolGetDatum((o->ops & CLOSE_OP_LIST) != 0);
		values[4] = BoolGetDatum((o->ops & CLOSE_OP_CREATE) != 0);
		values[5] = BoolGetDatum((o->ops & CLOSE_OP_UPDATE) != 0);
		values[6] = BoolGetDatum((o->ops & CLOSE_OP_DELETE) != 0);
		values[7] = Int32GetDatum(o->delete_status);
		nulls[7] = o->delete_status == 0;
		values[8] = CStringGetTextDatum(paging_names[o->paging]);
		values[9] = text_array(o->required_filters);
		values[10] = text_array(o->filters);
		values[11] = CStringGetTextDatum(o->id_param);
		values[12] = CStringGetTextDatum(o->key_field);
		values[13] = Int32GetDatum(close_catalog_typed_columns(o));
		values[14] = BoolGetDatum(o->open_fields);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(closecrm_fields);

/*
 * closecrm_fields
 *		Every field of every catalog object: the typed columns IMPORT
 *		FOREIGN SCHEMA creates, with their types, and whether real objects
 *		may lack the field (optional).
 */
Datum
closecrm_fields(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < close_object_catalog_size; i++)
	{
		const CloseObjectDef *o = &close_object_catalog[i];
		const CloseFieldDef *f;

		for (f = o->fields; f->name != NULL; f++)
		{
			Datum		values[4];
			bool		nulls[4] = {0};

			values[0] = CStringGetTextDatum(o->name);
			values[1] = CStringGetTextDatum(f->name);
			values[2] = CStringGetTextDatum(f->pgtype);
			values[3] = BoolGetDatum(f->optional);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
