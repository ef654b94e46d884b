/*-------------------------------------------------------------------------
 *
 * planner.c
 *		  Planning of scans of Close foreign tables: recognising conditions
 *		  that name objects by id (so a scan becomes GET /{object}/{id}/
 *		  instead of a listing), costing, parameterized paths for joins on
 *		  id, and the ForeignScan plan node.
 *
 * Costs are in units where one HTTP round trip to Close is
 * CLOSE_REQUEST_COST: a lookup costs one request per id, a listing one per
 * page, so the planner prefers lookups whenever the query names ids, and
 * prefers a nested loop of lookups over listing a whole collection for a
 * join on id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "closecrm_fdw.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/prep.h"
#include "parser/analyze.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/clauses.h"
#include "rewrite/rewriteManip.h"
#include "utils/ruleutils.h"
#include "catalog/pg_class.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* One HTTP round trip, in planner cost units. */
#define CLOSE_REQUEST_COST		50.0
/* Rows we assume a collection has when nothing tells (estimated_rows). */
#define CLOSE_DEFAULT_LIST_ROWS 100000.0
/* Ids we assume an id = ANY(non-constant array) names. */
#define CLOSE_DEFAULT_ANY_IDS	10.0
/* Objects we assume one value of a filter such as lead_id selects. */
#define CLOSE_DEFAULT_CHILD_ROWS 10.0

static bool contain_param_walker(Node *node, void *context);
static const char *search_sort_of(RelOptInfo *baserel, List *pathkeys,
								  bool *descending);

/*
 * strip_relabel
 *		The expression under any binary-compatible casts.
 */
static Node *
strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

/*
 * close_is_string_equality
 *		True if "opno" is an "=" operator comparing string types (text,
 *		varchar, name, bpchar...), i.e. one that compares ids as Close does.
 */
bool
close_is_string_equality(Oid opno)
{
	Oid			left,
				right;
	char	   *name = get_opname(opno);

	if (name == NULL || strcmp(name, "=") != 0)
		return false;
	op_input_types(opno, &left, &right);
	return TypeCategory(left) == TYPCATEGORY_STRING &&
		TypeCategory(right) == TYPCATEGORY_STRING;
}

/*
 * is_id_var
 *		True if "node" is the id column of relation "relid" (at this query
 *		level).
 */
static bool
is_id_var(Node *node, Index relid, AttrNumber id_attno)
{
	Var		   *var = (Var *) strip_relabel(node);

	return var != NULL && IsA(var, Var) && var->varno == relid &&
		var->varattno == id_attno && var->varlevelsup == 0;
}

/*
 * close_usable_value
 *		True if "expr" can supply a value at execution time: no columns of
 *		the scanned relation itself, nothing volatile.
 */
bool
close_usable_value(Node *expr, Index relid)
{
	Relids		varnos = pull_varnos(NULL, expr);

	if (bms_is_member(relid, varnos))
		return false;
	if (contain_volatile_functions(expr))
		return false;
	return true;
}

/*
 * close_or_to_any
 *		"col = a OR col = b ..." (one column, one "=" operator, values of one
 *		type) as "col = ANY(ARRAY[a, b, ...])", which Close can be asked in
 *		one go; any other clause as it is.
 */
Expr *
close_or_to_any(Expr *clause)
{
	BoolExpr   *b = (BoolExpr *) clause;
	Var		   *var = NULL;
	Oid			opno = InvalidOid;
	Oid			valtype = InvalidOid;
	List	   *values = NIL;
	ListCell   *lc;
	ArrayExpr  *arr;
	ScalarArrayOpExpr *saop;

	if (!IsA(clause, BoolExpr) || b->boolop != OR_EXPR)
		return clause;
	foreach(lc, b->args)
	{
		OpExpr	   *op = (OpExpr *) lfirst(lc);
		Node	   *left;
		Node	   *right;
		Var		   *v;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2 ||
			!close_is_string_equality(op->opno))
			return clause;
		if (IsA(strip_relabel(linitial(op->args)), Var))
		{
			left = strip_relabel(linitial(op->args));
			right = lsecond(op->args);
		}
		else if (IsA(strip_relabel(lsecond(op->args)), Var))
		{
			left = strip_relabel(lsecond(op->args));
			right = linitial(op->args);
		}
		else
			return clause;
		v = (Var *) left;
		if (IsA(strip_relabel(right), Var) && ((Var *) strip_relabel(right))->varno == v->varno)
			return clause;
		if (var == NULL)
		{
			var = v;
			opno = op->opno;
			valtype = exprType(right);
		}
		else if (v->varno != var->varno || v->varattno != var->varattno ||
				 v->varlevelsup != var->varlevelsup || op->opno != opno ||
				 exprType(right) != valtype)
			return clause;
		values = lappend(values, right);
	}
	if (var == NULL || !OidIsValid(get_array_type(valtype)))
		return clause;
	arr = makeNode(ArrayExpr);
	arr->array_typeid = get_array_type(valtype);
	arr->array_collid = exprCollation(linitial(values));
	arr->element_typeid = valtype;
	arr->elements = values;
	arr->multidims = false;
	arr->location = -1;
	saop = makeNode(ScalarArrayOpExpr);
	saop->opno = opno;
	saop->opfuncid = get_opcode(opno);
	saop->useOr = true;
	saop->inputcollid = exprCollation((Node *) var);
	saop->args = list_make2(copyObject(var), arr);
	saop->location = -1;
	return (Expr *) saop;
}

