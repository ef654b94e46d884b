/*-------------------------------------------------------------------------
 *
 * listing.c
 *		  The pager: reads a Close listing object by object, whatever the
 *		  paging style — the list endpoint's _skip/_limit pages (read ahead,
 *		  and continued in date_created slices past Close's _skip cap), the
 *		  event log's cursor, a single page, or Close's search API walked by
 *		  keyset on a timestamp.  It builds every query string it sends from
 *		  name/value pairs, keeps its own memory (pages in a page context
 *		  reset before the next ones are fetched, the walk's position in the
 *		  pager's context), counts what it sent for EXPLAIN ANALYZE, and
 *		  describes its requests for EXPLAIN.
 *
 * A listing is never returned partially: a page that fails after the
 * transport's retries is an ERROR.
 *
 * The search walk follows close-api/ADVANCED_FILTERING.md §7.3: every
 * request is a fresh query "K on or after the anchor" sorted by K, so
 * neither Close's 30-second cursor nor its 10,000-objects-per-walk cap
 * applies; the anchor is the last second seen, and objects of that second
 * already returned are remembered by id and skipped when read again.  Only
 * when a whole page falls inside one second (a plateau) does the walk follow
 * Close's cursor, at once and without waiting for the consumer, until it
 * leaves that second.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "catalog/pg_type.h"
#include "closecrm_fdw.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Bytes of pages a listing may hold in memory at once when reading ahead. */
#define CLOSE_READAHEAD_BYTES (8 * 1024 * 1024)

/* Restarts of a search walk from the same anchor before giving up. */
#define CLOSE_SEARCH_MAX_RESTARTS 3

/* Longest object id a search walk remembers (Close's ids are ~30 bytes). */
#define CLOSE_ID_KEYLEN 256

/* GUC: pages of a _skip listing fetched at once after the first one */
int			close_readahead_pages = 8;

/* Where a search walk is. */
typedef enum SearchMode
{
	SEARCH_KEYSET,				/* fresh queries from the anchor on */
	SEARCH_PLATEAU				/* following Close's cursor inside a second */
} SearchMode;

/* One id a search walk has returned. */
typedef struct SeenEntry
{
	char		id[CLOSE_ID_KEYLEN];	/* hash key */
} SeenEntry;

struct ClosePager
{
	CloseConnection *conn;
	CloseListSpec spec;
	MemoryContext cxt;			/* the walk's position; lives with the pager */
	MemoryContext page_cxt;		/* the pages being returned */

	/* this walk */
	List	   *params;			/* list filters: CloseQueryParam */
	char	   *conditions;		/* search: JSON array of query nodes */
	bool		done;			/* nothing more to fetch */
	cJSON	  **objects;		/* current batch, in page_cxt */
	int			nobjects;
	int			next;

	/* _skip paging */
	int			skip;
	int			readahead;		/* pages fetched at once last time */
	int			total_results;	/* as Close reported it; -1 unknown */
	bool		can_slice;		/* may continue past the cap in slices */
	char	   *slice_date;		/* date_created__lte of the slice, or NULL */
	char	   *last_date;		/* date_created of the last object taken */
	int			last_date_rows; /* objects taken with that date_created */
	int			slices;

	/* cursor paging (event log) */
	char	   *cursor;

	/* search */
	SearchMode	mode;
	bool		has_anchor;
	TimestampTz anchor;			/* whole second */
	HTAB	   *seen;			/* ids returned with K in the anchor second */
	HTAB	   *seen_all;		/* every id returned, when K can change */
	char	   *search_cursor;	/* plateau: Close's cursor */
	int			restarts;		/* cursor failures at this anchor */
	int64		walk_requests;	/* search requests of this walk */

	CloseRequestCounts counts;
};

/*
 * close_listing_init
 *		Register the GUCs of this file; called from _PG_init.
 */
