/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  The PostgreSQL versions closecrm_fdw builds against (14 to 18) and
 *		  what differs between them, in one place: the code calls the
 *		  wrappers below (or the current name of a renamed function) and
 *		  never tests PG_VERSION_NUM itself.
 *
 * A function PostgreSQL removed or has not got yet keeps its current name
 * here (as a macro or an inline function for the older versions); one whose
 * arguments changed gets a close_ wrapper taking the arguments the code needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLOSECRM_FDW_COMPAT_H
#define CLOSECRM_FDW_COMPAT_H

#include "access/stratnum.h"
#include "catalog/pg_foreign_server.h"
#include "commands/explain.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "optimizer/pathnode.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "closecrm_fdw needs PostgreSQL 14 or later"
#endif

/* 18 moved ExplainState and the ExplainProperty*() functions. */
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif

#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#else
#include "funcapi.h"
#include "nodes/value.h"
#include "utils/tuplestore.h"
#endif

/*
 * close_create_foreignscan_path
 *		create_foreignscan_path() for a base relation: 17 added the
 *		restriction clauses a join path enforces (none here), 18 the count of
 *		disabled nodes (none).
 */
static inline ForeignPath *
close_create_foreignscan_path(PlannerInfo *root, RelOptInfo *rel,
							  PathTarget *target, double rows,
							  Cost startup_cost, Cost total_cost,
							  List *pathkeys, Relids required_outer,
							  Path *fdw_outerpath, List *fdw_private)
{
#if PG_VERSION_NUM >= 180000
	return create_foreignscan_path(root, rel, target, rows, 0,
								   startup_cost, total_cost, pathkeys,
								   required_outer, fdw_outerpath, NIL,
								   fdw_private);
#elif PG_VERSION_NUM >= 170000
	return create_foreignscan_path(root, rel, target, rows,
								   startup_cost, total_cost, pathkeys,
								   required_outer, fdw_outerpath, NIL,
								   fdw_private);
#else
	return create_foreignscan_path(root, rel, target, rows,
								   startup_cost, total_cost, pathkeys,
								   required_outer, fdw_outerpath,
								   fdw_private);
#endif
}

/*
 * close_pathkey_descending
 *		Whether a btree pathkey sorts descending (18 names the strategy by
 *		comparison type).
 */
static inline bool
close_pathkey_descending(PathKey *pk)
{
#if PG_VERSION_NUM >= 180000
	return pk->pk_cmptype == COMPARE_GT;
#else
	return pk->pk_strategy == BTGreaterStrategyNumber;
#endif
}

/*
 * close_json_lex_context
 *		A lexer over "len" bytes of "json" in "encoding", allocated in the
 *		current memory context (17 can reuse a caller's; we never do).
 */
static inline JsonLexContext *
close_json_lex_context(char *json, int len, int encoding, bool need_escapes)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, encoding, need_escapes);
#else
	return makeJsonLexContextCstringLen(json, len, encoding, need_escapes);
#endif
}

/*
 * close_scan_user
 *		The role whose user mapping a foreign scan (or direct modification)
 *		of range table entry "rtindex" uses: the view owner's when reached
 *		through a view, else the current user.  16 moved the permission
 *		details out of the range table entry; the plan carries the role.
 */
static inline Oid
close_scan_user(ForeignScan *fsplan, Index rtindex, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	RangeTblEntry *rte = exec_rt_fetch(rtindex, estate);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/*
 * close_rte_check_user
 *		At plan time, the role that range table entry "rte" is read as (a
 *		view owner's), or InvalidOid for the current user.
 */
static inline Oid
close_rte_check_user(PlannerInfo *root, RangeTblEntry *rte)
{
#if PG_VERSION_NUM >= 160000
	if (rte->perminfoindex == 0)
		return InvalidOid;
	return getRTEPermissionInfo(root->parse->rteperminfos, rte)->checkAsUser;
#else
	return rte->checkAsUser;
#endif
}

/*
 * close_result_rel_user
 *		The role whose user mapping a modification of "rinfo" uses; a
 *		partition a row is routed to has no range table entry of its own and
 *		uses the current user before 16 (16 takes the partitioned table's).
 */
static inline Oid
close_result_rel_user(ResultRelInfo *rinfo, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecGetResultRelCheckAsUser(rinfo, estate);
#else
	RangeTblEntry *rte;

	if (rinfo->ri_RangeTableIndex == 0)
		return GetUserId();
	rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);
	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/* 16 replaced the per-object-type ACL checks by one. */
#if PG_VERSION_NUM >= 160000
#define pg_foreign_server_aclcheck(server_oid, roleid, mode) \
	object_aclcheck(ForeignServerRelationId, (server_oid), (roleid), (mode))
#endif

/*
 * close_random_fraction
 *		A pseudo-random number in [0, 1) (retry jitter): the backend's PRNG
 *		from 15 on, random() before.
 */
static inline double
close_random_fraction(void)
{
#if PG_VERSION_NUM >= 150000
	return pg_prng_double(&pg_global_prng_state);
#else
	return (double) random() / ((double) MAX_RANDOM_VALUE + 1.0);
#endif
}

/* What 15 added, for 14. */
#if PG_VERSION_NUM < 150000

#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)

/* no Boolean node yet: Integer nodes 0 and 1 carry flags in fdw_private */
#define makeBoolean(value) makeInteger((value) ? 1 : 0)
#define boolVal(node) (intVal(node) != 0)

/*
 * InitMaterializedSRF
 *		Set up a set-returning function's tuplestore and descriptor (the
 *		result type's) in the per-query context, as 15's funcapi.c does
 *		("flags" must be 0).
 */
static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	tupdesc;

	Assert(flags == 0);
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}

#endif							/* PG_VERSION_NUM < 150000 */

#endif							/* CLOSECRM_FDW_COMPAT_H */
