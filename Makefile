# The two commands the README starts with: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Test processes (pytest-xdist); the Ray tests share one of them (one Ray head per process).
TEST_WORKERS ?= 3

.PHONY: demo test install install-dev lint typecheck clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# An editable install is not byte-compiled the way a wheel install is; compile it, so a
# short CLI call does not recompile loopml on every start (PYTHONDONTWRITEBYTECODE=1 setups).
install: $(VENV)/bin/python
	$(PIP) install --quiet -e .
	$(PY) -m compileall -q src

install-dev: $(VENV)/bin/python
	$(PIP) install --quiet -e '.[dev]'
	@# The HTML report's browser test drives the system Chromium (never `playwright install`).
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) \
		|| echo "install Chromium (Debian: apt-get install chromium) to run the browser test"
	$(PY) -m compileall -q src

demo: install
	$(VENV)/bin/loopml demo

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install-dev lint
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
