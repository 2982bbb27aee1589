# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.protolabel-installed
PORT ?= 8501
HOST ?= 127.0.0.1

.PHONY: install run test lint format bench clean

# torch==2.13.0 first: it is a CPU build on local disk; an open range would pull a CUDA build.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,text,vision,postgres,bench]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/protolabel app --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/meta_bench.py
	$(PY) bench/query_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
