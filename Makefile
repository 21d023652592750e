# docsync - build, test and run the local stack.
#
#   make            build every binary into bin/
#   make test       install what is missing, start the stack, run all tests
#   make demo       run the samples through the whole pipeline
#   make chaos      1000 documents through a stack under kills, restarts and
#                   HTTP faults; make chaos-short: 250, as `make test` runs it
#   make up / down  start / stop the local stack (Kafka, Redis, sandbox, stages)
#   make lint       fail on C lines wider than 100 columns

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
BINS       := $(STAGES:%=bin/docsync-%) bin/docsync-sandbox
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SANDBOX_SRC := $(wildcard tests/sandbox/*.c)

.PHONY: all lint test unit e2e setup up down demo chaos chaos-short clean
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

# Unit tests link the handler sources they test; see tests/unit/README.md.
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

test: setup
	@scripts/test-all.sh

up: setup all
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

demo: setup all
	@scripts/demo.sh

chaos: setup all
	@scripts/chaos.sh

chaos-short: setup all
	@scripts/chaos.sh --short

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
