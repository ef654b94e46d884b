/*-------------------------------------------------------------------------
 *
 * xact.c
 *		  Close and PostgreSQL transactions.  Close has none: a request that
 *		  changes Close takes effect when it is sent.  This file counts such
 *		  requests per (sub)transaction and tells the user what that means:
 *		  a WARNING when a transaction or subtransaction that changed Close
 *		  rolls back, an ERROR for PREPARE TRANSACTION after a change (as
 *		  postgres_fdw refuses to prepare), and an ERROR for close_raw
 *		  requests that could change Close in a read-only transaction (as
 *		  PostgreSQL refuses foreign-table writes there).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "closecrm_fdw.h"
#include "utils/memutils.h"

/*
 * Per nesting level of the current transaction (1 = top level), the
 * requests that changed Close: all of them (PREPARE refuses any), and
 * those not yet named in a WARNING (a subtransaction's rollback names its
 * own; the top level's names the rest).
 */
static int *changes = NULL;
static int *unreported = NULL;
static int	levels = 0;			/* allocated entries of both */

/*
 * close_xact_note_change
 *		Count one request that changed Close in the current (sub)transaction.
 */
void
close_xact_note_change(void)
{
	int			level = GetCurrentTransactionNestLevel();

	if (level >= levels)
	{
		int			n = Max(level + 1, Max(levels * 2, 8));

		if (changes == NULL)
		{
			changes = MemoryContextAllocZero(TopMemoryContext, n * sizeof(int));
			unreported = MemoryContextAllocZero(TopMemoryContext, n * sizeof(int));
		}
		else
		{
			changes = repalloc(changes, n * sizeof(int));
			unreported = repalloc(unreported, n * sizeof(int));
			memset(changes + levels, 0, (n - levels) * sizeof(int));
			memset(unreported + levels, 0, (n - levels) * sizeof(int));
		}
		levels = n;
	}
	changes[level]++;
	unreported[level]++;
}

/*
 * warn_not_undone
 *		The WARNING that "n" requests that changed Close stay despite a
 *		rollback ("what": of the transaction or of a subtransaction).
 */
static void
warn_not_undone(int n, const char *what)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("%d request that changed Close is not undone by the rollback of the %s",
						   "%d requests that changed Close are not undone by the rollback of the %s",
						   n, n, what),
			 errdetail("Close has no transactions: each INSERT, UPDATE or DELETE on a Close table, and each close_raw request other than GET, took effect in Close when it was sent."),
			 errhint("Check the objects concerned in Close, and change them back there if needed.")));
}

/*
 * xact_callback
 *		At the end of a top-level transaction: warn on rollback, refuse
 *		PREPARE after a change, and start counting afresh.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	int			n_changes = levels > 1 ? changes[1] : 0;
	int			n_unreported = levels > 1 ? unreported[1] : 0;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (n_changes > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has changed Close"),
						 errdetail_plural("%d request of this transaction changed Close, which has no two-phase commit: the change took effect when it was sent.",
										  "%d requests of this transaction changed Close, which has no two-phase commit: the changes took effect when they were sent.",
										  n_changes, n_changes),
						 errhint("Use COMMIT, or make the changes to Close in a transaction that is not prepared.")));
			return;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (n_unreported > 0)
				warn_not_undone(n_unreported, "transaction");
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	if (levels > 0)
	{
		memset(changes, 0, levels * sizeof(int));
		memset(unreported, 0, levels * sizeof(int));
	}
}

/*
 * subxact_callback
 *		At the end of a subtransaction: its counts go to its parent, and a
 *		rollback warns of the changes it made.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if ((event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB) ||
		level >= levels || level < 2)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB && unreported[level] > 0)
	{
		warn_not_undone(unreported[level], "subtransaction");
		unreported[level] = 0;
	}
	changes[level - 1] += changes[level];
	unreported[level - 1] += unreported[level];
	changes[level] = 0;
	unreported[level] = 0;
}

/*
 * close_xact_init
 *		From _PG_init: follow the transactions.
 */
void
close_xact_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * close_xact_check_writable
 *		ERROR (25006) if the transaction is read-only and "method" may
 *		change Close, as PostgreSQL refuses writes to foreign tables then.
 */
void
close_xact_check_writable(const char *method)
{
	if (XactReadOnly && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot send a %s request with close_raw in a read-only transaction",
						method),
				 errdetail("A %s request may change Close, and changes are refused in a read-only transaction as writes to foreign tables are.",
						   method),
				 errhint("Send it in a read-write transaction (SET TRANSACTION READ WRITE, or default_transaction_read_only off), or read with GET.")));
}
