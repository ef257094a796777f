# shadowproxy: one Makefile, pkg-config for every library.
#   make          build ./shadowproxy (installs missing Debian packages as root)
#   make test     unit tests, end-to-end tests, both again under ASan+UBSan,
#                 a short run of every fuzzer, the core e2e tests under valgrind
#   make demo     two stub ERPs + shadowproxy + a little traffic + a summary
#   make bench    throughput/latency table against direct and nginx (not in test)
#   make soak     minutes of mixed traffic with a faulty shadow: lost records, RSS, fds
#   make certs    a local dev CA and TLS certificates in certs/ (certs/README.md)
#   make install  PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc  (docs/deploy.md)

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PYTHON  ?= /usr/bin/python3
VERSION := 0.1.0

# Debian 12 packages: to build, to test, to benchmark.
BUILD_DEBS := gcc make pkg-config libmicrohttpd-dev libcurl4-openssl-dev \
              libjansson-dev libuv1-dev libssl-dev zlib1g-dev libxml2-dev \
              libgnutls28-dev
TEST_DEBS  := python3 python3-pytest python3-pytest-xdist curl jq openssl chromium chromium-driver prometheus \
              docker-compose python3-yaml man-db groff-base systemd etcd-server wrk
BENCH_DEBS := wrk nginx-light

