/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		  What closecrm_fdw knows of Close's rate limits, per API key and
 *		  endpoint group: the limit, what is left of the current window and
 *		  when it resets; the pacing decisions taken from it (http.c asks
 *		  before each request); and closecrm_fdw_rate_limits(), which shows
 *		  it.
 *
 * Close counts requests per key, so every backend sending with one key
 * should pace against one budget.  When the library is in
 * shared_preload_libraries the state lives in shared memory (reserved
 * through shmem_request_hook) and N sessions together stay under the
 * limit.  Otherwise each backend keeps its own (the fallback): sessions
 * then learn of each other only through Close's RateLimit headers and the
 * 429s they wait out.  Either way an entry is named by a SHA-256 of
 * base_url and the key, never the key itself, and the table holds at most
 * CLOSE_RATE_ENTRIES groups (the least recently used one makes room).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_foreign_server.h"
#include "closecrm_fdw.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* Endpoint groups (of all keys) the table holds. */
#define CLOSE_RATE_ENTRIES	1024
/* Bytes of the group name kept for closecrm_fdw_rate_limits(). */
#define CLOSE_RATE_GROUP_LEN 64
/* Longest wait for the first answer of a group before sending more. */
#define PROBE_MAX_MS		2000
/* How often requests waiting for that answer look again. */
#define PROBE_POLL_MS		20
/* Window length assumed until an answer says (Close's are seconds). */
#define DEFAULT_WINDOW_US	1000000

/* The identity of one endpoint group of one key on one base_url. */
typedef struct CloseRateTag
{
	uint8		key[16];		/* SHA-256 of base_url and the key, cut */
	uint64		group;			/* hash of the group name */
} CloseRateTag;

/* What is known of one endpoint group's limit. */
typedef struct CloseRateEntry
{
	CloseRateTag tag;			/* hash key */
	char		group[CLOSE_RATE_GROUP_LEN];	/* name, for display */
	double		limit;			/* requests per window; -1 unknown */
	double		remaining;		/* left in the window, minus what we sent */
	TimestampTz reset_at;		/* when the window ends */
	int64		window_us;		/* the window's length, as far as seen */
	TimestampTz next_send_at;	/* pacing: nothing before this */
	TimestampTz blocked_until;	/* a 429 asked to wait until then */
	TimestampTz probe_until;	/* first request out, the others wait */
	bool		answered;		/* Close answered a request of the group */
	TimestampTz last_used;
} CloseRateEntry;

/* the table: in shared memory when preloaded, else this backend's */
static HTAB *rate_table = NULL;
static bool rate_table_shared = false;
static LWLock *rate_lock = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

PG_FUNCTION_INFO_V1(closecrm_fdw_rate_limits);

/*
 * rate_shmem_request
 *		Reserve the shared table and its lock (postmaster, while loading
 *		shared_preload_libraries).
 */
static void
rate_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(hash_estimate_size(CLOSE_RATE_ENTRIES,
											  sizeof(CloseRateEntry)));
	RequestNamedLWLockTranche("closecrm_fdw", 1);
}

/*
 * rate_shmem_startup
 *		Create (postmaster) or attach to (EXEC_BACKEND children) the shared
 *		table.
 */
static void
rate_shmem_startup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	info.keysize = sizeof(CloseRateTag);
	info.entrysize = sizeof(CloseRateEntry);
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rate_table = ShmemInitHash("closecrm_fdw rate limits",
							   CLOSE_RATE_ENTRIES, CLOSE_RATE_ENTRIES, &info,
							   HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	rate_lock = &(GetNamedLWLockTranche("closecrm_fdw"))->lock;
	LWLockRelease(AddinShmemInitLock);
	rate_table_shared = true;
}

/*
 * close_ratelimit_init
 *		From _PG_init: when loaded through shared_preload_libraries, ask for
 *		the shared table; otherwise each backend will keep its own.
 */
void
close_ratelimit_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rate_shmem_request;
#else
	rate_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rate_shmem_startup;
}

/*
 * lock_table
 *		Take the table for reading or changing; creates this backend's own
 *		table on first use when there is no shared one.
 */
