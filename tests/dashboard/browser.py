"""Look at a Superset dashboard as a person would: headless Chromium, logged in.

Uses Debian's ``chromium`` and ``chromium-driver`` (``make system-deps``), named
explicitly so that Selenium never tries to download a browser or a driver.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: What a chart draws once it has data: ECharts paints a canvas, the table a table.
RENDERED = "canvas, table"


def browser_missing() -> str | None:
    """Why no browser can run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and not shutil.which(Path(path).name):
            return f"{path} is missing: run 'make system-deps' (Debian chromium, chromium-driver)"
    return None


def open_browser(width: int = 1600, height: int = 1900) -> webdriver.Chrome:
    """A headless Chromium driven through Debian's chromedriver."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def log_in(driver: webdriver.Chrome, url: str, username: str, password: str) -> None:
    """Sign in through Superset's login form."""
    driver.get(f"{url}/login/")
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input#username"))
    driver.find_element(By.CSS_SELECTOR, "input#username").send_keys(username)
    driver.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait.until(lambda d: "/login" not in d.current_url)


def wait_for_charts(driver: webdriver.Chrome, expected: int, timeout_s: float = 120) -> None:
    """Wait until ``expected`` charts have drawn; fail with what the others show."""
    holders = "[data-test='dashboard-component-chart-holder']"

    def drawn(d: webdriver.Chrome) -> bool:
        charts = d.find_elements(By.CSS_SELECTOR, holders)
        done = [c for c in charts if c.find_elements(By.CSS_SELECTOR, RENDERED)]
        return len(charts) == expected and len(done) == expected

    try:
        WebDriverWait(driver, timeout_s, poll_frequency=1).until(drawn)
    except TimeoutException:
        shown = [c.text[:300] for c in driver.find_elements(By.CSS_SELECTOR, holders)]
        why = f"not all {expected} charts drew within {timeout_s}s: {shown}"
        raise AssertionError(why) from None
    time.sleep(2)  # ECharts animates its first paint


def chart_texts(driver: webdriver.Chrome) -> list[str]:
    """The visible text of every chart on the page (titles, legends, table cells)."""
    holders = "[data-test='dashboard-component-chart-holder']"
    return [chart.text for chart in driver.find_elements(By.CSS_SELECTOR, holders)]
