"""A real labeling round trip: `khabar select` -> Label Studio -> `khabar ingest`.

One real Label Studio (the `label-studio` package, 1.23, from its own virtual environment
`.venv-labelstudio`, which `make test` makes) runs for the module on 127.0.0.1. `select`
writes a cold-start batch of five fixture items (a Label Studio import file and
`label_config.xml`); a project is made through the REST API with that XML and the tasks
are imported. Two tasks are labeled as a person labels them: in headless Chromium
(Debian's chromium + chromium-driver), logged in on the login page, on each task's
labeling page a click on the choice and a click on Submit. The page is driven reliably
(its choices are `label.lsf-choice__checkbox` elements holding `input[name=<label>]`;
Submit is `bottombar-submit-button`); only where Chromium is missing are the two
annotations posted through the API instead (`POST /api/tasks/{id}/annotations`), with a
warning. The project is exported through the API as JSON, JSON-MIN and CSV (all tasks) and
`ingest` must return exactly those two labels from each.

A second, multi-label project is annotated through the API (no person needed to test the
formats): several choices, a cancelled annotation, and a task annotated twice (the later
annotation wins).

Skipped only when Label Studio is not installed, with the reason (the install's error).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from khabar.data.label_studio import import_task, label_config
from khabar.runs.ingest import ingest
from khabar.runs.select import select

from .browser import CHROMEDRIVER, CHROMIUM, headless_chromium
from .conftest import NEWS_SMALL, PROJECT, write_config, write_jsonl
from .label_studio_server import PASSWORD, USER, LabelStudio, label_studio, missing_reason

FORMATS = ("JSON", "JSON_MIN", "CSV")
SCREENSHOTS = PROJECT / "reports" / "label_studio"
WAIT_SECONDS = 90

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
]


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> LabelStudio:
    folder = tmp_path_factory.mktemp("label-studio")
    with label_studio(folder / "data", folder / "label-studio.log") as server:
        yield server


@dataclass
class RoundTrip:
    folder: Path  # the select batch: tasks.json, label_config.xml, and the exports
    labeled: dict[str, str]  # item id -> the label given on the labeling page
    texts: dict[str, str]  # item id -> text, of the whole batch
    exports: dict[str, Path]  # export type -> file


def _fixture_rows(count: int) -> list[dict]:
    with open(NEWS_SMALL, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][:count]


def _two_to_label(tasks: list[dict], gold: dict[str, str]) -> dict[int, tuple[str, str]]:
    """Two tasks and the labels a person gives them: the first task's gold label, and for
    another task its gold label when it differs, else another label (two distinct labels,
    so a label written to the wrong item shows)."""
    first, second = tasks[0], tasks[1]
    first_label = gold[first["data"]["khabar_id"]]
    second_label = gold[second["data"]["khabar_id"]]
    for task in tasks[1:]:
        if gold[task["data"]["khabar_id"]] != first_label:
            second, second_label = task, gold[task["data"]["khabar_id"]]
            break
    else:
        second_label = next(label for label in sorted(set(gold.values())) if label != first_label)
    return {
        first["id"]: (first["data"]["khabar_id"], first_label),
        second["id"]: (second["data"]["khabar_id"], second_label),
    }


@pytest.fixture(scope="module")
def round_trip(studio, tmp_path_factory) -> RoundTrip:
    folder = tmp_path_factory.mktemp("round-trip")
    rows = _fixture_rows(12)
    items = [{"id": r["id"], "text": r["text"], "stance": r["stance"]} for r in rows]
    pool = write_jsonl(folder / "pool.jsonl", items)
    config = write_config(folder)  # the fixture's labels: `primary` of news_small
    batch = folder / "batch"
    selected = select(None, pool, 5, batch / "tasks.json", config=config)
    assert selected.selected == 5 and Path(selected.label_config).is_file()
    tasks_file = json.loads((batch / "tasks.json").read_text(encoding="utf-8"))
    xml = (batch / "label_config.xml").read_text(encoding="utf-8")

    project = studio.create_project("khabar round trip", xml)
    studio.import_tasks(project, tasks_file)
    tasks = studio.tasks(project)
    assert len(tasks) == 5
    gold = {r["id"]: r["primary"] for r in rows}
    to_label = _two_to_label(tasks, gold)
    if CHROMIUM and CHROMEDRIVER:
        _label_in_browser(studio, project, to_label, folder)
    else:
        warnings.warn(
            "no chromium/chromedriver: the two tasks are labeled through the API", stacklevel=2
        )
        for task_id, (_, label) in to_label.items():
            studio.annotate(task_id, [label])
    exports = {kind: studio.export(project, kind, batch) for kind in FORMATS}
    return RoundTrip(
        batch,
        {item: label for item, label in to_label.values()},
        {t["data"]["khabar_id"]: t["data"]["text"] for t in tasks},
        exports,
    )


def _label_in_browser(
    studio: LabelStudio, project: int, to_label: dict[int, tuple[str, str]], folder: Path
) -> None:
    """Log in, then on each task's labeling page click the label and Submit; wait until
    Label Studio has stored the annotation."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver = headless_chromium(folder, window="1600,1000")
    try:
        wait = WebDriverWait(driver, WAIT_SECONDS)
        driver.get(f"{studio.url}/user/login")
        driver.find_element(By.NAME, "email").send_keys(USER)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        wait.until(lambda d: "/user/login" not in d.current_url)
        for number, (task_id, (_, label)) in enumerate(to_label.items(), 1):
            driver.get(f"{studio.url}/projects/{project}/data?task={task_id}")
            choice = f"//label[contains(@class, 'lsf-choice__checkbox')][.//input[@name='{label}']]"
            # The page renders twice while it loads: click the choice once it is stable.
            wait.until(lambda d, c=choice: d.find_elements(By.XPATH, c))
            wait.until(lambda d, c=choice: _click(d, By, c))
            wait.until(lambda d, c=choice: d.find_element(By.XPATH, c + "//input").is_selected())
            driver.save_screenshot(str(SCREENSHOTS / f"labeling-{number}.png"))
            driver.find_element(By.CSS_SELECTOR, "[data-testid='bottombar-submit-button']").click()
            wait.until(lambda d, t=task_id: _annotations(studio, t) == 1)
    finally:
        driver.quit()


