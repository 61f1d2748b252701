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

.PHONY: help install infra run stop status test lint typecheck unit integration e2e asyncapi cluster-check bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(CACHE)/tools/bin/uv:
	python3 -m venv $(CACHE)/tools
	$(CACHE)/tools/bin/pip install -q uv==$(UV_VERSION)

install: $(if $(filter $(CACHE)/tools/bin/uv,$(UV)),$(CACHE)/tools/bin/uv) ## Python packages, Kafka jars, FerretDB build (cached in .cache/)
	$(UV) sync --frozen
	$(UV) run tdu-infra install

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

typecheck: install ## mypy, strict on shared/
	$(UV) run mypy shared/src services/offers/src services/trainings/src services/matching/src \
		services/journeys/src services/notifications/src

test: lint typecheck ## everything: lint, types, unit, integration, cluster and end-to-end tests
	$(UV) run pytest $(PYTEST_ARGS)

unit: install ## fast tests only (no broker, no store)
	$(UV) run pytest -m "not integration and not cluster and not e2e" $(PYTEST_ARGS)

asyncapi: install ## write docs/asyncapi.json from the contracts
	$(UV) run tdu-asyncapi --out docs/asyncapi.json

cluster-check: install ## start the three-node Kafka cluster and use a replication-factor-3 topic
	$(UV) run tdu-infra cluster-check

clean: stop ## remove downloads, builds and local data
	rm -rf $(CACHE) .venv
