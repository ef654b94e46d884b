#!/usr/bin/env python3
"""Generate closecrm_fdw's object catalog from Close's OpenAPI document.

Reads ../shared/close-api/openapi.json (or the path given as the first
argument) and writes:

  src/catalog_data.c   the static C table the extension reads
  test/catalog.json    the same facts for the emulator and the test scripts

Only facts derived from the document (paths, methods, status codes, query
parameter names, field names and types) are written; the document itself is
never copied into the repository.  An object's fields merge every source
that describes it: its response schemas, its base schema, its request bodies,
and the fields of Close's sample objects (tools/close_examples.py); each is
marked optional when real objects may lack it (see object_fields).  IMPORT
FOREIGN SCHEMA creates a column for each.  Re-run after updating openapi.json:

    python3 tools/gen_catalog.py [path/to/openapi.json]
"""

import json
import os
import re
import sys

import close_examples

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SPEC = os.path.join(REPO, "..", "shared", "close-api", "openapi.json")

# Facts the document states only in prose (NOTES.md, "Pagination"): filters
# without which Close refuses to list a collection.  Each inner list is a
# group of which at least one must be given.
REQUIRED_FILTER_PROSE = {
    "comment": [["object_id", "thread_id"]],
    "sequence_subscription": [["sequence_id", "contact_id", "lead_id"]],
}

# Query parameters a listing must carry unless the query sets that
# parameter itself (NOTES.md: without _type, /task/ lists only lead tasks;
# Close's docs: _type=all lists every task type).
DEFAULT_LIST_PARAMS = {"task": "_type=all"}

# Fields Close's _order_by sorts a listing by, from the list endpoints'
# descriptions ("_order_by allows: date_won, date_updated, ..."), keeping
# only those the object schema declares required and never null: for them
# Close's order is PostgreSQL's order, so the planner can rely on it.
SORT_FIELDS_DOCUMENTED = {
    "opportunity": ["date_won", "date_updated", "date_created", "confidence", "user_name",
                    "value", "annualized_value", "annualized_expected_value"],
    "task": ["date", "date_created"],
}

# Collections whose _fields accepts "custom.cf_..." selectors, per Close's
# docs: only leads document them ("_fields=custom" returns every custom field,
# "custom.cf_xxx" selects some; research notes 5.1, ADVANCED_FILTERING.md
# section 4).  Elsewhere such a selector may be ignored and the values lost,
# so this stays conservative.
CUSTOM_SELECTORS_DOCUMENTED = {"lead"}

# Collections whose list uses a cursor instead of _skip (NOTES.md: the event
# log pages with _cursor/cursor_next and does not support _skip, even though
# the document lists a _skip parameter for it).
CURSOR_COLLECTIONS = {"event": 50}

# The field naming an object where it is not "id" (NOTES.md: unsubscribed
# e-mails are keyed by the address itself).
KEY_FIELDS = {"unsubscribe/email": "email"}

# Query parameters that are paging/projection machinery, not filters.
MACHINERY = {"_limit", "_skip", "_fields", "_cursor", "_order_by", "_group_by",
             "Authorization", "organization_id", "format"}

# Paths that look like collections but are singletons or reports.
NOT_COLLECTIONS = {"me", "blocked_phone_number/settings", "user/availability",
                   "report/activity/metrics"}

# Where openapi.json describes a collection's objects only partly, the
# document still describes them elsewhere (see object_fields):
#
# - Base schemas.  Every typed activity schema (CallActivity, EmailActivity,
#   ...) contains all the properties of ActivityBase, so ActivityBase lists
#   the fields every activity has (checked by check_base_schemas on each run).
BASE_SCHEMAS = {"activity": "ActivityBase"}     # collection prefix -> schema

# - Request bodies.  PUT/POST bodies name the fields a client sets on the
#   object.  These keys are instructions rather than fields of the stored
#   object: custom field values come back as flat "custom.<id>" keys
#   (NOTES.md), and "created_by_id" sets what objects report as "created_by"
#   (every activity response schema has created_by, none created_by_id).
REQUEST_ONLY = {"custom_fields", "created_by_id"}

# - Close's sample objects and other documented fields: tools/close_examples.py.

