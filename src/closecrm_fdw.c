/*-------------------------------------------------------------------------
 *
 * closecrm_fdw.c
 *		  Entry points of the Close CRM foreign data wrapper: the handler
 *		  that hands PostgreSQL the callbacks defined in the other files,
 *		  and closecrm_fdw_version().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "closecrm_fdw.h"
#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(closecrm_fdw_handler);
void		_PG_init(void);

/*
 * _PG_init
 *		Module load: define the GUCs, follow transactions, and (when loaded
 *		through shared_preload_libraries) reserve the shared rate-limit
 *		state.
 */
void
_PG_init(void)
{
	close_connection_init();
	close_listing_init();
	MarkGUCPrefixReserved("closecrm_fdw");
	close_xact_init();
	close_ratelimit_init();
}

PG_FUNCTION_INFO_V1(closecrm_fdw_version);

/*
 * closecrm_fdw_handler
 *		The FdwRoutine of closecrm_fdw.
 */
Datum
closecrm_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	/* scans (planner.c, scan.c) */
	routine->GetForeignRelSize = closeGetForeignRelSize;
	routine->GetForeignPaths = closeGetForeignPaths;
	routine->GetForeignPlan = closeGetForeignPlan;
	routine->BeginForeignScan = closeBeginForeignScan;
	routine->IterateForeignScan = closeIterateForeignScan;
	routine->ReScanForeignScan = closeReScanForeignScan;
	routine->EndForeignScan = closeEndForeignScan;
	routine->ExplainForeignScan = closeExplainForeignScan;

	/* ANALYZE (analyze.c) */
	routine->AnalyzeForeignTable = closeAnalyzeForeignTable;

	/* changes (modify.c) */
	routine->AddForeignUpdateTargets = closeAddForeignUpdateTargets;
	routine->PlanForeignModify = closePlanForeignModify;
	routine->BeginForeignModify = closeBeginForeignModify;
	routine->ExecForeignInsert = closeExecForeignInsert;
	routine->BeginForeignInsert = closeBeginForeignInsert;
	routine->EndForeignInsert = closeEndForeignInsert;
	routine->GetForeignModifyBatchSize = closeGetForeignModifyBatchSize;
	routine->ExecForeignBatchInsert = closeExecForeignBatchInsert;
	routine->ExecForeignUpdate = closeExecForeignUpdate;
	routine->ExecForeignDelete = closeExecForeignDelete;
	routine->EndForeignModify = closeEndForeignModify;
	routine->IsForeignRelUpdatable = closeIsForeignRelUpdatable;
	routine->PlanDirectModify = closePlanDirectModify;
	routine->BeginDirectModify = closeBeginDirectModify;
	routine->IterateDirectModify = closeIterateDirectModify;
	routine->EndDirectModify = closeEndDirectModify;
	routine->ExplainForeignModify = closeExplainForeignModify;
	routine->ExplainDirectModify = closeExplainDirectModify;

	/* IMPORT FOREIGN SCHEMA (import.c) */
	routine->ImportForeignSchema = closeImportForeignSchema;

	PG_RETURN_POINTER(routine);
}

/*
 * closecrm_fdw_version
 *		Versions of the extension and of the libcurl and cJSON it runs with.
 */
Datum
closecrm_fdw_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("closecrm_fdw %s, %s, cJSON %s",
											  CLOSECRM_FDW_VERSION,
											  close_curl_version(),
											  cJSON_Version())));
}
