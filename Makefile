# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Each creates .venv when missing and installs the project (pinned by constraints.txt) into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MLFLOW_SERVER := $(VENV)/mlflow-server
MLFLOW_SERVER_REQUIREMENTS := tests/mlflow-server-requirements.txt
export HF_HUB_OFFLINE := 1
export YOLO_OFFLINE := 1

.PHONY: demo test test-fast lint install clean mlflow-server

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(MLFLOW_SERVER_REQUIREMENTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(MAKE) mlflow-server
	touch $(STAMP)

# The MLflow server the registry tests start, beside the venv (see the requirements file for why).
mlflow-server:
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(MLFLOW_SERVER) -r $(MLFLOW_SERVER_REQUIREMENTS)

demo: $(STAMP)
	$(BIN)/genmedia demo

# Lint first (seconds), then every test: unit, ray and slow.
test: $(STAMP) lint
	$(BIN)/python -m pytest

# The unit tests only (no Ray, no servers, no real models): under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "unit and not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf genmedia-out .pytest_cache
