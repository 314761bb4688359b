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
	$(PIP) -e ".[train,dev,export,paddle]"
	touch $@ $(VENV)/.stamp-demo

# TF.js engine for the web-model tests: Node.js packages from the npm registry (pure JS + wasm, no native addon).
# Without npm the TF.js tests skip and say why.
TFJS_MODULES := $(abspath $(VENV))/tfjs/node_modules
TFJS_PACKAGES := @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-converter@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 \
                 @tensorflow/tfjs-backend-wasm@4.22.0
$(VENV)/.stamp-tfjs: | $(BIN)/python
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/tfjs $(TFJS_PACKAGES) \
		|| echo "tfjs: npm install failed; the TF.js tests will skip"; \
	else echo "tfjs: npm not found; the TF.js tests will skip"; fi
	touch $@

venv: $(VENV)/.stamp-test

demo: $(VENV)/.stamp-demo
	$(BIN)/edgeseg demo --out $(DEMO_OUT)

test: $(VENV)/.stamp-test $(VENV)/.stamp-tfjs
	EDGESEG_TFJS_MODULES=$(TFJS_MODULES) $(BIN)/pytest

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
