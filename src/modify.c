/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  Changes to Close objects through foreign tables: which operations a
 *		  table allows; INSERT as POST /{object}/; UPDATE as PUT
 *		  /{object}/{id}/ with only the assigned fields; DELETE as DELETE
 *		  /{object}/{id}/; all with RETURNING.  UPDATE and DELETE of a single
 *		  id given as a constant or parameter go straight to Close (no GET
 *		  first); other WHERE clauses find the rows first, then change each
 *		  by id.
 *
 * Close has no transactions: rows a statement already changed stay changed
 * when a later row fails, and the ERROR's context says how many.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "closecrm_fdw.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/clauses.h"
#include "optimizer/inherit.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "commands/trigger.h"
#include "utils/ruleutils.h"

#define ROW_ID_NAME		"close_id"
#define WHOLE_ROW_NAME	"close_wholerow"

/*
 * Fields Close computes itself: never sent on INSERT (a copied row may carry
 * them), and an UPDATE that assigns one is refused.
 */
static const char *const computed_fields[] = {
	"id", "date_created", "date_updated", "created_by", "updated_by",
	"created_by_name", "updated_by_name", "organization_id", "html_url",
	"display_name", NULL
};

/* Indexes into the fdw_private of PlanForeignModify. */
enum CloseModifyPrivateIndex
{
	CloseModifyPrivateTargetAttrs	/* List of Integer: columns sent */
};

/* Indexes into the fdw_private of a direct-modify ForeignScan. */
enum CloseDirectPrivateIndex
{
	CloseDirectPrivateSetProcessed, /* Boolean: count rows in es_processed */
	CloseDirectPrivateTargetAttrs	/* List of Integer: UPDATE's columns */
};

/* Execution state of INSERT, and of UPDATE/DELETE that scan first. */
typedef struct CloseModifyState
{
	CloseConnection *conn;
	CloseTableInfo *table;
	const char *relname;
	CmdType		operation;
	List	   *target_attrs;	/* INSERT/UPDATE: columns sent */
	AttrNumber	id_junk_attno;
	AttrNumber	wholerow_junk_attno;
	int			done;			/* rows Close already changed */
	MemoryContext temp_cxt;
	ErrorContextCallback done_context;	/* says "done" in any ERROR */
} CloseModifyState;

/* Execution state of a direct UPDATE or DELETE. */
typedef struct CloseDirectState
{
	CloseConnection *conn;
	CloseTableInfo *table;
	const char *relname;
	CmdType		operation;
	ExprState  *id_state;
	List	   *value_states;	/* UPDATE: new values, per target attr */
	List	   *target_attrs;
	bool		set_processed;
	bool		done;
} CloseDirectState;

static void push_done_context(CloseModifyState *fmstate);
static void pop_done_context(CloseModifyState *fmstate);

/*
 * operation_flag
 *		The catalog operation a command needs.
 */
static int
operation_flag(CmdType operation)
{
	switch (operation)
	{
		case CMD_INSERT:
			return CLOSE_OP_CREATE;
		case CMD_UPDATE:
			return CLOSE_OP_UPDATE;
		case CMD_DELETE:
			return CLOSE_OP_DELETE;
		default:
			return 0;
	}
}

/*
 * verb_of
 *		How an error message says the command.
 */
static const char *
verb_of(CmdType operation)
{
	return operation == CMD_INSERT ? "insert into" :
		operation == CMD_UPDATE ? "update" : "delete from";
}

/*
 * check_operation_allowed
 *		ERROR, at plan time, if the table's Close object does not support
 *		"operation", the table is not updatable, or (UPDATE, DELETE) the
 *		table has no column holding the object's id.
 */
static void
check_operation_allowed(Relation rel, CloseTableInfo *table, CmdType operation)
{
	const CloseObjectDef *object = table->object;
	const char *verb = verb_of(operation);

	if (!table->updatable)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s foreign table \"%s\"", verb,
						RelationGetRelationName(rel)),
				 errdetail("The table or its server has the option updatable 'false'."),
				 errhint("Run ALTER FOREIGN TABLE %s OPTIONS (SET updatable 'true') to allow changes.",
						 RelationGetRelationName(rel))));
	if (!(object->ops & operation_flag(operation)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s foreign table \"%s\": Close object \"%s\" does not support it",
						verb, RelationGetRelationName(rel), object->name),
				 errdetail("The Close API supports %s for \"%s\".",
						   close_catalog_ops_text(object), object->name),
				 errhint("Use close_raw() for other endpoints of this object.")));
	if (operation != CMD_INSERT && table->id_attno == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("cannot %s foreign table \"%s\": it has no id column",
						verb, RelationGetRelationName(rel)),
				 errhint("Add a text column named %s (or with OPTIONS (field '%s')).",
						 object->key_field, object->key_field)));
}