void
close_listing_init(void)
{
	DefineCustomIntVariable("closecrm_fdw.readahead_pages",
							"Pages of a listing requested at once after the first page.",
							"1 fetches one page at a time; more saves round trips on long listings.",
							&close_readahead_pages,
							8, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * close_query_add
 *		"params" with name=value appended.  A "literal" value is sent as
 *		written (already percent-encoded, or an EXPLAIN placeholder); others
 *		are percent-encoded when the query string is built.
 */
List *
close_query_add(List *params, const char *name, const char *value, bool literal)
{
	CloseQueryParam *param = palloc(sizeof(CloseQueryParam));

	param->name = pstrdup(name);
	param->value = pstrdup(value);
	param->literal = literal;
	return lappend(params, param);
}

/*
 * close_request_path
 *		"/{collection}/?name=value&..." for the pairs of "params" (the bare
 *		"/{collection}/" when there are none).
 */
char *
close_request_path(const char *collection, List *params)
{
	StringInfoData buf;
	ListCell   *lc;
	char		sep = '?';

	initStringInfo(&buf);
	appendStringInfo(&buf, "/%s/", collection);
	foreach(lc, params)
	{
		CloseQueryParam *param = (CloseQueryParam *) lfirst(lc);

		appendStringInfo(&buf, "%c%s=%s", sep, param->name,
						 param->literal ? param->value :
						 close_url_escape(param->value, strlen(param->value)));
		sep = '&';
	}
	return buf.data;
}

/*
 * close_query_add_default
 *		"params" with the collection's default query ("_type=lead" for
 *		tasks) appended, if it has one.
 */
List *
close_query_add_default(List *params, const CloseObjectDef *object)
{
	size_t		len = strcspn(object->default_query, "=");

	if (object->default_query[0] == '\0')
		return params;
	return close_query_add(params, pnstrdup(object->default_query, len),
						   object->default_query + len + 1, true);
}

/*
 * close_count_request
 *		Add one finished request to "counts".
 */
void
close_count_request(CloseRequestCounts *counts, CloseRequest *req)
{
	counts->requests += req->attempts;
	counts->retries += Max(0, req->attempts - 1);
	counts->bytes += req->response.len;
	counts->rate_wait_ms += req->rate_wait_ms;
}

/*
 * close_list_page_limit
 *		The _limit of a page: page_size, within what Close accepts for the
 *		collection, and no more than "hint" rows when the query needs only
 *		that many (hint -1: no hint).
 */
int
close_list_page_limit(const CloseObjectDef *object, int page_size, int64 hint)
{
	int			limit = page_size;

	if (object->max_limit > 0)
		limit = Min(limit, object->max_limit);
	if (hint > 0 && hint < limit)
		limit = (int) hint;
	return limit;
}

/*
 * search_page_limit
 *		The _limit of a search page: search_page_size (at most Close's 200),
 *		or fewer on the first page when the query needs only "hint" rows.
 */
static int
search_page_limit(const CloseListSpec *spec, int64 hint)
{
	int			limit = Min(spec->search_page_size, CLOSE_SEARCH_MAX_LIMIT);

	if (hint > 0 && hint < limit)
		limit = (int) hint;
	return limit;
}

/*
 * close_fields_value
 *		The _fields value of a list or GET request: the spec's fields, the
 *		key field first, plus "extra" when not among them; NULL for whole
 *		objects.
 */
char *
close_fields_value(const CloseListSpec *spec, const char *extra)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		has_extra = extra == NULL;

	if (!spec->fields_given)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, spec->object->key_field);
	foreach(lc, spec->fields)
	{
		const char *field = strVal(lfirst(lc));

		if (strcmp(field, spec->object->key_field) == 0)
			continue;
		appendStringInfo(&buf, ",%s", close_url_escape(field, strlen(field)));
		has_extra = has_extra || strcmp(field, extra) == 0;
	}
	if (!has_extra && strcmp(extra, spec->object->key_field) != 0)
		appendStringInfo(&buf, ",%s", extra);
	return buf.data;
}

/*
 * has_param
 *		True if "params" names "name", or, with "prefix", any parameter
 *		starting with it.
 */
static bool
has_param(List *params, const char *name, bool prefix)
{
	ListCell   *lc;

	foreach(lc, params)
	{
		const char *pname = ((CloseQueryParam *) lfirst(lc))->name;

		if (prefix ? strncmp(pname, name, strlen(name)) == 0 : strcmp(pname, name) == 0)
			return true;
	}
	return false;
}

/*
 * needs_default_query
 *		True if a listing with filters "params" must send the collection's
 *		default query (task: _type=lead unless _type is filtered).
 */
static bool
needs_default_query(const CloseObjectDef *object, List *params)
{
	size_t		len = strcspn(object->default_query, "=");
	char	   *name;

	if (object->default_query[0] == '\0')
		return false;
	name = pnstrdup(object->default_query, len);
	return !has_param(params, name, false) &&
		!has_param(params, psprintf("%s__in", name), false);
}

/*
 * slicing_possible
 *		Whether a _skip listing of the spec with filters "params" can go on
 *		past Close's _skip cap by slicing on date_created: the collection
 *		must filter on date_created__lte and sort by date_created (a field
 *		never null), and the query must not sort otherwise or filter
 *		date_created itself.  Such a listing is sorted by date_created
 *		descending from its first page on.
 */
static bool
slicing_possible(const CloseListSpec *spec, List *params)
{
	const CloseObjectDef *object = spec->object;
	const char *const *sf;
	bool		sortable = false;

	if (object->paging != CLOSE_PAGING_SKIP || !object->order_by ||
		!close_catalog_has_filter(object, "date_created__lte"))
		return false;
	for (sf = object->sort_fields; *sf != NULL; sf++)
		sortable = sortable || strcmp(*sf, "date_created") == 0;
	if (!sortable)
		return false;
	if (spec->order_by != NULL && strcmp(spec->order_by, "-date_created") != 0)
		return false;
	return !has_param(params, "date_created", true);
}

/*
 * list_params
 *		The query parameters of a list-endpoint page, in the order they are
 *		sent: paging, _fields, _order_by, the filters, the default query and
 *		the slice.  "skip" and "cursor" may be placeholders for EXPLAIN
 *		("literal").
 */
