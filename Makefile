# The verbs a newcomer needs. `make run` starts the stack; `make test` checks everything.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tools installed in the venv (buf, envoy, protoc plugins) come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

SHELL := /bin/bash
KINDS := unit integration service e2e stack bench faults
.PHONY: help system-tools bench bench-overhead faults soak run test check lint typecheck protos protos-check buf pytest lock release-protos clean image client-wheel test-containers deploy-render deploy-check $(addprefix test-,$(KINDS))
.DEFAULT_GOAL := help

# These verbs, each with the first line of the comment above it.
help: ## these verbs
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | \
	 awk -F'\t' '{ printf "  make %-16s %s\n", $$1, $$2 }'
	@echo "  make test-KIND        one kind of test; KIND: $(KINDS)"

run: $(STAMP) build/descriptors.binpb ## the whole stack in the foreground, supervised (AUTH_REPLICAS=, ARTICLES_REPLICAS=)
	$(BIN)/python -m devstack run

test: $(STAMP) check system-tools pytest ## every check, then the whole pytest suite (what CI runs, before the containers)

# Debian's h2load (the bench smoke test) and promtool + prometheus (the metrics and alert
# tests), installed with apt-get when missing and this is root; otherwise those tests say what
# to install.
system-tools: ## install h2load and promtool/prometheus with apt-get (when root and missing)
	@missing=""; command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	 { command -v promtool && command -v prometheus; } >/dev/null || missing="$$missing prometheus"; \
	 if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	   echo "installing$$missing"; apt-get update -qq && \
	   apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

# Our stack vs the FastAPI peer, with ceilings; options: make bench BENCH_ARGS="--articles 100000"
bench: $(STAMP) build/descriptors.binpb ## the benchmark against the FastAPI peer (BENCH_ARGS=...)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Only the GetArticle rows of metrics and tracing, with the rounds a few-percent difference
# needs (about 10 minutes); the side-by-side pairs run at 1,300 calls a second each, close
# to what a 2-core machine serves, and the tables at the end judge the issue's 5% targets.
bench-overhead: $(STAMP) build/descriptors.binpb ## metrics and tracing overhead alone, 12 rounds (BENCH_ARGS=...)
	$(BIN)/python -m bench --scale 0 --only "GetArticle, " --rounds 12 --duration 4 --side-rate 1300 $(BENCH_ARGS)

# The fault suite: real processes, kill -9 / PostgreSQL restarts and freezes / SIGTERM under
# load, then a set check of every acknowledged write; then the deep schemathesis run against
# the gateway (10 min budget). Options: make faults FAULTS_ARGS="--quick"
faults: $(STAMP) build/descriptors.binpb ## the fault suite, healing, scaling, then the deep schemathesis run (FAULTS_ARGS=...)
	$(BIN)/python -m faults $(FAULTS_ARGS)
	$(BIN)/python -m faults.healing
	$(BIN)/python -m faults.scaling
	$(BIN)/python -m faults.fuzz --deep

# Mixed traffic through the gateway for a set time: throughput, p50/p99, statuses, the
# services' memory, and nothing lost; options: make soak SOAK_ARGS="--minutes 30"
soak: $(STAMP) build/descriptors.binpb ## mixed traffic for a set time with memory and loss checks (SOAK_ARGS=...)
	$(BIN)/python -m soak $(SOAK_ARGS)

check: lint typecheck protos-check buf ## ruff, ruff format, mypy --strict, generated code up to date, buf lint and breaking

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP) ## the virtual environment (.venv) with the locked dependencies

# Rewrite gen/ (Python code and typed stubs) and build/descriptors.binpb from protos/.
protos: $(STAMP) ## regenerate gen/ and build/descriptors.binpb from protos/
	$(BIN)/python -m tools.protos generate

build/descriptors.binpb: $(STAMP) $(wildcard protos/blog/*/v1/*.proto)
	$(BIN)/python -m tools.protos generate

protos-check: $(STAMP) ## fail if gen/ is stale
	$(BIN)/python -m tools.protos check

buf: $(STAMP) ## buf lint, and buf breaking against the released contracts
	$(BIN)/python -m tools.protos lint

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

# The whole pytest suite (every kind but the containers).
pytest: $(STAMP) build/descriptors.binpb ## the whole pytest suite (every kind but the containers)
	$(BIN)/pytest

# One kind of test, by its marker (tests/conftest.py gives each folder its kind).
$(addprefix test-,$(KINDS)): test-%: $(STAMP) build/descriptors.binpb
	$(BIN)/pytest -m $*

# Record the current contracts as released: `buf breaking` compares against this.
release-protos: $(STAMP) ## record the current contracts as released
	$(BIN)/python -m tools.protos release

# The client for internal services (client/): blog_client and gen/'s code as it is now, with
# its typed stubs, as one wheel (pip fetches the build backend, hatchling, from the registry).
CLIENT_WHEELS ?= build/client
client-wheel: $(STAMP) ## build the internal client's wheel (blog-client) into build/client/
	rm -rf $(CLIENT_WHEELS)
	$(BIN)/pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir $(CLIENT_WHEELS) ./client

lock: ## re-resolve requirements.in into requirements.lock
	$(PYTHON) -m venv /tmp/blog-lock-venv
	/tmp/blog-lock-venv/bin/pip install --quiet -r requirements.in
	(echo "# Exact versions tested; regenerate with \`make lock\`."; \
	 /tmp/blog-lock-venv/bin/pip freeze --exclude-editable) > requirements.lock
	rm -rf /tmp/blog-lock-venv

# --- Containers (Podman; CI runs docker/install-tools.sh first) ---------------------------
# The service image; its base: "debian" makes one from Debian bookworm's packages (no
# registry needed), or name one (BASE_IMAGE=python:3.11-slim). POSTGRES_IMAGE: a
# localhost/ name is built from Debian's postgresql-15, any other is pulled (postgres:15).
BLOG_IMAGE ?= localhost/blog-platform:latest
BASE_IMAGE ?= debian
POSTGRES_IMAGE ?= localhost/blog-postgres:15
CONTAINER_VARS = BLOG_IMAGE=$(BLOG_IMAGE) BASE_IMAGE=$(BASE_IMAGE) POSTGRES_IMAGE=$(POSTGRES_IMAGE)

# Wheels built on the host (build/wheelhouse), then the image and PostgreSQL's; up-to-date
# steps are skipped.
image: $(STAMP) ## build the service image (and the local PostgreSQL image) with Podman
	$(CONTAINER_VARS) $(BIN)/python docker/image.py all

# The compose stack for real on a free port, an HTTP smoke test through its gateway, and
# everything removed afterwards; fails (never skips) without Podman.
test-containers: image ## the compose stack under Podman and a smoke test through its gateway
	$(CONTAINER_VARS) $(BIN)/pytest tests/containers

# --- Kubernetes (deploy/) -------------------------------------------------------------------
# Re-render the gateway ConfigMaps of every overlay (after a change to gateway/, the protos
# or a gateway.env); the tests fail while the committed render is stale.
deploy-render: $(STAMP) build/descriptors.binpb ## re-render the Kubernetes gateway ConfigMaps
	$(BIN)/python -m deploy.render

# The dev overlay's pods under Podman, exactly as rendered (no cluster runs here).
deploy-check: image ## the dev overlay's pods under Podman, as rendered
	$(CONTAINER_VARS) $(BIN)/python -m deploy.podman_check

clean: ## remove build outputs and tool caches
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
