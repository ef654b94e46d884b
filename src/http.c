/*-------------------------------------------------------------------------
 *
 * http.c
 *		  The HTTP transport: sends requests to Close with libcurl's multi
 *		  interface, several at once up to max_concurrency, over the
 *		  kept-alive connections of the (server, user mapping) session
 *		  (connection.c); paces them to Close's rate limits (ratelimit.c);
 *		  retries what is safe to retry; waits interruptibly; counts what it
 *		  sends (stats.c) and what changed Close (xact.c); and turns
 *		  failures into ERRORs.
 *
 * Nothing here calls ereport while libcurl is inside a callback: the
 * callbacks only record what happened (into buffers allocated without
 * throwing), and errors are raised after control is back in our loop.  The
 * API key is handed to libcurl as the Basic-auth user name and never
 * appears in anything we print.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <math.h>

#include "closecrm_fdw.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* States of a CloseRequest inside close_http_perform. */
#define REQ_QUEUED		0
#define REQ_RUNNING		1
#define REQ_DONE		2

/* How long one wait may last before we look at interrupts again. */
#define POLL_INTERVAL_MS 100

/* Upper bounds on the time we wait before a retry. */
#define MAX_BACKOFF_MS	30000
#define MAX_RATE_WAIT_MS 120000

/*
 * A 429 that says when to retry is waited out without counting against
 * max_retries, within these bounds per request (statement_timeout usually
 * ends the wait first): the waits it asked for in total, their number, and
 * the shortest wait (a 429 saying "now" is not retried in a tight loop).
 */
#define MAX_RATE_WAIT_TOTAL_MS (10 * 60 * 1000)
#define MAX_RATE_RETRIES 1000
#define MIN_RATE_WAIT_MS 10

/* the multi handle of the close_http_perform call in progress */
static CURLM *close_multi = NULL;

/*
 * close_curl_version
 *		libcurl's version string, for closecrm_fdw_version().
 */
const char *
close_curl_version(void)
{
	return curl_version();
}

/*
 * close_request_make
 *		A new request for "method" on "path" (relative to base_url, starting
 *		with "/"), with an optional JSON body, allocated in the current
 *		memory context (so are its response buffers).
 */
CloseRequest *
close_request_make(const char *method, const char *path, const char *body)
{
	CloseRequest *req = palloc0(sizeof(CloseRequest));

	req->method = method;
	req->path = pstrdup(path);
	req->body = body ? pstrdup(body) : NULL;
	initStringInfo(&req->response);
	initStringInfo(&req->headers);
	return req;
}

/*
 * close_url_escape
 *		Percent-encode "text" (of "len" bytes) as one URL path segment or
 *		query value.  A segment of only dots is encoded too, so that no id
 *		can walk up the path.
 */
char *
close_url_escape(const char *text, int len)
{
	char	   *escaped;
	char	   *result;
	int			i;

	for (i = 0; i < len && text[i] == '.'; i++)
		;
	if (len > 0 && i == len)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (i = 0; i < len; i++)
			appendStringInfoString(&buf, "%2E");
		return buf.data;
	}
	/* since libcurl 7.82 the handle argument is unused */
	escaped = curl_easy_escape(NULL, text, len);
	if (escaped == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	result = pstrdup(escaped);
	curl_free(escaped);
	return result;
}

/*
 * buffer_append
 *		Append bytes to a StringInfo from inside a libcurl callback: never
 *		throws, returns false when memory runs out or "limit" would be
 *		passed.
 */