/*
 * close_is_id_lookup_clause
 *		True if "clause" is "id = expr", "expr = id" or "id = ANY(array
 *		expr)" on relation "relid", where expr does not involve the relation
 *		itself.  Sets *id_expr to expr and *is_array for the ANY form.
 */
bool
close_is_id_lookup_clause(Expr *clause, Index relid, AttrNumber id_attno,
						  Expr **id_expr, bool *is_array)
{
	if (id_attno == 0 || clause == NULL)
		return false;

	clause = close_or_to_any(clause);
	if (IsA(clause, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left,
				   *right;

		if (list_length(op->args) != 2 || !close_is_string_equality(op->opno))
			return false;
		left = linitial(op->args);
		right = lsecond(op->args);
		if (is_id_var(left, relid, id_attno) && close_usable_value(right, relid))
		{
			*id_expr = (Expr *) right;
			*is_array = false;
			return true;
		}
		if (is_id_var(right, relid, id_attno) && close_usable_value(left, relid))
		{
			*id_expr = (Expr *) left;
			*is_array = false;
			return true;
		}
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		Node	   *left = linitial(saop->args);
		Node	   *right = lsecond(saop->args);

		if (saop->useOr && close_is_string_equality(saop->opno) &&
			is_id_var(left, relid, id_attno) && close_usable_value(right, relid))
		{
			*id_expr = (Expr *) right;
			*is_array = true;
			return true;
		}
	}
	return false;
}

/*
 * find_lookup_clause
 *		The best id lookup clause among RestrictInfos "clauses": a single id
 *		beats an array of ids.  Returns false if there is none.
 */
static bool
find_lookup_clause(List *clauses, Index relid, AttrNumber id_attno,
				   Expr **clause_out, Expr **id_expr, bool *is_array)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		Expr	   *expr;
		bool		arr;

		if (!close_is_id_lookup_clause(rinfo->clause, relid, id_attno, &expr, &arr))
			continue;
		if (!found || (*is_array && !arr))
		{
			*clause_out = rinfo->clause;
			*id_expr = expr;
			*is_array = arr;
			found = true;
		}
	}
	return found;
}

/*
 * collection_rows
 *		The objects a listing of the table returns before any condition:
 *		the table's estimated_rows option, else what ANALYZE counted, else
 *		the server's estimated_rows, else CLOSE_DEFAULT_LIST_ROWS.  A
 *		setting made for this table beats a measurement, which beats a
 *		default for all the server's tables.
 */
static double
collection_rows(RelOptInfo *baserel, CloseTableInfo *table)
{
	if (table->estimated_rows >= 0)
		return Max(table->estimated_rows, 1);
	if (baserel->tuples >= 0)
		return Max(baserel->tuples, 1);
	if (table->server_estimated_rows >= 0)
		return Max(table->server_estimated_rows, 1);
	return CLOSE_DEFAULT_LIST_ROWS;
}

/*
 * refuse_row_locks
 *		ERROR for SELECT ... FOR UPDATE / FOR SHARE naming this table: Close
 *		has no row locks, and pretending to lock would mislead.  (A table
 *		only carried along by a locking query, or by an UPDATE of another
 *		table, gets a mark without a lock strength: that is fine.)
 */
static void
refuse_row_locks(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	PlanRowMark *rc = get_plan_rowmark(root->rowMarks, baserel->relid);

	if (rc != NULL && rc->strength != LCS_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot be applied to Close foreign table \"%s\"",
						LCS_asString(rc->strength), get_rel_name(foreigntableid)),
				 errdetail("Close has no row locks: nothing would keep others from changing the objects until the transaction ends."),
				 errhint("Lock only local tables (FOR UPDATE OF local_table), or leave the locking clause out.")));
}

/*
 * closeGetForeignRelSize
 *		Read the table's catalog entry and options, refuse row locks, find
 *		an id condition, and estimate the number of rows.
 */
void
closeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	CloseRelInfo *fpinfo = palloc0(sizeof(CloseRelInfo));
	Relation	rel;
	Expr	   *id_expr;
	CloseServerOptions opts;

	rel = table_open(foreigntableid, NoLock);
	fpinfo->table = close_get_table_info(rel);
	table_close(rel, NoLock);
	fpinfo->serverid = GetForeignTable(foreigntableid)->serverid;
	close_get_server_options(GetForeignServer(fpinfo->serverid), &opts);
	fpinfo->page_size = opts.page_size;
	fpinfo->use_search = opts.use_search && fpinfo->table->use_search;
	fpinfo->search_page_size = opts.search_page_size;
	baserel->fdw_private = fpinfo;
	refuse_row_locks(root, baserel, foreigntableid);
	fpinfo->collection_rows = collection_rows(baserel, fpinfo->table);
	baserel->tuples = fpinfo->collection_rows;

	if (find_lookup_clause(baserel->baserestrictinfo, baserel->relid,
						   fpinfo->table->id_attno, &fpinfo->id_clause,
						   &id_expr, &fpinfo->id_is_array))
	{
		fpinfo->id_exprs = list_make1(id_expr);
		baserel->rows = 1;
		if (fpinfo->id_is_array)
		{
			Node	   *arr = strip_relabel((Node *) id_expr);

			baserel->rows = CLOSE_DEFAULT_ANY_IDS;
			if (IsA(arr, Const) && !((Const *) arr)->constisnull)
			{
				ArrayType  *a = DatumGetArrayTypeP(((Const *) arr)->constvalue);

				baserel->rows = Max(1, ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
			}
		}
	}
	else
		baserel->rows = clamp_row_est(fpinfo->collection_rows *
									  clauselist_selectivity(root,
															 baserel->baserestrictinfo,
															 0, JOIN_INNER, NULL));
}

