# tests/fuzz/fuzz.mk: libFuzzer drivers for the pure modules (docs/testing.md).
# Included by the main Makefile (after its variables); on its own:
#   make -f Makefile -f tests/fuzz/fuzz.mk fuzz-smoke
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZERS="rules compare"]
#                   each driver FUZZ_SECONDS on build/fuzz/corpus/NAME, a copy
#                   of tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME
#                   (new inputs stay in build/; the repository's corpus is
#                   read, never written)
#   make fuzz-regress
#                   each driver once over its seed corpus and its regression
#                   inputs (tests/fuzz/regressions/NAME: inputs that crashed)
#   make fuzz-smoke fuzz-regress, then each driver FUZZ_SMOKE_SECONDS (10) from
#                   its seeds (build/fuzz/smoke/NAME, emptied first)
#
# A crash, leak, UB report or timeout stops the run with the input in
# build/fuzz/crashes/NAME/ (crash-*, leak-*, timeout-*): fix the bug, then
# keep the input as tests/fuzz/regressions/NAME/<what-it-was>.
#
# clang 14 with compiler-rt (libFuzzer ships in libclang-rt-14-dev). The
# proxy objects get coverage instrumentation and ASan+UBSan
# (-fsanitize=fuzzer-no-link,...) in build/fuzz/obj; only the drivers link
# libFuzzer's main.

FUZZ_DEBS     ?= clang-14 libclang-rt-14-dev
FUZZ_CC       ?= clang-14
FUZZERS       ?= rules compare logread headers config jsonfast h1parse
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 10
# Flags for every libFuzzer run: a slow input is a bug (quadratic
# blow-ups), and so is a leak.
FUZZ_FLAGS    ?= -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS    = $(CSTD) -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla \
                 -O1 -g -DSP_VERSION='"$(VERSION)"' -DSP_FUZZING -DSP_DEBUG $(PKG_CFLAGS)
FUZZ_OBJ      := $(LIB_SRC:proxy/%.c=build/fuzz/obj/%.o)
FUZZ_BIN      := $(FUZZERS:%=build/fuzz/fuzz_%)
# The drivers may only open regular files outside /proc, /sys and /dev (a
# rules or config file names secret and certificate files: a FIFO or
# /dev/stdin would block the run): tests/fuzz/fuzz_common.h wraps open().
FUZZ_LDFLAGS  := -Wl,--wrap=open

.PHONY: fuzz fuzz-build fuzz-regress fuzz-smoke fuzz-deps

build/.fuzz-deps: | build/.deps
	$(call ensure_debs,$(FUZZ_DEBS))
	@touch $@
fuzz-deps: build/.fuzz-deps

build/fuzz/obj/%.o: proxy/%.c | build/.deps build/.fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -Iproxy $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/obj/admin/dashboard_asset.o: proxy/admin/dashboard.html

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) | build/.fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -Iproxy -o $@ $< \
	  $(FUZZ_OBJ) $(FUZZ_LDFLAGS) $(PKG_LIBS)

# Kept between runs (only pattern rules name them).
.SECONDARY: $(FUZZ_OBJ)

fuzz-build: $(FUZZ_BIN)

# One driver over its seeds and regression inputs, once (-runs=0: no
# mutation, only what is given).
fuzz-regress: $(FUZZ_BIN)
	@set -e; for f in $(FUZZERS); do \
	  dirs="tests/fuzz/corpus/$$f"; \
	  [ -d tests/fuzz/regressions/$$f ] && dirs="$$dirs tests/fuzz/regressions/$$f"; \
	  echo "== fuzz-regress $$f: $$(cat $$(for d in $$dirs; do find $$d -type f; done) /dev/null | wc -c) bytes in $$(find $$dirs -type f | wc -l) inputs"; \
	  mkdir -p build/fuzz/crashes/$$f; \
	  build/fuzz/fuzz_$$f $(FUZZ_FLAGS) -runs=0 -artifact_prefix=build/fuzz/crashes/$$f/ \
	    $$dirs >build/fuzz/regress-$$f.log 2>&1 || { tail -n 60 build/fuzz/regress-$$f.log; exit 1; }; \
	done; echo "fuzz-regress: every input passes"

# $(1): seconds per driver; $(2): the corpus root (build/fuzz/corpus keeps
# growing between `make fuzz` runs; the smoke run starts from the seeds
# each time, so it takes the same time whatever ran before).
define fuzz_run
	@set -e; for f in $(FUZZERS); do \
	  c=$(2)/$$f; mkdir -p $$c build/fuzz/crashes/$$f; \
	  cp -n tests/fuzz/corpus/$$f/* $$c/ 2>/dev/null || true; \
	  [ -d tests/fuzz/regressions/$$f ] && cp -n tests/fuzz/regressions/$$f/* $$c/ 2>/dev/null || true; \
	  echo "== fuzz $$f: $(1) s, corpus $$c ($$(ls $$c | wc -l) inputs)"; \
	  build/fuzz/fuzz_$$f $(FUZZ_FLAGS) -max_total_time=$(1) -dict=tests/fuzz/$$f.dict \
	    -artifact_prefix=build/fuzz/crashes/$$f/ $$c >build/fuzz/fuzz-$$f.log 2>&1 \
	    || { tail -n 80 build/fuzz/fuzz-$$f.log; echo "fuzz $$f failed: input in build/fuzz/crashes/$$f/"; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
	    build/fuzz/fuzz-$$f.log | sed 's/^/   /'; \
	done
endef

fuzz: $(FUZZ_BIN)
	$(call fuzz_run,$(FUZZ_SECONDS),build/fuzz/corpus)

fuzz-smoke: fuzz-regress
	@rm -rf build/fuzz/smoke
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS),build/fuzz/smoke)