static bool
buffer_append(StringInfo buf, const char *data, size_t len, size_t limit)
{
	if ((size_t) buf->len + len > limit)
		return false;
	if ((size_t) buf->len + len + 1 > (size_t) buf->maxlen)
	{
		size_t		newsize = Max((size_t) buf->maxlen * 2, (size_t) buf->len + len + 1);
		char	   *newdata;

		newdata = MemoryContextAllocExtended(GetMemoryChunkContext(buf->data),
											 newsize,
											 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (newdata == NULL)
			return false;
		memcpy(newdata, buf->data, buf->len);
		pfree(buf->data);
		buf->data = newdata;
		buf->maxlen = newsize;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

/* libcurl write callback: collect the body, stop past max_response_size. */
static size_t
write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	CloseRequest *req = (CloseRequest *) userdata;
	size_t		len = size * nmemb;

	if (!buffer_append(&req->response, data, len, req->max_bytes))
	{
		req->too_large = true;
		return 0;				/* makes libcurl fail with CURLE_WRITE_ERROR */
	}
	return len;
}

/* libcurl header callback: keep the header lines of the final response. */
static size_t
write_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	CloseRequest *req = (CloseRequest *) userdata;
	size_t		len = size * nmemb;

	/* a new status line starts a new response (after 100 Continue etc.) */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		resetStringInfo(&req->headers);
	if (!buffer_append(&req->headers, data, len, 1024 * 1024))
		return 0;
	return len;
}

/*
 * release_easy
 *		Detach a request from libcurl, freeing its handle and header list.
 *		Safe on requests that never started.
 */
static void
release_easy(CloseRequest *req)
{
	if (req->easy != NULL)
	{
		curl_multi_remove_handle(close_multi, req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	if (req->header_list != NULL)
	{
		curl_slist_free_all(req->header_list);
		req->header_list = NULL;
	}
}

/*
 * start_request
 *		Configure a libcurl handle for "req" and add it to the multi handle.
 */
static void
start_request(CloseConnection *conn, CloseRequest *req)
{
	CURL	   *easy;
	char	   *url;
	struct curl_slist *list = NULL;
	struct curl_slist *tmp;
	static const char *const fixed_headers[] = {
		"Accept: application/json",
		"User-Agent: closecrm_fdw/" CLOSECRM_FDW_VERSION,
		"Expect:",
	};
	int			i;

	resetStringInfo(&req->response);
	resetStringInfo(&req->headers);
	req->status = 0;
	req->too_large = false;
	req->errbuf[0] = '\0';
	req->attempts++;

	url = psprintf("%s%s", conn->opts.base_url, req->path);
	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	req->easy = easy;

	for (i = 0; i < lengthof(fixed_headers); i++)
	{
		tmp = curl_slist_append(list, fixed_headers[i]);
		if (tmp == NULL)
			break;
		list = tmp;
	}
	if (req->body != NULL)
	{
		tmp = curl_slist_append(list, "Content-Type: application/json");
		if (tmp != NULL)
			list = tmp;
	}
	req->header_list = list;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
	curl_easy_setopt(easy, CURLOPT_USERNAME, conn->api_key);
	curl_easy_setopt(easy, CURLOPT_PASSWORD, "");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) conn->opts.timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) conn->opts.connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, write_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	if (conn->opts.ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, conn->opts.ca_file);
	/*
	 * Only the proxy the server option names: libcurl would otherwise take
	 * one from the server's environment (http_proxy...), a route for the
	 * key that nobody chose.
	 */
	curl_easy_setopt(easy, CURLOPT_PROXY, conn->opts.proxy ? conn->opts.proxy : "");
	/* over HTTP/2, wait to share a connection rather than open another */
	curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
	/* libcurl reads a cache size of 0 as its default: close explicitly */
	if (close_max_idle_connections == 0)
		curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);

	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
						 (curl_off_t) strlen(req->body));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	}

	req->max_bytes = conn->opts.max_response_size;
	if (curl_multi_add_handle(close_multi, easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start an HTTP request")));
	pfree(url);
}

/*
 * parse_rate_limit_reset
 *		Seconds Close asks us to wait, from the RateLimit header's "reset",
 *		else Retry-After, else the deprecated X-Rate-Limit-Reset; -1 when
 *		none says.
 */
static double
parse_rate_limit_reset(CloseRequest *req)
{
	char	   *value;
	CloseRateLimit rl;
	double		result = -1;

	if ((value = close_response_header(req, "ratelimit")) != NULL &&
		close_parse_ratelimit(value, strlen(value), &rl))
		result = rl.reset;
	if (result < 0 && (value = close_response_header(req, "retry-after")) != NULL)
		result = close_parse_seconds(value, strlen(value));
	if (result < 0 &&
		(value = close_response_header(req, "x-rate-limit-reset")) != NULL)
		result = close_parse_seconds(value, strlen(value));
	return result;
}

/*
 * note_rate_limit
 *		Tell ratelimit.c that an attempt of "req" ended, with what the
 *		response's RateLimit header (if any) says about its endpoint group.
 */
static void
note_rate_limit(CloseConnection *conn, CloseRequest *req, bool answered)
{
	char	   *value = answered ? close_response_header(req, "ratelimit") : NULL;
	CloseRateLimit rl;
	bool		have = value != NULL &&
		close_parse_ratelimit(value, strlen(value), &rl);

	close_rate_answered(conn, req->group, have ? &rl : NULL, answered,
						GetCurrentTimestamp());
}

/*
 * note_done
 *		"req" is finished: count it in the transaction if it changed Close
 *		(a method other than GET, not a search, that Close answered with
 *		2xx).
 */
static void
note_done(CloseRequest *req)
{
	req->state = REQ_DONE;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
		!req->reads_only && req->status >= 200 && req->status < 300)
		close_xact_note_change();
}

