"""The MLflow Model Registry: register a run's model under a name, point an alias at it
(`models:/NAME@champion`), and trace a model URI back to the run that trained it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException

from khabar.errors import KhabarError, first_line
from khabar.record.tracking import use_store

MODEL_ARTIFACT_NAME = "model"  # the name train.py logs the Pipeline under


@dataclass
class Registered:
    """A registered model version, as `register` returns it.

    Attributes
    ----------
    name : str
        The registered model's name.
    version : str
        The new version's number.
    run_id : str
        The training run whose model it is.
    alias : str or None
        The alias pointed at the version, if any.
    """

    name: str
    version: str
    run_id: str
    alias: str | None

    @property
    def uri(self) -> str:
        """The model URI: ``models:/NAME@ALIAS`` with an alias, else ``models:/NAME/VERSION``."""
        return (
            f"models:/{self.name}@{self.alias}"
            if self.alias
            else f"models:/{self.name}/{self.version}"
        )


def logged_model_id(run_id: str) -> str:
    """The id of the model a khabar training run logged (MLflow 3 'logged model').

    Parameters
    ----------
    run_id : str
        A training run.

    Returns
    -------
    str
        The logged model's id (``m-...``); the one named "model" when the run logged
        several.

    Raises
    ------
    KhabarError
        The run is not in the store, or logged no model.
    """
    client = mlflow.MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise KhabarError(
            f"run {run_id}: not found in {mlflow.get_tracking_uri()} ({first_line(exc)})"
        ) from None
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        output_format="list",
    )
    named = [m for m in models if m.name == MODEL_ARTIFACT_NAME] or models
    if not named:
        raise KhabarError(f"run {run_id}: logged no model (did its training finish?)")
    return named[0].model_id


def register(run_id: str, name: str, alias: str | None = None) -> Registered:
    """Register the run's model as a new version of NAME; with an alias, point it there.

    Parameters
    ----------
    run_id : str
        A khabar training run that logged its model.
    name : str
        The registered model's name; created when new.
    alias : str, optional
        An alias to point at the new version (e.g. champion: ``models:/NAME@champion``).

    Returns
    -------
    Registered
        The new version.

    Raises
    ------
    KhabarError
        The store is unreachable, the run or its model is missing, or MLflow refuses the
        name or the alias; a version whose alias failed is deleted again.
    """
    use_store()
    model_id = logged_model_id(run_id)
    client = mlflow.MlflowClient()
    try:
        # mlflow.register_model (not client.create_model_version) also tags the logged model
        # with its versions, which the UI's runs table shows as "NAME vN".
        version = mlflow.register_model(f"models:/{model_id}", name)
    except MlflowException as exc:
        raise KhabarError(f"cannot register run {run_id} as {name!r}: {first_line(exc)}") from None
    if alias:
        try:
            client.set_registered_model_alias(name, alias, version.version)
        except MlflowException as exc:
            # No version without the alias the user asked for: they re-run with a valid one.
            client.delete_model_version(name, version.version)
            raise KhabarError(
                f"cannot set alias {alias!r} on {name!r}: {first_line(exc)}"
            ) from None
    return Registered(name, str(version.version), run_id, alias)


def run_id_of(model_uri: str) -> str | None:
    """The training run behind a model URI.

    Parameters
    ----------
    model_uri : str
        A URI runs:/RUN/..., models:/m-…, models:/NAME@ALIAS or models:/NAME/VERSION;
        anything else (e.g. a folder) has no run.

    Returns
    -------
    str or None
        The run id, or None.

    Raises
    ------
    KhabarError
        The store does not know the logged model, alias or version.
    """
    if match := re.fullmatch(r"runs:/([^/]+)/.*", model_uri):
        return match.group(1)
    if not model_uri.startswith("models:/"):
        return None
    reference = model_uri.removeprefix("models:/").rstrip("/")
    client = mlflow.MlflowClient()
    try:
        if reference.startswith("m-") and "/" not in reference and "@" not in reference:
            return client.get_logged_model(reference).source_run_id
        if "@" in reference:
            name, alias = reference.split("@", 1)
            return client.get_model_version_by_alias(name, alias).run_id
        name, _, version = reference.rpartition("/")
        if name and version.isdigit():
            return client.get_model_version(name, version).run_id
    except MlflowException as exc:
        raise KhabarError(f"{model_uri}: {first_line(exc)}") from None
    return None