static List *
list_params(const CloseListSpec *spec, bool can_slice, List *filters,
			const char *skip, int limit, const char *cursor,
			const char *slice_date, bool literal)
{
	const CloseObjectDef *object = spec->object;
	List	   *params = NIL;
	char	   *fields;
	const char *order = can_slice ? "-date_created" : spec->order_by;
	ListCell   *lc;

	if (object->paging == CLOSE_PAGING_SKIP)
		params = close_query_add(params, "_skip", skip, literal);
	if (object->paging == CLOSE_PAGING_SKIP || object->paging == CLOSE_PAGING_CURSOR)
		params = close_query_add(params, "_limit", psprintf("%d", limit), true);
	if (object->fields_param &&
		(fields = close_fields_value(spec, can_slice ? "date_created" : NULL)) != NULL)
		params = close_query_add(params, "_fields", fields, true);
	if (order != NULL && object->order_by)
		params = close_query_add(params, "_order_by", order, true);
	foreach(lc, filters)
		params = lappend(params, lfirst(lc));
	if (!literal && needs_default_query(object, filters))
		params = close_query_add_default(params, object);
	if (slice_date != NULL)
		params = close_query_add(params, "date_created__lte", slice_date, false);
	if (object->paging == CLOSE_PAGING_CURSOR && cursor != NULL)
		params = close_query_add(params, "_cursor", cursor, literal);
	return params;
}

/*
 * close_table_fields
 *		The top-level keys of the columns the scan uses, for _fields, key
 *		field first, without repeats (a dotted path is fetched by its first
 *		key; "custom.cf_x" is one key).  Returns false when whole objects are
 *		needed (a whole-row reference or the attrs column); sets
 *		*has_custom when a custom field is among them.
 */
bool
close_table_fields(CloseTableInfo *table, const bool *wanted, List **fields,
			bool *has_custom)
{
	int			i;

	*fields = NIL;
	*has_custom = false;
	if (wanted == NULL)
		return false;
	for (i = 0; i < table->natts; i++)
	{
		const char *field = table->field_names[i];
		char	   *key;
		ListCell   *lc;
		bool		dup = false;

		if (!wanted[i] || field == NULL)
			continue;
		if (table->is_attrs[i])
			return false;
		if (strncmp(field, "custom.", 7) == 0)
		{
			key = pstrdup(field);
			*has_custom = true;
		}
		else
			key = pnstrdup(field, strcspn(field, "."));
		if (strcmp(key, table->object->key_field) == 0)
			continue;
		foreach(lc, *fields)
			dup = dup || strcmp(strVal(lfirst(lc)), key) == 0;
		if (!dup)
			*fields = lappend(*fields, makeString(key));
	}
	return true;
}

/*
 * close_list_first_page_path
 *		The path of the first page of a list-endpoint walk of "spec", with
 *		no filters, of "limit" objects (ANALYZE's sample).
 */
char *
close_list_first_page_path(const CloseListSpec *spec, int limit)
{
	return close_request_path(spec->object->name,
							  list_params(spec, false, NIL, "0", limit, NULL,
										  NULL, false));
}

/*
 * close_pager_create
 *		A pager for listings described by "spec", sending as "conn", with its
 *		memory under "parent".  Nothing is sent before close_pager_begin.
 */
ClosePager *
close_pager_create(CloseConnection *conn, const CloseListSpec *spec,
				   MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "closecrm_fdw pager",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ClosePager *pager = palloc0(sizeof(ClosePager));

	pager->conn = conn;
	pager->spec = *spec;
	pager->spec.fields = list_copy_deep(spec->fields);
	pager->spec.order_by = spec->order_by ? pstrdup(spec->order_by) : NULL;
	pager->cxt = cxt;
	pager->page_cxt = AllocSetContextCreate(cxt, "closecrm_fdw page",
											ALLOCSET_DEFAULT_SIZES);
	pager->done = true;
	MemoryContextSwitchTo(old);
	return pager;
}

/*
 * close_pager_begin
 *		Start (or start over) a walk: with list filters "params" (a List of
 *		CloseQueryParam) for the list endpoint, or with search "conditions"
 *		(a JSON array of query nodes, NULL for none) for a search spec.
 *		Nothing is sent until close_pager_next.
 */
void
close_pager_begin(ClosePager *pager, List *params, const char *conditions)
{
	MemoryContext old;
	ListCell   *lc;

	MemoryContextReset(pager->page_cxt);
	old = MemoryContextSwitchTo(pager->cxt);
	if (pager->params != NIL)
		list_free(pager->params);
	pager->params = NIL;
	foreach(lc, params)
	{
		CloseQueryParam *p = (CloseQueryParam *) lfirst(lc);

		pager->params = close_query_add(pager->params, p->name, p->value, p->literal);
	}
	pager->conditions = conditions ? pstrdup(conditions) : NULL;
	pager->done = false;
	pager->objects = NULL;
	pager->nobjects = 0;
	pager->next = 0;
	pager->skip = 0;
	pager->readahead = 1;
	pager->total_results = -1;
	pager->can_slice = pager->spec.search_type == NULL &&
		slicing_possible(&pager->spec, pager->params);
	pager->slice_date = NULL;
	pager->last_date = NULL;
	pager->last_date_rows = 0;
	pager->slices = 0;
	pager->cursor = NULL;
	pager->mode = SEARCH_KEYSET;
	pager->has_anchor = false;
	pager->search_cursor = NULL;
	pager->restarts = 0;
	pager->walk_requests = 0;
	if (pager->seen != NULL)
		hash_destroy(pager->seen);
	if (pager->seen_all != NULL)
		hash_destroy(pager->seen_all);
	pager->seen = NULL;
	pager->seen_all = NULL;
	MemoryContextSwitchTo(old);
}

