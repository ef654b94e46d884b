/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  Execution of scans of Close foreign tables: lookups by id (all ids
 *		  of one scan fetched concurrently) and listings fetched page by page
 *		  as the executor consumes rows, with one page in memory at a time;
 *		  and what EXPLAIN shows of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "closecrm_fdw.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/ruleutils.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Execution state of one scan. */
typedef struct CloseScanState
{
	CloseConnection *conn;
	CloseTableInfo *table;
	const char *relname;
	CloseScanKind kind;
	bool		id_is_array;
	List	   *filter_names;	/* list query parameter names */
	List	   *exprstates;		/* id expression, or filter values */
	bool	   *wanted;			/* per column: converted from JSON? */

	MemoryContext batch_cxt;	/* the current page or lookup results */
	MemoryContext temp_cxt;		/* the current row's values */
	MemoryContext scan_cxt;		/* lives as long as the scan */

	bool		started;
	cJSON	  **objects;		/* current batch of objects */
	int			nobjects;
	int			next;

	/* listing */
	bool		has_more;
	int			skip;
	char	   *cursor;
	char	   *filter_query;	/* "&a=x&b=y", evaluated once per (re)scan */
	char	   *fields_query;	/* "&_fields=a,b" or "" */
	int64		limit_hint;		/* rows the query takes; -1 all */
	int			readahead;		/* pages fetched at once last time */

	/*
	 * Past Close's _skip cap, a listing sorted by date_created descending
	 * goes on in slices: date_created__lte = the last date seen, skipping
	 * the rows of that date already returned.
	 */
	bool		can_slice;
	char	   *slice_query;	/* "&date_created__lte=..." or "" */
	char	   *last_date;		/* date_created of the last row taken */
	int			last_date_rows; /* rows taken with that date_created */
	int			slices;
	int			total_results;	/* as Close reported it; -1 unknown */
	char	   *order_query;	/* "&_order_by=..." or "" */

	/* for EXPLAIN ANALYZE */
	int			requests;
	int			pages;
	int			retries;
	int64		bytes;
	int64		rate_wait_ms;

	/* joins on a local table's column: all ids looked up at once */
	char	   *prefetch_sql;	/* "" when not prefetching */
	bool		prefetched;
	HTAB	   *prefetch;		/* PrefetchEntry by id */
	MemoryContext prefetch_cxt; /* lives as long as the scan */
	int64		prefetch_hits;
} CloseScanState;

static void setup_slicing(CloseScanState *fsstate);

/*
 * close_report_no_lookup
 *		ERROR for a lookup by id on a collection Close cannot fetch by id.
 */
void
close_report_no_lookup(const CloseObjectDef *object)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Close object \"%s\" cannot be looked up by id", object->name),
			 errdetail("Close has no GET /%s/{id}/; it supports %s for \"%s\".",
					   object->name, close_catalog_ops_text(object), object->name),
			 (object->ops & CLOSE_OP_LIST) ?
			 errhint("To find the object in a listing instead, compare the id without \"=\", e.g. WHERE id LIKE '...'.") :
			 errhint("Use close_raw() for this endpoint.")));
}

/*
 * close_object_path
 *		"/{object}/{percent-encoded id}/".
 */
char *
close_object_path(const CloseObjectDef *object, const char *id)
{
	return psprintf("/%s/%s/", object->name, close_url_escape(id, strlen(id)));
}

/*
 * close_eval_ids
 *		Evaluate the id expression of a lookup: a list of distinct, non-empty
 *		id strings in first-seen order (NULLs and empty strings name no
 *		object, so they give no request).
 */
List *
close_eval_ids(List *id_exprs, bool id_is_array, ExprContext *econtext)
{
	ExprState  *state = (ExprState *) linitial(id_exprs);
	Oid			typid = exprType((Node *) state->expr);
	List	   *ids = NIL;
	bool		isnull;
	Datum		value;

	value = ExecEvalExpr(state, econtext, &isnull);
	if (isnull)
		return NIL;
	if (!id_is_array)
	{
		char	   *id = close_datum_text(value, typid);

		return id[0] ? list_make1(makeString(id)) : NIL;
	}
	else
	{
		Oid			elemtype;
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int			i;

		close_array_elements(value, &elemtype, &elems, &nulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			char	   *id;
			ListCell   *lc;
			bool		seen = false;

			if (nulls[i])
				continue;
			id = close_datum_text(elems[i], elemtype);
			if (id[0] == '\0')
				continue;
			foreach(lc, ids)
			{
				if (strcmp(strVal(lfirst(lc)), id) == 0)
				{
					seen = true;
					break;
				}
			}
			if (!seen)
				ids = lappend(ids, makeString(id));
		}
	}
	return ids;
}

/*
 * closeBeginForeignScan
 *		Set up the scan; nothing is sent to Close until the first row is
 *		asked for.
 */
