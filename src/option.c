/*-------------------------------------------------------------------------
 *
 * option.c
 *		  The options of closecrm_fdw: the validator that checks them where
 *		  they are set, and the readers that turn a server, user mapping or
 *		  foreign table into the settings the rest of the code uses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <math.h>
#include <unistd.h>

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "closecrm_fdw.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#define DEFAULT_BASE_URL "https://api.close.com/api/v1"

/* What kind of value an option takes. */
typedef enum CloseOptionKind
{
	OPT_URL,
	OPT_SECONDS,
	OPT_INTEGER,
	OPT_BOOLEAN,
	OPT_SECRET,
	OPT_OBJECT,
	OPT_TEXT,
	OPT_FILE,
	OPT_PROXY,
	OPT_CUSTOM_TYPE
} CloseOptionKind;

typedef struct CloseOption
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
	CloseOptionKind kind;
	double		min;
	double		max;
} CloseOption;

static const CloseOption close_options[] = {
	{"base_url", ForeignServerRelationId, OPT_URL, 0, 0},
	{"timeout", ForeignServerRelationId, OPT_SECONDS, 0.001, 86400},
	{"connect_timeout", ForeignServerRelationId, OPT_SECONDS, 0.001, 3600},
	{"max_retries", ForeignServerRelationId, OPT_INTEGER, 0, 100},
	{"max_concurrency", ForeignServerRelationId, OPT_INTEGER, 1, 64},
	{"page_size", ForeignServerRelationId, OPT_INTEGER, 1, 1000},
	{"max_response_size", ForeignServerRelationId, OPT_INTEGER, 1024, 1073741823},
	{"ca_file", ForeignServerRelationId, OPT_FILE, 0, 0},
	{"proxy", ForeignServerRelationId, OPT_PROXY, 0, 0},
	{"updatable", ForeignServerRelationId, OPT_BOOLEAN, 0, 0},
	{"estimated_rows", ForeignServerRelationId, OPT_INTEGER, 0, 1e12},
	{"use_search", ForeignServerRelationId, OPT_BOOLEAN, 0, 0},
	{"search_page_size", ForeignServerRelationId, OPT_INTEGER, 1, CLOSE_SEARCH_MAX_LIMIT},
	{"api_key", UserMappingRelationId, OPT_SECRET, 0, 0},
	{"object", ForeignTableRelationId, OPT_OBJECT, 0, 0},
	{"updatable", ForeignTableRelationId, OPT_BOOLEAN, 0, 0},
	{"estimated_rows", ForeignTableRelationId, OPT_INTEGER, 0, 1e12},
	{"use_search", ForeignTableRelationId, OPT_BOOLEAN, 0, 0},
	{"field", AttributeRelationId, OPT_TEXT, 0, 0},
	{"custom_type", AttributeRelationId, OPT_CUSTOM_TYPE, 0, 0},
};

PG_FUNCTION_INFO_V1(closecrm_fdw_validator);

/*
 * context_name
 *		The object an option catalog stands for, as users say it.
 */
static const char *
context_name(Oid context)
{
	switch (context)
	{
		case ForeignServerRelationId:
			return "a foreign server";
		case UserMappingRelationId:
			return "a user mapping";
		case ForeignTableRelationId:
			return "a foreign table";
		case AttributeRelationId:
			return "a foreign table column";
		case ForeignDataWrapperRelationId:
			return "the foreign-data wrapper";
	}
	return "this object";
}

/*
 * valid_option_names
 *		A comma-separated list of the options valid in "context".
 */
static char *
valid_option_names(Oid context)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < lengthof(close_options); i++)
	{
		if (close_options[i].context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
							 close_options[i].name);
	}
	return buf.data;
}

/*
 * report_unknown_option
 *		ERROR for an option closecrm_fdw does not know, with the closest
 *		valid name as a hint.
 */
static void
report_unknown_option(const char *name, Oid context)
{
	const char *best = NULL;
	int			bestdist = INT_MAX;
	int			i;
	char	   *valid = valid_option_names(context);

	for (i = 0; i < lengthof(close_options); i++)
	{
		int			dist;

		if (close_options[i].context != context)
			continue;
		dist = varstr_levenshtein(name, strlen(name), close_options[i].name,
								  strlen(close_options[i].name), 1, 1, 1, false);
		if (dist < bestdist)
		{
			bestdist = dist;
			best = close_options[i].name;
		}
	}

	if (best != NULL && bestdist <= Max(2, (int) strlen(name) / 3))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errdetail("Valid options on %s are: %s.", context_name(context),
						   valid[0] ? valid : "none"),
				 errhint("Perhaps you meant the option \"%s\".", best)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 errdetail("Valid options on %s are: %s.", context_name(context),
					   valid[0] ? valid : "none"),
			 errhint("See the option reference in the closecrm_fdw README.")));
}

