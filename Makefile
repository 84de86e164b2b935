# The only commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
PORT ?= 8000
DEMO_PORT ?= 8765

.PHONY: run test test-fast lint bench soak setup install browser dcmtk clean docker-tools images compose-check lock static messages gettext

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Keys (mode 0600, under var/keys, never tracked), database, static files, queue folders.
setup: $(STAMP)
	mkdir -p var/celery/queue var/celery/processed
	$(BIN)/python manage.py init_keys
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	DEMO_ENDPOINT_URL=http://127.0.0.1:$(DEMO_PORT) $(BIN)/python manage.py setup_demo_endpoint

run: setup
	@echo
	@echo "  Scan gateway: http://127.0.0.1:$(PORT)/"
	@echo "  DICOM node (C-STORE/C-ECHO): 127.0.0.1:$${DICOM_PORT:-11112}, peers set under /clinic/dicom/"
	@echo "  First account: sign up in the browser (the confirmation email is written to var/mail/),"
	@echo "  or: .venv/bin/python manage.py create_account you@example.org --role patient"
	@echo "  A clinic admin: .venv/bin/python manage.py create_account admin@example.org --role clinic_admin"
	@echo "  Ctrl-C stops everything."
	@echo
	PATH=$(BIN):$$PATH GATEWAY_PORT=$(PORT) DEMO_PORT=$(DEMO_PORT) PUBLIC_URL=$${PUBLIC_URL:-http://127.0.0.1:$(PORT)} \
	  $(BIN)/honcho start -f Procfile

# Browser libraries, from the npm registry through package-lock.json, served by the gateway itself
# (no CDN). The copies under static/vendor are committed; this refreshes them (npm from Debian if missing).
VENDOR := static/vendor
static:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; fi; }
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(VENDOR)/tus-js-client
	cp node_modules/tus-js-client/dist/tus.min.js node_modules/tus-js-client/LICENSE $(VENDOR)/tus-js-client/
	sed -i '/^\/\/# sourceMappingURL=/d' $(VENDOR)/tus-js-client/tus.min.js

# Debian's Chromium drives the browser tests, dicom3tools' dciodvfy checks that released
# objects stay valid (tests/scans/deid/test_realworld.py), and the DejaVu and Liberation fonts
# draw the labelled pixel set's text (tests/support/pixelset.py: without them it is another
# set); all installed once, if missing.
FONTS := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
APT_TEST_TOOLS := chromium dicom3tools fonts-dejavu-core fonts-liberation
browser:
	@command -v chromium >/dev/null && command -v dciodvfy >/dev/null && ls $(FONTS) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_TEST_TOOLS) >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_TEST_TOOLS) >/dev/null; fi; }

# Debian's dcmtk: the PACS-side DICOM clients (storescu, echoscu) the node is tested with.
dcmtk:
	@command -v storescu >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk >/dev/null; fi; }

# Debian's gettext (msgfmt, xgettext): only to change the catalogues; the compiled .mo files are
# committed, so `make run` and `make test` work without it.
gettext:
	@command -v msgfmt >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; fi; }

# The German, French and Spanish catalogues: new strings extracted (then translate them: a test
# fails on any untranslated or fuzzy message), and every catalogue compiled.
I18N_IGNORE := --ignore='.venv/*' --ignore='node_modules/*' --ignore='staticfiles/*' --ignore='tests/*' --ignore='bench/*' --ignore='deploy/*' --ignore='static/vendor/*'
messages: $(STAMP) gettext
	$(BIN)/python manage.py makemessages -l de -l fr -l es -e html,txt,py --no-obsolete $(I18N_IGNORE)
	$(BIN)/python manage.py makemessages -d djangojs -l de -l fr -l es --no-obsolete $(I18N_IGNORE)
	$(BIN)/python manage.py compilemessages --ignore='.venv'

test: $(STAMP) browser dcmtk
	$(BIN)/python -m pytest

# The suite without the browser, dcmtk and fault tests: PostgreSQL and Redis, no Chromium, no root.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser and not faults and not slow and not dcmtk" -p no:playwright

# ruff, the import contracts (pyproject: [tool.importlinter]) and the types (mypy + django-stubs).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/vault_bench.py
	$(BIN)/python bench/upload_bench.py
	$(BIN)/python bench/deid_bench.py
	$(BIN)/python bench/pixel_bench.py
	$(BIN)/python bench/chunk_bench.py
	$(BIN)/python bench/answer_bench.py
	$(BIN)/python bench/slow_clients.py

# Load and fault runs against the production shape: private PostgreSQL and Redis on loopback,
# gunicorn, two workers (root needed for the tmpfs of the disk-full test).
SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python -m pytest tests/faults -q -p no:playwright
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# --- The production shape (README "Production with compose") ------------------------------------
# Docker's engine and compose (Debian's docker.io, docker-compose) and mmdebstrap, if missing.
docker-tools:
	@command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v mmdebstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose mmdebstrap >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose mmdebstrap >/dev/null; fi; }

# Every image (app, PostgreSQL 15, Redis) from one Debian base; needs a running engine.
images: $(STAMP) docker-tools
	$(BIN)/python deploy/images.py

# Build, run and check the whole stack from outside, then remove everything it made
# (COMPOSE_CHECK_ARGS=--quick: what CI runs).
COMPOSE_CHECK_ARGS ?=
compose-check: $(STAMP) docker-tools
	$(BIN)/python deploy/compose_check.py $(COMPOSE_CHECK_ARGS)

# requirements.lock: the images' exact packages and hashes, from pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip compile pyproject.toml deploy/image-build.in --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" \
	  --no-emit-package opencv-python \
	  --quiet -o requirements.lock