void
closeBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	CloseScanState *fsstate;
	Oid			userid;
	List	   *retrieved;
	ListCell   *lc;

	fsstate = palloc0(sizeof(CloseScanState));
	node->fdw_state = fsstate;
	fsstate->kind = intVal(list_nth(fsplan->fdw_private, CloseScanPrivateKind));
	fsstate->id_is_array = boolVal(list_nth(fsplan->fdw_private,
											CloseScanPrivateIdIsArray));
	fsstate->filter_names = (List *) list_nth(fsplan->fdw_private,
											  CloseScanPrivateFilters);
	fsstate->table = close_get_table_info(node->ss.ss_currentRelation);
	fsstate->relname = RelationGetRelationName(node->ss.ss_currentRelation);
	fsstate->limit_hint = intVal(list_nth(fsplan->fdw_private, CloseScanPrivateLimitHint));
	fsstate->order_query = strVal(list_nth(fsplan->fdw_private, CloseScanPrivateOrderBy));
	fsstate->prefetch_sql = strVal(list_nth(fsplan->fdw_private, CloseScanPrivatePrefetch));
	if (fsstate->order_query[0] != '\0')
		fsstate->order_query = psprintf("&_order_by=%s", fsstate->order_query);
	retrieved = (List *) list_nth(fsplan->fdw_private, CloseScanPrivateRetrieved);
	if (retrieved != NIL)
	{
		fsstate->wanted = palloc0(sizeof(bool) * fsstate->table->natts);
		foreach(lc, retrieved)
		{
			int			attno = intVal(lfirst(lc));

			if (attno > 0)
				fsstate->wanted[attno - 1] = true;
		}
	}
	fsstate->fields_query = close_fields_query(fsstate->table, fsstate->wanted);
	setup_slicing(fsstate);

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	/* reached when a DELETE by id could not be sent directly */
	if (fsstate->kind == CLOSE_SCAN_LOOKUP &&
		!(fsstate->table->object->ops & CLOSE_OP_GET))
		close_report_no_lookup(fsstate->table->object);

	userid = close_scan_user(fsplan, fsplan->scan.scanrelid, estate);
	fsstate->conn = close_get_connection(
										 GetForeignTable(RelationGetRelid(node->ss.ss_currentRelation))->serverid,
										 userid);
	fsstate->exprstates = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	fsstate->batch_cxt = AllocSetContextCreate(estate->es_query_cxt,
											   "closecrm_fdw batch",
											   ALLOCSET_DEFAULT_SIZES);
	fsstate->temp_cxt = AllocSetContextCreate(estate->es_query_cxt,
											  "closecrm_fdw row",
											  ALLOCSET_SMALL_SIZES);
	fsstate->scan_cxt = estate->es_query_cxt;
	fsstate->prefetch_cxt = AllocSetContextCreate(estate->es_query_cxt,
												  "closecrm_fdw prefetch",
												  ALLOCSET_DEFAULT_SIZES);
}

/*
 * account_request
 *		Add one finished request to the scan's EXPLAIN ANALYZE figures.
 */
static void
account_request(CloseScanState *fsstate, CloseRequest *req)
{
	fsstate->requests += req->attempts;
	fsstate->retries += Max(0, req->attempts - 1);
	fsstate->bytes += req->response.len;
	fsstate->rate_wait_ms += req->rate_wait_ms;
}

/* Ids sent in one id__in list request. */
#define ID_IN_BATCH 100

/*
 * parse_object
 *		The JSON object in the body of "req", or an ERROR.
 */
static cJSON *
parse_object(CloseRequest *req)
{
	cJSON	   *obj = close_json_parse(req->response.data, req->response.len);

	if (!cJSON_IsObject(obj))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("Close returned a malformed response to %s %s",
						req->method, req->path),
				 errdetail("Expected a JSON object; the body starts: %s",
						   close_error_text(req->response.data,
											req->response.len)),
				 errhint("Check that base_url points at the Close API.")));
	return obj;
}

/*
 * check_answered_id
 *		ERROR unless the object Close answered GET /{object}/{id}/ with is
 *		the one asked for: another object would be filtered out by the id
 *		condition and look like "no such object".
 */
static void
check_answered_id(CloseRequest *req, cJSON *obj, const char *key_field,
				  const char *id)
{
	cJSON	   *key = cJSON_GetObjectItemCaseSensitive(obj, key_field);

	if (cJSON_IsString(key) && strcmp(key->valuestring, id) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("Close answered %s %s with another object", req->method, req->path),
			 cJSON_IsString(key) ?
			 errdetail("Asked for %s \"%s\", got \"%s\".", key_field, id,
					   close_error_text(key->valuestring, strlen(key->valuestring))) :
			 errdetail("Asked for %s \"%s\", got an object without a string \"%s\".",
					   key_field, id, key_field),
			 errhint("Check that base_url points at the Close API.")));
}

