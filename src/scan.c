/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  Execution of scans of Close foreign tables: lookups by id (all ids
 *		  of one scan fetched at once: concurrent GETs, id__in lists, or
 *		  Close's search by id), joins that look their ids up a batch at a
 *		  time, listings read through the pager (listing.c) as the executor
 *		  consumes rows, scans that read everything first when the statement
 *		  changes Close; and what EXPLAIN shows of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "closecrm_fdw.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/tuplestore.h"

/* Ids sent in one id__in list request. */
#define ID_IN_BATCH 100

/* Entries a join's id cache holds before it starts over. */
#define PREFETCH_CACHE_MAX 10000

/* At most this many _fields entries name custom fields one by one. */
#define SEARCH_MAX_FIELDS 60

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
	CloseListSpec spec;			/* what listings read */
	bool		search_fields_given;	/* search can name every field used */
	bool		get_fields_given;	/* GET by id can name them */
	char	   *search_template;	/* search conditions, "" none */
	int			fanout;			/* filter listed once per value, -1 none */
	bool		snapshot;		/* read everything before the first row */
	bool		lookup_search;	/* lookups may go through search */

	MemoryContext batch_cxt;	/* the current lookup results */
	MemoryContext params_cxt;	/* this (re)scan's filters */
	MemoryContext temp_cxt;		/* the current row's values */
	MemoryContext scan_cxt;		/* lives as long as the scan */

	bool		started;
	cJSON	  **objects;		/* lookup results */
	int			nobjects;
	int			next;

	/* listing */
	ClosePager *pager;
	List	   *params;			/* this (re)scan's list filters */
	List	   *fanout_values;	/* values still to list, one at a time */
	List	   *status_cache;	/* statuses, for labels in search */
	bool		listing_active;

	/* snapshot */
	Tuplestorestate *store;
	TupleTableSlot *store_slot; /* reads the store's minimal tuples */
	bool		store_filled;

	/* joins on a local table's column: ids looked up a batch at a time */
	char	   *prefetch_sql;	/* "" when not prefetching */
	Oid			prefetch_user;	/* role that reads the local table */
	char	   *prefetch_portal;	/* its cursor, once opened */
	bool		prefetch_exhausted;
	HTAB	   *prefetch;		/* PrefetchEntry by id */
	MemoryContext prefetch_cxt;
	int64		prefetch_hits;
	int64		prefetch_batches;

	CloseRequestCounts counts;	/* lookups' requests */
} CloseScanState;

/* One looked-up id: its object, or NULL when Close has none. */
typedef struct PrefetchEntry
{
	char		id[CLOSE_ID_KEYLEN];	/* hash key */
	cJSON	   *object;
} PrefetchEntry;

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
 * search_fields_list
 *		The fields a search asks for: those of "fields", but one "custom"
 *		selector instead of one per custom field when the list would grow
 *		longer than Close accepts.
 */
