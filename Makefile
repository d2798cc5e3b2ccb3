# Two commands do everything: `make run` (set up, then launch the app) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_INSTALL := DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -o Acquire::http::Timeout=20 install -y -q --no-install-recommends

.PHONY: run test browser bench docs headless serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/charlm-tui

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -rs -n 2

# The browser test needs a Chromium: Debian's, installed when missing and when we may (root, apt-get);
# otherwise the test is skipped and says why.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo "installing Chromium for the browser test" \
	     && { $(APT_INSTALL) chromium || { timeout 120 apt-get -o Acquire::http::Timeout=20 update -qq && $(APT_INSTALL) chromium; }; } >/dev/null 2>&1; } \
	|| echo "no Chromium, and it cannot be installed here: the browser test will be skipped"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# The README's pictures, redrawn from the code (tests/test_docs.py fails when a committed one is not).
docs: $(STAMP)
	$(BIN)/python docs/screenshot.py

serve: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	$(BIN)/charlm-tui serve

headless: $(STAMP)
	$(BIN)/charlm-tui --headless --steps 200

clean:
	rm -rf $(VENV) dist build .pytest_cache
