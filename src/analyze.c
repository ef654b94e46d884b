/*-------------------------------------------------------------------------
 *
 * analyze.c
 *		  ANALYZE of a Close foreign table: one request, never a listing of
 *		  the collection.  It asks for the first page of the listing, as
 *		  large as Close allows, which gives the sample rows for the column
 *		  statistics and, with it, the number of objects: Close's
 *		  total_results where it reports one (leads, opportunities), or the
 *		  page's own count when the page holds the whole collection.  Where
 *		  neither tells, the count stays what the planner would assume
 *		  anyway (estimated_rows, else 100,000), and only the column
 *		  statistics are new.
 *
 * The sample is the newest objects (Close lists newest first), not a
 * random draw: good enough for the planner's column statistics, and it
 * costs one request however large the collection.  A database-wide
 * ANALYZE (and autovacuum) never reaches foreign tables; only ANALYZE
 * naming the table does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "access/htup_details.h"
#include "closecrm_fdw.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Objects assumed when nothing tells the count (as planner.c assumes). */
#define CLOSE_ANALYZE_DEFAULT_ROWS 100000.0

static int	close_acquire_sample(Relation relation, int elevel,
								 HeapTuple *rows, int targrows,
								 double *totalrows, double *totaldeadrows);

/*
 * closeAnalyzeForeignTable
 *		Say whether ANALYZE can sample the table: only if Close lists the
 *		collection without a required filter.  A WARNING says why not
 *		otherwise (PostgreSQL then skips the table).
 */
bool
closeAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
						 BlockNumber *totalpages)
{
	CloseTableInfo *table = close_get_table_info(relation);
	const CloseObjectDef *object = table->object;

	if (!(object->ops & CLOSE_OP_LIST) || object->required_filters[0] != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("ANALYZE cannot sample Close foreign table \"%s\"",
						RelationGetRelationName(relation)),
				 (object->ops & CLOSE_OP_LIST) ?
				 errdetail("Close lists \"%s\" only with a filter.", object->name) :
				 errdetail("Close cannot list \"%s\".", object->name),
				 errhint("Set the table option estimated_rows to tell the planner how many objects to expect.")));
		return false;
	}
	*func = close_acquire_sample;
	*totalpages = 1;
	return true;
}

/*
 * sample_path
 *		The request for the first page of "table"'s listing, of up to
 *		"limit" objects, with the fields of all its columns.
 */
static char *
sample_path(CloseTableInfo *table, int limit)
{
	bool	   *all = palloc(sizeof(bool) * Max(table->natts, 1));
	CloseListSpec spec;
	bool		has_custom;
	int			i;

	for (i = 0; i < table->natts; i++)
		all[i] = true;
	memset(&spec, 0, sizeof(spec));
	spec.object = table->object;
	spec.limit_hint = -1;
	spec.fields_given = close_table_fields(table, all, &spec.fields, &has_custom) &&
		(!has_custom || table->object->custom_selectors);
	return close_list_first_page_path(&spec, limit);
}

/*
 * close_acquire_sample
 *		AcquireSampleRowsFunc: one listing request for up to "targrows"
 *		objects (within what Close accepts per page), turned into rows;
 *		*totalrows from Close's count, else the page's, else the estimate
 *		the planner uses when it knows nothing.
 */
static int
close_acquire_sample(Relation relation, int elevel, HeapTuple *rows,
					 int targrows, double *totalrows, double *totaldeadrows)
{
	CloseTableInfo *table = close_get_table_info(relation);
	const CloseObjectDef *object = table->object;
	CloseConnection *conn;
	TupleDesc	tupdesc = RelationGetDescr(relation);
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext work_cxt;
	CloseRequest *req;
	cJSON	   *root;
	cJSON	   *data;
	cJSON	   *item;
	cJSON	   *total;
	Datum	   *values;
	bool	   *nulls;
	int			limit;
	int			nrows = 0;
	int			nobjects;
	bool		complete;
	bool		counted;

	/* as postgres_fdw: the table owner's user mapping (ANALYZE runs as the owner) */
	conn = close_get_connection(GetForeignTable(RelationGetRelid(relation))->serverid,
								relation->rd_rel->relowner);
	limit = object->max_limit > 0 ? object->max_limit : conn->opts.page_size;
	limit = Max(1, Min(limit, targrows));

	work_cxt = AllocSetContextCreate(CurrentMemoryContext,
									 "closecrm_fdw analyze",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);
	req = close_request_make("GET", sample_path(table, limit), NULL);
	close_http_perform(conn, &req, 1);
	if (req->status != 200)
		close_report_http_error(conn, req, psprintf("sample %s", object->name));
	data = close_list_data(req, &root);
	nobjects = cJSON_GetArraySize(data);

	values = palloc(sizeof(Datum) * tupdesc->natts);
	nulls = palloc(sizeof(bool) * tupdesc->natts);
	cJSON_ArrayForEach(item, data)
	{
		HeapTuple	tuple;

		if (nrows >= targrows)
			break;
		if (!cJSON_IsObject(item))
			close_report_malformed_list(req, "An element of \"data\" is not a JSON object.");
		close_object_to_values(item, table, tupdesc, NULL,
							   RelationGetRelationName(relation), values, nulls);
		MemoryContextSwitchTo(caller_cxt);
		tuple = heap_form_tuple(tupdesc, values, nulls);
		MemoryContextSwitchTo(work_cxt);
		rows[nrows++] = tuple;
	}

	/* the whole collection is on the page unless Close says there is more */
	if (object->paging == CLOSE_PAGING_CURSOR)
	{
		cJSON	   *next = cJSON_GetObjectItemCaseSensitive(root, "cursor_next");

		complete = !(cJSON_IsString(next) && next->valuestring[0] != '\0');
	}
	else
		complete = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "has_more"));
	total = cJSON_GetObjectItemCaseSensitive(root, "total_results");
	counted = cJSON_IsNumber(total) && total->valuedouble >= nobjects &&
		total->valuedouble < 1e15;
	if (counted)
		*totalrows = total->valuedouble;
	else if (complete)
		*totalrows = nobjects;
	else if (table->estimated_rows >= 0)
		*totalrows = Max(table->estimated_rows, nobjects);
	else if (table->server_estimated_rows >= 0)
		*totalrows = Max(table->server_estimated_rows, nobjects);
	else
		*totalrows = Max(CLOSE_ANALYZE_DEFAULT_ROWS, nobjects);
	*totaldeadrows = 0;

	ereport(elevel,
			(errmsg("\"%s\": %d objects sampled from one request to Close, %.0f objects %s",
					RelationGetRelationName(relation), nrows, *totalrows,
					counted ? "by Close's count" :
					complete ? "in all" : "assumed (Close gives no count)")));

	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(work_cxt);
	return nrows;
}