/*
 * ec_member_is_usable
 *		Callback for generate_implied_equalities_for_column: true for an
 *		equivalence class member that is our id column, or a column Close
 *		can filter a listing by.
 */
static bool
ec_member_is_usable(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					EquivalenceMember *em, void *arg)
{
	CloseTableInfo *table = ((CloseRelInfo *) rel->fdw_private)->table;
	Var		   *var = (Var *) strip_relabel((Node *) em->em_expr);

	if (is_id_var((Node *) var, rel->relid, table->id_attno))
		return true;
	return IsA(var, Var) && var->varno == rel->relid && var->varattno > 0 &&
		var->varattno <= table->natts && !table->is_attrs[var->varattno - 1] &&
		table->field_names[var->varattno - 1] != NULL &&
		close_catalog_has_filter(table->object, table->field_names[var->varattno - 1]);
}

/*
 * add_param_path_for
 *		Add a path parameterized by the relations that join clause "rinfo"
 *		needs, when rinfo names our objects by id (a nested loop then looks
 *		them up one outer row at a time) or by a field Close filters on,
 *		such as lead_id on contacts (a nested loop of small listings).
 */
static void
add_param_path_for(PlannerInfo *root, RelOptInfo *baserel, RestrictInfo *rinfo)
{
	CloseRelInfo *fpinfo = (CloseRelInfo *) baserel->fdw_private;
	Relids		required_outer;
	ParamPathInfo *param_info;
	Expr	   *value;
	bool		is_array;
	double		rows;
	double		requests = 1;

	if (close_is_id_lookup_clause(rinfo->clause, baserel->relid,
								  fpinfo->table->id_attno, &value, &is_array))
	{
		if (!(fpinfo->table->object->ops & CLOSE_OP_GET))
			return;
		rows = is_array ? CLOSE_DEFAULT_ANY_IDS : 1;
		requests = rows;
	}
	else if ((fpinfo->table->object->ops & CLOSE_OP_LIST) &&
			 close_classify_filter(rinfo->clause, baserel->relid, fpinfo->table,
								   &value, &is_array) != NULL)
		rows = CLOSE_DEFAULT_CHILD_ROWS;
	else
		return;

	required_outer = bms_union(rinfo->clause_relids, baserel->lateral_relids);
	required_outer = bms_del_members(required_outer, baserel->relids);
	if (bms_is_empty(required_outer))
		return;
	param_info = get_baserel_parampathinfo(root, baserel, required_outer);
	add_path(baserel, (Path *)
			 close_create_foreignscan_path(root, baserel, NULL, rows,
									 CLOSE_REQUEST_COST,
									 CLOSE_REQUEST_COST * requests + cpu_tuple_cost * rows,
									 NIL, param_info->ppi_req_outer, NULL, NIL));
}
/*
 * pushable_order
 *		The _order_by value that sorts a listing as "pathkeys" say, or NULL
 *		if Close cannot: every key must be a column of this table with a
 *		non-text type whose field is in the catalog's sort_fields (fields
 *		Close sorts the way PostgreSQL does and that are never null), under
 *		the type's default btree ordering.
 */
static char *
pushable_order(RelOptInfo *baserel, List *pathkeys)
{
	CloseTableInfo *table = ((CloseRelInfo *) baserel->fdw_private)->table;
	StringInfoData buf;
	ListCell   *lc;

	if (pathkeys == NIL || !table->object->order_by)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, pathkeys)
	{
		PathKey    *pk = (PathKey *) lfirst(lc);
		EquivalenceClass *ec = pk->pk_eclass;
		const char *field = NULL;
		Oid			coltype = InvalidOid;
		ListCell   *lm;
		const char *const *sf;
		bool		sortable = false;

		if (ec->ec_has_volatile)
			return NULL;
		foreach(lm, ec->ec_members)
		{
			EquivalenceMember *em = (EquivalenceMember *) lfirst(lm);
			Var		   *var = (Var *) strip_relabel((Node *) em->em_expr);

			if (IsA(var, Var) && var->varno == baserel->relid &&
				var->varlevelsup == 0 && var->varattno > 0 &&
				var->varattno <= table->natts &&
				!table->is_attrs[var->varattno - 1])
			{
				field = table->field_names[var->varattno - 1];
				coltype = var->vartype;
				break;
			}
		}
		if (field == NULL || TypeCategory(coltype) == TYPCATEGORY_STRING)
			return NULL;
		for (sf = table->object->sort_fields; *sf != NULL; sf++)
			sortable = sortable || strcmp(*sf, field) == 0;
		if (!sortable ||
			pk->pk_opfamily != get_opclass_family(GetDefaultOpClass(coltype, BTREE_AM_OID)))
			return NULL;
		appendStringInfo(&buf, "%s%s%s", buf.len > 0 ? "," : "",
						 close_pathkey_descending(pk) ? "-" : "",
						 field);
	}
	return buf.data;
}

