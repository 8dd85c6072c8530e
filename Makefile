# Two entry points: `make demo` (a server with the demo board) and `make test`.
PY ?= python3
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-test browser bench mutation

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

install: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .

install-test: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[test]'

# Browser tests drive Debian's Chromium (never a downloaded browser), with a CJK font
# so Chinese renders as text, not boxes; npm installs the pinned axe-core they audit
# with (tests/browser/axe.py) and graphql-http for the GraphQL over HTTP audit.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq npm; }
	@fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-noto-cjk; }

demo: install
	$(VENV)/bin/baton serve --demo

test: install-test browser
	$(VENV)/bin/pytest

bench: install-test
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python -m bench all --quick

# Mutation testing of the rules on SQLite (docs/testing.md); not part of `make test`.
# Mutates approvals (with their rules and actions), handoffs, gates and the moves of opportunities, then prints the
# kill rate per module. MUTATION_CHILDREN workers (the machine has two cores).
MUTATION_CHILDREN ?= 2
MUTANTS ?= 'resolvers.approvals.*' 'resolvers.approval_rules.*' 'resolvers.approval_actions.*' \
	'resolvers.handoffs.*' 'resolvers.gates.*' 'resolvers.stage_work.*' \
	'resolvers.opportunities.x_move_opportunity*' 'resolvers.opportunities.x__stage*'

mutation: install-test
	$(VENV)/bin/pip install -q -e '.[test,mutation]'
	rm -rf mutants && mkdir mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS) > mutants/run.log 2>&1 \
		|| { tail -c 3000 mutants/run.log; exit 1; }
	$(VENV)/bin/python -m tests.mutation_report
