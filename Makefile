# Two commands matter: `make demo` to see the platform, `make test` to test it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# The test settings: real Postgres and Redis on this machine.
TEST_ENV := DEBUG=0 SECRET_KEY=test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz \
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/visexp \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
	STATICFILES_STORAGE=django.contrib.staticfiles.storage.StaticFilesStorage \
	SECURE_COOKIES=0 ALLOWED_HOSTS=127.0.0.1,localhost,testserver \
	MEDIA_ROOT=$(CURDIR)/var/test-media TORCH_DEVICE=cpu

.PHONY: demo dev test test-pgbouncer bench lint loadtest services chromium gettext messages clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/activate
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-oracles.txt $(VENV)/.runtime
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-oracles.txt
	touch $@

demo: $(VENV)/.runtime
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py demo --host http://$(HOST):$(PORT)
	@echo "Serving on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)  Ctrl-C to stop"
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# The site with its real parts on this machine: Postgres, Redis, gunicorn and one Celery worker.
dev: $(VENV)/.runtime
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bash scripts/dev.sh

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# GNU gettext: the catalogue test extracts (xgettext) and compiles (msgfmt) the participant catalogues.
gettext:
	@command -v msgfmt >/dev/null && command -v xgettext >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext)

# After changing a participant-facing string: extract, then translate what is new in locale/*/LC_MESSAGES/django.po,
# then run this again to compile the .mo files (committed, so that the site itself needs no gettext).
messages: $(VENV)/.runtime gettext
	DEBUG=1 $(PY) manage.py update_catalogues

services:
	@bash scripts/ensure-services.sh

test: $(VENV)/.dev chromium gettext services
	rm -rf var/test-media
	$(TEST_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(TEST_ENV) $(PY) -m pytest

# The reliability tests once more, with every database connection through PgBouncer (transaction mode).
test-pgbouncer: $(VENV)/.dev services
	@command -v pgbouncer >/dev/null || (apt-get update -qq && apt-get install -y -qq pgbouncer)
	$(TEST_ENV) $(PY) -m pytest tests/reliability tests/test_stateless_web_nodes.py tests/participant/test_answers.py tests/results/test_export.py --through-pgbouncer

bench: $(VENV)/.dev services
	$(PY) bench/engine.py
	$(TEST_ENV) $(PY) bench/generation.py

loadtest: $(VENV)/.dev services
	$(PY) bench/loadtest.py $(LOADTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var/test-media staticfiles .pytest_cache