/*
 * is_loopback_host
 *		True if "host" (as libcurl reports it) names this machine.
 */
static bool
is_loopback_host(const char *host)
{
	if (pg_strcasecmp(host, "localhost") == 0)
		return true;
	if (strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0)
		return true;
	if (strncmp(host, "127.", 4) == 0)
	{
		const char *p = host + 4;
		int			dots = 0;

		for (; *p; p++)
		{
			if (*p == '.')
				dots++;
			else if (!isdigit((unsigned char) *p))
				return false;
		}
		return dots == 2;
	}
	return false;
}

/*
 * validate_base_url
 *		ERROR unless "url" is an https URL, or an http URL to a loopback
 *		host, without credentials, query or fragment.  libcurl's URL parser
 *		decides what the scheme and host are, so the check sees the URL the
 *		way the transport will.
 */
static void
validate_base_url(const char *url)
{
	CURLU	   *cu = curl_url();
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *part = NULL;
	bool		ok_scheme;
	bool		loopback;
	bool		has_extra = false;

	if (cu == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory")));
	rc = curl_url_set(cu, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(cu, CURLUPART_SCHEME, &scheme, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(cu, CURLUPART_HOST, &host, 0);
	if (rc != CURLUE_OK || strpbrk(url, " \t\r\n") != NULL)
	{
		curl_free(scheme);
		curl_free(host);
		curl_url_cleanup(cu);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"base_url\""),
				 errdetail("\"%s\" is not a valid URL.", url),
				 errhint("Use the root of the Close API, e.g. '%s'.",
						 DEFAULT_BASE_URL)));
	}
	if (curl_url_get(cu, CURLUPART_USER, &part, 0) == CURLUE_OK)
	{
		has_extra = true;
		curl_free(part);
	}
	if (curl_url_get(cu, CURLUPART_QUERY, &part, 0) == CURLUE_OK)
	{
		has_extra = true;
		curl_free(part);
	}
	if (curl_url_get(cu, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
	{
		has_extra = true;
		curl_free(part);
	}
	ok_scheme = pg_strcasecmp(scheme, "https") == 0;
	loopback = is_loopback_host(host);
	if (pg_strcasecmp(scheme, "http") == 0 && loopback)
		ok_scheme = true;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(cu);

	if (has_extra)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"base_url\""),
				 errdetail("The URL carries a user name, query string or fragment."),
				 errhint("Give only scheme, host, port and path; the API key belongs in the user mapping's api_key option.")));
	if (!ok_scheme)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"base_url\""),
				 errdetail("closecrm_fdw sends the API key only over https, or over http to this machine (localhost, 127.0.0.0/8, ::1)."),
				 errhint("Use an https:// URL such as '%s'.", DEFAULT_BASE_URL)));
}

/*
 * parse_number_option
 *		Parse the numeric value of option "opt", ERROR if it is not a number
 *		in the option's range (or not whole, for integer options).
 */
static double
parse_number_option(const CloseOption *opt, const char *value)
{
	char	   *end;
	double		d;

	errno = 0;
	d = strtod(value, &end);
	while (*end == ' ')
		end++;
	/* plain decimal only: strtod also reads hex, "inf" and "nan" */
	if (value[0] == '\0' || *end != '\0' || errno != 0 || isnan(d) ||
		strspn(value, " +-.0123456789eE") != strlen(value) ||
		(opt->kind == OPT_INTEGER && d != floor(d)))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", opt->name,
						value),
				 errdetail("The option takes %s.",
						   opt->kind == OPT_INTEGER ? "a whole number" :
						   "a number of seconds"),
				 errhint("Give a value from %.15g to %.15g.", opt->min, opt->max)));
	if (d < opt->min || d > opt->max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("value %s is out of range for option \"%s\"", value,
						opt->name),
				 errhint("Give a value from %.15g to %.15g.", opt->min, opt->max)));
	return d;
}

