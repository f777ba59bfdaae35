"""Label Studio import files: tasks with the model's pre-annotations, and the labeling
interface (label_config.xml) for a task's labels, texts shown right to left."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

# The names that tie the interface to the tasks' data and to the annotations' results.
TEXT_FIELD = "text"
ID_FIELD = "khabar_id"
CHOICES_NAME = "label"


def label_config(labels: Sequence[str], multi_label: bool) -> str:
    """The labeling interface: the text, right to left, and one choice per label.

    Parameters
    ----------
    labels : sequence of str
        The task's labels.
    multi_label : bool
        Several labels may be chosen (``choice="multiple"``).

    Returns
    -------
    str
        Label Studio's XML config.
    """
    choice = "multiple" if multi_label else "single-radio"
    options = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        '  <View style="direction: rtl; text-align: right; font-size: 1.2em">\n'
        f'    <Text name="{TEXT_FIELD}" value="${TEXT_FIELD}"/>\n'
        "  </View>\n"
        f'  <Choices name="{CHOICES_NAME}" toName="{TEXT_FIELD}" choice="{choice}" '
        'showInline="true" required="true">\n'
        f"{options}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def import_task(
    item_id: str,
    text: str,
    *,
    extra: dict | None = None,
    predicted: Sequence[str] | None = None,
    uncertainty: float | None = None,
    model_version: str = "",
    meta: dict | None = None,
) -> dict:
    """One Label Studio task, with the model's choice as a pre-annotation.

    Parameters
    ----------
    item_id : str
        The item's id, kept in ``data.khabar_id`` (ingest returns it).
    text : str
        The text shown to the annotator.
    extra : dict, optional
        Other columns of the item, kept in ``data``.
    predicted : sequence of str, optional
        The model's label(s); None: no pre-annotation (a cold start).
    uncertainty : float, optional
        The prediction's score, so Label Studio can sort tasks by it.
    model_version : str, default ""
        The model's run id (or URI).
    meta : dict, optional
        Selection facts (rank, strategy), kept in ``meta``.

    Returns
    -------
    dict
        The task as Label Studio imports it.
    """
    task: dict = {"data": {**(extra or {}), TEXT_FIELD: text, ID_FIELD: item_id}}
    if predicted is not None:
        result = {
            "from_name": CHOICES_NAME,
            "to_name": TEXT_FIELD,
            "type": "choices",
            "value": {"choices": list(predicted)},
        }
        task["predictions"] = [
            {"model_version": model_version, "score": uncertainty, "result": [result]}
        ]
    if meta:
        task["meta"] = meta
    return task
