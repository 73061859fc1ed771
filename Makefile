# Developer entry points. Recipes are tab-indented (make requires tabs).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Lazily evaluated: only looked up when .venv has to be created.
PYTHON ?= $(shell command -v python3.11 || command -v python3)

# Passed through to scripts/run-tests, e.g. `make test PYTEST_ARGS='-x -k invoice'`.
export PYTEST_ARGS

.PHONY: run test lint bench clean install

run: $(STAMP)
	scripts/run-local

test: $(STAMP)
	scripts/run-tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

# Benchmarks run on PostgreSQL: DATABASE_URL, or the same throwaway cluster `make test` starts.
bench: $(STAMP)
	RUN_TESTS_CMD='$(PY) bench/usage_ingest.py && $(PY) bench/api_load.py && $(PY) bench/einvoice.py' scripts/run-tests

clean:
	rm -rf var $(VENV)

install: $(STAMP)

$(PY):
	@test -n "$(PYTHON)" || { echo "python3.11 (or python3) not found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp, so repeated runs are fast.
# The venv is order-only: the interpreter's own timestamp must never trigger a reinstall.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)
