# One-command setup, run and test on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch first, so that installing the project does not pull a
# multi-GB CUDA build; on a GPU host use e.g. `make setup TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: setup run test lint typecheck pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/rnncast up

lint: setup
	$(BIN)/ruff check .

# mypy cannot follow the editable install's import hook for the rnncast
# namespace: it checks the same files through links laid out as installed.
TYPECHECK_LINKS := $(foreach p,core common service worker client,.typecheck/rnncast/$(p))

$(TYPECHECK_LINKS):
	mkdir -p .typecheck/rnncast
	ln -sfn ../../$(notdir $@) $@

typecheck: setup $(TYPECHECK_LINKS)
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest -q

test: setup $(TYPECHECK_LINKS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/core_defaults.py

clean:
	rm -rf $(VENV) .rnncast .pytest_cache .mypy_cache .ruff_cache .typecheck
