# Everything bootstraps its own virtual environment from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint check sandbox clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## demo: the main job, on embedded defaults
demo: $(STAMP)
	$(BIN)/csp-orders demo

## test: lint, type-check and the whole test suite (the Web UI test drives Debian's Chromium)
test: lint $(STAMP) chromium
	$(BIN)/pytest

## chromium: Debian's Chromium for the browser test (Playwright drives it; it downloads nothing)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

sandbox: $(STAMP)
	$(BIN)/csp-orders sandbox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