/*
 * closeGetForeignPaths
 *		One unparameterized path (lookups if the query names ids, else a
 *		listing), plus parameterized lookup paths for join clauses on id.
 */
void
closeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					 Oid foreigntableid)
{
	CloseRelInfo *fpinfo = (CloseRelInfo *) baserel->fdw_private;
	Cost		startup = CLOSE_REQUEST_COST;
	Cost		total;
	ListCell   *lc;
	List	   *ec_clauses;

	if (fpinfo->id_exprs != NIL)
		total = CLOSE_REQUEST_COST * baserel->rows;
	else
		total = CLOSE_REQUEST_COST * ceil(fpinfo->collection_rows / fpinfo->page_size);
	total += cpu_tuple_cost * baserel->rows;
	add_path(baserel, (Path *)
			 close_create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup, total, NIL,
									 baserel->lateral_relids, NULL, NIL));

	/* a listing Close sorts as the query wants saves a local sort */
	if (fpinfo->id_exprs == NIL && (fpinfo->table->object->ops & CLOSE_OP_LIST))
	{
		char	   *order = pushable_order(baserel, root->query_pathkeys);

		if (order != NULL)
			add_path(baserel, (Path *)
					 close_create_foreignscan_path(root, baserel, NULL, baserel->rows,
											 startup, total + 1, root->query_pathkeys,
											 baserel->lateral_relids, NULL,
											 list_make1(makeString(order))));
		else if (fpinfo->use_search && close_search_object(fpinfo->table->object))
		{
			bool		descending;
			const char *field = search_sort_of(baserel, root->query_pathkeys,
											   &descending);

			/* Close's search sorts by date_created/date_updated as asked */
			if (field != NULL)
				add_path(baserel, (Path *)
						 close_create_foreignscan_path(root, baserel, NULL, baserel->rows,
												 startup, total + 1, root->query_pathkeys,
												 baserel->lateral_relids, NULL,
												 list_make1(makeString(psprintf("search:%s%s",
																				descending ? "-" : "",
																				field)))));
		}
	}

	foreach(lc, baserel->joininfo)
		add_param_path_for(root, baserel, lfirst_node(RestrictInfo, lc));

	ec_clauses = generate_implied_equalities_for_column(root, baserel,
														ec_member_is_usable, NULL,
														baserel->lateral_referencers);
	foreach(lc, ec_clauses)
		add_param_path_for(root, baserel, lfirst_node(RestrictInfo, lc));
}

/*
 * close_clause_column
 *		The column of relation "relid" that "node" is (under binary-compatible
 *		casts), if its field could be a Close condition: a plain column with
 *		a field, not the whole-object attrs column.  0 otherwise.
 */
AttrNumber
close_clause_column(Node *node, Index relid, CloseTableInfo *table)
{
	Var		   *var = (Var *) strip_relabel(node);

	if (var == NULL || !IsA(var, Var) || var->varno != relid ||
		var->varlevelsup != 0 || var->varattno <= 0 ||
		var->varattno > table->natts ||
		table->field_names[var->varattno - 1] == NULL ||
		table->is_attrs[var->varattno - 1])
		return 0;
	return var->varattno;
}

/*
 * close_is_temporal_type
 *		True for the types Close compares as moments: its __lt/__gt range
 *		filters and its search's moment_range.
 */
bool
close_is_temporal_type(Oid typid)
{
	return typid == DATEOID || typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
}

/*
 * close_classify_filter
 *		If "clause" is a condition Close's list endpoint can evaluate as a
 *		query parameter, return the parameter name ("lead_id",
 *		"status_id__in", "date_created__gte", ...) and set *value to the
 *		expression giving its value; else NULL.  Recognised: column = value
 *		(either side), column = ANY(array), column < <= > >= value on date
 *		and timestamp columns, and a boolean column or its negation; an OR
 *		of equalities on one column as = ANY.  value must not involve the
 *		relation itself and must not be volatile; it may refer to other
 *		relations (parameterized paths) or parameters.  *fanout is set for
 *		"column = ANY(array)" on a filter without an "__in" form: the
 *		listing is then run once per value.
 */