static List *
search_fields_list(List *fields)
{
	List	   *result = NIL;
	ListCell   *lc;
	bool		custom_added = false;

	if (list_length(fields) <= SEARCH_MAX_FIELDS)
		return fields;
	foreach(lc, fields)
	{
		const char *field = strVal(lfirst(lc));

		if (strncmp(field, "custom.", 7) != 0)
			result = lappend(result, lfirst(lc));
		else if (!custom_added)
		{
			result = lappend(result, makeString("custom"));
			custom_added = true;
		}
	}
	return result;
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
	List	   *priv = fsplan->fdw_private;
	EState	   *estate = node->ss.ps.state;
	CloseScanState *fsstate;
	Oid			userid;
	List	   *retrieved;
	ListCell   *lc;
	const char *keyset;
	const char *order_by;
	List	   *fields;
	bool		has_custom;
	bool		fields_ok;
	CloseServerOptions opts;

	fsstate = palloc0(sizeof(CloseScanState));
	node->fdw_state = fsstate;
	fsstate->kind = intVal(list_nth(priv, CloseScanPrivateKind));
	fsstate->id_is_array = boolVal(list_nth(priv, CloseScanPrivateIdIsArray));
	fsstate->filter_names = (List *) list_nth(priv, CloseScanPrivateFilters);
	fsstate->table = close_get_table_info(node->ss.ss_currentRelation);
	fsstate->relname = RelationGetRelationName(node->ss.ss_currentRelation);
	fsstate->prefetch_sql = strVal(list_nth(priv, CloseScanPrivatePrefetch));
	fsstate->prefetch_user = (Oid) intVal(list_nth(priv, CloseScanPrivatePrefetchUser));
	fsstate->search_template = strVal(list_nth(priv, CloseScanPrivateSearch));
	fsstate->fanout = intVal(list_nth(priv, CloseScanPrivateFanout));
	fsstate->snapshot = boolVal(list_nth(priv, CloseScanPrivateSnapshot));
	fsstate->lookup_search = boolVal(list_nth(priv, CloseScanPrivateUseSearch));
	retrieved = (List *) list_nth(priv, CloseScanPrivateRetrieved);
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

	/* what listings read */
	close_get_server_options(GetForeignServer(GetForeignTable(
															  RelationGetRelid(node->ss.ss_currentRelation))->serverid),
							 &opts);
	fields_ok = close_table_fields(fsstate->table, fsstate->wanted, &fields, &has_custom);
	fsstate->search_fields_given = fields_ok;
	/* custom-field selectors only where Close documents them */
	fsstate->get_fields_given = fields_ok &&
		(!has_custom || fsstate->table->object->custom_selectors);
	fsstate->spec.object = fsstate->table->object;
	fsstate->spec.page_size = opts.page_size;
	fsstate->spec.search_page_size = opts.search_page_size;
	fsstate->spec.limit_hint = intVal(list_nth(priv, CloseScanPrivateLimitHint));
	order_by = strVal(list_nth(priv, CloseScanPrivateOrderBy));
	fsstate->spec.order_by = order_by[0] ? order_by : NULL;
	keyset = strVal(list_nth(priv, CloseScanPrivateKeyset));
	if (keyset[0] != '\0')
	{
		const CloseSearchObject *sobj = close_search_object(fsstate->table->object);

		fsstate->spec.search_type = sobj->search_type;
		fsstate->spec.descending = keyset[0] == '-';
		fsstate->spec.keyset_field = keyset + (keyset[0] == '-');
		fsstate->spec.dedupe_all = strcmp(fsstate->spec.keyset_field, "date_created") != 0;
		fsstate->spec.fields_given = fsstate->search_fields_given;
		fsstate->spec.fields = search_fields_list(fields);
	}
	else
	{
		fsstate->spec.fields_given = fsstate->get_fields_given;
		fsstate->spec.fields = fields;
	}

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
	fsstate->params_cxt = AllocSetContextCreate(estate->es_query_cxt,
												"closecrm_fdw filters",
												ALLOCSET_SMALL_SIZES);
	fsstate->scan_cxt = estate->es_query_cxt;
	fsstate->prefetch_cxt = AllocSetContextCreate(estate->es_query_cxt,
												  "closecrm_fdw prefetch",
												  ALLOCSET_DEFAULT_SIZES);
	if (fsstate->kind == CLOSE_SCAN_LIST)
		fsstate->pager = close_pager_create(fsstate->conn, &fsstate->spec,
											estate->es_query_cxt);
}

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
 * add_object
 *		Append "obj" to the scan's lookup results.
 */
static void
add_object(CloseScanState *fsstate, cJSON *obj, int *room)
{
	if (fsstate->nobjects >= *room)
	{
		*room = Max(16, *room * 2);
		fsstate->objects = fsstate->objects == NULL ?
			palloc(sizeof(cJSON *) * *room) :
			repalloc(fsstate->objects, sizeof(cJSON *) * *room);
	}
	fsstate->objects[fsstate->nobjects++] = obj;
}

/*
 * search_ids
 *		Look "ids" up through Close's search, up to CLOSE_SEARCH_MAX_LIMIT per
 *		request, all requests at once; the objects found go into the scan's
 *		results and their ids into *found.  Returns false, having found
 *		nothing, when Close refuses (or ignores) search by id: the caller
 *		then uses GETs, for the rest of the session.
 */
