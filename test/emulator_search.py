"""Close's Advanced Filtering endpoint, POST /api/v1/data/search/, for the emulator.

Owns everything behind that one route: body validation, evaluation of the
query tree, sort, `_fields` projection, cursor paging with its TTL and
walk cap, and counts -- per shared/close-api/ADVANCED_FILTERING.md §9 and
the "Search" section of test/EMULATOR.md.  close_emulator.py routes the
request here (after auth and rate limiting) and passes itself in as `emu`,
so this module uses its helpers (ApiError, temporal, sort_component, the
object store and Api.present) without importing a script.
"""

import base64
import binascii
import calendar
import hashlib
import hmac
import itertools
import json
import os
import re
import time
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone

GROUP = "POST /data/search/"
UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1000000

# Config under the "search" key of POST /_emulator/config (documented in
# EMULATOR.md, section "Search").
DEFAULT_CONFIG = {
    "cursor_ttl": 30.0,
    "walk_cap": 10000,
    "cap_behaviour": "error",
    "cap_message": "Cursor limit exceeded: a search can page through at most 10000 objects.",
    "cursor_mode": "snapshot",
    "max_limit": 200,
    "default_limit": 100,
    "max_fields": 100,
    "max_walks": 100,
    "max_page_rows": 0,
    "custom_selector": "flat",
    "strict_fields": True,
    "reject_id_node": False,
    "reject_node_types": [],
    "reject_condition_types": [],
    "reject_fields": [],
}

CONFIG_CHOICES = {"cap_behaviour": ("error", "null_cursor"), "cursor_mode": ("snapshot", "rerun"),
                  "custom_selector": ("flat", "nested")}


def config_problem(cfg):
    """Why a "search" config update is refused (unknown key, wrong type or
    choice), or None: a typo must fail the control call, not pass unnoticed."""
    if not isinstance(cfg, dict):
        return "search config must be an object"
    for k, v in cfg.items():
        if k not in DEFAULT_CONFIG:
            return "unknown search config key %r (known: %s)" % (k, ", ".join(sorted(DEFAULT_CONFIG)))
        want = DEFAULT_CONFIG[k]
        if k in CONFIG_CHOICES and v not in CONFIG_CHOICES[k]:
            return "search.%s must be one of %s" % (k, ", ".join(CONFIG_CHOICES[k]))
        if isinstance(want, bool) and not isinstance(v, bool) or \
                isinstance(want, (int, float)) and not isinstance(want, bool) and \
                (not is_number(v) or v < 0) or \
                isinstance(want, list) and not (isinstance(v, list) and all(isinstance(x, str) for x in v)) or \
                isinstance(want, str) and not isinstance(v, str):
            return "search.%s has the wrong type: %r (default %r)" % (k, v, want)
    return None


# Object types a search returns -> the collection holding their objects.
RESULT_TYPES = {
    "lead": "lead", "contact": "contact", "opportunity": "opportunity",
    "custom_object": "custom_object",
    "activity.call": "activity/call",
    "activity.custom_activity": "activity/custom",
    "activity.email": "activity/email",
    "activity.email_thread": "activity/emailthread",
    "activity.sms": "activity/sms",
    "activity.meeting": "activity/meeting",
    "activity.note": "activity/note",
    "activity.lead_status_change": "activity/status_change/lead",
    "activity.opportunity_status_change": "activity/status_change/opportunity",
    "activity.task_completed": "activity/task_completed",
}
ACTIVITY_RESULT_TYPES = [t for t in RESULT_TYPES if t.startswith("activity.")]

# Object types that live inside another object: type -> (owner, list key),
# and the fields they have.
PART_TYPES = {"contact_email": ("contact", "emails"), "contact_phone": ("contact", "phones"),
              "contact_url": ("contact", "urls"), "address": ("lead", "addresses")}
PART_FIELDS = {
    "contact_email": {"email": "text", "type": "text", "is_unsubscribed": "boolean"},
    "contact_phone": {"phone": "text", "phone_formatted": "text", "type": "text", "country": "text"},
    "contact_url": {"url": "text", "type": "text"},
    "address": {"label": "text", "address_1": "text", "address_2": "text", "city": "text",
                "state": "text", "zipcode": "text", "country": "text", "location": "text"},
}
OBJECT_TYPES = set(RESULT_TYPES) | set(PART_TYPES)


def _relations():
    """(this_object_type, related_object_type) -> how related objects are found:
    ("referrers", f) objects of the related type whose f is this object's id,
    ("ref", f) the object this object's f names, ("part", key) its key list."""
    rel = {}
    for t in RESULT_TYPES:
        if t != "lead":
            rel[("lead", t)] = ("referrers", "lead_id")
            rel[(t, "lead")] = ("ref", "lead_id")
    for t in ["opportunity"] + ACTIVITY_RESULT_TYPES:
        rel[(t, "contact")] = ("ref", "contact_id")
        rel[("contact", t)] = ("referrers", "contact_id")
    for part, (owner, key) in PART_TYPES.items():
        rel[(owner, part)] = ("part", key)
    return rel


RELATIONS = _relations()

NODE_TYPES = ("and", "or", "object_type", "field_condition", "has_related", "saved_search",
              "match_all", "text", "id")
