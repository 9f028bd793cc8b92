# Two entry points: `make demo` and `make test`. Both create the environment from uv.lock first.
PY ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean services

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PY)
	touch $@

setup: $(VENV)/.synced

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check airflow_aiinfra tests dags benchmarks
	$(VENV)/bin/ruff format --check airflow_aiinfra tests dags benchmarks

bench: setup
	$(VENV)/bin/python benchmarks/parse.py

clean:
	rm -rf .demo .pytest_cache
