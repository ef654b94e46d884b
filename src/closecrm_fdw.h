/*-------------------------------------------------------------------------
 *
 * closecrm_fdw.h
 *		  Declarations shared by the files of the Close CRM foreign data
 *		  wrapper, grouped by the file that defines them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLOSECRM_FDW_H
#define CLOSECRM_FDW_H

#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/relcache.h"
#include "commands/explain.h"
#include "utils/timestamp.h"
#include "wire.h"
#include "compat.h"

#define CLOSECRM_FDW_VERSION "0.3.0"

/* ---------- in catalog.c / catalog_data.c ---------- */

/* Operations a Close collection supports (bit flags). */
#define CLOSE_OP_GET		0x01
#define CLOSE_OP_LIST		0x02
#define CLOSE_OP_CREATE		0x04
#define CLOSE_OP_UPDATE		0x08
#define CLOSE_OP_DELETE		0x10

/* How a collection's list endpoint pages. */
typedef enum ClosePaging
{
	CLOSE_PAGING_NONE,			/* no list endpoint */
	CLOSE_PAGING_SKIP,			/* _skip / _limit / has_more */
	CLOSE_PAGING_CURSOR,		/* _cursor / cursor_next (event log) */
	CLOSE_PAGING_SINGLE			/* one page holds everything */
} ClosePaging;

/*
 * One top-level field of a Close object, with the type IMPORT uses.  An
 * optional field is one Close documents but real objects may lack (Smart
 * Fields sent only on request, fields of some task types): custom fields get
 * its name first at IMPORT, and it may read NULL.
 */
typedef struct CloseFieldDef
{
	const char *name;
	const char *pgtype;
	bool		optional;
} CloseFieldDef;

/* One Close collection, as generated from openapi.json. */
typedef struct CloseObjectDef
{
	const char *name;			/* collection path: "lead", "activity/note" */
	const char *table_name;		/* name for IMPORT: "activity_note" */
	const char *id_param;		/* path parameter naming the object */
	const char *key_field;		/* the object's field holding that value */
	const char *default_query;	/* "param=value" every listing sends unless
								 * the query filters on param itself */
	int			ops;			/* CLOSE_OP_* flags */
	int			delete_status;	/* 200 or 204; 0 when not deletable */
	int			create_status;	/* 200 or 201; 0 when not creatable */
	ClosePaging paging;
	int			max_limit;		/* largest _limit Close accepts; 0 unknown */
	bool		fields_param;	/* list accepts _fields */
	bool		order_by;		/* list accepts _order_by */
	bool		get_fields_param;	/* GET /{obj}/{id}/ accepts _fields */
	bool		custom_selectors;	/* Close documents "custom.cf_..." entries
									 * in this object's _fields */
	bool		open_fields;	/* objects carry fields the catalog cannot
								 * list: an unknown column is no error */
	const char *const *required_filters;	/* "a|b" = one of a, b */
	const char *const *filters; /* list query parameters */
	const char *const *sort_fields; /* fields _order_by sorts by like SQL */
	const CloseFieldDef *fields;	/* NULL-terminated */
} CloseObjectDef;

extern const CloseObjectDef close_object_catalog[];
extern const int close_object_catalog_size;

extern const CloseObjectDef *close_catalog_lookup(const char *name);
extern char *close_catalog_suggestions(const char *name, bool table_names);
extern const CloseFieldDef *close_catalog_field(const CloseObjectDef *object,
												const char *name);
extern const char *close_catalog_field_suggestion(const CloseObjectDef *object,
												  const char *name);
extern int	close_catalog_typed_columns(const CloseObjectDef *object);
extern bool close_custom_type_known(const char *name, bool *string_valued);
extern char *close_custom_type_names(const char *closest_to);
extern bool close_catalog_has_filter(const CloseObjectDef *object,
									 const char *name);
extern char *close_catalog_ops_text(const CloseObjectDef *object);
extern char *close_catalog_group(const char *method, const char *path);

/* ---------- in option.c ---------- */

/* Server options after validation and defaulting. */
typedef struct CloseServerOptions
{
	char	   *base_url;		/* without trailing slash */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_retries;
	int			max_concurrency;
	int			page_size;
	int			max_response_size;	/* bytes */
	char	   *ca_file;		/* CA bundle for https; NULL: system's */
	char	   *proxy;			/* proxy URL; NULL: none */
	bool		use_search;		/* read through Close's search API */
	int			search_page_size;	/* _limit of search pages */
} CloseServerOptions;