/*
 * is_computed_field
 *		True if Close computes "field" itself.
 */
static bool
is_computed_field(const char *field)
{
	const char *const *f;

	for (f = computed_fields; *f != NULL; f++)
	{
		if (strcmp(*f, field) == 0)
			return true;
	}
	return false;
}

/*
 * update_target_attrs
 *		The columns an UPDATE of "rel" assigns, checked: ERROR for the id
 *		column, a field Close computes, or a nested path.
 */
static List *
update_target_attrs(PlannerInfo *root, Index rtindex, Relation rel,
					CloseTableInfo *table)
{
	Bitmapset  *cols = get_rel_all_updated_cols(root, find_base_rel(root, rtindex));
	List	   *result = NIL;
	int			col = -1;

	while ((col = bms_next_member(cols, col)) >= 0)
	{
		AttrNumber	attno = col + FirstLowInvalidHeapAttributeNumber;
		const char *field;
		const char *colname;

		if (attno <= InvalidAttrNumber)
			elog(ERROR, "system-column update is not supported");
		field = table->field_names[attno - 1];
		colname = NameStr(TupleDescAttr(RelationGetDescr(rel), attno - 1)->attname);
		if (attno == table->id_attno)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of foreign table \"%s\"",
							colname, RelationGetRelationName(rel)),
					 errdetail("It holds the Close object's %s, which never changes.",
							   table->object->key_field),
					 errhint("Create a new object with INSERT instead.")));
		if (field != NULL && !table->is_attrs[attno - 1] && is_computed_field(field))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of foreign table \"%s\"",
							colname, RelationGetRelationName(rel)),
					 errdetail("Close computes the field \"%s\" itself.", field),
					 errhint("Leave it out of the SET list.")));
		if (field != NULL && !table->is_attrs[attno - 1] &&
			strchr(field, '.') != NULL && strncmp(field, "custom.", 7) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of foreign table \"%s\"",
							colname, RelationGetRelationName(rel)),
					 errdetail("It reads the nested path \"%s\", which Close cannot update on its own.",
							   field),
					 errhint("Update the whole top-level field instead.")));
		result = lappend_int(result, attno);
	}
	return result;
}

/*
 * insert_target_attrs
 *		The columns an INSERT may send: every live column but those whose
 *		field Close computes.  NULLs are left out when the row is sent.
 */
static List *
insert_target_attrs(Relation rel, CloseTableInfo *table)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	List	   *result = NIL;
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		const char *field = table->field_names[i];

		if (TupleDescAttr(tupdesc, i)->attisdropped || field == NULL)
			continue;
		if (!table->is_attrs[i] && is_computed_field(field))
			continue;
		result = lappend_int(result, i + 1);
	}
	return result;
}

/*
 * closeIsForeignRelUpdatable
 *		The commands the table allows: those its Close object supports,
 *		none when updatable is false.
 */
int
closeIsForeignRelUpdatable(Relation rel)
{
	CloseTableInfo *table = close_get_table_info(rel);
	int			result = 0;

	if (!table->updatable)
		return 0;
	if (table->object->ops & CLOSE_OP_CREATE)
		result |= (1 << CMD_INSERT);
	if ((table->object->ops & CLOSE_OP_UPDATE) && table->id_attno != 0)
		result |= (1 << CMD_UPDATE);
	if ((table->object->ops & CLOSE_OP_DELETE) && table->id_attno != 0)
		result |= (1 << CMD_DELETE);
	return result;
}

/*
 * closeAddForeignUpdateTargets
 *		Rows to change are identified by their id column.  A DELETE with
 *		RETURNING also carries the whole row, since Close's DELETE answers
 *		with no object (UPDATE's RETURNING comes from Close's answer).
 */
