# vahti's two quick-start commands: `make demo` and `make test`.
# Both work on a fresh Debian machine with Python 3.11+, as root or with sudo.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup system-deps lint unicode-tables clean

# The main job, on embedded defaults and offline: a fictional clinic's register
# is enrolled, a private Tor network (loopback only, in a network namespace of
# its own) serves an onion paste site and leak site where part of it is
# republished, the daemon raises alerts, then an incident search and the weekly
# report. Everything runs in a temporary home and is stopped at the end.
demo: SYSTEM_PKGS = tor iproute2 util-linux libarchive-tools
demo: setup system-deps
	$(BIN)/vahti demo

# Everything the tests need, then the whole suite: unit tests, integration
# tests against a real MongoDB-protocol server and a private Tor network. The
# suite runs in a network namespace with nothing but loopback, so no tor it
# starts can reach the real Tor network.
# chromium renders the weekly report in a test
test: SYSTEM_PKGS = tor iproute2 util-linux libarchive-tools chromium
test: setup system-deps
	tests/tor/run_in_netns.sh $(BIN)/python -m pytest

setup: $(BIN)/vahti

$(BIN)/vahti: pyproject.toml $(wildcard matchers/_native*.c)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian packages (SYSTEM_PKGS, set by the target): tor for the private Tor
# network, iproute2 and util-linux for its network namespace, libarchive-tools for
# libarchive (libarchive13, which reads RAR archives and AES zips; bsdtar is its command). Tor's maintainer
# scripts would start a system tor that reaches the real Tor network: a
# policy-rc.d that denies every service start prevents that, and is removed
# again afterwards. A package is installed when its command is missing.
SYSTEM_PKGS ?= tor iproute2 util-linux libarchive-tools
system-deps:
	@missing=0; \
	for cmd in $(patsubst libarchive-tools,bsdtar,$(patsubst iproute2,ip,$(patsubst util-linux,unshare,$(SYSTEM_PKGS)))); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$cmd >/dev/null 2>&1 || missing=1; \
	done; \
	if [ $$missing = 1 ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  created=0; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$SUDO chmod 755 /usr/sbin/policy-rc.d; created=1; \
	  fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    $(SYSTEM_PKGS) >/dev/null; \
	  rc=$$?; \
	  [ $$created = 1 ] && $$SUDO rm -f /usr/sbin/policy-rc.d; \
	  exit $$rc; \
	fi
	@if pgrep -f '[t]or-service-defaults-torrc' >/dev/null; then echo "a system tor service is running: stop it" >&2; exit 1; fi

lint: setup
	$(BIN)/ruff check .

# The Unicode tables text normalisation and the record-fragment tokens read, shipped
# precomputed for this Python's Unicode version (matchers/unicode_tables.json): regenerate
# them after changing what normalisation changes or a fragment token's units
# (matchers/fragments.py: _entry), or for another Python (tests/unit/test_unicode_tables.py
# says when).
unicode-tables: setup
	$(BIN)/python -m vahti.matchers.unicode_tables

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
