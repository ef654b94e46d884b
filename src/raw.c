/*-------------------------------------------------------------------------
 *
 * raw.c
 *		  close_raw(method, url, body, server_name): any Close endpoint from
 *		  SQL, sent with the caller's API key through the same transport as
 *		  the foreign tables, every HTTP status returned as data.
 *
 * The url is relative to the server's base_url and checked so that the
 * request can only ever go there: the API key never leaves base_url.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_foreign_server.h"
#include "closecrm_fdw.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "access/genam.h"

PG_FUNCTION_INFO_V1(close_raw);

static const char *const allowed_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/*
 * check_method
 *		The method in upper case, ERROR unless it is one Close uses.
 */
static const char *
check_method(text *method_text)
{
	char	   *method = text_to_cstring(method_text);
	int			i;

	for (i = 0; i < lengthof(allowed_methods); i++)
	{
		if (pg_strcasecmp(method, allowed_methods[i]) == 0)
			return allowed_methods[i];
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid HTTP method for close_raw"),
			 errdetail("The method must be one of GET, POST, PUT, PATCH, DELETE."),
			 errhint("Write the method as a plain word, e.g. close_raw('GET', '/me/').")));
	return NULL;
}

/*
 * is_dot_segment
 *		True if the path segment [start, end) is "." or "..", literally or
 *		percent-encoded: such a segment would leave base_url's path.
 */
static bool
is_dot_segment(const char *start, const char *end)
{
	int			dots = 0;

	while (start < end)
	{
		if (*start == '.')
			start++;
		else if (end - start >= 3 && start[0] == '%' && start[1] == '2' &&
				 (start[2] == 'e' || start[2] == 'E'))
			start += 3;
		else
			return false;
		dots++;
	}
	return dots == 1 || dots == 2;
}

/*
 * check_url
 *		The request path for "url": must be relative to base_url (start with
 *		a single "/"), free of white space, control characters, backslashes,
 *		fragments and dot segments; a trailing "/" is added to the path part
 *		when missing, as Close's paths all end in one.
 */
static char *
check_url(text *url_text)
{
	char	   *url = text_to_cstring(url_text);
	const char *p;
	const char *query;
	const char *segment;
	size_t		pathlen;

	if (url[0] != '/' || url[1] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("close_raw url must be a path relative to the server's base_url"),
				 errdetail("The url \"%s\" does not start with a single \"/\".", url),
				 errhint("Write e.g. close_raw('GET', '/lead/?_limit=5'); absolute URLs are refused so the API key never leaves base_url.")));
	for (p = url; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c <= 0x20 || c == 0x7f || c == '\\' || c == '#')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_raw url contains a character that is not allowed"),
					 errdetail("White space, control characters, backslashes and \"#\" are refused."),
					 errhint("Percent-encode them, e.g. %%20 for a space.")));
	}

	query = strchr(url, '?');
	pathlen = query ? (size_t) (query - url) : strlen(url);
	segment = url + 1;
	for (p = url + 1; p <= url + pathlen; p++)
	{
		if (p == url + pathlen || *p == '/')
		{
			if (is_dot_segment(segment, p))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("close_raw url must not contain \".\" or \"..\" path segments"),
						 errhint("Name the endpoint directly, e.g. '/lead/lead_abc/'.")));
			segment = p + 1;
		}
	}

	if (url[pathlen - 1] != '/')
		return psprintf("%.*s/%s", (int) pathlen, url, query ? query : "");
	return url;
}

/*
 * close_mapped_servers
 *		The closecrm_fdw servers role "userid" has a user mapping for (its
 *		own or PUBLIC), as a List of Oids.
 */
List *
close_mapped_servers(Oid userid)
{
	Oid			fdwid = GetForeignDataWrapperByName("closecrm_fdw", false)->fdwid;
	List	   *result = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	rel = table_open(ForeignServerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_foreign_server srv = (Form_pg_foreign_server) GETSTRUCT(tup);

		if (srv->srvfdw != fdwid)
			continue;
		if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
								   ObjectIdGetDatum(userid),
								   ObjectIdGetDatum(srv->oid)) &&
			!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
								   ObjectIdGetDatum(InvalidOid),
								   ObjectIdGetDatum(srv->oid)))
			continue;
		result = lappend_oid(result, srv->oid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * find_server
 *		The closecrm_fdw server named "name", or, when name is NULL, the one
 *		such server the current user has a user mapping for.  ERROR with a
 *		hint if there is none, several, or the user lacks USAGE on it.
 */
static Oid
find_server(const char *name)
{
	Oid			fdwid = GetForeignDataWrapperByName("closecrm_fdw", false)->fdwid;
	Oid			userid = GetUserId();
	Oid			found = InvalidOid;
	AclResult	aclresult;

	if (name != NULL)
	{
		ForeignServer *server = GetForeignServerByName(name, true);

		if (server == NULL || server->fdwid != fdwid)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("closecrm_fdw server \"%s\" does not exist", name),
					 errhint("List the servers with \\des, or pass NULL to use the one you have a user mapping for.")));
		found = server->serverid;
	}
	else
	{
		List	   *servers = close_mapped_servers(userid);

		if (servers == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no closecrm_fdw server with a user mapping for the current user"),
					 errhint("Create one with CREATE SERVER ... FOREIGN DATA WRAPPER closecrm_fdw and CREATE USER MAPPING FOR CURRENT_USER SERVER ... OPTIONS (api_key '...').")));
		if (list_length(servers) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
					 errmsg("more than one closecrm_fdw server has a user mapping for the current user"),
					 errhint("Pass the server name as the fourth argument of close_raw().")));
		found = linitial_oid(servers);
	}

	aclresult = pg_foreign_server_aclcheck(found, userid, ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, GetForeignServer(found)->servername);
	return found;
}

