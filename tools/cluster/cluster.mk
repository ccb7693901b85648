# The embedded control plane (tools/cluster, docs/cluster.md). Included by the Makefile.
#   make cluster-build    build etcd, Kubernetes, kwok and kubectl from Go modules (once; seconds after)
#   make cluster-start    start it on 127.0.0.1; kubeconfig in $(CLUSTER_KUBECONFIG), kubectl in $(CLUSTER_KUBECTL)
#   make cluster-stop     stop every process (data kept; CLUSTER_STOP_FLAGS=--purge deletes it)
#   make cluster-status   what runs and where

CLUSTER_PYTHON ?= python3
# The directory cluster.py itself defaults to (GO_PLATFORM_CLUSTER_DIR), so make and the driver
# find the same cluster.
CLUSTER_DATA_DIR ?= $(or $(GO_PLATFORM_CLUSTER_DIR),$(CURDIR)/.state/cluster)
CLUSTER_KUBECONFIG := $(CLUSTER_DATA_DIR)/kubeconfig
# kubectl of the cluster's release, built with it (`cluster.py start` links it here).
CLUSTER_KUBECTL := $(CLUSTER_DATA_DIR)/bin/kubectl
CLUSTER_STOP_FLAGS ?=
CLUSTER := $(CLUSTER_PYTHON) tools/cluster/cluster.py

.PHONY: cluster-build cluster-start cluster-stop cluster-status
cluster-build: ## Build the embedded control plane and its kubectl from Go modules (once)
	@$(CLUSTER) build

cluster-start: cluster-build ## Start the embedded control plane on 127.0.0.1
	@$(CLUSTER) start --data-dir $(CLUSTER_DATA_DIR) >/dev/null

cluster-stop: ## Stop the embedded control plane (keeps its data)
	@$(CLUSTER) stop --data-dir $(CLUSTER_DATA_DIR) $(CLUSTER_STOP_FLAGS)

cluster-status: ## Show what the embedded control plane runs, and where
	@$(CLUSTER) status --data-dir $(CLUSTER_DATA_DIR) || test $$? -eq 3