def _annotations(studio: LabelStudio, task_id: int) -> int:
    return studio.call("GET", f"/api/tasks/{task_id}").json()["total_annotations"]


def _click(driver, by, xpath: str) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        driver.find_element(by.XPATH, xpath).click()
    except StaleElementReferenceException:
        return False
    return True


def _labels(path: Path) -> dict[str, object]:
    with open(path, encoding="utf-8") as handle:
        return {row["id"]: row["label"] for row in map(json.loads, handle)}


@pytest.mark.parametrize("kind", FORMATS)
def test_ingest_returns_exactly_the_labels_given_on_the_labeling_page(round_trip, kind):
    output = round_trip.folder / f"labeled-{kind}.jsonl"
    # No label set given: the label_config.xml `select` wrote beside the export is read.
    result = ingest(round_trip.exports[kind], output)

    assert _labels(output) == round_trip.labeled
    assert result.export_format == kind
    assert (result.new, result.written, result.skipped) == (2, 2, 3)
    assert result.cancelled == result.conflicting == result.already_present == 0
    with open(output, encoding="utf-8") as handle:
        for row in map(json.loads, handle):
            assert row["text"] == round_trip.texts[row["id"]]
            assert row["stance"] in ("positive", "negative", "neutral")  # the item's own field


def test_ingesting_again_into_the_same_file_adds_nothing(round_trip, tmp_path):
    labeled = tmp_path / "labeled.jsonl"
    ingest(round_trip.exports["JSON"], labeled)
    before = labeled.read_bytes()
    again = ingest(round_trip.exports["CSV"], labeled, merge=labeled)
    assert (again.new, again.already_present, again.written) == (0, 2, 2)
    assert labeled.read_bytes() == before


def test_multi_label_formats_cancelled_and_latest_annotations(studio, tmp_path):
    rows = _fixture_rows(20)[12:16]
    labels = ["diplomacy", "migration", "other", "security"]
    xml = label_config(labels, multi_label=True)
    (tmp_path / "label_config.xml").write_text(xml, encoding="utf-8")
    project = studio.create_project("khabar multi-label", xml)
    studio.import_tasks(
        project, [import_task(r["id"], r["text"], predicted=r["topics"]) for r in rows]
    )
    tasks = studio.tasks(project)
    studio.annotate(tasks[0]["id"], ["security", "diplomacy"])
    studio.annotate(tasks[1]["id"], None, cancelled=True)
    studio.annotate(tasks[2]["id"], ["other"])
    studio.annotate(tasks[2]["id"], ["migration"])  # later: this one counts
    expected = {rows[0]["id"]: ["diplomacy", "security"], rows[2]["id"]: ["migration"]}

    for kind in FORMATS:
        export = studio.export(project, kind, tmp_path)
        output = tmp_path / f"labeled-{kind}.jsonl"
        result = ingest(export, output)
        assert _labels(output) == expected, kind
        assert result.skipped == 1, kind  # the fourth task, never annotated
        # JSON keeps cancelled annotations; JSON-MIN and CSV leave such a task out.
        assert result.cancelled == (1 if kind == "JSON" else 0), kind
