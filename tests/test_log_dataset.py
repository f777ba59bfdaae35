"""Parallel runs logging one dataset: the unique-constraint race is retried, nothing else."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from khabar.record import tracking


def test_a_unique_constraint_race_is_retried_once(monkeypatch):
    calls = []

    def log_input(dataset, context):
        calls.append(context)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.x")

    monkeypatch.setattr(mlflow, "log_input", log_input)
    tracking.log_dataset(object(), "training")
    assert calls == ["training", "training"]


def test_other_errors_are_not_swallowed(monkeypatch):
    def log_input(dataset, context):
        raise MlflowException("the tracking server is gone")

    monkeypatch.setattr(mlflow, "log_input", log_input)
    with pytest.raises(MlflowException, match="server is gone"):
        tracking.log_dataset(object(), "training")