void
closeAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
							 RangeTblEntry *target_rte, Relation target_relation)
{
	CloseTableInfo *table = close_get_table_info(target_relation);
	Form_pg_attribute att;
	Var		   *var;

	check_operation_allowed(target_relation, table, root->parse->commandType);
	att = TupleDescAttr(RelationGetDescr(target_relation), table->id_attno - 1);
	var = makeVar(rtindex, table->id_attno, att->atttypid, att->atttypmod,
				  att->attcollation, 0);
	add_row_identity_var(root, var, rtindex, ROW_ID_NAME);
	if (root->parse->commandType == CMD_DELETE && root->parse->returningList != NIL)
	{
		var = makeWholeRowVar(target_rte, rtindex, 0, false);
		add_row_identity_var(root, var, rtindex, WHOLE_ROW_NAME);
	}
}

/*
 * closePlanForeignModify
 *		Check the operation is allowed and decide which columns are sent.
 */
List *
closePlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					   Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);
	CloseTableInfo *table = close_get_table_info(rel);
	List	   *target_attrs = NIL;

	check_operation_allowed(rel, table, plan->operation);
	if (plan->operation == CMD_INSERT)
	{
		if (plan->onConflictAction != ONCONFLICT_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("INSERT with ON CONFLICT is not supported by closecrm_fdw"),
					 errdetail("Close has no unique constraints to detect a conflict with."),
					 errhint("Check for the object first, or UPDATE it by id.")));
		target_attrs = insert_target_attrs(rel, table);
	}
	else if (plan->operation == CMD_UPDATE)
		target_attrs = update_target_attrs(root, resultRelation, rel, table);
	table_close(rel, NoLock);
	return list_make1(target_attrs);
}

/*
 * closeBeginForeignModify
 *		Set up for sending one request per row; find the junk columns
 *		carrying each row's id (and whole row).
 */
