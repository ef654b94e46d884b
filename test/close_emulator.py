#!/usr/bin/env python3
"""Close CRM REST API emulator for the closecrm_fdw tests.

Python 3.11 standard library only.  Serves /api/v1/... the way Close does
(see test/EMULATOR.md and shared/close-api/NOTES.md) and a control API under
/_emulator/ for the tests (reset, request log, fault injection, config).

The routes come from test/catalog.json (generated from Close's openapi.json
by tools/gen_catalog.py): one entry per collection with its operations,
paging style, filters and fields.  Behaviour that the catalog cannot express
lives in small data tables below (id prefixes, model names, required create
fields, ...) and the seed data.

    python3 test/close_emulator.py --port 0 --port-file /tmp/x.port \\
        [--host 127.0.0.1] [--keys k1,k2] [--tls-cert F --tls-key F] \\
        [--seed N] [--catalog FILE] [--verbose]
"""

import argparse
import base64
import binascii
import functools
import hashlib
import html
import itertools
import json
import math
import os
import random
import re
import select
import signal
import socket
import ssl
import string
import sys
import threading
import time
import traceback
import unicodedata
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote

import emulator_generate
import emulator_search

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CATALOG = os.path.join(HERE, "catalog.json")
API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_emulator"
DEFAULT_KEYS = ("test_key_alpha", "test_key_beta")

# ---------------------------------------------------------------------------
# Texts Close (or its Werkzeug/Flask stack) returns
# ---------------------------------------------------------------------------
UNAUTHORIZED_TEXT = (
    "The server could not verify that you are authorized to access the URL "
    "requested.  You either supplied the wrong credentials (e.g. a bad "
    "password), or your browser doesn't understand how to supply the "
    "credentials required.")
NOT_FOUND_TEXT = (
    "The requested URL was not found on the server. If you entered the URL "
    "manually please check your spelling and try again.")
EMPTY_QUERY_TEXT = "Empty query: %s matching query does not exist."
METHOD_NOT_ALLOWED_TEXT = "Method not allowed"
UNSUPPORTED_MEDIA_TEXT = ("The server does not support the media type "
                          "transmitted in the request.")
MAX_SKIP_TEXT = ("The skip you set is larger than the maximum skip for this "
                 "resource (max_skip = %d). Please refine your search query.")
MAX_LIMIT_TEXT = ("The limit you set is larger than the maximum limit for this "
                  "resource (max_limit = %d). Please refine your search query.")
REQUIRED_TEXT = "This field is required."
RATE_LIMIT_TEXT = "API call rate limit exceeded."

# ---------------------------------------------------------------------------
# Per-collection facts the catalog does not carry (data, not code)
# ---------------------------------------------------------------------------
ID_PREFIX = {
    "activity": "acti_", "blocked_phone_number": "blkph_",
    "bulk_action/delete": "bulkdelete_", "bulk_action/edit": "bulkedit_",
    "bulk_action/email": "bulkemail_",
    "bulk_action/sequence_subscription": "bulkseqsub_",
    "comment": "comm_", "comment_thread": "comthr_",
    "connected_account": "emailacct_", "contact": "cont_",
    "custom_activity": "actitype_", "custom_field": "cf_",
    "custom_object": "custobj_", "custom_object_type": "cotype_",
    "dialer": "dial_", "email_template": "tmpl_", "event": "ev_",
    "export": "expo_", "group": "group_", "integration_link": "ilink_",
    "lead": "lead_", "opportunity": "oppo_", "organization": "orga_",
    "outcome": "outcome_", "phone_number": "phon_", "pipeline": "pipe_",
    "playbook": "convtyp_", "role": "role_", "saved_search": "save_",
    "scheduling_link": "schlnk_", "send_as": "sdas_", "sequence": "seq_",
    "sequence_subscription": "sub_", "shared_scheduling_link": "schlnk_",
    "sms_template": "smstmpl_", "status": "stat_", "task": "task_",
    "user": "user_", "webhook": "whsub_", "form": "form_",
}

# Model names used in the 404 text "Empty query: <Model> matching query ...".
MODEL_NAMES = {
    "lead": "Lead", "contact": "Contact", "opportunity": "Opportunity",
    "task": "Task", "user": "User", "organization": "Organization",
    "custom_field/lead": "LeadCustomField",
    "custom_field/contact": "ContactCustomField",
    "custom_field/opportunity": "OpportunityCustomField",
    "custom_field/activity": "ActivityCustomField",
    "custom_field/custom_object_type": "CustomObjectCustomField",
    "custom_field/shared": "SharedCustomField",
    "status/lead": "LeadStatus", "status/opportunity": "OpportunityStatus",
    "webhook": "WebhookSubscription", "saved_search": "SavedSearch",
    "email_template": "EmailTemplate", "sms_template": "SMSTemplate",
    "custom_activity": "CustomActivityType",
    "custom_object_type": "CustomObjectType", "custom_object": "CustomObject",
    "event": "Event", "sequence_subscription": "SequenceSubscription",
}

# _type of each typed activity collection.
ACTIVITY_TYPES = {
    "activity/call": "Call", "activity/created": "Created",
    "activity/custom": "CustomActivity", "activity/email": "Email",
    "activity/emailthread": "EmailThread",
    "activity/form_submission": "FormSubmission",
    "activity/lead_merge": "LeadMerge", "activity/meeting": "Meeting",
    "activity/note": "Note", "activity/sms": "SMS",
    "activity/status_change/lead": "LeadStatusChange",
    "activity/status_change/opportunity": "OpportunityStatusChange",
    "activity/task_completed": "TaskCompleted",
    "activity/whatsapp_message": "WhatsAppMessage",
}

# Newer collections return timestamps without a UTC offset (NOTES.md).
NAIVE_TIMESTAMPS = {"webhook", "sequence", "pipeline", "custom_activity",
                    "custom_object_type", "event", "email_template",
                    "sms_template"}

# Creation/modification timestamp field names (default date_created/_updated).
TIMESTAMP_FIELDS = {"playbook": ("created_at", "updated_at"),
                    "comment": ("created_at", "updated_at"),
                    "comment_thread": ("created_at", "updated_at")}

# Smart Fields: computed fields Close returns only when _fields names them
# (or _fields=_all), never by default (developer.close.com, Leads).
SMART_FIELDS = {"lead": {"source", "localtime", "primary_email", "primary_phone",
                         "primary_address_summary", "contacts_summary",
                         "recent_calls", "summaries"}}

# Lists that add total_results (opportunity also value aggregates).
TOTAL_RESULTS = {"lead", "opportunity"}

# Objects not keyed by "id": catalog id_param -> object field.
KEY_FIELDS = {"id": "id", "email_address": "email"}

# Default list order (field, descending); otherwise newest first then id.
DEFAULT_ORDER = {
    "event": [("date_updated", True), ("id", True)],
    "playbook": [("position", False), ("id", False)],
}
CREATED_FIELDS = ("date_created", "created_at", "date_updated")

# Collections a lead deletion does not cascade into.
CASCADE_SKIP = {"event"}

# Query-parameter aliases: param base name -> (object field, forced op).
PARAM_ALIASES = {"ids": ("id", "in"), "object_ids": ("object_id", "in")}
# Collection-specific aliases: (collection, param base) -> object field.
FIELD_ALIASES = {("opportunity", "status"): "status_label"}
# Filters Close evaluates with a search engine we do not emulate: accepted,
# not applied (recorded under "unapplied_params" in the request log).
UNAPPLIED_FILTERS = {"query", "lead_query", "lead_saved_search_id"}
# Filters applied by default when the request names none of the keys.
DEFAULT_LIST_FILTERS = {"task": {"keys": ("_type", "_type__in"),
                                 "param": "_type", "value": "lead"}}
# Filter combinations a collection accepts (others: 400); "free" params
# may be added to any combination.
FILTER_COMBOS = {
    "event": {
        "free": ("date_updated",),
        "allowed": [(), ("object_type", "object_id"), ("object_type", "action"),
                    ("object_id", "action"), ("lead_id", "object_type"),
                    ("lead_id", "object_type", "action"),
                    ("lead_id", "user_id", "object_type"),
                    ("lead_id", "user_id", "object_type", "action"),
                    ("lead_id", "user_id"), ("user_id", "object_id"),
                    ("user_id", "object_id", "action"),
                    ("user_id", "object_type"),
                    ("user_id", "object_type", "action"), ("lead_id",),
                    ("user_id",), ("request_id",)],
    },
}

# Fields a create (POST) must carry; "x/*" applies to every x/... collection.
CREATE_REQUIRED = {
    "contact": ["lead_id"], "opportunity": ["lead_id"],
    "task": ["lead_id", "text"], "activity/*": ["lead_id"],
    "activity/custom": ["lead_id", "custom_activity_type_id"],
    "custom_field/*": ["name", "type"], "comment": ["object_id", "body"],
    "webhook": ["url", "events"], "sms_template": ["name"],
    "unsubscribe/email": ["email"],
    "custom_object": ["lead_id", "custom_object_type_id"],
}
# Collections whose lead_id must name an existing lead.
LEAD_CHILDREN = {"contact", "opportunity", "task", "activity/*",
                 "custom_object", "sequence_subscription"}
CUSTOM_FIELD_TYPES = {"text", "number", "date", "datetime", "choices", "user",
                      "contact", "custom_object", "hidden", "url"}
TASK_CREATE_TYPES = {"lead", "outgoing_call"}
# Fields a PUT never changes (server-managed).
READ_ONLY_ON_UPDATE = {"date_created", "date_updated", "organization_id",
                       "created_at", "updated_at"}

# Objects embedded in other objects when read: lead -> its children.
EMBEDS = {
    "lead": [("contacts", "contact", "objects"),
             ("contact_ids", "contact", "ids"),
             ("opportunities", "opportunity", "objects"),
             ("tasks", "task", "incomplete")],
}

# Query parameters that are paging/projection machinery, not filters.
MACHINERY = {"_limit", "_skip", "_fields", "_cursor", "_order_by"}

DEFAULT_CONFIG = {
    "latency_ms": 0,
    "rate_limit": {"limit": 100000, "window": 1.0, "separator": ", ",
                   "integer_reset": False, "groups": {}},
    "max_skip": {},
    "max_limit": {},
    "default_max_skip": 250000,
    "default_max_limit": 200,
    "ascii_json": False,
    "max_url_length": 0,
    "log_limit": 100000,
    "search": emulator_search.DEFAULT_CONFIG,
}


def pattern_lookup(table, name, default=None):
    """Value for name in a table keyed by names or 'prefix/*' patterns."""
    if name in table:
        return table[name]
    parts = name.split("/")
    for n in range(len(parts) - 1, 0, -1):
        key = "/".join(parts[:n]) + "/*"
        if key in table:
            return table[key]
    return default


def pattern_member(names, name):
    return pattern_lookup({k: True for k in names}, name, False)


def id_prefix(name):
    return pattern_lookup(ID_PREFIX, name) or ID_PREFIX.get(
        name.split("/")[0], re.sub(r"[^a-z]", "", name.split("/")[-1])[:6] + "_")


def model_name(name):
    if name in MODEL_NAMES:
        return MODEL_NAMES[name]
    if name in ACTIVITY_TYPES:
        return ACTIVITY_TYPES[name]
    return "".join(w.capitalize() for part in reversed(name.split("/"))
                   for w in part.split("_"))


# ---------------------------------------------------------------------------
# Time and value helpers
# ---------------------------------------------------------------------------
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def fmt_ts(dt, naive=False):
    s = dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return s if naive else s + "+00:00"


def micros(dt):
    return (dt - EPOCH) // timedelta(microseconds=1)


@functools.lru_cache(maxsize=200000)
def temporal(s):
    """('date', micros-at-UTC-midnight, date) / ('datetime', micros, dt)
    for an ISO string, else None."""
    if not isinstance(s, str) or len(s) < 10:
        return None
    try:
        if DATE_RE.match(s):
            d = date.fromisoformat(s)
            return ("date", micros(datetime(d.year, d.month, d.day, tzinfo=UTC)), d)
        if DATETIME_RE.match(s):
            dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return ("datetime", micros(dt), dt.astimezone(UTC))
    except ValueError:
        return None
    return None


TRUE_WORDS = {"true", "1", "yes", "on", "t"}
FALSE_WORDS = {"false", "0", "no", "off", "f"}


class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or []


def bad_request(text):
    return ApiError(400, {"error": text})


def field_errors(errors, general=None):
    return ApiError(400, {"errors": general or [], "field-errors": errors})


def parse_bool(raw, name):
    v = raw.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise bad_request("Invalid value for %s: %r (expected true or false)." % (name, raw))


def sort_component(v, desc):
    """Sort key part: None last in both directions, temporal values as
    instants, numbers numerically, then strings."""
    if v is None:
        return (1,)
    if isinstance(v, bool):
        r, x = 0, int(v)
    elif isinstance(v, (int, float)):
        r, x = 0, v
    elif isinstance(v, str):
        t = temporal(v)
        if t is not None:
            r, x = 0, t[1]
        else:
            r, x = 1, v
    else:
        r, x = 2, json.dumps(v, sort_keys=True)
    if desc:
        return (0, -r, -x if r == 0 else tuple(-ord(c) for c in x))
    return (0, r, x)


def make_sort_key(spec):
    def key(obj):
        out = []
        for field, desc in spec:
            if field == "@created":
                v = None
                for f in CREATED_FIELDS:
                    v = obj.get(f)
                    if v is not None:
                        break
            else:
                v = obj.get(field)
            out.append(sort_component(v, desc))
        return tuple(out)
    return key


def default_sort_spec(name):
    return DEFAULT_ORDER.get(name, [("@created", True), ("id", False)])


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------
OPS = ("__in", "__gte", "__gt", "__lte", "__lt")


def split_op(param):
    for suffix in OPS:
        if param.endswith(suffix) and len(param) > len(suffix):
            return param[:-len(suffix)], suffix[2:]
    return param, "eq"


class ParamValue:
    """A filter value parsed once, compared against many field values."""

    def __init__(self, raw, name):
        self.raw = raw
        self.name = name
        self._num = self._bool = self._temp = None

    def num(self):
        if self._num is None:
            try:
                self._num = float(self.raw)
            except ValueError:
                raise bad_request("Invalid value for %s: %r (expected a number)."
                                  % (self.name, self.raw))
        return self._num

    def boolean(self):
        if self._bool is None:
            self._bool = parse_bool(self.raw, self.name)
        return self._bool

    def temp(self):
        if self._temp is None:
            t = temporal(self.raw.strip())
            if t is None:
                raise bad_request("Invalid date/time value for %s: %r."
                                  % (self.name, self.raw))
            self._temp = t
        return self._temp


def value_eq(fv, pv):
    if fv is None:
        return pv.raw.lower() in ("null", "none")
    if isinstance(fv, bool):
        return fv == pv.boolean()
    if isinstance(fv, (int, float)):
        return fv == pv.num()
    if isinstance(fv, str):
        if fv == pv.raw:
            return True
        ft = temporal(fv)
        if ft is not None and temporal(pv.raw.strip()) is not None:
            pt = pv.temp()
            if pt[0] == "date" and ft[0] == "datetime":
                return ft[2].date() == pt[2]
            return ft[1] == pt[1]
        return False
    if isinstance(fv, list):
        return any(value_eq(x, pv) for x in fv if not isinstance(x, (list, dict)))
    return False


def value_cmp(fv, pv, op):
    if fv is None or isinstance(fv, (list, dict)):
        return False
    if isinstance(fv, bool):
        a, b = int(fv), int(pv.boolean())
    elif isinstance(fv, (int, float)):
        a, b = fv, pv.num()
    else:
        ft = temporal(fv)
        if ft is not None:
            pt = pv.temp()
            if ft[0] == "date" and pt[0] == "date":
                a, b = ft[2], pt[2]
            else:
                a, b = ft[1], pt[1]
        else:
            a, b = fv, pv.raw
    if op == "gt":
        return a > b
    if op == "gte":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def task_view_filter(raw):
    view = raw.strip().lower()
    if view not in ("inbox", "future", "archive"):
        raise bad_request("Invalid value for view: %r (inbox, future or archive)." % raw)
    today = datetime.now(UTC).date()

    def task_day(o):
        t = temporal(o.get("date")) if o.get("date") else None
        if t is None:
            return None
        return t[2] if t[0] == "date" else t[2].date()

    if view == "archive":
        return lambda o: bool(o.get("is_complete"))
    if view == "inbox":
        return lambda o: not o.get("is_complete") and (
            task_day(o) is None or task_day(o) <= today)
    return lambda o: not o.get("is_complete") and task_day(o) is not None and task_day(o) > today


def task_type_filter(raw):
    if raw.strip().lower() == "all":
        return None
    return lambda o: o.get("_type") == raw


# (collection, param) -> factory(raw) -> predicate or None (no filtering)
SPECIAL_FILTERS = {
    ("task", "view"): task_view_filter,
    ("task", "_type"): task_type_filter,
}