char *
close_classify_filter(Expr *clause, Index relid, CloseTableInfo *table,
					  Expr **value, bool *fanout)
{
	const CloseObjectDef *object = table->object;
	AttrNumber	attno = 0;
	char	   *param = NULL;

	*fanout = false;
	clause = close_or_to_any(clause);

	if (IsA(clause, Var) && exprType((Node *) clause) == BOOLOID &&
		(attno = close_clause_column((Node *) clause, relid, table)) != 0)
	{
		param = pstrdup(table->field_names[attno - 1]);
		*value = (Expr *) makeBoolConst(true, false);
	}
	else if (is_notclause(clause) &&
			 exprType((Node *) get_notclausearg(clause)) == BOOLOID &&
			 (attno = close_clause_column((Node *) get_notclausearg(clause), relid, table)) != 0)
	{
		param = pstrdup(table->field_names[attno - 1]);
		*value = (Expr *) makeBoolConst(false, false);
	}
	else if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left = linitial(op->args);
		Node	   *right = lsecond(op->args);
		char	   *opname = get_opname(op->opno);
		bool		commuted = false;
		Oid			coltype;
		static const char *const ops[][3] = {
			{"<", "__lt", "__gt"}, {"<=", "__lte", "__gte"},
			{">", "__gt", "__lt"}, {">=", "__gte", "__lte"},
		};
		int			i;

		if (opname == NULL)
			return NULL;
		if ((attno = close_clause_column(left, relid, table)) == 0)
		{
			if ((attno = close_clause_column(right, relid, table)) == 0)
				return NULL;
			commuted = true;
			right = left;
		}
		if (!close_usable_value(right, relid))
			return NULL;
		coltype = exprType(strip_relabel(commuted ? lsecond(op->args) : left));
		if (strcmp(opname, "=") == 0 &&
			(close_is_string_equality(op->opno) || exprType(right) == coltype))
			param = pstrdup(table->field_names[attno - 1]);
		else if (close_is_temporal_type(coltype) && exprType(right) == coltype)
		{
			for (i = 0; i < lengthof(ops); i++)
			{
				if (strcmp(opname, ops[i][0]) == 0)
					param = psprintf("%s%s", table->field_names[attno - 1],
									 ops[i][commuted ? 2 : 1]);
			}
		}
		*value = (Expr *) right;
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		Node	   *right = lsecond(saop->args);

		attno = close_clause_column(linitial(saop->args), relid, table);
		if (attno != 0 && saop->useOr && close_is_string_equality(saop->opno) &&
			close_usable_value(right, relid))
		{
			param = psprintf("%s__in", table->field_names[attno - 1]);
			*value = (Expr *) right;
			/* no list filter: one listing per value */
			if (!close_catalog_has_filter(object, param))
			{
				param = pstrdup(table->field_names[attno - 1]);
				*fanout = true;
			}
		}
	}

	if (param == NULL || !close_catalog_has_filter(object, param))
		return NULL;
	return param;
}

/*
 * collect_list_filters
 *		The conditions among RestrictInfos "clauses" that become query
 *		parameters of the listing: appends their parameter names to *names
 *		and value expressions to *exprs; *fanout is the index of the one
 *		filter listed once per value of its array (-1 none).  The id column
 *		is not filtered here (an id condition makes the scan a lookup
 *		instead).  Returns the number of clauses pushed.
 */
static int
collect_list_filters(List *clauses, Index relid, CloseTableInfo *table,
					 List **names, List **exprs, int *fanout)
{
	ListCell   *lc;
	int			pushed = 0;

	*fanout = -1;
	foreach(lc, clauses)
	{
		Expr	   *clause = lfirst_node(RestrictInfo, lc)->clause;
		Expr	   *value;
		bool		is_fanout;
		char	   *param = close_classify_filter(clause, relid, table, &value,
												  &is_fanout);

		if (param == NULL || (is_fanout && *fanout >= 0))
			continue;
		if (is_fanout)
			*fanout = list_length(*names);
		*names = lappend(*names, makeString(param));
		*exprs = lappend(*exprs, value);
		pushed++;
	}
	return pushed;
}

/*
 * required_filters_missing
 *		The first group of required_filters of "object" that no pushed
 *		filter satisfies ("a|b" meaning either), or NULL.
 */
static const char *
required_filters_missing(const CloseObjectDef *object, List *names)
{
	const char *const *group;

	for (group = object->required_filters; *group != NULL; group++)
	{
		ListCell   *lc;
		bool		ok = false;

		foreach(lc, names)
		{
			const char *name = strVal(lfirst(lc));
			const char *p = *group;
			size_t		len = strlen(name);

			/* a pushed "x__in" satisfies "x" too */
			if (len > 4 && strcmp(name + len - 4, "__in") == 0)
				len -= 4;
			while (p != NULL && !ok)
			{
				const char *bar = strchr(p, '|');
				size_t		plen = bar ? (size_t) (bar - p) : strlen(p);

				ok = (plen == len && strncmp(p, name, len) == 0);
				p = bar ? bar + 1 : NULL;
			}
		}
		if (!ok)
			return *group;
	}
	return NULL;
}

/* Context of whole_row_walker. */
typedef struct WholeRowContext
{
	Index		relid;
	int			sublevels_up;	/* Query levels below the planned one */
} WholeRowContext;

/*
 * whole_row_walker
 *		True if "node" refers to the whole row of relation ctx->relid,
 *		leaving out the "wholerow" junk columns the planner adds for row
 *		marks.
 */
static bool
whole_row_walker(Node *node, WholeRowContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		return var->varno == ctx->relid && var->varattno == 0 &&
			var->varlevelsup == ctx->sublevels_up;
	}
	if (IsA(node, TargetEntry) && ctx->sublevels_up == 0)
	{
		TargetEntry *tle = (TargetEntry *) node;

		if (tle->resjunk && tle->resname != NULL &&
			strncmp(tle->resname, "wholerow", 8) == 0)
			return false;
	}
	if (IsA(node, Query))
	{
		bool		found;

		ctx->sublevels_up++;
		found = query_tree_walker((Query *) node, whole_row_walker, ctx, 0);
		ctx->sublevels_up--;
		return found;
	}
	return expression_tree_walker(node, whole_row_walker, ctx);
}

/*
 * only_row_mark_needs_whole_row
 *		True if the whole-row reference to this table comes only from a row
 *		mark (the copy of the row kept for rechecks when another table of
 *		the query is locked or updated).  That copy needs no more columns
 *		than the query reads: the others are NULL in it, and nothing looks
 *		at them.
 */
