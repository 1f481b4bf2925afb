# hpcops.aws_hpc: the two commands are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
LAB := .lab
COLLECTION_LINK := $(LAB)/collections/ansible_collections/hpcops/aws_hpc
LAB_STAMP := $(VENV)/.lab-$(shell cat requirements/runtime.txt requirements/lab.txt | sha256sum | cut -c1-16)
# aws-parallelcluster pins versions of attrs/packaging that ansible-lint and molecule cannot use,
# so `pcluster` lives in a venv of its own.
PCLUSTER_VENV := .venv-pcluster
PCLUSTER_STAMP := $(PCLUSTER_VENV)/.stamp-$(shell cat requirements/pcluster.txt | sha256sum | cut -c1-16)
# Debian packages of the lab: Packer (bakery), Slurm + munge + sshd + iproute2 (the ParallelCluster
# stand-in on network-namespace hosts), MariaDB and its Java driver (the portal host's database and JDBC driver).
# Only the lab, integration and molecule targets need them.
LAB_DEBS := packer slurm-wlm munge openssh-server iproute2 mariadb-server mariadb-client libmariadb-java \
            openjdk-17-jre-headless
TEST_STAMP := $(VENV)/.test-$(shell cat requirements/runtime.txt requirements/lab.txt requirements/test.txt | sha256sum | cut -c1-16)
# Integration tests run on this many pytest-xdist workers (groups that must not overlap: tests/conftest.py).
INTEGRATION_WORKERS ?= 2
# Everything lab-facing runs with the lab's AWS settings (endpoint on 127.0.0.1, test credentials).
LAB_ENV = set -a && source $(LAB)/env && set +a && export PATH="$(BIN):$$PATH" &&

.PHONY: help lab lab-up lab-down lab-debs setup setup-dev setup-test test lint unit integration reliability molecule \
        sanity docs docs-check changelog-lint collection-build clean

help:
	@echo "make lab       set everything up and run site.yml against the embedded lab"
	@echo "make lab-down  stop everything the lab started"
	@echo "make test      set everything up and run every test"
	@echo "make lint | unit | collection-build   light targets: the venv only (no lab packages, no pcluster)"

## ---------------------------------------------------------------- setup
# setup: what the lab needs; setup-dev: what lint, unit tests and the build need (a venv, nothing else);
# setup-test: both.
setup: $(LAB_STAMP) lab-debs $(PCLUSTER_STAMP) $(COLLECTION_LINK)

setup-dev: $(TEST_STAMP) $(COLLECTION_LINK)

setup-test: setup setup-dev

lab-debs:
	PYTHON=$(PYTHON) bash lab/debian-deps.sh $(LAB_DEBS)

$(LAB_STAMP): requirements/runtime.txt requirements/lab.txt
	PYTHON=$(PYTHON) bash lab/debian-deps.sh
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/lab.txt
	rm -f $(VENV)/.lab-*
	touch $@

$(PCLUSTER_STAMP): requirements/pcluster.txt
	test -x $(PCLUSTER_VENV)/bin/python || $(PYTHON) -m venv $(PCLUSTER_VENV)
	$(PCLUSTER_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(PCLUSTER_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/pcluster.txt
	rm -f $(PCLUSTER_VENV)/.stamp-*
	touch $@

$(TEST_STAMP): $(LAB_STAMP) requirements/test.txt
	PYTHON=$(PYTHON) bash lab/debian-deps.sh shellcheck
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/test.txt
	rm -f $(VENV)/.test-*
	touch $@

# A checkout is not laid out as ansible_collections/hpcops/aws_hpc; ansible.cfg looks in
# .lab/collections first, so `hpcops.aws_hpc.*` resolves to the working tree here.
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

## ---------------------------------------------------------------- lab
lab-up: setup
	$(VENV)/bin/python lab/labctl.py up

lab: lab-up
	$(LAB_ENV) bash lab/run.sh

lab-down:
	@py=$(VENV)/bin/python; [ -x $$py ] || py=python3; \
	 $$py lab/portallab.py down; $$py lab/slurmlab.py down; $$py lab/labctl.py down

## ---------------------------------------------------------------- tests
test: setup-test lab-up
	$(MAKE) --no-print-directory lint docs-check changelog-lint unit integration molecule sanity collection-build
	@echo "make test: every check passed"

lint: setup-dev
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	PATH="$(BIN):$$PATH" ansible-lint --profile production --offline

unit: setup-dev
	$(BIN)/pytest -q tests/unit

integration: setup-test lab-up
	rm -rf .lab/reliability
	$(LAB_ENV) pytest -q --durations=12 -n $(INTEGRATION_WORKERS) --dist loadgroup --no-loadscope-reorder tests/integration
	$(BIN)/python benchmarks/reliability.py --check-targets

# The reliability scenarios alone (faults, crash and resume, concurrent runs, bad input, fail-safe autoscaling) and
# their report side by side with the clean runs (docs/reliability.md).
reliability: setup-test lab-up
	$(BIN)/python benchmarks/reliability.py --run --check-targets

molecule: setup-test lab-up
	$(LAB_ENV) molecule test -s lab

sanity: setup-dev
	PATH="$(BIN):$$PATH" bash tests/sanity/run.sh

docs: setup-dev
	$(BIN)/python docs/tools/role_docs.py --write

docs-check: setup-dev
	$(BIN)/python docs/tools/role_docs.py --check

changelog-lint: setup-dev
	$(BIN)/antsibull-changelog lint

collection-build: setup-dev
	rm -rf $(LAB)/build && mkdir -p $(LAB)/build
	$(BIN)/ansible-galaxy collection build --output-path $(LAB)/build .
	$(BIN)/ansible-galaxy collection install --force --offline --no-deps -p $(LAB)/build/install $(LAB)/build/hpcops-aws_hpc-*.tar.gz
	test -f $(LAB)/build/install/ansible_collections/hpcops/aws_hpc/plugins/inventory/hpc_ec2.py

clean: lab-down
	rm -rf $(LAB) .pytest_cache .ruff_cache tests/output