static bool
search_ids(CloseScanState *fsstate, List *ids, List **found, int *room)
{
	CloseListSpec spec = fsstate->spec;
	const CloseSearchObject *sobj = close_search_object(fsstate->table->object);
	int			nreqs = (list_length(ids) + CLOSE_SEARCH_MAX_LIMIT - 1) / CLOSE_SEARCH_MAX_LIMIT;
	CloseRequest **reqs = palloc(sizeof(CloseRequest *) * nreqs);
	List	  **batches = palloc(sizeof(List *) * nreqs);
	List	   *objects = NIL;
	int			i;
	ListCell   *lc;

	spec.search_type = sobj->search_type;
	spec.keyset_field = "date_created";
	spec.descending = false;
	spec.fields_given = true;
	for (i = 0; i < nreqs; i++)
	{
		int			n = Min(CLOSE_SEARCH_MAX_LIMIT, list_length(ids) - i * CLOSE_SEARCH_MAX_LIMIT);

		batches[i] = list_copy_head(list_copy_tail(ids, i * CLOSE_SEARCH_MAX_LIMIT), n);
		reqs[i] = close_request_make("POST", "/data/search/",
									 close_search_body(&spec,
													   close_search_ids_conditions(batches[i]),
													   NULL, n, NULL, false));
		reqs[i]->retry_unsafe = true;	/* a search changes nothing */
		reqs[i]->reads_only = true;
	}
	close_http_perform(fsstate->conn, reqs, nreqs);
	for (i = 0; i < nreqs; i++)
		close_count_request(&fsstate->counts, reqs[i]);

	for (i = 0; i < nreqs; i++)
	{
		cJSON	   *root;
		cJSON	   *data;
		cJSON	   *item;

		if (reqs[i]->status == 400)
		{
			close_search_ids_refused = true;
			elog(DEBUG1, "closecrm_fdw: Close refused a search by id (%s); looking ids up one by one for the rest of this session",
				 close_error_text(reqs[i]->response.data, reqs[i]->response.len));
			return false;
		}
		if (reqs[i]->status != 200)
			close_report_http_error(fsstate->conn, reqs[i],
									psprintf("search %s by id", fsstate->table->object->name));
		data = close_list_data(reqs[i], &root);
		cJSON_ArrayForEach(item, data)
		{
			cJSON	   *key = cJSON_GetObjectItemCaseSensitive(item, fsstate->table->object->key_field);
			bool		asked = false;

			if (!cJSON_IsObject(item) || !cJSON_IsString(key))
				close_report_malformed_list(reqs[i], "A search result has no usable id.");
			foreach(lc, batches[i])
				asked = asked || strcmp(strVal(lfirst(lc)), key->valuestring) == 0;
			if (!asked)
			{
				/* the id condition was not applied: don't trust the answer */
				close_search_ids_refused = true;
				elog(DEBUG1, "closecrm_fdw: Close answered a search by id with object \"%s\", not asked for; looking ids up one by one for the rest of this session",
					 key->valuestring);
				return false;
			}
			objects = lappend(objects, item);
		}
	}
	foreach(lc, objects)
	{
		cJSON	   *key = cJSON_GetObjectItemCaseSensitive((cJSON *) lfirst(lc),
														   fsstate->table->object->key_field);

		add_object(fsstate, (cJSON *) lfirst(lc), room);
		*found = lappend(*found, makeString(key->valuestring));
	}
	return true;
}

/*
 * get_path
 *		GET /{object}/{id}/, with _fields when Close honours it there and the
 *		scan needs only some fields.
 */
static char *
get_path(CloseScanState *fsstate, const char *id)
{
	const CloseObjectDef *object = fsstate->table->object;
	char	   *fields = close_fields_value(&fsstate->spec, NULL);
	List	   *params = NIL;

	if (object->get_fields_param && fields != NULL)
		params = close_query_add(params, "_fields", fields, true);
	return close_request_path(psprintf("%s/%s", object->name,
									   close_url_escape(id, strlen(id))),
							  params);
}

