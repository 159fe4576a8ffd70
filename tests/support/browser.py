"""A real headless Chromium for the console's tests, driven through Selenium.

Debian's `chromium` and `chromium-driver` packages are used as installed: the driver is
given by path and so is the browser, so Selenium Manager never looks for (or downloads)
either. With neither on the machine the test is skipped, or fails under CI=true, where
`.ci/run` should have installed them.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 60.0  # bounds a wait so a broken test ends; never a claim about speed
INSTALL = "apt-get install chromium chromium-driver"

# Flags: headless at a fixed size; no sandbox (CI runs as root); /tmp rather than a
# small /dev/shm; and none of Chromium's own calls home, which a closed network refuses.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


def _which(names: tuple[str, ...], default: str) -> str | None:
    for name in names:
        if found := shutil.which(name):
            return found
    return default if os.access(default, os.X_OK) else None


def chromium_paths() -> tuple[str, str]:
    """Chromium and its driver; a skip (or, under CI, a failure) when either is missing."""
    browser = _which(("chromium", "chromium-browser"), "/usr/bin/chromium")
    driver = _which(("chromedriver",), "/usr/bin/chromedriver")
    if browser and driver:
        return browser, driver
    missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p)
    message = f"{missing} not found: {INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile in `profile`; quit on the way out.

    If the block fails, failure.png and failure.html beside `profile` show the page."""
    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # The performance log carries each response's status: how a test sees a 403.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    except BaseException:
        # What the browser showed when the test failed, next to the profile.
        with contextlib.suppress(Exception):
            driver.save_screenshot(str(profile.parent / "failure.png"))
            (profile.parent / "failure.html").write_text(driver.page_source)
        raise
    finally:
        driver.quit()


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], Any], message: str = "") -> Any:
    """What `condition(driver)` returns once it is truthy; a TimeoutException after TIMEOUT."""
    wait = WebDriverWait(driver, TIMEOUT, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message)


def text(driver: WebDriver, css: str) -> str:
    """The visible text of the first element `css` finds, or "" when there is none."""
    found = find(driver, css)
    return str(found[0].text).strip() if found else ""


def find(within: WebDriver | WebElement, css: str) -> list[WebElement]:
    """Every element `css` finds in the page or below an element (maybe none)."""
    return within.find_elements(By.CSS_SELECTOR, css)


def statuses_at(driver: WebDriver, path: str) -> list[int]:
    """The statuses of the pages loaded at `path` since the last look, once there is one."""
    seen: list[int] = []

    def loaded(d: WebDriver) -> bool:
        seen.extend(status for url, status in document_statuses(d) if urlsplit(url).path == path)
        return bool(seen)

    wait_until(driver, loaded, f"no page was loaded at {path}")
    return seen


def document_statuses(driver: WebDriver) -> list[tuple[str, int]]:
    """(url, status) of each page the browser loaded since the last call, oldest first.

    From Chromium's performance log, which the driver hands out once: every call sees
    only what came after the one before.
    """
    seen: list[tuple[str, int]] = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.responseReceived":
            continue
        params = message["params"]
        if params.get("type") == "Document":
            seen.append((params["response"]["url"], int(params["response"]["status"])))
    return seen


@contextlib.contextmanager
def static_site(pages: dict[str, str], host: str = "127.0.0.1") -> Iterator[str]:
    """An HTTP server on a free port of `host` answering GET PATH with pages[PATH] (HTML).

    Yields its base URL. Another origin than the console's: a stand-in for a hostile site.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def screenshot(driver: WebDriver, path: Path, width: int = 1280) -> None:
    """A PNG of the whole page, `width` pixels wide and as tall as the page is."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def click(driver: WebDriver, css: str) -> None:
    """Click the first element `css` finds, once there is one."""
    wait_until(driver, lambda d: find(d, css))[0].click()
