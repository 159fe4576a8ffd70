# Every target works on a fresh clone with only python3 and make: the first one
# that needs it creates .venv and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit checkov fuzz bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cronbridge demo

lint: $(STAMP)
	$(BIN)/ruff format --check bridge triggers publishers tests bench
	$(BIN)/ruff check bridge triggers publishers tests bench

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

# Figures, never pass/fail: bench/results.json and bench/RESULTS.md (with a plot).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run

# The parsers of outside input with a hundred thousand examples each, not a few thousand.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/unit

# checkov pins its own dependencies, so it lives in a venv of its own. --skip-download
# keeps it offline; every skipped check is skipped inline, next to its reason.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==3.3.30'
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform --skip-download \
		--quiet --compact --skip-path '\.terraform'

test: lint types unit checkov

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .cache .mypy_cache .pytest_cache .ruff_cache .hypothesis
