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

# uv installs the pinned packages (seconds, where pip takes minutes); it comes from the
# package index itself, at the version requirements.txt pins. --compile-bytecode: every
# engine command starts Python processes (the program, the policy pack, the driver) that
# import the Pulumi SDKs; compiled here once, they do not compile ~500 modules from source
# on each start, which they do wherever bytecode cannot be written (PYTHONDONTWRITEBYTECODE,
# a read-only checkout): about 4 s of CPU per program run (docs/PERFORMANCE.md).
UV_PIN := $(shell grep -E '^uv==' requirements.txt)
$(VENV)/.installed: requirements.txt
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV_PY) -r requirements.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed bytecode ## Create the virtualenv with the pinned packages

# Our own modules, compiled for the same reason: the program's, the pack's and the driver's
# code (the core package is installed editable, so the installs above leave it as source).
# The early start preloads installed packages only, so these are imported on the way to
# the first registration, and the pack's before it can answer: about 0.1 s of compile()
# per preview or update where bytecode cannot be written (docs/PERFORMANCE.md, sixteenth
# round). compileall rewrites only what changed since; a file that does not compile is
# left to the engine to report, with its traceback, when the program runs.
OWN_PYTHON := __main__.py components wiring go_platform core/go_platform_core \
	policies/__main__.py policies/go_platform_policies
.PHONY: bytecode
bytecode: $(VENV)/.installed
	@$(VENV_PY) -m compileall -qq $(OWN_PYTHON) || true

# The policy pack's own virtualenv (policies/PulumiPolicy.yaml names it): only what
# policies/requirements.txt names, with the core package editable from core/ (which
# satisfies its `go-platform-core==` pin), so an edit of core/ is live in the pack too.
# Compiled like the project's: the engine starts the pack from it on every command.
POLICY_VENV := policies/venv
$(POLICY_VENV)/.installed: policies/requirements.txt policies/constraints.txt core/pyproject.toml | $(VENV)/.installed
	@test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(POLICY_VENV)/bin/python \
		-r policies/requirements.txt -e ./core
	@touch $@

.PHONY: policy-venv
policy-venv: $(POLICY_VENV)/.installed ## Create the policy pack's own virtualenv (policies/venv)

# policies/constraints.txt pins everything the pack's requirements bring (uv resolves them
# against the project's pins; it asks the package index). Run after changing a pin.
.PHONY: policy-constraints
policy-constraints: venv ## Pin everything the policy pack's requirements bring (policies/constraints.txt)
	$(PYTHON) tools/policy_constraints.py

# What `pulumi policy publish` takes: the pack with the core package's wheel beside it,
# outside the repository (a publish leaves out what a .gitignore above it ignores): by
# default policy-pack/ in go-platform's cache, or POLICY_BUNDLE=DIR.
POLICY_BUNDLE ?=

.PHONY: policy-bundle
policy-bundle: venv ## Build the publishable policy pack (POLICY_BUNDLE=DIR; default in the cache)
	$(VENV_PY) tools/policy_bundle.py $(if $(POLICY_BUNDLE),--output $(POLICY_BUNDLE))

.PHONY: system-deps
system-deps: ## Install the Debian packages the tests use (promtool, docker-registry)
	bash tools/system-packages.sh

# Everything the tests use, built once into caches outside the repository (docs/toolchain.md,
# docs/cluster.md): the first run takes a while and shows progress; later runs take seconds.
.PHONY: test-deps
test-deps: venv policy-venv system-deps cluster-build toolchain toolchain-test-tools ## Build or install what the tests need (cached)

.PHONY: lint
lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: venv ## Format the Python code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Test modules spread over the cores, each module on one worker (its clusters, backends and
# ports are its own). One worker more than cores: the engine tests wait on the cluster
# (awaits, analysis windows) and a third worker fills those waits (docs/PERFORMANCE.md).
# Modules start in collection order, which tests/schedule.py makes the longest first.
# PYTEST_PARALLEL= runs them in one process.
PYTEST_PARALLEL ?= -n $(shell echo $$(( $$(nproc) + 1 ))) --dist loadfile --no-loadscope-reorder

.PHONY: unit
unit: venv policy-venv ## Fast tests: config, components under mocks, policies
	$(VENV_PY) -m pytest -q $(PYTEST_PARALLEL) -m "not integration"

# pytest runs the Go suites too (tests/integration/test_go_suites.py: each service's own
# `make test`, `make go-test`, `make conformance`), beside the Python tests.
.PHONY: test
test: lint test-deps ## Set up what the tests need, then run every test (Go, conformance, Python)
	$(VENV_PY) -m pytest -q $(PYTEST_PARALLEL)