void
closeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, int eflags)
{
	CloseModifyState *fmstate = palloc0(sizeof(CloseModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	EState	   *estate = mtstate->ps.state;

	rinfo->ri_FdwState = fmstate;
	fmstate->table = close_get_table_info(rel);
	fmstate->relname = RelationGetRelationName(rel);
	fmstate->operation = mtstate->operation;
	fmstate->target_attrs = (List *) list_nth(fdw_private, CloseModifyPrivateTargetAttrs);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	fmstate->conn = close_get_connection(GetForeignTable(RelationGetRelid(rel))->serverid,
										 close_result_rel_user(rinfo, estate));
	if (fmstate->operation != CMD_INSERT)
	{
		Plan	   *subplan = outerPlanState(mtstate)->plan;

		fmstate->id_junk_attno = ExecFindJunkAttributeInTlist(subplan->targetlist,
															  ROW_ID_NAME);
		if (!AttributeNumberIsValid(fmstate->id_junk_attno))
			elog(ERROR, "could not find junk column \"%s\"", ROW_ID_NAME);
		fmstate->wholerow_junk_attno = ExecFindJunkAttributeInTlist(subplan->targetlist,
																	WHOLE_ROW_NAME);
	}
	fmstate->temp_cxt = AllocSetContextCreate(estate->es_query_cxt,
											  "closecrm_fdw modify",
											  ALLOCSET_SMALL_SIZES);
	push_done_context(fmstate);
}

/*
 * closeBeginForeignInsert
 *		Set up for rows COPY or partition routing inserts (no ModifyTable
 *		planned for this table, so PlanForeignModify never ran): checks and
 *		columns as for INSERT.
 */
void
closeBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	CloseModifyState *fmstate = palloc0(sizeof(CloseModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	EState	   *estate = mtstate->ps.state;
	Oid			userid;

	fmstate->table = close_get_table_info(rel);
	check_operation_allowed(rel, fmstate->table, CMD_INSERT);
	fmstate->relname = RelationGetRelationName(rel);
	fmstate->operation = CMD_INSERT;
	fmstate->target_attrs = insert_target_attrs(rel, fmstate->table);
	userid = close_result_rel_user(rinfo, estate);
	fmstate->conn = close_get_connection(GetForeignTable(RelationGetRelid(rel))->serverid,
										 userid);
	fmstate->temp_cxt = AllocSetContextCreate(estate->es_query_cxt,
											  "closecrm_fdw modify",
											  ALLOCSET_SMALL_SIZES);
	rinfo->ri_FdwState = fmstate;
	push_done_context(fmstate);
}

/*
 * closeEndForeignInsert
 *		Take the statement's error context away; memory goes with the query.
 */
void
closeEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	pop_done_context((CloseModifyState *) rinfo->ri_FdwState);
}

/*
 * rows_done_callback
 *		Error context of a statement that changes Close: how many of its rows
 *		Close has already changed (nothing when none).  It stands for the
 *		whole statement — a failing row, or the query feeding the rows — as
 *		those rows stay changed.
 */
static void
rows_done_callback(void *arg)
{
	CloseModifyState *fmstate = (CloseModifyState *) arg;
	const char *participle = fmstate->operation == CMD_INSERT ? "created" :
		fmstate->operation == CMD_UPDATE ? "updated" : "deleted";

	if (fmstate->done == 0)
		return;
	errcontext("%d row%s of this statement %s already %s in Close, which has no transactions to undo %s",
			   fmstate->done, fmstate->done == 1 ? "" : "s",
			   fmstate->done == 1 ? "was" : "were",
			   participle, fmstate->done == 1 ? "it" : "them");
}

/*
 * push_done_context
 *		Put the statement's rows_done_callback on the error context stack,
 *		from Begin to End of the modification.
 */
static void
push_done_context(CloseModifyState *fmstate)
{
	fmstate->done_context.callback = rows_done_callback;
	fmstate->done_context.arg = fmstate;
	fmstate->done_context.previous = error_context_stack;
	error_context_stack = &fmstate->done_context;
}

/*
 * pop_done_context
 *		Take the statement's callback off the error context stack, wherever
 *		it is (another result relation's may have been pushed after it).
 */
static void
pop_done_context(CloseModifyState *fmstate)
{
	ErrorContextCallback *cb;

	if (fmstate == NULL || fmstate->done_context.callback == NULL)
		return;
	if (error_context_stack == &fmstate->done_context)
		error_context_stack = fmstate->done_context.previous;
	else
	{
		for (cb = error_context_stack; cb != NULL; cb = cb->previous)
		{
			if (cb->previous == &fmstate->done_context)
			{
				cb->previous = fmstate->done_context.previous;
				break;
			}
		}
	}
	fmstate->done_context.callback = NULL;
}

/*
 * send_change
 *		Send one change; returns the request once Close answered with a
 *		success status, NULL when it had no such object (404, not for
 *		POST).  Other answers are ERRORs (whose context, rows_done_callback,
 *		says how many earlier rows this statement had already changed).
 */
static CloseRequest *
send_change(CloseConnection *conn, const char *method, const char *path,
			const char *body, const char *action)
{
	CloseRequest *req = close_request_make(method, path, body);

	close_http_perform(conn, &req, 1);
	if (req->status == 404 && strcmp(method, "POST") != 0)
		return NULL;
	if (req->status >= 200 && req->status < 300)
		return req;
	close_report_http_error(conn, req, action);
	return NULL;				/* not reached */
}

/*
 * store_answer
 *		Fill "slot" from the object Close answered with (RETURNING after
 *		INSERT or UPDATE).
 */
static void
store_answer(CloseRequest *req, CloseTableInfo *table, const char *relname,
			 TupleTableSlot *slot)
{
	cJSON	   *obj = close_json_parse(req->response.data, req->response.len);

	if (!cJSON_IsObject(obj))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("Close answered %s %s without the object", req->method, req->path),
				 errdetail("Expected a JSON object; the body starts: %s",
						   close_error_text(req->response.data, req->response.len)),
				 errhint("The change was made in Close; read the object back with a SELECT.")));
	ExecClearTuple(slot);
	close_object_to_values(obj, table, slot->tts_tupleDescriptor, NULL, relname,
						   slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
}

/*
 * row_id_text
 *		The id of the row to change, from its junk column; NULL if it has
 *		none.
 */
static char *
row_id_text(CloseModifyState *fmstate, Relation rel, TupleTableSlot *planSlot)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
										  fmstate->table->id_attno - 1);
	bool		isnull;
	Datum		id = ExecGetJunkAttribute(planSlot, fmstate->id_junk_attno, &isnull);
	char	   *text;

	if (isnull)
		return NULL;
	text = close_datum_text(id, att->atttypid);
	return text[0] ? text : NULL;
}