# ---------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------
class Collection:
    def __init__(self, entry):
        self.entry = entry
        self.name = entry["name"]
        self.id_param = entry.get("id_param", "id")
        self.key_field = KEY_FIELDS.get(self.id_param, self.id_param)
        self.ops = {op: bool(entry.get(op)) for op in
                    ("get", "list", "create", "update", "delete")}
        self.delete_status = entry.get("delete_status") or 200
        self.create_status = entry.get("create_status") or 200
        self.paging = entry.get("paging", "skip")
        self.max_limit = entry.get("max_limit") or 0
        self.order_by = bool(entry.get("order_by"))
        self.filters = set(entry.get("filters", []))
        self.required_filters = [list(g) for g in entry.get("required_filters", [])]
        self.fields = entry.get("fields", [["id", "text"]])
        self.model = model_name(self.name)
        self.prefix = id_prefix(self.name)
        self.naive = self.name in NAIVE_TIMESTAMPS
        self.ts_fields = TIMESTAMP_FIELDS.get(self.name, ("date_created", "date_updated"))
        self.sort_spec = default_sort_spec(self.name)
        self.sort_key = make_sort_key(self.sort_spec)
        self.members = [self.name]      # collections listed together (activity)


def load_catalog(path):
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    colls = {}
    for e in entries:
        colls[e["name"]] = Collection(e)
    # A collection lists its own objects and those of every x/... collection
    # (GET /activity/ lists all typed activities).
    for c in colls.values():
        c.members = [c.name] + sorted(n for n in colls if n.startswith(c.name + "/"))
    return colls


# ---------------------------------------------------------------------------
# Seed data (deterministic: random.Random(seed))
# ---------------------------------------------------------------------------
B62 = string.ascii_letters + string.digits
BASE_TIME = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
ORG_ID = "orga_0000000000000000000001"
ACME_ID = "lead_0000000000000000000001"
SPECIAL_LEAD_SLASH = "lead_a/b?c#d"
SPECIAL_LEAD_UNICODE = "lead_ünïcødé"
UNICODE_TEXT = "Zoë Łódź 東京 😀"
LEAD_COUNT = 250

COMPANY_A = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay",
             "Müller", "Søndergaard", "Café Olé", "Łukasiewicz", "東京精密",
             "Δέλτα", "Ñandú", "Brightside", "Northwind", "Kaffeehaus",
             "Piedpiper", "Soylent", "Wonka", "Tyrell", "Zoë's", "Oceanic",
             "Blue Sun", "Cyberdyne", "Sirius", "Aperture", "Black Mesa",
             "Monarch", "Virtucon", "Gringotts"]
COMPANY_B = ["Corp", "GmbH", "Ltd", "S.A.", "Inc.", "株式会社", "Sp. z o.o.",
             "AB", "LLC", "Partners", "& Söhne", "Holdings", "Labs", "SARL"]
FIRST_NAMES = ["Zoë", "José", "Małgorzata", "Søren", "太郎", "Aiyana", "Chloé",
               "Ngozi", "Liam", "Olivia", "Mateo", "Ingrid", "Ahmed", "Yuki",
               "Priya", "Björn", "Émilie", "Ólafur", "Dmitri", "Fatima"]
LAST_NAMES = ["Łódź", "García", "Kowalska", "Kierkegaard", "山田", "Smith",
              "Dubois", "Okafor", "Murphy", "Nguyen", "Rossi", "Schäfer",
              "O'Brien", "Hernández", "Tanaka", "Patel", "Ivanov", "Haddad",
              "Johansson", "Brontë"]
CITIES = [("Łódź", "PL", "90-001"), ("Berlin", "DE", "10115"),
          ("東京", "JP", "100-0001"), ("São Paulo", "BR", "01000-000"),
          ("Austin", "US", "73301"), ("Zürich", "CH", "8001"),
          ("Reykjavík", "IS", "101"), ("Lagos", "NG", "100001")]


def rich_text(text):
    """The note_html Close keeps beside a plain-text note."""
    if text is None:
        return None
    return "<body>%s</body>" % "".join("<p>%s</p>" % html.escape(line)
                                        for line in text.split("\n"))


def ascii_slug(text):
    text = text.replace("Ł", "L").replace("ł", "l").replace("ø", "o").replace("Ø", "O")
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", text.encode("ascii", "ignore").decode().lower())


