# tests/valgrind.mk: the end-to-end suite with shadowproxy under valgrind
# memcheck (tests/valgrind.sh, docs/testing.md). Included by the main
# Makefile (after its variables).
#
#   make e2e-valgrind        the core subset below (part of `make test`)
#   make e2e-valgrind-full   every e2e test (CI, nightly: see the time below)
#
# A run fails when pytest fails or when any shadowproxy process's memcheck
# log has a non-zero ERROR SUMMARY (definite leaks count, possible and
# still-reachable ones do not); logs in build/valgrind/logs/vg.PID.log.

VALGRIND_DEBS ?= valgrind
# The subset: the request path end to end (forwarding, shadowing, bodies,
# comparison with rules, the diff log, failures, reloads and shutdown).
# The rest (admin API, dashboard in Chromium, TLS, report, replay, CLI) is
# in e2e-valgrind-full.
VALGRIND_CORE ?= test_forwarding.py test_shadow.py test_bodies.py test_compare.py \
                 test_rules_e2e.py test_difflog.py test_failures.py test_lifecycle.py

.PHONY: e2e-valgrind e2e-valgrind-full valgrind-deps

build/.valgrind-deps: | build/.deps
	$(call ensure_debs,$(VALGRIND_DEBS))
	@touch $@
valgrind-deps: build/.valgrind-deps

e2e-valgrind: shadowproxy build/sp-stub build/.test-deps build/.valgrind-deps
	PYTHON=$(PYTHON) tests/valgrind.sh $(VALGRIND_CORE)

e2e-valgrind-full: shadowproxy build/sp-stub build/.test-deps build/.valgrind-deps
	PYTHON=$(PYTHON) tests/valgrind.sh