/*
 * close_pager_counts
 *		What the pager has sent so far.
 */
CloseRequestCounts *
close_pager_counts(ClosePager *pager)
{
	return &pager->counts;
}

/*
 * batch_reserve
 *		Room in the current batch for "n" more objects.
 */
static void
batch_reserve(ClosePager *pager, int n)
{
	if (pager->objects == NULL)
		pager->objects = MemoryContextAlloc(pager->page_cxt,
											sizeof(cJSON *) * Max(n, 1));
	else
		pager->objects = repalloc(pager->objects,
								  sizeof(cJSON *) * (pager->nobjects + Max(n, 1)));
}

/*
 * list_error
 *		ERROR for a listing page Close did not answer with 200.
 */
static void
list_error(ClosePager *pager, CloseRequest *req, int skip)
{
	const CloseObjectDef *object = pager->spec.object;

	if (req->status == 400 && strstr(req->response.data, "max_skip") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Close will not page deeper than %d rows into \"%s\"",
						skip, object->name),
				 errdetail("GET %s: %s", req->path,
						   close_error_text(req->response.data, req->response.len)),
				 errhint("Narrow the listing with conditions Close can filter on (see EXPLAIN VERBOSE), e.g. a date_created range, and query the ranges separately.")));
	close_report_http_error(pager->conn, req, psprintf("list %s", object->name));
}

/*
 * note_date_created
 *		Remember the date_created of the object just taken, and how many
 *		objects taken so far share it, for slicing past the _skip cap.
 */
static void
note_date_created(ClosePager *pager, cJSON *item)
{
	cJSON	   *date = cJSON_GetObjectItemCaseSensitive(item, "date_created");

	if (!cJSON_IsString(date))
	{
		pager->can_slice = false;
		return;
	}
	if (pager->last_date != NULL && strcmp(pager->last_date, date->valuestring) == 0)
	{
		pager->last_date_rows++;
		return;
	}
	if (pager->last_date != NULL)
		pfree(pager->last_date);
	pager->last_date = MemoryContextStrdup(pager->cxt, date->valuestring);
	pager->last_date_rows = 1;
}

/*
 * take_list_page
 *		Append the objects of one list page's answer to the batch and
 *		advance the paging state.  Returns the number of objects on the
 *		page.
 */
static int
take_list_page(ClosePager *pager, CloseRequest *req)
{
	const CloseObjectDef *object = pager->spec.object;
	cJSON	   *root;
	cJSON	   *data;
	cJSON	   *more;
	cJSON	   *item;
	int			n;

	data = close_list_data(req, &root);
	n = cJSON_GetArraySize(data);
	batch_reserve(pager, n);
	cJSON_ArrayForEach(item, data)
	{
		if (!cJSON_IsObject(item))
			close_report_malformed_list(req, "An element of \"data\" is not a JSON object.");
		pager->objects[pager->nobjects++] = item;
		if (pager->can_slice)
			note_date_created(pager, item);
	}

	more = cJSON_GetObjectItemCaseSensitive(root, "total_results");
	if (cJSON_IsNumber(more) && more->valuedouble >= 0 && more->valuedouble < INT_MAX)
		pager->total_results = (int) more->valuedouble;

	switch (object->paging)
	{
		case CLOSE_PAGING_SKIP:
			more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
			if (!cJSON_IsBool(more))
				close_report_malformed_list(req, "The key \"has_more\" is missing or not a boolean.");
			pager->done = !cJSON_IsTrue(more);
			if (!pager->done && n == 0)
				close_report_malformed_list(req, "The page is empty but \"has_more\" is true.");
			pager->skip += n;
			break;
		case CLOSE_PAGING_CURSOR:
			/* the cursor outlives this page: keep it in the pager's memory */
			more = cJSON_GetObjectItemCaseSensitive(root, "cursor_next");
			pager->done = !(cJSON_IsString(more) && more->valuestring[0] && n > 0);
			if (pager->cursor != NULL)
				pfree(pager->cursor);
			pager->cursor = pager->done ? NULL :
				MemoryContextStrdup(pager->cxt, more->valuestring);
			break;
		default:
			more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
			if (cJSON_IsTrue(more))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("Close has more \"%s\" objects than one response holds",
								object->name),
						 errdetail("The list endpoint of \"%s\" has no paging parameters, and Close answered has_more = true.",
								   object->name),
						 errhint("Narrow the listing with conditions Close can filter on.")));
			pager->done = true;
			break;
	}
	return n;
}