/*
 * header_text
 *		A header name or value as text in the database encoding, invalid
 *		UTF-8 replaced by U+FFFD.
 */
static char *
header_text(const char *raw)
{
	size_t		len = strlen(raw);
	char	   *clean = palloc(close_utf8_sanitize(raw, len, NULL, false) + 1);
	size_t		n = close_utf8_sanitize(raw, len, clean, false);

	return pg_any_to_server(clean, n, PG_UTF8);
}

/*
 * headers_to_jsonb
 *		The response's header lines as a jsonb object with lower-case names;
 *		repeated headers are joined with ", " as HTTP allows.  Always an
 *		object, whatever bytes the headers hold.
 */
static Datum
headers_to_jsonb(CloseRequest *req)
{
	List	   *names = NIL;
	List	   *values = NIL;
	StringInfoData buf;
	char	   *p = req->headers.data;
	ListCell   *ln,
			   *lv;

	while (p != NULL && *p)
	{
		char	   *eol = strchr(p, '\n');
		size_t		linelen = eol ? (size_t) (eol - p) : strlen(p);
		char	   *colon = memchr(p, ':', linelen);

		if (colon != NULL && strncmp(p, "HTTP/", 5) != 0)
		{
			char	   *name = pnstrdup(p, colon - p);
			char	   *v = colon + 1;
			char	   *end = p + linelen;
			char	   *value;
			bool		merged = false;
			char	   *c;

			for (c = name; *c; c++)
				*c = pg_tolower((unsigned char) *c);
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			value = pnstrdup(v, end - v);
			forboth(ln, names, lv, values)
			{
				if (strcmp(lfirst(ln), name) == 0)
				{
					lfirst(lv) = psprintf("%s, %s", (char *) lfirst(lv), value);
					merged = true;
					break;
				}
			}
			if (!merged)
			{
				names = lappend(names, name);
				values = lappend(values, value);
			}
		}
		p = eol ? eol + 1 : NULL;
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	forboth(ln, names, lv, values)
	{
		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, header_text(lfirst(ln)));
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, header_text(lfirst(lv)));
	}
	appendStringInfoChar(&buf, '}');
	/* valid JSON by construction: whatever the header bytes, an object */
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * close_raw
 *		Send one request and return (status, headers, body).  Only failures
 *		to get any HTTP answer raise an ERROR.
 */
Datum
close_raw(PG_FUNCTION_ARGS)
{
	const char *method;
	char	   *path;
	char	   *body = NULL;
	Oid			serverid;
	CloseConnection *conn;
	CloseRequest *req;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("close_raw method must not be NULL or empty"),
				 errhint("Pass GET, POST, PUT, PATCH or DELETE.")));
	if (PG_ARGISNULL(1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("close_raw url must not be NULL or empty"),
				 errhint("Pass a path relative to base_url, e.g. '/me/'.")));
	method = check_method(PG_GETARG_TEXT_PP(0));
	close_xact_check_writable(method);
	path = check_url(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(2);

		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("close_raw body must be a JSON object"),
					 errdetail("Close's endpoints take a JSON object as request body."),
					 errhint("Wrap the value in an object, e.g. jsonb_build_object('name', 'Acme').")));
		body = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		/* Close speaks UTF-8 */
		body = pg_server_to_any(body, strlen(body), PG_UTF8);
	}
	serverid = find_server(PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	conn = close_get_connection(serverid, GetUserId());

	req = close_request_make(method, path, body);
	close_http_perform(conn, &req, 1);
	if (req->status == 0)
		close_report_transport_error(conn, req);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "close_raw must return the composite type close_response");
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = Int32GetDatum((int32) req->status);
	values[1] = headers_to_jsonb(req);
	if (req->response.len == 0)
		nulls[2] = true;
	else
		values[2] = close_text_to_jsonb(req->response.data, req->response.len);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
