# The two commands of the README: `make run` (the main job) and `make test`. Each makes .venv when missing.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench lab clean

run: $(STAMP)
	$(VENV)/bin/ltkit imp --dataset mnist1d --model mlp --json build/imp-mnist1d-mlp.json

test: $(STAMP) lint
	TQDM_DISABLE=1 $(PYTHON) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PYTHON) benchmarks/epoch_speed.py
	$(PYTHON) benchmarks/threads.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

$(STAMP): pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf build data/runs
