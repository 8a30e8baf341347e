# feedpulse — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export FEEDPULSE_HOME ?= $(CURDIR)/.feedpulse
export DAGSTER_HOME ?= $(FEEDPULSE_HOME)/dagster
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

DEMO_DAYS ?= 35
DEMO_SCALE ?= 1

.PHONY: setup chromium manifest demo test lint bench conformance localhouse-stop clean superset superset-venv superset-stop

setup: $(BIN)/.installed chromium

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# kaleido renders charts with Chrome: Debian's chromium package.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( echo "installing Debian's chromium (needed by kaleido)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium )

# The dbt manifest Dagster builds the asset graph from (orchestration/manifest.py), parsed for this
# environment (FEEDPULSE_SOURCE_DATABASE): importing the definitions only reads it, and refuses a
# missing or stale one. `dagster dev` prepares it itself. dagster-dbt runs the `dbt` on PATH: the venv's.
VENV_PATH = PATH="$(CURDIR)/$(BIN):$$PATH"
manifest: setup
	$(VENV_PATH) $(BIN)/dagster-dbt project prepare-and-package --file orchestration/project.py

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

ETL_GROUPS := group:etl_staging,group:etl_intermediate,group:etl_marts
DEMO_FIRST := $(shell TZ=$${FEEDPULSE_TIMEZONE:-Europe/Moscow} date -d "-$(DEMO_DAYS) days" +%F)
DEMO_LAST := $(shell TZ=$${FEEDPULSE_TIMEZONE:-Europe/Moscow} date -d "-1 day" +%F)
DEMO_TODAY := $(shell TZ=$${FEEDPULSE_TIMEZONE:-Europe/Moscow} date +%F)
DEMO_DATE = $(shell TZ=$${FEEDPULSE_TIMEZONE:-Europe/Moscow} date -d "-$(1) days" +%F)
export FEEDPULSE_EXPERIMENTS ?= $(FEEDPULSE_HOME)/experiments.yaml
# `make demo SUPERSET=1`: also Superset (make superset) on the demo's marts, and reports and alerts
# link into its dashboards (FEEDPULSE_SUPERSET_URL) instead of the static page.
SUPERSET ?= 0
DEMO_LINKS := $(if $(filter 1,$(SUPERSET)),FEEDPULSE_SUPERSET_URL=http://127.0.0.1:$(or $(FEEDPULSE_SUPERSET_PORT),8088))

demo: setup manifest $(DAGSTER_HOME)/dagster.yaml
	sed -e 's/@AA_START@/$(call DEMO_DATE,14)/' -e 's/@AA_END@/$(call DEMO_DATE,8)/' \
	    -e 's/@AB_START@/$(call DEMO_DATE,7)/' -e 's/@AB_END@/$(call DEMO_DATE,1)/' \
	    examples/experiment.demo.yaml.in > $(FEEDPULSE_EXPERIMENTS)
	$(BIN)/feedpulse localhouse start
	$(BIN)/feedpulse simulate --start $(DEMO_FIRST) --days $(DEMO_DAYS) --scale $(DEMO_SCALE) \
	  --experiment $(FEEDPULSE_EXPERIMENTS)
	@echo "backfilling the daily ETL for $(DEMO_FIRST)...$(DEMO_LAST) (one dbt run)"
	FEEDPULSE_START_DATE=$(DEMO_FIRST) $(BIN)/dagster asset materialize -m orchestration.definitions \
	  --select '$(ETL_GROUPS)' --partition-range '$(DEMO_FIRST)...$(DEMO_LAST)' > $(FEEDPULSE_HOME)/demo-backfill.log 2>&1 \
	  || { tail -40 $(FEEDPULSE_HOME)/demo-backfill.log; exit 1; }
	@if [ "$(SUPERSET)" = "1" ]; then $(MAKE) --no-print-directory superset; fi
	@echo "feed and app reports for $(DEMO_LAST) (outbox without TELEGRAM_BOT_TOKEN) and the dashboard"
	$(DEMO_LINKS) FEEDPULSE_START_DATE=$(DEMO_FIRST) $(BIN)/dagster asset materialize -m orchestration.definitions \
	  --select 'reports/feed_report,reports/app_report' --partition '$(DEMO_LAST)' > $(FEEDPULSE_HOME)/demo-reports.log 2>&1 \
	  || { tail -40 $(FEEDPULSE_HOME)/demo-reports.log; exit 1; }
	FEEDPULSE_START_DATE=$(DEMO_FIRST) $(BIN)/dagster asset materialize -m orchestration.definitions \
	  --select 'reports/dashboard' >> $(FEEDPULSE_HOME)/demo-reports.log 2>&1 \
	  || { tail -40 $(FEEDPULSE_HOME)/demo-reports.log; exit 1; }
	@echo "A/A and A/B reports of the demo experiment"
	FEEDPULSE_START_DATE=$(DEMO_FIRST) $(BIN)/dagster asset materialize -m orchestration.definitions \
	  --select 'group:experiments' >> $(FEEDPULSE_HOME)/demo-reports.log 2>&1 \
	  || { tail -40 $(FEEDPULSE_HOME)/demo-reports.log; exit 1; }
	@echo "outbox: $(FEEDPULSE_HOME)/outbox/ · dashboard: $(FEEDPULSE_HOME)/dashboard/index.html"
	sed -e "s/@START@/$$(TZ=$${FEEDPULSE_TIMEZONE:-Europe/Moscow} date -d '-15 minutes' '+%F %H:%M')/" \
	    examples/anomalies.demo.yaml.in > $(FEEDPULSE_HOME)/live-anomalies.yaml
	@kill $$(cat $(FEEDPULSE_HOME)/live.pid 2>/dev/null) 2>/dev/null || true
	nohup $(BIN)/feedpulse simulate --live --start $(DEMO_TODAY) --days 1 --scale $(DEMO_SCALE) \
	  --anomalies $(FEEDPULSE_HOME)/live-anomalies.yaml > $(FEEDPULSE_HOME)/live.log 2>&1 & echo $$! > $(FEEDPULSE_HOME)/live.pid
	@echo "live simulation running (log: $(FEEDPULSE_HOME)/live.log): a views drop injected into Android users from ads makes anomaly_sensor alert (the message names the segment)"
	@echo "dashboard_schedule on: the page is rewritten every 15 minutes (metrics_15min refreshed first), so its 15-minute panel follows today"
	$(VENV_PATH) FEEDPULSE_START_DATE=$(DEMO_FIRST) $(BIN)/dagster schedule start dashboard_schedule -w workspace.yaml \
	  >> $(FEEDPULSE_HOME)/demo-reports.log 2>&1 || { tail -20 $(FEEDPULSE_HOME)/demo-reports.log; exit 1; }
	@echo "Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops it; 'make localhouse-stop' stops ClickHouse)"
	$(VENV_PATH) $(DEMO_LINKS) FEEDPULSE_START_DATE=$(DEMO_FIRST) FEEDPULSE_ALERT_INTERVAL_SECONDS=60 \
	  $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

test: lint manifest
	$(BIN)/pytest

# The same checks as .pre-commit-config.yaml: ruff for Python, sqlfluff (.sqlfluff) for the dbt SQL.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests

bench: setup
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/etl.py
	$(BIN)/python bench/reports.py

# clickhouse-connect's own integration suite against a private local endpoint (issue 14).
# CONFORMANCE_MIRROR: the fetched ClickHouse/clickhouse-connect git mirror (see ../shared/conformance/README.md).
CONFORMANCE_SCRIPT ?= $(firstword $(wildcard $(CURDIR)/../shared/conformance/run-clickhouse-connect-suite.sh \
  $(CURDIR)/../../shared/conformance/run-clickhouse-connect-suite.sh))
CONFORMANCE_MIRROR ?= /work/.mirror/ClickHouse+clickhouse-connect/repo
conformance: setup
	@test -n "$(CONFORMANCE_SCRIPT)" || { echo "../shared/conformance/run-clickhouse-connect-suite.sh not found"; exit 2; }
	@test -d "$(CONFORMANCE_MIRROR)" || { echo "fetch ClickHouse/clickhouse-connect and set CONFORMANCE_MIRROR"; exit 2; }
	$(CONFORMANCE_SCRIPT) $(CONFORMANCE_MIRROR) $(CONFORMANCE_ARGS)

# Superset (issue 18) in its own venv: its pins (SQLAlchemy 1.4, pandas 2.1) cannot share .venv.
# Installed with Superset's pinned set as constraints (dashboards/superset/constraints.txt says why).
# `make superset` installs, configures ($(FEEDPULSE_HOME)/superset: sqlite metadata, SECRET_KEY made
# once, admin from FEEDPULSE_SUPERSET_ADMIN/FEEDPULSE_SUPERSET_PASSWORD or a generated password shown
# once), starts it on 127.0.0.1:8088 and imports dashboards/superset/ against CLICKHOUSE_* (default:
# the local endpoint, started here). `feedpulse superset start|stop|status|import` afterwards.
SUPERSET_VENV ?= .venv-superset
export FEEDPULSE_SUPERSET_VENV ?= $(CURDIR)/$(SUPERSET_VENV)
SUPERSET_REQUIREMENTS := dashboards/superset/requirements.txt dashboards/superset/constraints.txt

superset-venv: $(SUPERSET_VENV)/.installed

$(SUPERSET_VENV)/.installed: $(SUPERSET_REQUIREMENTS)
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet -r dashboards/superset/requirements.txt -c dashboards/superset/constraints.txt
	touch $@

superset: setup superset-venv
	$(BIN)/feedpulse superset setup
	@if [ -z "$$CLICKHOUSE_HOST" ]; then $(BIN)/feedpulse localhouse start; fi
	$(BIN)/feedpulse superset start
	$(BIN)/feedpulse superset import

superset-stop:
	-$(BIN)/feedpulse superset stop

localhouse-stop:
	-kill $$(cat $(FEEDPULSE_HOME)/live.pid 2>/dev/null) 2>/dev/null; rm -f $(FEEDPULSE_HOME)/live.pid
	-$(BIN)/feedpulse localhouse stop

clean: superset-stop localhouse-stop
	rm -rf $(VENV) $(SUPERSET_VENV) .feedpulse dbt_project/target dbt_project/logs