/* Everything needed to send requests as one user to one server. */
typedef struct CloseConnection
{
	Oid			serverid;
	Oid			userid;
	Oid			umid;			/* the user mapping used (own or PUBLIC) */
	char	   *server_name;
	CloseServerOptions opts;
	char	   *api_key;		/* never printed */
	bool		rate_key_set;	/* rate_key computed (ratelimit.c) */
	uint8		rate_key[16];	/* SHA-256 of base_url and api_key, cut */
} CloseConnection;

/* Per-table facts read from the catalog and the table's options. */
typedef struct CloseTableInfo
{
	const CloseObjectDef *object;
	bool		updatable;
	int			natts;
	char	  **field_names;	/* per attribute (0-based); NULL if dropped */
	bool	   *is_attrs;		/* jsonb column named attrs: whole object */
	AttrNumber	id_attno;		/* column reading the key field; 0 if none */
	double		estimated_rows; /* the table's estimated_rows; -1 unset */
	double		server_estimated_rows;	/* the server's; -1 unset */
	char	  **custom_types;	/* per attribute: custom_type option, or NULL */
	bool		use_search;		/* the use_search option, table over server */
} CloseTableInfo;

extern void close_get_server_options(ForeignServer *server,
									 CloseServerOptions *opts);
extern CloseConnection *close_get_connection(Oid serverid, Oid userid);
extern CloseTableInfo *close_get_table_info(Relation rel);

/* ---------- in connection.c ---------- */

extern int	close_max_idle_connections;
extern void close_connection_init(void);
extern void *close_session_multi(CloseConnection *conn);	/* CURLM * */

/* ---------- in ratelimit.c ---------- */

extern void close_ratelimit_init(void);
extern long close_rate_delay(CloseConnection *conn, const char *group,
							 TimestampTz now);
extern void close_rate_answered(CloseConnection *conn, const char *group,
								const CloseRateLimit *rl, bool answered,
								TimestampTz now);
extern void close_rate_wait(CloseConnection *conn, const char *group,
							long wait_ms, TimestampTz now);

/* ---------- in xact.c ---------- */

extern void close_xact_init(void);
extern void close_xact_note_change(void);
extern void close_xact_check_writable(const char *method);

/* ---------- in stats.c ---------- */

#define CLOSE_STATS_METHODS {"GET", "POST", "PUT", "PATCH", "DELETE"}
#define CLOSE_STATS_NMETHODS 5

/* What one backend's requests to one server cost. */
typedef struct CloseServerStats
{
	Oid			serverid;		/* hash key */
	int64		by_method[CLOSE_STATS_NMETHODS];	/* attempts sent */
	int64		by_status_class[4]; /* 2xx, 3xx, 4xx, 5xx answers */
	int64		transport_errors;	/* attempts with no answer */
	int64		retries;
	int64		rate_limited;	/* 429 answers */
	int64		rate_wait_ms;	/* waited for rate limits */
	int64		bytes_in;
	int64		bytes_out;
	int64		connections_opened;
} CloseServerStats;

extern CloseServerStats *close_stats_for(Oid serverid);
extern int	close_stats_method_index(const char *method);

/* ---------- in http.c ---------- */

/* One HTTP exchange with Close: the request and, once done, its outcome. */
typedef struct CloseRequest
{
	/* request */
	const char *method;
	char	   *path;			/* relative to base_url, with query string */
	char	   *body;			/* JSON request body or NULL */
	bool		retry_unsafe;	/* may retry even if possibly processed */
	bool		reads_only;		/* a POST that changes nothing (search) */

	/* outcome */
	long		status;			/* HTTP status; 0 if no response */
	StringInfoData response;	/* body bytes */
	StringInfoData headers;		/* raw header lines of the final response */
	char	   *transport_error;	/* set when no usable response arrived */
	int			attempts;

	/* engine bookkeeping */
	void	   *easy;
	struct curl_slist *header_list;
	char		errbuf[256];
	bool		too_large;
	size_t		max_bytes;		/* response size limit */
	char	   *group;			/* rate-limit endpoint group */

	/*
	 * Wall time the close_http_perform call spent with this request held
	 * back by a rate limit while no earlier request of the call was: the
	 * sum over a call's requests is the call's wall time of waiting.
	 */
	long		rate_wait_ms;
	int64		rate_wait_us;	/* the same, as it accumulates */
	bool		rate_held;		/* not_before set by a rate limit */
	int			failed_retries; /* retries after failures (max_retries) */
	int			rate_retries;	/* retries after a 429 that said when */
	long		rate_told_ms;	/* waits those 429s asked for, in total */
	int64		bytes_out;
	TimestampTz not_before;
	int			state;
} CloseRequest;