/*
 * lookup_ids
 *		Fetch the objects named by "ids" into the scan's current batch,
 *		keeping those found: one GET /{object}/{id}/ per id (a 404 means no
 *		such object: no row), or, when "allow_batch" and the collection's
 *		listing takes id__in (tasks, activities), one GET
 *		/{object}/?id__in=... per up to ID_IN_BATCH ids.  All requests go out
 *		concurrently.
 */
static void
lookup_ids(CloseScanState *fsstate, List *ids, bool allow_batch)
{
	const CloseObjectDef *object = fsstate->table->object;
	bool		batch;
	List	   *singles = NIL;
	List	   *batched = NIL;
	CloseRequest **reqs;
	int			nreqs = 0;
	int			nbatches;
	int			i;
	ListCell   *lc;

	fsstate->nobjects = 0;
	fsstate->objects = palloc0(sizeof(cJSON *) * Max(list_length(ids), 1));
	if (ids == NIL)
		return;

	batch = allow_batch && list_length(ids) > 1 &&
		(object->ops & CLOSE_OP_LIST) &&
		close_catalog_has_filter(object, "id__in");
	foreach(lc, ids)
	{
		/* an id with a comma cannot be part of an id__in list */
		if (batch && strchr(strVal(lfirst(lc)), ',') == NULL)
			batched = lappend(batched, lfirst(lc));
		else
			singles = lappend(singles, lfirst(lc));
	}
	nbatches = (list_length(batched) + ID_IN_BATCH - 1) / ID_IN_BATCH;
	reqs = palloc(sizeof(CloseRequest *) * (list_length(singles) + nbatches));

	for (i = 0; i < nbatches; i++)
	{
		StringInfoData path;
		int			j;
		int			count = Min(ID_IN_BATCH, list_length(batched) - i * ID_IN_BATCH);

		initStringInfo(&path);
		appendStringInfo(&path, "/%s/?_limit=%d&id__in=", object->name, count);
		for (j = 0; j < count; j++)
		{
			const char *id = strVal(list_nth(batched, i * ID_IN_BATCH + j));

			appendStringInfo(&path, "%s%s", j > 0 ? "%2C" : "",
							 close_url_escape(id, strlen(id)));
		}
		if (object->default_query[0] != '\0')
			appendStringInfo(&path, "&%s", object->default_query);
		reqs[nreqs++] = close_request_make("GET", path.data, NULL);
	}
	foreach(lc, singles)
		reqs[nreqs++] = close_request_make("GET",
										   close_object_path(object, strVal(lfirst(lc))),
										   NULL);
	close_http_perform(fsstate->conn, reqs, nreqs);

	for (i = 0; i < nreqs; i++)
	{
		CloseRequest *req = reqs[i];

		account_request(fsstate, req);
		if (i < nbatches)
		{
			cJSON	   *root;
			cJSON	   *data;
			cJSON	   *item;

			if (req->status != 200)
				close_report_http_error(fsstate->conn, req,
										psprintf("look up %s objects by id", object->name));
			data = close_list_data(req, &root);
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "has_more")))
				close_report_malformed_list(req, "Close says it has more objects than the ids asked for.");
			/* Close may answer with more objects than asked for: make room */
			fsstate->objects = repalloc(fsstate->objects,
										sizeof(cJSON *) * (list_length(ids) +
														   fsstate->nobjects +
														   cJSON_GetArraySize(data)));
			cJSON_ArrayForEach(item, data)
			{
				if (cJSON_IsObject(item))
					fsstate->objects[fsstate->nobjects++] = item;
			}
			continue;
		}
		if (req->status == 404)
			continue;
		if (req->status != 200)
			close_report_http_error(fsstate->conn, req,
									psprintf("look up %s \"%s\"", object->name,
											 strVal(list_nth(singles, i - nbatches))));
		fsstate->objects[fsstate->nobjects] = parse_object(req);
		check_answered_id(req, fsstate->objects[fsstate->nobjects],
						  object->key_field, strVal(list_nth(singles, i - nbatches)));
		fsstate->nobjects++;
	}
}

/* One prefetched id: its object, or NULL when Close has none. */
typedef struct PrefetchEntry
{
	char		id[CLOSE_PREFETCH_KEYLEN];	/* hash key */
	cJSON	   *object;
} PrefetchEntry;

/*
 * prefetch_join_ids
 *		Run the scan's prefetch query (the distinct ids a join on a local
 *		table will ask for, see planner.c) and look them all up at once,
 *		keeping the answers for the rescans to come.  Does nothing when the
 *		query names more ids than the planner allowed for.
 */