/*
 * lookup_ids
 *		Fetch the objects named by "ids" into the scan's results, keeping
 *		those found.  With "allow_batch" and more than one id: through
 *		Close's search (searchable objects, when the scan needs no whole
 *		objects), up to CLOSE_SEARCH_MAX_LIMIT ids per request, then a GET for
 *		each id the search did not return (its index may lag a write); or
 *		one GET /{object}/?id__in=... per ID_IN_BATCH ids where the listing
 *		takes id__in (tasks, activities).  Otherwise one GET
 *		/{object}/{id}/ per id (a 404 means no such object: no row).  All
 *		requests of a step go out concurrently.
 */
static void
lookup_ids(CloseScanState *fsstate, List *ids, bool allow_batch)
{
	const CloseObjectDef *object = fsstate->table->object;
	bool		batch;
	List	   *singles = NIL;
	List	   *batched = NIL;
	List	   *found = NIL;
	CloseRequest **reqs;
	int			nreqs = 0;
	int			nbatches;
	int			room = 0;
	int			i;
	ListCell   *lc;

	fsstate->nobjects = 0;
	fsstate->objects = NULL;
	if (ids == NIL)
		return;

	if (allow_batch && list_length(ids) > 1 && fsstate->lookup_search &&
		!close_search_ids_refused && fsstate->search_fields_given &&
		!((object->ops & CLOSE_OP_LIST) && close_catalog_has_filter(object, "id__in")) &&
		search_ids(fsstate, ids, &found, &room))
	{
		foreach(lc, ids)
		{
			ListCell   *lf;
			bool		hit = false;

			foreach(lf, found)
				hit = hit || strcmp(strVal(lfirst(lf)), strVal(lfirst(lc))) == 0;
			if (!hit)
				singles = lappend(singles, lfirst(lc));
		}
		ids = NIL;
	}

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
	if (nbatches + list_length(singles) == 0)
		return;
	reqs = palloc(sizeof(CloseRequest *) * (list_length(singles) + nbatches));

	for (i = 0; i < nbatches; i++)
	{
		List	   *params = NIL;
		StringInfoData idlist;
		int			j;
		int			count = Min(ID_IN_BATCH, list_length(batched) - i * ID_IN_BATCH);

		initStringInfo(&idlist);
		for (j = 0; j < count; j++)
		{
			const char *id = strVal(list_nth(batched, i * ID_IN_BATCH + j));

			appendStringInfo(&idlist, "%s%s", j > 0 ? "%2C" : "",
							 close_url_escape(id, strlen(id)));
		}
		params = close_query_add(params, "_limit", psprintf("%d", count), true);
		params = close_query_add(params, "id__in", idlist.data, true);
		params = close_query_add_default(params, object);
		reqs[nreqs++] = close_request_make("GET", close_request_path(object->name, params),
										   NULL);
	}
	foreach(lc, singles)
		reqs[nreqs++] = close_request_make("GET", get_path(fsstate, strVal(lfirst(lc))),
										   NULL);
	close_http_perform(fsstate->conn, reqs, nreqs);

	for (i = 0; i < nreqs; i++)
	{
		CloseRequest *req = reqs[i];

		close_count_request(&fsstate->counts, req);
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
			cJSON_ArrayForEach(item, data)
			{
				if (cJSON_IsObject(item))
					add_object(fsstate, item, &room);
			}
			continue;
		}
		if (req->status == 404)
			continue;
		if (req->status != 200)
			close_report_http_error(fsstate->conn, req,
									psprintf("look up %s \"%s\"", object->name,
											 strVal(list_nth(singles, i - nbatches))));
		add_object(fsstate, parse_object(req), &room);
		check_answered_id(req, fsstate->objects[fsstate->nobjects - 1],
						  object->key_field, strVal(list_nth(singles, i - nbatches)));
	}
}

/*
 * prefetch_batch_size
 *		Ids a join looks up at once: what one round of requests fetches.
 */
