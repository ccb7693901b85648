# go-platform entry points. The two that matter on a fresh machine: `make up`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := venv
VENV_PY := $(VENV)/bin/python
STACK ?= local

# Local state (file backend, embedded cluster) lives here, ignored by git.
STATE_DIR := $(CURDIR)/.state
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)/backend
# The local stack's documented default passphrase; set your own for shared stacks.
export PULUMI_CONFIG_PASSPHRASE ?= go-platform-local

include tools/toolchain/toolchain.mk
include tools/cluster/cluster.mk

# The local stack talks to the embedded cluster only (Pulumi.local.yaml names its context).
STACK_ENV = $(if $(filter local,$(STACK)),KUBECONFIG=$(CLUSTER_KUBECONFIG))
PULUMI = $(STACK_ENV) $(TOOLCHAIN_RUN) pulumi
# The local stack brings its own cluster; other stacks use your kubeconfig's.
STACK_CLUSTER = $(if $(filter local,$(STACK)),cluster-start)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -r requirements.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with the pinned packages

.PHONY: system-deps
system-deps: ## Install the Debian packages the tests use (promtool, docker-registry)
	bash tools/system-packages.sh

.PHONY: lint
lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: venv ## Format the Python code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: unit
unit: venv ## Fast tests: config, components under mocks, policies
	$(VENV_PY) -m pytest -q -m "not integration"

.PHONY: test
test: lint venv ## Every test: Python (unit and integration) and the Go services
	$(VENV_PY) -m pytest -q
	@for dir in services/*/; do \
		if [ -f "$$dir/Makefile" ]; then $(MAKE) --no-print-directory -C "$$dir" test || exit 1; fi; \
	done

.PHONY: stack
stack: venv toolchain $(STACK_CLUSTER)
	@mkdir -p $(STATE_DIR)/backend
	@$(PULUMI) stack select --create $(STACK) >/dev/null

.PHONY: preview
preview: stack ## pulumi preview of STACK (default local) with the policy pack
	$(PULUMI) preview --stack $(STACK) --diff --policy-pack policies

.PHONY: up
up: stack ## Deploy STACK (default local: starts the embedded cluster) with the policy pack
	$(PULUMI) up --yes --stack $(STACK) --policy-pack policies

.PHONY: down
down: ## Destroy STACK (default local) and, for local, stop the embedded cluster
	@status=0; \
	if [ -f $(CLUSTER_KUBECONFIG) ] || [ "$(STACK)" != local ]; then \
		$(PULUMI) destroy --yes --stack $(STACK) || status=$$?; \
	fi; \
	if [ "$(STACK)" = local ]; then $(MAKE) --no-print-directory cluster-stop || status=$$?; fi; \
	exit $$status

.PHONY: status
status: ## Where STACK stands: the cluster (local), the stack's resources and outputs
	@if [ "$(STACK)" = local ]; then $(MAKE) --no-print-directory cluster-status; fi
	@$(PULUMI) stack --stack $(STACK) 2>/dev/null || echo "stack $(STACK): not created yet (make up)"
	@$(PULUMI) stack output --stack $(STACK) 2>/dev/null || true

.PHONY: policy-config
policy-config: venv ## Check the committed policy config files
	@for env in local dev staging prod; do \
		PYTHONPATH=policies $(VENV_PY) -m go_platform_policies.pack_config policies/config/$$env.json || exit 1; \
	done

.PHONY: docs
docs: venv ## Regenerate the config reference in README.md from the models
	$(VENV_PY) -m components.reference --write README.md