/*
 * count_attempt
 *		Add one finished attempt of "req" to its server's counters.
 */
static void
count_attempt(CloseConnection *conn, CloseRequest *req, long status)
{
	CloseServerStats *stats = close_stats_for(conn->serverid);
	curl_off_t	down = 0,
				up = 0;
	long		header_size = 0,
				request_size = 0,
				connects = 0;

	curl_easy_getinfo(req->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(req->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(req->easy, CURLINFO_HEADER_SIZE, &header_size);
	curl_easy_getinfo(req->easy, CURLINFO_REQUEST_SIZE, &request_size);
	curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects);

	stats->by_method[close_stats_method_index(req->method)]++;
	if (status >= 200 && status < 600)
		stats->by_status_class[status / 100 - 2]++;
	else if (status == 0)
		stats->transport_errors++;
	if (status == 429)
		stats->rate_limited++;
	if (req->attempts > 1)
		stats->retries++;
	stats->bytes_in += down + header_size;
	stats->bytes_out += up + request_size;
	stats->connections_opened += connects;
	req->bytes_out += up + request_size;
}

/*
 * is_idempotent
 *		True if sending "req" twice has the effect of sending it once.
 */
static bool
is_idempotent(CloseRequest *req)
{
	return strcmp(req->method, "POST") != 0 &&
		strcmp(req->method, "PATCH") != 0;
}

/*
 * finish_request
 *		Record the outcome of a finished transfer and decide whether to try
 *		it again; returns the delay in ms before the retry, or -1 when the
 *		request is done.
 */
static long
finish_request(CloseConnection *conn, CloseRequest *req, CURLcode result)
{
	long		status = 0;
	bool		retry = false;
	bool		processed_maybe = true;
	double		wait_s = -1;
	long		delay_ms;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	count_attempt(conn, req, result == CURLE_OK ? status : 0);
	release_easy(req);

	note_rate_limit(conn, req, result == CURLE_OK);
	if (result == CURLE_OK)
	{
		req->status = status;
		req->transport_error = NULL;
		if (status == 429)
		{
			retry = true;
			processed_maybe = false;
			wait_s = parse_rate_limit_reset(req);
		}
		else if (status == 502 || status == 503 || status == 504)
			retry = true;
	}
	else
	{
		req->status = 0;
		if (req->too_large)
			req->transport_error =
				psprintf("The response was larger than max_response_size (%d bytes).",
						 conn->opts.max_response_size);
		else
			req->transport_error = psprintf("%s%s%s", curl_easy_strerror(result),
											req->errbuf[0] ? ": " : "",
											req->errbuf);
		switch (result)
		{
			case CURLE_COULDNT_CONNECT:
			case CURLE_COULDNT_RESOLVE_HOST:
				retry = true;
				processed_maybe = false;
				break;
			case CURLE_OPERATION_TIMEDOUT:
			case CURLE_RECV_ERROR:
			case CURLE_SEND_ERROR:
			case CURLE_GOT_NOTHING:
			case CURLE_PARTIAL_FILE:
				retry = true;
				break;
			default:
				break;
		}
	}

	if (!retry)
		return -1;
	if (processed_maybe && !is_idempotent(req) && !req->retry_unsafe)
		return -1;

	if (wait_s >= 0)
	{
		/* Close said when: a wait, not a failure */
		delay_ms = Max(MIN_RATE_WAIT_MS,
					   Min((long) ceil(wait_s * 1000), MAX_RATE_WAIT_MS));
		if (req->rate_retries >= MAX_RATE_RETRIES ||
			req->rate_told_ms + delay_ms > MAX_RATE_WAIT_TOTAL_MS)
			return -1;
		req->rate_retries++;
		req->rate_told_ms += delay_ms;
		req->rate_held = true;
		close_rate_wait(conn, req->group, delay_ms, GetCurrentTimestamp());
	}
	else
	{
		/* jittered exponential backoff: 250 ms, 500 ms, 1 s, ... */
		long		base;

		if (req->failed_retries >= conn->opts.max_retries)
			return -1;
		base = Min(250L << Min(req->failed_retries, 10), MAX_BACKOFF_MS);
		req->failed_retries++;
		delay_ms = base / 2 + (long) (close_random_fraction() * base / 2);
	}
	return delay_ms;
}

/*
 * first_rate_held
 *		The first request of the call that is queued, held back by a rate
 *		limit; NULL if none is.
 */
static CloseRequest *
first_rate_held(CloseRequest **requests, int nrequests)
{
	int			i;

	for (i = 0; i < nrequests; i++)
	{
		if (requests[i]->state == REQ_QUEUED && requests[i]->easy == NULL &&
			requests[i]->rate_held)
			return requests[i];
	}
	return NULL;
}

/*
 * add_rate_wait
 *		Count the wall time from *since to "now" as rate-limit wait of
 *		"held" (the first request held back then, if any), and move *since
 *		to now.
 */
static void
add_rate_wait(CloseRequest *held, TimestampTz *since, TimestampTz now)
{
	if (held != NULL && *since != 0 && now > *since)
		held->rate_wait_us += now - *since;
	*since = now;
}

/*
 * finish_rate_waits
 *		Turn the accumulated waits of the call's requests into milliseconds
 *		and add them to the server's counters.
 */
static void
finish_rate_waits(CloseConnection *conn, CloseRequest **requests, int nrequests)
{
	int64		total_us = 0;
	int			i;

	for (i = 0; i < nrequests; i++)
	{
		requests[i]->rate_wait_ms = (long) (requests[i]->rate_wait_us / 1000);
		total_us += requests[i]->rate_wait_us;
	}
	close_stats_for(conn->serverid)->rate_wait_ms += total_us / 1000;
}

/*
 * close_http_perform
 *		Send every request of "requests" to the server of "conn", at most
 *		max_concurrency at a time, retrying on 429, on 502/503/504 and on
 *		network errors as far as max_retries and the method allow (a 429
 *		that says when to retry is waited out without counting against
 *		max_retries).  Returns when all are done; each request's status,
 *		response body and headers (or transport_error) tell its outcome,
 *		and rate_wait_ms how long it was held back by a rate limit while no
 *		earlier one was (so the waits of a call add up to wall time).
 *		Query cancel and statement_timeout interrupt the wait; the transfers
 *		in flight are then abandoned and their handles freed before the
 *		ERROR propagates.
 */
void
close_http_perform(CloseConnection *conn, CloseRequest **requests,
				   int nrequests)
{
	int			i;
	TimestampTz waits_counted_to = 0;

	close_multi = (CURLM *) close_session_multi(conn);

	for (i = 0; i < nrequests; i++)
	{
		requests[i]->state = REQ_QUEUED;
		requests[i]->attempts = 0;
		requests[i]->not_before = 0;
		requests[i]->easy = NULL;
		requests[i]->rate_wait_ms = 0;
		requests[i]->rate_wait_us = 0;
		requests[i]->rate_held = false;
		requests[i]->failed_retries = 0;
		requests[i]->rate_retries = 0;
		requests[i]->rate_told_ms = 0;
		if (requests[i]->group == NULL)
			requests[i]->group = close_catalog_group(requests[i]->method,
													 requests[i]->path);
	}

	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now = GetCurrentTimestamp();
			TimestampTz next_retry;
			long		pace_ms;
			int			running = 0;
			int			pending = 0;
			int			still_running;
			CURLMsg    *msg;
			int			msgs_left;
			long		wait_ms;

			/* the time since the last look, if a rate limit held one back */
			add_rate_wait(first_rate_held(requests, nrequests),
						  &waits_counted_to, now);
			for (i = 0; i < nrequests; i++)
				if (requests[i]->easy != NULL)
					running++;
			for (i = 0; i < nrequests; i++)
			{
				CloseRequest *req = requests[i];

				if (req->easy != NULL || req->state == REQ_DONE)
					continue;
				pending++;
				if (req->not_before > now)
					continue;
				if (running >= conn->opts.max_concurrency)
					continue;
				/* stay within Close's rate limit for this endpoint group */
				pace_ms = close_rate_delay(conn, req->group, now);
				if (pace_ms > 0)
				{
					req->not_before = now + (TimestampTz) pace_ms * 1000;
					req->rate_held = true;
					continue;
				}
				req->rate_held = false;
				start_request(conn, req);
				req->state = REQ_RUNNING;
				running++;
				pending--;
			}
			if (running == 0 && pending == 0)
				break;

			if (running > 0)
			{
				if (curl_multi_perform(close_multi, &still_running) != CURLM_OK)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_ERROR),
							 errmsg("libcurl failed to run HTTP requests")));
				while ((msg = curl_multi_info_read(close_multi, &msgs_left)) != NULL)
				{
					CloseRequest *req;
					long		delay;

					if (msg->msg != CURLMSG_DONE)
						continue;
					curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
									  (char **) &req);
					/* a rate wait starting now is counted from now */
					add_rate_wait(first_rate_held(requests, nrequests),
								  &waits_counted_to, GetCurrentTimestamp());
					delay = finish_request(conn, req, msg->data.result);
					if (delay < 0)
						note_done(req);
					else
					{
						req->state = REQ_QUEUED;
						req->not_before = GetCurrentTimestamp() + delay * 1000;
					}
				}
			}

			/*
			 * Sleep until a socket is ready or a retry is due; not at all if
			 * a transfer just finished, as a queued request may start now.
			 */
			running = 0;
			next_retry = 0;
			for (i = 0; i < nrequests; i++)
			{
				if (requests[i]->easy != NULL)
					running++;
				else if (requests[i]->state == REQ_QUEUED &&
						 (next_retry == 0 || requests[i]->not_before < next_retry))
					next_retry = requests[i]->not_before;
			}
			wait_ms = POLL_INTERVAL_MS;
			if (next_retry != 0)
			{
				long		until = (long) ((next_retry - GetCurrentTimestamp()) / 1000);

				wait_ms = Max(0, Min(wait_ms, until));
			}
			if (running > 0)
			{
				long		curl_wait = -1;

				/* libcurl may need to act on a timer before any socket is ready */
				curl_multi_timeout(close_multi, &curl_wait);
				if (curl_wait >= 0)
					wait_ms = Min(wait_ms, curl_wait);
				if (wait_ms > 0)
					curl_multi_poll(close_multi, NULL, 0, (int) wait_ms, NULL);
			}
			else if (next_retry != 0 && wait_ms > 0)
			{
				(void) WaitLatch(MyLatch,
								 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 wait_ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		TimestampTz now = GetCurrentTimestamp();

		add_rate_wait(first_rate_held(requests, nrequests), &waits_counted_to, now);
		finish_rate_waits(conn, requests, nrequests);
		for (i = 0; i < nrequests; i++)
		{
			/* abandoned: a first request no longer holds the others back */
			if (requests[i]->easy != NULL)
				close_rate_answered(conn, requests[i]->group, NULL, false, now);
			release_easy(requests[i]);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	finish_rate_waits(conn, requests, nrequests);
}

/*
 * close_response_header
 *		Value of response header "name" (case-insensitive) of the final
 *		response, trimmed, or NULL if absent.
 */
char *
close_response_header(CloseRequest *req, const char *name)
{
	char	   *p = req->headers.data;
	size_t		namelen = strlen(name);

	while (p != NULL && *p)
	{
		char	   *eol = strchr(p, '\n');
		size_t		linelen = eol ? (size_t) (eol - p) : strlen(p);

		if (linelen > namelen && p[namelen] == ':' &&
			pg_strncasecmp(p, name, namelen) == 0)
		{
			char	   *v = p + namelen + 1;
			char	   *end = p + linelen;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			return pnstrdup(v, end - v);
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/*
 * close_report_transport_error
 *		ERROR for a request that got no usable HTTP response.
 */
void
close_report_transport_error(CloseConnection *conn, CloseRequest *req)
{
	if (req->too_large)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("response to %s %s is too large", req->method, req->path),
				 errdetail_internal("%s", req->transport_error),
				 errhint("Raise the server option max_response_size, or request less (fewer columns, smaller page_size).")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("could not complete request %s %s to Close server \"%s\"",
					req->method, req->path, conn->server_name),
			 errdetail_internal("%s (after %d attempt%s).", req->transport_error,
								req->attempts, req->attempts == 1 ? "" : "s"),
			 errhint("Check the server's base_url, the network, and the timeout and connect_timeout options.")));
}

/*
 * close_report_http_error
 *		ERROR for a request that Close answered with a failure status, with
 *		Close's error text in DETAIL.  "action" says what we were doing, e.g.
 *		"look up lead".
 */
void
close_report_http_error(CloseConnection *conn, CloseRequest *req,
						const char *action)
{
	int			code = ERRCODE_FDW_ERROR;
	const char *hint;
	char	   *detail;

	if (req->status == 0)
		close_report_transport_error(conn, req);

	detail = close_error_text(req->response.data, req->response.len);
	switch (req->status)
	{
		case 401:
			code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
			hint = psprintf("Check the api_key option of your user mapping for server \"%s\".",
							conn->server_name);
			break;
		case 403:
			code = ERRCODE_INSUFFICIENT_PRIVILEGE;
			hint = "The Close user of this API key is not allowed to do this; check its role in Close.";
			break;
		case 402:
			hint = "The Close plan of this organization does not include this feature.";
			break;
		case 404:
			hint = "Check the foreign table's object option and the id.";
			break;
		case 400:
			hint = "Close refused the request as sent; DETAIL gives its reason.";
			break;
		case 429:
			if (req->rate_retries > 0)
				hint = psprintf("Close's rate limit was still exceeded after waiting %ld s as Close asked (%d attempts); send fewer requests at once, or spread the work out.",
								req->rate_told_ms / 1000, req->attempts);
			else
				hint = psprintf("Close answered 429 without saying when to retry (%d attempt%s); raise max_retries, or send fewer requests at once.",
								req->attempts, req->attempts == 1 ? "" : "s");
			break;
		default:
			if (req->status >= 500)
				hint = psprintf("Close had a server error (tried %d time%s); try again later.",
								req->attempts, req->attempts == 1 ? "" : "s");
			else
				hint = "See Close's API documentation for this status.";
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg("could not %s: Close answered HTTP %ld", action, req->status),
			 errdetail_internal("%s %s: %s", req->method, req->path, detail),
			 errhint("%s", hint)));
}