static void
prefetch_join_ids(CloseScanState *fsstate)
{
	MemoryContext old = MemoryContextSwitchTo(fsstate->prefetch_cxt);
	List	   *ids = NIL;
	HASHCTL		ctl;
	uint64		i;
	int			j;

	fsstate->prefetched = true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(fsstate->prefetch_sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the ids of the join: %s", fsstate->prefetch_sql);
	if (SPI_processed <= CLOSE_PREFETCH_MAX_IDS)
	{
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			/* SPI switched contexts: keep the list where the scan lives */
			if (id != NULL && id[0] != '\0' && strlen(id) < CLOSE_PREFETCH_KEYLEN)
			{
				MemoryContext spi_cxt = MemoryContextSwitchTo(fsstate->prefetch_cxt);

				ids = lappend(ids, makeString(pstrdup(id)));
				MemoryContextSwitchTo(spi_cxt);
			}
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(fsstate->prefetch_cxt);

	ctl.keysize = CLOSE_PREFETCH_KEYLEN;
	ctl.entrysize = sizeof(PrefetchEntry);
	ctl.hcxt = fsstate->prefetch_cxt;
	fsstate->prefetch = hash_create("closecrm_fdw prefetch", Max(list_length(ids), 16),
									&ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	if (ids != NIL)
	{
		ListCell   *lc;

		lookup_ids(fsstate, ids, true);
		/* every id asked for is known now: found, or missing */
		foreach(lc, ids)
			((PrefetchEntry *) hash_search(fsstate->prefetch, strVal(lfirst(lc)),
										   HASH_ENTER, NULL))->object = NULL;
		for (j = 0; j < fsstate->nobjects; j++)
		{
			cJSON	   *key = cJSON_GetObjectItemCaseSensitive(fsstate->objects[j],
															   fsstate->table->object->key_field);
			PrefetchEntry *entry;

			if (!cJSON_IsString(key) || strlen(key->valuestring) >= CLOSE_PREFETCH_KEYLEN)
				continue;
			entry = hash_search(fsstate->prefetch, key->valuestring, HASH_FIND, NULL);
			if (entry != NULL)
				entry->object = fsstate->objects[j];
		}
	}
	fsstate->nobjects = 0;
	MemoryContextSwitchTo(old);
}

/*
 * fetch_lookups
 *		Fetch the objects a lookup scan names.  In a join that prefetched
 *		its ids, the answer is usually known already.
 */
static void
fetch_lookups(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	List	   *ids;

	ids = close_eval_ids(fsstate->exprstates, fsstate->id_is_array, econtext);
	if (fsstate->prefetch_sql[0] != '\0' && ids != NIL)
	{
		const char *id = strVal(linitial(ids));
		PrefetchEntry *entry = NULL;

		if (!fsstate->prefetched)
			prefetch_join_ids(fsstate);
		if (strlen(id) < CLOSE_PREFETCH_KEYLEN)
			entry = hash_search(fsstate->prefetch, id, HASH_FIND, NULL);
		if (entry != NULL)
		{
			fsstate->objects = palloc(sizeof(cJSON *));
			fsstate->nobjects = 0;
			if (entry->object != NULL)
				fsstate->objects[fsstate->nobjects++] = entry->object;
			fsstate->prefetch_hits++;
			return;
		}
	}
	lookup_ids(fsstate, ids, fsstate->id_is_array);
}

/*
 * build_filter_query
 *		"&name=value..." for the listing's pushed-down filters, evaluated
 *		now (parameters have their values for this scan).  Returns false if
 *		a filter value is NULL: "column = NULL" matches nothing.
 */
static bool
build_filter_query(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	const char *default_query = fsstate->table->object->default_query;
	size_t		default_len = strcspn(default_query, "=");
	bool		need_default = default_query[0] != '\0';
	StringInfoData buf;
	ListCell   *ln,
			   *le;

	initStringInfo(&buf);
	forboth(ln, fsstate->filter_names, le, fsstate->exprstates)
	{
		const char *name = strVal(lfirst(ln));
		ExprState  *state = (ExprState *) lfirst(le);
		size_t		namelen = strlen(name);
		bool		is_array = namelen > 4 && strcmp(name + namelen - 4, "__in") == 0;
		List	   *values = close_eval_ids(list_make1(state), is_array, econtext);
		StringInfoData joined;
		ListCell   *lv;
		bool		sendable = true;

		if (values == NIL)
			return false;
		initStringInfo(&joined);
		foreach(lv, values)
		{
			/* a comma inside one value of a list cannot be sent: filter locally */
			if (is_array && strchr(strVal(lfirst(lv)), ',') != NULL)
				sendable = false;
			appendStringInfo(&joined, "%s%s", joined.len ? "," : "",
							 strVal(lfirst(lv)));
		}
		if (!sendable)
			continue;
		if (strncmp(name, default_query, default_len) == 0 &&
			(name[default_len] == '\0' || strcmp(name + default_len, "__in") == 0))
			need_default = false;
		appendStringInfo(&buf, "&%s=%s", name,
						 close_url_escape(joined.data, joined.len));
	}
	if (need_default)
		appendStringInfo(&buf, "&%s", default_query);
	fsstate->filter_query = buf.data;
	return true;
}

/*
 * page_limit
 *		The _limit of a page: page_size, within what Close accepts for the
 *		collection, and no more than "hint" rows when the query needs only
 *		that many (hint -1: no hint).
 */
static int
page_limit(const CloseObjectDef *object, int page_size, int64 hint)
{
	int			limit = page_size;

	if (object->max_limit > 0)
		limit = Min(limit, object->max_limit);
	if (hint > 0 && hint < limit)
		limit = (int) hint;
	return limit;
}

/*
 * close_fields_query
 *		"&_fields=..." naming the top-level keys of the columns the query
 *		uses ("wanted"), when Close's list endpoint accepts _fields and no
 *		column needs the whole object (wanted NULL: the query does); ""
 *		otherwise.
 */
char *
close_fields_query(CloseTableInfo *table, const bool *wanted)
{
	StringInfoData buf;
	int			i;

	if (!table->object->fields_param || wanted == NULL)
		return "";
	initStringInfo(&buf);
	appendStringInfo(&buf, "&_fields=%s", table->object->key_field);
	for (i = 0; i < table->natts; i++)
	{
		const char *field = table->field_names[i];
		size_t		len;
		char	   *key;

		if (!wanted[i] || field == NULL)
			continue;
		if (table->is_attrs[i])
			return "";
		/* a dotted path is fetched by its first key; custom.cf_x is one key */
		len = strncmp(field, "custom.", 7) == 0 ? strlen(field) : strcspn(field, ".");
		key = close_url_escape(field, len);
		if (strcmp(key, table->object->key_field) != 0)
			appendStringInfo(&buf, ",%s", key);
	}
	return buf.data;
}

/*
 * setup_slicing
 *		Decide whether a listing can go on past Close's _skip cap by slicing
 *		on date_created: the collection must filter on date_created__lte and
 *		sort by date_created (a field never null), and the query must not
 *		sort otherwise or filter date_created itself.  Such a listing is
 *		sorted by date_created descending from its first page on, and asks
 *		for date_created along with the fields the query uses.
 */
static void
setup_slicing(CloseScanState *fsstate)
{
	const CloseObjectDef *object = fsstate->table->object;
	const char *const *sf;
	ListCell   *lc;
	bool		sortable = false;

	fsstate->can_slice = false;
	fsstate->slice_query = "";
	if (fsstate->kind != CLOSE_SCAN_LIST || object->paging != CLOSE_PAGING_SKIP ||
		!object->order_by || !close_catalog_has_filter(object, "date_created__lte"))
		return;
	for (sf = object->sort_fields; *sf != NULL; sf++)
		sortable = sortable || strcmp(*sf, "date_created") == 0;
	if (!sortable)
		return;
	if (fsstate->order_query[0] != '\0' &&
		strcmp(fsstate->order_query, "&_order_by=-date_created") != 0)
		return;
	foreach(lc, fsstate->filter_names)
	{
		if (strncmp(strVal(lfirst(lc)), "date_created", 12) == 0)
			return;
	}
	fsstate->can_slice = true;
	fsstate->order_query = "&_order_by=-date_created";
	if (fsstate->fields_query[0] != '\0' &&
		strstr(fsstate->fields_query, ",date_created") == NULL)
		fsstate->fields_query = psprintf("%s,date_created", fsstate->fields_query);
}

/*
 * list_page_path
 *		The path of the listing page at "skip" (or the cursor) of "limit"
 *		objects.
 */
static char *
list_page_path(CloseScanState *fsstate, int skip, int limit)
{
	const CloseObjectDef *object = fsstate->table->object;

	switch (object->paging)
	{
		case CLOSE_PAGING_SKIP:
			return psprintf("/%s/?_skip=%d&_limit=%d%s%s%s%s", object->name,
							skip, limit, fsstate->fields_query,
							fsstate->order_query, fsstate->filter_query,
							fsstate->slice_query);
		case CLOSE_PAGING_CURSOR:
			return psprintf("/%s/?_limit=%d%s%s%s%s", object->name, limit,
							fsstate->fields_query, fsstate->filter_query,
							fsstate->cursor ? "&_cursor=" : "",
							fsstate->cursor ?
							close_url_escape(fsstate->cursor, strlen(fsstate->cursor)) : "");
		default:
			{
				char	   *query = psprintf("%s%s", fsstate->fields_query,
											 fsstate->filter_query);

				return psprintf("/%s/%s%s", object->name, query[0] ? "?" : "",
								query[0] ? query + 1 : "");
			}
	}
}

/* Bytes of pages a listing may hold in memory at once when reading ahead. */
#define CLOSE_READAHEAD_BYTES (8 * 1024 * 1024)

/* GUC: pages of a _skip listing fetched at once after the first one */
int			close_readahead_pages = 8;

/*
 * close_scan_init
 *		Register the GUC of this file; called from _PG_init.
 */
void
close_scan_init(void)
{
	DefineCustomIntVariable("closecrm_fdw.readahead_pages",
							"Pages of a listing requested at once after the first page.",
							"1 fetches one page at a time; more saves round trips on long listings.",
							&close_readahead_pages,
							8, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * list_error
 *		ERROR for a listing page Close did not answer with 200.
 */
static void
list_error(CloseScanState *fsstate, CloseRequest *req, int skip)
{
	const CloseObjectDef *object = fsstate->table->object;

	if (req->status == 400 && strstr(req->response.data, "max_skip") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Close will not page deeper than %d rows into \"%s\"",
						skip, object->name),
				 errdetail("GET %s: %s", req->path,
						   close_error_text(req->response.data, req->response.len)),
				 errhint("Narrow the listing with conditions Close can filter on (see EXPLAIN VERBOSE), e.g. a date_created range, and query the ranges separately.")));
	close_report_http_error(fsstate->conn, req, psprintf("list %s", object->name));
}

/*
 * note_date_created
 *		Remember the date_created of the row just taken, and how many rows
 *		taken so far share it, for slicing past the _skip cap.
 */
static void
note_date_created(CloseScanState *fsstate, cJSON *item)
{
	cJSON	   *date = cJSON_GetObjectItemCaseSensitive(item, "date_created");

	if (!cJSON_IsString(date))
	{
		fsstate->can_slice = false;
		return;
	}
	if (fsstate->last_date != NULL && strcmp(fsstate->last_date, date->valuestring) == 0)
	{
		fsstate->last_date_rows++;
		return;
	}
	if (fsstate->last_date != NULL)
		pfree(fsstate->last_date);
	fsstate->last_date = MemoryContextStrdup(fsstate->scan_cxt, date->valuestring);
	fsstate->last_date_rows = 1;
}

/*
 * take_page
 *		Append the objects of one page's answer to the batch and advance the
 *		paging state.  Returns the number of objects on the page.
 */
static int
take_page(CloseScanState *fsstate, CloseRequest *req)
{
	const CloseObjectDef *object = fsstate->table->object;
	cJSON	   *root;
	cJSON	   *data;
	cJSON	   *more;
	cJSON	   *item;
	int			n;

	data = close_list_data(req, &root);

	n = cJSON_GetArraySize(data);
	fsstate->objects = repalloc(fsstate->objects,
								sizeof(cJSON *) * (fsstate->nobjects + n + 1));
	cJSON_ArrayForEach(item, data)
	{
		if (!cJSON_IsObject(item))
			close_report_malformed_list(req, "An element of \"data\" is not a JSON object.");
		fsstate->objects[fsstate->nobjects++] = item;
		if (fsstate->can_slice)
			note_date_created(fsstate, item);
	}

	more = cJSON_GetObjectItemCaseSensitive(root, "total_results");
	if (cJSON_IsNumber(more) && more->valuedouble >= 0 && more->valuedouble < INT_MAX)
		fsstate->total_results = (int) more->valuedouble;

	switch (object->paging)
	{
		case CLOSE_PAGING_SKIP:
			more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
			if (!cJSON_IsBool(more))
				close_report_malformed_list(req, "The key \"has_more\" is missing or not a boolean.");
			fsstate->has_more = cJSON_IsTrue(more);
			if (fsstate->has_more && n == 0)
				close_report_malformed_list(req, "The page is empty but \"has_more\" is true.");
			fsstate->skip += n;
			break;
		case CLOSE_PAGING_CURSOR:
			more = cJSON_GetObjectItemCaseSensitive(root, "cursor_next");
			fsstate->has_more = cJSON_IsString(more) && more->valuestring[0] && n > 0;
			fsstate->cursor = fsstate->has_more ? pstrdup(more->valuestring) : NULL;
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
			fsstate->has_more = false;
			break;
	}
	return n;
}

/*
 * fetch_pages
 *		Fetch the next page(s) of a listing into the batch context.  The
 *		first page comes alone (a small collection or a LIMIT needs no
 *		more); after it, a _skip listing reads ahead: up to
 *		closecrm_fdw.readahead_pages pages (at most max_concurrency) are requested
 *		at once and kept in Close's order.  Pages past the end, or past a
 *		page shorter than asked for, are dropped, whatever Close answered
 *		for them.  A page that is needed and fails (after the engine's
 *		retries) fails the query: no partial result is ever returned as if
 *		complete.
 */
static void
fetch_pages(CloseScanState *fsstate)
{
	const CloseObjectDef *object = fsstate->table->object;
	int			npages = 1;
	int			limit;
	CloseRequest **reqs;
	int		   *skips;
	int			i;

	limit = page_limit(object, fsstate->conn->opts.page_size,
					   fsstate->skip == 0 && fsstate->cursor == NULL &&
					   fsstate->slices == 0 ? fsstate->limit_hint : -1);
	if (object->paging == CLOSE_PAGING_SKIP && (fsstate->skip > 0 || fsstate->slices > 0))
	{
		/* ramp up 2, 4, 8...: a small collection costs no extra requests */
		fsstate->readahead = Min(fsstate->readahead * 2,
								 Min(fsstate->conn->opts.max_concurrency,
									 close_readahead_pages));
		npages = fsstate->readahead;
		/* no further than the query's LIMIT or Close's total_results reach */
		if (fsstate->limit_hint > 0 && fsstate->slices == 0)
			npages = Min(npages, Max(1, (fsstate->limit_hint - fsstate->skip + limit - 1) / limit));
		if (fsstate->total_results >= 0)
			npages = Min(npages, Max(1, (fsstate->total_results - fsstate->skip + limit - 1) / limit));
		/* and no more pages at once than CLOSE_READAHEAD_BYTES hold */
		if (fsstate->pages > 0 && fsstate->bytes > 0)
			npages = Min(npages, Max(1, (int) (CLOSE_READAHEAD_BYTES /
											   (fsstate->bytes / fsstate->pages))));
	}
	reqs = palloc(sizeof(CloseRequest *) * npages);
	skips = palloc(sizeof(int) * npages);
	for (i = 0; i < npages; i++)
	{
		skips[i] = fsstate->skip + i * limit;
		reqs[i] = close_request_make("GET", list_page_path(fsstate, skips[i], limit),
									 NULL);
	}
	close_http_perform(fsstate->conn, reqs, npages);

	fsstate->objects = palloc(sizeof(cJSON *));
	fsstate->nobjects = 0;
	fsstate->next = 0;
	for (i = 0; i < npages; i++)
	{
		account_request(fsstate, reqs[i]);
		fsstate->pages++;
	}
	for (i = 0; i < npages; i++)
	{
		if (reqs[i]->status == 400 && fsstate->can_slice && fsstate->last_date != NULL &&
			strstr(reqs[i]->response.data, "max_skip") != NULL)
		{
			/* the cap: go on with the rows dated at or before the last one */
			fsstate->slice_query = MemoryContextStrdup(fsstate->scan_cxt,
													   psprintf("&date_created__lte=%s",
																close_url_escape(fsstate->last_date,
																				 strlen(fsstate->last_date))));
			fsstate->skip = fsstate->last_date_rows;
			fsstate->readahead = 1;
			fsstate->total_results = -1;
			fsstate->has_more = true;
			fsstate->slices++;
			break;
		}
		if (reqs[i]->status != 200)
			list_error(fsstate, reqs[i], skips[i]);
		/* a short page moves every later page's _skip: refetch those */
		if (take_page(fsstate, reqs[i]) != limit || !fsstate->has_more)
			break;
	}
}

/*
 * start_scan
 *		First request(s) of a scan or rescan.
 */
static void
start_scan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	MemoryContext old;

	MemoryContextReset(fsstate->batch_cxt);
	old = MemoryContextSwitchTo(fsstate->batch_cxt);
	fsstate->started = true;
	fsstate->next = 0;
	fsstate->nobjects = 0;
	fsstate->has_more = false;
	fsstate->skip = 0;
	fsstate->cursor = NULL;
	fsstate->readahead = 1;
	fsstate->total_results = -1;
	fsstate->slices = 0;
	fsstate->slice_query = "";
	fsstate->last_date = NULL;
	fsstate->last_date_rows = 0;
	if (fsstate->kind == CLOSE_SCAN_LOOKUP)
		fetch_lookups(node);
	else if (build_filter_query(node))
	{
		/* the filter query outlives the pages: keep it in the row context's parent */
		fsstate->filter_query = MemoryContextStrdup(node->ss.ps.state->es_query_cxt,
													fsstate->filter_query);
		fetch_pages(fsstate);
	}
	MemoryContextSwitchTo(old);
}

/*
 * closeIterateForeignScan
 *		Return the next row, fetching the next page when the current one is
 *		used up; an empty slot at the end.
 */
TupleTableSlot *
closeIterateForeignScan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MemoryContext old;

	if (!fsstate->started)
		start_scan(node);

	while (fsstate->next >= fsstate->nobjects)
	{
		if (!fsstate->has_more)
			return ExecClearTuple(slot);
		MemoryContextReset(fsstate->batch_cxt);
		old = MemoryContextSwitchTo(fsstate->batch_cxt);
		fetch_pages(fsstate);
		MemoryContextSwitchTo(old);
	}

	ExecClearTuple(slot);
	MemoryContextReset(fsstate->temp_cxt);
	old = MemoryContextSwitchTo(fsstate->temp_cxt);
	close_object_to_values(fsstate->objects[fsstate->next++], fsstate->table,
						   slot->tts_tupleDescriptor, fsstate->wanted,
						   fsstate->relname,
						   slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	return ExecStoreVirtualTuple(slot);
}

/*
 * closeReScanForeignScan
 *		Start over; parameters may have new values, so everything is fetched
 *		again on the next row request.
 */
void
closeReScanForeignScan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;

	fsstate->started = false;
	fsstate->nobjects = 0;
	fsstate->next = 0;
	fsstate->has_more = false;
}

/*
 * closeEndForeignScan
 *		Nothing to release: contexts go with the query, and libcurl handles
 *		are freed as each request completes.
 */
void
closeEndForeignScan(ForeignScanState *node)
{
}

/*
 * explain_exprs
 *		Deparsed expressions, comma-separated, for EXPLAIN VERBOSE.
 */
static char *
explain_exprs(ForeignScanState *node, ExplainState *es, List *exprs,
			  bool numbered)
{
	List	   *context;
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	context = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan, NIL);
	initStringInfo(&buf);
	foreach(lc, exprs)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		if (numbered)
			appendStringInfo(&buf, "{%d} = ", ++i);
		appendStringInfoString(&buf, deparse_expression(lfirst(lc), context,
														false, false));
	}
	return buf.data;
}

