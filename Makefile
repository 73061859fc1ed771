# Developer entry points. Recipes are tab-indented (make requires tabs).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Lazily evaluated: only looked up when .venv has to be created.
PYTHON ?= $(shell command -v python3.11 || command -v python3)

# Passed through to scripts/run-tests, e.g. `make test PYTEST_ARGS='-x -k invoice'`.
export PYTEST_ARGS

.PHONY: run test lint bench clean install catalogs

# Translations: each locale/<lang>/LC_MESSAGES/django.po compiles to its .mo (pure Python: Babel, no GNU gettext).
MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

run: $(STAMP) $(MO)
	scripts/run-local

test: $(STAMP) $(MO)
	scripts/run-tests

# After changing marked strings: adds new messages to every .po (untranslated), drops gone ones, lists what is left.
# Translate them in the .po files, then `make test` (tests/portal/test_catalogs.py names anything missing).
catalogs: $(STAMP)
	$(PY) -m portal.catalogs extract
	$(PY) -m portal.catalogs compile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

# Benchmarks run on PostgreSQL: DATABASE_URL, or the same throwaway cluster `make test` starts.
bench: $(STAMP)
	RUN_TESTS_CMD='$(PY) bench/usage_ingest.py && $(PY) bench/api_load.py && $(PY) bench/einvoice.py' scripts/run-tests

clean:
	rm -rf var $(VENV) locale/*/LC_MESSAGES/*.mo

install: $(STAMP)

$(PY):
	@test -n "$(PYTHON)" || { echo "python3.11 (or python3) not found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp, so repeated runs are fast.
# The venv is order-only: the interpreter's own timestamp must never trigger a reinstall.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

locale/%.mo: locale/%.po $(STAMP)
	$(PY) -m portal.catalogs compile