/*
 * fetch_list_pages
 *		Fetch the next page(s) of a list-endpoint walk into the batch.  The
 *		first page comes alone (a small collection or a LIMIT needs no
 *		more); after it, a _skip listing whose total Close reports reads
 *		ahead: up to
 *		closecrm_fdw.readahead_pages pages (at most max_concurrency) are
 *		requested at once and kept in Close's order.  Pages past the end, or
 *		past a page shorter than asked for, are dropped, whatever Close
 *		answered for them.  Past the _skip cap, a sliceable listing goes on
 *		with the objects dated at or before the last one taken.
 */
static void
fetch_list_pages(ClosePager *pager)
{
	const CloseObjectDef *object = pager->spec.object;
	bool		first = pager->skip == 0 && pager->cursor == NULL && pager->slices == 0;
	int			npages = 1;
	int			limit;
	CloseRequest **reqs;
	int		   *skips;
	int			i;

	limit = close_list_page_limit(object, pager->spec.page_size,
								  first ? pager->spec.limit_hint : -1);
	if (object->paging == CLOSE_PAGING_SKIP && !first)
	{
		CloseRequestCounts *c = &pager->counts;

		/* ramp up 2, 4, 8...: a small collection costs no extra requests */
		pager->readahead = Min(pager->readahead * 2,
							   Min(pager->conn->opts.max_concurrency,
								   close_readahead_pages));
		npages = pager->readahead;
		/*
		 * No further than the query's LIMIT or Close's total_results reach;
		 * without a total, one page at a time, as only a short page tells
		 * where the listing ends.
		 */
		if (pager->spec.limit_hint > 0 && pager->slices == 0)
			npages = Min(npages, Max(1, (pager->spec.limit_hint - pager->skip + limit - 1) / limit));
		if (pager->total_results >= 0)
			npages = Min(npages, Max(1, (pager->total_results - pager->skip + limit - 1) / limit));
		else
			npages = 1;
		/* and no more pages at once than CLOSE_READAHEAD_BYTES hold */
		if (c->pages > 0 && c->bytes > 0)
			npages = Min(npages, Max(1, (int) (CLOSE_READAHEAD_BYTES / (c->bytes / c->pages))));
	}
	reqs = palloc(sizeof(CloseRequest *) * npages);
	skips = palloc(sizeof(int) * npages);
	for (i = 0; i < npages; i++)
	{
		List	   *params;

		skips[i] = pager->skip + i * limit;
		params = list_params(&pager->spec, pager->can_slice, pager->params,
							 psprintf("%d", skips[i]), limit, pager->cursor,
							 pager->slice_date, false);
		reqs[i] = close_request_make("GET", close_request_path(object->name, params),
									 NULL);
	}
	close_http_perform(pager->conn, reqs, npages);

	for (i = 0; i < npages; i++)
	{
		close_count_request(&pager->counts, reqs[i]);
		pager->counts.pages++;
	}
	for (i = 0; i < npages; i++)
	{
		if (reqs[i]->status == 400 && pager->can_slice && pager->last_date != NULL &&
			strstr(reqs[i]->response.data, "max_skip") != NULL)
		{
			/* the cap: go on with the objects dated at or before the last one */
			pager->slice_date = MemoryContextStrdup(pager->cxt, pager->last_date);
			pager->skip = pager->last_date_rows;
			pager->readahead = 1;
			pager->total_results = -1;
			pager->done = false;
			pager->slices++;
			break;
		}
		if (reqs[i]->status != 200)
			list_error(pager, reqs[i], skips[i]);
		/* a short page moves every later page's _skip: refetch those */
		if (take_list_page(pager, reqs[i]) != limit || pager->done)
			break;
	}
}

/*
 * close_floor_second
 *		"ts" floored to a whole second: Close may compare times with less
 *		precision than it sends them.
 */
TimestampTz
close_floor_second(TimestampTz ts)
{
	return ts - ((ts % USECS_PER_SEC) + USECS_PER_SEC) % USECS_PER_SEC;
}

/*
 * close_search_field_ref
 *		{"type": "regular_field", "object_type": T, "field_name": F}.
 */
cJSON *
close_search_field_ref(const char *object_type, const char *field)
{
	cJSON	   *ref = cJSON_CreateObject();

	cJSON_AddStringToObject(ref, "type", "regular_field");
	cJSON_AddStringToObject(ref, "object_type", object_type);
	cJSON_AddStringToObject(ref, "field_name", field);
	return ref;
}

/*
 * close_search_moment
 *		{"type": "fixed_utc", "value": "<ts as YYYY-MM-DDTHH:MM:SS+00:00>"}.
 */
cJSON *
close_search_moment(TimestampTz ts)
{
	cJSON	   *moment = cJSON_CreateObject();

	cJSON_AddStringToObject(moment, "type", "fixed_utc");
	cJSON_AddStringToObject(moment, "value",
							close_datum_text(TimestampTzGetDatum(ts), TIMESTAMPTZOID));
	return moment;
}