.PHONY: vulncheck
vulncheck: ## govulncheck gate on every Go service (GOVULNDB=dir or URL, VULN_FAIL_ON=high)
	@$(TOOLCHAIN_BOOTSTRAP) build --only govulncheck
	@for dir in services/*/; do \
		if [ -f "$$dir/Makefile" ]; then $(MAKE) --no-print-directory -C "$$dir" vulncheck $(VULNDB_ARG) || exit 1; fi; \
	done
# A database directory named from here, made absolute for the services' own Makefiles.
VULNDB_ARG = $(if $(GOVULNDB),GOVULNDB=$(if $(findstring ://,$(GOVULNDB)),$(GOVULNDB),$(abspath $(GOVULNDB))))

# Go modules of the toolchain that are ours: the language host (and its conformance suite,
# run by `make conformance`), the random provider's mapping.
GO_TOOL_MODULES := tools/language-python tools/toolchain/modules/random-provider
# The bootstrap's build settings (CGO off, -trimpath), so tests reuse what `make toolchain` compiled.
GO_TEST_ENV := GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath"

.PHONY: go-test
go-test: ## gofmt, go vet and go test of the toolchain's own Go modules
	@for dir in $(GO_TOOL_MODULES); do \
		echo "== $$dir"; \
		unformatted=$$(cd $$dir && "$$(go env GOROOT)/bin/gofmt" -l .); \
		if [ -n "$$unformatted" ]; then echo "gofmt -w needed in $$dir:"; echo "$$unformatted"; exit 1; fi; \
		(cd $$dir && $(GO_TEST_ENV) go vet ./... && $(GO_TEST_ENV) go test -count=1 ./...) || exit 1; \
	done

# The host under test is the one the toolchain installed (libexec/, beside its executor).
CONFORMANCE_HOST = $$($(TOOLCHAIN_BOOTSTRAP) env --format json | $(PYTHON) -c \
	'import json,sys,pathlib; print(pathlib.Path(json.load(sys.stdin)["path"][0]).parent / "libexec" / "pulumi-language-python")')

.PHONY: conformance
conformance: venv toolchain ## Pulumi's language conformance suite against our Python language host
	host=$(CONFORMANCE_HOST) && cd tools/language-python/conformance && \
		PULUMI_LANGUAGE_PYTHON=$$host PULUMI_CONFORMANCE_PYTHON=$(CURDIR)/$(VENV_PY) \
		$(GO_TEST_ENV) go run ./cmd/conformance

.PHONY: upstream
upstream: ## Vendor a release's CRDs or values schema: make upstream PROJECT=traefik VERSION=x.y.z SOURCE=path/to/chart
	$(PYTHON) tools/upstream/vendor.py update $(PROJECT) $(VERSION) $(SOURCE) $(addprefix --kind ,$(KIND))

.PHONY: upstream-check
upstream-check: ## Check the vendored upstream schemas against their provenance
	$(PYTHON) tools/upstream/vendor.py verify

# A STACK with no Pulumi.<STACK>.yaml is a typo: `stack select --create` would make an empty
# stack and an untracked stack file for it. Refused first, before anything is built or
# started, as the driver refuses it (select_or_create_declared in go_platform/workspace.py).
DECLARED_STACKS = $(sort $(patsubst Pulumi.%.yaml,%,$(notdir $(wildcard $(CURDIR)/Pulumi.*.yaml))))
COMMA := ,
EMPTY :=
SPACE := $(EMPTY) $(EMPTY)
.PHONY: stack-declared
stack-declared:
	@if [ ! -f 'Pulumi.$(STACK).yaml' ]; then \
		echo "error: STACK=$(STACK): the project has no Pulumi.$(STACK).yaml declaring it; its stacks: $(subst $(SPACE),$(COMMA)$(SPACE),$(DECLARED_STACKS))" >&2; \
		exit 1; \
	fi

.PHONY: stack
stack: stack-declared venv policy-venv toolchain $(STACK_CLUSTER)
	@mkdir -p $(STATE_DIR)/backend
	@$(PULUMI) stack select --create $(STACK) >/dev/null

# Checkpoints skipped: the CLI saves the state once, when the command ends, instead of after
# every step (SKIP_CHECKPOINTS_ENV of go_platform/workspace.py says why). A preview writes no
# state; an update of the local stack leaves nothing the next `up` cannot adopt (update_env
# there), as the driver runs it. Other stacks' updates keep the record of an interrupted one.
SKIP_CHECKPOINTS := PULUMI_SKIP_CHECKPOINTS=true
UPDATE_ENV = $(if $(filter local,$(STACK)),$(SKIP_CHECKPOINTS))

.PHONY: preview
preview: stack ## pulumi preview of STACK (default local) with the policy pack
	$(SKIP_CHECKPOINTS) $(PULUMI) preview --refresh --stack $(STACK) --diff --policy-pack policies

.PHONY: up
# --refresh: read the cluster first, so what was changed by hand (kubectl scale, an edited
# label, a deleted object) is seen and put back; the platform owns what it declares.
up: stack ## Deploy STACK (default local: starts the embedded cluster) with the policy pack
	$(UPDATE_ENV) $(PULUMI) up --yes --refresh --stack $(STACK) --policy-pack policies
	@echo
	@$(PULUMI) stack output --json --stack $(STACK) | \
		$(PYTHON) tools/stack_summary.py --stack $(STACK) \
			$(if $(filter local,$(STACK)),--kubeconfig $(CLUSTER_KUBECONFIG) --kubectl $(CLUSTER_KUBECTL))

# What a killed update leaves (docs/driver.md#interrupted-updates): its lock, which only a
# person can tell from a running update's. Removing it is all the local stack needs before
# the next `make up`; other stacks may also have pending operations to clear. `pulumi cancel`
# says the update "has been canceled" whether or not one held the lock; a file backend's
# locks are files, looked at first.
STACK_LOCKS = $(patsubst file://%,%,$(PULUMI_BACKEND_URL))/.pulumi/locks/organization/*/$(STACK)/*.json
.PHONY: cancel
cancel: ## Remove the lock a killed update of STACK left (pulumi cancel)
	@case '$(PULUMI_BACKEND_URL)' in file://*) \
		if ! compgen -G '$(STACK_LOCKS)' >/dev/null; then \
			echo "stack $(STACK): no update holds its lock; nothing to cancel"; exit 0; \
		fi;; \
	esac; \
	echo "removing the lock of stack $(STACK)"; \
	$(PULUMI) cancel --yes --stack $(STACK)

# A stack never made, on a file backend, is told as such: its stacks are files, looked at
# first (the CLI's answer there is about a backend directory that does not exist yet). Any
# other backend's answer, its errors too (credentials, a wrong URL), is shown as it is.
STACK_STATE = $(patsubst file://%,%,$(PULUMI_BACKEND_URL))/.pulumi/stacks/*/$(STACK)
STACK_NOT_CREATED = { case '$(PULUMI_BACKEND_URL)' in file://*) \
	! compgen -G '$(STACK_STATE).json' >/dev/null && \
	! compgen -G '$(STACK_STATE).json.gz' >/dev/null;; *) false;; esac; }