extern CloseRequest *close_request_make(const char *method, const char *path,
										const char *body);
extern void close_http_perform(CloseConnection *conn, CloseRequest **requests,
							   int nrequests);
extern char *close_url_escape(const char *text, int len);
extern char *close_response_header(CloseRequest *req, const char *name);
extern void close_report_http_error(CloseConnection *conn, CloseRequest *req,
									const char *action);
extern void close_report_transport_error(CloseConnection *conn,
										 CloseRequest *req);
extern const char *close_curl_version(void);

/* ---------- in convert.c ---------- */

struct cJSON;
extern void close_json_init(void);
extern struct cJSON *close_json_parse(const char *text, size_t len);
extern char *close_json_text(const struct cJSON *value);
extern struct cJSON *close_json_field(struct cJSON *object, const char *field);
extern Datum close_json_to_datum(struct cJSON *value, Oid typid, int32 typmod,
								 bool *isnull);
extern void close_object_to_values(struct cJSON *object, CloseTableInfo *table,
								   TupleDesc tupdesc, const bool *wanted,
								   const char *relname,
								   Datum *values, bool *nulls);
extern Datum close_text_to_jsonb(const char *text, size_t len);
extern char *close_datum_text(Datum value, Oid typid);
extern void close_array_elements(Datum value, Oid *elemtype, Datum **elems,
								 bool **nulls, int *nelems);
extern char *close_values_to_json(CloseTableInfo *table, TupleDesc tupdesc,
								  Datum *values, bool *isnull, List *attnums,
								  bool nulls_as_null,
								  const char *const *skip_fields);
extern char *close_error_text(const char *body, size_t len);
extern void close_report_malformed_list(CloseRequest *req, const char *what);
extern struct cJSON *close_list_data(CloseRequest *req, struct cJSON **root);

/* ---------- in listing.c ---------- */

/* Objects per search page Close accepts at most. */
#define CLOSE_SEARCH_MAX_LIMIT 200

/* One name=value pair of a list request's query string. */
typedef struct CloseQueryParam
{
	const char *name;
	const char *value;			/* percent-encoded when sent, unless literal */
	bool		literal;		/* sent as written: already encoded, or an
								 * EXPLAIN placeholder */
} CloseQueryParam;

/* What a scan's requests cost, for EXPLAIN ANALYZE. */
typedef struct CloseRequestCounts
{
	int64		requests;		/* attempts sent */
	int64		pages;
	int64		retries;
	int64		bytes;
	int64		rate_wait_ms;
} CloseRequestCounts;

/* What a pager reads, and how. */
typedef struct CloseListSpec
{
	const CloseObjectDef *object;
	bool		fields_given;	/* false: whole objects */
	List	   *fields;			/* String: top-level keys to ask for */
	const char *order_by;		/* list endpoint's _order_by, or NULL */
	int			page_size;		/* list endpoint's _limit */
	int64		limit_hint;		/* rows the query takes; -1 all */

	/* Close's search API instead of the list endpoint */
	const char *search_type;	/* Close's object type; NULL: list endpoint */
	const char *keyset_field;	/* date_created or date_updated */
	bool		descending;
	bool		dedupe_all;		/* remember every id: the keyset field may
								 * change during the walk */
	int			search_page_size;
} CloseListSpec;

typedef struct ClosePager ClosePager;

extern int	close_readahead_pages;
extern void close_listing_init(void);
extern List *close_query_add(List *params, const char *name, const char *value,
							 bool literal);
extern char *close_request_path(const char *collection, List *params);
extern List *close_query_add_default(List *params, const CloseObjectDef *object);
extern char *close_fields_value(const CloseListSpec *spec, const char *extra);
extern TimestampTz close_floor_second(TimestampTz ts);
extern void close_count_request(CloseRequestCounts *counts, CloseRequest *req);
extern int	close_list_page_limit(const CloseObjectDef *object, int page_size,
								  int64 hint);
extern ClosePager *close_pager_create(CloseConnection *conn,
									  const CloseListSpec *spec,
									  MemoryContext parent);
extern void close_pager_begin(ClosePager *pager, List *params,
							  const char *conditions);
