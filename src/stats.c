/*-------------------------------------------------------------------------
 *
 * stats.c
 *		  What this backend's requests to Close cost, per server: requests by
 *		  method and status class, retries, 429s, time spent waiting on rate
 *		  limits, bytes, connections opened; and the SQL functions
 *		  closecrm_fdw_stats() and closecrm_fdw_stats_reset().
 *
 * The counters live in backend memory and are never written to a table,
 * so they work in read-only transactions and on standbys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "closecrm_fdw.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

static HTAB *stats_table = NULL;

PG_FUNCTION_INFO_V1(closecrm_fdw_stats);
PG_FUNCTION_INFO_V1(closecrm_fdw_stats_reset);

/*
 * close_stats_for
 *		The counters of server "serverid", zeroed on first use.
 */
CloseServerStats *
close_stats_for(Oid serverid)
{
	CloseServerStats *stats;
	bool		found;

	if (stats_table == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CloseServerStats);
		stats_table = hash_create("closecrm_fdw stats", 8, &ctl,
								  HASH_ELEM | HASH_BLOBS);
	}
	stats = hash_search(stats_table, &serverid, HASH_ENTER, &found);
	if (!found)
	{
		memset(stats, 0, sizeof(*stats));
		stats->serverid = serverid;
	}
	return stats;
}

/*
 * close_stats_method_index
 *		The slot of "method" in CloseServerStats.by_method.
 */
int
close_stats_method_index(const char *method)
{
	static const char *const methods[] = CLOSE_STATS_METHODS;
	int			i;

	for (i = 0; i < CLOSE_STATS_NMETHODS; i++)
	{
		if (strcmp(methods[i], method) == 0)
			return i;
	}
	return 0;
}

/*
 * closecrm_fdw_stats
 *		One row per server this backend sent requests to.
 */
Datum
closecrm_fdw_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS scan;
	CloseServerStats *s;

	InitMaterializedSRF(fcinfo, 0);
	if (stats_table == NULL)
		return (Datum) 0;
	hash_seq_init(&scan, stats_table);
	while ((s = (CloseServerStats *) hash_seq_search(&scan)) != NULL)
	{
		ForeignServer *server = GetForeignServerExtended(s->serverid, FSV_MISSING_OK);
		Datum		values[18];
		bool		nulls[18] = {0};
		int64		total = 0;
		int			i,
					n = 0;

		for (i = 0; i < CLOSE_STATS_NMETHODS; i++)
			total += s->by_method[i];
		if (server != NULL)
			values[n++] = CStringGetTextDatum(server->servername);
		else
			nulls[n++] = true;
		values[n++] = Int64GetDatum(total);
		for (i = 0; i < CLOSE_STATS_NMETHODS; i++)
			values[n++] = Int64GetDatum(s->by_method[i]);
		for (i = 0; i < 4; i++)
			values[n++] = Int64GetDatum(s->by_status_class[i]);
		values[n++] = Int64GetDatum(s->transport_errors);
		values[n++] = Int64GetDatum(s->retries);
		values[n++] = Int64GetDatum(s->rate_limited);
		values[n++] = Int64GetDatum(s->rate_wait_ms);
		values[n++] = Int64GetDatum(s->bytes_in);
		values[n++] = Int64GetDatum(s->bytes_out);
		values[n++] = Int64GetDatum(s->connections_opened);
		Assert(n == lengthof(values));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * closecrm_fdw_stats_reset
 *		Forget every counter of this backend.
 */
Datum
closecrm_fdw_stats_reset(PG_FUNCTION_ARGS)
{
	if (stats_table != NULL)
	{
		hash_destroy(stats_table);
		stats_table = NULL;
	}
	PG_RETURN_VOID();
}
