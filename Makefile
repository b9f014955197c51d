# The README's two commands: `make demo` and `make test`. Both set up .venv first (quick when done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(shell command -v uv 2>/dev/null)


.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
ifdef UV
	test -x $(BIN)/python || $(UV) venv --python $(PYTHON) $(VENV)
	$(UV) pip install --python $(BIN)/python --compile-bytecode -e '.[test,demo]'
else
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,demo]'
endif
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/reef validate solutions/hello-sweep
	$(BIN)/reef benchmark solutions/hello-sweep
	$(BIN)/reef results --solution hello-sweep
	mkdir -p .reef-demo
	$(BIN)/reef dashboard --solution solutions/hello-sweep -o .reef-demo/dashboard.html
	@echo "dashboard: $(CURDIR)/.reef-demo/dashboard.html (offline, open it in a browser)"

lint: $(STAMP)
	$(BIN)/ruff check reefnb tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
