# Each target sets itself up: a fresh machine needs only Python 3.11+ and PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Label Studio, for the labeling round-trip test (tests/test_label_studio.py), in a virtual
# environment of its own: its pins (numpy 2.2, pyarrow 24, pytz 2022, Django 5) would
# downgrade khabar's. sentry-sdk 3 breaks label-studio 1.23's start, hence the bound.
LS_VENV := .venv-labelstudio
LABEL_STUDIO_VERSION := 1.23.2
LS_STAMP := $(LS_VENV)/.installed-$(LABEL_STUDIO_VERSION)

.PHONY: run test lint clean label-studio

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

# A failed install does not fail this target: the round-trip test then skips, its reason
# (the install's last lines, from $(LS_VENV)/install.log) in pytest's summary (-rs), and
# the next run tries again.
$(LS_STAMP):
	@mkdir -p $(LS_VENV)
	@echo "installing label-studio $(LABEL_STUDIO_VERSION) into $(LS_VENV) (log: $(LS_VENV)/install.log)"
	@if { $(PYTHON) -m venv $(LS_VENV) \
	      && $(LS_VENV)/bin/pip install --quiet --upgrade pip \
	      && $(LS_VENV)/bin/pip install --quiet "label-studio==$(LABEL_STUDIO_VERSION)" "sentry-sdk<3"; \
	    } >$(LS_VENV)/install.log 2>&1; then \
	  touch $@; \
	else \
	  echo "label-studio could not be installed; its round-trip test will be skipped:"; \
	  grep -v "^WARNING: Location" $(LS_VENV)/install.log | tail -n 5; \
	fi

label-studio: $(LS_STAMP)

test: $(STAMP) $(LS_STAMP)
	$(BIN)/ruff check src tests experiments
	$(BIN)/lint-imports
	$(BIN)/pytest -rs

lint: $(STAMP)
	$(BIN)/ruff check src tests experiments
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(LS_VENV) mlflow.db mlruns mlartifacts .khabar-cache