/*
 * validate_custom_type
 *		ERROR unless "value" is the Close type of a custom field as IMPORT
 *		FOREIGN SCHEMA records it: a type Close uses ("choices"), followed by
 *		"[]" for a field that accepts several values ("choices[]").
 */
static void
validate_custom_type(const char *value)
{
	size_t		len = strlen(value);
	char	   *base = pstrdup(value);

	if (len > 2 && strcmp(value + len - 2, "[]") == 0)
		base[len - 2] = '\0';
	if (!close_custom_type_known(base, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"custom_type\": \"%s\"", value),
				 errdetail("The option names the Close type of a custom field: %s; with \"[]\" appended when the field accepts several values.",
						   close_custom_type_names(NULL)),
				 errhint("Perhaps you meant '%s'.", close_custom_type_names(base))));
}

/*
 * validate_option_value
 *		ERROR if "value" is not acceptable for option "opt".
 */
static void
validate_option_value(const CloseOption *opt, DefElem *def)
{
	char	   *value = defGetString(def);

	switch (opt->kind)
	{
		case OPT_URL:
			validate_base_url(value);
			break;
		case OPT_SECONDS:
		case OPT_INTEGER:
			(void) parse_number_option(opt, value);
			break;
		case OPT_BOOLEAN:
			{
				bool		b;

				if (!parse_bool(value, &b))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									opt->name, value),
							 errhint("Use 'true' or 'false'.")));
			}
			break;
		case OPT_SECRET:
			/* the value itself never appears in a message */
			if (value[0] == '\0' || strpbrk(value, " \t\r\n:") != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\"", opt->name),
						 errdetail("The API key is empty or contains white space or a colon."),
						 errhint("Copy the key from Close: Settings, Developer, API Keys.")));
			break;
		case OPT_OBJECT:
			if (close_catalog_lookup(value) == NULL)
			{
				char	   *suggest = close_catalog_suggestions(value, false);

				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("unknown Close object \"%s\"", value),
						 errdetail("The option \"object\" names a Close API collection path such as 'lead', 'activity/note' or 'status/lead'."),
						 suggest ?
						 errhint("Perhaps you meant %s.", suggest) :
						 errhint("SELECT object FROM closecrm_objects() lists the Close objects.")));
			}
			break;
		case OPT_FILE:
			/* which CAs to trust decides who receives the key: superusers only */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only superusers can set option \"%s\"", opt->name),
						 errdetail("The CA bundle decides which servers are trusted with the API key."),
						 errhint("Ask a superuser to set it, or use a certificate the system trusts.")));
			if (!is_absolute_path(value) || access(value, R_OK) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errdetail("The file does not exist, is not readable, or the path is not absolute."),
						 errhint("Give the absolute path of a PEM file of CA certificates.")));
			break;
		case OPT_PROXY:
			/* a proxy sees where the key goes (and, over http, the key) */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only superusers can set option \"%s\"", opt->name),
						 errdetail("Requests with the API key would go through the proxy."),
						 errhint("Ask a superuser to set it.")));
			if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\"", opt->name),
						 errdetail("The proxy must be an http:// or https:// URL."),
						 errhint("Write e.g. 'http://proxy.example.com:3128'.")));
			break;
		case OPT_CUSTOM_TYPE:
			validate_custom_type(value);
			break;
		case OPT_TEXT:
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty", opt->name),
						 errhint("Name the JSON key the column reads, e.g. 'custom.cf_abc123'.")));
			break;
	}
}

/*
 * closecrm_fdw_validator
 *		Validate the options given to a CREATE or ALTER of the wrapper, a
 *		server, a user mapping, a foreign table or one of its columns.
 */
