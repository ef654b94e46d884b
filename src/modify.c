/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  Changes to Close objects through foreign tables: which operations a
 *		  table allows, DELETE sent directly as one DELETE /{object}/{id}/
 *		  when the statement names a single id (no GET first), and DELETE of
 *		  each row a scan finds otherwise; RETURNING in both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "closecrm_fdw.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/ruleutils.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define ROW_ID_NAME		"close_id"
#define WHOLE_ROW_NAME	"close_wholerow"

/* Indexes into the fdw_private of a direct-modify ForeignScan. */
enum CloseDirectPrivateIndex
{
	CloseDirectPrivateSetProcessed	/* Boolean: count rows in es_processed */
};

/* Execution state of a DELETE that scans first. */
typedef struct CloseModifyState
{
	CloseConnection *conn;
	CloseTableInfo *table;
	AttrNumber	id_junk_attno;
	AttrNumber	wholerow_junk_attno;
	int			sent;			/* requests that reached Close */
	MemoryContext temp_cxt;
} CloseModifyState;

/* Execution state of a direct DELETE. */
typedef struct CloseDirectState
{
	CloseConnection *conn;
	CloseTableInfo *table;
	ExprState  *id_state;
	bool		set_processed;
	bool		done;
} CloseDirectState;

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
 * check_operation_allowed
 *		ERROR, at plan time, if the table's Close object does not support
 *		"operation", the table is not updatable, or closecrm_fdw does not
 *		implement the operation yet.
 */
static void
check_operation_allowed(Relation rel, CloseTableInfo *table, CmdType operation)
{
	const CloseObjectDef *object = table->object;
	const char *verb = operation == CMD_INSERT ? "insert into" :
		operation == CMD_UPDATE ? "update" : "delete from";

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
	if (operation != CMD_DELETE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s foreign table \"%s\": closecrm_fdw does not support %s yet",
						verb, RelationGetRelationName(rel),
						operation == CMD_INSERT ? "INSERT" : "UPDATE"),
				 errhint("Use close_raw('%s', '/%s/...', body) meanwhile.",
						 operation == CMD_INSERT ? "POST" : "PUT", object->name)));
	if (table->id_attno == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("cannot %s foreign table \"%s\": it has no id column",
						verb, RelationGetRelationName(rel)),
				 errhint("Add a text column named id (or with OPTIONS (field 'id')).")));
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
	if (table->object->ops & CLOSE_OP_DELETE)
		result |= (1 << CMD_DELETE);
	return result;
}

/*
 * closeAddForeignUpdateTargets
 *		Rows to delete are identified by their id column; with RETURNING the
 *		whole row is carried along too, since Close's DELETE answers with no
 *		object.
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
	if (root->parse->returningList != NIL)
	{
		var = makeWholeRowVar(target_rte, rtindex, 0, false);
		add_row_identity_var(root, var, rtindex, WHOLE_ROW_NAME);
	}
}

/*
 * closePlanForeignModify
 *		Check the operation is allowed; nothing else to plan.
 */
List *
closePlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					   Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);

	check_operation_allowed(rel, close_get_table_info(rel), plan->operation);
	table_close(rel, NoLock);
	return NIL;
}

/*
 * result_user
 *		The role whose user mapping a modification of range table entry
 *		"rtindex" uses.
 */
static Oid
result_user(EState *estate, Index rtindex)
{
	RangeTblEntry *rte = exec_rt_fetch(rtindex, estate);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
}

/*
 * closeBeginForeignModify
 *		Find the junk columns carrying each row's id (and whole row).
 */