static void
lock_table(LWLockMode mode)
{
	if (rate_table_shared)
	{
		LWLockAcquire(rate_lock, mode);
		return;
	}
	if (rate_table == NULL)
	{
		HASHCTL		info;

		info.keysize = sizeof(CloseRateTag);
		info.entrysize = sizeof(CloseRateEntry);
		info.hcxt = TopMemoryContext;
		rate_table = hash_create("closecrm_fdw rate limits", 64, &info,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
}

/* Release what lock_table took. */
static void
unlock_table(void)
{
	if (rate_table_shared)
		LWLockRelease(rate_lock);
}

/*
 * connection_key
 *		The first 16 bytes of SHA-256(base_url, NUL, api_key) for "conn",
 *		computed once per connection.
 */
static const uint8 *
connection_key(CloseConnection *conn)
{
	if (!conn->rate_key_set)
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
		uint8		digest[PG_SHA256_DIGEST_LENGTH];

		if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) conn->opts.base_url,
								 strlen(conn->opts.base_url) + 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) conn->api_key,
								 strlen(conn->api_key)) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		{
			pg_cryptohash_free(ctx);
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not hash the API key of server \"%s\"",
							conn->server_name)));
		}
		pg_cryptohash_free(ctx);
		memcpy(conn->rate_key, digest, sizeof(conn->rate_key));
		explicit_bzero(digest, sizeof(digest));
		conn->rate_key_set = true;
	}
	return conn->rate_key;
}

/*
 * find_entry
 *		The entry of endpoint group "group" of "key" (connection_key),
 *		created (evicting the least recently used one if the table is full)
 *		when new.  The table must be locked exclusively; nothing here throws.
 */
static CloseRateEntry *
find_entry(const uint8 *key, const char *group, TimestampTz now)
{
	CloseRateTag tag;
	CloseRateEntry *e;
	bool		found;

	memcpy(tag.key, key, sizeof(tag.key));
	tag.group = hash_bytes_extended((const unsigned char *) group,
									strlen(group), 0);
	e = hash_search(rate_table, &tag, HASH_FIND, NULL);
	if (e == NULL)
	{
		if (hash_get_num_entries(rate_table) >= CLOSE_RATE_ENTRIES)
		{
			HASH_SEQ_STATUS scan;
			CloseRateEntry *x;
			CloseRateEntry *oldest = NULL;

			hash_seq_init(&scan, rate_table);
			while ((x = hash_seq_search(&scan)) != NULL)
			{
				if (oldest == NULL || x->last_used < oldest->last_used)
					oldest = x;
			}
			hash_search(rate_table, &oldest->tag, HASH_REMOVE, NULL);
		}
		e = hash_search(rate_table, &tag, HASH_ENTER, &found);
		memset((char *) e + sizeof(CloseRateTag), 0,
			   sizeof(CloseRateEntry) - sizeof(CloseRateTag));
		snprintf(e->group, sizeof(e->group), "%s", group);
		e->limit = -1;
		e->remaining = -1;
		e->window_us = DEFAULT_WINDOW_US;
	}
	e->last_used = now;
	return e;
}

/* Milliseconds from "now" to "until", at least 1. */
static long
ms_until(TimestampTz now, TimestampTz until)
{
	return Max(1, (long) ((until - now + 999) / 1000));
}

/*
 * close_rate_delay
 *		Milliseconds to wait before sending a request of endpoint group
 *		"group" with the key of "conn", or 0: then the request may go now
 *		and is counted against the window.  Waits: while a 429 asked to;
 *		while the first request of a group whose limit is unknown is out
 *		(its answer tells the limit); until the reset when the window has
 *		nothing left; and once fewer than a tenth are left, requests are
 *		spread over the rest of the window.  A window that has ended is
 *		taken to start again with this request.
 */
long
close_rate_delay(CloseConnection *conn, const char *group, TimestampTz now)
{
	const uint8 *key = connection_key(conn);
	CloseRateEntry *e;
	long		wait_ms = 0;

	lock_table(LW_EXCLUSIVE);
	e = find_entry(key, group, now);
	if (now < e->blocked_until)
		wait_ms = ms_until(now, e->blocked_until);
	else if (e->limit < 0)
	{
		if (e->answered)
			;					/* Close says nothing of a limit here */
		else if (now < e->probe_until)
			wait_ms = Min(PROBE_POLL_MS, ms_until(now, e->probe_until));
		else
			e->probe_until = now +
				(TimestampTz) Min(conn->opts.timeout_ms, PROBE_MAX_MS) * 1000;
	}
	else
	{
		if (e->reset_at <= now)
		{
			e->remaining = e->limit;
			e->reset_at = now + e->window_us;
			e->next_send_at = 0;
		}
		if (now < e->next_send_at)
			wait_ms = ms_until(now, e->next_send_at);
		else if (e->remaining < 1)
			wait_ms = ms_until(now, e->reset_at);
		else
		{
			e->remaining -= 1;
			if (e->remaining < e->limit / 10)
				e->next_send_at = now + (e->reset_at - now) /
					(TimestampTz) (e->remaining + 1);
		}
	}
	unlock_table();
	return wait_ms;
}