Datum
closecrm_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;
	bool		have_object = false;
	bool		have_key = false;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const CloseOption *match = NULL;
		const CloseOption *elsewhere = NULL;
		int			i;

		for (i = 0; i < lengthof(close_options); i++)
		{
			if (strcmp(close_options[i].name, def->defname) != 0)
				continue;
			if (close_options[i].context == catalog)
				match = &close_options[i];
			else if (elsewhere == NULL)
				elsewhere = &close_options[i];
		}

		if (match == NULL && elsewhere != NULL)
		{
			if (strcmp(def->defname, "api_key") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"api_key\" is only valid on a user mapping"),
						 errdetail("Options of %s can be read by other roles; user mapping options cannot.",
								   context_name(catalog)),
						 errhint("Use CREATE USER MAPPING FOR CURRENT_USER SERVER ... OPTIONS (api_key '...').")));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not valid on %s", def->defname,
							context_name(catalog)),
					 errhint("Set \"%s\" on %s.", def->defname,
							 context_name(elsewhere->context))));
		}
		if (match == NULL)
			report_unknown_option(def->defname, catalog);

		validate_option_value(match, def);
		if (strcmp(def->defname, "object") == 0)
			have_object = true;
		if (strcmp(def->defname, "api_key") == 0)
			have_key = true;
	}

	if (catalog == ForeignTableRelationId && !have_object)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"object\" is required for a closecrm_fdw foreign table"),
				 errhint("Add OPTIONS (object 'lead'), naming the Close collection the table reads.")));
	if (catalog == UserMappingRelationId && !have_key)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"api_key\" is required for a closecrm_fdw user mapping"),
				 errhint("Add OPTIONS (api_key '...') with a key from Close: Settings, Developer, API Keys.")));

	PG_RETURN_VOID();
}

/*
 * find_option
 *		The close_options entry for "name" in "context" (must exist).
 */
static const CloseOption *
find_option(const char *name, Oid context)
{
	int			i;

	for (i = 0; i < lengthof(close_options); i++)
	{
		if (close_options[i].context == context &&
			strcmp(close_options[i].name, name) == 0)
			return &close_options[i];
	}
	elog(ERROR, "closecrm_fdw option \"%s\" is not defined", name);
	return NULL;
}

/*
 * close_get_server_options
 *		Fill "opts" from the server's options, applying the defaults of
 *		INTERFACE.md for the ones not set.
 */
void
close_get_server_options(ForeignServer *server, CloseServerOptions *opts)
{
	ListCell   *lc;
	char	   *url = DEFAULT_BASE_URL;
	int			len;

	opts->timeout_ms = 30000;
	opts->connect_timeout_ms = 10000;
	opts->max_retries = 5;
	opts->max_concurrency = 8;
	opts->page_size = 100;
	opts->max_response_size = 64 * 1024 * 1024;
	opts->ca_file = NULL;
	opts->proxy = NULL;
	opts->use_search = true;
	opts->search_page_size = CLOSE_SEARCH_MAX_LIMIT;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const char *value = defGetString(def);

		if (strcmp(def->defname, "base_url") == 0)
			url = pstrdup(value);
		else if (strcmp(def->defname, "timeout") == 0)
			opts->timeout_ms = (int) ceil(1000 * parse_number_option(
																	 find_option("timeout", ForeignServerRelationId), value));
		else if (strcmp(def->defname, "connect_timeout") == 0)
			opts->connect_timeout_ms = (int) ceil(1000 * parse_number_option(
																			 find_option("connect_timeout", ForeignServerRelationId), value));
		else if (strcmp(def->defname, "max_retries") == 0)
			opts->max_retries = (int) parse_number_option(
														  find_option("max_retries", ForeignServerRelationId), value);
		else if (strcmp(def->defname, "max_concurrency") == 0)
			opts->max_concurrency = (int) parse_number_option(
															  find_option("max_concurrency", ForeignServerRelationId), value);
		else if (strcmp(def->defname, "ca_file") == 0)
			opts->ca_file = pstrdup(value);
		else if (strcmp(def->defname, "proxy") == 0)
			opts->proxy = pstrdup(value);
		else if (strcmp(def->defname, "max_response_size") == 0)
			opts->max_response_size = (int) parse_number_option(
																find_option("max_response_size", ForeignServerRelationId), value);
		else if (strcmp(def->defname, "page_size") == 0)
			opts->page_size = (int) parse_number_option(
														find_option("page_size", ForeignServerRelationId), value);
		else if (strcmp(def->defname, "search_page_size") == 0)
			opts->search_page_size = (int) parse_number_option(
															   find_option("search_page_size", ForeignServerRelationId), value);
		else if (strcmp(def->defname, "use_search") == 0)
			opts->use_search = defGetBoolean(def);
	}

	/* requests append "/path/": keep the root without its trailing slash */
	url = pstrdup(url);
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	opts->base_url = url;
}

/*
 * close_get_connection
 *		Settings and API key for sending requests to server "serverid" as
 *		role "userid" (its own user mapping, else the PUBLIC one).  ERROR
 *		with a hint when the role has no user mapping.
 */
