/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  The backend's cache of what it keeps per (server, user mapping):
 *		  a libcurl multi handle, whose connection pool keeps connections to
 *		  Close alive between requests and statements, and the rate-limit
 *		  state of each Close endpoint group, which is per API key.
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
#include <math.h>

#include "closecrm_fdw.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* What we know of one endpoint group's rate limit. */
typedef struct CloseRateGroup
{
	char	   *name;			/* "GET lead/{id}" */
	double		limit;			/* requests per window; -1 unknown */
	double		remaining;		/* left in the window, minus our sends */
	TimestampTz reset_at;		/* when the window resets */
	TimestampTz next_send_at;	/* pacing: not before this */
	struct CloseRateGroup *next;
} CloseRateGroup;

/* One cache entry. */
typedef struct CloseSession
{
	Oid			umid;			/* hash key: the user mapping */
	Oid			serverid;
	uint32		server_hashvalue;
	uint32		mapping_hashvalue;
	CURLM	   *multi;
	bool		invalidated;
	CloseRateGroup *groups;
} CloseSession;

static HTAB *session_cache = NULL;

/* GUC: idle connections each session keeps open */
int			close_max_idle_connections = 4;

/*
 * release_session
 *		Close the session's connections and forget its rate-limit state.
 */
static void
release_session(CloseSession *session)
{
	CloseRateGroup *g = session->groups;

	if (session->multi != NULL)
	{
		curl_multi_cleanup(session->multi);
		session->multi = NULL;
	}
	while (g != NULL)
	{
		CloseRateGroup *next = g->next;

		pfree(g->name);
		pfree(g);
		g = next;
	}
	session->groups = NULL;
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
							"Connections above this are closed once idle; 0 closes each after use.",
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
		session->groups = NULL;
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
	curl_multi_setopt(session->multi, CURLMOPT_MAXCONNECTS,
					  (long) close_max_idle_connections);
	curl_multi_setopt(session->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  (long) conn->opts.max_concurrency);
	return session->multi;
}

/*
 * find_group
 *		The rate-limit state of endpoint group "name" in the session of
 *		"conn", created on first use.
 */
static CloseRateGroup *
find_group(CloseConnection *conn, const char *name)
{
	CloseSession *session = hash_search(session_cache, &conn->umid, HASH_FIND, NULL);
	CloseRateGroup *g;

	Assert(session != NULL);
	for (g = session->groups; g != NULL; g = g->next)
	{
		if (strcmp(g->name, name) == 0)
			return g;
	}
	g = MemoryContextAllocZero(TopMemoryContext, sizeof(CloseRateGroup));
	g->name = MemoryContextStrdup(TopMemoryContext, name);
	g->limit = -1;
	g->remaining = -1;
	g->next = session->groups;
	session->groups = g;
	return g;
}

/*
 * close_rate_delay
 *		Milliseconds to wait before sending a request of endpoint group
 *		"group" so as to stay within Close's limit: none while the window
 *		has requests left; until the reset when it has none; and once fewer
 *		than a tenth are left, requests are spread over the rest of the
 *		window.  A request that may go now is counted against the window.
 */
long
close_rate_delay(CloseConnection *conn, const char *group, TimestampTz now)
{
	CloseRateGroup *g = find_group(conn, group);
	long		until_reset;

	if (g->remaining < 0 || g->reset_at <= now)
		return 0;				/* unknown, or the window is over */
	if (now < g->next_send_at)
		return (long) ((g->next_send_at - now + 999) / 1000);
	until_reset = (long) ((g->reset_at - now + 999) / 1000);
	if (g->remaining < 1)
		return until_reset;
	g->remaining -= 1;
	if (g->limit > 0 && g->remaining < g->limit / 10)
		g->next_send_at = now + (TimestampTz) (until_reset * 1000 / (g->remaining + 1));
	return 0;
}

/*
 * close_rate_note
 *		Remember what a response's RateLimit header (or a 429 with
 *		"wait_ms") said about endpoint group "group".
 */
void
close_rate_note(CloseConnection *conn, const char *group, const CloseRateLimit *rl,
				long wait_ms, TimestampTz now)
{
	CloseRateGroup *g = find_group(conn, group);

	if (rl != NULL && rl->remaining >= 0 && rl->reset >= 0)
	{
		g->remaining = rl->remaining;
		g->limit = rl->limit;
		g->reset_at = now + (TimestampTz) ceil(rl->reset * 1000000.0);
	}
	if (wait_ms >= 0)
	{
		g->remaining = 0;
		g->reset_at = Max(g->reset_at, now + (TimestampTz) wait_ms * 1000);
	}
}
