# Two commands: `make run` (set up everything and serve the studio) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# make test uses the real services of this machine unless the environment says otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/craftframe
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/15

.PHONY: run test setup lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

var/secret_key:
	mkdir -p var
	$(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

run: setup var/secret_key
	SECRET_KEY="$$(cat var/secret_key)" $(BIN)/python manage.py migrate --noinput
	SECRET_KEY="$$(cat var/secret_key)" $(BIN)/python manage.py createcachetable
	SECRET_KEY="$$(cat var/secret_key)" $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	SECRET_KEY="$$(cat var/secret_key)" $(BIN)/python manage.py seed
	@echo "CraftFrame studio: http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/v1/docs/)"
	SECRET_KEY="$$(cat var/secret_key)" exec $(BIN)/gunicorn config.wsgi \
		--bind $(HOST):$(PORT) --workers 1 --threads 8 --timeout 120 \
		--access-logfile - --error-logfile -

test: setup
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(BIN)/python bench/ledger_bench.py

clean:
	rm -rf $(VENV) var