CONDITION_TYPES = ("text", "term", "reference", "number_range", "moment_range", "exists",
                   "boolean", "current_user")
TEXT_MODES = ("full_words", "phrase", "beginning_of_words", "exact_value")
OFFSET_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
PERIODS = ("today", "yesterday", "tomorrow", "this_week", "last_week", "next_week",
           "this_month", "last_month", "next_month", "this_quarter", "last_quarter",
           "next_quarter", "this_year", "last_year", "next_year")
BODY_KEYS = ("query", "_fields", "_limit", "cursor", "sort", "results_limit", "include_counts")

# Fields holding ids of other objects: field -> reference_type values a
# `reference` condition on it accepts (per object type where they differ).
USER_REF = ("user_or_group", "user")
REFERENCE_FIELDS = {
    "status_id": {"lead": ("status.lead",), "opportunity": ("status.opportunity",)},
    "created_by": USER_REF, "updated_by": USER_REF, "user_id": USER_REF,
    "assigned_to": USER_REF, "lead_id": ("lead",), "contact_id": ("contact",),
}
# Custom field type -> field kind (and reference types for reference kinds).
CUSTOM_KINDS = {"text": "text", "url": "text", "hidden": "text", "number": "number",
                "date": "date", "datetime": "date", "choices": "text"}
CUSTOM_REFS = {"user": USER_REF, "contact": ("contact",), "custom_object": ("custom_object",)}
CATALOG_KINDS = {"text": "text", "bigint": "number", "numeric": "number", "boolean": "boolean",
                 "date": "date", "timestamptz": "date", "jsonb": "list"}
SORTABLE_KINDS = ("text", "number", "date")


def _count(key):
    return lambda o: len(o.get(key) or [])


def _location(o):
    return ", ".join(str(o[k]) for k in ("address_1", "address_2", "city", "state", "zipcode", "country")
                     if o.get(k)) or None


# Filterable fields computed from the object: (type, field) -> (kind, getter).
COMPUTED = {
    ("contact", "emails_count"): ("number", _count("emails")),
    ("contact", "phones_count"): ("number", _count("phones")),
    ("contact", "urls_count"): ("number", _count("urls")),
    ("lead", "addresses_count"): ("number", _count("addresses")),
    ("address", "location"): ("text", _location),
}

TOKEN_RE = re.compile(r"[^\W_]+")
LOCAL_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Invalid(Exception):
    """A validation failure: the body key it belongs to and the message."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key
        self.message = message


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def tokens(text):
    """Lower-cased word tokens: runs of letters and digits."""
    return TOKEN_RE.findall(text.casefold())


def strings_in(v):
    """The strings inside a field value (list elements, dict values)."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [s for x in v for s in strings_in(x)]
    if isinstance(v, dict):
        return [s for x in v.values() for s in strings_in(x)]
    return []


def scalars_in(v):
    """The scalar values of a field: the value, or a list's scalar elements."""
    if isinstance(v, list):
        return [x for x in v if not isinstance(x, (list, dict)) and x is not None]
    return [] if v is None or isinstance(v, dict) else [v]


def term_key(v):
    return ("n", float(v)) if is_number(v) else (type(v).__name__, v)


def text_matcher(mode, value):
    """A function str -> bool for a text condition (EMULATOR.md: case-insensitive,
    tokens are runs of letters and digits)."""
    if mode == "exact_value":
        want = value.casefold()
        return lambda s: s.casefold() == want
    want = tokens(value)
    if not want:
        return lambda s: False
    if mode == "full_words":
        wanted = set(want)
        return lambda s: wanted.issubset(tokens(s))
    if mode == "beginning_of_words":
        return lambda s: all(any(t.startswith(w) for t in tokens(s)) for w in want)
    n = len(want)

    def phrase(s):
        toks = tokens(s)
        return any(toks[i:i + n] == want for i in range(len(toks) - n + 1))
    return phrase


def object_strings(obj):
    """The text-like values of an object for the full-text `text` node: every
    string in it except ids, references, timestamps and URLs of the app."""
    out = []
    for k, v in obj.items():
        if k == "id" or k.endswith(("_id", "_ids", "_at")) or k.startswith("date_") \
                or k in ("created_by", "updated_by", "html_url", "_type", "organization_id"):
            continue
        out.extend(strings_in(v))
    return out


def to_micros(dt):
    return (dt - EPOCH) // timedelta(microseconds=1)


def from_micros(us):
    return EPOCH + timedelta(microseconds=us)


def add_months(d, months):
    """d shifted by whole months, the day clamped to the target month."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    day = min(d.day, calendar.monthrange(y, m + 1)[1])
    return d.replace(year=y, month=m + 1, day=day)


class Request:
    """Per-request facts the query is evaluated against."""

    def __init__(self, tz_micros, now_micros, user_id, cfg):
        self.tz = tz_micros
        self.now = now_micros
        self.user_id = user_id
        self.cfg = cfg

    def local_midnight(self, d):
        """Micros of 00:00 of calendar day d in the request's timezone."""
        return to_micros(datetime(d.year, d.month, d.day, tzinfo=UTC)) - self.tz

    def local_date(self, us):
        return from_micros(us + self.tz).date()