extern struct cJSON *close_pager_next(ClosePager *pager);
extern CloseRequestCounts *close_pager_counts(ClosePager *pager);
extern void close_pager_free(ClosePager *pager);
extern char *close_pager_describe(const CloseListSpec *spec, List *filter_names,
								  const char *conditions);
extern List *close_list_all(CloseConnection *conn, const CloseObjectDef *object);
extern bool close_table_fields(CloseTableInfo *table, const bool *wanted,
							   List **fields, bool *has_custom);
extern char *close_list_first_page_path(const CloseListSpec *spec, int limit);
extern struct cJSON *close_search_field_ref(const char *object_type,
											const char *field);
extern struct cJSON *close_search_moment(TimestampTz ts);
extern char *close_search_body(const CloseListSpec *spec, const char *conditions,
							   const TimestampTz *anchor, int limit,
							   const char *cursor, bool for_explain);

/* ---------- in search.c ---------- */

/* How Close's search compares one field of an object. */
typedef enum CloseSearchKind
{
	CLOSE_SEARCH_MOMENT,		/* moment_range on a date or timestamp */
	CLOSE_SEARCH_NUMBER,		/* number_range */
	CLOSE_SEARCH_REFERENCE,		/* reference to other objects' ids */
	CLOSE_SEARCH_TERM,			/* term: one of enumerated values */
	CLOSE_SEARCH_STATUS_LABEL	/* a status label, sent as its status ids */
} CloseSearchKind;

/* A field of a searchable object that conditions can name. */
typedef struct CloseSearchField
{
	const char *name;
	CloseSearchKind kind;
	const char *reference_type; /* reference: Close's reference_type */
} CloseSearchField;

/* A Close object its search API covers. */
typedef struct CloseSearchObject
{
	const char *object;			/* catalog name */
	const char *search_type;	/* Close's object type in search requests */
	const char *status_collection;	/* where its status labels are, or NULL */
	const CloseSearchField *fields; /* terminated by a NULL name */
} CloseSearchObject;

extern const CloseSearchObject *close_search_object(const CloseObjectDef *object);
extern char *close_search_pushdown(List *clauses, Index relid,
								   CloseTableInfo *table, List **exprs,
								   int *npushed, bool *filters_date_updated);
extern char *close_search_conditions(const char *template, List *exprstates,
									 ExprContext *econtext,
									 CloseConnection *conn,
									 const CloseObjectDef *object,
									 List **status_cache,
									 MemoryContext cache_cxt,
									 bool *matches_nothing);
extern char *close_search_explain(const char *template);
extern char *close_search_ids_conditions(List *ids);
extern bool close_search_ids_refused;

/* ---------- in planner.c ---------- */

/* Longest object id a hash of ids keeps (Close's ids are ~30 bytes). */
#define CLOSE_ID_KEYLEN 256

/* What a scan sends to Close. */
typedef enum CloseScanKind
{
	CLOSE_SCAN_LOOKUP,			/* GET /{object}/{id}/ per id */
	CLOSE_SCAN_LIST				/* listing, page by page */
} CloseScanKind;

/* Planner state of one Close foreign table (baserel->fdw_private). */
typedef struct CloseRelInfo
{
	CloseTableInfo *table;
	Oid			serverid;
	Oid			userid;
	List	   *id_exprs;		/* lookup: expressions giving the id(s) */
	bool		id_is_array;	/* id = ANY(array) rather than id = expr */
	Expr	   *id_clause;		/* the RestrictInfo clause used for lookup */
	int			page_size;
	double		collection_rows;	/* objects a listing returns unfiltered */
	bool		use_search;		/* the use_search option */
	int			search_page_size;
} CloseRelInfo;

/*
 * Indexes into ForeignScan.fdw_private.  fdw_exprs holds, for a lookup, the
 * id expression; for a listing, one value expression per filter name, or
 * per placeholder of the search conditions.
 */
enum CloseScanPrivateIndex
{
	CloseScanPrivateKind,		/* Integer: CloseScanKind */
	CloseScanPrivateIdIsArray,	/* Boolean */
	CloseScanPrivateFilters,	/* List of String: list query parameters */
	CloseScanPrivateRetrieved,	/* List of Integer: columns used; NIL all */
	CloseScanPrivateLimitHint,	/* Integer: rows the query takes; -1 all */
	CloseScanPrivateOrderBy,	/* String: _order_by value, "" for none */
	CloseScanPrivatePrefetch,	/* String: SQL listing a join's ids, or "" */
	CloseScanPrivatePrefetchUser,	/* Integer: role that runs it, 0: current */
	CloseScanPrivateSearch,		/* String: search conditions template, or
								 * "" for the list endpoint */
	CloseScanPrivateKeyset,		/* String: search keyset field, "-" prefix
								 * for descending */
	CloseScanPrivateFanout,		/* Integer: filter listed once per value of
								 * its array, -1 none */
	CloseScanPrivateSnapshot,	/* Boolean: read everything before the first
								 * row (the statement changes Close) */
	CloseScanPrivateUseSearch	/* Boolean: lookups may go through search */
};

