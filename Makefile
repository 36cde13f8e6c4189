# MoToRec developer entry points. `make demo` and `make test` work on a fresh machine: they build the
# virtual environment first (idempotent), then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data/ml-100k
STORE ?= motorec-store

.PHONY: venv demo test test-all bench lint clean-demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch and torchvision pinned to the builds this machine caches (see README)
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

venv: $(STAMP)

$(DATA)/ml-100k.inter:
	$(PY) scripts/fetch_ml100k.py $(DATA)

demo: $(STAMP) $(DATA)/ml-100k.inter
	$(PY) scripts/demo.py --data $(DATA) --store $(STORE)

test: $(STAMP)
	$(PY) -m pytest -q -m "not gpu"

bench: $(STAMP) $(DATA)/ml-100k.inter
	$(PY) benchmarks/tokenizer_bench.py --data $(DATA)

lint: $(STAMP)
	$(VENV)/bin/ruff check motorec tests benchmarks scripts

clean-demo:
	rm -rf $(STORE)