static bool
only_row_mark_needs_whole_row(PlannerInfo *root, RelOptInfo *baserel)
{
	WholeRowContext ctx;

	if (get_plan_rowmark(root->rowMarks, baserel->relid) == NULL)
		return false;
	ctx.relid = baserel->relid;
	ctx.sublevels_up = 0;
	return !query_tree_walker(root->parse, whole_row_walker, &ctx, 0);
}

/*
 * columns_needed
 *		The attribute numbers of the columns the query uses from this scan
 *		(output and conditions), as a List of Integer; NIL means all (a
 *		whole-row reference, unless only a row mark makes it).  Only these
 *		are converted from JSON: cheaper, and a field that does not fit a
 *		column the query does not use is no error.
 */
static List *
columns_needed(PlannerInfo *root, RelOptInfo *baserel, List *scan_clauses)
{
	Bitmapset  *attrs = NULL;
	List	   *result = NIL;
	ListCell   *lc;
	int			idx = -1;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, scan_clauses)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
					   baserel->relid, &attrs);
	while ((idx = bms_next_member(attrs, idx)) >= 0)
	{
		AttrNumber	attno = idx + FirstLowInvalidHeapAttributeNumber;

		if (attno == 0 && !only_row_mark_needs_whole_row(root, baserel))
			return NIL;
		if (attno > 0)
			result = lappend(result, makeInteger(attno));
	}
	/* nothing needed (e.g. count(*)): keep the list non-empty, meaning none */
	if (result == NIL)
		result = list_make1(makeInteger(0));
	return result;
}

/*
 * needs_whole_objects
 *		True if the scan needs whole objects: a whole-row reference, or the
 *		attrs column.
 */
static bool
needs_whole_objects(CloseTableInfo *table, List *retrieved)
{
	ListCell   *lc;

	if (retrieved == NIL)
		return true;
	foreach(lc, retrieved)
	{
		int			attno = intVal(lfirst(lc));

		if (attno > 0 && table->is_attrs[attno - 1])
			return true;
	}
	return false;
}

/*
 * limit_hint
 *		The number of rows the query will take from this listing, when the
 *		query is a plain single-table SELECT with a constant LIMIT (and
 *		OFFSET), every condition went to Close ("npushed" of them) and any
 *		ORDER BY is Close's order; -1 otherwise.  The scan asks for no more
 *		than that in its first page.  It never stops early on it: if Close
 *		returns fewer matching rows than hoped, the next pages are fetched
 *		as usual, so the hint can only save work, never lose rows.
 */
static int64
limit_hint(PlannerInfo *root, List *scan_clauses, int npushed, bool ordered)
{
	Query	   *parse = root->parse;
	Const	   *count = (Const *) parse->limitCount;
	Const	   *offset = (Const *) parse->limitOffset;
	int64		result;

	if (parse->commandType != CMD_SELECT || parse->groupClause ||
		parse->groupingSets || parse->hasAggs || parse->distinctClause ||
		parse->hasWindowFuncs || parse->hasTargetSRFs || root->hasHavingQual ||
		(parse->sortClause && !ordered) ||
		parse->limitOption != LIMIT_OPTION_COUNT ||
		bms_membership(root->all_baserels) != BMS_SINGLETON ||
		count == NULL || !IsA(count, Const) || count->constisnull ||
		(offset != NULL && (!IsA(offset, Const) || offset->constisnull)) ||
		list_length(scan_clauses) != npushed)
		return -1;
	result = DatumGetInt64(count->constvalue);
	if (offset != NULL)
		result += DatumGetInt64(offset->constvalue);
	return Max(result, 1);
}

/*
 * prefetch_query
 *		For a lookup scan parameterized by a column of a local table ("ON
 *		t.id = s.col"), the SQL that lists the ids the join will ask for, in
 *		the table's own order: "SELECT col::text FROM s WHERE <s's own
 *		conditions>".  The scan reads it a batch at a time, as the join asks
 *		for ids it has not seen, and looks each batch up at once instead of
 *		one GET per outer row in turn.  Conditions that cannot be written as
 *		standalone SQL (parameters, sub-plans, volatile functions) are left
 *		out: the query may then name more ids than needed, never fewer than
 *		matter, and any id it misses is still looked up when asked for.
 *		Sets *runas to the role the query must run as (the one that reads
 *		the table in the plan, 0 for the current user).  Returns "" when the
 *		id does not come straight from a local table.
 */
static char *
prefetch_query(PlannerInfo *root, Expr *id_expr, Oid *runas)
{
	Var		   *var = (Var *) strip_relabel((Node *) id_expr);
	RangeTblEntry *rte;
	RelOptInfo *outer;
	List	   *context;
	StringInfoData buf;
	ListCell   *lc;
	char		relkind;
	bool		first = true;

	*runas = InvalidOid;
	if (!IsA(var, Var) || var->varlevelsup != 0 || var->varattno <= 0 ||
		var->varno >= root->simple_rel_array_size)
		return "";
	rte = planner_rt_fetch(var->varno, root);
	if (rte->rtekind != RTE_RELATION || rte->inh)
		return "";
	relkind = get_rel_relkind(rte->relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW)
		return "";
	outer = find_base_rel(root, var->varno);
	*runas = close_rte_check_user(root, rte);

	context = deparse_context_for("s", rte->relid);
	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT (s.%s)::text FROM ONLY %s.%s s",
					 quote_identifier(get_attname(rte->relid, var->varattno, false)),
					 quote_identifier(get_namespace_name(get_rel_namespace(rte->relid))),
					 quote_identifier(get_rel_name(rte->relid)));
	foreach(lc, outer->baserestrictinfo)
	{
		Node	   *clause = (Node *) lfirst_node(RestrictInfo, lc)->clause;

		if (contain_volatile_functions(clause) || contain_subplans(clause) ||
			contain_param_walker(clause, NULL))
			continue;
		clause = copyObject(clause);
		ChangeVarNodes(clause, var->varno, 1, 0);
		appendStringInfo(&buf, " %s %s", first ? "WHERE" : "AND",
						 deparse_expression(clause, context, true, false));
		first = false;
	}
	return buf.data;
}