CloseConnection *
close_get_connection(Oid serverid, Oid userid)
{
	ForeignServer *server = GetForeignServer(serverid);
	CloseConnection *conn = palloc0(sizeof(CloseConnection));
	HeapTuple	tp;
	UserMapping *um;
	ListCell   *lc;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no user mapping for role \"%s\" on Close server \"%s\"",
						GetUserNameFromId(userid, true) ? GetUserNameFromId(userid, true) : "?",
						server->servername),
				 errdetail("closecrm_fdw sends requests with the API key of the user mapping of the role that runs the query."),
				 errhint("Run CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (api_key '...').",
						 quote_identifier(server->servername))));
	ReleaseSysCache(tp);

	um = GetUserMapping(userid, serverid);
	conn->umid = um->umid;
	conn->serverid = serverid;
	conn->userid = userid;
	conn->server_name = pstrdup(server->servername);
	close_get_server_options(server, &conn->opts);
	foreach(lc, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "api_key") == 0)
			conn->api_key = pstrdup(defGetString(def));
	}
	if (conn->api_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("the user mapping for Close server \"%s\" has no api_key",
						server->servername),
				 errhint("Run ALTER USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (ADD api_key '...').",
						 quote_identifier(server->servername))));
	return conn;
}

/*
 * Foreign tables whose unknown columns have been reported with a NOTICE in
 * this session (objects with open fields): once per table is enough.
 */
static List *noticed_tables = NIL;

/*
 * column_reads_known_field
 *		True if a column without a field option, named "name" (of type
 *		"typid"), reads something objects of "object" carry: the key, a
 *		catalog field (or a path into one, "addresses.0.city"), a custom
 *		field by id ("custom.cf_..."), or the whole object (attrs jsonb).
 */
static bool
column_reads_known_field(const CloseObjectDef *object, const char *name,
						 Oid typid)
{
	char	   *first = pstrdup(name);
	char	   *dot = strchr(first, '.');

	if (strcmp(name, "attrs") == 0)
		return typid == JSONBOID || typid == JSONOID;
	if (strncmp(name, "custom.", 7) == 0 && name[7] != '\0')
		return true;
	if (dot != NULL)
		*dot = '\0';
	return strcmp(first, object->key_field) == 0 ||
		close_catalog_field(object, first) != NULL;
}

/*
 * field_suggestion
 *		The catalog field (or path into one) of "object" closest to column
 *		name "name", or NULL if none is close: for "adresses.0.city",
 *		"addresses.0.city".
 */
static char *
field_suggestion(const CloseObjectDef *object, const char *name)
{
	char	   *first = pstrdup(name);
	char	   *dot = strchr(first, '.');
	const char *best;

	if (dot != NULL)
		*dot = '\0';
	best = close_catalog_field_suggestion(object, first);
	if (best == NULL)
		return NULL;
	return dot ? psprintf("%s.%s", best, dot + 1) : pstrdup(best);
}

/*
 * report_unknown_column
 *		ERROR for a column that reads no field Close's objects carry (it
 *		would always be NULL), naming the closest field.
 */
static void
report_unknown_column(Relation rel, const CloseObjectDef *object,
					  Form_pg_attribute att)
{
	const char *column = NameStr(att->attname);
	const char *table = RelationGetRelationName(rel);
	char	   *suggestion = field_suggestion(object, column);

	if (strcmp(column, "attrs") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"attrs\" of foreign table \"%s\" must be jsonb or json",
						table),
				 errdetail("A column named attrs receives the whole Close object."),
				 errhint("Run ALTER FOREIGN TABLE %s ALTER COLUMN attrs TYPE jsonb.",
						 quote_identifier(table))));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
			 errmsg("column \"%s\" of foreign table \"%s\" names no field of Close object \"%s\"",
					column, table, object->name),
			 errdetail("Close's \"%s\" objects have no field \"%s\", so the column would always be NULL.",
					   object->name, column),
			 suggestion ?
			 errhint("Perhaps you meant \"%s\": ALTER FOREIGN TABLE %s RENAME COLUMN %s TO %s.",
					 suggestion, quote_identifier(table),
					 quote_identifier(column), quote_identifier(suggestion)) :
			 errhint("Name the JSON key the column reads: ALTER FOREIGN TABLE %s ALTER COLUMN %s OPTIONS (ADD field '...'); doc/objects.md lists each object's fields.",
					 quote_identifier(table), quote_identifier(column))));
}

