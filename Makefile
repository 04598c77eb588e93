# Two commands on a fresh machine with python3 >= 3.11 and make: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
export SAM_CLI_TELEMETRY := 0

FUNCTION ?= HealthcheckFunction
EVENT    ?= events/healthcheck.json

.PHONY: install install-run run test test-offline lint invoke bench build validate deploy clean

$(VENV)/.run-deps: pyproject.toml layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.dev-deps: $(VENV)/.run-deps
	$(PY) -m pip install --quiet -e '.[local,dev]'
	touch $@

# Lambda's (arm64, cp312) wheels of the layer, fetched now so that the tests' `sam build` runs offline.
WHEELHOUSE := $(CURDIR)/build/wheelhouse
$(WHEELHOUSE)/.complete: layers/common/requirements.txt layers/common/Makefile
	$(MAKE) -C layers/common wheelhouse PIP="$(CURDIR)/$(PY) -m pip" WHEELHOUSE="$(WHEELHOUSE)"
	touch $@

# Headless Chromium for the cost report's browser test (tests/report); installed only when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install chromium (headless) for tests/report"; exit 1; }
	apt-get update && apt-get install -y chromium

# The real codeflash client in a venv of its own, for the tests that run it against `make run` (it must never share
# the service's dependencies). pytest<9: codeflash's pytest plugin breaks on pytest 9 (contract §6).
CODEFLASH_VENV := $(CURDIR)/build/codeflash-venv
$(CODEFLASH_VENV)/.complete:
	$(PYTHON) -m venv $(CODEFLASH_VENV)
	$(CODEFLASH_VENV)/bin/python -m pip install --quiet 'codeflash==0.20.6' 'pytest<9'
	touch $@

install-run: $(VENV)/.run-deps
install: $(VENV)/.dev-deps $(WHEELHOUSE)/.complete $(CHROMIUM) $(CODEFLASH_VENV)/.complete

## The whole API on http://localhost:8000 (DynamoDB in a local moto server unless AWS_ENDPOINT_URL_DYNAMODB is set)
run: install-run
	$(PY) -m devserver run --port 8000

## The test suite, offline: install what it needs (the only step that uses the network), then test-offline
test: install
	@$(MAKE) --no-print-directory test-offline

## The suite with no network at all. Where the machine allows it (root, or unprivileged user namespaces), it runs in
## a network namespace with only loopback (127.0.0.1 and ::1) up, so that no process of the run can reach out either:
## devserver workers, sam, cfn-lint, pip. Elsewhere pytest-socket's in-process guard (pyproject addopts) stands alone.
## PYTEST_ARGS="tests/diff -q" narrows the run.
test-offline:
	@if unshare -rn ip link set lo up 2>/dev/null; then \
		echo "test-offline: in a network namespace with only loopback (unshare -rn)"; \
		unshare -rn sh -c 'ip link set lo up && exec "$$@"' sh $(PY) -m pytest $(PYTEST_ARGS); \
	else \
		echo "test-offline: no network namespace here (unshare -rn failed); sockets guarded in pytest's process only"; \
		$(PY) -m pytest $(PYTEST_ARGS); \
	fi

## Lint, format and types at zero findings (rules in pyproject.toml: tool.ruff, tool.mypy); tests/test_lint.py too
lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## Like `sam local invoke -e`, without Docker: make invoke FUNCTION=AuthorizerFunction EVENT=events/authorizer.json
invoke: install-run
	$(PY) -m devserver invoke $(FUNCTION) $(EVENT)

## Benchmarks; figures go to BENCHMARKS.md
# bench/llm_cold_import.py installs the `bench` extra (litellm) into build/ by itself, never into .venv.
bench: install
	$(PY) bench/cold_start.py
	$(PY) bench/hot_path.py
	$(PY) bench/llm_client.py
	$(PY) bench/llm_cold_import.py
	$(PY) bench/diff_apply.py
	$(PY) bench/postprocess.py

build: install
	$(VENV)/bin/sam build --template template.yaml

validate: install
	$(VENV)/bin/sam validate --lint --template template.yaml

deploy: build
	$(VENV)/bin/sam deploy --guided

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache
