# closecrm_fdw: PGXS build.
MODULE_big = closecrm_fdw
OBJS = \
	src/closecrm_fdw.o \
	src/catalog.o \
	src/catalog_data.o \
	src/option.o \
	src/http.o \
	src/convert.o \
	src/planner.o \
	src/scan.o \
	src/modify.o \
	src/raw.o \
	src/wire.o \
	src/connection.o \
	src/stats.o \
	src/import.o \
	src/xact.o \
	src/ratelimit.o \
	src/analyze.o \
	src/listing.o \
	src/search.o

EXTENSION = closecrm_fdw
# every released version's full script, and the update scripts between them
DATA = closecrm_fdw--0.1.0.sql closecrm_fdw--0.2.0.sql closecrm_fdw--0.3.0.sql \
	closecrm_fdw--0.1.0--0.2.0.sql closecrm_fdw--0.2.0--0.3.0.sql
PGFILEDESC = "closecrm_fdw - foreign-data wrapper for the Close CRM API"

SHLIB_LINK = -lcurl -lcjson
PG_CPPFLAGS = -I$(srcdir)/src

# cron needs pg_cron loaded with cron.database_name=contrib_regression and
# cron.use_background_workers=on (test/lib.sh: CLOSECRM_PG_TEST_OPTS); readme
# and cron run the README's SQL examples (tools/readme_sql.py).
REGRESS = setup options lookup delete raw errors cancel catalog listing pushdown joins search stability limit modify import fields engine upgrade readme cron security badinput faults xact estimates sessions
REGRESS_OPTS = --load-extension=closecrm_fdw

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Regenerate the object catalog from Close's OpenAPI document.
catalog:
	python3 tools/gen_catalog.py

.PHONY: catalog

# every object depends on the shared header
$(OBJS): src/closecrm_fdw.h src/wire.h

# Hardening, not run by CI (each installs what it needs through test/lib.sh):
# libFuzzer harnesses over the PostgreSQL-free parsers in src/wire.c, each run
# for FUZZ_SECONDS (crashes are kept under test/fuzz/regressions/);
# and the regression suites under valgrind memcheck.
FUZZ_SECONDS ?= 60
fuzz:
	bash test/fuzz/run.sh $(FUZZ_SECONDS)

valgrind:
	bash test/valgrind.sh

.PHONY: fuzz valgrind

# the suites, for test/lib.sh's run_suites
print-regress:
	@echo $(REGRESS)

.PHONY: print-regress