static int
prefetch_batch_size(CloseScanState *fsstate)
{
	const CloseObjectDef *object = fsstate->table->object;

	if ((object->ops & CLOSE_OP_LIST) && close_catalog_has_filter(object, "id__in"))
		return ID_IN_BATCH;
	if (fsstate->lookup_search && !close_search_ids_refused && fsstate->search_fields_given)
		return CLOSE_SEARCH_MAX_LIMIT;
	return fsstate->conn->opts.max_concurrency;
}

/*
 * next_prefetch_ids
 *		Up to "n" more ids of the join's local table not looked up yet, read
 *		from the prefetch query's cursor (opened on first use) as the role
 *		that reads that table in the plan.
 */
static List *
next_prefetch_ids(CloseScanState *fsstate, int n)
{
	List	   *ids = NIL;
	Oid			save_userid;
	int			save_sec;

	if (fsstate->prefetch_exhausted || n <= 0)
		return NIL;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(fsstate->prefetch_user))
		SetUserIdAndSecContext(fsstate->prefetch_user,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		Portal		portal;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (fsstate->prefetch_portal == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(fsstate->prefetch_sql, 0, NULL);

			if (plan == NULL)
				elog(ERROR, "could not list the ids of the join: %s", fsstate->prefetch_sql);
			portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
			fsstate->prefetch_portal = MemoryContextStrdup(fsstate->scan_cxt, portal->name);
		}
		else
			portal = SPI_cursor_find(fsstate->prefetch_portal);
		if (portal == NULL)
			elog(ERROR, "the cursor listing the ids of the join is gone");
		while (list_length(ids) < n && !fsstate->prefetch_exhausted)
		{
			uint64		i;

			/* no further than needed: the rest may never be asked for */
			SPI_cursor_fetch(portal, true, n - list_length(ids));
			if (SPI_processed == 0)
				fsstate->prefetch_exhausted = true;
			for (i = 0; i < SPI_processed; i++)
			{
				char	   *id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				bool		found = false;
				ListCell   *lc;
				MemoryContext spi_cxt;

				if (id == NULL || id[0] == '\0' || strlen(id) >= CLOSE_ID_KEYLEN)
					continue;
				hash_search(fsstate->prefetch, id, HASH_FIND, &found);
				foreach(lc, ids)
					found = found || strcmp(strVal(lfirst(lc)), id) == 0;
				if (found)
					continue;
				/* SPI switched contexts: keep the ids where the scan lives */
				spi_cxt = MemoryContextSwitchTo(fsstate->batch_cxt);
				ids = lappend(ids, makeString(pstrdup(id)));
				MemoryContextSwitchTo(spi_cxt);
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return ids;
}

/*
 * prefetch_lookup
 *		Look "id" up together with the next ids the join's local table names
 *		(one batch), keeping every answer — object or none — for the rescans
 *		to come.  Only ids the executor has not asked for yet are fetched,
 *		one batch at a time, so a LIMIT or EXISTS over the join stops the
 *		lookups too.
 */
static void
prefetch_lookup(CloseScanState *fsstate, const char *id)
{
	MemoryContext old;
	List	   *ids;
	ListCell   *lc;
	int			j;

	if (fsstate->prefetch == NULL ||
		hash_get_num_entries(fsstate->prefetch) >= PREFETCH_CACHE_MAX)
	{
		HASHCTL		ctl;

		/* start over rather than hold every object of a long join */
		MemoryContextReset(fsstate->prefetch_cxt);
		ctl.keysize = CLOSE_ID_KEYLEN;
		ctl.entrysize = sizeof(PrefetchEntry);
		ctl.hcxt = fsstate->prefetch_cxt;
		fsstate->prefetch = hash_create("closecrm_fdw prefetch", 256, &ctl,
										HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	/* known to be asked for: the cursor's copy of it is no new id */
	((PrefetchEntry *) hash_search(fsstate->prefetch, id, HASH_ENTER, NULL))->object = NULL;
	ids = lcons(makeString((char *) id),
				next_prefetch_ids(fsstate, prefetch_batch_size(fsstate) - 1));
	old = MemoryContextSwitchTo(fsstate->prefetch_cxt);
	fsstate->prefetch_batches++;
	lookup_ids(fsstate, ids, true);
	foreach(lc, ids)
		((PrefetchEntry *) hash_search(fsstate->prefetch, strVal(lfirst(lc)),
									   HASH_ENTER, NULL))->object = NULL;
	for (j = 0; j < fsstate->nobjects; j++)
	{
		cJSON	   *key = cJSON_GetObjectItemCaseSensitive(fsstate->objects[j],
														   fsstate->table->object->key_field);
		PrefetchEntry *entry;

		if (!cJSON_IsString(key) || strlen(key->valuestring) >= CLOSE_ID_KEYLEN)
			continue;
		entry = hash_search(fsstate->prefetch, key->valuestring, HASH_FIND, NULL);
		if (entry != NULL)
			entry->object = fsstate->objects[j];
	}
	fsstate->nobjects = 0;
	MemoryContextSwitchTo(old);
}

/*
 * fetch_lookups
 *		Fetch the objects a lookup scan names.  In a join that prefetches its
 *		ids, the answer is usually known already.
 */
static void
fetch_lookups(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	List	   *ids;

	ids = close_eval_ids(fsstate->exprstates, fsstate->id_is_array, econtext);
	if (fsstate->prefetch_sql[0] != '\0' && list_length(ids) == 1 &&
		strlen(strVal(linitial(ids))) < CLOSE_ID_KEYLEN)
	{
		const char *id = strVal(linitial(ids));
		PrefetchEntry *entry = NULL;

		if (fsstate->prefetch != NULL)
			entry = hash_search(fsstate->prefetch, id, HASH_FIND, NULL);
		if (entry != NULL)
			fsstate->prefetch_hits++;
		else
		{
			prefetch_lookup(fsstate, id);
			entry = hash_search(fsstate->prefetch, id, HASH_FIND, NULL);
		}
		fsstate->objects = palloc(sizeof(cJSON *));
		fsstate->nobjects = 0;
		if (entry != NULL && entry->object != NULL)
			fsstate->objects[fsstate->nobjects++] = entry->object;
		return;
	}
	lookup_ids(fsstate, ids, fsstate->id_is_array);
}

/*
 * list_filter_params
 *		The list endpoint's filters for this (re)scan, evaluated now
 *		(parameters have their values for this scan); the values of a
 *		fan-out filter go to *fanout_values instead.  Returns false if a
 *		filter value is NULL: "column = NULL" matches nothing.
 */
static bool
list_filter_params(ForeignScanState *node, List **params, List **fanout_values)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ListCell   *ln,
			   *le;
	int			i = 0;

	*params = NIL;
	*fanout_values = NIL;
	forboth(ln, fsstate->filter_names, le, fsstate->exprstates)
	{
		const char *name = strVal(lfirst(ln));
		ExprState  *state = (ExprState *) lfirst(le);
		size_t		namelen = strlen(name);
		bool		is_fanout = i++ == fsstate->fanout;
		bool		is_array = is_fanout ||
			(namelen > 4 && strcmp(name + namelen - 4, "__in") == 0);
		List	   *values = close_eval_ids(list_make1(state), is_array, econtext);
		StringInfoData joined;
		ListCell   *lv;
		bool		sendable = true;

		if (values == NIL)
			return false;
		if (is_fanout)
		{
			*fanout_values = values;
			continue;
		}
		initStringInfo(&joined);
		foreach(lv, values)
		{
			/* a comma inside one value of a list cannot be sent: filter locally */
			if (is_array && strchr(strVal(lfirst(lv)), ',') != NULL)
				sendable = false;
			appendStringInfo(&joined, "%s%s", joined.len ? "," : "",
							 strVal(lfirst(lv)));
		}
		if (sendable)
			*params = close_query_add(*params, name, joined.data, false);
	}
	return true;
}

/*
 * begin_next_listing
 *		Start the pager on the next listing of this scan: the only one, or
 *		the next value of a fan-out filter.  False when there is none left.
 */
static bool
begin_next_listing(CloseScanState *fsstate)
{
	List	   *params = fsstate->params;

	if (fsstate->fanout >= 0)
	{
		if (fsstate->fanout_values == NIL)
			return false;
		params = close_query_add(list_copy(params),
								 strVal(list_nth(fsstate->filter_names, fsstate->fanout)),
								 strVal(linitial(fsstate->fanout_values)), false);
		fsstate->fanout_values = list_delete_first(fsstate->fanout_values);
	}
	close_pager_begin(fsstate->pager, params, NULL);
	return true;
}

/*
 * start_scan
 *		Set up this scan or rescan: lookups are fetched now; a listing
 *		evaluates its filters and starts its pager.
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
	fsstate->objects = NULL;
	fsstate->listing_active = false;
	if (fsstate->kind == CLOSE_SCAN_LOOKUP)
		fetch_lookups(node);
	else
	{
		/* the filters outlive the pages: they go with the (re)scan */
		MemoryContextReset(fsstate->params_cxt);
		MemoryContextSwitchTo(fsstate->params_cxt);
		if (fsstate->spec.search_type != NULL)
		{
			bool		nothing;
			char	   *conditions;

			conditions = close_search_conditions(fsstate->search_template,
												 fsstate->exprstates,
												 node->ss.ps.ps_ExprContext,
												 fsstate->conn, fsstate->table->object,
												 &fsstate->status_cache,
												 fsstate->scan_cxt, &nothing);
			if (!nothing)
			{
				close_pager_begin(fsstate->pager, NIL, conditions);
				fsstate->listing_active = true;
			}
		}
		else if (list_filter_params(node, &fsstate->params, &fsstate->fanout_values))
			fsstate->listing_active = begin_next_listing(fsstate);
	}
	MemoryContextSwitchTo(old);
}

/*
 * next_object
 *		The next object of the scan, or NULL at its end.
 */
static cJSON *
next_object(CloseScanState *fsstate)
{
	cJSON	   *obj;

	if (fsstate->kind == CLOSE_SCAN_LOOKUP)
		return fsstate->next < fsstate->nobjects ?
			fsstate->objects[fsstate->next++] : NULL;
	while (fsstate->listing_active)
	{
		if ((obj = close_pager_next(fsstate->pager)) != NULL)
			return obj;
		/* the end of this listing: go on with a fan-out's next value */
		fsstate->listing_active = fsstate->fanout >= 0 &&
			begin_next_listing(fsstate);
	}
	return NULL;
}

/*
 * next_row
 *		Fill "slot" with the scan's next row; false at the end.
 */
static bool
next_row(CloseScanState *fsstate, TupleTableSlot *slot)
{
	cJSON	   *obj = next_object(fsstate);
	MemoryContext old;

	ExecClearTuple(slot);
	if (obj == NULL)
		return false;
	MemoryContextReset(fsstate->temp_cxt);
	old = MemoryContextSwitchTo(fsstate->temp_cxt);
	close_object_to_values(obj, fsstate->table, slot->tts_tupleDescriptor,
						   fsstate->wanted, fsstate->relname,
						   slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	ExecStoreVirtualTuple(slot);
	return true;
}

/*
 * closeIterateForeignScan
 *		Return the next row; an empty slot at the end.  When the statement
 *		changes Close, the first call reads every row of the scan into a
 *		tuplestore, so that the statement's own changes cannot move the
 *		listing under it.
 */
TupleTableSlot *
closeIterateForeignScan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!fsstate->started)
		start_scan(node);
	if (!fsstate->snapshot)
	{
		next_row(fsstate, slot);
		return slot;
	}
	if (!fsstate->store_filled)
	{
		MemoryContext old = MemoryContextSwitchTo(fsstate->scan_cxt);

		if (fsstate->store == NULL)
		{
			fsstate->store = tuplestore_begin_heap(false, false, work_mem);
			fsstate->store_slot = ExecInitExtraTupleSlot(node->ss.ps.state,
														 slot->tts_tupleDescriptor,
														 &TTSOpsMinimalTuple);
		}
		MemoryContextSwitchTo(old);
		while (next_row(fsstate, slot))
		{
			CHECK_FOR_INTERRUPTS();
			tuplestore_puttupleslot(fsstate->store, slot);
		}
		fsstate->store_filled = true;
	}
	if (!tuplestore_gettupleslot(fsstate->store, true, false, fsstate->store_slot))
		return ExecClearTuple(slot);
	return ExecCopySlot(slot, fsstate->store_slot);
}

