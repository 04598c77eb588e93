# Three commands on a fresh machine with python3 >= 3.11 and make: `make run`, `make test` and `make demo`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
export SAM_CLI_TELEMETRY := 0

FUNCTION ?= HealthcheckFunction
EVENT    ?= events/healthcheck.json

.PHONY: install install-run run demo test test-offline lint invoke bench build validate deploy clean

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

# The JavaScript side of the real-client tests (tests/javascript): node >= 18 and npm from the machine (Debian's
# nodejs, npm and libnode-dev where missing), and in build/js-client the npm packages a JS/TS project needs for the
# client: `codeflash` 0.9.0 (the runtime its instrumented tests import; its postinstall would fetch from the
# internet, so it is skipped; its better-sqlite3 builds from source against the system's node headers, with g++
# and make: 4 to 7 minutes on two busy cores), vitest and @vitest/coverage-v8 (4.x, which runs on node 20). The
# tests link the example projects' node_modules to build/js-client/node_modules.
JS_CLIENT := $(CURDIR)/build/js-client
JS_PACKAGES := 'codeflash@0.9.0' 'vitest@^4.1' '@vitest/coverage-v8@^4.1'
$(JS_CLIENT)/.complete:
	@missing=""; \
	node -e 'process.exit(parseInt(process.versions.node) < 18 ? 1 : 0)' 2>/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	[ -f /usr/include/node/node.h ] || missing="$$missing libnode-dev"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v make >/dev/null || missing="$$missing make"; \
	if [ -n "$$missing" ]; then \
		command -v apt-get >/dev/null || { echo "install$$missing (node >= 18 and its headers)"; exit 1; }; \
		apt-get update && apt-get install -y $$missing; \
	fi
	mkdir -p $(JS_CLIENT)
	echo '{"name": "js-client", "private": true}' > $(JS_CLIENT)/package.json
	cd $(JS_CLIENT) && CODEFLASH_SKIP_POSTINSTALL=1 npm_config_nodedir=/usr npm_config_build_from_source=true \
		npm install --legacy-peer-deps --no-audit --no-fund --loglevel=error $(JS_PACKAGES)
	touch $@

install-run: $(VENV)/.run-deps
install: $(VENV)/.dev-deps $(WHEELHOUSE)/.complete $(CHROMIUM) $(CODEFLASH_VENV)/.complete $(JS_CLIENT)/.complete

## The whole API on http://localhost:8000 (DynamoDB in a local moto server unless AWS_ENDPOINT_URL_DYNAMODB is set)
run: install-run
	$(PY) -m devserver run --port 8000

## The whole loop in a minute or two, offline: the real codeflash CLI optimizes examples/sorter (copied to a temporary
## git repository) against the stack with a scripted model (examples/sorter/model), and devserver/demo.py prints the
## candidates, the generated tests, the measured speedup, the diff and the cost the service recorded.
demo: install-run $(CODEFLASH_VENV)/.complete
	$(PY) -m devserver.demo

## The test suite, offline: install what it needs (the only step that uses the network), then test-offline
test: install
	@$(MAKE) --no-print-directory lint test-offline

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
	$(PY) bench/optimize.py
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