/*
 * closeExecForeignInsert
 *		POST the row (its non-NULL columns) and fill the slot from the object
 *		Close created, for RETURNING.
 */
TupleTableSlot *
closeExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	const CloseObjectDef *object = fmstate->table->object;
	MemoryContext old;
	CloseRequest *req;
	char	   *body;

	MemoryContextReset(fmstate->temp_cxt);
	old = MemoryContextSwitchTo(fmstate->temp_cxt);
	slot_getallattrs(slot);
	body = close_values_to_json(fmstate->table, slot->tts_tupleDescriptor,
								slot->tts_values, slot->tts_isnull,
								fmstate->target_attrs, false, NULL);
	req = send_change(fmstate->conn, "POST", psprintf("/%s/", object->name), body,
					  psprintf("create %s", object->name));
	fmstate->done++;
	store_answer(req, fmstate->table, fmstate->relname, slot);
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * closeGetForeignModifyBatchSize
 *		Rows an INSERT hands over at once: max_concurrency, so that their
 *		POSTs go out together; 1 when RETURNING or row triggers need each
 *		row back before the next is sent.
 */
int
closeGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	TriggerDesc *trigdesc = rinfo->ri_TrigDesc;
	CloseServerOptions opts;

	if (rinfo->ri_projectReturning != NULL ||
		(trigdesc && (trigdesc->trig_insert_after_row ||
					  trigdesc->trig_insert_before_row)))
		return 1;
	if (fmstate != NULL && fmstate->conn != NULL)
		return fmstate->conn->opts.max_concurrency;
	close_get_server_options(GetForeignServer(GetForeignTable(
															  RelationGetRelid(rinfo->ri_RelationDesc))->serverid),
							 &opts);
	return opts.max_concurrency;
}

/*
 * closeExecForeignBatchInsert
 *		POST a batch of rows concurrently.  If Close refuses any, the ERROR
 *		says how many rows of the statement (this batch included) it did
 *		create, as those stay created.
 */
TupleTableSlot **
closeExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
							TupleTableSlot **slots, TupleTableSlot **planSlots,
							int *numSlots)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	const CloseObjectDef *object = fmstate->table->object;
	MemoryContext old;
	CloseRequest **reqs;
	CloseRequest *failed = NULL;
	int			i;

	MemoryContextReset(fmstate->temp_cxt);
	old = MemoryContextSwitchTo(fmstate->temp_cxt);
	reqs = palloc(sizeof(CloseRequest *) * *numSlots);
	for (i = 0; i < *numSlots; i++)
	{
		slot_getallattrs(slots[i]);
		reqs[i] = close_request_make("POST", psprintf("/%s/", object->name),
									 close_values_to_json(fmstate->table,
														  slots[i]->tts_tupleDescriptor,
														  slots[i]->tts_values,
														  slots[i]->tts_isnull,
														  fmstate->target_attrs, false,
														  NULL));
	}
	close_http_perform(fmstate->conn, reqs, *numSlots);
	for (i = 0; i < *numSlots; i++)
	{
		if (reqs[i]->status >= 200 && reqs[i]->status < 300)
			fmstate->done++;
		else if (failed == NULL)
			failed = reqs[i];
	}
	if (failed != NULL)
		close_report_http_error(fmstate->conn, failed,
								psprintf("create %s", object->name));
	MemoryContextSwitchTo(old);
	return slots;
}

/*
 * closeExecForeignUpdate
 *		PUT the assigned columns (NULL as JSON null) to the row's object, and
 *		fill the slot from Close's answer; NULL (row not counted) if the
 *		object is gone.
 */
TupleTableSlot *
closeExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	const CloseObjectDef *object = fmstate->table->object;
	MemoryContext old;
	CloseRequest *req;
	char	   *id;
	char	   *body;

	MemoryContextReset(fmstate->temp_cxt);
	old = MemoryContextSwitchTo(fmstate->temp_cxt);
	id = row_id_text(fmstate, rinfo->ri_RelationDesc, planSlot);
	if (id == NULL)
	{
		MemoryContextSwitchTo(old);
		return NULL;
	}
	slot_getallattrs(slot);
	body = close_values_to_json(fmstate->table, slot->tts_tupleDescriptor,
								slot->tts_values, slot->tts_isnull,
								fmstate->target_attrs, true, NULL);
	req = send_change(fmstate->conn, "PUT", close_object_path(object, id), body,
					  psprintf("update %s \"%s\"", object->name, id));
	if (req == NULL)
	{
		MemoryContextSwitchTo(old);
		return NULL;
	}
	fmstate->done++;
	store_answer(req, fmstate->table, fmstate->relname, slot);
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * closeExecForeignDelete
 *		Delete the scanned row's object by id; NULL (row not counted) if it
 *		was already gone.  RETURNING shows the row as it was scanned.
 */
