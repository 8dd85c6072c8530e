# Two entry points: `make demo` (a server with the demo board) and `make test`.
PY ?= python3
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-test browser proxies bench mutation

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

# Proxies the tests start in front of PostgreSQL and of several servers (PgBouncer,
# HAProxy; tests/realtime/test_pgbouncer.py, test_routing.py). Only their binaries: no service is enabled.
proxies:
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq pgbouncer; }
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq haproxy; }

demo: install
	$(VENV)/bin/baton serve --demo

test: install-test browser proxies
	$(VENV)/bin/pytest

bench: install-test
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python -m bench all --quick

# Mutation testing of the rules on SQLite (docs/testing.md); not part of `make test`.
# Mutates approvals (with their rules and actions), handoffs, gates, the moves of opportunities,
# assignment, the pool, stuck reasons, visibility, records and accounts; each mutant is judged by
# its module's suites (tests/mutation_suites.py); recorded equivalents (tests/mutation_equivalents.toml)
# are not run again while unchanged (MUTATION_RECHECK=1 runs them). Prints the kill rate per module.
# MUTATION_CHILDREN workers (the machine has two cores).
MUTATION_CHILDREN ?= 2
MUTANTS ?= 'resolvers.approvals.*' 'resolvers.approval_rules.*' 'resolvers.approval_actions.*' \
	'resolvers.handoffs.*' 'resolvers.gates.*' 'resolvers.stage_work.*' \
	'resolvers.opportunities.x_move_opportunity*' 'resolvers.opportunities.x__stage*' \
	'resolvers.assignment.*' 'resolvers.pool.*' 'resolvers.stuck.*' 'resolvers.visibility.*' \
	'resolvers.records.*' 'resolvers.accounts.*'

mutation: install-test
	$(VENV)/bin/pip install -q -e '.[test,mutation]'
	rm -rf mutants && mkdir mutants
	@start=$$(date +%s); \
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS) > mutants/run.log 2>&1 \
		|| { tail -c 3000 mutants/run.log; exit 1; }; \
	echo "mutmut run: $$(( ($$(date +%s) - start) / 60 )) min"
	$(VENV)/bin/python -m tests.mutation_report

# Server texts' catalog (resolvers/i18n.py): extract the English templates from the calls
# below (name:argument) with babel.cfg, then add new ones to locales/zh_CN (untranslated
# until filled in; tests/api/test_i18n.py reads the same keywords).
MESSAGE_KEYWORDS := -k fail:2 -k UserError:2 -k RuleError:2 -k notify:3 -k msg:1 -k _fail:2 -k translate:2

messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg $(MESSAGE_KEYWORDS) --no-location --sort-output -w 100 -o locales/baton.pot .
	$(VENV)/bin/pybabel update -i locales/baton.pot -d locales -D baton -l zh_CN --no-fuzzy-matching --ignore-obsolete -w 100
	rm locales/baton.pot