void
closeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, int eflags)
{
	CloseModifyState *fmstate = palloc0(sizeof(CloseModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	Plan	   *subplan = outerPlanState(mtstate)->plan;
	EState	   *estate = mtstate->ps.state;

	rinfo->ri_FdwState = fmstate;
	fmstate->table = close_get_table_info(rel);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	fmstate->conn = close_get_connection(GetForeignTable(RelationGetRelid(rel))->serverid,
										 result_user(estate, rinfo->ri_RangeTableIndex));
	fmstate->id_junk_attno = ExecFindJunkAttributeInTlist(subplan->targetlist,
														  ROW_ID_NAME);
	if (!AttributeNumberIsValid(fmstate->id_junk_attno))
		elog(ERROR, "could not find junk column \"%s\"", ROW_ID_NAME);
	fmstate->wholerow_junk_attno = ExecFindJunkAttributeInTlist(subplan->targetlist,
																WHOLE_ROW_NAME);
	fmstate->temp_cxt = AllocSetContextCreate(estate->es_query_cxt,
											  "closecrm_fdw modify",
											  ALLOCSET_SMALL_SIZES);
}

/* error context callback: how many rows the failing statement had done */
static void
rows_already_done_callback(void *arg)
{
	int			done = *(int *) arg;

	errcontext("%d earlier row%s of this statement %s already deleted in Close, which has no transactions to undo %s",
			   done, done == 1 ? "" : "s", done == 1 ? "was" : "were",
			   done == 1 ? "it" : "them");
}

/*
 * send_delete
 *		DELETE /{object}/{id}/: true if Close deleted it, false if there was
 *		no such object (404).  Other answers are ERRORs, whose context says
 *		how many earlier rows ("done_before") this statement had deleted.
 */
static bool
send_delete(CloseConnection *conn, const CloseObjectDef *object,
			const char *id, int done_before)
{
	CloseRequest *req = close_request_make("DELETE", close_object_path(object, id), NULL);
	ErrorContextCallback errcallback;

	close_http_perform(conn, &req, 1);
	if (req->status == 404)
		return false;
	if (req->status == 200 || req->status == 204 || req->status == 202)
		return true;

	errcallback.callback = rows_already_done_callback;
	errcallback.arg = &done_before;
	errcallback.previous = error_context_stack;
	if (done_before > 0)
		error_context_stack = &errcallback;
	close_report_http_error(conn, req, psprintf("delete %s \"%s\"", object->name, id));
	return false;				/* not reached */
}

/*
 * closeExecForeignDelete
 *		Delete the scanned row's object by id; NULL (row not counted) if it
 *		was already gone.
 */
TupleTableSlot *
closeExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	CloseModifyState *fmstate = (CloseModifyState *) rinfo->ri_FdwState;
	Relation	rel = rinfo->ri_RelationDesc;
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
										  fmstate->table->id_attno - 1);
	MemoryContext old;
	bool		isnull;
	Datum		id;
	char	   *idtext;
	Oid			outfunc;
	bool		isvarlena;
	bool		deleted;

	id = ExecGetJunkAttribute(planSlot, fmstate->id_junk_attno, &isnull);
	if (isnull)
		return NULL;

	MemoryContextReset(fmstate->temp_cxt);
	old = MemoryContextSwitchTo(fmstate->temp_cxt);
	getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
	idtext = OidOutputFunctionCall(outfunc, id);
	deleted = idtext[0] != '\0' &&
		send_delete(fmstate->conn, fmstate->table->object, idtext, fmstate->sent);
	MemoryContextSwitchTo(old);
	if (!deleted)
		return NULL;
	fmstate->sent++;

	if (AttributeNumberIsValid(fmstate->wholerow_junk_attno))
	{
		Datum		row = ExecGetJunkAttribute(planSlot,
											   fmstate->wholerow_junk_attno,
											   &isnull);
		HeapTupleHeader td = DatumGetHeapTupleHeader(row);
		HeapTupleData tuple;

		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = RelationGetRelid(rel);
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
 *		Nothing to release.
 */
void
closeEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
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
 *		Turn "DELETE FROM t WHERE id = <const or $n>" into one DELETE request
 *		with no GET before it.  Declines (the scan-then-delete path runs
 *		instead) when other conditions need the row, or RETURNING needs
 *		columns other than id.
 */
bool
closePlanDirectModify(PlannerInfo *root, ModifyTable *plan,
					  Index resultRelation, int subplan_index)
{
	ForeignScan *fscan;
	RangeTblEntry *rte;
	Relation	rel;
	CloseTableInfo *table;
	Expr	   *id_expr;
	bool		is_array;
	bool		ok = true;

	if (plan->operation != CMD_DELETE)
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
	check_operation_allowed(rel, table, CMD_DELETE);
	if (!close_is_id_lookup_clause(linitial(fscan->scan.plan.qual),
								   resultRelation, table->id_attno,
								   &id_expr, &is_array) || is_array)
		ok = false;
	if (ok && plan->returningLists != NIL)
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

	fscan->operation = CMD_DELETE;
	fscan->resultRelation = resultRelation;
	fscan->scan.plan.qual = NIL;
	fscan->fdw_exprs = list_make1(id_expr);
	fscan->fdw_private = list_make1(makeBoolean(plan->canSetTag));
	return true;
}

/*
 * closeBeginDirectModify
 *		Prepare the id expression; nothing is sent yet.
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
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	dmstate->conn = close_get_connection(GetForeignTable(RelationGetRelid(rel))->serverid,
										 result_user(estate, fsplan->resultRelation));
	dmstate->id_state = ExecInitExpr(linitial(fsplan->fdw_exprs), (PlanState *) node);
	dmstate->set_processed = boolVal(list_nth(fsplan->fdw_private,
											  CloseDirectPrivateSetProcessed));
}

/*
 * closeIterateDirectModify
 *		Send the one DELETE; the row count is 1 if Close deleted an object,
 *		0 if it had none with that id.  With RETURNING, the row returned has
 *		the id and no other column.
 */
TupleTableSlot *
closeIterateDirectModify(ForeignScanState *node)
{
	CloseDirectState *dmstate = (CloseDirectState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ResultRelInfo *rinfo = node->resultRelInfo;
	EState	   *estate = node->ss.ps.state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	List	   *ids;
	char	   *id;
	int			i;

	ExecClearTuple(slot);
	if (dmstate->done)
		return slot;
	dmstate->done = true;

	ids = close_eval_ids(list_make1(dmstate->id_state), false, econtext);
	if (ids == NIL)
		return slot;
	id = strVal(linitial(ids));
	if (!send_delete(dmstate->conn, dmstate->table->object, id, 0))
		return slot;

	if (dmstate->set_processed)
		estate->es_processed += 1;
	if (node->ss.ps.instrument)
		node->ss.ps.instrument->tuplecount += 1;
	if (rinfo->ri_projectReturning == NULL)
		return slot;

	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
		slot->tts_isnull[i] = true;
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor,
											  dmstate->table->id_attno - 1);
		Oid			infunc;
		Oid			ioparam;

		getTypeInputInfo(att->atttypid, &infunc, &ioparam);
		slot->tts_values[dmstate->table->id_attno - 1] =
			OidInputFunctionCall(infunc, id, ioparam, att->atttypmod);
		slot->tts_isnull[dmstate->table->id_attno - 1] = false;
	}
	ExecStoreVirtualTuple(slot);
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
 * closeExplainDirectModify
 *		Show the single request a direct DELETE sends.
 */
void
closeExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	CloseDirectState *dmstate = (CloseDirectState *) node->fdw_state;

	ExplainPropertyText("Close Request",
						psprintf("DELETE /%s/{id}/", dmstate->table->object->name),
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
 *		Show the request sent for each row the scan finds.
 */
void
closeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						  List *fdw_private, int subplan_index,
						  ExplainState *es)
{
	CloseTableInfo *table = close_get_table_info(rinfo->ri_RelationDesc);

	ExplainPropertyText("Close Request",
						psprintf("DELETE /%s/{id}/ for each row", table->object->name),
						es);
}