class FieldRef:
    """A compiled field reference: owner type (None: any, for custom fields),
    getter, kind, accepted reference types and a label for messages."""

    def __init__(self, owner, getter, kind, ref_types, label):
        self.owner = owner
        self.get = getter
        self.kind = kind
        self.ref_types = ref_types
        self.label = label


class Compiler:
    """Validates a query tree and turns it into a predicate (type, obj) -> bool.
    Caller holds the state lock (saved searches, custom field definitions and
    relation indexes are read while compiling)."""

    def __init__(self, search, req):
        self.s = search
        self.req = req
        cfg = req.cfg
        self.rejected_nodes = set(cfg.get("reject_node_types") or [])
        if cfg.get("reject_id_node"):
            self.rejected_nodes.add("id")
        self.rejected_conditions = set(cfg.get("reject_condition_types") or [])
        self.rejected_fields = set(cfg.get("reject_fields") or [])
        self.strict = bool(cfg.get("strict_fields", True))
        self.saved_stack = []

    @staticmethod
    def fail(path, message):
        raise Invalid("query", "%s: %s" % (path, message))

    def node(self, n, path="query"):
        """Predicate for one query node (any node may carry `negate`)."""
        if not isinstance(n, dict):
            self.fail(path, "expected an object")
        t = n.get("type")
        if not isinstance(t, str) or t not in NODE_TYPES or t in self.rejected_nodes:
            self.fail(path, "invalid query type %s" % json.dumps(t))
        negate = n.get("negate", False)
        if not isinstance(negate, bool):
            self.fail(path + ".negate", "must be true or false")
        pred = getattr(self, "node_" + t)(n, path)
        if negate:
            inner = pred
            return lambda ot, o: not inner(ot, o)
        return pred

    # node_<type>(n, path): the predicate of one node type (Invalid on bad input).
    def children(self, n, path):
        """Predicates of an and/or node's `queries`."""
        qs = n.get("queries")
        if not isinstance(qs, list):
            self.fail(path + ".queries", "must be a list of queries")
        return [self.node(q, "%s.queries[%d]" % (path, i)) for i, q in enumerate(qs)]

    def node_and(self, n, path):
        preds = self.children(n, path)
        if len(preds) == 1:
            return preds[0]

        def every(ot, o):
            for p in preds:
                if not p(ot, o):
                    return False
            return True
        return every

    def node_or(self, n, path):
        qs = n.get("queries")
        preds = self.children(n, path)
        if not preds:
            self.fail(path + ".queries", "an or query needs at least one query")
        ids = [q["value"] for q in qs if q.get("type") == "id" and not q.get("negate")]
        if len(ids) == len(qs):
            # The batched-ids shape: one set lookup instead of n comparisons.
            wanted = set(ids)
            return lambda ot, o: o.get("id") in wanted
        return lambda ot, o: any(p(ot, o) for p in preds)

    def object_type(self, value, path):
        """value, if it names a result or part object type."""
        if not isinstance(value, str) or value not in OBJECT_TYPES:
            self.fail(path, "unknown object type %s" % json.dumps(value))
        return value

    def node_object_type(self, n, path):
        t = self.object_type(n.get("object_type"), path + ".object_type")
        return lambda ot, o: ot == t

    def node_match_all(self, n, path):
        return lambda ot, o: True

    def node_id(self, n, path):
        v = n.get("value")
        if not isinstance(v, str) or not v:
            self.fail(path + ".value", "must be an object id")
        return lambda ot, o: o.get("id") == v

    def node_text(self, n, path):
        mode, value = self.text_args(n, path)
        matcher = text_matcher(mode, value)
        text_of = self.s.object_text
        if mode in ("full_words", "beginning_of_words"):
            # Across all fields of the object, as the app's search box does.
            return lambda ot, o: matcher(" ".join(text_of(ot, o)))
        return lambda ot, o: any(matcher(s) for s in text_of(ot, o))

    def text_args(self, n, path):
        mode, value = n.get("mode"), n.get("value")
        if mode not in TEXT_MODES:
            self.fail(path + ".mode", "%s is not one of %s" % (json.dumps(mode), ", ".join(TEXT_MODES)))
        if not isinstance(value, str) or value == "":
            self.fail(path + ".value", "must be a non-empty string")
        return mode, value

    def node_has_related(self, n, path):
        this = self.object_type(n.get("this_object_type"), path + ".this_object_type")
        rel = self.object_type(n.get("related_object_type"), path + ".related_object_type")
        how = RELATIONS.get((this, rel))
        if how is None:
            self.fail(path, "%s has no related objects of type %s" % (this, rel))
        if "related_query" not in n:
            self.fail(path + ".related_query", "is required")
        sub = self.node(n["related_query"], path + ".related_query")
        find = self.s.related_finder(rel, how)
        return lambda ot, o: ot == this and any(sub(rel, r) for r in find(o))

    def node_saved_search(self, n, path):
        sid = n.get("saved_search_id")
        saved = self.s.st.objs.get("saved_search", {}).get(sid) if isinstance(sid, str) else None
        if saved is None:
            self.fail(path + ".saved_search_id", "saved search %s does not exist" % json.dumps(sid))
        if sid in self.saved_stack:
            self.fail(path, "saved search %s refers to itself" % sid)
        s_query = saved.get("s_query")
        if isinstance(s_query, dict) and s_query:
            self.saved_stack.append(sid)
            try:
                return self.node(s_query, "%s(saved search %s)" % (path, sid))
            finally:
                self.saved_stack.pop()
        t = saved.get("type")
        return lambda ot, o: ot == t

    # -- fields and conditions ---------------------------------------------------
    def field(self, ref, path, ctx="filter"):
        """FieldRef for a `regular_field` / `custom_field` reference."""
        if not isinstance(ref, dict):
            self.fail(path, "expected a field reference")
        kind = ref.get("type")
        if kind == "regular_field":
            owner = self.object_type(ref.get("object_type"), path + ".object_type")
            name = ref.get("field_name")
            if not isinstance(name, str) or not name:
                self.fail(path + ".field_name", "must be a field name")
            info = self.s.field_info(owner, name)
            if info is None:
                if self.strict:
                    self.fail(path + ".field_name", "unknown field %s of %s" % (json.dumps(name), owner))
                info = (None, (lambda o, k=name: o.get(k)), ())
            fkind, getter, refs = info
            fr = FieldRef(owner, getter, fkind, refs, "%s.%s" % (owner, name))
        elif kind == "custom_field":
            cid = ref.get("custom_field_id")
            if not isinstance(cid, str) or not cid:
                self.fail(path + ".custom_field_id", "must be a custom field id")
            definition = self.s.custom_fields().get(cid)
            if definition is None and self.strict:
                self.fail(path + ".custom_field_id", "custom field %s does not exist" % cid)
            fkind, refs = self.s.custom_kind(definition)
            key = "custom." + cid

            def getter(o, key=key, cid=cid):
                v = o.get(key)
                if v is None and isinstance(o.get("custom"), dict):
                    v = o["custom"].get(cid)
                return v
            fr = FieldRef(None, getter, fkind, refs, key)
        else:
            self.fail(path + ".type", "%s is not regular_field or custom_field" % json.dumps(kind))
        if ctx == "filter" and fr.label in self.rejected_fields:
            self.fail(path, "filtering on %s is not supported" % fr.label)
        return fr

    def node_field_condition(self, n, path):
        fr = self.field(n.get("field"), path + ".field")
        test = self.condition(n.get("condition"), path + ".condition", fr)
        owner, get = fr.owner, fr.get
        if owner is None:
            return lambda ot, o: test(get(o))
        return lambda ot, o: ot == owner and test(get(o))

    def condition(self, c, path, fr):
        """A test value -> bool for a condition on field fr."""
        if not isinstance(c, dict):
            self.fail(path, "expected a condition")
        t = c.get("type")
        if not isinstance(t, str) or t not in CONDITION_TYPES or t in self.rejected_conditions:
            self.fail(path + ".type", "invalid condition type %s" % json.dumps(t))
        return getattr(self, "cond_" + t)(c, path, fr)

    def cond_text(self, c, path, fr):
        matcher = text_matcher(*self.text_args(c, path))
        return lambda v: any(matcher(s) for s in strings_in(v))

    def cond_term(self, c, path, fr):
        values = c.get("values")
        if not isinstance(values, list) or not values or \
                not all(isinstance(x, (str, int, float, bool)) for x in values):
            self.fail(path + ".values", "must be a non-empty list of values")
        wanted = {term_key(x) for x in values}
        return lambda v: any(term_key(x) in wanted for x in scalars_in(v))

    def cond_reference(self, c, path, fr):
        rtype, ids = c.get("reference_type"), c.get("object_ids")
        if not fr.ref_types:
            self.fail(path, "%s does not hold references" % fr.label)
        if rtype not in fr.ref_types:
            self.fail(path + ".reference_type", "%s is not valid for %s (use %s)"
                      % (json.dumps(rtype), fr.label, " or ".join(fr.ref_types)))
        if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
            self.fail(path + ".object_ids", "must be a non-empty list of ids")
        wanted = {self.req.user_id if x == "CURRENT_USER" else x for x in ids}
        return lambda v: any(x in wanted for x in scalars_in(v))

    def cond_number_range(self, c, path, fr):
        bounds = []
        for op in ("gt", "gte", "lt", "lte"):
            if c.get(op) is None:
                continue
            if not is_number(c[op]):
                self.fail(path + "." + op, "must be a number")
            bounds.append((op, c[op]))

        def test(v):
            for x in scalars_in(v):
                if is_number(x) and all((x > b) if op == "gt" else (x >= b) if op == "gte"
                                        else (x < b) if op == "lt" else (x <= b) for op, b in bounds):
                    return True
            return False
        return test

    def cond_moment_range(self, c, path, fr):
        lo = self.moment(c["on_or_after"], path + ".on_or_after") if c.get("on_or_after") is not None else None
        hi = self.moment(c["before"], path + ".before") if c.get("before") is not None else None
        instant = self.s.instant
        req = self.req

        def inside(x):
            us = instant(x, req)
            return us is not None and (lo is None or us >= lo) and (hi is None or us < hi)

        def test(v):
            if isinstance(v, str):
                return inside(v)
            return any(inside(x) for x in scalars_in(v))
        return test

    def cond_exists(self, c, path, fr):
        return lambda v: v not in (None, "", [], {})

    def cond_boolean(self, c, path, fr):
        want = c.get("value")
        if not isinstance(want, bool):
            self.fail(path + ".value", "must be true or false")
        return lambda v: any(x is want for x in scalars_in(v))

    def cond_current_user(self, c, path, fr):
        me = self.req.user_id
        return lambda v: me in scalars_in(v)

    # -- moments -------------------------------------------------------------------
    def moment(self, m, path):
        """Micros since the epoch (UTC) of a moment."""
        if not isinstance(m, dict):
            self.fail(path, "expected a moment")
        t = m.get("type")
        req = self.req
        if t == "fixed_utc":
            us = self.s.instant(m.get("value"), None)
            if us is None:
                self.fail(path + ".value", "must be an ISO 8601 date-time")
            return us
        if t == "fixed_local_date":
            v = m.get("value")
            if not isinstance(v, str) or not LOCAL_DATE_RE.match(v):
                self.fail(path + ".value", "must be a date YYYY-MM-DD")
            try:
                d = date.fromisoformat(v)
            except ValueError:
                self.fail(path + ".value", "must be a date YYYY-MM-DD")
            return self.day_end(req.local_midnight(d), self.which(m, "which", path))
        if t == "now":
            return req.now
        if t == "offset":
            return self.offset_moment(m, path)
        if t == "start_end_of_predefined_relative_period":
            rng = m.get("range")
            if rng not in PERIODS:
                self.fail(path + ".range", "%s is not one of %s" % (json.dumps(rng), ", ".join(PERIODS)))
            start, end = self.period(rng, req.local_date(req.now))
            which = self.which(m, "which", path)
            return req.local_midnight(start if which == "start" else end)
        self.fail(path + ".type", "invalid moment type %s" % json.dumps(t))

    def which(self, m, key, path, required=True):
        w = m.get(key)
        if w is None and not required:
            return None
        if w not in ("start", "end"):
            self.fail(path + "." + key, "must be start or end")
        return w

    @staticmethod
    def day_end(midnight, which):
        """The start of the day, or its end (the next midnight: an exclusive bound)."""
        return midnight if which == "start" else midnight + 86400 * MICROS

    def offset_moment(self, m, path):
        direction = m.get("direction")
        if direction not in ("past", "future"):
            self.fail(path + ".direction", "must be past or future")
        base = self.moment(m.get("moment"), path + ".moment")
        off = m.get("offset")
        if not isinstance(off, dict) or not set(off) <= set(OFFSET_UNITS) or \
                not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in off.values()):
            self.fail(path + ".offset", "must map %s to non-negative integers" % ", ".join(OFFSET_UNITS))
        sign = -1 if direction == "past" else 1
        req = self.req
        local = from_micros(base + req.tz)
        local = add_months(local, sign * (12 * off.get("years", 0) + off.get("months", 0)))
        local += sign * timedelta(weeks=off.get("weeks", 0), days=off.get("days", 0),
                                  hours=off.get("hours", 0), minutes=off.get("minutes", 0),
                                  seconds=off.get("seconds", 0))
        us = to_micros(local) - req.tz
        snap = self.which(m, "which_day_end", path, required=False)
        if snap is None:
            return us
        return self.day_end(req.local_midnight(req.local_date(us)), snap)

    @staticmethod
    def period(rng, today):
        """(first day, first day after) of a named period around today;
        weeks start on Monday."""
        if rng in ("today", "yesterday", "tomorrow"):
            d = today + timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[rng])
            return d, d + timedelta(days=1)
        which, unit = rng.split("_")
        shift = {"this": 0, "last": -1, "next": 1}[which]
        if unit == "week":
            start = today - timedelta(days=today.weekday()) + timedelta(weeks=shift)
            return start, start + timedelta(weeks=1)
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        first = today.replace(day=1)
        if unit == "quarter":
            first = first.replace(month=(today.month - 1) // 3 * 3 + 1)
        elif unit == "year":
            first = first.replace(month=1)
        start = add_months(first, shift * months)
        return start, add_months(start, months)


def narrow(n):
    """(object types or None, ids or None) a validated query can match, read
    from its top-level and/or/object_type/id nodes; None means unrestricted."""
    if n.get("negate"):
        return None, None
    t = n["type"]
    if t == "object_type":
        return {n["object_type"]} & set(RESULT_TYPES), None
    if t == "id":
        return None, {n["value"]}
    if t in ("and", "or"):
        parts = [narrow(q) for q in n["queries"]]
        out = []
        for k in (0, 1):
            sets = [p[k] for p in parts if p[k] is not None]
            if t == "and":
                out.append(set.intersection(*sets) if sets else None)
            else:
                out.append(set.union(*sets) if sets and len(sets) == len(parts) else None)
        return tuple(out)
    return None, None


class Search:
    """The endpoint: handle() answers one request.  Holds the cursor walks
    and the caches (sorted candidate lists, indexes), all dropped on reset."""

    def __init__(self, state, api, emu):
        self.st = state
        self.api = api
        self.emu = emu
        self.secret = os.urandom(16)
        self.walks = OrderedDict()
        self.walk_ids = itertools.count(1)
        self.generation = None
        self.caches = {}

    # -- caches (caller holds the state lock) ------------------------------------
    def cached(self, key, deps, build):
        """build() memoised until a collection in deps changes (or a reset)."""
        ver = tuple(self.st.version.get(d, 0) for d in deps)
        hit = self.caches.get(key)
        if hit is not None and hit[0] == ver:
            return hit[1]
        value = build()
        if len(self.caches) > 64:
            self.caches.clear()
        self.caches[key] = (ver, value)
        return value

    def custom_fields(self):
        """{custom field id: definition} over every custom_field/* collection."""
        names = tuple(n for n in self.st.objs if n.startswith("custom_field/"))
        return self.cached(("custom_fields",), names, lambda: {
            cid: d for n in names for cid, d in self.st.objs[n].items()})

    @staticmethod
    def custom_kind(definition):
        if definition is None:
            return None, ()
        t = definition.get("type")
        if t in CUSTOM_REFS:
            return "reference", CUSTOM_REFS[t]
        if definition.get("accepts_multiple_values"):
            return "list", ()
        return CUSTOM_KINDS.get(t), ()

    def known_fields(self, otype):
        """{field name: kind} of a result type: the catalog's fields plus the
        top-level keys of the stored objects (kind read from the first value)."""
        coll = RESULT_TYPES[otype]

        def build():
            out = {}
            c = self.st.colls.get(coll)
            for name, ctype in (c.fields if c else []):
                out[name] = CATALOG_KINDS.get(ctype, "text")
            for o in self.st.objs.get(coll, {}).values():
                for k, v in o.items():
                    if k == "custom" or k.startswith("custom.") or out.get(k) is not None:
                        continue
                    out[k] = None if v is None else "boolean" if isinstance(v, bool) else \
                        "number" if is_number(v) else "list" if isinstance(v, (list, dict)) else \
                        "date" if self.emu.temporal(v) else "text"
            for (t, name), (kind, _) in COMPUTED.items():
                if t == otype:
                    out[name] = kind
            return out
        return self.cached(("fields", otype), (coll,), build)

    def field_info(self, otype, name):
        """(kind, getter, reference types) of a regular field, None if unknown."""
        if otype in PART_FIELDS:
            kind = PART_FIELDS[otype].get(name)
        else:
            kind = self.known_fields(otype).get(name, False)
            if kind is False:
                return None
        if otype in PART_FIELDS and kind is None:
            return None
        refs = REFERENCE_FIELDS.get(name, ())
        if isinstance(refs, dict):
            refs = refs.get(otype, ())
        if name == "id":
            kind = "id"
        elif refs or name.endswith("_id"):
            kind = "reference"
        computed = COMPUTED.get((otype, name))
        getter = computed[1] if computed else (lambda o, k=name: o.get(k))
        return kind, getter, refs

    def referrers(self, coll, field):
        """{value of field: [objects of coll]} (e.g. contacts by lead_id)."""
        def build():
            idx = {}
            for o in self.st.objs.get(coll, {}).values():
                idx.setdefault(o.get(field), []).append(o)
            return idx
        return self.cached(("referrers", coll, field), (coll,), build)

    def related_finder(self, rel, how):
        """obj -> its related objects of type rel, per a RELATIONS entry."""
        kind, arg = how
        if kind == "part":
            return lambda o: [x for x in (o.get(arg) or []) if isinstance(x, dict)]
        if kind == "ref":
            objs = self.st.objs.get(RESULT_TYPES[rel], {})
            return lambda o: [objs[o[arg]]] if isinstance(o.get(arg), str) and o[arg] in objs else []
        idx = self.referrers(RESULT_TYPES[rel], arg)
        return lambda o: idx.get(o.get("id"), ())

    def object_text(self, otype, obj):
        """Strings the full-text `text` node searches: the object's text values,
        and for a lead also its contacts' (names, titles, emails, phones)."""
        out = object_strings(obj)
        if otype == "lead":
            for c in self.referrers("contact", "lead_id").get(obj.get("id"), ()):
                out.extend(object_strings(c))
        return out

    def instant(self, v, req):
        """Micros of a date-time value; a plain date is the start of that day
        in the request's timezone (UTC when req is None)."""
        t = self.emu.temporal(v) if isinstance(v, str) else None
        if t is None:
            return None
        if t[0] == "date" and req is not None:
            return req.local_midnight(t[2])
        return t[1]

    # -- the request -----------------------------------------------------------------
    def config(self):
        cfg = dict(DEFAULT_CONFIG)
        got = self.st.config.get("search")
        if isinstance(got, dict):
            cfg.update(got)
        return cfg

    def handle(self, body, headers, user_id, entry):
        """(status, response body) for a POST /data/search/ whose body is a
        JSON object; raises emu.ApiError for 400s."""
        cfg = self.config()
        now = time.time()
        ignored = [k for k in body if k not in BODY_KEYS]
        if ignored:
            entry["ignored_params"] = ignored
        tz = headers.get("x-tz-offset")
        try:
            tz_micros = int(round(float(tz) * 3600)) * MICROS if tz not in (None, "") else 0
            if abs(tz_micros) > 24 * 3600 * MICROS:
                raise ValueError
        except ValueError:
            raise self.emu.ApiError(400, {"errors": ["Invalid x-tz-offset header: %r." % tz],
                                          "field-errors": {}})
        req = Request(tz_micros, int(now * MICROS), user_id, cfg)
        with self.st.lock:
            if self.generation != self.st.generation:
                self.generation = self.st.generation
                self.walks.clear()
                self.caches.clear()
            spec = self.validate(body, req)
            return 200, self.answer(spec, req, now, entry)

    def validate(self, body, req):
        """The validated request as a dict, or ApiError 400 with field-errors."""
        cfg = req.cfg
        errors = {}
        spec = {}

        def check(key, fn):
            try:
                spec[key] = fn()
            except Invalid as e:
                errors.setdefault(e.key, e.message)

        compiler = Compiler(self, req)

        def query():
            if body.get("query") is None:
                raise Invalid("query", "This field is required.")
            return compiler.node(body["query"]), narrow(body["query"])
        check("query", query)
        check("_limit", lambda: self.int_key(body, "_limit", 1, int(cfg["max_limit"]),
                                             int(cfg["default_limit"])))
        check("results_limit", lambda: self.int_key(body, "results_limit", 0, None, None))
        check("include_counts", lambda: self.bool_key(body, "include_counts"))
        check("cursor", lambda: self.cursor_key(body))
        check("_fields", lambda: self.fields_key(body, int(cfg["max_fields"])))
        types = spec["query"][1][0] if "query" in spec else None
        check("sort", lambda: self.sort_key(body, compiler, types))
        if errors:
            raise self.emu.field_errors(errors)
        spec["hash"] = hashlib.sha256(json.dumps(
            [body.get("query"), body.get("sort"), body.get("results_limit")],
            sort_keys=True).encode()).hexdigest()[:16]
        return spec

    @staticmethod
    def int_key(body, key, lo, hi, default):
        v = body.get(key)
        if v is None:
            return default
        if not isinstance(v, int) or isinstance(v, bool):
            raise Invalid(key, "Input should be a valid integer")
        if v < lo:
            raise Invalid(key, "Input should be greater than or equal to %d" % lo)
        if hi is not None and v > hi:
            raise Invalid(key, "Input should be less than or equal to %d" % hi)
        return v

    @staticmethod
    def bool_key(body, key):
        v = body.get(key, False)
        if v is None:
            return False
        if not isinstance(v, bool):
            raise Invalid(key, "Input should be a valid boolean")
        return v

    @staticmethod
    def cursor_key(body):
        v = body.get("cursor")
        if v is not None and not isinstance(v, str):
            raise Invalid("cursor", "Invalid cursor")
        return v

    @staticmethod
    def fields_key(body, max_fields):
        v = body.get("_fields")
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise Invalid("_fields", "Must be an object mapping object types to lists of field names.")
        for t, names in v.items():
            if t not in RESULT_TYPES:
                raise Invalid("_fields", "Unknown object type %s." % json.dumps(t))
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                raise Invalid("_fields", "Must be a list of field names.")
            if len(names) > max_fields:
                raise Invalid("_fields", "List is too long.")
        return v

    def sort_key(self, body, compiler, types):
        """[(FieldRef, descending)], default date_created ascending; 400 for a
        field that cannot be sorted on (ids, references, lists, other objects)."""
        v = body.get("sort")
        if v is None or v == []:
            return [(None, False)]
        if not isinstance(v, list):
            raise Invalid("sort", "Must be a list of {direction, field} objects.")
        out = []
        for i, item in enumerate(v):
            path = "sort[%d]" % i
            if not isinstance(item, dict) or item.get("direction") not in ("asc", "desc"):
                raise Invalid("sort", "%s.direction: must be asc or desc" % path)
            try:
                fr = compiler.field(item.get("field"), path + ".field", ctx="sort")
            except Invalid as e:
                raise Invalid("sort", e.message)
            if fr.kind not in SORTABLE_KINDS:
                raise Invalid("sort", "%s: cannot sort on %s" % (path, fr.label))
            if fr.owner is not None and (fr.owner not in RESULT_TYPES or
                                         (types is not None and types != {fr.owner})):
                raise Invalid("sort", "%s: cannot sort on %s, a field of another object" % (path, fr.label))
            out.append((fr, item["direction"] == "desc"))
        return out

    # -- evaluation and paging ---------------------------------------------------
    def sort_function(self, sort):
        comp = self.emu.sort_component

        def value(fr, ot, o):
            if fr is None:
                return o.get("date_created")
            if fr.owner is not None and fr.owner != ot:
                return None
            return fr.get(o)

        def key(item):
            ot, o = item
            return tuple(comp(value(fr, ot, o), desc) for fr, desc in sort) + (comp(o.get("id"), False),)
        return key

    def candidates(self, types, ids, sort, sort_sig):
        """(type, object) pairs the query can match, in sort order."""
        types = sorted(types if types is not None else RESULT_TYPES)
        key = self.sort_function(sort)
        if ids is not None:
            out = []
            for t in types:
                objs = self.st.objs.get(RESULT_TYPES[t], {})
                out.extend((t, objs[i]) for i in ids if i in objs)
            out.sort(key=key)
            return out
        colls = [RESULT_TYPES[t] for t in types]

        def build():
            out = [(t, o) for t in types for o in self.st.objs.get(RESULT_TYPES[t], {}).values()]
            out.sort(key=key)
            return out
        return self.cached(("sorted", tuple(types), sort_sig), colls, build)

    def matches(self, spec):
        pred, (types, ids) = spec["query"]
        sort_sig = json.dumps([[fr.label if fr else None, d] for fr, d in spec["sort"]])
        return [x for x in self.candidates(types, ids, spec["sort"], sort_sig) if pred(*x)]

    def cursor_error(self, message):
        return self.emu.field_errors({"cursor": message})

    def token(self, walk_id, offset, issued, qhash):
        payload = "%d.%d.%d.%d.%s" % (self.generation, walk_id, offset, int(issued * 1000), qhash)
        sig = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(("%s.%s" % (payload, sig)).encode()).decode().rstrip("=")

    def read_token(self, token, spec, cfg, now):
        """(walk id, offset) of a cursor; 400 Invalid/Expired cursor or the
        walk-cap error otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            payload, sig = raw.rsplit(".", 1)
            gen, walk_id, offset, issued_ms, qhash = payload.split(".")
            gen, walk_id, offset, issued_ms = int(gen), int(walk_id), int(offset), int(issued_ms)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise self.cursor_error("Invalid cursor")
        good = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        if not hmac.compare_digest(sig, good) or qhash != spec["hash"]:
            raise self.cursor_error("Invalid cursor")
        if gen != self.generation or now - issued_ms / 1000.0 > float(cfg["cursor_ttl"]):
            raise self.cursor_error("Expired cursor")
        if offset >= int(cfg["walk_cap"]) and cfg["cap_behaviour"] != "null_cursor":
            raise self.cursor_error(cfg["cap_message"])
        if walk_id and walk_id not in self.walks:
            raise self.cursor_error("Expired cursor")
        return walk_id, offset

    def answer(self, spec, req, now, entry):
        """The 200 body: one page, its cursor and the counts."""
        cfg = req.cfg
        cap = int(cfg["walk_cap"])
        null_at_cap = cfg["cap_behaviour"] == "null_cursor"
        snapshot = cfg["cursor_mode"] != "rerun"
        walk_id, offset = 0, 0
        if spec["cursor"] is not None:
            walk_id, offset = self.read_token(spec["cursor"], spec, cfg, now)
        if walk_id:
            walk = self.walks[walk_id]
            walk["used"] = now
            self.walks.move_to_end(walk_id)
            items, total, end = walk["items"], walk["total"], walk["end"]
        else:
            items = self.matches(spec)
            total = len(items)
            end = total if spec["results_limit"] is None else min(total, spec["results_limit"])
        size = spec["_limit"]
        if int(cfg["max_page_rows"] or 0) > 0:
            size = min(size, int(cfg["max_page_rows"]))
        # A page never reaches past the walk cap.
        stop = max(offset, min(offset + size, end, cap))
        more = stop < end and not (stop >= cap and null_at_cap)
        cursor = None
        if more:
            if snapshot and not walk_id:
                walk_id = next(self.walk_ids)
                self.walks[walk_id] = {"items": items, "total": total, "end": end, "used": now}
                self.evict(cfg, now)
            cursor = self.token(walk_id if snapshot else 0, stop, now, spec["hash"])
        page = items[offset:stop]
        out = {"data": [self.item(ot, o, spec["_fields"].get(ot), cfg) for ot, o in page],
               "cursor": cursor}
        if spec["include_counts"]:
            out["count"] = {"limited": end, "total": total}
        entry["search"] = {"offset": offset, "returned": len(page), "total": total,
                           "cursor_in": spec["cursor"] is not None, "cursor_out": cursor is not None,
                           "walk": walk_id or None}
        return out

    def evict(self, cfg, now):
        """Drop snapshots no live cursor can reach (unused for longer than the
        TTL), then the least recently used beyond max_walks."""
        ttl = float(cfg["cursor_ttl"])
        while self.walks:
            oldest = next(iter(self.walks.values()))
            if now - oldest["used"] <= ttl and len(self.walks) <= max(1, int(cfg["max_walks"])):
                break
            self.walks.popitem(last=False)

    def item(self, otype, obj, fields, cfg):
        """{"__object_type", "id"} plus the requested fields of one object."""
        out = {"__object_type": otype, "id": obj.get("id")}
        if not fields:
            return out
        nested = cfg["custom_selector"] == "nested" and "custom" in fields
        if nested:
            fields = [f for f in fields if f != "custom"]
        out.update(self.api.present(RESULT_TYPES[otype], obj, fields))
        if nested:
            out["custom"] = {k[len("custom."):]: v for k, v in obj.items() if k.startswith("custom.")}
        return out
