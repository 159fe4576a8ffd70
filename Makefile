# Every target works on a fresh clone with only python3 and make: the first one
# that needs it creates .venv and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# .venv/.python names the python that made the venv. The stamps say what is installed:
# the project alone (all `make demo` needs), or with the dev tools (everything else).
VENV_STAMP := $(VENV)/.python
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP := $(VENV)/.installed-dev

# The venv is made again when its python no longer runs, when making it failed halfway
# (no .venv/.python), or when $(PYTHON) is another python than the one that made it.
python_id = $(shell $(1) -c 'import sys; print(sys.version.split()[0], sys.base_prefix)' 2>/dev/null)
WANT := $(call python_id,$(PYTHON))
HAVE := $(call python_id,$(BIN)/python)
MADE := $(shell cat $(VENV_STAMP) 2>/dev/null)
# A venv an older Makefile finished (it left .venv/.installed) is kept if its python is right.
ifeq ($(MADE)$(wildcard $(VENV)/.installed),$(VENV)/.installed)
  MADE := $(HAVE)
  VENV_KEEP := yes
endif
ifeq ($(HAVE),)
  VENV_STALE := FORCE
else ifneq ($(HAVE),$(MADE))
  VENV_STALE := FORCE
else ifneq ($(WANT),)
  ifneq ($(WANT),$(HAVE))
    VENV_STALE := FORCE
  endif
endif
ifeq ($(VENV_STALE),FORCE)
  VENV_KEEP :=
endif

.PHONY: demo test lint types unit checkov fuzz bench clean FORCE

$(VENV_STAMP): $(VENV_STALE)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "cronbridge needs Python 3.11 or newer; $(PYTHON) is not: run make PYTHON=python3.11 (or newer)" >&2; \
		exit 1; }
ifeq ($(VENV_KEEP),)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
endif
	$(BIN)/python -c 'import sys; print(sys.version.split()[0], sys.base_prefix)' > $@

$(BASE_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# '.[dev]' holds the project too: it stands for the base install as well.
$(DEV_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(BASE_STAMP)

FORCE:

demo: $(BASE_STAMP)
	$(BIN)/cronbridge demo

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check bridge triggers publishers tests bench
	$(BIN)/ruff check bridge triggers publishers tests bench

types: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

# Figures, never pass/fail: bench/results.json and bench/RESULTS.md (with a plot).
bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run

# The parsers of outside input with a hundred thousand examples each, not a few thousand.
fuzz: $(DEV_STAMP)
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