TupleTableSlot *
closeExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	const CloseObjectDef *object = fmstate->table->object;
	MemoryContext old;
	char	   *id;
	bool		deleted;

	MemoryContextReset(fmstate->temp_cxt);
	old = MemoryContextSwitchTo(fmstate->temp_cxt);
	id = row_id_text(fmstate, rinfo->ri_RelationDesc, planSlot);
	deleted = id != NULL &&
		send_change(fmstate->conn, "DELETE", close_object_path(object, id), NULL,
					psprintf("delete %s \"%s\"", object->name, id)) != NULL;
	MemoryContextSwitchTo(old);
	if (!deleted)
		return NULL;
	fmstate->done++;

	if (AttributeNumberIsValid(fmstate->wholerow_junk_attno))
	{
		bool		isnull;
		Datum		row = ExecGetJunkAttribute(planSlot,
											   fmstate->wholerow_junk_attno,
											   &isnull);
		HeapTupleHeader td = DatumGetHeapTupleHeader(row);
		HeapTupleData tuple;

		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = RelationGetRelid(rinfo->ri_RelationDesc);
		tuple.t_data = td;
		ExecClearTuple(slot);
		heap_deform_tuple(&tuple, slot->tts_tupleDescriptor,
						  slot->tts_values, slot->tts_isnull);
		ExecStoreVirtualTuple(slot);
	}
	return slot;
}

/*
 * closeEndForeignModify
 *		Take the statement's error context away; memory goes with the query.
 */
void
closeEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	pop_done_context((CloseModifyState *) rinfo->ri_FdwState);
}

/*
 * find_modify_scan
 *		The ForeignScan that produces the rows of result relation "rtindex"
 *		in ModifyTable "plan", or NULL.
 */
static ForeignScan *
find_modify_scan(ModifyTable *plan, Index rtindex, int subplan_index)
{
	Plan	   *subplan = outerPlan(plan);

	if (subplan != NULL && IsA(subplan, Append))
	{
		Append	   *append = (Append *) subplan;

		subplan = subplan_index < list_length(append->appendplans) ?
			list_nth(append->appendplans, subplan_index) : NULL;
	}
	if (subplan != NULL && IsA(subplan, ForeignScan) &&
		((ForeignScan *) subplan)->scan.scanrelid == rtindex)
		return (ForeignScan *) subplan;
	return NULL;
}

/*
 * closePlanDirectModify
 *		Turn "UPDATE/DELETE ... WHERE id = <const or $n>" into one PUT or
 *		DELETE with no GET before it.  Declines (the scan-then-change path
 *		runs instead) when other conditions need the row, when new values
 *		depend on the row's current ones, or when a DELETE's RETURNING needs
 *		columns other than id.
 */