/*
 * closeExplainForeignScan
 *		Show the Close request(s) the scan sends; with VERBOSE, the values
 *		they are built from; with ANALYZE, what was actually sent.
 */
void
closeExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	const CloseObjectDef *object = fsstate->table->object;

	if (fsstate->kind == CLOSE_SCAN_LOOKUP)
	{
		ExplainPropertyText("Close Request",
							psprintf("GET /%s/{id}/%s", object->name,
									 fsstate->id_is_array ? " for each distinct id" : ""),
							es);
		if (es->verbose)
			ExplainPropertyText("Close Ids",
								explain_exprs(node, es, fsplan->fdw_exprs, false), es);
		if (es->verbose && fsstate->prefetch_sql[0] != '\0')
			ExplainPropertyText("Close Prefetch Ids From", fsstate->prefetch_sql, es);
	}
	else
	{
		StringInfoData buf;
		ListCell   *lc;
		CloseServerOptions opts;
		int			limit;
		int			i = 0;

		close_get_server_options(GetForeignServer(GetForeignTable(
																  RelationGetRelid(node->ss.ss_currentRelation))->serverid),
								 &opts);
		limit = page_limit(object, opts.page_size, fsstate->limit_hint);
		initStringInfo(&buf);
		appendStringInfo(&buf, "GET /%s/?", object->name);
		if (object->paging == CLOSE_PAGING_SKIP)
			appendStringInfo(&buf, "_skip={n}&_limit=%d", limit);
		else if (object->paging == CLOSE_PAGING_CURSOR)
			appendStringInfo(&buf, "_limit=%d&_cursor={cursor}", limit);
		appendStringInfoString(&buf, fsstate->fields_query);
		appendStringInfoString(&buf, fsstate->order_query);
		foreach(lc, fsstate->filter_names)
			appendStringInfo(&buf, "&%s={%d}", strVal(lfirst(lc)), ++i);
		if (object->default_query[0] != '\0')
			appendStringInfo(&buf, " (&%s unless filtered)", object->default_query);
		/* tidy the separators of an otherwise empty query string */
		if (buf.data[buf.len - 1] == '?')
			buf.data[--buf.len] = '\0';
		else if (strstr(buf.data, "?&") != NULL)
			memmove(strstr(buf.data, "?&") + 1, strstr(buf.data, "?&") + 2,
					strlen(strstr(buf.data, "?&") + 2) + 1);
		ExplainPropertyText("Close Request", buf.data, es);
		if (es->verbose && fsplan->fdw_exprs != NIL)
			ExplainPropertyText("Close Filter Values",
								explain_exprs(node, es, fsplan->fdw_exprs, true), es);
	}
	if (es->analyze && fsstate->conn != NULL)
	{
		ExplainPropertyInteger("Close Requests Sent", NULL, fsstate->requests, es);
		if (fsstate->kind == CLOSE_SCAN_LIST)
			ExplainPropertyInteger("Close Pages", NULL, fsstate->pages, es);
		if (fsstate->prefetch_sql[0] != '\0')
			ExplainPropertyInteger("Close Prefetch Hits", NULL, fsstate->prefetch_hits, es);
		ExplainPropertyInteger("Close Retries", NULL, fsstate->retries, es);
		ExplainPropertyInteger("Close Bytes Received", "bytes", fsstate->bytes, es);
		if (fsstate->rate_wait_ms > 0)
			ExplainPropertyInteger("Close Rate-Limit Wait", "ms", fsstate->rate_wait_ms, es);
	}
}
