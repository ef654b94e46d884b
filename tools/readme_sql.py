#!/usr/bin/env python3
"""Extract the SQL examples of README.md as one psql script.

Every ```sql block of the README is an example a user may paste.  The
regression suites run them (sql/readme.sql: all of them but the pg_cron
section, in a fresh database; sql/cron.sql: the pg_cron section) against the
Close emulator, so that each example is known to work and its output is
compared like any other test.  Two substitutions point the examples at the
emulator instead of Close, and a third makes EXPLAIN print the same on every
PostgreSQL version; nothing else is changed:

  CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw;
      gets OPTIONS (base_url :'api_url')     (psql variable: the emulator)
  'api_XXXXXXXX'                             (the README's placeholder key)
      becomes :'api_key'                     (psql variable: a test key)
  EXPLAIN (OPTIONS) QUERY;
      becomes SELECT * FROM explain_stable('OPTIONS', $$QUERY$$);
                                             (test/explain_stable.sql)

A block right after a line "<!-- not run: REASON -->" is left out.

    python3 tools/readme_sql.py [--section TITLE]... [--skip-section TITLE]...
                                [README.md]

--section keeps only the blocks under the "## TITLE" headings given;
--skip-section drops those under the headings given.  Each block is preceded
by a comment naming its section.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(os.path.dirname(HERE), "README.md")

SUBSTITUTIONS = [
    ("CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw;",
     "CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');"),
    ("'api_XXXXXXXX'", ":'api_key'"),
]

# an EXPLAIN statement: its options, if any, and its query
EXPLAIN = re.compile(r"^EXPLAIN(?: \(([^)]*)\))?\s+(.*?);[ \t]*$", re.M | re.S)


def stable_explains(sql):
    """sql with every EXPLAIN run through explain_stable()."""
    return EXPLAIN.sub(lambda m: "SELECT * FROM explain_stable('%s', $$\n%s$$);"
                       % (m.group(1) or "", m.group(2)), sql)


def blocks(text):
    """(section title, sql text) for every ```sql block, in order."""
    section = ""
    skip_next = False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.strip().startswith("<!-- not run:"):
            skip_next = True
        elif line.strip() == "```sql":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                sys.exit("readme_sql: unterminated ```sql block at line %d" % (i + 1))
            if not skip_next:
                yield section, "\n".join(lines[i + 1:j])
            skip_next = False
            i = j
        elif line.strip().startswith("```"):
            skip_next = False
        i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("readme", nargs="?", default=README)
    ap.add_argument("--section", action="append", default=[])
    ap.add_argument("--skip-section", action="append", default=[])
    args = ap.parse_args()
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    headings = set(re.findall(r"^## (.*?)\s*$", text, re.M))
    for title in args.section + args.skip_section:
        if title not in headings:
            sys.exit("readme_sql: README has no section \"## %s\"" % title)
    out = []
    for section, sql in blocks(text):
        if args.section and section not in args.section:
            continue
        if section in args.skip_section:
            continue
        for old, new in SUBSTITUTIONS:
            sql = sql.replace(old, new)
        sql = stable_explains(sql)
        out.append("-- README.md, %s\n%s\n" % (section, sql))
    if not out:
        sys.exit("readme_sql: no SQL examples selected")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