/*
 * closeReScanForeignScan
 *		Start over; parameters may have new values, so everything is fetched
 *		again on the next row request (a join's looked-up ids are kept).
 */
void
closeReScanForeignScan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;

	fsstate->started = false;
	fsstate->nobjects = 0;
	fsstate->next = 0;
	fsstate->listing_active = false;
	if (fsstate->store != NULL)
		tuplestore_clear(fsstate->store);
	fsstate->store_filled = false;
}

/*
 * closeEndForeignScan
 *		Close the join's id cursor; memory goes with the query, and libcurl
 *		handles are freed as each request completes.
 */
void
closeEndForeignScan(ForeignScanState *node)
{
	CloseScanState *fsstate = (CloseScanState *) node->fdw_state;

	if (fsstate->prefetch_portal != NULL)
	{
		Portal		portal = SPI_cursor_find(fsstate->prefetch_portal);

		if (portal != NULL)
			SPI_cursor_close(portal);
		fsstate->prefetch_portal = NULL;
	}
	if (fsstate->store != NULL)
		tuplestore_end(fsstate->store);
	fsstate->store = NULL;
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
	CloseRequestCounts counts = fsstate->counts;

	if (fsstate->kind == CLOSE_SCAN_LOOKUP)
	{
		bool		by_search = fsstate->lookup_search && fsstate->search_fields_given &&
			!close_catalog_has_filter(object, "id__in") &&
			(fsstate->id_is_array || fsstate->prefetch_sql[0] != '\0');

		if (by_search)
			ExplainPropertyText("Close Request",
								psprintf("POST /data/search/ for up to %d ids at once, then GET /%s/{id}/ for ids it does not return",
										 CLOSE_SEARCH_MAX_LIMIT, object->name),
								es);
		else
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
		char	   *conditions = NULL;
		char	   *request;

		if (fsstate->spec.search_type != NULL && fsstate->search_template[0] != '\0')
			conditions = close_search_explain(fsstate->search_template);
		request = close_pager_describe(&fsstate->spec, fsstate->filter_names, conditions);
		if (fsstate->fanout >= 0)
			request = psprintf("%s, once per value of {%d}", request, fsstate->fanout + 1);
		ExplainPropertyText("Close Request", request, es);
		if (es->verbose && fsplan->fdw_exprs != NIL)
			ExplainPropertyText("Close Filter Values",
								explain_exprs(node, es, fsplan->fdw_exprs, true), es);
		if (fsstate->pager != NULL)
		{
			CloseRequestCounts *pc = close_pager_counts(fsstate->pager);

			counts.requests += pc->requests;
			counts.pages += pc->pages;
			counts.retries += pc->retries;
			counts.bytes += pc->bytes;
			counts.rate_wait_ms += pc->rate_wait_ms;
		}
	}
	if (fsstate->snapshot && es->verbose)
		ExplainPropertyText("Close Reads", "every row before returning the first (the statement changes Close)", es);
	if (es->analyze && fsstate->conn != NULL)
	{
		ExplainPropertyInteger("Close Requests Sent", NULL, counts.requests, es);
		if (fsstate->kind == CLOSE_SCAN_LIST)
			ExplainPropertyInteger("Close Pages", NULL, counts.pages, es);
		if (fsstate->prefetch_sql[0] != '\0')
		{
			ExplainPropertyInteger("Close Prefetch Batches", NULL, fsstate->prefetch_batches, es);
			ExplainPropertyInteger("Close Prefetch Hits", NULL, fsstate->prefetch_hits, es);
		}
		ExplainPropertyInteger("Close Retries", NULL, counts.retries, es);
		ExplainPropertyInteger("Close Bytes Received", "bytes", counts.bytes, es);
		if (counts.rate_wait_ms > 0)
			ExplainPropertyInteger("Close Rate-Limit Wait", "ms", counts.rate_wait_ms, es);
	}
}
