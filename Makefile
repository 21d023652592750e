# docsync - build, test and run the local stack.
#
#   make            build every binary into bin/
#   make test       install what is missing, start the stack, run all tests
#   make demo       run the samples through the whole pipeline
#   make demo-strict  the same against OAuth2 (30 s tokens, rotating refresh
#                   tokens) and 20 requests/s per API, two fetchers and two
#                   uploaders; make demo-poll: that with ingest polling
#   make chaos      1000 documents through a stack under kills, restarts and
#                   HTTP faults; make chaos-short: 250, as `make test` runs it
#   make bench-large  one 1 GiB file through docsync and through a bare GET
#                   and POST: speeds and each stage's peak RSS (BENCH_SIZE_MB)
#   make up / down  start / stop the local stack (Kafka, Redis, sandbox, stages)
#   make lint       fail on C lines wider than 100 columns, on reasons not in
#                   common/ds_reason.c, on reasons missing from the README

VERSION  := 0.1.0
CC       ?= cc
PKGS     := rdkafka libcurl jansson hiredis libmicrohttpd libcrypto
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
            -DDS_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
BUILD    := build

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libdocsync.a
STAGES     := ingest fetcher mapper uploader verifier
CTL_SRC    := $(wildcard ctl/*.c)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/%.o)
# What the ctl unit tests link: everything of ctl/ but its main().
CTL_LIB_OBJ := $(filter-out $(BUILD)/ctl/docsyncctl.o,$(CTL_OBJ))
BINS       := $(STAGES:%=bin/docsync-%) bin/docsync-sandbox bin/docsyncctl
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SANDBOX_SRC := $(wildcard tests/sandbox/*.c)

.PHONY: all lint test unit e2e sandbox-test setup up down demo demo-strict demo-poll chaos chaos-short bench-large clean
all: $(BINS)

$(BUILD)/%.o: %.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Each stage is one file: ingest/ingest.c and so on.
define stage_rule
bin/docsync-$(1): $(BUILD)/$(1)/$(1).o $(LIB)
	@mkdir -p bin
	$$(CC) $$(CFLAGS) -o $$@ $$< $(LIB) $$(LDLIBS)
endef
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

bin/docsync-sandbox: $(SANDBOX_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS)

# The operators' command: ctl/, one concern per file, on the common library.
bin/docsyncctl: $(CTL_OBJ) $(LIB)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(CTL_OBJ) $(LIB) $(LDLIBS)

# Unit tests link the handler sources they test: a stage test includes its
# stage's file, a ctl test (test_ctl_*) links ctl/ but its main().
$(BUILD)/tests/test_ctl_%: tests/unit/test_ctl_%.c $(CTL_LIB_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -Ictl -MMD -MF $@.d -o $@ $< $(CTL_LIB_OBJ) \
	    $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -MMD -MF $@.d -o $@ $< $(LIB) $(LDLIBS) -lcmocka

lint:
	@scripts/lint.sh

setup:
	@scripts/setup.sh

unit: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

e2e: all
	@tests/e2e/run.sh

# The sandbox's own checks, each against a sandbox it starts.
sandbox-test: bin/docsync-sandbox
	@tests/sandbox/smoke.sh
	@tests/sandbox/chaos.sh
	@tests/sandbox/strict.sh
	@tests/sandbox/modes.sh

test: setup
	@scripts/test-all.sh

up: setup all
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

demo: setup all
	@scripts/demo.sh

demo-strict: setup all
	@DEMO_PROFILE=strict scripts/demo.sh

demo-poll: setup all
	@DEMO_PROFILE=poll scripts/demo.sh

chaos: setup all
	@scripts/chaos.sh

chaos-short: setup all
	@scripts/chaos.sh --short

bench-large: setup all
	@scripts/bench-large.sh

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