bool
closePlanDirectModify(PlannerInfo *root, ModifyTable *plan,
					  Index resultRelation, int subplan_index)
{
	CmdType		operation = plan->operation;
	ForeignScan *fscan;
	RangeTblEntry *rte;
	Relation	rel;
	CloseTableInfo *table;
	Expr	   *id_expr;
	bool		is_array;
	bool		ok = true;
	List	   *target_attrs = NIL;
	List	   *value_exprs = NIL;

	if (operation != CMD_DELETE && operation != CMD_UPDATE)
		return false;
	fscan = find_modify_scan(plan, resultRelation, subplan_index);
	if (fscan == NULL ||
		intVal(list_nth(fscan->fdw_private, CloseScanPrivateKind)) != CLOSE_SCAN_LOOKUP ||
		boolVal(list_nth(fscan->fdw_private, CloseScanPrivateIdIsArray)) ||
		list_length(fscan->scan.plan.qual) != 1)
		return false;

	rte = planner_rt_fetch(resultRelation, root);
	rel = table_open(rte->relid, NoLock);
	table = close_get_table_info(rel);
	check_operation_allowed(rel, table, operation);
	if (!close_is_id_lookup_clause(linitial(fscan->scan.plan.qual),
								   resultRelation, table->id_attno,
								   &id_expr, &is_array) || is_array)
		ok = false;

	if (ok && operation == CMD_UPDATE)
	{
		List	   *processed_tlist;
		List	   *colnos;
		ListCell   *lt,
				   *la;

		get_translated_update_targetlist(root, resultRelation,
										 &processed_tlist, &colnos);
		(void) update_target_attrs(root, resultRelation, rel, table);
		forboth(lt, processed_tlist, la, colnos)
		{
			Expr	   *expr = lfirst_node(TargetEntry, lt)->expr;

			/* the new value must not need the object's current state */
			if (bms_is_member(resultRelation, pull_varnos(root, (Node *) expr)) ||
				contain_subplans((Node *) expr))
				ok = false;
			target_attrs = lappend_int(target_attrs, lfirst_int(la));
			value_exprs = lappend(value_exprs, expr);
		}
	}
	if (ok && operation == CMD_DELETE && plan->returningLists != NIL)
	{
		List	   *returning = list_nth(plan->returningLists, subplan_index);
		Bitmapset  *attrs = NULL;
		int			idx = -1;

		pull_varattnos((Node *) returning, resultRelation, &attrs);
		while ((idx = bms_next_member(attrs, idx)) >= 0)
		{
			if (idx + FirstLowInvalidHeapAttributeNumber != table->id_attno)
				ok = false;
		}
	}
	table_close(rel, NoLock);
	if (!ok)
		return false;

	fscan->operation = operation;
	fscan->resultRelation = resultRelation;
	fscan->scan.plan.qual = NIL;
	fscan->fdw_exprs = lcons(id_expr, value_exprs);
	fscan->fdw_private = list_make2(makeBoolean(plan->canSetTag), target_attrs);
	return true;
}

/*
 * closeBeginDirectModify
 *		Prepare the id and new-value expressions; nothing is sent yet.
 */
void
closeBeginDirectModify(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	CloseDirectState *dmstate = palloc0(sizeof(CloseDirectState));
	Relation	rel = node->resultRelInfo->ri_RelationDesc;

	node->fdw_state = dmstate;
	dmstate->table = close_get_table_info(rel);
	dmstate->relname = RelationGetRelationName(rel);
	dmstate->operation = fsplan->operation;
	dmstate->target_attrs = (List *) list_nth(fsplan->fdw_private,
											  CloseDirectPrivateTargetAttrs);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	dmstate->conn = close_get_connection(GetForeignTable(RelationGetRelid(rel))->serverid,
										 close_scan_user(fsplan, fsplan->resultRelation, estate));
	dmstate->id_state = ExecInitExpr(linitial(fsplan->fdw_exprs), (PlanState *) node);
	dmstate->value_states = ExecInitExprList(list_delete_first(list_copy(fsplan->fdw_exprs)),
											 (PlanState *) node);
	dmstate->set_processed = boolVal(list_nth(fsplan->fdw_private,
											  CloseDirectPrivateSetProcessed));
}

/*
 * store_id_only
 *		Fill "slot" with just the id column (RETURNING of a direct DELETE:
 *		Close answers a DELETE with no object).
 */
static void
store_id_only(TupleTableSlot *slot, CloseTableInfo *table, const char *id)
{
	Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor,
										  table->id_attno - 1);
	Oid			infunc;
	Oid			ioparam;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
		slot->tts_isnull[i] = true;
	getTypeInputInfo(att->atttypid, &infunc, &ioparam);
	slot->tts_values[table->id_attno - 1] =
		OidInputFunctionCall(infunc, (char *) id, ioparam, att->atttypmod);
	slot->tts_isnull[table->id_attno - 1] = false;
	ExecStoreVirtualTuple(slot);
}

/*
 * closeIterateDirectModify
 *		Send the one PUT or DELETE; the row count is 1 if Close changed an
 *		object, 0 if it had none with that id.  RETURNING gets the object
 *		Close answered an UPDATE with, or a DELETE's id.
 */
