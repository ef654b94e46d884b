#!/usr/bin/env python3
"""Generate doc/objects.md, the object reference, from the object catalog.

Reads test/catalog.json (written by tools/gen_catalog.py from Close's OpenAPI
document; src/catalog_data.c holds the same facts for the extension) and the
table of custom field sources in src/import.c, and writes, for every Close
collection a foreign table can name: its table name under IMPORT FOREIGN
SCHEMA, the operations Close supports, how it pages, the filters Close
requires and the WHERE conditions sent to Close, the ORDER BY sent to Close,
and the columns IMPORT FOREIGN SCHEMA creates.

    python3 tools/gen_objects_doc.py            # writes doc/objects.md
    python3 tools/gen_objects_doc.py -o FILE    # writes FILE ("-": stdout)

test/run_all.sh regenerates it to a temporary file and fails if the checked-in
doc/objects.md differs, so the reference cannot fall behind the catalog.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CATALOG = os.path.join(REPO, "test", "catalog.json")
IMPORT_C = os.path.join(REPO, "src", "import.c")
SEARCH_C = os.path.join(REPO, "src", "search.c")
OUTPUT = os.path.join(REPO, "doc", "objects.md")

# How a filter's suffix reads as a SQL condition on the column (planner.c,
# close_classify_filter): equality, = ANY / IN, and ranges on date and
# timestamp columns.
SUFFIX_SQL = [("__gte", ">="), ("__lte", "<="), ("__gt", ">"), ("__lt", "<"),
              ("__in", "IN")]

# List parameters that are searches or views rather than fields of the
# objects (Close's documentation of these list endpoints): no column reads
# them, so no WHERE condition can send them; close_raw() can.
NOT_FIELDS = {"query", "lead_query", "lead_saved_search_id", "view", "ids",
              "object_ids"}

# Parameters named after one field that filter on another (NOTES.md and
# test/EMULATOR.md: an opportunity's "status" filter matches status_label,
# which has filters of its own).
ALIASES = {("opportunity", "status"): "status_label"}

PAGING = {
    "skip": "pages of `_skip`/`_limit`",
    "cursor": "pages by cursor (`_cursor`/`cursor_next`), no `_skip`",
    "single": "one response holds the whole list (no paging parameters)",
    "none": "cannot be listed",
}


def custom_field_sources(path):
    """The objects IMPORT adds custom field columns to, from import.c's
    custom_field_sources[] table: {object: (definitions, association)}."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"custom_field_sources\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not m:
        sys.exit("gen_objects_doc: custom_field_sources[] not found in %s" % path)
    rows = re.findall(r'\{"([^"]+)",\s*"([^"]+)",\s*"([^"]+)"\}', m.group(1))
    if not rows:
        sys.exit("gen_objects_doc: custom_field_sources[] in %s is empty" % path)
    return {obj: (defs, assoc) for obj, defs, assoc in rows}


SEARCH_KIND_SQL = {
    "CLOSE_SEARCH_MOMENT": "`=` `<` `<=` `>` `>=`",
    "CLOSE_SEARCH_NUMBER": "`=` `<` `<=` `>` `>=`",
    "CLOSE_SEARCH_REFERENCE": "`=` `IN`",
    "CLOSE_SEARCH_TERM": "`=` `IN`",
    "CLOSE_SEARCH_STATUS_LABEL": "`=` `IN` (sent as the ids of the statuses so labelled)",
}


