# Two entry points: `make run` serves the site, `make test` runs the whole suite.
# Both set up what they need first and reuse it on the next run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi:app

.PHONY: run test setup lint fmt bench

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json
	DSFR_ACCEPT_LICENSE=1 npm install --no-audit --no-fund --loglevel=error
	touch $@

# The demo's settings: .env.example as it is (development, SQLite, mail to files, the frozen
# clock); `flask` and wsgi.py read .env, so every command of the README sees them too.
.env:
	cp .env.example .env
	@echo "Created .env from .env.example (development settings); edit it as you like."

# The outbox worker runs beside the site and stops with it (mail lands in instance/mail/).
run: export APP_ENV ?= development
run: setup .env
	$(BIN)/flask db upgrade
	$(BIN)/flask outbox worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# Two workers on two cores (pytest-xdist); JOBS=0 runs in one process.
JOBS ?= auto
test: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/run.py
