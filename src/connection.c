/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  The backend's cache of what it keeps per (server, user mapping):
 *		  a libcurl multi handle, whose connection pool keeps connections to
 *		  Close alive between requests and statements.  (What is known of
 *		  Close's rate limits is per API key, in ratelimit.c.)
 *
 * Like postgres_fdw's connection cache, entries are keyed by user mapping
 * and invalidated when the server or the user mapping changes (syscache
 * callbacks): the next request then opens fresh connections with the new
 * settings.  Everything is closed when the backend exits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "closecrm_fdw.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* One cache entry. */
typedef struct CloseSession
{
	Oid			umid;			/* hash key: the user mapping */
	Oid			serverid;
	uint32		server_hashvalue;
	uint32		mapping_hashvalue;
	CURLM	   *multi;
	bool		invalidated;
} CloseSession;

static HTAB *session_cache = NULL;

/* GUC: idle connections each session keeps open */
int			close_max_idle_connections = 4;

/*
 * release_session
 *		Close the session's connections.
 */
static void
release_session(CloseSession *session)
{
	if (session->multi != NULL)
	{
		curl_multi_cleanup(session->multi);
		session->multi = NULL;
	}
}

/*
 * invalidation_callback
 *		Syscache callback: mark the sessions of a changed server or user
 *		mapping (hashvalue 0: all) so they are rebuilt on next use.
 */
static void
invalidation_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	CloseSession *session;

	hash_seq_init(&scan, session_cache);
	while ((session = (CloseSession *) hash_seq_search(&scan)) != NULL)
	{
		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID && session->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID && session->mapping_hashvalue == hashvalue))
			session->invalidated = true;
	}
}

/*
 * exit_callback
 *		Close every connection when the backend exits.
 */
static void
exit_callback(int code, Datum arg)
{
	HASH_SEQ_STATUS scan;
	CloseSession *session;

	if (session_cache == NULL)
		return;
	hash_seq_init(&scan, session_cache);
	while ((session = (CloseSession *) hash_seq_search(&scan)) != NULL)
		release_session(session);
}

/*
 * close_connection_init
 *		Register the GUC of this file; called from _PG_init.
 */
void
close_connection_init(void)
{
	DefineCustomIntVariable("closecrm_fdw.max_idle_connections",
							"Idle connections to Close kept open per server and user mapping.",
							"At least the server's max_concurrency are kept; 0 closes each after use.",
							&close_max_idle_connections,
							4, 0, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * close_session_multi
 *		The libcurl multi handle of the session for "conn", creating the
 *		session (or rebuilding an invalidated one) as needed.
 */
CURLM *
close_session_multi(CloseConnection *conn)
{
	CloseSession *session;
	bool		found;

	if (session_cache == NULL)
	{
		HASHCTL		ctl;

		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not initialize libcurl")));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CloseSession);
		session_cache = hash_create("closecrm_fdw sessions", 8, &ctl,
									HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidation_callback, 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidation_callback, 0);
		on_proc_exit(exit_callback, 0);
	}

	session = hash_search(session_cache, &conn->umid, HASH_ENTER, &found);
	if (!found)
	{
		session->multi = NULL;
		session->invalidated = false;
	}
	if (session->invalidated)
	{
		release_session(session);
		session->invalidated = false;
	}
	if (session->multi == NULL)
	{
		session->serverid = conn->serverid;
		session->server_hashvalue =
			GetSysCacheHashValue1(FOREIGNSERVEROID, ObjectIdGetDatum(conn->serverid));
		session->mapping_hashvalue =
			GetSysCacheHashValue1(USERMAPPINGOID, ObjectIdGetDatum(conn->umid));
		session->multi = curl_multi_init();
		if (session->multi == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	/*
	 * Keep at least as many idle connections as requests go out at once:
	 * with fewer, every burst (a listing's read-ahead, a batch of lookups)
	 * would open the difference anew.  0 means none are kept (http.c then
	 * forbids reuse: libcurl reads a cache size of 0 as its default).
	 */
	curl_multi_setopt(session->multi, CURLMOPT_MAXCONNECTS,
					  close_max_idle_connections == 0 ? 0L :
					  (long) Max(close_max_idle_connections,
								 conn->opts.max_concurrency));
	curl_multi_setopt(session->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  (long) conn->opts.max_concurrency);
	return session->multi;
}
