# Two entry points: `make demo` (a server with the demo board) and `make test`.
PY ?= python3
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-test browser bench

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

install: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .

install-test: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[test]'

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

demo: install
	$(VENV)/bin/baton serve --demo

test: install-test browser
	$(VENV)/bin/pytest

bench: install-test
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python -m bench all --quick
