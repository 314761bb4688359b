# Two entry points, both idempotent on a fresh machine with only python3 and make:
#   make demo   - create .venv, install what the demo needs, run the bundled end-to-end job
#   make test   - create/update .venv with everything the tests need, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
DEMO_OUT ?= demo-output

.PHONY: demo test venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) "setuptools>=68" wheel

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.stamp-demo: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[train,export]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[train,dev,export]"
	touch $@ $(VENV)/.stamp-demo

venv: $(VENV)/.stamp-test

demo: $(VENV)/.stamp-demo
	$(BIN)/edgeseg demo --out $(DEMO_OUT)

test: $(VENV)/.stamp-test
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
