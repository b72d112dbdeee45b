# The two set-up commands are `make run` and `make test`; everything else here serves them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install chromium browser-sdks demo-web bench check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium drives the web devices and the browser tests (Playwright's own download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: install Debian's chromium package" >&2; exit 1; fi; }

# npm folders, each pinned by its lock file: the official browser analytics SDKs that the end-to-end
# decoder tests load into Chromium, and the demo shop's front end (the Sensors Data web SDK).
BROWSER_SDKS := tests/e2e/browser_sdks
DEMO_WEB := demo/web
%/node_modules/.installed: %/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else echo "npm is missing: install Debian's nodejs and npm packages" >&2; exit 1; fi; }
	npm ci --prefix $* --no-audit --no-fund --loglevel=error
	touch $@

browser-sdks: $(BROWSER_SDKS)/node_modules/.installed
demo-web: $(DEMO_WEB)/node_modules/.installed

run: install chromium demo-web
	$(BIN)/trackreplay up --demo --host $(HOST) --port $(PORT)

# One test worker per core (pytest-xdist): the browser, phone and loop tests spend most of their time waiting.
# The whole-loop tests share one worker (xdist_group "loops"): two of them side by side starve each other.
test: install chromium browser-sdks demo-web
	$(BIN)/python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

bench: install chromium demo-web
	$(BIN)/python -m pytest -m bench tests/bench -s $(PYTEST_ARGS)

check: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

clean:
	rm -rf $(VENV) var/ .pytest_cache
