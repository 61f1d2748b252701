# The same commands locally, in CI and in the README.
#   make run    the platform with demo data (Kafka, FerretDB, five services); Ctrl-C stops everything
#   make test   lint, type checks and every test (installs and starts what it needs)
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE := $(ROOT)/.cache
export UV_CACHE_DIR := $(CACHE)/uv
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CACHE)/tools/bin/uv)
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Deployment checks (tests/deploy): kustomize from the Go module proxy, the MongoDB community operator's CRD
# from its Go module, Strimzi's resource schemas generated from its API jar (Maven Central).
DEPLOY_TOOLS := $(CACHE)/deploy-tools
KUSTOMIZE_VERSION := v5.8.1
MONGODB_OPERATOR_VERSION := v0.13.0
GO_ENV := GOMODCACHE=$(CACHE)/go/mod GOCACHE=$(CACHE)/go/build GOFLAGS=-mod=mod
SERVICES := offers trainings matching journeys notifications
IMAGE_PREFIX ?= traitdunion
IMAGE_TAG ?= 0.1.0
OVERLAYS := $(notdir $(wildcard deploy/k8s/overlays/*))

.PHONY: help install infra run stop status test lint typecheck unit integration e2e asyncapi cluster-check chaos bench clean \
	deploy-tools images manifests kafka-resources web-assets browser

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(CACHE)/tools/bin/uv:
	python3 -m venv $(CACHE)/tools
	$(CACHE)/tools/bin/pip install -q uv==$(UV_VERSION)

install: $(if $(filter $(CACHE)/tools/bin/uv,$(UV)),$(CACHE)/tools/bin/uv) ## Python packages, Kafka jars, FerretDB build, the web pages' npm packages, Chromium, deployment checks' tools
	$(UV) sync --frozen
	$(UV) run tdu-infra install
	$(MAKE) --no-print-directory web-assets browser deploy-tools

web-assets: services/web/node_modules/.installed ## the design system (DSFR) and axe-core, pinned in services/web/package-lock.json

services/web/node_modules/.installed: services/web/package.json services/web/package-lock.json
	npm ci --prefix services/web
	touch $@

browser: ## Debian's Chromium, for the web pages' tests (Playwright drives it; no browser download)
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
		echo "installing Debian's chromium (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

deploy-tools: $(DEPLOY_TOOLS)/bin/kustomize.$(KUSTOMIZE_VERSION) \
	$(DEPLOY_TOOLS)/schemas/mongodbcommunity.$(MONGODB_OPERATOR_VERSION) \
	$(DEPLOY_TOOLS)/schemas/strimzi/.complete ## kustomize and the operators' schemas for tests/deploy (in .cache/)

$(DEPLOY_TOOLS)/bin/kustomize.$(KUSTOMIZE_VERSION):
	mkdir -p $(DEPLOY_TOOLS)/bin
	$(GO_ENV) GOBIN=$(DEPLOY_TOOLS)/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	touch $@

$(DEPLOY_TOOLS)/schemas/mongodbcommunity.$(MONGODB_OPERATOR_VERSION):
	mkdir -p $(DEPLOY_TOOLS)/schemas
	dir=$$($(GO_ENV) go mod download -json github.com/mongodb/mongodb-kubernetes-operator@$(MONGODB_OPERATOR_VERSION) \
		| python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') && \
	cp $$dir/config/crd/bases/mongodbcommunity.mongodb.com_mongodbcommunity.yaml $(DEPLOY_TOOLS)/schemas/ && \
	chmod u+w $(DEPLOY_TOOLS)/schemas/mongodbcommunity.mongodb.com_mongodbcommunity.yaml
	touch $@

$(DEPLOY_TOOLS)/schemas/strimzi/.complete: deploy/k8s/schemas/pom.xml
	rm -rf $(DEPLOY_TOOLS)/schemas/strimzi
	mvn -B -q -f deploy/k8s/schemas/pom.xml -Dmaven.repo.local=$(CACHE)/m2 \
		-Dbuild.dir=$(DEPLOY_TOOLS)/build/strimzi -Dschemas.dir=$(DEPLOY_TOOLS)/schemas/strimzi compile
	touch $@

kafka-resources: install ## rewrite deploy/k8s/base/kafka/{topics,users}.yaml from the topic table in code
	$(UV) run python deploy/k8s/kafka_resources.py

manifests: install ## render every region overlay into .cache/manifests/<region>.yaml
	mkdir -p $(CACHE)/manifests
	for o in $(OVERLAYS); do $(DEPLOY_TOOLS)/bin/kustomize build deploy/k8s/overlays/$$o > $(CACHE)/manifests/$$o.yaml || exit 1; done

images: ## build the five services' images, the web pages' and the demo loader (needs a Docker engine)
	for s in $(SERVICES) web; do docker build -f services/$$s/Dockerfile -t $(IMAGE_PREFIX)/$$s:$(IMAGE_TAG) . || exit 1; done
	docker build -f deploy/demo/Dockerfile -t $(IMAGE_PREFIX)/demo-loader:$(IMAGE_TAG) .

infra: install ## start Kafka and FerretDB only
	$(UV) run tdu-infra start

run: install ## the whole platform with demo data; prints where to look; Ctrl-C stops it
	$(UV) run tdu-platform up

stop: ## stop anything a previous run left (services, Kafka, FerretDB)
	-$(UV) run tdu-platform down

status: ## what runs locally
	$(UV) run tdu-infra status

lint: install ## ruff (lint + format check)
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: install ## mypy, strict on shared/ and tools/
	$(UV) run mypy shared/src tools/src services/offers/src services/trainings/src services/matching/src \
		services/journeys/src services/notifications/src services/web/src

test: lint typecheck ## everything: lint, types, unit, integration, cluster and end-to-end tests
	$(UV) run pytest $(PYTEST_ARGS)

unit: install ## fast tests only (no broker, no store)
	$(UV) run pytest -m "not integration and not cluster and not e2e" $(PYTEST_ARGS)

asyncapi: install ## write docs/asyncapi.json from the contracts
	$(UV) run tdu-asyncapi --out docs/asyncapi.json

cluster-check: install ## start the three-node Kafka cluster and use a replication-factor-3 topic
	$(UV) run tdu-infra cluster-check

chaos: install ## seeded fault-injection run on its own three-node cluster and store, not part of make test (SEED=n replays; CHAOS_ARGS=--help)
	$(UV) run python bench/chaos.py $(if $(SEED),--seed $(SEED)) $(CHAOS_ARGS)

clean: stop ## remove downloads, builds and local data
	rm -rf $(CACHE) .venv services/web/node_modules