class Seeder:
    """Builds the seed data.  Each generator appends to self.data in a
    fixed order, drawing from one random.Random(seed)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        # values of fields added for real object shapes come from a random
        # source of their own, so the main one draws as before: the objects
        # other suites know keep their ids and values
        self.srng = random.Random(seed * 31 + 7)
        self.data = {}
        self.wk = {}

    # -- helpers -----------------------------------------------------------
    def rid(self, prefix):
        return prefix + "".join(self.rng.choice(B62) for _ in range(22))

    def wkid(self, prefix):
        n = self.wk.get(prefix, 0) + 1
        self.wk[prefix] = n
        return prefix + str(n).zfill(22)

    def ids(self, prefix, n):
        return [self.wkid(prefix)] + [self.rid(prefix) for _ in range(n - 1)]

    def when(self, i, step_hours=6.0, start=BASE_TIME):
        """Strictly decreasing timestamps: index 0 newest."""
        return start - timedelta(hours=step_hours * i,
                                 minutes=self.rng.randint(0, int(step_hours * 50)),
                                 microseconds=self.rng.randint(1, 999999))

    def later(self, dt, max_days=20):
        return dt + timedelta(minutes=self.rng.randint(0, max_days * 1440),
                              microseconds=self.rng.randint(0, 999999))

    def stamps(self, coll, created, updated=None):
        naive = coll in NAIVE_TIMESTAMPS
        c, u = TIMESTAMP_FIELDS.get(coll, ("date_created", "date_updated"))
        return {c: fmt_ts(created, naive),
                u: fmt_ts(updated or self.later(created), naive)}

    def user(self, i=None):
        users = self.data["user"]
        return users[i] if i is not None else self.rng.choice(users)

    def audit(self, coll, created, creator=None, updater=None, names=False):
        cu = creator or self.user()
        uu = updater or cu
        out = {"organization_id": ORG_ID, "created_by": cu["id"],
               "updated_by": uu["id"]}
        if names:
            out["created_by_name"] = cu["first_name"] + " " + cu["last_name"]
            out["updated_by_name"] = uu["first_name"] + " " + uu["last_name"]
        out.update(self.stamps(coll, created))
        return out

    def add(self, coll, obj):
        self.data.setdefault(coll, []).append(obj)
        return obj

    def person(self):
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    # -- build ---------------------------------------------------------------
    def build(self):
        self.users()
        self.organizations()
        self.roles_groups()
        self.statuses()
        self.custom_fields()
        self.custom_types()
        self.leads()
        self.contacts()
        self.opportunities()
        self.tasks()
        self.activities()
        self.events()
        self.misc()
        self.shape_rest()
        return self.data

    def users(self):
        people = [("Alice", "Admin"), ("Bob", "Builder"), ("Zoë", "Łódź"),
                  ("José", "García"), ("太郎", "山田"), ("Søren", "Kierkegaard")]
        ids = [self.wkid("user_") for _ in people]
        for i, (first, last) in enumerate(people):
            created = self.when(i, 24 * 30, BASE_TIME - timedelta(days=400))
            email = "%s.%s@emulated-org.example" % (
                ["alice", "bob", "zoe", "jose", "taro", "soren"][i],
                ["admin", "builder", "lodz", "garcia", "yamada", "kierkegaard"][i])
            self.add("user", {
                "id": ids[i], "email": email, "first_name": first,
                "last_name": last,
                "image": "https://gravatar.example/avatar/%d.png" % i,
                "organizations": [ORG_ID],
                "date_created": fmt_ts(created),
                "date_updated": fmt_ts(self.later(created, 200)),
            })

    def organizations(self):
        names = ["Emulated Sales Org", "Zweite Firma GmbH", "第三 Holdings"]
        ids = [ORG_ID, self.rid("orga_"), self.rid("orga_")]
        for i, name in enumerate(names):
            created = self.when(i, 24 * 90, BASE_TIME - timedelta(days=800))
            self.add("organization", {
                "id": ids[i], "name": name,
                "date_created": fmt_ts(created),
                "date_updated": fmt_ts(self.later(created, 300)),
                "currency": ["USD", "EUR", "JPY"][i],
                "currency_symbol": ["$", "€", "¥"][i],
                "memberships": [{"id": self.rid("memb_"), "user_id": u["id"],
                                 "role_id": "admin" if j == 0 else "user",
                                 "auto_record_calls": "unset"}
                                for j, u in enumerate(self.data["user"])] if i == 0 else [],
                "inactive_memberships": [],
                "lead_statuses": [], "pipelines": [],
                "plan_type": ["business", "startup", "lite"][i],
                "created_by": self.data["user"][0]["id"] if i == 0 else None,
                "updated_by": self.data["user"][1]["id"] if i == 0 else None,
            })

    def roles_groups(self):
        roles = [("Sales Rep", ["view_leads", "edit_leads"]),
                 ("Sales Manager", ["view_leads", "edit_leads", "delete_leads", "manage_users"]),
                 ("Auditor 🔍", ["view_leads"])]
        ids = self.ids("role_", len(roles))
        for i, (name, perms) in enumerate(roles):
            created = self.when(i, 24 * 10, BASE_TIME - timedelta(days=300))
            self.add("role", dict({"id": ids[i], "name": name,
                                   "permissions": perms, "editable": i > 0,
                                   "visibility_user_lcf_behavior": "require_assignment" if i == 0 else None,
                                   "visibility_user_lcf_ids": ["cf_lead_user"] if i == 0 else None},
                                  **self.audit("role", created)))
        groups = [("Inside Sales", [0, 1, 2]), ("Enterprise", [3, 4]),
                  ("Équipe Paris", [5])]
        ids = self.ids("group_", len(groups))
        for i, (name, members) in enumerate(groups):
            self.add("group", {"id": ids[i], "name": name,
                               "organization_id": ORG_ID,
                               "members": [{"user_id": self.user(m)["id"]} for m in members]})

    def statuses(self):
        labels = ["Potential", "Qualified", "Customer", "Bad Fit", "Nicht interessiert ✋"]
        ids = self.ids("stat_", len(labels))
        for i, label in enumerate(labels):
            self.add("status/lead", {"id": ids[i], "label": label,
                                     "organization_id": ORG_ID})
        pipes = [("Sales", [("Active", "active"), ("Won", "won"), ("Lost", "lost")]),
                 ("Renewals", [("Renewal Pending", "active"), ("Renewed", "won"),
                               ("Churned", "lost")]),
                 ("Partnerships 🤝", [("Talking", "active")])]
        pids = self.ids("pipe_", len(pipes))
        first_opp_status = True
        for i, (pname, sts) in enumerate(pipes):
            statuses = []
            for label, typ in sts:
                sid = self.wkid("stat_") if first_opp_status else self.rid("stat_")
                first_opp_status = False
                st = {"id": sid, "label": label, "type": typ,
                      "pipeline_id": pids[i], "organization_id": ORG_ID}
                statuses.append(st)
                self.add("status/opportunity", st)
            created = self.when(i, 24 * 20, BASE_TIME - timedelta(days=500))
            self.add("pipeline", dict({"id": pids[i], "name": pname,
                                       "statuses": [{"id": s["id"], "label": s["label"], "type": s["type"]}
                                                    for s in statuses]},
                                      **self.audit("pipeline", created)))
        org = self.data["organization"][0]
        org["lead_statuses"] = [{"id": s["id"], "label": s["label"]} for s in self.data["status/lead"]]
        org["pipelines"] = [dict(p) for p in self.data["pipeline"]]

    CF_SETS = {
        "lead": [("cf_lead_text", "Source", "text", False, None),
                 ("cf_lead_number", "Employees", "number", False, None),
                 ("cf_lead_multi", "Product Interest", "choices", True,
                  ["Widgets", "Gadgets", "Gizmos", "Thingamajigs ✨"]),
                 ("cf_lead_date", "Renewal Date", "date", False, None),
                 ("cf_lead_datetime", "Last Demo At", "datetime", False, None),
                 ("cf_lead_choice", "Tier", "choices", False, ["Gold", "Silver", "Bronze"]),
                 ("cf_lead_user", "Account Owner", "user", False, None),
                 ("lcf_legacy_text", "Legacy Ref", "text", False, None)],
        "contact": [("cf_contact_text", "Preferred Language", "text", False, None),
                    ("cf_contact_number", "Lead Score", "number", False, None),
                    ("cf_contact_multi", "Topics", "choices", True,
                     ["Pricing", "Security", "Integrations", "Über-Features"]),
                    ("cf_contact_date", "Birthday", "date", False, None),
                    ("cf_contact_datetime", "Last Contacted At", "datetime", False, None)],
        "opportunity": [("cf_opportunity_text", "Competitor", "text", False, None),
                        ("cf_opportunity_number", "Seats", "number", False, None),
                        ("cf_opportunity_multi", "Modules", "choices", True,
                         ["CRM", "Calling", "Email", "Reporting"]),
                        ("cf_opportunity_date", "Expected Close", "date", False, None),
                        ("cf_opportunity_datetime", "Kickoff At", "datetime", False, None)],
        "activity": [("cf_activity_text", "Meeting Notes", "text", False, None),
                     ("cf_activity_number", "Duration (min)", "number", False, None),
                     ("cf_activity_choice", "Outcome", "choices", False,
                      ["Positive", "Neutral", "Negative"])],
        "custom_object_type": [("cf_cobj_text", "Serial Number", "text", False, None),
                               ("cf_cobj_number", "Licensed Seats", "number", False, None),
                               ("cf_cobj_date", "Install Date", "date", False, None)],
        "shared": [("cf_shared_text", "Region", "text", False, None),
                   ("cf_shared_number", "Priority", "number", False, None),
                   ("cf_shared_multi", "Tags", "choices", True, ["hot", "cold", "vip", "ünïcødé"])],
    }

    def custom_fields(self):
        self.actitype_ids = self.ids("actitype_", 3)
        self.cotype_ids = self.ids("cotype_", 3)
        for kind, defs in self.CF_SETS.items():
            coll = "custom_field/" + kind
            for i, (fid, name, typ, multi, choices) in enumerate(defs):
                created = self.when(i, 24 * 3, BASE_TIME - timedelta(days=200))
                obj = {"id": fid, "name": name, "type": typ,
                       "accepts_multiple_values": multi,
                       "choices": choices,
                       "description": "%s (%s field)" % (name, typ) if i % 2 == 0 else None,
                       "editable_with_roles": [], "is_shared": False}
                obj.update(self.audit(coll, created))
                if kind == "activity":
                    obj["custom_activity_type_id"] = self.actitype_ids[i % 3]
                    obj["required"] = i == 0
                if kind == "custom_object_type":
                    obj["custom_object_type_id"] = self.cotype_ids[i % 3]
                    obj["required"] = False
                    obj["referenced_custom_type_id"] = None
                    obj["back_reference_is_visible"] = False
                if kind == "shared":
                    obj["is_shared"] = True
                    obj["associations"] = [
                        {"object_type": "lead", "required": False, "editable_with_roles": []},
                        {"object_type": "contact", "required": i == 0, "editable_with_roles": []}]
                self.add(coll, obj)

    def custom_types(self):
        names = [("Discovery Call 📞", "Logged after a discovery call"),
                 ("Site Visit", "On-site visit report"),
                 ("Renewal Review", None)]
        for i, (name, desc) in enumerate(names):
            created = self.when(i, 24 * 5, BASE_TIME - timedelta(days=150))
            fields = [f for f in self.data["custom_field/activity"]
                      if f["custom_activity_type_id"] == self.actitype_ids[i]]
            self.add("custom_activity", dict({
                "id": self.actitype_ids[i], "name": name, "description": desc,
                "api_create_only": i == 2, "editable_with_roles": [], "is_archived": False,
                "fields": [{"id": f["id"], "name": f["name"], "type": f["type"],
                            "required": f["required"]} for f in fields]},
                **self.audit("custom_activity", created)))
        names = [("Installation", "Installations"), ("Licence", "Licences"),
                 ("Gerät", "Geräte")]
        for i, (name, plural) in enumerate(names):
            created = self.when(i, 24 * 5, BASE_TIME - timedelta(days=140))
            fields = [f for f in self.data["custom_field/custom_object_type"]
                      if f["custom_object_type_id"] == self.cotype_ids[i]]
            self.add("custom_object_type", dict({
                "id": self.cotype_ids[i], "name": name, "name_plural": plural,
                "description": "%s records" % name, "api_create_only": False,
                "editable_with_roles": [], "back_reference_fields": [],
                "fields": [{"id": f["id"], "name": f["name"], "type": f["type"]}
                           for f in fields]},
                **self.audit("custom_object_type", created)))

    def address(self, label="business"):
        city, country, zipcode = self.rng.choice(CITIES)
        return {"label": label,
                "address_1": "%d %s" % (self.rng.randint(1, 999),
                                        self.rng.choice(["Main St", "Hauptstraße",
                                                         "ul. Piotrkowska", "Rua Augusta"])),
                "address_2": self.rng.choice([None, "Suite 200", "2. OG"]),
                "city": city, "state": self.rng.choice([None, "TX", "BE"]),
                "zipcode": zipcode, "country": country}

    def leads(self):
        statuses = self.data["status/lead"]
        users = self.data["user"]
        used = set()
        ids = [ACME_ID, SPECIAL_LEAD_SLASH, SPECIAL_LEAD_UNICODE] + [
            self.rid("lead_") for _ in range(LEAD_COUNT - 3)]
        self.wk["lead_"] = 1
        for i, lid in enumerate(ids):
            if i == 0:
                name = "Acme Corporation"
                created = datetime(2024, 5, 31, 9, 15, 42, 123456, tzinfo=UTC)
                updated = datetime(2024, 5, 31, 17, 45, 3, 654321, tzinfo=UTC)
            else:
                if i == 1:
                    name = "Slash/Question?Hash# Ltd."
                elif i == 2:
                    name = "Ünïcødé Ŝtüdiø 東京 😀"
                else:
                    name = "%s %s" % (self.rng.choice(COMPANY_A), self.rng.choice(COMPANY_B))
                    if name in used:
                        name = "%s %d" % (name, i)
                created = self.when(i, 6.0, BASE_TIME - timedelta(days=1))
                updated = self.later(created, 30)
            used.add(name)
            creator = users[0] if i == 0 else self.rng.choice(users)
            updater = users[1] if i == 0 else self.rng.choice(users)
            st = statuses[0] if i == 0 else self.rng.choice(statuses)
            lead = {
                "id": lid, "name": name, "display_name": name,
                "description": (UNICODE_TEXT + " — fixed test lead for closecrm_fdw.\n"
                                "Second line with \"quotes\", \\backslash\\ and a tab\t.")
                if i == 0 else self.rng.choice(
                    [None, "Met at a trade fair.", "Inbound lead — wants a demo.",
                     "Referral from %s." % self.rng.choice(FIRST_NAMES), ""]),
                "url": "https://acme.example.com" if i == 0 else self.rng.choice(
                    [None, "https://%s.example" % re.sub(r"[^a-z]", "", name.lower())[:12]]),
                "status_id": st["id"], "status_label": st["label"],
                "html_url": "https://app.close.com/lead/%s/" % quote(lid, safe=""),
                "source": "Website" if i == 0 else self.rng.choice([None, "Website", "Referral", "Event"]),
                "addresses": [],
                "integration_links": [],
                "recent_calls": [], "summaries": [],
            }
            lead.update(self.audit("lead", created, creator, updater, names=True))
            lead["date_updated"] = fmt_ts(updated)
            if i == 0:
                lead["addresses"] = [
                    {"label": "business", "address_1": "ul. Piotrkowska 1",
                     "address_2": None, "city": "Łódź", "state": None,
                     "zipcode": "90-001", "country": "PL"},
                    {"label": "mailing", "address_1": "1-1 Chiyoda", "address_2": "東京ビル 5F",
                     "city": "東京", "state": None, "zipcode": "100-0001", "country": "JP"}]
                lead.update({
                    "custom.cf_lead_text": "Website",
                    "custom.cf_lead_number": 1250,
                    "custom.cf_lead_multi": ["Widgets", "Gadgets"],
                    "custom.cf_lead_date": "2024-05-01",
                    "custom.cf_lead_datetime": "2024-05-01T09:30:00.000000+00:00",
                    "custom.cf_lead_choice": "Gold",
                    "custom.cf_lead_user": users[0]["id"],
                    "custom.cf_shared_text": "EMEA",
                    "custom.lcf_legacy_text": "LEGACY-0001",
                })
            else:
                n_addr = self.rng.choice([0, 1, 1, 2])
                lead["addresses"] = [self.address(["business", "mailing"][k]) for k in range(n_addr)]
                r = self.rng.random
                if r() < 0.7:
                    lead["custom.cf_lead_text"] = self.rng.choice(["Website", "Referral", "Cold call", "Messe Köln"])
                if r() < 0.6:
                    lead["custom.cf_lead_number"] = self.rng.choice(
                        [self.rng.randint(1, 50000), round(self.rng.uniform(0.5, 99.5), 2)])
                if r() < 0.5:
                    lead["custom.cf_lead_multi"] = self.rng.sample(
                        self.CF_SETS["lead"][2][4], self.rng.randint(1, 3))
                if r() < 0.5:
                    lead["custom.cf_lead_date"] = (date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 365))).isoformat()
                if r() < 0.4:
                    lead["custom.cf_lead_datetime"] = fmt_ts(self.when(self.rng.randint(0, 400)))
                if r() < 0.4:
                    lead["custom.cf_lead_choice"] = self.rng.choice(["Gold", "Silver", "Bronze"])
                if r() < 0.3:
                    lead["custom.cf_lead_user"] = self.rng.choice(users)["id"]
                if r() < 0.2:
                    lead["custom.lcf_legacy_text"] = "LEGACY-%04d" % i
                if r() < 0.2:
                    lead["custom.cf_shared_text"] = self.rng.choice(["EMEA", "APAC", "AMER"])
            addr = lead["addresses"][0] if lead["addresses"] else None
            lead["primary_address_summary"] = (
                "%s, %s" % (addr["city"], addr["country"]) if addr else None)
            self.add("lead", lead)

    def contacts(self):
        leads = self.data["lead"]
        ids = iter(self.ids("cont_", 1) + [None] * 10000)
        self.contacts_by_lead = {}
        for i, lead in enumerate(leads):
            n = 3 if i == 0 else 1 + (i % 3 == 0)
            names = []
            here = self.contacts_by_lead.setdefault(lead["id"], [])
            for k in range(n):
                cid = next(ids) or self.rid("cont_")
                if i == 0 and k == 0:
                    first, last = "Zoë", "Łódź"
                elif i == 0 and k == 1:
                    first, last = "José", "García"
                else:
                    first, last = self.person()
                name = None if (i == 0 and k == 2) else first + " " + last
                local = ascii_slug(first) + "." + ascii_slug(last)
                if local.startswith(".") or local.endswith("."):
                    local = "contact%d.%d" % (i, k)
                emails = [{"email": "%s@%s" % (local or "x", "acme.example" if i == 0 else "customer.example"),
                           "type": "office", "is_unsubscribed": False}]
                if i == 0 and k == 0 or self.rng.random() < 0.2:
                    emails.append({"email": "%s.private@example.org" % local, "type": "home",
                                   "is_unsubscribed": i != 0 and self.rng.random() < 0.5})
                phones = []
                if i == 0 and k == 0:
                    phones = [{"phone": "+48221234567", "phone_formatted": "+48 22 123 45 67",
                               "type": "office", "country": "PL"},
                              {"phone": "+81312345678", "phone_formatted": "+81 3-1234-5678",
                               "type": "mobile", "country": "JP"}]
                elif self.rng.random() < 0.7:
                    num = "+1512555%04d" % self.rng.randint(0, 9999)
                    phones = [{"phone": num, "phone_formatted": "+1 512-555-%s" % num[-4:],
                               "type": self.rng.choice(["office", "mobile"]), "country": "US"}]
                created = datetime.fromisoformat(lead["date_created"]) + timedelta(
                    minutes=5 + k, microseconds=self.rng.randint(0, 999999))
                c = {"id": cid, "lead_id": lead["id"], "name": name,
                     "display_name": name or emails[0]["email"],
                     "title": "Head of Procurement — 東京" if (i == 0 and k == 0)
                     else self.rng.choice([None, "CEO", "CTO", "Einkäufer", "Buyer"]),
                     "emails": emails if not (i == 0 and k == 1) else [],
                     "phones": phones,
                     "urls": [{"url": "https://linkedin.example/in/%s" % local, "type": "url"}]
                     if self.rng.random() < 0.3 else [],
                     "integration_links": [], "subscriptions": [], "recent_calls": [],
                     "timezone": self.rng.choice([None, "Europe/Warsaw", "America/Chicago"]),
                     "timezone_source": None, "lead_suggestions_operation_id": None}
                c.update(self.audit("contact", created, names=False))
                if i == 0 and k == 0:
                    c.update({"custom.cf_contact_text": "Polski",
                              "custom.cf_contact_number": 87.5,
                              "custom.cf_contact_multi": ["Pricing", "Über-Features"],
                              "custom.cf_contact_date": "1990-02-28",
                              "custom.cf_contact_datetime": "2024-05-30T16:00:00.250000+00:00"})
                elif self.rng.random() < 0.5:
                    c["custom.cf_contact_text"] = self.rng.choice(["English", "Deutsch", "日本語"])
                    if self.rng.random() < 0.5:
                        c["custom.cf_contact_multi"] = self.rng.sample(
                            self.CF_SETS["contact"][2][4], self.rng.randint(1, 2))
                self.add("contact", c)
                here.append(c)
                names.append(c["display_name"])
            lead["contacts_summary"] = ", ".join(names)
            first = here[0]
            lead["primary_email"] = ({"email": first["emails"][0]["email"], "type": first["emails"][0]["type"]}
                                     if first["emails"] else None)
            lead["primary_phone"] = ({"phone": first["phones"][0]["phone"], "type": first["phones"][0]["type"]}
                                     if first["phones"] else None)

    def opportunities(self):
        leads = self.data["lead"]
        sts = self.data["status/opportunity"]
        pipes = {p["id"]: p for p in self.data["pipeline"]}
        users = self.data["user"]
        first = True
        for i, lead in enumerate(leads):
            n = 2 if i == 0 else (1 if i % 2 == 0 else 0)
            contacts = self.contacts_by_lead.get(lead["id"], [])
            for k in range(n):
                oid = self.wkid("oppo_") if first else self.rid("oppo_")
                first = False
                if i == 0:
                    st = sts[1] if k == 0 else sts[0]
                    value, period, conf = (1250000, "annual", 100) if k == 0 else (49999, "monthly", 40)
                    user = users[0]
                else:
                    st = self.rng.choice(sts)
                    value = self.rng.choice([None, self.rng.randint(1, 500) * 10000 + self.rng.randint(0, 99)])
                    period = self.rng.choice(["one_time", "monthly", "annual"])
                    conf = self.rng.randint(0, 100)
                    user = self.rng.choice(users)
                created = datetime.fromisoformat(lead["date_created"]) + timedelta(
                    hours=1 + k, microseconds=self.rng.randint(0, 999999))
                updated = self.later(created, 10)
                won = st["type"] == "won"
                lost = st["type"] == "lost"
                v = value or 0
                annual = v * 12 if period == "monthly" else v
                contact = contacts[0] if contacts else None
                o = {"id": oid, "lead_id": lead["id"], "lead_name": lead["name"],
                     "contact_id": contact["id"] if contact else None,
                     "contact_name": contact["name"] if contact else None,
                     "user_id": user["id"], "user_name": user["first_name"] + " " + user["last_name"],
                     "status_id": st["id"], "status_label": st["label"], "status_type": st["type"],
                     "status_display_name": st["label"],
                     "pipeline_id": st["pipeline_id"], "pipeline_name": pipes[st["pipeline_id"]]["name"],
                     "value": value, "value_currency": "USD" if i % 5 or i == 0 else "EUR",
                     "value_period": period,
                     "value_formatted": ("$%s" % format(v // 100, ",")) + ("/mo" if period == "monthly" else ""),
                     "expected_value": v * conf // 100, "annualized_value": annual,
                     "annualized_expected_value": annual * conf // 100,
                     "confidence": conf,
                     "note": ("Renewal for 2025 — " + UNICODE_TEXT) if i == 0 and k == 0
                     else self.rng.choice([None, "", "Important deal", "Needs legal review"]),
                     "date_won": ("2024-05-15" if i == 0 else
                                  (date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 150))).isoformat())
                     if won else None,
                     "date_lost": fmt_ts(updated) if lost else None,
                     "is_stalled": self.rng.random() < 0.1,
                     "integration_links": [], "attachments": []}
                o["note_html"] = rich_text(o["note"])
                o.update(self.audit("opportunity", created, user, names=True))
                o["date_updated"] = fmt_ts(updated)
                if i == 0 and k == 0:
                    o.update({"custom.cf_opportunity_text": "Globex",
                              "custom.cf_opportunity_number": 42,
                              "custom.cf_opportunity_multi": ["CRM", "Calling"],
                              "custom.cf_opportunity_date": "2024-05-01",
                              "custom.cf_opportunity_datetime": "2024-06-03T08:00:00.000000+00:00"})
                elif self.rng.random() < 0.5:
                    o["custom.cf_opportunity_number"] = self.rng.randint(1, 500)
                    if self.rng.random() < 0.5:
                        o["custom.cf_opportunity_multi"] = self.rng.sample(
                            self.CF_SETS["opportunity"][2][4], self.rng.randint(1, 3))
                self.add("opportunity", o)

    NOTI_TYPES = ["missed_call", "voicemail", "incoming_email", "email_followup",
                  "opportunity_due", "answered_detached_call", "incoming_sms"]

    def tasks(self):
        leads = self.data["lead"]
        users = self.data["user"]
        specs = []
        for i in range(60):
            for k in range(2 if i == 0 else 1):
                specs.append(("lead", leads[i], k))
        for j in range(21):
            specs.append((self.NOTI_TYPES[j % 7], leads[j * 3], 0))
        for j in range(2):
            specs.append(("outgoing_call", leads[5 + j], 0))
        first_task, first_noti = True, True
        for n, (typ, lead, k) in enumerate(specs):
            if typ in TASK_CREATE_TYPES:
                tid = self.wkid("task_") if first_task else self.rid("task_")
                first_task = False
            else:
                tid = self.wkid("noti_") if first_noti else self.rid("noti_")
                first_noti = False
            assignee = users[0] if lead["id"] == ACME_ID else self.rng.choice(users)
            created = datetime.fromisoformat(lead["date_created"]) + timedelta(
                hours=2, minutes=n, microseconds=self.rng.randint(0, 999999))
            if lead["id"] == ACME_ID and typ == "lead":
                complete = k == 1
                due = "2024-06-03" if k == 0 else "2024-05-20T15:00:00.000000+00:00"
                text = "Call Zoë about the renewal 📞" if k == 0 else "Send the contract"
            else:
                complete = self.rng.random() < 0.4
                due = self.rng.choice([None, (date(2024, 6, 1) + timedelta(days=self.rng.randint(-30, 30))).isoformat(),
                                       fmt_ts(self.when(self.rng.randint(0, 100)))])
                text = self.rng.choice(["Follow up", "Send proposal", "Prüfen: Angebot",
                                        "Réunion de suivi", "Check in 東京"])
            if typ not in TASK_CREATE_TYPES:
                # a notification's date is when it happened (Close's samples)
                due = fmt_ts(created)
            elif due:
                due = due[:10]          # a lead task is due on a day
            contact = (self.contacts_by_lead.get(lead["id"]) or [None])[0]
            t = {"_type": typ, "id": tid, "lead_id": lead["id"], "lead_name": lead["name"],
                 "assigned_to": assignee["id"],
                 "assigned_to_name": assignee["first_name"] + " " + assignee["last_name"],
                 "text": text, "date": due, "due_date": due[:10] if due else None,
                 "is_complete": complete, "is_dateless": due is None,
                 "object_type": None, "object_id": None,
                 "contact_id": contact["id"] if contact else None,
                 "contact_name": contact["name"] if contact else None,
                 "priority": self.rng.choice(["normal", "high"])}
            t.update(self.audit("task", created, names=True))
            t["view"] = ("archive" if complete else
                         "future" if due and due[:10] > BASE_TIME.date().isoformat() else "inbox")
            if typ in ("missed_call", "voicemail", "answered_detached_call"):
                t.update({"object_type": "call", "object_id": self.rid("acti_"),
                          "phone": "+15125550100", "local_phone": "+15125550199",
                          "phone_formatted": "+1 512-555-0100",
                          "phone_number_description": "Texas"})
                if typ == "answered_detached_call":
                    t["recording_url"] = "https://recordings.example/%s.mp3" % tid
                if typ == "voicemail":
                    t.update({"voicemail_url": "https://voicemail.example/%s.mp3" % tid,
                              "voicemail_duration": self.rng.randint(5, 90)})
            elif typ in ("incoming_email", "email_followup"):
                t.update({"object_type": "emailthread", "object_id": self.rid("acti_"),
                          "subject": "Re: Angebot für 東京", "body_preview": "Thanks — let's talk…",
                          "email_id": self.rid("acti_"), "emails": []})
                t["emails"] = [t["email_id"]]
            elif typ == "opportunity_due":
                t.update({"object_type": "opportunity", "object_id": self.rid("oppo_"),
                          "opportunity_value": 100000, "opportunity_value_currency": "USD",
                          "opportunity_value_formatted": "$1,000",
                          "opportunity_value_period": "one_time", "opportunity_note": "Renewal"})
            elif typ == "incoming_sms":
                t.update({"object_type": "sms", "object_id": self.rid("acti_")})
            self.add("task", t)

    ACTIVITY_COUNTS = [("activity/note", 80), ("activity/call", 40), ("activity/email", 40),
                       ("activity/emailthread", 10), ("activity/sms", 20),
                       ("activity/whatsapp_message", 10), ("activity/meeting", 10),
                       ("activity/custom", 10), ("activity/created", 30),
                       ("activity/form_submission", 5), ("activity/lead_merge", 3),
                       ("activity/status_change/lead", 10),
                       ("activity/status_change/opportunity", 10),
                       ("activity/task_completed", 5)]

    def activities(self):
        leads = self.data["lead"]
        users = self.data["user"]
        for coll, count in self.ACTIVITY_COUNTS:
            typ = ACTIVITY_TYPES[coll]
            for n in range(count):
                aid = self.wkid("acti_") if n == 0 else self.rid("acti_")
                lead = leads[0] if n < 2 else leads[(n * 7 + len(coll)) % LEAD_COUNT]
                contact = (self.contacts_by_lead.get(lead["id"]) or [None])[0] \
                    if lead["id"] == ACME_ID or n % 3 == 0 else None
                user = users[0] if n == 0 else self.rng.choice(users)
                created = self.when(n, 5.0, BASE_TIME - timedelta(hours=len(coll)))
                uname = user["first_name"] + " " + user["last_name"]
                a = {"_type": typ, "id": aid, "lead_id": lead["id"],
                     "contact_id": contact["id"] if contact else None,
                     "user_id": user["id"], "user_name": uname,
                     "activity_at": fmt_ts(created - timedelta(minutes=self.rng.randint(0, 120))),
                     "users": [], "source": self.rng.choice(["api", None, "Close.io"])}
                a.update(self.audit(coll, created, user, names=True))
                self.activity_details(coll, a, n, lead, contact)
                self.activity_shape(coll, a, n, lead, user)
                self.add(coll, a)

    def activity_details(self, coll, a, n, lead, contact):
        r = self.rng
        if coll == "activity/note":
            text = (UNICODE_TEXT + "\nMeeting notes: <b>not html</b> & \"quoted\"") if n == 0 else \
                r.choice(["Called, left voicemail.", "Sent pricing.", "Kunde möchte Rabatt.", ""])
            a.update({"note": text, "note_html": "<p>%s</p>" % text.replace("\n", "<br>"),
                      "title": "First note 📝" if n == 0 else r.choice([None, "Call summary"]),
                      "pinned": n == 0, "pinned_at": a["date_created"] if n == 0 else None,
                      "note_mentions": [],
                      "attachments": [{"url": "https://files.example/%d.pdf" % n, "filename": "Angebot ü.pdf",
                                       "content_type": "application/pdf", "size": 12345,
                                       "thumbnail_url": None}] if n % 10 == 0 else []})
        elif coll == "activity/call":
            a.update({"direction": r.choice(["outbound", "inbound"]), "duration": r.randint(0, 3600),
                      "phone": "+15125550%03d" % r.randint(0, 999), "local_phone": "+15125550199",
                      "remote_phone": "+15125550%03d" % r.randint(0, 999),
                      "status": "completed", "disposition": r.choice(["answered", "no-answer", "vm-left"]),
                      "recording_url": None, "voicemail_url": None, "note": r.choice(["", "Good call"]),
                      "outcome_id": None, "sequence_id": None, "sequence_name": None,
                      "sequence_subscription_id": None, "cost": None})
        elif coll == "activity/email":
            to = [contact["emails"][0]["email"]] if contact and contact["emails"] else ["someone@customer.example"]
            a.update({"direction": r.choice(["outgoing", "incoming"]), "status": r.choice(["sent", "draft", "inbox"]),
                      "subject": "Angebot für %s" % lead["name"], "sender": "Alice Admin <alice@emulated-org.example>",
                      "to": to, "cc": [], "bcc": [], "body_text": "Hallo,\nanbei das Angebot. — 😀",
                      "body_html": "<p>Hallo,<br>anbei das Angebot. — 😀</p>", "body_preview": "Hallo, anbei das Angebot.",
                      "date_sent": a["activity_at"], "date_scheduled": None, "thread_id": self.rid("acti_"),
                      "template_id": None, "template_name": None, "attachments": [], "opens": [],
                      "opens_summary": None, "has_reply": r.random() < 0.3, "in_reply_to_id": None,
                      "message_ids": ["<%d@mail.example>" % n], "references": [],
                      "envelope": {"from": [{"email": "alice@emulated-org.example", "name": "Alice Admin"}],
                                   "to": [{"email": t, "name": ""} for t in to], "subject": "Angebot"},
                      "email_account_id": None, "need_smtp_credentials": False, "send_attempts": [],
                      "bulk_email_action_id": None, "followup_sequence_id": None,
                      "followup_sequence_delay": None, "followup_sequence_add_cc_bcc": None,
                      "send_as_id": None, "sequence_id": None, "sequence_name": None,
                      "sequence_subscription_id": None, "agent_action_reason": None, "agent_config_id": None})
        elif coll == "activity/emailthread":
            a.update({"latest_normalized_subject": "angebot", "n_emails": r.randint(1, 6),
                      "participants": [{"email": "alice@emulated-org.example", "name": "Alice"}],
                      "emails": [], "subject": "Angebot"})
        elif coll in ("activity/sms", "activity/whatsapp_message"):
            text = r.choice(["Hi! 😀", "Call me back", "Danke schön", "了解しました"])
            a.update({"direction": r.choice(["outbound", "inbound"]), "text": text,
                      "local_phone": "+15125550199", "local_phone_formatted": "+1 512-555-0199",
                      "remote_phone": "+15125550123", "remote_phone_formatted": "+1 512-555-0123",
                      "attachments": [], "sequence_id": None, "sequence_name": None,
                      "sequence_subscription_id": None})
            if coll == "activity/sms":
                a.update({"status": "sent", "date_sent": a["activity_at"], "date_scheduled": None,
                          "error_message": None, "local_country_iso": "US", "remote_country_iso": "US",
                          "template_id": None, "cost": "0.0075",
                          "agent_action_reason": None, "agent_config_id": None})
            else:
                a.update({"external_whatsapp_message_id": "wamid.%s" % self.rid(""),
                          "message_markdown": text, "message_html": "<p>%s</p>" % text,
                          "integration_link": None, "integration_name": "WhatsApp", "response_to_id": None})
        elif coll == "activity/meeting":
            start = datetime.fromisoformat(a["activity_at"])
            a.update({"title": r.choice(["Demo", "Kick-off 🚀", "QBR"]), "starts_at": a["activity_at"],
                      "ends_at": fmt_ts(start + timedelta(minutes=45)), "duration": 2700,
                      "location": r.choice([None, "Zoom", "Büro Berlin"]), "status": "completed",
                      "attendees": [{"email": "alice@emulated-org.example", "status": "yes"}],
                      "is_recurring": False, "user_note": None})
        elif coll == "activity/custom":
            atype = self.actitype_ids[n % 3]
            a.update({"custom_activity_type_id": atype, "status": "published", "pinned": False})
            if atype == self.actitype_ids[0]:
                a["custom.cf_activity_text"] = r.choice(["Went well", "Budget approved ✅"])
            if atype == self.actitype_ids[1]:
                a["custom.cf_activity_number"] = r.randint(15, 120)
        elif coll == "activity/form_submission":
            a.update({"form_id": "form_%022d" % (n + 1), "form_name": "Contact us",
                      "form_configuration_id": None,
                      "values": [{"field": "email", "value": "lead%d@customer.example" % n}],
                      "values_by_name": {"email": "lead%d@customer.example" % n, "message": "Hallo 👋"},
                      "ip_address": "192.0.2.%d" % (n + 10), "origin": "https://www.example.com",
                      "source_url": "https://www.example.com/contact?utm=x",
                      "source_url_normalized": "https://www.example.com/contact"})
        elif coll == "activity/lead_merge":
            a.update({"source_lead_id": self.rid("lead_"), "source_lead_name": "Duplicate Co",
                      "destination_lead_id": lead["id"], "destination_lead_name": lead["name"]})
        elif coll == "activity/status_change/lead":
            old, new = r.sample(self.data["status/lead"], 2)
            a.update({"old_status_id": old["id"], "old_status_label": old["label"],
                      "new_status_id": new["id"], "new_status_label": new["label"]})
        elif coll == "activity/status_change/opportunity":
            old, new = r.sample(self.data["status/opportunity"], 2)
            opp = next((o for o in self.data["opportunity"] if o["lead_id"] == lead["id"]), None)
            a.update({"opportunity_id": opp["id"] if opp else self.rid("oppo_"),
                      "old_status_id": old["id"], "old_status_label": old["label"], "old_status_type": old["type"],
                      "new_status_id": new["id"], "new_status_label": new["label"], "new_status_type": new["type"],
                      "opportunity_value": 50000, "opportunity_value_currency": "USD",
                      "opportunity_value_period": "one_time",
                      "opportunity_date_won": "2024-05-15" if new["type"] == "won" else None})
        elif coll == "activity/task_completed":
            task = next((t for t in self.data["task"] if t["lead_id"] == lead["id"]), None)
            a.update({"task_id": task["id"] if task else self.rid("task_"),
                      "task_text": task["text"] if task else "Follow up",
                      "task_assigned_to": a["user_id"]})

    # well-known ids of objects misc() seeds later
    OUTCOME_ID = "outcome_0000000000000000000001"
    DIALER_ID = "dial_0000000000000000000001"
    SAVED_SEARCH_ID = "save_0000000000000000000001"

    def activity_shape(self, coll, a, n, lead, user):
        """The fields Close's sample activities carry beyond those of
        activity_details, with their sample's value shapes (ids, ISO
        codes, costs as strings, nulls where most objects have none),
        drawn from self.srng."""
        r = self.srng
        if coll == "activity/call":
            dialer = n % 4 == 1
            a.update({"call_method": "regular" if a["direction"] == "outbound" else r.choice(["regular", "external"]),
                      "cost": r.choice(["0", "2", "14"]), "dialer_id": self.DIALER_ID if dialer else None,
                      "dialer_saved_search_id": self.SAVED_SEARCH_ID if dialer else None,
                      "local_country_iso": "US", "remote_country_iso": "US",
                      "local_phone_formatted": "+1 512-555-0199",
                      "remote_phone_formatted": "+1 512-555-%s" % a["remote_phone"][-4:],
                      "note_html": rich_text(a["note"]),
                      "outcome_id": self.OUTCOME_ID if n % 3 == 0 else None,
                      "recording_url": "https://recordings.example/%s.mp3" % a["id"]
                      if a["disposition"] == "answered" else None,
                      "voicemail_url": "https://voicemail.example/%s.mp3" % a["id"]
                      if a["disposition"] == "vm-left" else None,
                      "voicemail_duration": r.randint(5, 60) if a["disposition"] == "vm-left" else None})
            if n % 5 == 0:
                a.update({"sequence_id": "seq_0000000000000000000001", "sequence_name": "Onboarding 🚀",
                          "sequence_subscription_id": "sub_0000000000000000000001"})
        elif coll == "activity/meeting":
            a.update({"actual_duration": 2580 if n % 2 == 0 else None, "attached_call_ids": [],
                      "attendees": [{"contact_id": a["contact_id"], "email": "zoe.lodz@acme.example",
                                     "is_organizer": False, "name": "Zoë Łódź", "status": "noreply",
                                     "user_id": None},
                                    {"contact_id": None, "email": user["email"], "is_organizer": True,
                                     "name": None, "status": "yes", "user_id": user["id"]}],
                      "calendar_event_link": "https://calendar.example/event?eid=%d" % n,
                      "calendar_event_uids": ["uid%04d" % n],
                      "conference_links": [{"type": "ZOOM", "url": "https://zoom.example/j/%d" % n}],
                      "connected_account_id": "emailacct_0000000000000000000001",
                      "conversation_type_id": "convtyp_0000000000000000000001" if n % 3 == 0 else None,
                      "conversation_type_reason": "Matched the playbook" if n % 3 == 0 else None,
                      "integrations": [], "note": "Agenda: pricing — 議題", "notetaker_id": user["id"] if n % 2 == 0 else None,
                      "outcome_autofill_confidence": 0.87 if n % 2 == 0 else None,
                      "outcome_autofill_reasoning": "The customer agreed to a trial." if n % 2 == 0 else None,
                      "outcome_id": self.OUTCOME_ID if n % 2 == 0 else None,
                      "outcome_reason": "Trial agreed" if n % 2 == 0 else None,
                      "playbook_id": "convtyp_0000000000000000000001" if n % 3 == 0 else None,
                      "playbook_reason": "Discovery call" if n % 3 == 0 else None,
                      "provider_calendar_event_id": "uid%04d" % n, "provider_calendar_ids": ["primary"],
                      "provider_calendar_type": "google", "source": "calendar",
                      "summary": "Pricing agreed; trial next week." if n % 2 == 0 else None,
                      "user_note": "Send the trial link" if n % 2 == 0 else None,
                      "user_note_date_updated": a["date_updated"] if n % 2 == 0 else None,
                      "user_note_html": rich_text("Send the trial link") if n % 2 == 0 else None,
                      "user_note_mentions": [], "users": [user["id"]]})
            a["status"] = ["completed", "upcoming", "in-progress", "canceled"][n % 4]
        elif coll == "activity/email":
            a["followup_sequence_add_cc_bcc"] = False
            if n % 4 == 1:
                a.update({"status": "scheduled", "date_sent": None,
                          "date_scheduled": fmt_ts(datetime.fromisoformat(a["date_created"]) + timedelta(days=1))})
            if n % 3 == 0:
                a.update({"template_id": "tmpl_0000000000000000000001", "template_name": "Intro ✉️",
                          "opens_summary": "Opened %d times" % r.randint(1, 4),
                          "followup_sequence_delay": 86400})
            if n % 5 == 2:
                a.update({"bulk_email_action_id": "bulkemail_0000000000000000000001",
                          "send_as_id": "sdas_0000000000000000000001"})
            if n % 7 == 4:
                a["in_reply_to_id"] = "acti_0000000000000000000003"
        elif coll == "activity/sms":
            if n % 5 == 1:
                a.update({"status": "scheduled", "date_sent": None,
                          "date_scheduled": fmt_ts(datetime.fromisoformat(a["date_created"]) + timedelta(hours=3))})
            if n % 5 == 3:
                a.update({"status": "error", "error_message": "The destination number is unreachable."})
            if n % 4 == 0:
                a["template_id"] = "smstmpl_0000000000000000000001"
        elif coll == "activity/whatsapp_message":
            if n % 3 == 1:
                a.update({"integration_link": "https://wa.example/chat/%d" % n,
                          "response_to_id": "acti_0000000000000000000004"})
        elif coll == "activity/form_submission":
            if n % 2 == 0:
                a["form_configuration_id"] = "formcfg_%022d" % (n + 1)
        elif coll == "activity/custom":
            if a["custom_activity_type_id"] == self.actitype_ids[2]:
                a["custom.cf_activity_choice"] = ["Positive", "Neutral", "Negative"][n % 3]
        elif coll == "activity/created":
            a.update({"import_id": "bulk_%022d" % n if n % 5 == 0 else None,
                      "source": ["ui", "api", "import", "email"][n % 4]})
        elif coll == "activity/lead_merge":
            source_id = a.pop("source_lead_id")
            source_name = a.pop("source_lead_name")
            a.pop("destination_lead_name")
            a.update({"source_lead_id": source_id, "source_display_name": source_name,
                      "destination_display_name": lead["display_name"],
                      "merge_status": ["completed", "in_progress", "errored"][n % 3],
                      "error_message": "Lead is locked" if n % 3 == 2 else None})
        elif coll == "activity/status_change/opportunity":
            pipes = {p["id"]: p["name"] for p in self.data["pipeline"]}
            old = next(o for o in self.data["status/opportunity"] if o["id"] == a["old_status_id"])
            new = next(o for o in self.data["status/opportunity"] if o["id"] == a["new_status_id"])
            won = a.pop("opportunity_date_won")
            a.update({"old_pipeline_id": old["pipeline_id"], "old_pipeline_name": pipes[old["pipeline_id"]],
                      "new_pipeline_id": new["pipeline_id"], "new_pipeline_name": pipes[new["pipeline_id"]],
                      "opportunity_confidence": 100 if new["type"] == "won" else 50,
                      "opportunity_value_formatted": "$500",
                      # a plain date, sent as midnight UTC (Close's sample)
                      "opportunity_date_won": won + "T00:00:00+00:00" if won else None})
        elif coll == "activity/task_completed":
            a.pop("contact_id", None)
            a["task_assigned_to_name"] = a["user_name"]
        elif coll == "activity/emailthread":
            a.pop("subject", None)
        elif coll == "activity/note" and n % 7 == 3:
            a["title"] = "Meeting notes 📝"

    def shape_rest(self):
        """Values of the fields real objects carry that the generators
        above leave empty on every seeded object (drawn from self.srng,
        set on some objects only)."""
        d = self.data
        u = [x["id"] for x in d["user"]]
        # shared custom fields on a few leads and contacts
        for i, lead in enumerate(d["lead"]):
            if i % 50 == 7:
                lead["custom.cf_shared_number"] = i
                lead["custom.cf_shared_multi"] = ["hot", "vip"] if i % 100 == 7 else ["cold"]
        for i, c in enumerate(d["contact"]):
            if i % 60 == 11:
                c.update({"custom.cf_shared_text": "APAC", "custom.cf_shared_number": 2,
                          "custom.cf_shared_multi": ["ünïcødé"]})
        # a choices field and a reference field on custom object types
        coll = "custom_field/custom_object_type"
        for fid, name, typ, choices, ref, cotype in [
                ("cf_cobj_choice", "Status", "choices", ["Active", "Cancelled"], None, self.cotype_ids[0]),
                ("cf_cobj_ref", "Licence", "custom_object", None, self.cotype_ids[1], self.cotype_ids[0])]:
            created = BASE_TIME - timedelta(days=100, minutes=self.srng.randint(0, 999))
            obj = {"id": fid, "name": name, "type": typ, "accepts_multiple_values": False,
                   "choices": choices, "description": None, "editable_with_roles": [],
                   "custom_object_type_id": cotype, "required": False,
                   "referenced_custom_type_id": ref, "back_reference_is_visible": ref is not None,
                   "organization_id": ORG_ID, "created_by": u[0], "updated_by": u[0]}
            obj.update(self.stamps(coll, created))
            self.add(coll, obj)
        for t in d["custom_object_type"]:
            t["fields"] = [{"id": f["id"], "name": f["name"], "type": f["type"]}
                           for f in d[coll] if f["custom_object_type_id"] == t["id"]]
        d["custom_object"][0]["custom.cf_cobj_choice"] = "Active"
        d["custom_object"][0]["custom.cf_cobj_ref"] = d["custom_object"][1]["id"]
        # bulk actions
        for b in (d["bulk_action/delete"] + d["bulk_action/edit"] + d["bulk_action/email"]
                  + d["bulk_action/sequence_subscription"])[::3]:
            b["results_limit"] = 100
        edit = next(b for b in d["bulk_action/edit"] if b["type"] == "set_custom_field")
        edit.update({"custom_field_name": "Tier", "custom_field_value": "Gold"})
        d["bulk_action/email"][0]["email_account_id"] = "emailacct_0000000000000000000001"
        d["bulk_action/sequence_subscription"][0].update({
            "sender_account_id": "emailacct_0000000000000000000001",
            "from_phone_number_id": d["phone_number"][0]["id"]})
        # regulatory details of the Polish number, billing of the others
        pl = d["phone_number"][2]
        pl.update({"address_id": "addr_%022d" % 1, "bundle_id": "bund_%022d" % 1})
        for p in d["phone_number"][:2]:
            p["next_billing_on"] = "2024-07-%02d" % self.srng.randint(1, 28)
        d["playbook"][0]["summary_guidance"] = "Summarise the prospect's needs and next step."
        d["saved_search"][0]["description"] = "Every lead, newest first"
        d["scheduling_link"][2]["template_tag"] = "kaffee"
        shared = d["shared_scheduling_link"][0]
        shared.update({"url": "https://cal.example.com/team/sales", "user_id": u[0],
                       "source": "CALENDLY", "source_id": "fe722374-9993-45f7-8c4c-c2004ec78940",
                       "source_type": "Round Robin"})

    def events(self):
        leads = self.data["lead"]
        users = self.data["user"]
        kinds = [("lead", "lead"), ("contact", "contact"), ("opportunity", "opportunity"),
                 ("task.lead", "task"), ("activity.note", "activity/note")]
        for n in range(120):
            eid = self.wkid("ev_") if n == 0 else self.rid("ev_")
            otype, coll = kinds[n % len(kinds)]
            lead = leads[0] if n < 10 else leads[(n * 11) % LEAD_COUNT]
            pool = [o for o in self.data.get(coll, [])[:400] if o.get("lead_id", o["id"]) == lead["id"]]
            obj = pool[0] if pool else None
            action = ["created", "updated", "updated", "deleted"][n % 4] if obj else "deleted"
            updated = BASE_TIME - timedelta(minutes=17 * n, microseconds=self.rng.randint(0, 999999))
            user = users[n % len(users)]
            self.add("event", {
                "id": eid, "object_type": otype,
                "object_id": obj["id"] if obj else self.rid("cont_"),
                "lead_id": lead["id"], "action": action, "user_id": user["id"],
                "organization_id": ORG_ID, "request_id": self.rid("req_"),
                "api_key_id": None, "oauth_client_id": None, "oauth_scope": None,
                "changed_fields": ["name", "date_updated"] if action == "updated" else [],
                "data": {"id": obj["id"], "name": obj.get("name", obj.get("text"))} if obj else None,
                "previous_data": {"name": "Old name"} if action == "updated" else {},
                "meta": {"request_method": {"created": "POST", "updated": "PUT", "deleted": "DELETE"}[action],
                         "request_path": "/api/v1/%s/" % coll},
                "date_created": fmt_ts(updated - timedelta(seconds=n % 3), naive=True),
                "date_updated": fmt_ts(updated, naive=True),
            })

    def simple(self, coll, rows, prefix=None, step=24.0, audit=True, names=False):
        """Add rows (dicts) with ids and audit fields."""
        prefix = prefix or id_prefix(coll)
        ids = self.ids(prefix, len(rows))
        for i, row in enumerate(rows):
            created = self.when(i, step, BASE_TIME - timedelta(days=30))
            obj = {"id": ids[i]}
            obj.update(row)
            if audit:
                for k, v in self.audit(coll, created, names=names).items():
                    obj.setdefault(k, v)
            self.add(coll, obj)

    def misc(self):
        r = self.rng
        users = self.data["user"]
        leads = self.data["lead"]
        contacts = self.data["contact"]
        u = [x["id"] for x in users]
        self.simple("comment_thread", [
            {"object_id": leads[0]["id"], "object_type": "lead", "lead_id": leads[0]["id"], "num_comments": 2,
             "participating": [u[0], u[1]]},
            {"object_id": self.data["activity/note"][0]["id"], "object_type": "activity.note",
             "lead_id": leads[0]["id"], "num_comments": 2, "participating": [u[2]]},
            {"object_id": leads[3]["id"], "object_type": "lead", "lead_id": leads[3]["id"], "num_comments": 1,
             "participating": [u[0]]}])
        th = self.data["comment_thread"]
        for t in th:                # threads carry no author
            del t["created_by"], t["updated_by"]
        self.simple("comment", [
            {"object_id": th[k]["object_id"], "thread_id": th[k]["id"], "lead_id": th[k]["lead_id"],
             "body": "<body><p>%s</p></body>" % html.escape(body), "mentions": [],
             "removed_at": fmt_ts(BASE_TIME - timedelta(days=1)) if k == 2 else None,
             "removed_by": u[0] if k == 2 else None}
            for k, body in [(0, "Great lead! 😀"), (0, "Agreed — Zoë will call."),
                            (1, "See note above"), (1, "Danke!"), (2, "Needs a follow-up")]], step=2)
        self.simple("connected_account", [
            {"user_id": u[k], "email": users[k]["email"], "_type": t,
             "identities": [{"email": users[k]["email"], "name": users[k]["first_name"]}],
             "default_identity": {"email": users[k]["email"]},
             "synced_calendars": [users[k]["email"]] if t == "google" else [],
             **({"smtp": {"host": "smtp.example", "port": 465, "use_ssl": True, "username": users[k]["email"]},
                 "imap": None} if t == "custom_email" else {})}
            for k, t in [(0, "google"), (1, "zoom"), (2, "custom_email")]])
        for a in self.data["connected_account"]:        # neither author nor update time
            for k in ("created_by", "updated_by", "date_updated"):
                del a[k]
        saved = [("All leads", "lead", "*"), ("Hot leads 🔥", "lead", "tier:Gold"),
                 ("Contacts in 東京", "contact", "city:東京"), ("Shared view", "lead", "status:Qualified")]
        self.simple("saved_search", [
            {"name": n, "type": t, "query": q,
             "s_query": {"type": "and", "queries": [{"type": "object_type", "object_type": t}]},
             "is_shared": k == 3, "is_user_dependent": False, "user_id": u[k % 2],
             "description": None, "selected_fields": [], "shared_with": [], "sharing_settings": {}}
            for k, (n, t, q) in enumerate(saved)])
        ss = self.data["saved_search"]
        self.simple("dialer", [
            {"source_type": "saved-search", "source_value": ss[0]["id"], "status": "active", "user_id": u[0],
             "type": "power", "caller_id": "+15125550199"},
            {"source_type": "saved-search", "source_value": ss[1]["id"], "status": "inactive", "user_id": u[1],
             "type": "predictive", "caller_id": ""},
            {"source_type": "shared-entry", "source_value": "shared_%d" % 3, "status": "active", "user_id": u[2],
             "type": "power", "caller_id": "+48221234000"}])
        for k, d in enumerate(self.data["dialer"]):
            d.update({"is_user_dependent": k == 2, "music_preference": "tone1",
                      "ring_mode": ["more-voicemails", "fewer-voicemails", "more-voicemails"][k],
                      "users": [{"is_active": d["status"] == "active", "state": "active"
                                 if d["status"] == "active" else "inactive", "user_id": d["user_id"]}]})
        self.simple("email_template", [
            {"name": "Intro ✉️", "subject": "Hello {{ contact.first_name }}",
             "body": "<p>Hi {{ contact.first_name }}, nice to meet you — 😀</p>",
             "is_shared": True, "is_archived": False, "attachments": [], "unsubscribe_link": False},
            {"name": "Follow-up", "subject": "Following up", "body": "<p>Any news?</p>",
             "is_shared": False, "is_archived": False, "attachments": [], "unsubscribe_link": True},
            {"name": "Angebot", "subject": "Ihr Angebot", "body": "<p>Anbei.</p>",
             "is_shared": True, "is_archived": True, "attachments": [], "unsubscribe_link": False},
            {"name": "Old template", "subject": "Old", "body": "", "is_shared": False,
             "is_archived": True, "attachments": [], "unsubscribe_link": False}])
        tmpl = self.data["email_template"]
        self.simple("sequence", [
            {"name": n, "status": s, "timezone": "Europe/Berlin", "allow_manual_sends": True,
             "created_by_id": u[0], "updated_by_id": u[1],
             "subscription_counts_by_status": {"active": 2, "paused": 2, "finished": 2, "error": 0, "goal": 0},
             "schedule": {"ranges": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in (1, 2, 3, 4, 5)]},
             "steps": [{"id": self.rid("seqstep_"), "step_type": "email", "delay": 0,
                        "email_template_id": tmpl[0]["id"], "threading": "new_thread"},
                       {"id": self.rid("seqstep_"), "step_type": "call", "delay": 86400,
                        "email_template_id": None, "threading": None}]}
            for n, s in [("Onboarding 🚀", "active"), ("Reactivation", "paused"), ("Event follow-up", "active")]])
        seqs = self.data["sequence"]
        self.simple("sequence_subscription", [
            {"sequence_id": seqs[k % 3]["id"], "contact_id": contacts[k]["id"], "lead_id": contacts[k]["lead_id"],
             "contact_email": contacts[k]["emails"][0]["email"] if contacts[k]["emails"] else None,
             "status": ["active", "paused", "finished"][k % 3],
             "status_reason": [None, "manual", "goal"][k % 3],
             "start_date": "2024-06-%02d" % (3 + k) if k % 2 == 0 else None,
             "sender_account_id": "emailacct_0000000000000000000001" if k % 2 == 0 else None,
             "sender_email": users[0]["email"], "sender_name": "Alice Admin", "calls_assigned_to": [u[0]],
             "created_by_id": u[0], "updated_by_id": u[k % 2]}
            for k in range(6)])
        self.simple("export", [
            {"type": t, "format": f, "status": s, "n_docs": LEAD_COUNT,
             "n_docs_processed": LEAD_COUNT if s == "done" else 100,
             "download_url": "https://exports.example/%d.%s.gz" % (k, f) if s == "done" else None,
             "send_done_email": False, "date_format": "iso8601",
             "fields": ["id", "display_name", "status_label"] if k == 0 else [],
             "results_limit": 1000 if k == 2 else None,
             "s_query": {"type": "and", "queries": [{"type": "object_type", "object_type": "lead"}]},
             "sort": [], **({"params": {"status_type": "won"}} if t == "opportunities" else {})}
            for k, (t, f, s) in enumerate([("leads", "jsonl", "done"), ("opportunities", "csv", "done"),
                                           ("leads", "json", "in_progress")])])
        self.simple("integration_link", [
            {"name": n, "type": t, "url": url}
            for n, t, url in [("Billing 💳", "lead", "https://billing.example/{{ lead.id }}"),
                              ("LinkedIn", "contact", "https://linkedin.example/search?q={{ contact.name }}"),
                              ("Contract", "opportunity", "https://contracts.example/{{ opportunity.id }}")]])
        self.simple("outcome", [
            {"name": n, "description": d, "type": t, "applies_to": a}
            for n, d, t, a in [("Interested", "Wants a demo", "vm", ["calls"]),
                               ("Not now", None, "vm", ["calls", "meetings"]),
                               ("Wrong number ☎️", "Remove phone", "vm", ["calls"])]])
        self.simple("phone_number", [
            {"number": num, "number_formatted": fmtd, "label": lbl, "type": typ, "user_id": uid,
             "is_group_number": uid is None, "country": "US", "carrier": "Emulated Telecom",
             "carrier_type": "mobile", "sms_enabled": True, "mms_enabled": False, "is_premium": False,
             "is_verified": True, "forward_to": None, "forward_to_enabled": False,
             "forward_to_formatted": None, "press_1_to_accept": False, "was_ported": False,
             "voicemail_greeting_url": None, "last_billed_price": 1.5, "next_billing_on": None,
             "participants": [], "phone_numbers": [], "phone_numbers_formatted": [],
             "supports_sms_to_countries": ["US", "CA"], "supports_mms_to_countries": [],
             "address_id": None, "bundle_id": None}
            for num, fmtd, lbl, typ, uid in [("+15125550199", "+1 512-555-0199", "Main line", "internal", u[0]),
                                             ("+15125550198", "+1 512-555-0198", "Support", "internal", None),
                                             ("+48221234000", "+48 22 123 40 00", "Polska 🇵🇱", "external", u[2])]])
        outcomes = self.data["outcome"]
        self.simple("playbook", [
            {"name": n, "description": d, "position": pos, "summary_guidance": None,
             "custom_field_ids": ["cf_lead_text"], "outcome_ids": [outcomes[0]["id"]],
             "archived_at": None if pos < 2 else fmt_ts(BASE_TIME - timedelta(days=3)),
             "archived_by_id": None if pos < 2 else u[0],
             "created_by_id": u[0], "updated_by_id": u[1], "organization_id": ORG_ID}
            for n, d, pos in [("Discovery", "First call script", 0), ("Demo", "Demo flow 🎬", 1),
                              ("Legacy", None, 2)]])
        self.simple("scheduling_link", [
            {"name": n, "url": "https://cal.example.com/alice/%s" % slug, "duration_in_minutes": d,
             "description": desc, "type": "USER", "user_id": u[0], "source": src,
             "source_id": "74241bb7-3436-4228-9b76-392ef7a443e%d" % k if src != "MANUAL" else None,
             "source_type": "Solo" if src != "MANUAL" else None,
             "oauth_client_id": "oa2client_0000000000000000000001" if src == "THIRD_PARTY" else None,
             "template_tag": None}
            for k, (n, slug, d, desc, src) in enumerate([
                ("30 min chat", "30min", 30, "Let's find a time to meet!", "MANUAL"),
                ("Demo", "demo", 45, None, "CALENDLY"),
                ("Kaffee ☕", "kaffee", None, "Auf einen Kaffee", "THIRD_PARTY")])])
        self.simple("shared_scheduling_link", [
            {"name": n, "url": None, "duration_in_minutes": 30 if k == 0 else None,
             "description": "Shared link for %s" % n, "type": "SHARED", "user_id": None,
             "source": "MANUAL", "source_id": None, "source_type": None,
             "template_tag": ascii_slug(n) or "equipe"}
            for k, n in enumerate(["Sales team", "Support", "Équipe"])])
        for link in self.data["scheduling_link"] + self.data["shared_scheduling_link"]:
            for k in ("created_by", "updated_by", "date_created", "date_updated"):
                del link[k]                 # links carry no author or times
        self.simple("send_as", [
            {"allowing_user_id": u[a], "allowed_user_id": u[b]}
            for a, b in [(0, 1), (0, 2), (3, 4)]])
        self.simple("sms_template", [
            {"name": n, "text": t, "is_shared": k != 2, "status": "active", "attachments": []}
            for k, (n, t) in enumerate([("Hi", "Hi {{ contact.first_name }} 😀"),
                                        ("Reminder", "Reminder: our call at {{ time }}"),
                                        ("Danke", "Danke für das Gespräch!")])])
        self.simple("blocked_phone_number", [
            {"phone": p, "reason": why} for p, why in [("+15125550666", "spam"), ("+15125550667", "robocall"),
                                                       ("+48221230000", "Belästigung")]])
        self.simple("webhook", [
            {"url": url, "events": ev, "status": st, "verify_ssl": True, "counters": {},
             "health_status": "healthy" if st == "active" else "unhealthy",
             "latest_error": None if st == "active" else {"status_code": 500, "text": "Internal Server Error"},
             "pause_reason": None if st == "active" else "api",
             "recent_consecutive_fail_buckets_cnt": 0 if st == "active" else 3,
             "signature_key": hashlib.sha256(url.encode()).hexdigest()}
            for url, ev, st in [("https://hooks.example/close", [{"object_type": "lead", "action": "created"},
                                                                 {"object_type": "lead", "action": "updated"}], "active"),
                                ("https://hooks.example/opps", [{"object_type": "opportunity", "action": "updated"}], "active"),
                                ("https://hooks.example/paused", [{"object_type": "contact", "action": "deleted"}], "paused")]])
        # unsubscribed e-mail addresses (keyed by the address)
        for k, addr in enumerate(["unsubscribed@customer.example", "zoë@ünïcødé.example",
                                  "no+reply@customer.example"]):
            self.add("unsubscribe/email", dict({"email": addr}, **self.stamps(
                "unsubscribe/email", self.when(k, 24, BASE_TIME - timedelta(days=5))),
                organization_id=ORG_ID, created_by=u[0]))
        self.simple("custom_object", [
            {"custom_object_type_id": self.cotype_ids[k % 3], "lead_id": leads[0 if k < 3 else k]["id"],
             "name": n, "custom.cf_cobj_text": "SN-%05d" % (k + 1),
             **({"custom.cf_cobj_number": 25} if k % 3 == 1 else {}),
             **({"custom.cf_cobj_date": "2024-05-01"} if k % 3 == 2 else {})}
            for k, n in enumerate(["Router 東京", "Licence A", "Gerät 1", "Router B", "Licence C", "Gerät 2"])])
        bulk_common = {"n_leads": 25, "n_leads_processed": 25, "n_objects": 25, "n_objects_processed": 25,
                       "query": "status:Potential", "results_limit": None, "send_done_email": True,
                       "s_query": {"type": "and", "queries": []}, "sort": []}
        self.simple("bulk_action/delete", [dict(bulk_common, bulk_object_type="lead", status=s)
                                           for s in ["finished", "processing", "error"]])
        self.simple("bulk_action/edit", [dict(bulk_common, type=t, lead_status_id=self.data["status/lead"][0]["id"],
                                              custom_field_name=None, custom_field_value=None, status="finished")
                                         for t in ["set_lead_status", "clear_custom_field", "set_custom_field"]])
        self.simple("bulk_action/email", [dict(bulk_common, template_id=tmpl[k]["id"], sender=users[0]["email"],
                                               email_account_id=None, contact_preference="lead",
                                               status="finished")
                                          for k in range(3)])
        self.simple("bulk_action/sequence_subscription", [
            dict(bulk_common, sequence_id=seqs[k]["id"], action_type="subscribe", status="finished",
                 sender_account_id=None, sender_email=users[0]["email"], sender_name="Alice Admin",
                 contact_preference="lead", calls_assigned_to=[u[0]], from_phone_number_id=None)
            for k in range(3)])
        # Integration links shown on leads reference the first integration link.
        leads[0]["integration_links"] = [{"name": "Billing 💳", "url": "https://billing.example/%s" % ACME_ID}]

    def generic(self, coll):
        """Objects for a catalog collection without a dedicated generator."""
        fields = coll.fields
        rows = []
        for k in range(3):
            row = {}
            for fname, ftype in fields:
                if fname == "id" or fname in ("date_created", "date_updated", "organization_id"):
                    continue
                row[fname] = {"text": "%s %d" % (fname, k + 1), "bigint": k + 1, "numeric": k + 0.5,
                              "boolean": k % 2 == 0, "date": "2024-05-0%d" % (k + 1),
                              "timestamptz": fmt_ts(BASE_TIME - timedelta(days=k)),
                              "jsonb": []}.get(ftype)
            rows.append(row)
        self.simple(coll.name, rows)


def build_seed(seed, colls):
    s = Seeder(seed)
    data = s.build()
    for name, coll in colls.items():
        if name not in data and coll.members == [name] and (coll.ops["get"] or coll.ops["list"]):
            s.generic(coll)
    return s.data


# ---------------------------------------------------------------------------
# State: objects, request log, faults, config, rate limits
# ---------------------------------------------------------------------------
class State:
    def __init__(self, colls, seed, keys):
        self.colls = colls
        self.seed = seed
        self.keys = list(keys)
        self.lock = threading.Lock()
        self.rl_lock = threading.Lock()
        raw = build_seed(seed, colls)
        self.pristine = json.dumps(raw)
        self.hang_gen = 0
        self.seq = itertools.count(1)
        self.in_flight = 0
        self.reset()

    def reset(self):
        data = json.loads(self.pristine)
        with self.lock:
            self.objs = {}
            for name, coll in self.colls.items():
                key = coll.key_field
                self.objs[name] = {o[key]: o for o in data.get(name, [])}
            self.version = {name: 0 for name in self.colls}
            self.sorted_cache = {}
            self.child_cache = {}
            self.get_cache = {}
            self.get_deps = {}
            self.generation = getattr(self, "generation", 0) + 1
            self.log = []
            self.log_dropped = 0
            self.faults = []
            self.config = json.loads(json.dumps(DEFAULT_CONFIG))
            self.buckets = {}
            self.hang_gen += 1
            self.seq = itertools.count(1)
            self.id_rng = random.Random(self.seed * 7919 + 1)
        self.wellknown = self.compute_wellknown(data)

    def compute_wellknown(self, data):
        wk = {}
        for name, coll in self.colls.items():
            objs = data.get(name, [])
            if objs:
                wk[name] = objs[0][coll.key_field]
        extras = {
            "lead_acme": ACME_ID, "lead_special_slash": SPECIAL_LEAD_SLASH,
            "lead_special_unicode": SPECIAL_LEAD_UNICODE,
            "organization": ORG_ID,
        }
        users = data.get("user", [])
        for i, k in enumerate(self.keys):
            if users:
                extras["user_for_key_%d" % (i + 1)] = users[i % len(users)]["id"]
        tasks = data.get("task", [])
        for t in tasks:
            if t["id"].startswith("noti_"):
                extras["task_noti"] = t["id"]
                break
        return {"collections": wk, "extras": extras}

    # -- objects ---------------------------------------------------------------
    def bump(self, name):
        self.version[name] = self.version.get(name, 0) + 1

    def sorted_objects(self, coll):
        """Objects of coll (and its member collections) in default order;
        cached until a member changes.  Caller holds self.lock."""
        ver = tuple(self.version[m] for m in coll.members)
        hit = self.sorted_cache.get(coll.name)
        if hit and hit[0] == ver:
            return hit[1]
        items = []
        for m in coll.members:
            items.extend(self.objs[m].values())
        items.sort(key=coll.sort_key)
        self.sorted_cache[coll.name] = (ver, items)
        return items

    def children_by_lead(self, name):
        """{lead_id: [objects]} for a child collection (cached)."""
        ver = self.version.get(name, 0)
        hit = self.child_cache.get(name)
        if hit and hit[0] == ver:
            return hit[1]
        idx = {}
        for o in self.objs.get(name, {}).values():
            idx.setdefault(o.get("lead_id"), []).append(o)
        self.child_cache[name] = (ver, idx)
        return idx

    # -- request log -------------------------------------------------------
    def log_start(self, entry):
        with self.lock:
            self.in_flight += 1
            entry["seq"] = next(self.seq)
            entry["in_flight"] = self.in_flight
            self.log.append(entry)
            limit = self.config.get("log_limit") or 0
            if limit and len(self.log) > limit + limit // 10:
                drop = len(self.log) - limit
                del self.log[:drop]
                self.log_dropped += drop

    def log_end(self):
        with self.lock:
            self.in_flight -= 1

    # -- faults ------------------------------------------------------------
    def take_fault(self, method, path):
        with self.lock:
            for i, rule in enumerate(self.faults):
                m = rule.get("method")
                if m and m.upper() != method:
                    continue
                if "path" in rule and rule["path"] != path:
                    continue
                if "path_prefix" in rule and not path.startswith(rule["path_prefix"]):
                    continue
                times = rule.get("times", 1)
                if times != -1:
                    times -= 1
                    if times <= 0:
                        del self.faults[i]
                    else:
                        rule["times"] = times
                return dict(rule)
        return None

    # -- rate limit --------------------------------------------------------
    def rate_params(self, group):
        rl = self.config["rate_limit"]
        g = rl.get("groups", {}).get(group, {})
        return int(g.get("limit", rl["limit"])), float(g.get("window", rl["window"]))

    def rate_check(self, key, group, consume=True):
        """(allowed, limit, remaining, reset_seconds)"""
        limit, window = self.rate_params(group)
        now = time.monotonic()
        with self.rl_lock:
            b = self.buckets.get((key, group))
            if b is None or now >= b[0] + window:
                b = [now, 0]
                if consume:
                    self.buckets[(key, group)] = b
            if consume:
                b[1] += 1
            used = b[1]
            reset = max(0.0, b[0] + window - now)
        return used <= limit, limit, max(0, limit - used), reset

    def rate_header(self, limit, remaining, reset):
        rl = self.config["rate_limit"]
        sep = rl.get("separator", ", ")
        if rl.get("integer_reset"):
            rs = str(int(math.ceil(reset)))
        else:
            rs = ("%.3f" % reset).rstrip("0").rstrip(".") or "0"
        return "limit=%d%sremaining=%d%sreset=%s" % (limit, sep, remaining, sep, rs)


# ---------------------------------------------------------------------------
# The API proper
# ---------------------------------------------------------------------------
class Api:
    def __init__(self, state):
        self.st = state
        self.colls = state.colls

    # -- routing -----------------------------------------------------------
    def resolve(self, raw_path):
        """('collection', coll) | ('item', coll, id) | ('redirect',) | None"""
        rest = raw_path[len(API_PREFIX):]
        if not rest.startswith("/") or rest == "/":
            return None
        trailing = rest.endswith("/")
        inner = rest[1:-1] if trailing else rest[1:]
        if not inner:
            return None
        segs = inner.split("/")
        if segs == ["me"]:
            return ("me",) if trailing else ("redirect",)
        if segs == ["data", "search"]:
            return ("search",) if trailing else ("redirect",)
        for n in range(len(segs), 0, -1):
            name = "/".join(segs[:n])
            coll = self.colls.get(name)
            if coll is None:
                continue
            remainder = segs[n:]
            if len(remainder) > 1 or (remainder and remainder[0] == ""):
                return None
            if not trailing:
                return ("redirect",)
            if not remainder:
                return ("collection", coll)
            return ("item", coll, unquote(remainder[0], errors="replace"))
        return None

    # -- presentation --------------------------------------------------------
    def present(self, coll_name, obj, fields, key="id"):
        """Object as returned (embedded children added, _fields applied).
        Caller holds the state lock."""
        emb = EMBEDS.get(coll_name)
        if emb:
            obj = dict(obj)
            for ekey, child, mode in emb:
                if fields is not None and ekey not in fields:
                    continue
                kids = self.st.children_by_lead(child).get(obj.get("id"), [])
                if mode == "ids":
                    obj[ekey] = [k["id"] for k in kids]
                elif mode == "incomplete":
                    obj[ekey] = [k for k in kids if not k.get("is_complete")]
                else:
                    obj[ekey] = list(kids)
        smart = SMART_FIELDS.get(coll_name)
        if fields is None or (smart and "_all" in fields):
            if smart and fields is None:
                obj = {k: v for k, v in obj.items() if k not in smart}
            return obj
        out = {}
        for f in fields:
            if f == "custom":
                for k, v in obj.items():
                    if k.startswith("custom."):
                        out[k] = v
            elif f in obj:
                out[f] = obj[f]
        if key in obj:
            out[key] = obj[key]
        return out

    @staticmethod
    def parse_fields(params):
        raw = params.get("_fields")
        if not raw:
            return None
        fields = [f.strip() for f in raw[0].split(",") if f.strip()]
        return fields or None

    # -- handlers ------------------------------------------------------------
    def do_get(self, coll, oid, params):
        fields = self.parse_fields(params)
        with self.st.lock:
            obj = self.st.objs[coll.name].get(oid)
            if obj is None:
                raise ApiError(404, {"error": EMPTY_QUERY_TEXT % coll.model})
            return 200, self.present(coll.name, obj, fields, coll.key_field)

    def int_param(self, params, name, default):
        raw = params.get(name)
        if not raw or raw[0] == "":
            return default
        try:
            v = int(raw[0])
        except ValueError:
            raise bad_request("Invalid value for %s: %r (expected an integer)." % (name, raw[0]))
        if v < 0:
            raise bad_request("Invalid value for %s: %d (must not be negative)." % (name, v))
        return v

    def compile_filters(self, coll, params, info):
        preds = []
        given = set()
        for pname, values in params.items():
            if pname in MACHINERY:
                continue
            if pname not in coll.filters:
                info.setdefault("ignored_params", []).append(pname)
                continue
            raw = values[0]
            base, op = split_op(pname)
            given.add(base)
            if base in UNAPPLIED_FILTERS:
                info.setdefault("unapplied_params", []).append(pname)
                continue
            special = SPECIAL_FILTERS.get((coll.name, pname))
            if special:
                p = special(raw)
                if p is not None:
                    preds.append(p)
                continue
            if base in PARAM_ALIASES:
                base, forced = PARAM_ALIASES[base]
                op = forced if op == "eq" else op
            field = FIELD_ALIASES.get((coll.name, base), base)
            preds.append(self.make_pred(field, op, raw, pname))
        dflt = DEFAULT_LIST_FILTERS.get(coll.name)
        if dflt and not any(k in params for k in dflt["keys"]):
            preds.append(self.make_pred(dflt["param"], "eq", dflt["value"], dflt["param"]))
        combos = FILTER_COMBOS.get(coll.name)
        if combos:
            used = tuple(sorted(b for b in given if b not in combos["free"]))
            allowed = {tuple(sorted(c)) for c in combos["allowed"]}
            if used not in allowed:
                raise bad_request("This combination of filters is not supported: %s."
                                  % ", ".join(used))
        return preds

    @staticmethod
    def make_pred(field, op, raw, pname):
        if op == "in":
            vals = [ParamValue(v, pname) for v in raw.split(",") if v != ""]
            return lambda o: any(value_eq(o.get(field), pv) for pv in vals)
        pv = ParamValue(raw, pname)
        if op == "eq":
            return lambda o: value_eq(o.get(field), pv)
        # A value that looks like a date but does not parse is a 400 up front
        # (e.g. "+00:00" sent unencoded arrives as " 00:00").
        if re.match(r"^\d{4}-\d{2}-\d{2}", raw.strip()) and temporal(raw.strip()) is None:
            raise bad_request("Invalid date/time value for %s: %r." % (pname, raw))
        return lambda o: value_cmp(o.get(field), pv, op)

    def do_list(self, coll, params, info):
        for group in coll.required_filters:
            if not any(g in params and params[g][0] != "" for g in group):
                if len(group) == 1:
                    raise bad_request("The %s filter is required to list this resource." % group[0])
                raise bad_request("One of these filters is required to list this resource: %s."
                                  % ", ".join(group))
        fields = self.parse_fields(params)
        cfg = self.st.config
        preds = self.compile_filters(coll, params, info)
        order = None
        if coll.order_by and params.get("_order_by") and params["_order_by"][0]:
            order = []
            for part in params["_order_by"][0].split(","):
                part = part.strip()
                desc = part.startswith("-")
                name = part[1:] if desc else part
                if not re.match(r"^[A-Za-z0-9_.]+$", name):
                    raise bad_request("Invalid _order_by field: %r." % part)
                order.append((name, desc))
            order.append(("id", False))
        elif params.get("_order_by") and not coll.order_by:
            info.setdefault("ignored_params", []).append("_order_by")

        if coll.paging == "cursor":
            return self.list_cursor(coll, params, preds, fields, order)

        max_limit = int(cfg["max_limit"].get(coll.name) or coll.max_limit or cfg["default_max_limit"])
        max_skip = int(cfg["max_skip"].get(coll.name) or cfg["default_max_skip"])
        if coll.paging == "skip":
            limit = self.int_param(params, "_limit", min(100, max_limit))
            skip = self.int_param(params, "_skip", 0)
            if limit > max_limit:
                raise bad_request(MAX_LIMIT_TEXT % max_limit)
            if skip > max_skip:
                raise bad_request(MAX_SKIP_TEXT % max_skip)
        else:
            limit, skip = None, 0
            for p in ("_limit", "_skip"):
                if p in params:
                    info.setdefault("ignored_params", []).append(p)

        with self.st.lock:
            items = self.st.sorted_objects(coll)
            if preds:
                items = [o for o in items if all(p(o) for p in preds)]
            if order:
                items = sorted(items, key=make_sort_key(order))
            total = len(items)
            page = items[skip:skip + limit] if limit is not None else items[skip:]
            data = [self.present(coll.name, o, fields, coll.key_field) for o in page]
            agg = self.opportunity_aggregates(items) if coll.name == "opportunity" else None
        body = {"data": data, "has_more": limit is not None and skip + len(page) < total}
        if coll.name in TOTAL_RESULTS:
            body["total_results"] = total
        if agg:
            body.update(agg)
        return 200, body

    @staticmethod
    def opportunity_aggregates(items):
        counts = {"one_time": 0, "monthly": 0, "annual": 0}
        tv = {"one_time": 0, "monthly": 0, "annual": 0}
        ev = {"one_time": 0, "monthly": 0, "annual": 0}
        for o in items:
            p = o.get("value_period")
            if p not in counts:
                continue
            v = o.get("value") or 0
            c = o.get("confidence") or 0
            counts[p] += 1
            tv[p] += v
            ev[p] += v * c // 100
        return {"count_by_value_period": counts,
                "total_value_one_time": tv["one_time"], "total_value_monthly": tv["monthly"],
                "total_value_annual": tv["annual"],
                "total_value_annualized": tv["one_time"] + tv["monthly"] * 12 + tv["annual"],
                "expected_value_one_time": ev["one_time"], "expected_value_monthly": ev["monthly"],
                "expected_value_annual": ev["annual"],
                "expected_value_annualized": ev["one_time"] + ev["monthly"] * 12 + ev["annual"]}

    # Cursor paging (event log): keyset on the listing order.
    @staticmethod
    def enc_cursor(direction, spec, obj):
        vals = [obj.get(f) for f, _ in spec]
        raw = json.dumps([direction, vals], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def dec_cursor(token, spec):
        try:
            pad = "=" * (-len(token) % 4)
            direction, vals = json.loads(base64.urlsafe_b64decode(token + pad))
            if direction not in ("n", "p") or len(vals) != len(spec):
                raise ValueError
            return direction, {f: v for (f, _), v in zip(spec, vals)}
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
            raise bad_request("Invalid cursor.")

    def list_cursor(self, coll, params, preds, fields, order):
        max_limit = int(self.st.config["max_limit"].get(coll.name) or coll.max_limit or 50)
        limit = self.int_param(params, "_limit", max_limit)
        if limit > max_limit:
            raise bad_request(MAX_LIMIT_TEXT % max_limit)
        spec = order or coll.sort_spec
        key = make_sort_key(spec)
        token = params.get("_cursor", [""])[0]
        with self.st.lock:
            items = self.st.sorted_objects(coll)
            if preds:
                items = [o for o in items if all(p(o) for p in preds)]
            if order:
                items = sorted(items, key=key)
            keys = [key(o) for o in items]
            if token:
                direction, anchor = self.dec_cursor(token, spec)
                ak = key(anchor)
                if direction == "n":
                    start = next((i for i, k in enumerate(keys) if k > ak), len(items))
                    page = items[start:start + limit]
                else:
                    end = next((i for i, k in enumerate(keys) if k >= ak), len(items))
                    start = max(0, end - limit)
                    page = items[start:end]
            else:
                start = 0
                page = items[:limit]
            more_after = start + len(page) < len(items)
            data = [self.present(coll.name, o, fields, coll.key_field) for o in page]
        body = {"data": data,
                "cursor_next": self.enc_cursor("n", spec, page[-1]) if page and more_after else None,
                "cursor_previous": self.enc_cursor("p", spec, page[0]) if page else (token or None)}
        return 200, body

    # -- writes --------------------------------------------------------------
    def validate_lead_ref(self, coll, body, errors):
        if pattern_member(LEAD_CHILDREN, coll.name) and "lead_id" in body and body["lead_id"] not in (None, ""):
            if body["lead_id"] not in self.st.objs.get("lead", {}):
                errors["lead_id"] = "Lead does not exist."

    def stamp_now(self, coll, obj, user_id, create):
        now = datetime.now(UTC)
        c, u = coll.ts_fields
        ts = fmt_ts(now, coll.naive)
        if create:
            obj.setdefault(c, ts)
            if obj.get(c) is None:
                obj[c] = ts
        obj[u] = ts
        if create:
            obj.setdefault("organization_id", ORG_ID)
            obj.setdefault("created_by", user_id)
        obj["updated_by"] = user_id

    def apply_custom(self, obj, key, value):
        """custom.<id> = value (null unsets), custom.<id>.add / .remove."""
        if key.endswith(".add") or key.endswith(".remove"):
            base = key.rsplit(".", 1)[0]
            cur = obj.get(base)
            cur = list(cur) if isinstance(cur, list) else ([] if cur is None else [cur])
            vals = value if isinstance(value, list) else [value]
            if key.endswith(".add"):
                cur.extend(v for v in vals if v not in cur)
            else:
                cur = [v for v in cur if v not in vals]
            if cur:
                obj[base] = cur
            else:
                obj.pop(base, None)
        elif value is None:
            obj.pop(key, None)
        else:
            obj[key] = value

    def derive(self, coll, obj, user_id):
        """Server-computed fields after a create/update (seed-data rules)."""
        name = coll.name
        users = self.st.objs.get("user", {})
        leads = self.st.objs.get("lead", {})
        lead = leads.get(obj.get("lead_id")) if obj.get("lead_id") else None
        if name == "lead":
            obj["display_name"] = obj.get("name") or obj.get("display_name") or ""
            if "status_id" in obj and obj.get("status_id") in self.st.objs.get("status/lead", {}):
                obj["status_label"] = self.st.objs["status/lead"][obj["status_id"]]["label"]
            obj["html_url"] = "https://app.close.com/lead/%s/" % quote(obj["id"], safe="")
        elif name == "contact":
            emails = obj.get("emails") or []
            obj["display_name"] = obj.get("name") or (emails[0].get("email") if emails and isinstance(emails[0], dict) else "") or ""
        elif name in ("opportunity", "task"):
            if lead:
                obj["lead_name"] = lead.get("name")
        if name == "opportunity":
            sts = self.st.objs.get("status/opportunity", {})
            st = sts.get(obj.get("status_id"))
            if st:
                obj.update({"status_label": st["label"], "status_type": st["type"],
                            "status_display_name": st["label"], "pipeline_id": st.get("pipeline_id")})
                pipe = self.st.objs.get("pipeline", {}).get(st.get("pipeline_id"))
                obj["pipeline_name"] = pipe["name"] if pipe else None
            u = users.get(obj.get("user_id"))
            if u:
                obj["user_name"] = u["first_name"] + " " + u["last_name"]
        if name == "task":
            obj["is_dateless"] = not obj.get("date")
            u = users.get(obj.get("assigned_to"))
            if u:
                obj["assigned_to_name"] = u["first_name"] + " " + u["last_name"]

    def create_defaults(self, coll, user_id):
        name = coll.name
        if name == "lead":
            st = next(iter(self.st.objs.get("status/lead", {}).values()), None)
            return {"name": None, "description": None, "url": None, "addresses": [],
                    "integration_links": [], "status_id": st["id"] if st else None,
                    "status_label": st["label"] if st else None, "source": None}
        if name == "contact":
            return {"name": None, "title": None, "emails": [], "phones": [], "urls": [],
                    "integration_links": []}
        if name == "opportunity":
            st = next(iter(self.st.objs.get("status/opportunity", {}).values()), None)
            return {"status_id": st["id"] if st else None, "value": None, "value_currency": "USD",
                    "value_period": "one_time", "confidence": 0, "note": None, "date_won": None,
                    "date_lost": None, "user_id": user_id, "contact_id": None}
        if name == "task":
            return {"_type": "lead", "is_complete": False, "assigned_to": user_id, "date": None,
                    "contact_id": None, "object_type": None, "object_id": None}
        if name in ACTIVITY_TYPES:
            return {"_type": ACTIVITY_TYPES[name], "user_id": user_id, "contact_id": None,
                    "users": [], "source": "api"}
        if name.startswith("custom_field/"):
            return {"accepts_multiple_values": False, "choices": None, "description": None,
                    "editable_with_roles": []}
        return {}

    def do_create(self, coll, body, user_id, host, scheme):
        errors = {}
        for f in pattern_lookup(CREATE_REQUIRED, coll.name, []):
            if body.get(f) in (None, "", []):
                errors[f] = REQUIRED_TEXT
        if coll.name.startswith("custom_field/") and body.get("type") not in (None, "") \
                and body["type"] not in CUSTOM_FIELD_TYPES:
            errors["type"] = "Not a valid choice."
        if coll.name == "task" and body.get("_type") not in (None, *TASK_CREATE_TYPES):
            errors["_type"] = "Not a valid choice."
        inline_contacts = body.get("contacts") if coll.name == "lead" else None
        with self.st.lock:
            self.validate_lead_ref(coll, body, errors)
            if errors:
                raise field_errors(errors)
            obj = self.create_defaults(coll, user_id)
            key = coll.key_field
            if key == "id":
                obj["id"] = None
            for k, v in body.items():
                if k in ("id", "contacts") and k != key:
                    continue
                if k.startswith("custom."):
                    self.apply_custom(obj, k, v)
                else:
                    obj[k] = v
            if key == "id":
                obj["id"] = coll.prefix + "".join(self.st.id_rng.choice(B62) for _ in range(22))
            oid = obj[key]
            if oid in self.st.objs[coll.name]:
                raise field_errors({key: "An object with this %s already exists." % key})
            self.stamp_now(coll, obj, user_id, create=True)
            if coll.name in ACTIVITY_TYPES:
                obj.setdefault("activity_at", obj.get("date_created"))
            self.derive(coll, obj, user_id)
            self.st.objs[coll.name][oid] = obj
            self.st.bump(coll.name)
            if isinstance(inline_contacts, list) and "contact" in self.colls:
                ccoll = self.colls["contact"]
                for c in inline_contacts:
                    if not isinstance(c, dict):
                        continue
                    cobj = self.create_defaults(ccoll, user_id)
                    cobj.update({k: v for k, v in c.items() if k != "id"})
                    cobj["lead_id"] = oid
                    cobj["id"] = ccoll.prefix + "".join(self.st.id_rng.choice(B62) for _ in range(22))
                    self.stamp_now(ccoll, cobj, user_id, create=True)
                    self.derive(ccoll, cobj, user_id)
                    self.st.objs["contact"][cobj["id"]] = cobj
                    self.st.bump("contact")
            out = self.present(coll.name, obj, None)
        headers = []
        if coll.create_status == 201:
            headers.append(("Location", "%s://%s%s/%s/%s/" % (
                scheme, host, API_PREFIX, coll.name, quote(str(oid), safe=""))))
        return coll.create_status, out, headers

    def do_update(self, coll, oid, body, user_id):
        key = coll.key_field
        if key in body and body[key] != oid:
            raise field_errors({key: "This field cannot be changed."})
        with self.st.lock:
            old = self.st.objs[coll.name].get(oid)
            if old is None:
                raise ApiError(404, {"error": EMPTY_QUERY_TEXT % coll.model})
            errors = {}
            self.validate_lead_ref(coll, body, errors)
            if errors:
                raise field_errors(errors)
            obj = dict(old)
            for k, v in body.items():
                if k == key or k in READ_ONLY_ON_UPDATE:
                    continue
                if k.startswith("custom."):
                    self.apply_custom(obj, k, v)
                else:
                    obj[k] = v
            self.stamp_now(coll, obj, user_id, create=False)
            self.derive(coll, obj, user_id)
            self.st.objs[coll.name][oid] = obj
            self.st.bump(coll.name)
            return 200, self.present(coll.name, obj, None)

    def do_delete(self, coll, oid):
        with self.st.lock:
            if oid not in self.st.objs[coll.name]:
                raise ApiError(404, {"error": EMPTY_QUERY_TEXT % coll.model})
            del self.st.objs[coll.name][oid]
            self.st.bump(coll.name)
            if coll.name == "lead":
                # Deleting a lead deletes its contacts, opportunities, tasks,
                # activities and other children (the event log stays).
                for name, objs in self.st.objs.items():
                    if name in CASCADE_SKIP:
                        continue
                    doomed = [k for k, o in objs.items() if o.get("lead_id") == oid]
                    for k in doomed:
                        del objs[k]
                    if doomed:
                        self.st.bump(name)
        if coll.delete_status == 204:
            return 204, None
        return coll.delete_status, {}


# ---------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------
def parse_auth(header, keys):
    """('basic-ok'|'basic-bad'|'none', key or None)"""
    if header is None:
        return "none", None
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return "basic-bad", None
    try:
        decoded = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "basic-bad", None
    user, sep, password = decoded.partition(":")
    if sep and password == "" and user in keys:
        return "basic-ok", user
    return "basic-bad", None


class RawJSON(bytes):
    """An already serialized JSON body."""


class Headers(dict):
    """Request headers: case-insensitive get(), last value wins.  Replaces
    the email-parser based http.client.parse_headers, which costs more than
    the rest of a GET-by-id."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return dict.get(self, name.lower())

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "close-emulator/1.0"
    sys_version = ""
    timeout = 900           # idle keep-alive connections are closed after this

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_id = self.server.next_conn_id()
        self._entry = None

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request with a fast header parser."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) == 0:
            return False
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, "Bad request syntax (%r)" % requestline)
            return False
        command, path, version = words
        try:
            major, minor = version[5:].split(".", 1)
            ver = (int(major), int(minor))
        except ValueError:
            self.send_error(400, "Bad request version (%r)" % version)
            return False
        if ver >= (2, 0):
            self.send_error(505, "Invalid HTTP version (%s)" % version)
            return False
        self.command, self.path, self.request_version = command, path, version
        headers = Headers()
        while True:
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            if len(headers) > 200:
                self.send_error(431, "Too many headers")
                return False
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if sep:
                dict.__setitem__(headers, name.strip().lower(), value.strip())
        self.headers = headers
        conntype = headers.get("connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif ver >= (1, 1) or conntype == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and ver >= (1, 1):
            if not self.handle_expect_100():
                return False
        return True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s [conn %d] %s\n" % (self.log_date_time_string(), self.conn_id, fmt % args))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = \
        lambda self: self.dispatch()

    # -- I/O helpers -----------------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:                 # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = self.headers.get("Content-Length")
        if n:
            n = int(n)
            return self.rfile.read(n) if n > 0 else b""
        return b""

    def build_response(self, status, body=b"", headers=(), content_type="application/json"):
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Date: " + self.server.http_date(),
                 "Server: " + self.server_version]
        names = {h[0].lower() for h in headers}
        if status != 204 and not 100 <= status < 200 and status != 304:
            lines.append("Content-Length: %d" % len(body))
            if content_type and "content-type" not in names:
                lines.append("Content-Type: " + content_type)
        for name, value in headers:
            lines.append("%s: %s" % (name, value))
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if self.command == "HEAD" or status == 204:
            return head, b""
        return head, body

    def finish_entry(self):
        """Complete the current request-log entry before the response goes
        out, so a client holding the response sees a finished entry.  The
        request stays counted in flight until the write is done (api())."""
        entry = self._entry
        if entry is not None:
            self._entry = None
            entry["t_end"] = time.time()

    def send(self, status, body=b"", headers=(), content_type="application/json", truncate=False):
        head, body = self.build_response(status, body, headers, content_type)
        self.finish_entry()
        if truncate:
            self.close_connection = True
            self.wfile.write(head + body[:len(body) // 2])
            self.wfile.flush()
            self.kill_connection()
            return
        self.wfile.write(head + body)

    def kill_connection(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def json_bytes(self, obj):
        ascii_only = self.server.state.config.get("ascii_json", False)
        return json.dumps(obj, ensure_ascii=ascii_only, separators=(", ", ": ")).encode("utf-8")

    # -- dispatch --------------------------------------------------------------
    def dispatch(self):
        # The request line was decoded as ISO-8859-1; undo that so raw
        # (unencoded) UTF-8 in a path reads as text, like Werkzeug does.
        target = self.path.encode("latin-1", "replace").decode("utf-8", "replace")
        if target.startswith(("http://", "https://")):
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        raw_path, _, query = target.partition("?")
        raw_path = raw_path.split("#", 1)[0]
        try:
            body = self.read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            self.send(400, self.json_bytes({"error": "Malformed request body."}))
            return
        if raw_path == CONTROL_PREFIX or raw_path.startswith(CONTROL_PREFIX + "/"):
            try:
                self.control(raw_path, query, body)
            except Exception as e:      # noqa: BLE001 - report, keep serving
                traceback.print_exc()
                self.send(500, self.json_bytes({"error": "emulator error: %r" % e}))
            return
        self.api(raw_path, query, body)

    def api(self, raw_path, query, body):
        st = self.server.state
        method = self.command
        t_start = time.time()
        params = parse_qs(query, keep_blank_values=True) if query else {}
        path = unquote(raw_path, errors="replace")
        ctype = self.headers.get("Content-Type")
        auth, key = parse_auth(self.headers.get("Authorization"), st.keys)
        parsed_body = None
        body_ok = False
        if body:
            try:
                parsed_body = json.loads(body.decode("utf-8"))
                body_ok = True
            except (UnicodeDecodeError, json.JSONDecodeError):
                parsed_body = body.decode("utf-8", "replace")
        entry = {"seq": 0, "method": method, "raw_path": raw_path, "path": path,
                 "query": query, "params": params, "body": parsed_body,
                 "content_type": ctype, "auth": auth, "connection": self.conn_id,
                 "status": None, "in_flight": 0, "t_start": t_start, "t_end": None}
        override = self.headers.get("X-HTTP-Method-Override")
        if override:
            entry["method_override"] = override.upper()
        st.log_start(entry)
        self._entry = entry
        try:
            self.api_inner(st, entry, method, raw_path, query, params, path, body, body_ok,
                           parsed_body, ctype, auth, key, override)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:      # noqa: BLE001
            traceback.print_exc()
            entry["status"] = 500
            try:
                self.send(500, self.json_bytes({"error": "emulator error: %r" % e}))
            except OSError:
                self.close_connection = True
        finally:
            self.finish_entry()
            st.log_end()

    def api_inner(self, st, entry, method, raw_path, query, params, path, body, body_ok,
                  parsed_body, ctype, auth, key, override):
        fault = st.take_fault(method, path)
        latency = st.config.get("latency_ms") or 0
        if latency:
            time.sleep(latency / 1000.0)
        truncate = False
        if fault:
            entry["fault"] = {k: v for k, v in fault.items() if k not in ("times",)}
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault.get("drop"):
                self.kill_connection()
                return
            if fault.get("hang"):
                self.hang(float(fault.get("seconds", 300)))
                self.kill_connection()
                return
            if "status" in fault:
                fbody = fault.get("body", b"")
                if isinstance(fbody, (dict, list)):
                    fbody = json.dumps(fbody).encode()
                elif isinstance(fbody, str):
                    fbody = fbody.encode("utf-8")
                hdrs = list((fault.get("headers") or {}).items())
                entry["status"] = int(fault["status"])
                self.send(int(fault["status"]), fbody, hdrs)
                return
            truncate = bool(fault.get("truncate"))

        status, out, headers = self.api_response(st, entry, method, raw_path, query, params,
                                                 body, body_ok, parsed_body, ctype, auth, key, override)
        entry["status"] = status
        if status == 204:
            payload = b""
        elif isinstance(out, bytes):
            payload = out
        else:
            payload = self.json_bytes(out)
        ctype_out = "text/html; charset=utf-8" if isinstance(out, bytes) and \
            not isinstance(out, RawJSON) else "application/json"
        self.send(status, payload, headers, ctype_out, truncate=truncate)

    def api_response(self, st, entry, method, raw_path, query, params, body, body_ok,
                     parsed_body, ctype, auth, key, override):
        api = self.server.api
        max_url = st.config.get("max_url_length") or 0
        if max_url and len(self.path) > max_url:
            return 414, {"error": "Request-URI Too Long"}, []
        route = api.resolve(raw_path) if raw_path.startswith(API_PREFIX + "/") else None
        eff_method = method
        if override and method == "POST":
            eff_method = override.upper()
        if route is None:
            group = "%s <unknown>" % method
            return self.finish_error(st, key, group, ApiError(404, {"error": NOT_FOUND_TEXT}))
        if route[0] == "redirect":
            loc = "%s://%s%s/" % (self.server.scheme, self.host(), raw_path)
            if query:
                loc += "?" + query
            html = ('<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n'
                    '<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: '
                    '<a href="%s">%s</a>. If not, click the link.\n' % (loc, loc)).encode()
            return 301, html, [("Location", loc)]
        if route[0] in ("me", "search"):
            return self.outside_catalog(st, entry, route[0], eff_method, auth, key, ctype,
                                        body_ok, parsed_body)
        coll = route[1]
        if route[0] == "collection":
            group = "%s /%s/" % (eff_method, coll.name)
            op = {"GET": "list", "POST": "create"}.get(eff_method)
        else:
            group = "%s /%s/{%s}/" % (eff_method, coll.name, coll.id_param)
            op = {"GET": "get", "PUT": "update", "DELETE": "delete"}.get(eff_method)
        entry["group"] = group
        if op is None or not coll.ops[op]:
            allow = [m for m, o in (("GET", "list"), ("POST", "create")) if coll.ops[o]] \
                if route[0] == "collection" else \
                [m for m, o in (("GET", "get"), ("PUT", "update"), ("DELETE", "delete")) if coll.ops[o]]
            err = ApiError(405, {"error": METHOD_NOT_ALLOWED_TEXT},
                           [("Allow", ", ".join(allow + ["OPTIONS"] if allow else ["OPTIONS"]))])
            return self.finish_error(st, key, group, err)
        refusal, rl_header = self.admit(st, key, auth, group)
        if refusal:
            return refusal
        user_id = self.user_for_key(st, key)
        try:
            if op in ("create", "update"):
                self.require_json_object(ctype, body_ok, parsed_body)
            if op == "list":
                if eff_method != method:
                    # POST + X-HTTP-Method-Override: GET: filters in {"_params": {...}}
                    if isinstance(parsed_body, dict) and isinstance(parsed_body.get("_params"), dict):
                        params = dict(params)
                        for k, v in parsed_body["_params"].items():
                            if isinstance(v, list):
                                v = ",".join(str(x) for x in v)
                            elif isinstance(v, bool):
                                v = "true" if v else "false"
                            params[k] = [str(v)]
                        entry["effective_params"] = params
                status, out = api.do_list(coll, params, entry)
                headers = []
            elif op == "get":
                status, out = self.cached_get(st, api, coll, route[2], params)
                headers = []
            elif op == "create":
                status, out, headers = api.do_create(coll, parsed_body, user_id, self.host(), self.server.scheme)
            elif op == "update":
                status, out = api.do_update(coll, route[2], parsed_body, user_id)
                headers = []
            else:
                status, out = api.do_delete(coll, route[2])
                headers = []
        except ApiError as e:
            return e.status, e.body, [rl_header] + e.headers
        return status, out, [rl_header] + headers

    def outside_catalog(self, st, entry, kind, method, auth, key, ctype, body_ok, parsed_body):
        """GET /me/ (the user behind the API key) and POST /data/search/ (Close's
        Advanced Filtering, emulator_search.py): 405, 401 and the rate limit as
        on catalog routes, each its own endpoint group, then the answer."""
        name, allowed = {"me": ("me", "GET"), "search": ("data/search", "POST")}[kind]
        group = "%s /%s/" % (method, name)
        entry["group"] = group
        if method != allowed:
            return self.finish_error(st, key, group, ApiError(
                405, {"error": METHOD_NOT_ALLOWED_TEXT}, [("Allow", allowed + ", OPTIONS")]))
        refusal, rl_header = self.admit(st, key, auth, group)
        if refusal:
            return refusal
        if kind == "me":
            return 200, self.me(st, key), [rl_header]
        try:
            self.require_json_object(ctype, body_ok, parsed_body)
            status, out = self.server.search.handle(parsed_body, self.headers,
                                                    self.user_for_key(st, key), entry)
        except ApiError as e:
            return e.status, e.body, [rl_header] + e.headers
        return status, out, [rl_header]

    def admit(self, st, key, auth, group):
        """(refusal, RateLimit header): the 401 or 429 response a request to
        group gets before its operation runs (else None), and the header."""
        if auth != "basic-ok":
            return self.finish_error(st, key, group, ApiError(401, {"error": UNAUTHORIZED_TEXT})), None
        ok, limit, remaining, reset = st.rate_check(key, group)
        rl_header = ("RateLimit", st.rate_header(limit, remaining, reset))
        if not ok:
            return self.rate_limited(st, group, limit, reset, rl_header), rl_header
        return None, rl_header

    @staticmethod
    def require_json_object(ctype, body_ok, parsed_body):
        """415 unless the body is labelled JSON, 400 unless it is a JSON object."""
        if not ctype or ctype.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, {"error": UNSUPPORTED_MEDIA_TEXT})
        if not body_ok:
            raise ApiError(400, {"errors": ["The request body is not valid JSON."],
                                 "field-errors": {}})
        if not isinstance(parsed_body, dict):
            raise ApiError(400, {"errors": ["The request body must be a JSON object."],
                                 "field-errors": {}})

    @staticmethod
    def user_for_key(st, key):
        """The user behind an API key (keys map to users in order)."""
        users = list(st.objs.get("user", {}).keys())
        return users[st.keys.index(key) % len(users)] if users else None

    def cached_get(self, st, api, coll, oid, params):
        """GET by id, serialized once per object version (the JSON encoding
        is most of the cost of a GET)."""
        deps = st.get_deps.get(coll.name)
        if deps is None:
            deps = st.get_deps[coll.name] = (coll.name,) + tuple(
                child for _, child, _ in EMBEDS.get(coll.name, []))
        ascii_only = bool(st.config.get("ascii_json"))
        ckey = (coll.name, oid, tuple(params.get("_fields", ())), ascii_only)
        ver = tuple(st.version.get(d, 0) for d in deps) + (st.generation,)
        hit = st.get_cache.get(ckey)
        if hit is not None and hit[0] == ver:
            return 200, hit[1]
        status, obj = api.do_get(coll, oid, params)
        data = RawJSON(self.json_bytes(obj))
        if len(st.get_cache) > 20000:
            st.get_cache.clear()
        st.get_cache[ckey] = (ver, data)
        return status, data

    @staticmethod
    def rate_limited(st, group, limit, reset, rl_header):
        _, window = st.rate_params(group)
        return 429, {"error": {"message": RATE_LIMIT_TEXT, "rate_reset": round(reset, 6),
                               "rate_limit": limit, "rate_window": window,
                               "rate_limit_type": "key",
                               "rate_endpoint_group": hashlib.md5(group.encode()).hexdigest()}}, \
            [rl_header, ("Retry-After", str(max(1, int(math.ceil(reset)))))]

    @staticmethod
    def me(st, key):
        with st.lock:
            users = list(st.objs.get("user", {}).values())
            orgs = st.objs.get("organization", {})
            if not users:
                return {}
            me = dict(users[st.keys.index(key) % len(users)])
            me["organizations"] = [orgs[o] for o in me.get("organizations", []) if o in orgs]
        me["memberships"] = [m for o in me["organizations"] for m in o.get("memberships", [])
                             if m.get("user_id") == me["id"]]
        me.update({"email_accounts": [], "phone_numbers": [], "last_used_timezone": "Europe/Warsaw"})
        return me

    def finish_error(self, st, key, group, err):
        _, limit, remaining, reset = st.rate_check(key or "", group, consume=False)
        return err.status, err.body, [("RateLimit", st.rate_header(limit, remaining, reset))] + err.headers

    def host(self):
        h = self.headers.get("Host")
        if h:
            return h
        addr = self.server.server_address
        return "%s:%d" % (addr[0], addr[1])

    def hang(self, seconds):
        st = self.server.state
        gen = st.hang_gen
        deadline = time.monotonic() + seconds
        sock = self.connection
        while time.monotonic() < deadline and st.hang_gen == gen and not self.server.stopping:
            try:
                r, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if r:
                try:
                    d = socket.socket.recv(sock, 1, socket.MSG_PEEK)
                except (OSError, ValueError):
                    return
                if not d:
                    return
                time.sleep(0.1)

    # -- control API -------------------------------------------------------------
    def control(self, raw_path, query, body):
        st = self.server.state
        method = self.command
        sub = raw_path[len(CONTROL_PREFIX):].rstrip("/") or "/"
        params = parse_qs(query, keep_blank_values=True) if query else {}

        def reply(obj, status=200):
            self.send(status, self.json_bytes(obj))

        def parsed():
            try:
                return json.loads(body.decode("utf-8")) if body else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ApiError(400, {"error": "control API: body is not valid JSON"})

        try:
            if sub == "/reset" and method == "POST":
                st.reset()
                return reply({"ok": True})
            if sub in ("/health", "/") and method == "GET":
                return reply({"ok": True, "collections": len(st.colls),
                              "logged": len(st.log), "log_dropped": st.log_dropped,
                              "in_flight": st.in_flight})
            if sub == "/requests" and method == "GET":
                since = int(params.get("since", ["0"])[0] or 0)
                with st.lock:
                    out = [dict(e) for e in st.log if e["seq"] > since]
                return reply(out)
            if sub == "/requests/clear" and method == "POST":
                with st.lock:
                    st.log = []
                return reply({"ok": True})
            if sub == "/ids" and method == "GET":
                with st.lock:
                    out = {name: list(objs.keys()) for name, objs in st.objs.items()}
                return reply(out)
            if sub == "/wellknown" and method == "GET":
                return reply(st.wellknown)
            if sub == "/generate" and method == "POST":
                return reply(emulator_generate.generate(st, parsed() or {}, sys.modules[__name__]))
            if sub.startswith("/objects/"):
                name = unquote(sub[len("/objects/"):])
                if name not in st.objs:
                    raise ApiError(404, {"error": "unknown collection %r" % name})
                if method == "GET":
                    with st.lock:
                        out = list(st.objs[name].values())
                    return reply(out)
                if method in ("POST", "PUT"):
                    # Upsert raw objects verbatim (test fixtures), no validation.
                    objs = parsed()
                    objs = objs if isinstance(objs, list) else [objs]
                    kf = st.colls[name].key_field
                    with st.lock:
                        for o in objs:
                            if not isinstance(o, dict) or kf not in o:
                                raise ApiError(400, {"error": "each object needs %r" % kf})
                            st.objs[name][o[kf]] = o
                        st.bump(name)
                    return reply({"ok": True, "count": len(objs)})
            if sub == "/faults":
                if method == "GET":
                    with st.lock:
                        return reply(list(st.faults))
                if method == "DELETE":
                    with st.lock:
                        st.faults = []
                        st.hang_gen += 1
                    return reply({"ok": True})
                if method == "POST":
                    rules = parsed()
                    rules = rules if isinstance(rules, list) else [rules]
                    for r in rules:
                        if not isinstance(r, dict):
                            raise ApiError(400, {"error": "fault rules must be objects"})
                        actions = [a for a in ("status", "delay", "drop", "hang", "truncate") if r.get(a)]
                        if not actions:
                            raise ApiError(400, {"error": "fault rule needs an action: status, delay, drop, hang or truncate"})
                    with st.lock:
                        st.faults.extend(dict(r) for r in rules)
                        n = len(st.faults)
                    return reply({"ok": True, "faults": n})
            if sub == "/config":
                if method == "GET":
                    return reply(st.config)
                if method == "POST":
                    cfg = parsed()
                    if not isinstance(cfg, dict):
                        raise ApiError(400, {"error": "config must be a JSON object"})
                    problem = emulator_search.config_problem(cfg["search"]) if "search" in cfg else None
                    if problem:
                        raise ApiError(400, {"error": problem})
                    with st.lock:
                        for k, v in cfg.items():
                            if isinstance(v, dict) and isinstance(st.config.get(k), dict):
                                st.config[k].update(v)
                            else:
                                st.config[k] = v
                        if "rate_limit" in cfg:
                            st.buckets = {}
                    return reply(st.config)
            raise ApiError(404, {"error": "unknown control route %s %s" % (method, raw_path)})
        except ApiError as e:
            reply(e.body, e.status)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, state, tls_ctx=None, verbose=False):
        self.state = state
        self.api = Api(state)
        self.search = emulator_search.Search(state, self.api, sys.modules[__name__])
        self.tls_ctx = tls_ctx
        self.scheme = "https" if tls_ctx else "http"
        self.verbose = verbose
        self.stopping = False
        self._conn_ids = itertools.count(1)
        self._conn_lock = threading.Lock()
        self._date_cache = (0, "")
        super().__init__(addr, Handler)

    def next_conn_id(self):
        with self._conn_lock:
            return next(self._conn_ids)

    def http_date(self):
        now = int(time.time())
        if self._date_cache[0] != now:
            self._date_cache = (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)))
        return self._date_cache[1]

    def finish_request(self, request, client_address):
        if self.tls_ctx is not None:
            try:
                request.settimeout(30)
                request = self.tls_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Close CRM REST API emulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--keys", default=",".join(DEFAULT_KEYS),
                    help="comma-separated valid API keys")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--catalog", default=DEFAULT_CATALOG)
    ap.add_argument("--log-limit", type=int, default=DEFAULT_CONFIG["log_limit"],
                    help="keep at most this many request-log entries (0: unlimited)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--print-wellknown", action="store_true",
                    help="print the well-known seed ids as JSON and exit")
    args = ap.parse_args(argv)

    keys = [k for k in args.keys.split(",") if k]
    DEFAULT_CONFIG["log_limit"] = args.log_limit
    colls = load_catalog(args.catalog)
    state = State(colls, args.seed, keys)
    if args.print_wellknown:
        print(json.dumps(state.wellknown, indent=1, ensure_ascii=False))
        return 0
    tls_ctx = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            ap.error("--tls-cert and --tls-key go together")
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    host = args.host
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    httpd = Server((host, args.port), state, tls_ctx, args.verbose)
    port = httpd.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("close emulator listening on %s://%s:%d (%d collections)\n"
                     % (httpd.scheme, host, port, len(colls)))
    sys.stderr.flush()

    def stop(signum, frame):
        httpd.stopping = True
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
