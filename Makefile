# MoToRec developer entry points. `make demo` and `make test` work on a fresh machine: they build the
# virtual environment first (idempotent), then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data/ml-100k
STORE ?= motorec-store

.PHONY: venv demo test test-all bench bench-scale lint clean-demo

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

MOTOREC := $(VENV)/bin/motorec
PARQ := $(DATA)/parquet
SPLIT := $(DATA)/split
DEMO_CFG ?= configs/ml100k.toml

demo: $(STAMP) $(DATA)/ml-100k.inter
	$(PY) -c "from motorec.datasets import write_ml100k_parquet as w; w('$(DATA)', '$(PARQ)')"
	$(MOTOREC) split $(PARQ)/interactions.parquet --out $(SPLIT) --seed 0
	@echo "== tokenize the 1,682 movies (text: MiniLM; RQ-VAE L=6, K=64)"
	$(MOTOREC) tokenize $(PARQ)/catalog.parquet --store $(STORE) --config $(DEMO_CFG)
	@echo "== the same catalog again: nothing to do"
	$(MOTOREC) tokenize $(PARQ)/catalog.parquet --store $(STORE) --config $(DEMO_CFG)
	$(MOTOREC) sql "SELECT item_id, title, sid FROM items JOIN current_codes USING (item_id) ORDER BY CAST(item_id AS INT) LIMIT 5" --store $(STORE)
	@echo "== train the graph recommender (strict-cold movies have no interactions in training)"
	$(MOTOREC) train $(SPLIT)/train.parquet --valid $(SPLIT)/valid.parquet --store $(STORE) --config $(DEMO_CFG)
	$(PY) scripts/demo_eval.py --store $(STORE) --split $(SPLIT) --config $(DEMO_CFG)
	$(MOTOREC) recommend --user 1 --k 10 --store $(STORE) --out $(STORE)/recs_user1.parquet
	$(PY) scripts/demo_show.py $(STORE)/recs_user1.parquet $(PARQ)/catalog.parquet $(SPLIT)/cold_items.parquet
	@echo "== movies sharing a 2-level prefix with a strict-cold movie"
	$(MOTOREC) sql --query prefix_neighbors --param item_id=$$($(PY) scripts/pick_cold.py $(STORE) $(SPLIT)/cold_items.parquet) --param n=2 --store $(STORE)
	@echo "== dead codes per level"
	$(MOTOREC) sql --query dead_codes --store $(STORE)
	$(MOTOREC) report --store $(STORE) --out report.html

test: $(STAMP)
	$(PY) -m pytest -q -m "not gpu"

# cornac (BPR and VBPR peers of ml100k_bench) is installed for the benchmarks only, never a motorec dependency
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet "cornac==3.0.1"
	touch $(BENCH_STAMP)

# each writes its table to benchmarks/results/; none of them gates CI
bench: $(BENCH_STAMP) $(DATA)/ml-100k.inter
	$(PY) benchmarks/tokenizer_bench.py --data $(DATA)
	$(PY) benchmarks/pipeline_bench.py
	$(PY) benchmarks/ml100k_bench.py --data $(DATA)

# synthetic catalogs up to 1M items, local and Ray engines (about an hour on 2 cores)
bench-scale: $(STAMP)
	$(PY) benchmarks/scale_bench.py

lint: $(STAMP)
	$(VENV)/bin/ruff check motorec tests benchmarks scripts

clean-demo:
	rm -rf $(STORE)