# Column types that follow the values rather than the schema.  Money and
# confidence are numbers (other Close integrations type them so; one
# fractional value would make an integer column fail a whole scan); these
# fields hold plain dates (a date-time column would shift them by the
# session's time zone): a task's date is a due day, sent as a date or as
# midnight UTC.  Applied to every collection that has the field.
TYPE_OVERRIDES = {
    "value": "numeric", "expected_value": "numeric",
    "annualized_value": "numeric", "annualized_expected_value": "numeric",
    "confidence": "numeric", "opportunity_value": "numeric",
    "opportunity_confidence": "numeric",
    "next_billing_on": "date", "date_won": "date", "opportunity_date_won": "date",
}
TYPE_OVERRIDES_BY_COLLECTION = {"task": {"date": "date", "due_date": "date"}}

# Collections Close can GET by id although openapi.json has no such path:
# Close's newer per-resource reference documents them (research notes 2.5,
# "only in [SPLIT]"), the opportunity status one with _fields.  Value:
# whether the GET accepts _fields.
GET_BY_ID_PROSE = {"pipeline": False, "status/lead": False,
                   "status/opportunity": True}

# Collections whose objects carry fields no catalog can list: the generic
# activity listing returns every activity type, custom activities and custom
# objects carry the fields of their own types.  A column naming a field
# outside the catalog is only a NOTICE there (src/option.c).
OPEN_FIELDS = {"activity", "activity/custom", "custom_object"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(spec, schema, depth=0):
    """Follow $ref and unwrap oneOf/anyOf [X, null] to the real schema."""
    while isinstance(schema, dict) and "$ref" in schema and depth < 20:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"].get(name, {})
        depth += 1
    if isinstance(schema, dict):
        for key in ("oneOf", "anyOf"):
            alts = [a for a in schema.get(key, []) if a.get("type") != "null"]
            if len(alts) == 1:
                return resolve(spec, alts[0], depth + 1)
        if "allOf" in schema:
            merged = {"type": "object", "properties": {}}
            for part in schema["allOf"]:
                part = resolve(spec, part, depth + 1)
                merged["properties"].update(part.get("properties", {}))
            return merged
    return schema if isinstance(schema, dict) else {}


def pg_type(spec, schema):
    """Map a JSON schema to the PostgreSQL type IMPORT FOREIGN SCHEMA uses."""
    schema = resolve(spec, schema)
    for key in ("oneOf", "anyOf"):
        alts = [resolve(spec, a) for a in schema.get(key, [])
                if a.get("type") != "null"]
        if len(alts) > 1:
            # e.g. a task's date: a date or a date-time
            mapped = {pg_type(spec, a) for a in alts}
            if len(mapped) == 1:
                return mapped.pop()
            if all(a.get("type") == "string" for a in alts):
                return "text"
            if mapped <= {"bigint", "numeric"}:
                return "numeric"
            return "jsonb"
    types = schema.get("type")
    if isinstance(types, list):
        types = [t for t in types if t != "null"]
        types = types[0] if len(types) == 1 else None
    fmt = schema.get("format")
    if types == "string":
        if fmt == "date-time":
            return "timestamptz"
        if fmt == "date":
            return "date"
        return "text"
    if types == "integer":
        return "bigint"
    if types == "number":
        return "numeric"
    if types == "boolean":
        return "boolean"
    return "jsonb"


def json_schema_of(spec, op, status_codes=("200", "201")):
    for code in status_codes:
        resp = op.get("responses", {}).get(code)
        if resp:
            content = resp.get("content", {}).get("application/json", {})
            return resolve(spec, content.get("schema", {}))
    return {}


def schema_properties(spec, schema):
    """Properties of an object schema, or of the items of a list envelope."""
    props = schema.get("properties", {}) or {}
    if "data" in props and "has_more" in props:
        data = resolve(spec, props["data"])
        props = resolve(spec, data.get("items", {})).get("properties", {}) or {}
    return props


def request_properties(spec, op):
    """Properties of an operation's JSON request body (none if "Any type")."""
    if not op:
        return {}
    content = op.get("requestBody", {}).get("content", {})
    schema = resolve(spec, content.get("application/json", {}).get("schema", {}))
    return schema.get("properties", {}) or {}


def base_schema(spec, name):
    """The BASE_SCHEMAS entry describing collection "name", if any."""
    for prefix, schema_name in BASE_SCHEMAS.items():
        if name == prefix or name.startswith(prefix + "/"):
            return spec["components"]["schemas"][schema_name]
    return {}


def required_of(spec, schema):
    """The required properties of an object schema or of a list's items."""
    props = schema.get("properties", {}) or {}
    if "data" in props and "has_more" in props:
        schema = resolve(spec, resolve(spec, props["data"]).get("items", {}))
    return set(schema.get("required", []) or [])


def object_fields(spec, c, key_field):
    """Top-level fields of one collection's objects, key field first, as
    (name, pgtype, optional) with optional true for the fields real objects
    may lack.

    Every source Close publishes is merged: the response schemas (GET by id,
    the list's items, create and update responses), the collection's base
    schema (BASE_SCHEMAS), Close's sample object and other documented fields
    (tools/close_examples.py), and the PUT/POST request bodies.  A field keeps
    the type of the first source that names it, TYPE_OVERRIDES last.

    A field is not optional when Close's sample object shows it; without a
    sample, when the response schema requires it (activities: or the sample's
    common fields); without either, every field counts as sent.
    """
    name = c["name"]
    fields = {}
    required = set()

    def add(props):
        for fname, ftype in props:
            if fname not in fields and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", fname):
                fields[fname] = ftype

    for op in (c.get("get"), c.get("list"), c.get("post"), c.get("put")):
        if op:
            schema = json_schema_of(spec, op)
            add((f, pg_type(spec, s)) for f, s in schema_properties(spec, schema).items())
            required |= required_of(spec, schema)
    base = base_schema(spec, name)
    add((f, pg_type(spec, s)) for f, s in (base.get("properties") or {}).items())
    sample = close_examples.parse(close_examples.SAMPLE_FIELDS.get(name, ""))
    add(sample)
    for op in (c.get("put"), c.get("collection_put"), c.get("post")):
        add((f, pg_type(spec, s)) for f, s in request_properties(spec, op).items()
            if f not in REQUEST_ONLY)
    add(close_examples.parse(close_examples.DOCUMENTED_FIELDS.get(name, "")))

    if sample:
        sent = {f for f, _ in sample}
    elif base:
        sent = required | {f for f, _ in close_examples.parse(close_examples.ACTIVITY)}
    elif required:
        sent = required
    else:
        sent = set(fields)
    overrides = dict(TYPE_OVERRIDES, **TYPE_OVERRIDES_BY_COLLECTION.get(name, {}))
    out = [(key_field, "text", False)]
    for fname in sorted(fields):
        if fname != key_field:
            out.append((fname, overrides.get(fname, fields[fname]), fname not in sent))
    return out


def check_base_schemas(spec, catalog):
    """Stop if a BASE_SCHEMAS entry is no longer contained in every response
    schema of its collections: it would then not be a common base."""
    for prefix, schema_name in BASE_SCHEMAS.items():
        base = set(spec["components"]["schemas"][schema_name].get("properties", {}))
        for c in catalog:
            if c["name"] != prefix and not c["name"].startswith(prefix + "/"):
                continue
            if not c["response_fields"]:
                continue
            missing = base - c["response_fields"]
            if missing:
                sys.exit("%s is not a base of %s (lacks %s); revise BASE_SCHEMAS"
                         % (schema_name, c["name"], ", ".join(sorted(missing))))


def non_null_fields(spec, get_op, list_op, names):
    """Those of "names" the object schema declares required and not null.
    Where the schema is empty, "date_created" is kept: every Close object
    has one."""
    schema = {}
    if get_op:
        schema = json_schema_of(spec, get_op)
    if not schema.get("properties") and list_op:
        data = resolve(spec, json_schema_of(spec, list_op).get("properties", {}).get("data", {}))
        schema = resolve(spec, data.get("items", {}))
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = []
    for n in names:
        if not props:
            if n == "date_created":
                out.append(n)
            continue
        t = resolve(spec, props.get(n, {})).get("type")
        nullable = t is None or (isinstance(t, list) and "null" in t)
        if n in required and not nullable:
            out.append(n)
    return out


def query_params(op):
    """Names of an operation's query parameters (none without the operation)."""
    if not op:
        return []
    return [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]


def is_list(spec, op):
    schema = json_schema_of(spec, op)
    props = schema.get("properties", {})
    if "data" in props:
        return True
    # Several list responses are documented as an empty schema; a GET on a
    # collection path whose summary says it lists is still a list.
    summary = (op.get("summary", "") + " " + op.get("operationId", "")).lower()
    return "list" in summary or "retrieve a list" in summary


def build(spec):
    paths = spec["paths"]
    collections = {}
    item_re = re.compile(r"^/(.+)/\{([a-z_]+)\}/$")
    for path, item in paths.items():
        m = item_re.match(path)
        if m and "{" not in m.group(1):
            name, id_param = m.group(1), m.group(2)
            c = collections.setdefault(name, {"name": name})
            c["id_param"] = id_param
            if "get" in item:
                c["get"] = item["get"]
            if "put" in item:
                c["put"] = item["put"]
            if "delete" in item:
                c["delete"] = item["delete"]
            continue
        m = re.match(r"^/([a-z_/]+)/$", path)
        if m and m.group(1) not in NOT_COLLECTIONS:
            name = m.group(1)
            if "get" in item and is_list(spec, item["get"]):
                collections.setdefault(name, {"name": name})["list"] = item["get"]
            if "post" in item:
                collections.setdefault(name, {"name": name})["post"] = item["post"]
            if "put" in item:
                collections.setdefault(name, {"name": name})["collection_put"] = item["put"]

    catalog = []
    for name in sorted(collections):
        c = collections[name]
        if not any(k in c for k in ("get", "delete", "list")):
            continue            # e.g. /export/lead/: an action, not a collection
        if "list" not in c and c.get("id_param") != "id":
            continue            # reports and schemas keyed by something else
        list_op = c.get("list")
        params = []
        required = []
        paging = "none"
        max_limit = 0
        if list_op:
            params = query_params(list_op)
            required = [[p["name"]] for p in list_op.get("parameters", [])
                        if p.get("in") == "query" and p.get("required")
                        and p["name"] not in MACHINERY]
            if name in CURSOR_COLLECTIONS:
                paging = "cursor"
                max_limit = CURSOR_COLLECTIONS[name]
            elif "_skip" in params:
                paging = "skip"
            else:
                paging = "single"
        required += REQUIRED_FILTER_PROSE.get(name, [])
        delete_status = 0
        if "delete" in c:
            codes = [k for k in c["delete"]["responses"] if k.startswith("2")]
            delete_status = int(sorted(codes)[0]) if codes else 200
        create_status = 0
        if "post" in c:
            codes = [k for k in c["post"]["responses"] if k.startswith("2")]
            create_status = int(sorted(codes)[0]) if codes else 200
        filters = sorted(p for p in params if p not in MACHINERY)
        sort_fields = non_null_fields(spec, c.get("get"), list_op,
                                      SORT_FIELDS_DOCUMENTED.get(name, []))
        key_field = KEY_FIELDS.get(name, "id")
        fields = object_fields(spec, c, key_field)
        response_fields = set()
        for op in (c.get("get"), c.get("list"), c.get("post"), c.get("put")):
            if op:
                response_fields |= set(schema_properties(spec, json_schema_of(spec, op)))
        get_fields_param = "_fields" in query_params(c.get("get"))
        if "get" not in c and name in GET_BY_ID_PROSE:
            get_fields_param = GET_BY_ID_PROSE[name]
        catalog.append({
            "name": name,
            "table_name": name.replace("/", "_"),
            "id_param": c.get("id_param", "id"),
            "key_field": key_field,
            "default_query": DEFAULT_LIST_PARAMS.get(name, ""),
            "sort_fields": sort_fields,
            "get": "get" in c or name in GET_BY_ID_PROSE,
            "list": list_op is not None,
            "create": "post" in c,
            "update": "put" in c,
            "delete": "delete" in c,
            "delete_status": delete_status,
            "create_status": create_status,
            "paging": paging,
            "max_limit": max_limit,
            "fields_param": "_fields" in params,
            "order_by": "_order_by" in params,
            "get_fields_param": get_fields_param,
            "custom_selectors": name in CUSTOM_SELECTORS_DOCUMENTED,
            "required_filters": required,
            "filters": filters,
            "open_fields": name in OPEN_FIELDS or len(fields) == 1,
            "fields": [[f, t] for f, t, _ in fields],
            "optional_fields": [f for f, _, optional in fields if optional],
            "response_fields": response_fields,
        })
    check_base_schemas(spec, catalog)
    for c in catalog:
        del c["response_fields"]
    return catalog


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_c(catalog, out):
    lines = [
        "/*-------------------------------------------------------------------------",
        " *",
        " * catalog_data.c",
        " *\t\t  The Close object catalog: every collection of the Close API.",
        " *",
        " * GENERATED by tools/gen_catalog.py from Close's openapi.json; do not edit.",
        " * Re-run the script instead.",
        " *",
        " *-------------------------------------------------------------------------",
        " */",
        '#include "postgres.h"',
        "",
        '#include "closecrm_fdw.h"',
        "",
    ]
    for i, c in enumerate(catalog):
        lines.append("static const char *const filters_%d[] = {%s};" % (
            i, ", ".join([c_string(f) for f in c["filters"]] + ["NULL"])))
        groups = ["|".join(g) for g in c["required_filters"]]
        lines.append("static const char *const sort_%d[] = {%s};" % (
            i, ", ".join([c_string(f) for f in c["sort_fields"]] + ["NULL"])))
        lines.append("static const char *const required_%d[] = {%s};" % (
            i, ", ".join([c_string(g) for g in groups] + ["NULL"])))
        lines.append("static const CloseFieldDef fields_%d[] = {" % i)
        for fname, ftype in c["fields"]:
            lines.append("\t{%s, %s, %s}," % (c_string(fname), c_string(ftype),
                                              "true" if fname in c["optional_fields"] else "false"))
        lines.append("\t{NULL, NULL, false}")
        lines.append("};")
    lines.append("")
    lines.append("const CloseObjectDef close_object_catalog[] = {")
    for i, c in enumerate(catalog):
        ops = [flag for flag, key in (("CLOSE_OP_GET", "get"), ("CLOSE_OP_LIST", "list"),
                                      ("CLOSE_OP_CREATE", "create"), ("CLOSE_OP_UPDATE", "update"),
                                      ("CLOSE_OP_DELETE", "delete")) if c[key]]
        paging = {"none": "CLOSE_PAGING_NONE", "skip": "CLOSE_PAGING_SKIP",
                  "cursor": "CLOSE_PAGING_CURSOR", "single": "CLOSE_PAGING_SINGLE"}[c["paging"]]
        lines.append("\t{%s, %s, %s, %s, %s, %s, %d, %d, %s, %d, %s, %s, %s, %s, %s, required_%d, filters_%d, sort_%d, fields_%d}," % (
            c_string(c["name"]), c_string(c["table_name"]), c_string(c["id_param"]),
            c_string(c["key_field"]), c_string(c["default_query"]),
            " | ".join(ops) if ops else "0", c["delete_status"], c["create_status"],
            paging, c["max_limit"], "true" if c["fields_param"] else "false",
            "true" if c["order_by"] else "false",
            "true" if c["get_fields_param"] else "false",
            "true" if c["custom_selectors"] else "false",
            "true" if c["open_fields"] else "false", i, i, i, i))
    lines.append("};")
    lines.append("")
    lines.append("const int close_object_catalog_size = lengthof(close_object_catalog);")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    spec_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SPEC
    spec = load(spec_path)
    catalog = build(spec)
    write_c(catalog, os.path.join(REPO, "src", "catalog_data.c"))
    with open(os.path.join(REPO, "test", "catalog.json"), "w", encoding="utf-8") as f:
        json.dump(catalog, f, indent=1, sort_keys=True)
        f.write("\n")
    print("catalog: %d collections" % len(catalog))


if __name__ == "__main__":
    main()