/*
 * notice_open_columns
 *		On objects whose fields are open (custom objects, the generic
 *		activity listing, tables the catalog knows no fields of), columns
 *		naming fields outside the catalog are legitimate: one NOTICE per
 *		table and session lists them ("unknown", a comma-separated list).
 */
static void
notice_open_columns(Relation rel, const CloseObjectDef *object,
					const char *unknown)
{
	MemoryContext old;

	if (list_member_oid(noticed_tables, RelationGetRelid(rel)))
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	noticed_tables = lappend_oid(noticed_tables, RelationGetRelid(rel));
	MemoryContextSwitchTo(old);
	ereport(NOTICE,
			(errmsg("columns of foreign table \"%s\" name fields the catalog of Close object \"%s\" does not list: %s",
					RelationGetRelationName(rel), object->name, unknown),
			 errdetail("Objects of \"%s\" carry fields of their own type; such a column is NULL where an object lacks the field.",
					   object->name)));
}

/*
 * close_get_table_info
 *		Read the catalog entry and per-column JSON keys of foreign table
 *		"rel".  A column without a field option must read a field the
 *		object carries (report_unknown_column).
 */
CloseTableInfo *
close_get_table_info(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	ForeignServer *server = GetForeignServer(ft->serverid);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	CloseTableInfo *info = palloc0(sizeof(CloseTableInfo));
	StringInfoData unknown;
	const char *object = NULL;
	ListCell   *lc;
	int			i;

	info->updatable = true;
	info->estimated_rows = -1;
	info->server_estimated_rows = -1;
	info->use_search = true;
	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "updatable") == 0)
			info->updatable = defGetBoolean(def);
		else if (strcmp(def->defname, "estimated_rows") == 0)
			info->server_estimated_rows =
				parse_number_option(find_option("estimated_rows", ForeignServerRelationId),
									defGetString(def));
		else if (strcmp(def->defname, "use_search") == 0)
			info->use_search = defGetBoolean(def);
	}
	foreach(lc, ft->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "object") == 0)
			object = defGetString(def);
		else if (strcmp(def->defname, "updatable") == 0)
			info->updatable = defGetBoolean(def);
		else if (strcmp(def->defname, "estimated_rows") == 0)
			info->estimated_rows =
				parse_number_option(find_option("estimated_rows", ForeignTableRelationId),
									defGetString(def));
		else if (strcmp(def->defname, "use_search") == 0)
			info->use_search = defGetBoolean(def);
	}
	if (object == NULL || (info->object = close_catalog_lookup(object)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no valid \"object\" option",
						RelationGetRelationName(rel)),
				 errhint("Run ALTER FOREIGN TABLE %s OPTIONS (ADD object 'lead').",
						 RelationGetRelationName(rel))));

	initStringInfo(&unknown);
	info->natts = tupdesc->natts;
	info->field_names = palloc0(sizeof(char *) * tupdesc->natts);
	info->is_attrs = palloc0(sizeof(bool) * tupdesc->natts);
	info->custom_types = palloc0(sizeof(char *) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	   *field = NULL;

		if (att->attisdropped)
			continue;
		foreach(lc, GetForeignColumnOptions(RelationGetRelid(rel), i + 1))
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "field") == 0)
				field = defGetString(def);
			else if (strcmp(def->defname, "custom_type") == 0)
				info->custom_types[i] = defGetString(def);
		}
		if (field == NULL)
		{
			field = NameStr(att->attname);
			if (strcmp(field, "attrs") == 0 &&
				(att->atttypid == JSONBOID || att->atttypid == JSONOID))
				info->is_attrs[i] = true;
			else if (!column_reads_known_field(info->object, field,
											   att->atttypid))
			{
				if (info->object->open_fields && strcmp(field, "attrs") != 0)
					appendStringInfo(&unknown, "%s%s", unknown.len > 0 ? ", " : "",
									 quote_identifier(field));
				else
					report_unknown_column(rel, info->object, att);
			}
		}
		info->field_names[i] = pstrdup(field);
		if (strcmp(field, info->object->key_field) == 0 && info->id_attno == 0 &&
			!info->is_attrs[i])
			info->id_attno = i + 1;
	}
	if (unknown.len > 0)
		notice_open_columns(rel, info->object, unknown.data);
	return info;
}