/*
 * search_fields
 *		The _fields of a search request: {T: [key field, the spec's fields,
 *		the keyset field]}.  Whole objects (no fields given) ask for every
 *		field the catalog knows and every custom field.
 */
static cJSON *
search_fields(const CloseListSpec *spec)
{
	cJSON	   *map = cJSON_CreateObject();
	cJSON	   *list = cJSON_AddArrayToObject(map, spec->search_type);
	ListCell   *lc;

	cJSON_AddItemToArray(list, cJSON_CreateString(spec->object->key_field));
	cJSON_AddItemToArray(list, cJSON_CreateString(spec->keyset_field));
	if (spec->fields_given)
	{
		foreach(lc, spec->fields)
		{
			const char *field = strVal(lfirst(lc));

			if (strcmp(field, spec->object->key_field) != 0 &&
				strcmp(field, spec->keyset_field) != 0)
				cJSON_AddItemToArray(list, cJSON_CreateString(field));
		}
	}
	else
	{
		const CloseFieldDef *f;

		for (f = spec->object->fields; f != NULL && f->name != NULL; f++)
		{
			if (strcmp(f->name, spec->object->key_field) != 0 &&
				strcmp(f->name, spec->keyset_field) != 0)
				cJSON_AddItemToArray(list, cJSON_CreateString(f->name));
		}
		cJSON_AddItemToArray(list, cJSON_CreateString("custom"));
	}
	return map;
}

/*
 * close_search_body
 *		The JSON body of one search request: the object type, "conditions"
 *		(a JSON array of query nodes, may be NULL) and, with "anchor", the
 *		keyset condition; sorted by the keyset field; "limit" objects per
 *		page; "cursor" to go on with a walk.  With "for_explain", no anchor
 *		and no cursor, but where they go.
 */
char *
close_search_body(const CloseListSpec *spec, const char *conditions,
				  const TimestampTz *anchor, int limit, const char *cursor,
				  bool for_explain)
{
	cJSON	   *body = cJSON_CreateObject();
	cJSON	   *query = cJSON_AddObjectToObject(body, "query");
	cJSON	   *queries;
	cJSON	   *node;
	cJSON	   *sort;
	cJSON	   *key;
	char	   *result;

	cJSON_AddStringToObject(query, "type", "and");
	queries = cJSON_AddArrayToObject(query, "queries");
	node = cJSON_CreateObject();
	cJSON_AddStringToObject(node, "type", "object_type");
	cJSON_AddStringToObject(node, "object_type", spec->search_type);
	cJSON_AddItemToArray(queries, node);
	if (conditions != NULL)
	{
		cJSON	   *conds = cJSON_Parse(conditions);
		cJSON	   *c;

		if (!cJSON_IsArray(conds))
			elog(ERROR, "malformed search conditions: %s", conditions);
		while ((c = cJSON_DetachItemFromArray(conds, 0)) != NULL)
			cJSON_AddItemToArray(queries, c);
		cJSON_Delete(conds);
	}
	if (anchor != NULL || for_explain)
	{
		cJSON	   *range;

		node = cJSON_CreateObject();
		cJSON_AddStringToObject(node, "type", "field_condition");
		cJSON_AddItemToObject(node, "field",
							  close_search_field_ref(spec->search_type, spec->keyset_field));
		range = cJSON_AddObjectToObject(node, "condition");
		cJSON_AddStringToObject(range, "type", "moment_range");
		if (for_explain)
			cJSON_AddStringToObject(range, spec->descending ? "before" : "on_or_after",
									"{keyset anchor}");
		else if (spec->descending)
			cJSON_AddItemToObject(range, "before",
								  close_search_moment(*anchor + USECS_PER_SEC));
		else
			cJSON_AddItemToObject(range, "on_or_after", close_search_moment(*anchor));
		cJSON_AddItemToArray(queries, node);
	}
	cJSON_AddItemToObject(body, "_fields", search_fields(spec));
	sort = cJSON_AddArrayToObject(body, "sort");
	key = cJSON_CreateObject();
	cJSON_AddStringToObject(key, "direction", spec->descending ? "desc" : "asc");
	cJSON_AddItemToObject(key, "field",
						  close_search_field_ref(spec->search_type, spec->keyset_field));
	cJSON_AddItemToArray(sort, key);
	cJSON_AddNumberToObject(body, "_limit", limit);
	if (cursor != NULL)
		cJSON_AddStringToObject(body, "cursor", cursor);
	result = close_json_text(body);
	cJSON_Delete(body);
	return result;
}

/*
 * seen_table
 *		A new set of ids in the pager's memory.
 */
