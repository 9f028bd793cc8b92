# Two entry points: `make demo` and `make test`. Both create the environment from uv.lock first.
PY ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PYTEST_ARGS ?=

.PHONY: setup demo demo-stop test lint bench clean services

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# --inexact: keep torch, which is installed below and is not in uv.lock (see TORCH_*).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --inexact --python $(PY)
	touch $@

# PyTorch is a test and example dependency, never one of the package: a pinned CPU build from PyTorch's
# CPU index (about 200 MB), or from a local wheel folder ($$PIP_FIND_LINKS) when the machine has one.
# uv would otherwise pick PyPI's CUDA build (several GB).
TORCH_VERSION := 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.torch: $(VENV)/.synced
	$(UV) pip install --python $(VENV)/bin/python $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) \
		--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple --index-strategy first-index \
		torch==$(TORCH_VERSION)
	touch $@

setup: $(VENV)/.synced $(VENV)/.torch

demo: setup
	bash scripts/demo.sh

demo-stop:  # the serving processes make demo leaves running (model servers, HAProxy, Prometheus)
	@f=.demo/serving/pids; [ -f $$f ] && for p in $$(cat $$f); do kill -- -$$p 2>/dev/null || true; done; rm -f $$f

test: setup
	bash scripts/test.sh $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check airflow_aiinfra tests dags benchmarks
	$(VENV)/bin/ruff format --check airflow_aiinfra tests dags benchmarks

bench: setup
	$(VENV)/bin/python benchmarks/parse.py

clean:
	rm -rf .demo .pytest_cache
