# Each target sets itself up: a fresh machine needs only Python 3.11+ and PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/khabar train configs/topic.yaml
	$(BIN)/khabar train configs/topics_multilabel.yaml
	$(BIN)/khabar train configs/stance.yaml
	@echo
	@echo "Reports: reports/<experiment>/<run>/summary.md (plots beside it)"
	@echo "Open the MLflow UI: $(BIN)/khabar ui   (then http://127.0.0.1:5000)"

test: $(STAMP)
	$(BIN)/ruff check src tests experiments
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests experiments
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) mlflow.db mlruns mlartifacts .khabar-cache