/*
 * contain_param_walker
 *		True if "node" contains a Param.
 */
static bool
contain_param_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
		return true;
	return expression_tree_walker(node, contain_param_walker, context);
}

/*
 * statement_changes_close
 *		True if the statement being planned writes (INSERT, UPDATE, DELETE,
 *		MERGE, or a data-modifying WITH): its scans of Close then read
 *		everything they return before the first row goes on, so that the
 *		statement's own changes never move a listing under it (rows skipped
 *		or read twice, objects it creates read back).
 */
static bool
statement_changes_close(PlannerInfo *root)
{
	PlannerInfo *top = root;

	while (top->parent_root != NULL)
		top = top->parent_root;
	return top->parse->commandType != CMD_SELECT || top->parse->hasModifyingCTE ||
		root->parse->commandType != CMD_SELECT || root->parse->hasModifyingCTE;
}

/* How a listing will read Close. */
typedef struct ListPlan
{
	List	   *filter_names;	/* list endpoint */
	List	   *filter_exprs;
	int			nfilters;
	int			fanout;
	char	   *search;			/* search conditions template, or NULL */
	List	   *search_exprs;
	int			nsearch;
	bool		search_date_updated;
} ListPlan;

/*
 * choose_search
 *		Whether a listing of "table" reads through Close's search rather
 *		than its list endpoint: when search can push a condition the list
 *		cannot, when only search can sort as asked, when the list endpoint
 *		would refuse (a required filter missing) or would run once per value,
 *		and when the list endpoint cannot go past its _skip cap (no filter
 *		narrowing it, no date slicing) — unless the scan needs whole objects,
 *		which only the list endpoint returns.
 */
static bool
choose_search(CloseTableInfo *table, ListPlan *lp, bool search_sorted,
			  bool whole_objects)
{
	const CloseObjectDef *object = table->object;
	bool		can_slice = object->order_by &&
		close_catalog_has_filter(object, "date_created__lte");

	if (search_sorted)
		return true;
	if (required_filters_missing(object, lp->filter_names) != NULL)
		return true;
	if (lp->nsearch > lp->nfilters)
		return true;
	if (lp->fanout >= 0)
		return lp->nsearch >= lp->nfilters;
	if (whole_objects)
		return false;
	return lp->nfilters == 0 && !can_slice;
}

/*
 * search_sort_of
 *		For a path sorted by "pathkeys" on a searchable table: the keyset
 *		field (date_created or date_updated, timestamp columns) that sorts
 *		the same way, and the direction; NULL if there is none.
 */
static const char *
search_sort_of(RelOptInfo *baserel, List *pathkeys, bool *descending)
{
	CloseTableInfo *table = ((CloseRelInfo *) baserel->fdw_private)->table;
	PathKey    *pk;
	ListCell   *lm;

	if (list_length(pathkeys) != 1)
		return NULL;
	pk = (PathKey *) linitial(pathkeys);
	if (pk->pk_eclass->ec_has_volatile)
		return NULL;
	foreach(lm, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = (EquivalenceMember *) lfirst(lm);
		Var		   *var = (Var *) strip_relabel((Node *) em->em_expr);
		const char *field;

		if (!IsA(var, Var) || var->varno != baserel->relid ||
			var->varlevelsup != 0 || var->varattno <= 0 ||
			var->varattno > table->natts || table->is_attrs[var->varattno - 1] ||
			(var->vartype != TIMESTAMPTZOID && var->vartype != TIMESTAMPOID))
			continue;
		field = table->field_names[var->varattno - 1];
		if (strcmp(field, "date_created") != 0 && strcmp(field, "date_updated") != 0)
			continue;
		if (pk->pk_opfamily != get_opclass_family(GetDefaultOpClass(var->vartype, BTREE_AM_OID)))
			return NULL;
		*descending = close_pathkey_descending(pk);
		/* the field is never null, so NULLS FIRST/LAST does not matter */
		return field;
	}
	return NULL;
}

/*
 * closeGetForeignPlan
 *		Build the ForeignScan: a lookup when the chosen path's clauses name
 *		ids (fdw_exprs holds the id expression), else a listing through the
 *		list endpoint (fdw_exprs: one value per filter) or through Close's
 *		search (fdw_exprs: the values of the conditions' placeholders).
 *		Every condition is also checked locally: cheap, and exact whatever
 *		Close answers.
 */
