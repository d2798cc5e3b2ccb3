# Two commands do everything: `make run` (set up, then launch the app) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench headless serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/charlm-tui

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

serve: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	$(BIN)/charlm-tui serve

headless: $(STAMP)
	$(BIN)/charlm-tui --headless --steps 200

clean:
	rm -rf $(VENV) dist build .pytest_cache
