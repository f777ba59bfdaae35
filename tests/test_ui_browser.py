"""The MLflow UI in a real browser: two trainings (the shared store), `khabar ui` on a free port,
headless Chromium (Debian's chromium + chromium-driver; nothing downloaded) follows the link
`khabar ui` prints: the runs table, without a click, shows the headline metric, the training
file as the Dataset and the experiment's description; then a run's report artifacts.
Screenshots go to reports/ui/."""

from __future__ import annotations

import re

import mlflow
import pytest

from .background import free_port, khabar_command, running, server_env
from .browser import CHROMEDRIVER, CHROMIUM, headless_chromium
from .conftest import PROJECT

SCREENSHOTS = PROJECT / "reports" / "ui"
REPORT_FILES = [
    "confusion_matrix.png",
    "per_class.png",
    "precision_recall.png",
    "summary.md",
    "top_ngrams.png",
]
METRIC = "test_f1_macro"
TRAINING_FILE = "news_small.jsonl"  # the fixture's data.train, split into train and test
WAIT_SECONDS = 90

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="headless UI test needs Debian's chromium and chromium-driver (apt-get install -y "
        "chromium chromium-driver)",
    ),
]


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def _visible(driver, by, value):
    return [e for e in driver.find_elements(by, value) if e.is_displayed()]


def _close_assistant(driver, by) -> None:
    # MLflow 3 opens an "Assistant" side panel; closed, the table has room for its columns.
    for button in _visible(driver, by.CSS_SELECTOR, "button[aria-label='Close']")[:1]:
        button.click()


def _cells_by_run_name(driver, by, column: str) -> dict[str, str]:
    """Run name -> the column's cell text, pairing cells by their ag-grid row index (pinned
    and scrolling columns live in different row elements)."""

    def cells(column: str) -> dict[str, str]:
        found = {}
        for cell in driver.find_elements(by.CSS_SELECTOR, f"[role='gridcell'][col-id='{column}']"):
            row = cell.find_element(by.XPATH, "./ancestor::*[@role='row'][1]")
            found[row.get_attribute("row-index")] = cell.text.strip()
        return found

    names, values = cells("attributes.`Run Name`"), cells(column)
    return {names[i].splitlines()[-1]: values.get(i, "") for i in names}


def _printed_url(log) -> str:
    found = re.search(r"^http://\S+", log.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"khabar ui printed no URL:\n{log.read_text(encoding='utf-8')}"
    return found.group(0)


def test_runs_table_and_report_artifacts_in_the_mlflow_ui(in_shared_store, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    runs = {}  # run name (config name + time) -> run
    for result in in_shared_store.runs.values():
        run = mlflow.get_run(result.run_id)
        runs[run.info.run_name] = run
    experiment_id = next(iter(runs.values())).info.experiment_id
    expected = {name: run.data.metrics[METRIC] for name, run in runs.items()}
    assert len(set(expected.values())) == 2  # distinct, so a value shown on the wrong row fails

    experiment = mlflow.get_experiment(experiment_id)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    wait = WebDriverWait(browser, WAIT_SECONDS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "ui.log"
    with running(khabar_command("ui", "--port", str(port)), server_env(), f"{base}/health", log):
        url = _printed_url(log)
        assert url.startswith(f"{base}/#/experiments/{experiment_id}/runs?")
        # No click: the printed link opens the runs table with the headline metric shown.
        browser.get(url)
        wait.until(lambda d: all(name in d.find_element(By.TAG_NAME, "body").text for name in runs))
        metric = f"metrics.`{METRIC}`"
        wait.until(lambda d: all(_cells_by_run_name(d, By, metric).get(name) for name in runs))
        shown = _cells_by_run_name(browser, By, metric)
        datasets = _cells_by_run_name(browser, By, "attributes.`Dataset`")
        body = browser.find_element(By.TAG_NAME, "body").text
        browser.save_screenshot(str(SCREENSHOTS / "runs_table.png"))
        assert set(shown) == set(runs)
        assert {name: float(text) for name, text in shown.items()} == pytest.approx(expected)
        assert all(TRAINING_FILE in text for text in datasets.values()), datasets
        description = experiment.tags["mlflow.note.content"]
        assert description.splitlines()[0] in body

        # The experiments list describes each experiment.
        browser.get(f"{base}/#/experiments")
        wait.until(
            lambda d: "Arabic news classification" in d.find_element(By.TAG_NAME, "body").text
        )
        browser.save_screenshot(str(SCREENSHOTS / "experiments.png"))

        # A run's overview: its description and its datasets (lineage).
        run_id = in_shared_store.runs["svc"].run_id
        browser.get(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")
        run_description = mlflow.get_run(run_id).data.tags["mlflow.note.content"]
        headline = run_description.split("**test_f1_macro**: ")[1][:5]
        wait.until(lambda d: headline in d.find_element(By.TAG_NAME, "body").text)
        wait.until(
            lambda d: f"{TRAINING_FILE} (train split)" in d.find_element(By.TAG_NAME, "body").text
        )
        browser.save_screenshot(str(SCREENSHOTS / "run_overview.png"))

        # A run's artifacts: the report folder lists the plots, and a plot renders.
        browser.get(
            f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts?workflowType=machine_learning"
        )
        wait.until(lambda d: _visible(d, By.XPATH, "//*[normalize-space(text())='report']"))[
            0
        ].click()
        for name in REPORT_FILES:
            wait.until(
                lambda d, n=name: _visible(d, By.XPATH, f"//*[normalize-space(text())='{n}']")
            )
        _close_assistant(browser, By)
        _visible(browser, By.XPATH, "//*[normalize-space(text())='confusion_matrix.png']")[
            0
        ].click()
        wait.until(
            lambda d: any(
                d.execute_script("return arguments[0].naturalWidth", img) > 100
                for img in _visible(d, By.CSS_SELECTOR, "img[src^='blob:']")
            )
        )
        browser.save_screenshot(str(SCREENSHOTS / "run_artifacts.png"))
    assert (SCREENSHOTS / "runs_table.png").stat().st_size > 10_000