def search_objects(path):
    """The objects Close's search covers, from search.c's search_objects[]
    and field tables: {object: (search_type, [(field, kind), ...])}."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    fields = {}
    for name, body in re.findall(r"static const CloseSearchField (\w+)\[\]\s*=\s*\{(.*?)\n\};", text, re.S):
        fields[name] = re.findall(r'\{"([^"]+)",\s*(CLOSE_SEARCH_\w+)', body)
    m = re.search(r"search_objects\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not m or not fields:
        sys.exit("gen_objects_doc: search_objects[] not found in %s" % path)
    rows = re.findall(r'\{"([^"]+)",\s*"([^"]+)",\s*(?:"[^"]+"|NULL),\s*(\w+)\}', m.group(1))
    if not rows:
        sys.exit("gen_objects_doc: search_objects[] in %s is empty" % path)
    return {obj: (stype, fields[table]) for obj, stype, table in rows}


def split_filter(name):
    for suffix, sql in SUFFIX_SQL:
        if name.endswith(suffix):
            return name[:-len(suffix)], sql
    return name, "="


def conditions(obj):
    """The filters as SQL conditions, grouped by field:
    [(field, [operators]), ...] in catalog order, and the other parameters."""
    by_field = {}
    order = []
    other = []
    for name in obj["filters"]:
        field, op = split_filter(name)
        if field == "id":
            continue            # lookups by id use these (see render)
        if field in NOT_FIELDS or (obj["name"], field) in ALIASES:
            other.append(name)
            continue
        if field not in by_field:
            by_field[field] = []
            order.append(field)
        by_field[field].append(op)
    rank = {"=": 0, "IN": 1, ">": 2, ">=": 3, "<": 4, "<=": 5}
    return [(f, sorted(by_field[f], key=rank.get)) for f in order], other


def ops_text(obj):
    parts = []
    if obj["get"]:
        parts.append("get by id")
    if obj["list"]:
        parts.append("list")
    if obj["create"]:
        parts.append("create (%d)" % obj["create_status"])
    if obj["update"]:
        parts.append("update")
    if obj["delete"]:
        parts.append("delete (%d)" % obj["delete_status"])
    return ", ".join(parts) if parts else "none"


def yes(flag):
    return "yes" if flag else "—"


def render(catalog, sources, searchable):
    out = []
    w = out.append
    w("<!-- Generated by tools/gen_objects_doc.py from test/catalog.json, src/import.c and src/search.c;")
    w("     do not edit: run `python3 tools/gen_objects_doc.py`. -->")
    w("")
    w("# closecrm_fdw object reference")
    w("")
    w("Every Close collection a foreign table can name with `OPTIONS (object '...')`, as the")
    w("extension's catalog describes it (generated from Close's OpenAPI document by")
    w("`tools/gen_catalog.py`; `SELECT * FROM closecrm_objects()` shows the same catalog in SQL).")
    w("")
    w("- **Table**: the name `IMPORT FOREIGN SCHEMA close` gives the foreign table (the collection")
    w("  path with `/` replaced by `_`).")
    w("- **Operations**: what Close supports, and so what SQL can do: get by id (`WHERE id = ...`,")
    w("  `id = ANY(...)`, joins on id), list (any other `SELECT`), create (`INSERT`), update")
    w("  (`UPDATE`), delete (`DELETE`). The numbers are the HTTP status Close answers a create or")
    w("  delete with. An operation Close lacks is refused when the statement is planned.")
    w("- **Required filters**: Close refuses to list the collection without one of these; a")
    w("  `SELECT` must have an `=` or `IN` condition on one of them (or look objects up by id).")
    w("- **Conditions sent to Close**: `WHERE` conditions the listing sends as query parameters.")
    w("  `=` takes a constant, a parameter or a stable expression (and a join column, for a nested")
    w("  loop of filtered listings); `IN` also covers `= ANY(array)`; `>`, `>=`, `<`, `<=` are")
    w("  sent only for `date`, `timestamp` and `timestamptz` columns; a `boolean` column is sent")
    w("  as `col` / `NOT col`. Every condition is also checked locally, and conditions Close")
    w("  cannot evaluate are applied locally only. A field marked † is no field of the objects:")
    w("  a column filtering on it needs `OPTIONS (field '...')` naming the parameter.")
    w("- **Search**: objects Close's search API covers (`POST /data/search/`) are read through it")
    w("  when it can say more than the list endpoint, or go further: the conditions listed are")
    w("  sent there, as supersets (every row is checked locally again), with `OR` of such")
    w("  conditions (timestamps widened to whole seconds, dates by a day), `IS NULL` on any of them")
    w("  (and `IS NOT NULL` on non-text ones), custom field")
    w("  columns (numbers and dates by their column type; `custom_type 'choices'` and `'user'` text")
    w("  columns by `=`/`IN`); listings walk by `date_created` with no `_skip` cap; `id IN (...)`")
    w("  and joins on id fetch up to 200 ids per request. `use_search 'false'` turns it off.")
    w("- **ORDER BY sent to Close**: fields whose `ORDER BY` (with `LIMIT`) Close sorts itself;")
    w("  others are sorted locally.")
    w("- **Listing**: how Close pages the list. Close refuses to skip past a number of objects")
    w("  (`max_skip`); listings said to go on in `date_created` slices get every object anyway,")
    w("  the others stop there with an error rather than return part of the list.")
    w("- **Default columns**: the columns `IMPORT FOREIGN SCHEMA` creates, in order: the")
    w("  catalog's fields (from every schema and sample object Close publishes), the custom field")
    w("  columns on the objects that have them, and `attrs jsonb`, which holds the whole object.")
    w("  A foreign table you create yourself may have any subset of these and `OPTIONS (field")
    w("  '...')` columns; a column named after no field is an error (a NOTICE where the objects'")
    w("  fields are open).")
    w("- **Sent only sometimes**: fields Close documents that real objects may lack (sent on")
    w("  request only, or by some types of the object only); they may read NULL, and a custom")
    w("  field of the same name takes the column name first.")
    w("")
    w("`EXPLAIN VERBOSE` shows what a query sends: `Close Request`, `Close Filter Values` and")
    w("`Close Ids` (see the README's performance notes).")
    w("")
    w("## Summary")
    w("")
    w("| Object | Table | Get | List | Create | Update | Delete | Paging | Required filters |")
    w("|---|---|---|---|---|---|---|---|---|")
    for obj in catalog:
        req = ", ".join(" or ".join("`%s`" % f for f in group)
                        for group in obj["required_filters"]) or "—"
        w("| [`%s`](#%s) | `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
            obj["name"], anchor(obj["name"]), obj["table_name"], yes(obj["get"]),
            yes(obj["list"]), yes(obj["create"]), yes(obj["update"]), yes(obj["delete"]),
            obj["paging"], req))
    w("")
    w("## Objects")
    for obj in catalog:
        w("")
        w("### %s" % obj["name"])
        w("")
        w("- **Table**: `%s` (`OPTIONS (object '%s')`)" % (obj["table_name"], obj["name"]))
        if obj["key_field"] != "id":
            uses = [u for u, ok in (("lookups", obj["get"]), ("`DELETE`", obj["delete"]),
                                    ("`UPDATE`", obj["update"])) if ok]
            w("- **Key**: objects are named by `%s`, not `id`: `WHERE %s = '...'` names one for %s"
              % (obj["key_field"], obj["key_field"], " and ".join(uses) or "nothing"))
        w("- **Operations**: %s" % ops_text(obj))
        if obj["list"]:
            listing = PAGING[obj["paging"]]
            if obj["max_limit"]:
                listing += ", at most %d per page" % obj["max_limit"]
            if obj["fields_param"]:
                listing += "; only the columns a query uses are requested (`_fields`)"
            if (obj["paging"] == "skip" and obj["order_by"] and "date_created__lte" in obj["filters"]
                    and "date_created" in obj["sort_fields"]):
                listing += ("; read newest first and continued past Close's `_skip` cap in"
                            " `date_created` slices, unless the query sorts otherwise or filters"
                            " on `date_created`")
            if obj["default_query"]:
                listing += "; sends `%s` unless the query filters on `%s`" % (
                    obj["default_query"], obj["default_query"].split("=")[0])
            w("- **Listing**: %s" % listing)
            if obj["required_filters"]:
                w("- **Required filters**: %s" % "; ".join(
                    " or ".join("`%s`" % f for f in group)
                    for group in obj["required_filters"]))
            conds, other = conditions(obj)
            fields = {f[0] for f in obj["fields"]}
            if conds:
                w("- **Conditions sent to Close**: %s" % ", ".join(
                    "`%s` %s%s" % (field, " ".join("`%s`" % op for op in ops),
                                   "" if field in fields else " †")
                    for field, ops in conds))
            else:
                w("- **Conditions sent to Close**: none (every condition is applied locally)")
            if "id__in" in obj["filters"] and obj["get"]:
                w("- **Lookups of several ids** (`id = ANY(...)`, `IN`): one `id__in` listing per"
                  " batch of ids instead of one GET per id")
            if other:
                w("- **Other list parameters** (not fields; use `close_raw()`): %s"
                  % ", ".join("`%s`" % p for p in other))
            if obj["name"] in searchable:
                stype, sfields = searchable[obj["name"]]
                w("- **Search** (object type `%s`): %s; custom fields; `ORDER BY` `date_created` or"
                  " `date_updated` (either direction)" % (stype, ", ".join(
                      "`%s` %s" % (f, SEARCH_KIND_SQL[k]) for f, k in sfields)))
            if obj["order_by"] and obj["sort_fields"]:
                w("- **ORDER BY sent to Close**: %s (`_order_by`, ascending or descending)"
                  % ", ".join("`%s`" % f for f in obj["sort_fields"]))
        cols = ["`%s %s`" % (name, typ) for name, typ in obj["fields"]]
        if obj["name"] in sources:
            cols.append("*custom field columns*")
        cols.append("`attrs jsonb`")
        w("- **Default columns** (%d typed): %s" % (len(obj["fields"]), ", ".join(cols)))
        if obj["optional_fields"]:
            w("- **Sent only sometimes**: %s" % ", ".join(
                "`%s`" % f for f in obj["optional_fields"]))
        if obj["open_fields"]:
            w("- **Open fields**: objects carry fields of their own type; a column naming a field"
              " the catalog does not list gets a NOTICE, not an error")
        if obj["name"] in sources:
            defs, assoc = sources[obj["name"]]
            w("- **Custom field columns**: one per field defined in `/%s/`, then one per shared"
              " field (`/custom_field/shared/`) associated with `%s`, as defined when"
              " importing; `OPTIONS (custom_fields 'false')` leaves them out" % (defs, assoc))
    return "\n".join(out) + "\n"


def anchor(name):
    """GitHub's heading anchor for "### name"."""
    return re.sub(r"[^a-z0-9_ -]", "", name.lower()).replace(" ", "-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default=OUTPUT,
                    help="where to write (default doc/objects.md; - for stdout)")
    ap.add_argument("--catalog", default=CATALOG)
    args = ap.parse_args()
    with open(args.catalog, encoding="utf-8") as f:
        catalog = json.load(f)
    text = render(sorted(catalog, key=lambda o: o["name"]),
                  custom_field_sources(IMPORT_C), search_objects(SEARCH_C))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
