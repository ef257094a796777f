# tests/valgrind.mk: the end-to-end suite with shadowproxy under valgrind
# memcheck (tests/valgrind.sh, docs/testing.md). Included by the main
# Makefile (after its variables).
#
#   make e2e-valgrind        the subset below (part of `make test`)
#   make e2e-valgrind-full   every e2e test (about 20 minutes; not in `make test`)
#
# A run fails when pytest fails or when any shadowproxy process's memcheck
# log has a non-zero ERROR SUMMARY (definite leaks count, possible and
# still-reachable ones do not); logs in build/valgrind/logs/vg.PID.log.

VALGRIND_DEBS ?= valgrind
# The subset in `make test`: the diff log (records, redaction, rotation, bodies
# of every kind) and the comparison end to end (JSON, XML, forms, rules):
# about 2 minutes on 2 cores. Timing-sensitive tests (shadow caps, timeouts)
# are slowed 20-50x by memcheck and belong to e2e-valgrind-full.
VALGRIND_CORE ?= test_difflog.py test_compare.py

.PHONY: e2e-valgrind e2e-valgrind-full valgrind-deps

build/.valgrind-deps: | build/.deps
	$(call ensure_debs,$(VALGRIND_DEBS))
	@touch $@
valgrind-deps: build/.valgrind-deps

e2e-valgrind: shadowproxy build/sp-stub build/.test-deps build/.valgrind-deps
	PYTHON=$(PYTHON) tests/valgrind.sh $(VALGRIND_CORE)

e2e-valgrind-full: shadowproxy build/sp-stub build/.test-deps build/.valgrind-deps
	PYTHON=$(PYTHON) tests/valgrind.sh
