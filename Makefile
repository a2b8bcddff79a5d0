# Set-up is two commands on a fresh machine: `make serve` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve test lint bench

install: $(STAMP)

# torch first, from the CPU wheel: any other torch release pulls several GB of CUDA wheels.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[fast,bench,test]"
	touch $@

serve: install
	$(VENV)/bin/stance serve --host 127.0.0.1 --port 8000

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m benchmarks.bench_train
	$(PY) -m benchmarks.bench_speed