MAKE_UP = make up$(if $(filter local,$(STACK)),, STACK=$(STACK))

.PHONY: credentials
# The outputs are read first: when the CLI fails, its error is the one shown, not followed by
# the summary's own about an empty input.
credentials: stack-declared ## Show the passwords STACK generated (dashboard, module proxy, Grafana)
	@if $(STACK_NOT_CREATED); then \
		echo "error: stack $(STACK): not created yet, so it has generated none ($(MAKE_UP))" >&2; \
		exit 1; \
	fi; \
	outputs=$$($(PULUMI) stack output --json --show-secrets --stack $(STACK)) && \
		printf '%s\n' "$$outputs" | $(PYTHON) tools/stack_summary.py --credentials

.PHONY: down
down: ## Destroy STACK (default local) and, for local, stop the embedded cluster
	@status=0; \
	if $(STACK_NOT_CREATED); then \
		echo "stack $(STACK): not created; nothing to destroy"; \
	elif [ -f $(CLUSTER_KUBECONFIG) ] || [ "$(STACK)" != local ]; then \
		$(PULUMI) destroy --yes --stack $(STACK) || status=$$?; \
	fi; \
	if [ "$(STACK)" = local ]; then $(MAKE) --no-print-directory cluster-stop || status=$$?; fi; \
	exit $$status

# The passphrase is printed only when it is the documented default: one of your own is
# already in your shell, and is not echoed.
.PHONY: env
env: stack-declared ## Print what pulumi (and, for local, kubectl) need in your shell: eval "$(make -s env)"
	@$(TOOLCHAIN_BOOTSTRAP) env
	@printf 'export PULUMI_BACKEND_URL=%q\n' "$(PULUMI_BACKEND_URL)"
	@$(if $(filter file,$(origin PULUMI_CONFIG_PASSPHRASE)),printf 'export PULUMI_CONFIG_PASSPHRASE=%q\n' "$(PULUMI_CONFIG_PASSPHRASE)",:)
	@$(if $(filter local,$(STACK)),printf 'export KUBECONFIG=%q PATH=%q:"$$PATH"\n' "$(CLUSTER_KUBECONFIG)" "$(patsubst %/,%,$(dir $(CLUSTER_KUBECTL)))",:)

# `pulumi stack` ends with the stack's outputs.
.PHONY: status
status: stack-declared ## Where STACK stands: the cluster (local), the stack's resources and outputs
	@if [ "$(STACK)" = local ]; then $(MAKE) --no-print-directory cluster-status; fi
	@if $(STACK_NOT_CREATED); then echo "stack $(STACK): not created yet ($(MAKE_UP))"; \
	else $(PULUMI) stack --stack $(STACK); fi

.PHONY: policy-config
policy-config: venv ## Check the committed policy config files
	@for env in local dev staging prod; do \
		PYTHONPATH=policies $(VENV_PY) -m go_platform_policies.pack_config policies/config/$$env.json || exit 1; \
	done

.PHONY: docs
docs: venv ## Regenerate the config reference in README.md from the models
	$(VENV_PY) -m go_platform_core.reference --write README.md
