"""The hpcdask page in a real headless Chromium (Debian's chromium + chromedriver, via selenium).

The page is reached as a person would, from the dashboard's navigation bar; the table must
list the scheduler's real workers and the plot must follow a scale. A screenshot of each page
is kept in ``artifacts/``. Without Chromium these tests skip (install it with
``sudo tests/infra/browser.sh``); with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

import hpcdask

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts"
HPCDASK = str(Path(sys.executable).parent / "hpcdask")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
]  # fmt: skip
#: Text of the page as drawn, inside Bokeh's shadow roots too.
PAGE_TEXT = """
const text = (node) => {
    if (["STYLE", "SCRIPT"].includes(node.nodeName)) return "";
    let out = node.shadowRoot ? text(node.shadowRoot) : "";
    for (const child of node.childNodes) {
        out += child.nodeType === Node.TEXT_NODE ? child.textContent + " " : text(child);
    }
    return out;
};
return text(document.body);
"""
#: A column of a named Bokeh data source in the browser's document, or null.
COLUMN = """
const doc = window.Bokeh && Bokeh.documents[0];
const source = doc && doc.get_model_by_name(arguments[0]);
return source && source.data[arguments[1]] ? Array.from(source.data[arguments[1]]) : null;
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile; skipped (failed in CI) when not installed."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed: sudo tests/infra/browser.sh"
        if in_ci():
            pytest.fail(f"{message} (CI=true: browser tests must run)", pytrace=False)
        pytest.skip(reason=message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    service = Service(str(shutil.which("chromedriver")))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(browser: webdriver.Chrome, check: Callable[[], Any], what: str) -> Any:
    """Wait (30 s at most) until ``check()`` is true; return its value."""
    return WebDriverWait(browser, 30, 0.2).until(lambda _: check(), f"timed out: {what}")


def column(browser: webdriver.Chrome, source: str, name: str) -> list[Any] | None:
    value: list[Any] | None = browser.execute_script(COLUMN, source, name)
    return value


def open_from_navigation(browser: webdriver.Chrome, dashboard: str) -> None:
    """Open the dashboard's status page, then the hpcdask page through its navigation bar."""
    browser.get(dashboard)
    browser.find_element(By.LINK_TEXT, "Hpcdask").click()
    until(browser, lambda: browser.current_url.endswith("/hpcdask"), "the hpcdask page")


def follows(browser: webdriver.Chrome, names: list[str], requested: int) -> bool:
    """The table lists exactly ``names``, and the plot's last point has them all connected."""
    connected = column(browser, "hpcdask-history", "connected") or [None]
    asked = column(browser, "hpcdask-history", "requested") or [None]
    return bool(
        column(browser, "hpcdask-rows", "workers") is not None
        and sorted(column(browser, "hpcdask-rows", "id") or []) == names
        and (connected[-1], asked[-1]) == (len(names), requested)
    )


def page_text(browser: webdriver.Chrome) -> str:
    """Return the words on the page, as drawn, separated by single spaces."""
    return " ".join(str(browser.execute_script(PAGE_TEXT)).split())


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / name))


def worker_names(client: Client) -> list[str]:
    return sorted(str(w["name"]) for w in client.scheduler_info()["workers"].values())


def test_page_of_a_cluster_started_by_connect(
    browser: webdriver.Chrome, isolated_config: Path
) -> None:
    cluster = hpcdask.connect("local", worker={"processes": 1}, dashboard_address="127.0.0.1:0")
    try:
        with Client(cluster) as client:
            client.wait_for_workers(1)
            open_from_navigation(browser, cluster.dashboard_link)
            until(browser, lambda: follows(browser, worker_names(client), 1), "1 worker")
            cluster.scale(3)
            client.wait_for_workers(3)
            until(browser, lambda: follows(browser, worker_names(client), 3), "3 workers")
            history = column(browser, "hpcdask-history", "connected") or []
            assert history[0] == 1 and history[-1] == 3
            for words in ("this machine", "3 connected / 3 requested", "Walltime left", "1/1: 2"):
                until(browser, lambda words=words: words in page_text(browser), words)
            screenshot(browser, "dashboard-connect.png")
    finally:
        cluster.close()


def cli(*args: str) -> str:
    done = subprocess.run([HPCDASK, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_page_of_a_cluster_owned_by_a_controller(
    browser: webdriver.Chrome, isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(isolated_config.parent / "state"))
    try:
        cli("up", "local", "--workers", "1", "--wait", "--set", "dashboard-address=127.0.0.1:0")
        [report] = json.loads(cli("status", "local", "--json"))
        open_from_navigation(browser, report["dashboard"])
        until(browser, lambda: follows(browser, ["0"], 1), "the controller's worker")
        cli("scale", "local", "2")
        until(browser, lambda: follows(browser, ["0", "1"], 2), "2 workers after hpcdask scale")
        for words in ("2 connected / 2 requested", "1/1: 0", "1/1: 1"):  # as drawn
            until(browser, lambda words=words: words in page_text(browser), words)
        screenshot(browser, "dashboard-controller.png")
    finally:
        subprocess.run([HPCDASK, "down", "--all"], capture_output=True, timeout=120)
