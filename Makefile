# Two commands on a fresh machine with python3 >= 3.11 and make: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
export SAM_CLI_TELEMETRY := 0

FUNCTION ?= HealthcheckFunction
EVENT    ?= events/healthcheck.json

.PHONY: install install-run run test invoke bench build validate deploy clean

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

install-run: $(VENV)/.run-deps
install: $(VENV)/.dev-deps $(WHEELHOUSE)/.complete

## The whole API on http://localhost:8000 (DynamoDB in a local moto server unless AWS_ENDPOINT_URL_DYNAMODB is set)
run: install-run
	$(PY) -m devserver run --port 8000

## The test suite, offline (sockets to loopback only)
test: install
	$(PY) -m pytest

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
