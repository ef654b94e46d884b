"""POST /_emulator/generate: many extra realistic leads for benchmarks and
deep-paging tests, made quickly and deterministically.

Each generated lead copies a seeded lead (status, custom fields, addresses,
creator; taken from the pristine seed, so the output does not depend on what
tests changed) under a new id, a numbered name and a date_created of its own;
its contacts and opportunities copy the template's.  Same body after a reset
-> the same objects; the same body twice -> the same ids, so the second call
replaces the first call's objects.  close_emulator.py passes itself in as
`emu` (fmt_ts, B62, ApiError); the objects go into the state under its lock.
"""

import json
import random
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

UTC = timezone.utc
MAX_COUNT = 200000
DEFAULTS = {"collection": "lead", "count": None, "seed": 1,
            "start": "2023-01-01T00:00:00+00:00", "step_seconds": 600.0,
            "contacts_per_lead": 1, "opportunities_per_lead": 0}


def bad(emu, text):
    return emu.ApiError(400, {"error": "generate: " + text})


def options(spec, emu):
    """The request merged over DEFAULTS, checked."""
    if not isinstance(spec, dict) or set(spec) - set(DEFAULTS):
        raise bad(emu, "body must be an object with keys among %s" % ", ".join(DEFAULTS))
    opt = dict(DEFAULTS, **spec)
    if opt["collection"] != "lead":
        raise bad(emu, "only collection \"lead\" can be generated")
    for k, hi in (("count", MAX_COUNT), ("contacts_per_lead", 20), ("opportunities_per_lead", 20),
                  ("seed", None)):
        v = opt[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (hi is not None and v > hi):
            raise bad(emu, "%s must be an integer 0..%s" % (k, hi or "any"))
    if not isinstance(opt["step_seconds"], (int, float)) or opt["step_seconds"] < 0:
        raise bad(emu, "step_seconds must be a number >= 0")
    try:
        start = datetime.fromisoformat(opt["start"].replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise bad(emu, "start must be an ISO 8601 date-time")
    opt["start"] = start if start.tzinfo else start.replace(tzinfo=UTC)
    return opt


def generate(state, spec, emu):
    """Add the leads (and children) described by spec; returns a summary."""
    opt = options(spec, emu)
    seed = json.loads(state.pristine)
    templates = seed.get("lead") or []
    if not templates:
        raise bad(emu, "no seeded leads to copy")
    kids = {}
    for coll in ("contact", "opportunity"):
        for o in seed.get(coll, []):
            kids.setdefault((coll, o.get("lead_id")), []).append(o)
    rng = random.Random("generate:%d" % opt["seed"])

    def new_id(prefix):
        return prefix + "".join(rng.choice(emu.B62) for _ in range(22))

    made = {"lead": [], "contact": [], "opportunity": []}
    for i in range(opt["count"]):
        tpl = templates[rng.randrange(len(templates))]
        created = opt["start"] + timedelta(seconds=int(i * opt["step_seconds"]),
                                           microseconds=rng.randrange(1000000))
        lead = dict(tpl)
        lead.update({"id": new_id("lead_"), "name": "%s %d" % (tpl.get("name") or "Lead", i + 1),
                     "date_created": emu.fmt_ts(created),
                     "date_updated": emu.fmt_ts(created + timedelta(minutes=rng.randrange(43200)))})
        lead["display_name"] = lead["name"]
        lead["html_url"] = "https://app.close.com/lead/%s/" % quote(lead["id"], safe="")
        made["lead"].append(lead)
        names = []
        first_contact = None
        for coll, per, prefix in (("contact", opt["contacts_per_lead"], "cont_"),
                                  ("opportunity", opt["opportunities_per_lead"], "oppo_")):
            pool = kids.get((coll, tpl["id"])) or kids.get((coll, templates[0]["id"])) or []
            for k in range(per if pool else 0):
                child = dict(pool[k % len(pool)])
                child.update({"id": new_id(prefix), "lead_id": lead["id"],
                              "date_created": emu.fmt_ts(created + timedelta(minutes=5 + k)),
                              "date_updated": emu.fmt_ts(created + timedelta(minutes=6 + k))})
                if coll == "contact":
                    # Unique addresses: exact e-mail searches find one contact.
                    child["emails"] = [dict(e, email=e["email"].replace("@", "+g%d.%d@" % (i + 1, k), 1))
                                       for e in child.get("emails") or [] if isinstance(e, dict) and "@" in
                                       str(e.get("email"))]
                    names.append(child.get("display_name") or "")
                    first_contact = first_contact or child["id"]
                else:
                    child.update({"lead_name": lead["name"], "contact_id": first_contact})
                made[coll].append(child)
        lead["contacts_summary"] = ", ".join(n for n in names if n)
    with state.lock:
        for coll, objs in made.items():
            if objs:
                for o in objs:
                    state.objs[coll][o["id"]] = o
                state.bump(coll)
    out = {"ok": True, "leads": len(made["lead"]), "contacts": len(made["contact"]),
           "opportunities": len(made["opportunity"])}
    if made["lead"]:
        out.update({"first_id": made["lead"][0]["id"], "last_id": made["lead"][-1]["id"],
                    "first_date_created": made["lead"][0]["date_created"],
                    "last_date_created": made["lead"][-1]["date_created"]})
    return out
