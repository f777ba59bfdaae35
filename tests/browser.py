"""Headless Chromium for the tests that drive a real page (the MLflow UI, Label Studio)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def headless_chromium(folder: Path, window: str = "1920,1080"):
    """A Selenium driver on the system's Chromium, its profile in a fresh folder under `folder`."""
    from selenium import webdriver  # the dev extra; a missing package is an error, not a skip
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # needed as root, e.g. in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={window}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=folder)}",
    ):
        options.add_argument(argument)
    # A driver path given: Selenium Manager (which could download drivers) is never used.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