TupleTableSlot *
closeIterateDirectModify(ForeignScanState *node)
{
	CloseDirectState *dmstate = (CloseDirectState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ResultRelInfo *rinfo = node->resultRelInfo;
	EState	   *estate = node->ss.ps.state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	const CloseObjectDef *object = dmstate->table->object;
	CloseRequest *req;
	List	   *ids;
	char	   *id;

	ExecClearTuple(slot);
	if (dmstate->done)
		return slot;
	dmstate->done = true;

	ids = close_eval_ids(list_make1(dmstate->id_state), false, econtext);
	if (ids == NIL)
		return slot;
	id = strVal(linitial(ids));

	if (dmstate->operation == CMD_UPDATE)
	{
		TupleDesc	tupdesc = slot->tts_tupleDescriptor;
		Datum	   *values = palloc0(sizeof(Datum) * tupdesc->natts);
		bool	   *isnull = palloc0(sizeof(bool) * tupdesc->natts);
		ListCell   *la,
				   *lv;

		forboth(la, dmstate->target_attrs, lv, dmstate->value_states)
		{
			int			attno = lfirst_int(la);

			values[attno - 1] = ExecEvalExpr((ExprState *) lfirst(lv), econtext,
											 &isnull[attno - 1]);
		}
		req = send_change(dmstate->conn, "PUT", close_object_path(object, id),
						  close_values_to_json(dmstate->table, tupdesc, values, isnull,
											   dmstate->target_attrs, true, NULL),
						  psprintf("update %s \"%s\"", object->name, id));
	}
	else
		req = send_change(dmstate->conn, "DELETE", close_object_path(object, id), NULL,
						  psprintf("delete %s \"%s\"", object->name, id));
	if (req == NULL)
		return slot;

	if (dmstate->set_processed)
		estate->es_processed += 1;
	if (node->ss.ps.instrument)
		node->ss.ps.instrument->tuplecount += 1;
	if (rinfo->ri_projectReturning == NULL)
		return slot;

	if (dmstate->operation == CMD_UPDATE)
		store_answer(req, dmstate->table, dmstate->relname, slot);
	else
		store_id_only(slot, dmstate->table, id);
	rinfo->ri_projectReturning->pi_exprContext->ecxt_scantuple = slot;
	return slot;
}

/*
 * closeEndDirectModify
 *		Nothing to release.
 */
void
closeEndDirectModify(ForeignScanState *node)
{
}

/*
 * describe_change
 *		"PUT /lead/{id}/ {"name", "custom.cf_x"}"-style text of the request a
 *		change sends, naming the fields an UPDATE assigns.
 */
static char *
describe_change(CmdType operation, CloseTableInfo *table, List *target_attrs,
				const char *suffix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	if (operation == CMD_INSERT)
		appendStringInfo(&buf, "POST /%s/", table->object->name);
	else
		appendStringInfo(&buf, "%s /%s/{id}/",
						 operation == CMD_UPDATE ? "PUT" : "DELETE",
						 table->object->name);
	if (operation == CMD_UPDATE)
	{
		appendStringInfoString(&buf, " {");
		foreach(lc, target_attrs)
			appendStringInfo(&buf, "%s\"%s\"", foreach_current_index(lc) > 0 ? ", " : "",
							 table->field_names[lfirst_int(lc) - 1]);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, suffix);
	return buf.data;
}

/*
 * closeExplainDirectModify
 *		Show the single request a direct UPDATE or DELETE sends.
 */
void
closeExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	CloseDirectState *dmstate = (CloseDirectState *) node->fdw_state;

	ExplainPropertyText("Close Request",
						describe_change(dmstate->operation, dmstate->table,
										dmstate->target_attrs, ""),
						es);
	if (es->verbose)
	{
		ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   node->ss.ps.plan, NIL);

		ExplainPropertyText("Close Ids",
							deparse_expression(linitial(fsplan->fdw_exprs),
											   context, false, false),
							es);
	}
}

/*
 * closeExplainForeignModify
 *		Show the request sent for each row.
 */
void
closeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						  List *fdw_private, int subplan_index,
						  ExplainState *es)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;

	ExplainPropertyText("Close Request",
						describe_change(mtstate->operation, fmstate->table,
										fmstate->target_attrs,
										mtstate->operation == CMD_INSERT ?
										" for each row" : " for each row found"),
						es);
	if (es->verbose && mtstate->operation == CMD_INSERT && rinfo->ri_BatchSize > 1)
		ExplainPropertyInteger("Batch Size", NULL, rinfo->ri_BatchSize, es);
}