ForeignScan *
closeGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					Oid foreigntableid, ForeignPath *best_path, List *tlist,
					List *scan_clauses, Plan *outer_plan)
{
	CloseRelInfo *fpinfo = (CloseRelInfo *) baserel->fdw_private;
	CloseTableInfo *table = fpinfo->table;
	const CloseObjectDef *object = table->object;
	Expr	   *clause;
	Expr	   *id_expr;
	bool		is_array = false;
	List	   *fdw_exprs = NIL;
	ListPlan	lp;
	List	   *retrieved;
	char	   *order_by = "";
	const char *search_sort = NULL;
	bool		descending = false;
	char	   *keyset = "";
	List	   *fdw_private;
	CloseScanKind kind = CLOSE_SCAN_LIST;
	bool		use_search = false;
	char	   *prefetch = "";
	Oid			prefetch_user = InvalidOid;
	int64		hint = -1;

	memset(&lp, 0, sizeof(lp));
	lp.fanout = -1;
	retrieved = columns_needed(root, baserel, scan_clauses);
	if (best_path->fdw_private != NIL)
	{
		const char *sort = strVal(linitial(best_path->fdw_private));

		if (strncmp(sort, "search:", 7) == 0)
		{
			search_sort = sort + 7;
			if (search_sort[0] == '-')
			{
				descending = true;
				search_sort++;
			}
		}
		else
			order_by = pstrdup(sort);
	}

	if (find_lookup_clause(scan_clauses, baserel->relid,
						   table->id_attno, &clause, &id_expr,
						   &is_array))
	{
		kind = CLOSE_SCAN_LOOKUP;
		fdw_exprs = list_make1(id_expr);
		order_by = "";
		search_sort = NULL;

		/*
		 * A DELETE by id needs no GET (PlanDirectModify takes over), so a
		 * collection without GET by id is refused here only when reading.
		 */
		if (!(object->ops & CLOSE_OP_GET) &&
			!(root->parse->commandType == CMD_DELETE &&
			  root->parse->resultRelation == baserel->relid))
			close_report_no_lookup(object);
		if (!is_array && best_path->path.param_info != NULL)
			prefetch = prefetch_query(root, id_expr, &prefetch_user);
	}
	else if (!(object->ops & CLOSE_OP_LIST))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Close object \"%s\" cannot be listed", object->name),
				 errdetail("The Close API supports %s for \"%s\".",
						   close_catalog_ops_text(object), object->name),
				 errhint("Name the objects by id: WHERE id = '...', id = ANY(...), or a join on id.")));
	else
	{
		const char *missing;

		lp.nfilters = collect_list_filters(scan_clauses, baserel->relid, table,
										   &lp.filter_names, &lp.filter_exprs,
										   &lp.fanout);
		if (fpinfo->use_search && close_search_object(object) != NULL)
		{
			lp.search = close_search_pushdown(scan_clauses, baserel->relid, table,
											  &lp.search_exprs, &lp.nsearch,
											  &lp.search_date_updated);
			use_search = choose_search(table, &lp, search_sort != NULL,
									   needs_whole_objects(table, retrieved));
		}
		if (!use_search &&
			(missing = required_filters_missing(object, lp.filter_names)) != NULL)
		{
			char	   *names = pstrdup(missing);
			char	   *bar;

			while ((bar = strchr(names, '|')) != NULL)
				names = psprintf("%.*s or %s", (int) (bar - names), names, bar + 1);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("listing Close object \"%s\" requires a condition on %s",
							object->name, names),
					 errdetail("Close refuses to list \"%s\" without that filter.",
							   object->name),
					 errhint("Add a condition such as WHERE %s = '...', or look objects up by id.",
							 names)));
		}
		if (use_search)
		{
			const char *field = search_sort ? search_sort :
				lp.search_date_updated ? "date_updated" : "date_created";

			keyset = psprintf("%s%s", descending ? "-" : "", field);
			fdw_exprs = lp.search_exprs;
			order_by = "";
			hint = limit_hint(root, scan_clauses, lp.nsearch, search_sort != NULL);
		}
		else
		{
			fdw_exprs = lp.filter_exprs;
			hint = limit_hint(root, scan_clauses, lp.nfilters, order_by[0] != '\0');
		}
	}

	scan_clauses = extract_actual_clauses(scan_clauses, false);

	/* in the order of enum CloseScanPrivateIndex */
	fdw_private = list_make4(makeInteger(kind), makeBoolean(is_array),
							 use_search ? NIL : lp.filter_names, retrieved);
	fdw_private = lappend(fdw_private, makeInteger(hint));
	fdw_private = lappend(fdw_private, makeString(order_by));
	fdw_private = lappend(fdw_private, makeString(prefetch));
	fdw_private = lappend(fdw_private, makeInteger(prefetch_user));
	fdw_private = lappend(fdw_private,
						  makeString(use_search && lp.search ? lp.search : ""));
	fdw_private = lappend(fdw_private, makeString(keyset));
	fdw_private = lappend(fdw_private, makeInteger(use_search ? -1 : lp.fanout));
	fdw_private = lappend(fdw_private,
						  makeBoolean(kind == CLOSE_SCAN_LIST && statement_changes_close(root)));
	fdw_private = lappend(fdw_private,
						  makeBoolean(fpinfo->use_search &&
									  close_search_object(object) != NULL));
	return make_foreignscan(tlist, scan_clauses, baserel->relid, fdw_exprs,
							fdw_private, NIL, NIL, outer_plan);
}
