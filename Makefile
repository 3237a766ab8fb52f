# custhub: two commands for a new user.
#   make demo  - set everything up, start the sandbox estate, run the nightly sync through Airflow
#   make test  - set everything up (Debian packages included) and run the whole suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_PACKAGES := unixodbc odbc-postgresql odbc-mariadb openssh-server openssh-client chromium chromium-driver redis-server

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__UNIT_TEST_MODE ?= False

.PHONY: demo demo-shell demo-review test system-deps venv bench airflow airflow-check prod-local demo-reset clean lock

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing custhub and its dependencies into $(VENV) (pip, quiet; the first time takes a few minutes)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Installs the Debian packages the ODBC, SFTP and browser tests need, only when one is missing.
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/python -m sandbox.demo

# A shell in which `custhub` reaches the demo: the demo's estate started again, its connections
# (AIRFLOW_CONN_*), CUSTHUB_CONFIG and CUSTHUB_STORE_URL set; `exit` stops the estate.
demo-shell: $(STAMP)
	@$(BIN)/python -m sandbox.demo_shell

# The review page on the demo's store (custhub serve in the demo's environment); prints the
# address and the demo steward's login (made on first use, kept in .demo/review-login.json).
demo-review: $(STAMP)
	@$(BIN)/python -m sandbox.demo_review

# Airflow standalone on SQLite with the DAGs, the pools of hub.yaml and the sandbox estate's
# connections; the estate runs alongside in its own process (sandbox/serve.py). Ctrl-C stops both.
airflow: $(STAMP)
	$(BIN)/python -m sandbox.airflow_setup

# The same, started, checked healthy with the DAGs loaded, and stopped.
airflow-check: $(STAMP)
	$(BIN)/python -m sandbox.airflow_setup --check

# The production topology of docker-compose.yml without Docker: the running PostgreSQL (databases
# custhub_prod_local_airflow and _custhub), redis-server, Airflow's api-server, scheduler,
# dag-processor and triggerer, two Celery workers and the sandbox estate, each its own process
# (sandbox/prod_local.py, home .prod-local/). Ctrl-C or SIGTERM stops them all.
# PROD_LOCAL_ARGS="--check": start, wait until healthy, stop.
PROD_LOCAL_ARGS ?=
prod-local: system-deps $(STAMP)
	$(BIN)/python -m sandbox.prod_local $(PROD_LOCAL_ARGS)

demo-reset:
	rm -rf .demo .airflow

test: system-deps $(STAMP)
	$(BIN)/python -m pytest

# Prints speed and memory figures; `make bench BENCH_ARGS="--scale 0.01"` for a quick check,
# `make bench BENCH_ARGS="reconcile"` for one module. `make bench BENCH_ARGS=nightly`: the product's
# nightly path at 10k, 100k and 1M companies on SQLite and PostgreSQL (bench/nightly.py; limit it
# with BENCH_NIGHTLY_MAX_SIZE, BENCH_NIGHTLY_SIZES, BENCH_NIGHTLY_STORES, BENCH_NIGHTLY_MAX_MINUTES;
# BENCH_NIGHTLY_REGISTRIES=off leaves the registry calls out).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Rewrites constraints.txt from what the virtual environment holds now.
lock: $(STAMP)
	@{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^custhub'; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .demo .airflow .prod-local .pytest_cache .test-artifacts
