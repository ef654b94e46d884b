/*-------------------------------------------------------------------------
 *
 * search.c
 *		  Close's search API (POST /data/search/, close-api/
 *		  ADVANCED_FILTERING.md) as a read path: which objects it covers and
 *		  which of their fields its conditions can name; turning a scan's
 *		  WHERE clauses into search conditions at plan time (a template with
 *		  placeholders for the values known only at execution); filling in
 *		  the values when the scan starts; and the conditions that fetch
 *		  many objects by id at once.
 *
 * Conditions are only ever pushed as supersets of what SQL selects, and
 * every row is checked locally again, so a pushed condition can save
 * requests but never change an answer: timestamps are widened to whole
 * seconds, dates by a day on each side (Close may read a date in the
 * organisation's time zone), numbers to integers; text comparisons, whose
 * case and word rules in Close are not SQL's, are never pushed; IS NOT NULL
 * only where a value can't be empty.
 *
 * The search endpoint is not in Close's OpenAPI document, so the table of
 * searchable objects below is written by hand from that reference.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "closecrm_fdw.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* Set when Close refused a search by ids: look ids up one by one instead. */
bool		close_search_ids_refused = false;

static const CloseSearchField lead_search_fields[] = {
	{"date_created", CLOSE_SEARCH_MOMENT, NULL},
	{"date_updated", CLOSE_SEARCH_MOMENT, NULL},
	{"status_id", CLOSE_SEARCH_REFERENCE, "status.lead"},
	{"status_label", CLOSE_SEARCH_STATUS_LABEL, "status.lead"},
	{"created_by", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{"updated_by", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{NULL, 0, NULL}
};

static const CloseSearchField contact_search_fields[] = {
	{"date_created", CLOSE_SEARCH_MOMENT, NULL},
	{"date_updated", CLOSE_SEARCH_MOMENT, NULL},
	{"lead_id", CLOSE_SEARCH_REFERENCE, "lead"},
	{"created_by", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{"updated_by", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{NULL, 0, NULL}
};

static const CloseSearchField opportunity_search_fields[] = {
	{"date_created", CLOSE_SEARCH_MOMENT, NULL},
	{"date_updated", CLOSE_SEARCH_MOMENT, NULL},
	{"lead_id", CLOSE_SEARCH_REFERENCE, "lead"},
	{"status_id", CLOSE_SEARCH_REFERENCE, "status.opportunity"},
	{"status_label", CLOSE_SEARCH_STATUS_LABEL, "status.opportunity"},
	{"status_type", CLOSE_SEARCH_TERM, NULL},
	{"user_id", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{"created_by", CLOSE_SEARCH_REFERENCE, "user_or_group"},
	{NULL, 0, NULL}
};

static const CloseSearchField custom_object_search_fields[] = {
	{"date_created", CLOSE_SEARCH_MOMENT, NULL},
	{"date_updated", CLOSE_SEARCH_MOMENT, NULL},
	{"custom_object_type_id", CLOSE_SEARCH_TERM, NULL},
	{NULL, 0, NULL}
};

/* The objects Close's search covers (ADVANCED_FILTERING.md §2.2, §3). */
static const CloseSearchObject search_objects[] = {
	{"lead", "lead", "status/lead", lead_search_fields},
	{"contact", "contact", NULL, contact_search_fields},
	{"opportunity", "opportunity", "status/opportunity", opportunity_search_fields},
	{"custom_object", "custom_object", NULL, custom_object_search_fields},
};

/* How a placeholder's value is turned into JSON (the "as" of a template). */
#define AS_FLOOR_SECOND "floor_second"	/* moment: ts floored to a second */
#define AS_CEIL_SECOND "ceil_second"	/* moment: ts ceiled to a second */
#define AS_NEXT_SECOND "next_second"	/* moment: floor(ts) + 1 s */
#define AS_DAY_BEFORE "day_before"	/* moment: the date, less a day */
#define AS_TWO_DAYS_AFTER "two_days_after"	/* moment: the date, plus 2 days */
#define AS_FLOOR "floor"		/* number: floor */
#define AS_CEIL "ceil"			/* number: ceiling */
#define AS_STRINGS "strings"	/* list of strings: a value or an array's */
#define AS_STATUS_IDS "status_ids"	/* the ids of the statuses so labelled */

/*
 * close_search_object
 *		The search entry of catalog object "object", or NULL when Close's
 *		search does not cover it.
 */
const CloseSearchObject *
close_search_object(const CloseObjectDef *object)
{
	int			i;

	for (i = 0; i < lengthof(search_objects); i++)
	{
		if (strcmp(search_objects[i].object, object->name) == 0)
			return &search_objects[i];
	}
	return NULL;
}

/*
 * search_field
 *		The entry for field "name" of "sobj", or NULL.
 */
static const CloseSearchField *
search_field(const CloseSearchObject *sobj, const char *name)
{
	const CloseSearchField *f;

	for (f = sobj->fields; f->name != NULL; f++)
	{
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

/* What a column is to Close's search. */
typedef struct SearchColumn
{
	const char *search_type;
	const char *name;			/* regular field name, or custom field id */
	bool		custom;
	CloseSearchKind kind;
	const char *reference_type;
	bool		kind_known;		/* kind applies to "=" and ranges */
	bool		never_empty;	/* a value present is never "" or [] */
	Oid			type;			/* the column's type */
} SearchColumn;

/*
 * column_field_ref
 *		The search field reference of a column.
 */
static cJSON *
column_field_ref(const SearchColumn *col)
{
	cJSON	   *ref;

	if (!col->custom)
		return close_search_field_ref(col->search_type, col->name);
	ref = cJSON_CreateObject();
	cJSON_AddStringToObject(ref, "type", "custom_field");
	cJSON_AddStringToObject(ref, "custom_field_id", col->name);
	return ref;
}

/*
 * is_numeric_type
 *		Types number_range compares.
 */
static bool
is_numeric_type(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID ||
		typid == NUMERICOID || typid == FLOAT4OID || typid == FLOAT8OID;
}

/*
 * search_column
 *		Fill "col" for column "attno": a field of the search entry, or a
 *		custom field ("custom.<id>"; its kind from the column's type and
 *		custom_type option).  False when search cannot name the column.
 */
static bool
search_column(const CloseSearchObject *sobj, CloseTableInfo *table,
			  AttrNumber attno, Oid coltype, SearchColumn *col)
{
	const char *field = table->field_names[attno - 1];
	const char *custom_type = table->custom_types[attno - 1];

	memset(col, 0, sizeof(*col));
	col->search_type = sobj->search_type;
	col->type = coltype;
	col->never_empty = is_numeric_type(coltype) || close_is_temporal_type(coltype) ||
		coltype == BOOLOID;
	if (strncmp(field, "custom.", 7) == 0 && strchr(field + 7, '.') == NULL &&
		field[7] != '\0')
	{
		col->custom = true;
		col->name = field + 7;
		col->kind_known = true;
		if (is_numeric_type(coltype))
			col->kind = CLOSE_SEARCH_NUMBER;
		else if (close_is_temporal_type(coltype))
			col->kind = CLOSE_SEARCH_MOMENT;
		else if (custom_type != NULL && strcmp(custom_type, "choices") == 0 &&
				 TypeCategory(coltype) == TYPCATEGORY_STRING)
			col->kind = CLOSE_SEARCH_TERM;
		else if (custom_type != NULL && strcmp(custom_type, "user") == 0 &&
				 TypeCategory(coltype) == TYPCATEGORY_STRING)
		{
			col->kind = CLOSE_SEARCH_REFERENCE;
			col->reference_type = "user_or_group";
		}
		else
			col->kind_known = false;	/* IS NULL only */
		return true;
	}
	else
	{
		const CloseSearchField *f = search_field(sobj, field);

		if (f == NULL)
			return false;
		col->name = f->name;
		col->kind = f->kind;
		col->reference_type = f->reference_type;
		col->kind_known = true;
		/* a moment field read into a text column compares as text: no */
		if (f->kind == CLOSE_SEARCH_MOMENT && !close_is_temporal_type(coltype))
			col->kind_known = false;
		if (f->kind != CLOSE_SEARCH_MOMENT && f->kind != CLOSE_SEARCH_NUMBER &&
			TypeCategory(coltype) != TYPCATEGORY_STRING)
			col->kind_known = false;
		return true;
	}
}

/*
 * placeholder
 *		{"$value": n, "as": how}: the n-th value expression, turned into JSON
 *		as "how" says when the scan starts.
 */
static cJSON *
placeholder(int n, const char *how)
{
	cJSON	   *ph = cJSON_CreateObject();

	cJSON_AddNumberToObject(ph, "$value", n);
	cJSON_AddStringToObject(ph, "as", how);
	return ph;
}

/*
 * field_condition
 *		{"type": "field_condition", "field": ..., "condition": cond}.
 */
static cJSON *
field_condition(const SearchColumn *col, cJSON *cond)
{
	cJSON	   *node = cJSON_CreateObject();

	cJSON_AddStringToObject(node, "type", "field_condition");
	cJSON_AddItemToObject(node, "field", column_field_ref(col));
	cJSON_AddItemToObject(node, "condition", cond);
	return node;
}

/*
 * moment_bound
 *		A moment placeholder for value n compared by operator "op" (as seen
 *		with the column on the left) with a column of type "coltype":
 *		sets *key to "on_or_after" or "before".  The bound always widens.
 */
static cJSON *
moment_bound(int n, const char *op, Oid coltype, const char **key)
{
	bool		lower = op[0] == '>' || op[0] == '=';

	*key = lower ? "on_or_after" : "before";
	if (coltype == DATEOID)
		return placeholder(n, lower ? AS_DAY_BEFORE : AS_TWO_DAYS_AFTER);
	if (lower)
		return placeholder(n, AS_FLOOR_SECOND);
	return placeholder(n, strcmp(op, "<") == 0 ? AS_CEIL_SECOND : AS_NEXT_SECOND);
}

/* Planner-side state of one pushdown. */
typedef struct PushContext
{
	const CloseSearchObject *sobj;
	CloseTableInfo *table;
	Index		relid;
	List	   *exprs;			/* value expressions, in placeholder order */
	bool		date_updated;	/* a condition names date_updated */
} PushContext;

/*
 * add_value
 *		Append a value expression; its placeholder number.
 */
static int
add_value(PushContext *ctx, Expr *value)
{
	ctx->exprs = lappend(ctx->exprs, value);
	return list_length(ctx->exprs);
}

/*
 * push_comparison
 *		The search condition for "column op value" (column on the left), or
 *		NULL when it cannot be pushed.
 */
static cJSON *
push_comparison(PushContext *ctx, const SearchColumn *col, const char *op,
				Expr *value, bool is_string_eq)
{
	cJSON	   *cond;
	Oid			valtype = exprType((Node *) value);

	if (!col->kind_known)
		return NULL;
	switch (col->kind)
	{
		case CLOSE_SEARCH_MOMENT:
			{
				const char *key;
				cJSON	   *moment;

				if (valtype != col->type || strcmp(op, "<>") == 0)
					return NULL;
				cond = cJSON_CreateObject();
				cJSON_AddStringToObject(cond, "type", "moment_range");
				if (strcmp(op, "=") == 0)
				{
					int			n = add_value(ctx, value);

					moment = cJSON_CreateObject();
					cJSON_AddStringToObject(moment, "type", "fixed_utc");
					cJSON_AddItemToObject(moment, "value",
										  moment_bound(n, ">=", col->type, &key));
					cJSON_AddItemToObject(cond, key, moment);
					moment = cJSON_CreateObject();
					cJSON_AddStringToObject(moment, "type", "fixed_utc");
					cJSON_AddItemToObject(moment, "value",
										  moment_bound(n, "<=", col->type, &key));
					cJSON_AddItemToObject(cond, key, moment);
				}
				else
				{
					moment = cJSON_CreateObject();
					cJSON_AddStringToObject(moment, "type", "fixed_utc");
					cJSON_AddItemToObject(moment, "value",
										  moment_bound(add_value(ctx, value), op,
													   col->type, &key));
					cJSON_AddItemToObject(cond, key, moment);
				}
				return field_condition(col, cond);
			}
		case CLOSE_SEARCH_NUMBER:
			{
				int			n;

				if (!is_numeric_type(valtype) || strcmp(op, "<>") == 0)
					return NULL;
				n = add_value(ctx, value);
				cond = cJSON_CreateObject();
				cJSON_AddStringToObject(cond, "type", "number_range");
				if (op[0] == '>' || op[0] == '=')
					cJSON_AddItemToObject(cond, "gte", placeholder(n, AS_FLOOR));
				if (op[0] == '<' || op[0] == '=')
					cJSON_AddItemToObject(cond, "lte", placeholder(n, AS_CEIL));
				return field_condition(col, cond);
			}
		case CLOSE_SEARCH_REFERENCE:
		case CLOSE_SEARCH_TERM:
		case CLOSE_SEARCH_STATUS_LABEL:
			if (!is_string_eq)
				return NULL;
			cond = cJSON_CreateObject();
			if (col->kind == CLOSE_SEARCH_TERM)
			{
				cJSON_AddStringToObject(cond, "type", "term");
				cJSON_AddItemToObject(cond, "values",
									  placeholder(add_value(ctx, value), AS_STRINGS));
				return field_condition(col, cond);
			}
			cJSON_AddStringToObject(cond, "type", "reference");
			cJSON_AddStringToObject(cond, "reference_type", col->reference_type);
			if (col->kind == CLOSE_SEARCH_STATUS_LABEL)
			{
				SearchColumn status = *col;

				/* the label is sent as the ids of the statuses so named */
				status.name = "status_id";
				cJSON_AddItemToObject(cond, "object_ids",
									  placeholder(add_value(ctx, value), AS_STATUS_IDS));
				return field_condition(&status, cond);
			}
			cJSON_AddItemToObject(cond, "object_ids",
								  placeholder(add_value(ctx, value), AS_STRINGS));
			return field_condition(col, cond);
	}
	return NULL;
}

/*
 * commuted_op
 *		The operator name with its operands swapped.
 */
static const char *
commuted_op(const char *op)
{
	if (strcmp(op, "<") == 0)
		return ">";
	if (strcmp(op, "<=") == 0)
		return ">=";
	if (strcmp(op, ">") == 0)
		return "<";
	if (strcmp(op, ">=") == 0)
		return "<=";
	return op;
}

static cJSON *push_clause(PushContext *ctx, Expr *clause);

/*
 * push_bool
 *		An "and"/"or" node of the pushable parts of a BoolExpr, or NULL.  An
 *		AND keeps the parts it can push (fewer conditions select more); an
 *		OR needs every branch.
 */
static cJSON *
push_bool(PushContext *ctx, BoolExpr *b)
{
	cJSON	   *node;
	cJSON	   *queries;
	ListCell   *lc;
	int			saved = list_length(ctx->exprs);

	if (b->boolop == NOT_EXPR)
		return NULL;
	node = cJSON_CreateObject();
	cJSON_AddStringToObject(node, "type", b->boolop == AND_EXPR ? "and" : "or");
	queries = cJSON_AddArrayToObject(node, "queries");
	foreach(lc, b->args)
	{
		cJSON	   *child = push_clause(ctx, (Expr *) lfirst(lc));

		if (child != NULL)
			cJSON_AddItemToArray(queries, child);
		else if (b->boolop == OR_EXPR)
		{
			cJSON_Delete(node);
			ctx->exprs = list_truncate(ctx->exprs, saved);
			return NULL;
		}
	}
	if (cJSON_GetArraySize(queries) == 0)
	{
		cJSON_Delete(node);
		return NULL;
	}
	if (cJSON_GetArraySize(queries) == 1)
	{
		cJSON	   *only = cJSON_DetachItemFromArray(queries, 0);

		cJSON_Delete(node);
		return only;
	}
	return node;
}

/*
 * push_clause
 *		The search query node for "clause", a superset of the rows it
 *		selects, or NULL when it cannot be pushed.
 */
static cJSON *
push_clause(PushContext *ctx, Expr *clause)
{
	SearchColumn col;
	AttrNumber	attno;

	if (IsA(clause, BoolExpr))
	{
		Expr	   *any = close_or_to_any(clause);

		if (any != clause)
			return push_clause(ctx, any);
		return push_bool(ctx, (BoolExpr *) clause);
	}
	if (IsA(clause, NullTest))
	{
		NullTest   *nt = (NullTest *) clause;
		cJSON	   *cond;
		cJSON	   *node;

		if (nt->argisrow ||
			(attno = close_clause_column((Node *) nt->arg, ctx->relid, ctx->table)) == 0 ||
			!search_column(ctx->sobj, ctx->table, attno,
						   exprType((Node *) nt->arg), &col))
			return NULL;
		/* "exists" is false for "" and []: IS NOT NULL only where none can be */
		if (nt->nulltesttype == IS_NOT_NULL && !col.never_empty)
			return NULL;
		cond = cJSON_CreateObject();
		cJSON_AddStringToObject(cond, "type", "exists");
		node = field_condition(&col, cond);
		if (nt->nulltesttype == IS_NULL)
			cJSON_AddBoolToObject(node, "negate", true);
		if (strcmp(col.name, "date_updated") == 0 && !col.custom)
			ctx->date_updated = true;
		return node;
	}
	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left = linitial(op->args);
		Node	   *right = lsecond(op->args);
		const char *opname = get_opname(op->opno);
		cJSON	   *node;

		if (opname == NULL)
			return NULL;
		if ((attno = close_clause_column(left, ctx->relid, ctx->table)) == 0)
		{
			if ((attno = close_clause_column(right, ctx->relid, ctx->table)) == 0)
				return NULL;
			right = left;
			left = lsecond(op->args);
			opname = commuted_op(opname);
		}
		if (!close_usable_value(right, ctx->relid) ||
			!search_column(ctx->sobj, ctx->table, attno, exprType(left), &col))
			return NULL;
		node = push_comparison(ctx, &col, opname, (Expr *) right,
							   close_is_string_equality(op->opno));
		if (node != NULL && strcmp(col.name, "date_updated") == 0 && !col.custom)
			ctx->date_updated = true;
		return node;
	}
	if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		Node	   *right = lsecond(saop->args);

		if (!saop->useOr || !close_is_string_equality(saop->opno) ||
			(attno = close_clause_column(linitial(saop->args), ctx->relid, ctx->table)) == 0 ||
			!close_usable_value(right, ctx->relid) ||
			!search_column(ctx->sobj, ctx->table, attno,
						   exprType(linitial(saop->args)), &col) ||
			col.kind == CLOSE_SEARCH_MOMENT || col.kind == CLOSE_SEARCH_NUMBER)
			return NULL;
		return push_comparison(ctx, &col, "=", (Expr *) right, true);
	}
	return NULL;
}

/*
 * close_search_pushdown
 *		The search conditions for RestrictInfos "clauses" of relation "relid"
 *		(a JSON array of query nodes with value placeholders), or NULL when
 *		none can be pushed.  Appends the value expressions to *exprs, counts
 *		the clauses pushed in *npushed, and says whether a condition names
 *		date_updated.
 */
char *
close_search_pushdown(List *clauses, Index relid, CloseTableInfo *table,
					  List **exprs, int *npushed, bool *filters_date_updated)
{
	PushContext ctx;
	cJSON	   *conds = cJSON_CreateArray();
	ListCell   *lc;
	char	   *result = NULL;

	*npushed = 0;
	*filters_date_updated = false;
	ctx.sobj = close_search_object(table->object);
	ctx.table = table;
	ctx.relid = relid;
	ctx.exprs = *exprs;
	ctx.date_updated = false;
	if (ctx.sobj == NULL)
		return NULL;
	foreach(lc, clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		cJSON	   *node = push_clause(&ctx, rinfo->clause);

		if (node == NULL)
			continue;
		cJSON_AddItemToArray(conds, node);
		(*npushed)++;
	}
	if (cJSON_GetArraySize(conds) > 0)
	{
		result = close_json_text(conds);
	}
	cJSON_Delete(conds);
	*exprs = ctx.exprs;
	*filters_date_updated = ctx.date_updated;
	return result;
}

/* Execution-side state of filling in a template. */
typedef struct FillContext
{
	List	   *exprstates;
	ExprContext *econtext;
	CloseConnection *conn;
	const CloseSearchObject *sobj;
	List	  **status_cache;
	MemoryContext cache_cxt;
} FillContext;

/* What filling in a node gives. */
typedef enum FillResult
{
	FILL_NODE,					/* a condition to send */
	FILL_TRUE,					/* matches everything: leave it out */
	FILL_FALSE					/* matches nothing */
} FillResult;

/*
 * timestamp_value
 *		The value of a fixed_utc moment for a timestamp.
 */
static cJSON *
timestamp_value(TimestampTz ts)
{
	return cJSON_CreateString(close_datum_text(TimestampTzGetDatum(ts), TIMESTAMPTZOID));
}

/*
 * add_status_ids
 *		Append to "ids" the ids of the statuses labelled "label" (read from
 *		Close once per scan).
 */
static void
add_status_ids(FillContext *ctx, const char *label, cJSON *ids)
{
	ListCell   *lc;

	if (*ctx->status_cache == NIL)
	{
		const CloseObjectDef *statuses = close_catalog_lookup(ctx->sobj->status_collection);
		MemoryContext old = MemoryContextSwitchTo(ctx->cache_cxt);

		*ctx->status_cache = close_list_all(ctx->conn, statuses);
		if (*ctx->status_cache == NIL)
			*ctx->status_cache = list_make1(NULL);	/* none, and known */
		MemoryContextSwitchTo(old);
	}
	foreach(lc, *ctx->status_cache)
	{
		cJSON	   *status = (cJSON *) lfirst(lc);
		cJSON	   *l = cJSON_GetObjectItemCaseSensitive(status, "label");
		cJSON	   *id = cJSON_GetObjectItemCaseSensitive(status, "id");

		if (status != NULL && cJSON_IsString(l) && cJSON_IsString(id) &&
			strcmp(l->valuestring, label) == 0)
			cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
	}
}

/*
 * fill_placeholder
 *		The JSON value placeholder "ph" stands for, or NULL when the value
 *		selects nothing (SQL NULL, no such status) — *widen is set instead
 *		when it cannot be sent but selects something (NaN, infinity).
 */
static cJSON *
fill_placeholder(FillContext *ctx, cJSON *ph, bool *widen)
{
	int			n = (int) cJSON_GetObjectItemCaseSensitive(ph, "$value")->valuedouble;
	const char *how = cJSON_GetObjectItemCaseSensitive(ph, "as")->valuestring;
	ExprState  *state = (ExprState *) list_nth(ctx->exprstates, n - 1);
	Oid			typid = exprType((Node *) state->expr);
	bool		isnull;
	Datum		value = ExecEvalExpr(state, ctx->econtext, &isnull);

	*widen = false;
	if (isnull)
		return NULL;
	if (strcmp(how, AS_STRINGS) == 0 || strcmp(how, AS_STATUS_IDS) == 0)
	{
		cJSON	   *list = cJSON_CreateArray();
		Datum	   *elems = &value;
		bool	   *nulls = &isnull;
		int			nelems = 1;
		Oid			elemtype = typid;
		int			i;

		if (type_is_array(typid))
			close_array_elements(value, &elemtype, &elems, &nulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			char	   *text;

			if (nulls[i])
				continue;
			text = close_datum_text(elems[i], elemtype);
			/* how Close matches an empty value is unknown: don't narrow */
			if (text[0] == '\0')
			{
				cJSON_Delete(list);
				*widen = true;
				return NULL;
			}
			if (strcmp(how, AS_STATUS_IDS) == 0)
				add_status_ids(ctx, text, list);
			else
				cJSON_AddItemToArray(list, cJSON_CreateString(text));
		}
		if (cJSON_GetArraySize(list) == 0)
		{
			cJSON_Delete(list);
			return NULL;
		}
		return list;
	}
	if (strcmp(how, AS_FLOOR) == 0 || strcmp(how, AS_CEIL) == 0)
	{
		Datum		num;
		char	   *text;

		if (typid == FLOAT4OID || typid == FLOAT8OID)
		{
			double		d = typid == FLOAT4OID ? DatumGetFloat4(value) : DatumGetFloat8(value);

			if (isnan(d) || isinf(d))
			{
				*widen = true;
				return NULL;
			}
			d = strcmp(how, AS_FLOOR) == 0 ? floor(d) : ceil(d);
			return cJSON_CreateRaw(psprintf("%.0f", d));
		}
		num = typid == NUMERICOID ? value :
			DirectFunctionCall1(typid == INT2OID ? int2_numeric :
								typid == INT4OID ? int4_numeric : int8_numeric, value);
		text = DatumGetCString(DirectFunctionCall1(numeric_out, num));
		if (strcmp(text, "NaN") == 0 || strstr(text, "Infinity") != NULL)
		{
			*widen = true;
			return NULL;
		}
		num = DirectFunctionCall1(strcmp(how, AS_FLOOR) == 0 ? numeric_floor : numeric_ceil, num);
		return cJSON_CreateRaw(DatumGetCString(DirectFunctionCall1(numeric_out, num)));
	}
	/* moments */
	{
		TimestampTz ts;

		if (typid == DATEOID)
		{
			DateADT		d = DatumGetDateADT(value);

			if (DATE_NOT_FINITE(d))
			{
				*widen = true;
				return NULL;
			}
			d += strcmp(how, AS_DAY_BEFORE) == 0 ? -1 : 2;
			ts = (TimestampTz) d * USECS_PER_DAY;
		}
		else
		{
			ts = DatumGetTimestampTz(value);
			if (TIMESTAMP_NOT_FINITE(ts))
			{
				*widen = true;
				return NULL;
			}
			if (strcmp(how, AS_CEIL_SECOND) == 0)
				ts += USECS_PER_SEC - 1;
			ts = close_floor_second(ts);
			if (strcmp(how, AS_NEXT_SECOND) == 0)
				ts += USECS_PER_SEC;
		}
		return timestamp_value(ts);
	}
}

static FillResult fill_node(FillContext *ctx, cJSON *node);

/*
 * fill_values
 *		Replace every placeholder under "node" by its value.  FILL_FALSE if
 *		a value selects nothing, FILL_TRUE if one cannot be sent.
 */
static FillResult
fill_values(FillContext *ctx, cJSON *node)
{
	cJSON	   *child;

	for (child = node->child; child != NULL; child = child->next)
	{
		if (cJSON_IsObject(child) &&
			cJSON_GetObjectItemCaseSensitive(child, "$value") != NULL)
		{
			bool		widen;
			cJSON	   *value = fill_placeholder(ctx, child, &widen);

			if (value == NULL)
				return widen ? FILL_TRUE : FILL_FALSE;
			cJSON_ReplaceItemInObjectCaseSensitive(node, child->string, value);
			child = value;
		}
		else if (cJSON_IsObject(child))
		{
			FillResult	r = fill_values(ctx, child);

			if (r != FILL_NODE)
				return r;
		}
	}
	return FILL_NODE;
}

/*
 * fill_node
 *		Fill in one query node: boolean nodes by their children's results
 *		(an "and" with a false child is false, an "or" with a true child is
 *		true), conditions by their values.  A negated condition is only ever
 *		"exists", which has no values.
 */
static FillResult
fill_node(FillContext *ctx, cJSON *node)
{
	const char *type = cJSON_GetObjectItemCaseSensitive(node, "type")->valuestring;
	bool		is_and = strcmp(type, "and") == 0;

	if (is_and || strcmp(type, "or") == 0)
	{
		cJSON	   *queries = cJSON_GetObjectItemCaseSensitive(node, "queries");
		cJSON	   *child = queries->child;

		while (child != NULL)
		{
			cJSON	   *next = child->next;
			FillResult	r = fill_node(ctx, child);

			if (r == FILL_FALSE && is_and)
				return FILL_FALSE;
			if (r == FILL_TRUE && !is_and)
				return FILL_TRUE;
			if (r != FILL_NODE)
				cJSON_Delete(cJSON_DetachItemViaPointer(queries, child));
			child = next;
		}
		if (cJSON_GetArraySize(queries) == 0)
			return is_and ? FILL_TRUE : FILL_FALSE;
		return FILL_NODE;
	}
	return fill_values(ctx, node);
}

/*
 * close_search_conditions
 *		The search conditions of template "template" (from
 *		close_search_pushdown) with the values of "exprstates" for this scan,
 *		as a JSON array; NULL when none is left.  Sets *matches_nothing when
 *		the values select no object at all (so nothing need be sent).  Lead
 *		and opportunity status labels are looked up in Close, once per
 *		scan ("status_cache", kept in "cache_cxt").
 */
char *
close_search_conditions(const char *template, List *exprstates,
						ExprContext *econtext, CloseConnection *conn,
						const CloseObjectDef *object, List **status_cache,
						MemoryContext cache_cxt, bool *matches_nothing)
{
	FillContext ctx;
	cJSON	   *conds;
	cJSON	   *child;
	char	   *result = NULL;

	*matches_nothing = false;
	if (template == NULL || template[0] == '\0')
		return NULL;
	ctx.exprstates = exprstates;
	ctx.econtext = econtext;
	ctx.conn = conn;
	ctx.sobj = close_search_object(object);
	ctx.status_cache = status_cache;
	ctx.cache_cxt = cache_cxt;
	conds = cJSON_Parse(template);
	if (!cJSON_IsArray(conds))
		elog(ERROR, "malformed search template: %s", template);
	child = conds->child;
	while (child != NULL)
	{
		cJSON	   *next = child->next;
		FillResult	r = fill_node(&ctx, child);

		if (r == FILL_FALSE)
		{
			*matches_nothing = true;
			cJSON_Delete(conds);
			return NULL;
		}
		if (r == FILL_TRUE)
			cJSON_Delete(cJSON_DetachItemViaPointer(conds, child));
		child = next;
	}
	if (cJSON_GetArraySize(conds) > 0)
	{
		result = close_json_text(conds);
	}
	cJSON_Delete(conds);
	return result;
}

/*
 * explain_placeholders
 *		Replace every placeholder under "node" by the string "{n}".
 */
static void
explain_placeholders(cJSON *node)
{
	cJSON	   *child;

	for (child = node->child; child != NULL; child = child->next)
	{
		cJSON	   *n = cJSON_GetObjectItemCaseSensitive(child, "$value");

		if (cJSON_IsObject(child) && n != NULL)
		{
			const char *how = cJSON_GetObjectItemCaseSensitive(child, "as")->valuestring;
			cJSON	   *text = cJSON_CreateString(strcmp(how, AS_STATUS_IDS) == 0 ?
												  psprintf("ids of status {%d}", (int) n->valuedouble) :
												  psprintf("{%d}", (int) n->valuedouble));

			cJSON_ReplaceItemInObjectCaseSensitive(node, child->string, text);
			child = text;
		}
		else
			explain_placeholders(child);
	}
}

/*
 * close_search_explain
 *		Template "template" with its placeholders shown as "{n}", for
 *		EXPLAIN.
 */
char *
close_search_explain(const char *template)
{
	cJSON	   *conds = cJSON_Parse(template);
	char	   *result;

	if (conds == NULL)
		return pstrdup(template);
	explain_placeholders(conds);
	result = close_json_text(conds);
	cJSON_Delete(conds);
	return result;
}

/*
 * close_search_ids_conditions
 *		Search conditions selecting the objects with the ids of "ids" (a
 *		List of String): one "or" of "id" nodes.
 */
char *
close_search_ids_conditions(List *ids)
{
	cJSON	   *conds = cJSON_CreateArray();
	cJSON	   *or = cJSON_CreateObject();
	cJSON	   *queries;
	ListCell   *lc;
	char	   *result;

	cJSON_AddStringToObject(or, "type", "or");
	queries = cJSON_AddArrayToObject(or, "queries");
	foreach(lc, ids)
	{
		cJSON	   *node = cJSON_CreateObject();

		cJSON_AddStringToObject(node, "type", "id");
		cJSON_AddStringToObject(node, "value", strVal(lfirst(lc)));
		cJSON_AddItemToArray(queries, node);
	}
	cJSON_AddItemToArray(conds, or);
	result = close_json_text(conds);
	cJSON_Delete(conds);
	return result;
}