static HTAB *
seen_table(ClosePager *pager, const char *name)
{
	HASHCTL		ctl;

	ctl.keysize = CLOSE_ID_KEYLEN;
	ctl.entrysize = sizeof(SeenEntry);
	ctl.hcxt = pager->cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * item_id_and_second
 *		The id of a search result and the whole second of its keyset field;
 *		ERROR when either is missing or malformed.
 */
static const char *
item_id_and_second(ClosePager *pager, CloseRequest *req, cJSON *item,
				   TimestampTz *second)
{
	cJSON	   *id = cJSON_GetObjectItemCaseSensitive(item, pager->spec.object->key_field);
	cJSON	   *key = cJSON_GetObjectItemCaseSensitive(item, pager->spec.keyset_field);
	bool		isnull;
	TimestampTz ts;

	if (!cJSON_IsObject(item) || !cJSON_IsString(id) ||
		strlen(id->valuestring) >= CLOSE_ID_KEYLEN)
		close_report_malformed_list(req, "A search result has no usable id.");
	if (!cJSON_IsString(key))
		close_report_malformed_list(req,
									psprintf("A search result has no \"%s\" to page by.",
											 pager->spec.keyset_field));
	ts = DatumGetTimestampTz(close_json_to_datum(key, TIMESTAMPTZOID, -1, &isnull));
	*second = close_floor_second(ts);
	return id->valuestring;
}

/*
 * is_cursor_error
 *		True if Close refused a search page because of its cursor: expired,
 *		unknown, or past the objects-per-walk cap.
 */
static bool
is_cursor_error(CloseRequest *req)
{
	cJSON	   *root;
	cJSON	   *errors;

	if (req->status != 400)
		return false;
	root = close_json_parse(req->response.data, req->response.len);
	errors = cJSON_GetObjectItemCaseSensitive(root, "field-errors");
	return cJSON_GetObjectItemCaseSensitive(errors, "cursor") != NULL;
}

/*
 * fetch_search_pages
 *		Fetch the next objects of a search walk into the batch (see the
 *		comment atop this file).  Returns with a non-empty batch, or with
 *		the walk done.
 */
static void
fetch_search_pages(ClosePager *pager)
{
	const CloseListSpec *spec = &pager->spec;

	while (!pager->done)
	{
		bool		first_request = pager->walk_requests == 0;
		int			limit = search_page_limit(spec, first_request ? spec->limit_hint : -1);
		CloseRequest *req;
		cJSON	   *root;
		cJSON	   *data;
		cJSON	   *item;
		cJSON	   *next_cursor;
		TimestampTz first_second = 0;
		TimestampTz last_second = 0;
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		req = close_request_make("POST", "/data/search/",
								 close_search_body(spec, pager->conditions,
												   pager->has_anchor ? &pager->anchor : NULL,
												   limit,
												   pager->mode == SEARCH_PLATEAU ? pager->search_cursor : NULL,
												   false));
		req->retry_unsafe = true;	/* a search changes nothing */
		req->reads_only = true;
		close_http_perform(pager->conn, &req, 1);
		pager->walk_requests++;
		close_count_request(&pager->counts, req);
		pager->counts.pages++;

		if (pager->mode == SEARCH_PLATEAU && is_cursor_error(req))
		{
			/* expired or capped: query again from the anchor; ids dedupe */
			if (++pager->restarts > CLOSE_SEARCH_MAX_RESTARTS)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("could not read every \"%s\" object through Close's search",
								spec->object->name),
						 errdetail("More objects than Close's search walks through at once share %s %s; POST /data/search/: %s",
								   spec->keyset_field,
								   close_datum_text(TimestampTzGetDatum(pager->anchor), TIMESTAMPTZOID),
								   close_error_text(req->response.data, req->response.len)),
						 errhint("Narrow the query with further conditions, or set use_search to false for this table.")));
			pager->mode = SEARCH_KEYSET;
			pager->search_cursor = NULL;
			continue;
		}
		if (req->status != 200)
			close_report_http_error(pager->conn, req,
									psprintf("search %s", spec->object->name));

		data = close_list_data(req, &root);
		next_cursor = cJSON_GetObjectItemCaseSensitive(root, "cursor");
		batch_reserve(pager, cJSON_GetArraySize(data));
		cJSON_ArrayForEach(item, data)
		{
			TimestampTz second;
			const char *id = item_id_and_second(pager, req, item, &second);
			bool		found = false;

			if (n++ == 0)
				first_second = second;
			last_second = second;
			if (pager->has_anchor && second == pager->anchor && pager->seen != NULL)
				hash_search(pager->seen, id, HASH_ENTER, &found);
			if (!found && pager->seen_all != NULL)
				hash_search(pager->seen_all, id, HASH_ENTER, &found);
			if (found)
				continue;		/* read again from the anchor: returned already */
			pager->objects[pager->nobjects++] = item;
		}

		if (n == 0 || !cJSON_IsString(next_cursor) || next_cursor->valuestring[0] == '\0')
		{
			pager->done = true;
			break;
		}
		if (first_second == last_second)
		{
			/*
			 * A page inside one second: keyset paging would read it again and
			 * again.  Follow Close's cursor now, before it expires.
			 */
			if (!pager->has_anchor || pager->anchor != last_second)
			{
				pager->has_anchor = true;
				pager->anchor = last_second;
				if (pager->seen != NULL)
					hash_destroy(pager->seen);
				pager->seen = seen_table(pager, "closecrm_fdw search plateau");
				pager->restarts = 0;
				cJSON_ArrayForEach(item, data)
				{
					TimestampTz second;

					hash_search(pager->seen, item_id_and_second(pager, req, item, &second),
								HASH_ENTER, NULL);
				}
			}
			pager->mode = SEARCH_PLATEAU;
			pager->search_cursor = MemoryContextStrdup(pager->cxt, next_cursor->valuestring);
			continue;
		}

		/* the walk moved on: anchor at the last second, remember its ids */
		pager->mode = SEARCH_KEYSET;
		pager->search_cursor = NULL;
		if (!pager->has_anchor || pager->anchor != last_second)
		{
			pager->has_anchor = true;
			pager->anchor = last_second;
			pager->restarts = 0;
			if (pager->seen != NULL)
				hash_destroy(pager->seen);
			pager->seen = seen_table(pager, "closecrm_fdw search anchor");
		}
		cJSON_ArrayForEach(item, data)
		{
			TimestampTz second;
			const char *id = item_id_and_second(pager, req, item, &second);

			if (second == last_second)
				hash_search(pager->seen, id, HASH_ENTER, NULL);
		}
		if (pager->nobjects > 0)
			break;
	}
}

