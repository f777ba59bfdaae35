"""The MLflow UI in a real browser: two trainings (the shared store), `khabar ui` on a free port, headless
Chromium (Debian's chromium + chromium-driver; nothing downloaded) reads the runs table and
a run's report artifacts, and saves screenshots to reports/ui/."""

from __future__ import annotations

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


def _metric_by_run_name(driver, by) -> dict[str, str]:
    """Run name -> the metric cell's text, pairing cells by their ag-grid row index (pinned
    and scrolling columns live in different row elements)."""

    def cells(column: str) -> dict[str, str]:
        found = {}
        for cell in driver.find_elements(by.CSS_SELECTOR, f"[role='gridcell'][col-id='{column}']"):
            row = cell.find_element(by.XPATH, "./ancestor::*[@role='row'][1]")
            found[row.get_attribute("row-index")] = cell.text.strip()
        return found

    names, values = cells("attributes.`Run Name`"), cells(f"metrics.`{METRIC}`")
    return {names[i].splitlines()[-1]: values.get(i, "") for i in names}


def test_runs_table_and_report_artifacts_in_the_mlflow_ui(in_shared_store, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    runs = {}  # run name (config name + time) -> run
    for result in in_shared_store.runs.values():
        run = mlflow.get_run(result.run_id)
        runs[run.info.run_name] = run
    experiment_id = next(iter(runs.values())).info.experiment_id
    expected = {name: run.data.metrics[METRIC] for name, run in runs.items()}
    assert len(set(expected.values())) == 2  # distinct, so a value shown on the wrong row fails

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    wait = WebDriverWait(browser, WAIT_SECONDS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running(
        khabar_command("ui", "--port", str(port)),
        server_env(),
        f"{base}/health",
        tmp_path / "ui.log",
    ):
        # The runs table, in "Model training" mode (MLflow 3 opens experiments in GenAI mode).
        browser.get(f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
        wait.until(lambda d: all(name in d.find_element(By.TAG_NAME, "body").text for name in runs))
        _close_assistant(browser, By)
        # Metrics are not columns by default: add macro-F1 as a user would, from "Columns".
        browser.find_element(By.CSS_SELECTOR, "[data-testid='column-selection-dropdown']").click()
        wait.until(lambda d: _visible(d, By.CSS_SELECTOR, f"span[title='{METRIC}']"))[0].click()
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait.until(lambda d: all(_metric_by_run_name(d, By).get(name) for name in runs))
        shown = _metric_by_run_name(browser, By)
        browser.save_screenshot(str(SCREENSHOTS / "runs_table.png"))
        assert set(shown) == set(runs)
        assert {name: float(text) for name, text in shown.items()} == pytest.approx(expected)

        # A run's artifacts: the report folder lists the plots, and a plot renders.
        run_id = in_shared_store.runs["svc"].run_id
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
