# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Each creates .venv when missing and installs the project (pinned by constraints.txt) into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export YOLO_OFFLINE := 1

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genmedia demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf genmedia-out .pytest_cache