/*
 * close_pager_next
 *		The next object of the walk, or NULL at its end.  The object stays
 *		valid until the next call.
 */
cJSON *
close_pager_next(ClosePager *pager)
{
	while (pager->next >= pager->nobjects)
	{
		MemoryContext old;

		if (pager->done)
			return NULL;
		MemoryContextReset(pager->page_cxt);
		pager->objects = NULL;
		pager->nobjects = 0;
		pager->next = 0;
		old = MemoryContextSwitchTo(pager->page_cxt);
		if (pager->spec.search_type != NULL)
		{
			if (pager->seen_all == NULL && pager->spec.dedupe_all)
				pager->seen_all = seen_table(pager, "closecrm_fdw search ids");
			fetch_search_pages(pager);
		}
		else
			fetch_list_pages(pager);
		MemoryContextSwitchTo(old);
	}
	return pager->objects[pager->next++];
}

/*
 * close_pager_describe
 *		The request(s) a pager for "spec" sends, for EXPLAIN: the list
 *		endpoint's path with placeholders ("_skip={n}", "name={1}"), or the
 *		search body with the keyset anchor as a placeholder.  "filter_names"
 *		are the list filters, "conditions" the search conditions as given to
 *		close_pager_begin, with parameter placeholders.
 */
char *
close_pager_describe(const CloseListSpec *spec, List *filter_names,
					 const char *conditions)
{
	const CloseObjectDef *object = spec->object;
	List	   *filters = NIL;
	ListCell   *lc;
	int			i = 0;
	char	   *path;

	if (spec->search_type != NULL)
		return psprintf("POST /data/search/ %s",
						close_search_body(spec, conditions, NULL,
										  search_page_limit(spec, spec->limit_hint),
										  NULL, true));
	foreach(lc, filter_names)
		filters = close_query_add(filters, strVal(lfirst(lc)), psprintf("{%d}", ++i), true);
	path = close_request_path(object->name,
							  list_params(spec, slicing_possible(spec, filters), filters,
										  "{n}",
										  close_list_page_limit(object, spec->page_size,
																spec->limit_hint),
										  "{cursor}", NULL, true));
	if (object->default_query[0] != '\0')
		path = psprintf("%s (&%s unless filtered)", path, object->default_query);
	return psprintf("GET %s", path);
}

/* memory context reset callback: frees a cJSON tree */
static void
free_json_copies(void *arg)
{
	cJSON_Delete((cJSON *) arg);
}

/*
 * close_list_all
 *		Every object of collection "object" (whole objects, no filters), as
 *		a List of cJSON nodes living in the current memory context: for
 *		small collections such as custom field definitions and statuses.
 */
List *
close_list_all(CloseConnection *conn, const CloseObjectDef *object)
{
	CloseListSpec spec;
	ClosePager *pager;
	List	   *result = NIL;
	cJSON	   *item;
	cJSON	   *copies = cJSON_CreateArray();
	MemoryContextCallback *cb;

	if (!(object->ops & CLOSE_OP_LIST))
		elog(ERROR, "the catalog has no listable collection \"%s\"", object->name);
	memset(&spec, 0, sizeof(spec));
	spec.object = object;
	spec.page_size = conn->opts.page_size;
	spec.limit_hint = -1;
	pager = close_pager_create(conn, &spec, CurrentMemoryContext);
	close_pager_begin(pager, NIL, NULL);

	/* the copies outlive the pager's pages: free them with this context */
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = free_json_copies;
	cb->arg = copies;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	while ((item = close_pager_next(pager)) != NULL)
	{
		cJSON	   *copy = cJSON_Duplicate(item, true);

		if (copy == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		cJSON_AddItemToArray(copies, copy);
		result = lappend(result, copy);
	}
	close_pager_free(pager);
	return result;
}

/*
 * close_pager_free
 *		Release the pager and all it holds.
 */
void
close_pager_free(ClosePager *pager)
{
	MemoryContextDelete(pager->cxt);
}