/*
 * apply_header
 *		Take in a RateLimit header seen at "now".  It tells of the window we
 *		count in (keep the smaller remaining: ours also counts requests
 *		still in flight), of a later one (start counting from Close's
 *		figures), or of an earlier one (an answer that arrived late:
 *		nothing to learn).  A limit other than the one we knew starts over
 *		from Close's figures, window length included.
 */
static void
apply_header(CloseRateEntry *e, const CloseRateLimit *rl, TimestampTz now)
{
	int64		reset_us = (int64) ceil(rl->reset * 1000000.0);
	TimestampTz reset_at = now + reset_us;
	bool		start_over = e->limit < 0 || (rl->limit > 0 && rl->limit != e->limit);

	e->limit = rl->limit > 0 ? rl->limit : Max(e->limit, rl->remaining + 1);
	if (start_over)
		e->window_us = Max(reset_us, 1000);
	else
		e->window_us = Max(e->window_us, reset_us);
	if (start_over || reset_at > e->reset_at + e->window_us / 2)
	{
		e->reset_at = reset_at;
		e->remaining = rl->remaining;
		e->next_send_at = 0;
	}
	else if (reset_at >= e->reset_at - e->window_us / 2)
	{
		e->reset_at = Max(e->reset_at, reset_at);
		e->remaining = Min(e->remaining, rl->remaining);
	}
}

/*
 * close_rate_answered
 *		An attempt of a request of endpoint group "group" ended: with an
 *		HTTP answer ("answered") whose RateLimit header, if any, is "rl",
 *		or without one.  Either way a first request no longer holds the
 *		others back.
 */
void
close_rate_answered(CloseConnection *conn, const char *group,
					const CloseRateLimit *rl, bool answered, TimestampTz now)
{
	const uint8 *key = connection_key(conn);
	CloseRateEntry *e;

	lock_table(LW_EXCLUSIVE);
	e = find_entry(key, group, now);
	e->probe_until = 0;
	if (answered)
		e->answered = true;
	if (rl != NULL && rl->remaining >= 0 && rl->reset >= 0)
		apply_header(e, rl, now);
	unlock_table();
}

/*
 * close_rate_wait
 *		A 429 asked to wait "wait_ms" before sending more of endpoint group
 *		"group": nobody sending with this key does before then.
 */
void
close_rate_wait(CloseConnection *conn, const char *group, long wait_ms,
				TimestampTz now)
{
	const uint8 *key = connection_key(conn);
	CloseRateEntry *e;

	lock_table(LW_EXCLUSIVE);
	e = find_entry(key, group, now);
	e->blocked_until = Max(e->blocked_until, now + (TimestampTz) wait_ms * 1000);
	if (e->limit >= 0)
	{
		e->remaining = 0;
		e->reset_at = Max(e->reset_at, e->blocked_until);
	}
	unlock_table();
}

/*
 * closecrm_fdw_rate_limits
 *		One row per endpoint group known for the API key of each server the
 *		current user has a user mapping for: what is known of its limit and
 *		window, and whether the state is shared between sessions.
 */
Datum
closecrm_fdw_rate_limits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *servers = close_mapped_servers(GetUserId());
	List	   *keys = NIL;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	/* hash the keys first: nothing that may fail runs under the lock */
	foreach(lc, servers)
	{
		CloseConnection *conn = close_get_connection(lfirst_oid(lc), GetUserId());

		(void) connection_key(conn);
		keys = lappend(keys, conn);
	}

	lock_table(LW_SHARED);
	PG_TRY();
	{
		foreach(lc, keys)
		{
			CloseConnection *conn = (CloseConnection *) lfirst(lc);
			HASH_SEQ_STATUS scan;
			CloseRateEntry *e;

			hash_seq_init(&scan, rate_table);
			while ((e = hash_seq_search(&scan)) != NULL)
			{
				Datum		values[7];
				bool		nulls[7] = {0};

				if (memcmp(e->tag.key, conn->rate_key, sizeof(e->tag.key)) != 0)
					continue;
				values[0] = CStringGetTextDatum(conn->server_name);
				values[1] = CStringGetTextDatum(e->group);
				values[2] = Int64GetDatum((int64) e->limit);
				nulls[2] = e->limit < 0;
				values[3] = Int64GetDatum((int64) Max(e->remaining, 0));
				nulls[3] = e->limit < 0 || e->reset_at <= now;
				values[4] = Int64GetDatum((e->reset_at - now) / 1000);
				nulls[4] = e->limit < 0 || e->reset_at <= now;
				values[5] = Int64GetDatum(Max(e->blocked_until - now, 0) / 1000);
				values[6] = BoolGetDatum(rate_table_shared);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
									 values, nulls);
			}
		}
	}
	PG_FINALLY();
	{
		unlock_table();
	}
	PG_END_TRY();
	return (Datum) 0;
}