PKGS := libmicrohttpd libcurl jansson libuv openssl zlib libxml-2.0 gnutls
# Recursive (=) so pkg-config runs after the deps stamp has installed them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lpthread -lm

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla
CSTD     := -std=c11 -D_GNU_SOURCE
OPT      ?= -O2 -g
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -DSP_VERSION='"$(VERSION)"' $(PKG_CFLAGS) $(CFLAGS)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Sources by layer folder (docs/architecture.md); main.c sits on top.
LAYERS   := base conf diff obs data ctrl admin app tools tools/report tools/readiness
SRC      := $(foreach d,$(LAYERS),$(wildcard proxy/$(d)/*.c)) proxy/main.c
LIB_SRC  := $(filter-out proxy/main.c,$(SRC))
OBJ      := $(SRC:proxy/%.c=build/obj/%.o)
LIB_OBJ  := $(LIB_SRC:proxy/%.c=build/obj/%.o)
ASAN_OBJ := $(SRC:proxy/%.c=build/asan/%.o)
ASAN_LIB := $(LIB_SRC:proxy/%.c=build/asan/%.o)
# -MMD: each object's header dependencies, read back below.
DEPFLAGS  = -MMD -MP
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/unit/%)
UNIT_ASAN:= $(UNIT_SRC:tests/unit/%.c=build/unit-asan/%)
STUB_SRC := $(wildcard tests/stub/*.c)

.PHONY: all deps test-deps bench-deps test unit unit-asan e2e e2e-asan asan \
        demo bench soak install uninstall clean format certs check-layers

all: shadowproxy build/sp-stub

# --- dependencies -----------------------------------------------------------
# Installs what is missing when run as root; otherwise says what to install.
define ensure_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi
endef

build/.deps:
	$(call ensure_debs,$(BUILD_DEBS))
	@mkdir -p build && touch $@
# Checked again when the Makefile changes (a package added to TEST_DEBS, like
# python3-pytest-xdist, reaches trees that already have the stamp).
build/.test-deps: Makefile | build/.deps
	$(call ensure_debs,$(TEST_DEBS))
	@touch $@
build/.bench-deps: | build/.deps
	$(call ensure_debs,$(BENCH_DEBS))
	@touch $@
deps: build/.deps
test-deps: build/.test-deps
bench-deps: build/.bench-deps

# --- build ------------------------------------------------------------------
build/obj/%.o: proxy/%.c | build/.deps build/.layers-ok
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Iproxy -c $< -o $@

build/asan/%.o: proxy/%.c | build/.deps build/.layers-ok
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Iproxy $(SAN) -DSP_DEBUG -O1 -c $< -o $@

# Includes go only downwards through the layers (tests/check-layers.sh):
# checked before anything compiles, again whenever a source changes.
build/.layers-ok: tests/check-layers.sh $(SRC) $(wildcard proxy/*/*.h proxy/*/*/*.h) | build/.deps
	@sh tests/check-layers.sh proxy
	@touch $@
check-layers:
	@sh tests/check-layers.sh proxy

shadowproxy: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/shadowproxy-asan: $(ASAN_OBJ)
	$(CC) $(SAN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
asan: build/shadowproxy-asan build/sp-stub

build/sp-stub: $(STUB_SRC) tests/stub/stub.h | build/.deps
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(OPT) $(CFLAGS) -o $@ $(STUB_SRC) $(shell pkg-config --cflags --libs zlib openssl) -lpthread

build/unit/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Iproxy -o $@ $< $(LIB_OBJ) $(PKG_LIBS)

build/unit-asan/%: tests/unit/%.c $(ASAN_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) $(SAN) -DSP_DEBUG -Iproxy -o $@ $< $(ASAN_LIB) $(PKG_LIBS)

build/diffbench: bench/diffbench.c $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -Iproxy -o $@ $< $(LIB_OBJ) $(PKG_LIBS)

certs:
	@sh certs/make-certs.sh

# --- tests ------------------------------------------------------------------
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

unit-asan: $(UNIT_ASAN)
	@set -e; for t in $(UNIT_ASAN); do echo "== $$t"; $$t; done

# The e2e suite runs in E2E_JOBS pytest-xdist workers (default 2), a whole
# test file per worker at a time (--dist loadfile: a file's module fixtures
# start once and its tests keep their order). The suite mostly waits on
# sockets and timers (about a third of one core on its own), so two workers
# nearly halve it. E2E_JOBS=1: one process, no xdist.
E2E_JOBS ?= 2
E2E_XDIST = $(if $(filter-out 0 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadfile)
PYTEST_E2E = $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST)

e2e: shadowproxy build/sp-stub build/.test-deps
	cd tests/e2e && SP_BIN=$(CURDIR)/shadowproxy SP_STUB=$(CURDIR)/build/sp-stub \
	  $(PYTEST_E2E) .

e2e-asan: build/shadowproxy-asan build/sp-stub build/.test-deps
	cd tests/e2e && SP_BIN=$(CURDIR)/build/shadowproxy-asan SP_STUB=$(CURDIR)/build/sp-stub \
	  SP_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTEST_E2E) .

# Everything is built first, in parallel (one job per core); then the stages
# run in order, the first failing one stopping the rest, each timed by
# tests/side-by-side.sh. unit-asan and fuzz-smoke (short, CPU bound) run
# alongside e2e (wall-clock bound); a side stage's log is printed if it
# fails. e2e-asan and e2e-valgrind run alone: ASan and memcheck slow the
# proxy enough that its timing tests want the spare CPU.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
STAGE = MAKE="$(MAKE)" sh tests/side-by-side.sh
test: build/.test-deps
	$(MAKE) check-layers
	$(MAKE) -j$(TEST_JOBS) shadowproxy build/sp-stub build/shadowproxy-asan $(UNIT_BIN) \
	  $(UNIT_ASAN) fuzz-build
	@$(STAGE) unit
	@FUZZ_SMOKE_SECONDS=5 $(STAGE) e2e unit-asan fuzz-smoke
	@$(STAGE) e2e-asan
	@$(STAGE) e2e-valgrind

# libFuzzer drivers (make fuzz, fuzz-smoke, fuzz-regress) and the e2e suite
# under valgrind (e2e-valgrind, e2e-valgrind-full): docs/testing.md.
include tests/fuzz/fuzz.mk
include tests/valgrind.mk

# --- demo and bench ---------------------------------------------------------
demo: shadowproxy build/sp-stub build/.test-deps
	@./tests/demo.sh

bench: shadowproxy build/sp-stub build/diffbench build/.bench-deps build/.test-deps
	@./bench/run.sh
	@echo; echo "JSON comparison throughput (build/diffbench):"; build/diffbench
	@echo; echo "memory per in-flight exchange (bench/memory.py):"; $(PYTHON) bench/memory.py

# Minutes of mixed traffic under faults (bench/soak.py): SOAK_SECONDS, SOAK_RATE.
soak: shadowproxy build/sp-stub build/.test-deps
	$(PYTHON) bench/soak.py --seconds $${SOAK_SECONDS:-180} --rate $${SOAK_RATE:-200}

# --- install ----------------------------------------------------------------
# Binary, man page, rules schema and examples, config example, docs, and the
# systemd unit (its paths follow PREFIX and SYSCONFDIR). Files under
# SYSCONFDIR (the unit's config, the logrotate snippet) are installed only
# when absent, so a reinstall keeps local edits; uninstall leaves them.
SYSCONFDIR ?= /etc
BINDIR     := $(PREFIX)/bin
DATADIR    := $(PREFIX)/share/shadowproxy
DOCDIR     := $(PREFIX)/share/doc/shadowproxy
MAN1DIR    := $(PREFIX)/share/man/man1
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: shadowproxy
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(DATADIR)/rules/examples \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/shadowproxy \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 shadowproxy $(DESTDIR)$(BINDIR)/shadowproxy
	sed 's|/usr/local|$(PREFIX)|g' docs/shadowproxy.1 >$(DESTDIR)$(MAN1DIR)/shadowproxy.1
	chmod 0644 $(DESTDIR)$(MAN1DIR)/shadowproxy.1
	install -m 0644 docs/config.example.json $(DESTDIR)$(DATADIR)/config.example.json
	install -m 0644 rules/rules.schema.json $(DESTDIR)$(DATADIR)/rules/rules.schema.json
	install -m 0644 rules/examples/*.json $(DESTDIR)$(DATADIR)/rules/examples/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' deploy/shadowproxy.service.in \
	  >$(DESTDIR)$(UNITDIR)/shadowproxy.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/shadowproxy.service
	@set -e; for f in shadowproxy/config.json:deploy/config.systemd.json logrotate.d/shadowproxy:deploy/logrotate; do \
	  dst=$(DESTDIR)$(SYSCONFDIR)/$${f%%:*}; src=$${f#*:}; \
	  if [ -e "$$dst" ]; then echo "kept $$dst (exists; the new one is $$src)"; \
	  else echo "install -m 0644 $$src $$dst"; install -m 0644 "$$src" "$$dst"; fi; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/shadowproxy $(DESTDIR)$(MAN1DIR)/shadowproxy.1 \
	      $(DESTDIR)$(UNITDIR)/shadowproxy.service
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/shadowproxy and $(DESTDIR)$(SYSCONFDIR)/logrotate.d/shadowproxy (local config)"

format:
	clang-format -i $(SRC) $(wildcard proxy/*/*.h proxy/*/*/*.h) tests/unit/*.c tests/stub/*.c

clean:
	rm -rf build/obj build/asan build/unit build/unit-asan build/sp-stub build/.layers-ok \
	       build/shadowproxy-asan build/fuzz build/valgrind build/diffbench shadowproxy

# The dashboard page is assembled into the binary (.incbin): rebuild on edits.
build/obj/admin/dashboard_asset.o build/asan/admin/dashboard_asset.o: proxy/admin/dashboard.html

# Header dependencies recorded by -MMD.
-include $(shell find build -name '*.d' 2>/dev/null)
