# Two commands: `make run` (set up everything and serve the studio) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The embedded mode's SQLite database, media and secret key live here.
DATA_DIR ?= $(CURDIR)/var
export DATA_DIR

# make test uses the real services of this machine unless the environment says otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/craftframe
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/15
TEST_RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672

.PHONY: run test setup browser lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

$(DATA_DIR)/secret_key:
	mkdir -p $(DATA_DIR)
	$(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

# One ASGI process (the StubBroker's queue lives in it): open event streams hold no thread; the
# embedded worker threads run jobs; sync views run on threads of their own.
run: setup $(DATA_DIR)/secret_key
	export SECRET_KEY="$${SECRET_KEY:-$$(cat $(DATA_DIR)/secret_key)}" && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py createcachetable && \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0 && \
	$(BIN)/python manage.py seed && \
	echo "CraftFrame studio: http://$(HOST):$(PORT)/  (API docs: /api/v1/docs/)" && \
	exec $(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --workers 1 \
		--lifespan off --timeout-graceful-shutdown 5 --no-server-header

# The browser tests drive Debian's Chromium (Playwright cannot download a browser here).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
browser:
	@test -x $(CHROMIUM) || { echo "Installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	RABBITMQ_URL="$${RABBITMQ_URL:-$(TEST_RABBITMQ_URL)}" \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(BIN)/python bench/ledger_bench.py
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/14}" $(BIN)/python bench/generation_bench.py \
		--clients 1,4,16
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/14}" $(BIN)/python bench/generation_bench.py \
		--clients 16 --think 1.0
	$(BIN)/python bench/local_provider_bench.py
	$(BIN)/python bench/operations_bench.py
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/14}" $(BIN)/python bench/sse_bench.py

clean:
	rm -rf $(VENV) $(CURDIR)/var
