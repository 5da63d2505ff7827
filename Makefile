# Two commands matter: `make demo` (install + run the example pipeline) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

.PHONY: venv demo test lint bench bench-quick clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9

$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q src  # the editable package too: no recompiling per process
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	cd examples/quickstart && ../../$(BIN)/datamill run sales && ../../$(BIN)/datamill runs --limit 3 && cat out/summary.json

test: venv
	$(BIN)/python tests/services.py ensure
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench examples

bench: venv
	$(BIN)/python -m bench

bench-quick: venv
	$(BIN)/python -m bench --quick

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV)
