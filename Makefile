# One-command setup, run and test on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch first, so that installing the project does not pull a
# multi-GB CUDA build; on a GPU host use e.g. `make setup TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed
# The data folder: the local artifacts and `rnncast up`'s own Redis (its AOF under redis/) live and go together.
DATA_DIR ?= $(or $(RNNCAST_DATA_DIR),.rnncast)

.PHONY: setup run test lint typecheck pytest docs bench clean browser screenshots

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m rnncast.core.compiled
	touch $(STAMP)

run: setup
	$(BIN)/rnncast up

lint: setup
	$(BIN)/ruff check .

# mypy reads the rnncast namespace as installed: src/rnncast/ (links to the top folders, committed).
typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest -q

# The documentation site, into site/ (git-ignored); --strict fails on a dead link or a broken generated page.
# The two variables only silence mkdocs' and material's banners about their successors.
DOCS_ENV := DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1
docs: setup
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

# The dashboard's tests drive Debian's Chromium (Playwright, executable_path): installed
# here when missing and this is root with apt-get (CI); elsewhere those tests skip and say so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "no chromium (install Debian's 'chromium' as root): the browser tests will be skipped"; fi; }

# The docs' dashboard screenshots and sunspot figures, taken by the tests themselves.
screenshots: setup browser
	RNNCAST_SCREENSHOT_DIR=docs/img $(BIN)/python -m pytest -q tests/ui -k "cancelled or comparison"
	RNNCAST_SCREENSHOT_DIR=docs/img $(BIN)/python -m pytest -q tests/e2e/test_own_series.py

test: setup browser docs
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/core_defaults.py

# The data folder goes whole: files and the records of `rnncast up`'s own Redis together (stop `up` first).
clean:
	rm -rf $(VENV) "$(DATA_DIR)" .pytest_cache .mypy_cache .ruff_cache .typecheck site
