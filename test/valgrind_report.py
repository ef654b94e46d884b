#!/usr/bin/env python3
"""Summarise the valgrind logs of `make valgrind` (test/valgrind.sh).

    python3 test/valgrind_report.py LOG_DIR

Counts the error and definite-leak records of every process log and prints
in full those whose stack passes through closecrm_fdw (its .so or one of its
source files).  Exit status 1 if there is any.
"""
import glob, os, re, sys

logs = sorted(glob.glob(os.path.join(sys.argv[1], "*.log")))
# a frame in closecrm_fdw.so, or in one of its source files
ours = re.compile(r"closecrm_fdw\.so|\b(catalog|catalog_data|closecrm_fdw|connection|convert|http|"
                  r"import|modify|option|planner|raw|scan|stats|wire)\.c:\d+")
records = []
for path in logs:
    text = open(path, errors="replace").read()
    cur = []
    for line in text.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if body.strip() == "" or line.startswith("{") or not line.startswith("=="):
            if cur:
                records.append((path, cur))
                cur = []
            continue
        cur.append(body)
    if cur:
        records.append((path, cur))
kinds = {}
attributable = []
for path, rec in records:
    head = rec[0]
    if not (re.search(r"Invalid|uninitialised|Uninitialised|definitely lost|Mismatched|overlap|free\(\)|Syscall param", head)):
        continue
    kind = re.sub(r" in loss record .*| of size \d+", "", head)[:70]
    kinds[kind] = kinds.get(kind, 0) + 1
    if any(ours.search(l) for l in rec):
        attributable.append((path, rec))
print("valgrind: %d process logs, %d error/leak records in all, %d through closecrm_fdw"
      % (len(logs), sum(kinds.values()), len(attributable)))
for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print("  %5d  %s" % (v, k))
for path, rec in attributable:
    print("---- %s" % os.path.basename(path))
    print("\n".join(rec[:45]))
sys.exit(1 if attributable else 0)