extern void closeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
extern void closeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
extern ForeignScan *closeGetForeignPlan(PlannerInfo *root,
										RelOptInfo *baserel,
										Oid foreigntableid,
										ForeignPath *best_path,
										List *tlist, List *scan_clauses,
										Plan *outer_plan);
extern char *close_classify_filter(Expr *clause, Index relid,
								   CloseTableInfo *table, Expr **value,
								   bool *fanout);
extern bool close_is_id_lookup_clause(Expr *clause, Index relid,
									  AttrNumber id_attno, Expr **id_expr,
									  bool *is_array);
extern Expr *close_or_to_any(Expr *clause);
extern bool close_is_string_equality(Oid opno);
extern bool close_is_temporal_type(Oid typid);
extern AttrNumber close_clause_column(Node *node, Index relid,
									  CloseTableInfo *table);
extern bool close_usable_value(Node *expr, Index relid);

/* ---------- in scan.c ---------- */

extern void closeBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *closeIterateForeignScan(ForeignScanState *node);
extern void closeReScanForeignScan(ForeignScanState *node);
extern void closeEndForeignScan(ForeignScanState *node);
extern void closeExplainForeignScan(ForeignScanState *node,
									ExplainState *es);
extern void close_report_no_lookup(const CloseObjectDef *object);
extern List *close_eval_ids(List *id_exprs, bool id_is_array,
							ExprContext *econtext);

/* ---------- in modify.c ---------- */

extern void closeAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
										 RangeTblEntry *target_rte,
										 Relation target_relation);
extern List *closePlanForeignModify(PlannerInfo *root, ModifyTable *plan,
									Index resultRelation, int subplan_index);
extern void closeBeginForeignModify(ModifyTableState *mtstate,
									ResultRelInfo *rinfo, List *fdw_private,
									int subplan_index, int eflags);
extern TupleTableSlot *closeExecForeignInsert(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern void closeBeginForeignInsert(ModifyTableState *mtstate,
									ResultRelInfo *rinfo);
extern void closeEndForeignInsert(EState *estate, ResultRelInfo *rinfo);
extern int	closeGetForeignModifyBatchSize(ResultRelInfo *rinfo);
extern TupleTableSlot **closeExecForeignBatchInsert(EState *estate,
													ResultRelInfo *rinfo,
													TupleTableSlot **slots,
													TupleTableSlot **planSlots,
													int *numSlots);
extern TupleTableSlot *closeExecForeignUpdate(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern TupleTableSlot *closeExecForeignDelete(EState *estate,
											  ResultRelInfo *rinfo,
											  TupleTableSlot *slot,
											  TupleTableSlot *planSlot);
extern void closeEndForeignModify(EState *estate, ResultRelInfo *rinfo);
extern int	closeIsForeignRelUpdatable(Relation rel);
extern bool closePlanDirectModify(PlannerInfo *root, ModifyTable *plan,
								  Index resultRelation, int subplan_index);
extern void closeBeginDirectModify(ForeignScanState *node, int eflags);
extern TupleTableSlot *closeIterateDirectModify(ForeignScanState *node);
extern void closeEndDirectModify(ForeignScanState *node);
extern void closeExplainForeignModify(ModifyTableState *mtstate,
									  ResultRelInfo *rinfo, List *fdw_private,
									  int subplan_index,
									  ExplainState *es);
extern void closeExplainDirectModify(ForeignScanState *node,
									 ExplainState *es);
extern char *close_object_path(const CloseObjectDef *object, const char *id);

/* ---------- in analyze.c ---------- */

extern bool closeAnalyzeForeignTable(Relation relation,
									 AcquireSampleRowsFunc *func,
									 BlockNumber *totalpages);

/* ---------- in raw.c ---------- */

extern List *close_mapped_servers(Oid userid);

/* ---------- in import.c ---------- */

extern List *closeImportForeignSchema(ImportForeignSchemaStmt *stmt,
									  Oid serverOid);

#endif							/* CLOSECRM_FDW_H */
