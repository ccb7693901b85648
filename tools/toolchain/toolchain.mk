# The Pulumi toolchain (CLI, Python language host, resource plugins), built from Go modules.
# Included from the top-level Makefile; see docs/toolchain.md.
#
#   make toolchain                      build what is missing (seconds when all is present)
#   make toolchain TOOLCHAIN_ONLY=cli   build some components only
#   make toolchain-test-tools           build what only the tests run (Athens)
#   make doctor                         what is present, at which version, what is missing
#   make doctor DOCTOR_FLAGS=--registry also ask GOPROXY for every pinned module
#
# Recipes run a command against the toolchain with $(TOOLCHAIN_RUN), e.g.
#   $(TOOLCHAIN_RUN) pulumi preview --stack local
# which sets PATH, PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK and
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION. In a shell: eval "$(python3 tools/toolchain/bootstrap.py env)".

PYTHON ?= python3
TOOLCHAIN_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TOOLCHAIN_BOOTSTRAP := $(PYTHON) $(TOOLCHAIN_DIR)/bootstrap.py
TOOLCHAIN_RUN := $(TOOLCHAIN_BOOTSTRAP) run --
TOOLCHAIN_ONLY ?=
DOCTOR_FLAGS ?=

.PHONY: toolchain
toolchain: ## Build the Pulumi CLI, language host and plugins from Go modules (cached)
	$(TOOLCHAIN_BOOTSTRAP) build $(if $(TOOLCHAIN_ONLY),--only $(TOOLCHAIN_ONLY))

# Programs only the tests run (Athens), built like the rest; `make test-deps` asks for them.
.PHONY: toolchain-test-tools
toolchain-test-tools: ## Build the programs only the tests run (Athens), after the toolchain
	$(TOOLCHAIN_BOOTSTRAP) build --only athens

.PHONY: doctor
doctor: ## Show which toolchain components are present, at which version
	$(TOOLCHAIN_BOOTSTRAP) doctor $(DOCTOR_FLAGS)
