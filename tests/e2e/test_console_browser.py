"""The web console in a real headless Chromium, against a real `cronbridge serve`.

One run of 60 jobs, 3 of which fail until their fix lands: the run page follows the run
live to its end without a reload, lists the failed jobs with their error's first line,
refuses a redrive from another site and one without the token, and redrives them with
the token until the run has succeeded. A worker's error holding a <script> is shown as
text. The run page's screenshot goes to tmp_path, and to docs/console-run.png (the
README's) with CRONBRIDGE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of

from bridge.domain.runs import RunState
from tests.conftest import write_jobs
from tests.e2e.conftest import Serve
from tests.e2e.test_serve import put, register
from tests.support.browser import (
    chromium,
    chromium_paths,
    click,
    document_statuses,
    find,
    screenshot,
    static_site,
    statuses_at,
    text,
    wait_until,
)

# Read at import: the suite's autouse fixture clears every CRONBRIDGE_* variable.
SCREENSHOT = os.environ.get("CRONBRIDGE_SCREENSHOT") == "1"
README_SHOT = Path(__file__).parents[2] / "docs" / "console-run.png"

TARGET = "python:console_workers:handler"
FLAKY = {"eu-7", "eu-23", "us-12"}
XSS = "<script>window.__xss=1</script>"
COUNTERS = ("total", "dispatched", "succeeded", "failed", "lost")


def jobs(list_name: str, count: int) -> list[dict[str, Any]]:
    """Jobs of 0.3 s each (their results spread over a few seconds), FLAKY among them."""
    return [
        {"id": job, "payload": {"n": i, "flaky": job in FLAKY, "seconds": 0.3}}
        for i in range(count)
        for job in [f"{list_name}-{i}"]
    ]


@pytest.fixture
def browser_installed() -> None:
    """Skip (or fail, under CI=true) before starting anything if there is no Chromium."""
    chromium_paths()


@pytest.fixture
def console_serve(tmp_path: Path) -> Iterator[Serve]:
    """`cronbridge serve` hosting its web console on a free port."""
    server = Serve(tmp_path, "--ui-port", "0")
    try:
        yield server
    finally:
        server.stop()
    assert server.proc.returncode == 0, "".join(server.stderr)
    assert server.secret not in "".join(server.stderr)  # stdout prints it, on purpose


def counters(driver: WebDriver) -> dict[str, str]:
    return {name: text(driver, f"#count-{name}") for name in COUNTERS}


def test_the_console_follows_a_run_live_and_redrives_its_failed_jobs(
    browser_installed: None, console_serve: Serve, tmp_path: Path
) -> None:
    serve = console_serve
    assert serve.console_url is not None
    console = serve.console_url
    register(
        serve, tmp_path, TARGET, {"eu": jobs("eu", 40), "us": jobs("us", 20)}, "--max-attempts", "1"
    )
    hostile = write_jobs(tmp_path / "hostile.jsonl", [{"id": "x-1", "payload": {"raise": XSS}}])
    done = serve.cli("groups", "register", "x", "--target", TARGET, "--list", f"h={hostile}")
    assert done.returncode == 0, done.stderr
    run_id = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
    hostile_run = put(serve, "/cronbridge-triggers/triggers/x").headers["x-cronbridge-run"]
    base = "{0.scheme}://{0.netloc}".format(urlsplit(console))
    token = parse_qs(urlsplit(console).query)["token"][0]
    evidence = serve.evidence

    with chromium(tmp_path / "profile") as driver:
        # Log in, then reach the run from the groups page through its group's page.
        driver.get(console)
        click(driver, '#groups tr[data-group="g"] a[href="/groups/g"]')
        click(driver, f'#runs tr[data-run="{run_id}"] a')
        assert wait_until(driver, lambda d: text(d, "#run-state")) == "running"
        assert urlsplit(driver.current_url).path == f"/runs/{run_id}"
        driver.execute_script("window.__marker = 1")
        assert counters(driver)["succeeded"] == "0"

        # The workers go on; the page follows the run to its end by itself.
        (evidence / "gate").touch()
        wait_until(
            driver,
            lambda d: text(d, "#run-state") == "failed" and counters(d)["failed"] == "3",
            "the run page did not show the run's end",
        )
        assert counters(driver) == {
            "total": "60",
            "dispatched": "60",
            "succeeded": "57",
            "failed": "3",
            "lost": "0",
        }
        assert driver.execute_script("return window.__marker") == 1, "the page was reloaded"
        assert len(find(driver, "progress.list-progress[data-list]")) == 2
        assert find(driver, "#rate-chart")
        rows = {
            row.get_attribute("data-job"): row for row in find(driver, "#failed-jobs tr[data-job]")
        }
        assert set(rows) == FLAKY
        assert rows["eu-7"].find_element(By.CSS_SELECTOR, ".error-line").text == (
            "ConnectionError: invoice 7: upstream billing API answered 503 after 30 s"
        )
        assert find(driver, "#redrive") and not find(driver, "#cancel")
        shot = tmp_path / "console-run.png"
        screenshot(driver, shot)
        if SCREENSHOT:
            README_SHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, README_SHOT)

        # A worker's <script> is text, on the run page and on the job's page.
        assert serve.wait_for_run(hostile_run).state is RunState.FAILED
        driver.get(f"{base}/runs/{hostile_run}")
        row = wait_until(driver, lambda d: find(d, '#failed-jobs tr[data-job="x-1"]'))[0]
        assert XSS in row.find_element(By.CSS_SELECTOR, ".error-line").text
        row.find_element(By.CSS_SELECTOR, "a").click()
        wait_until(driver, lambda d: XSS in text(d, "#job-error"))
        assert "x-1" in text(driver, "#job-envelope")
        assert driver.execute_script("return typeof window.__xss") == "undefined"

        # Another site's form posting the redrive, token and all, is refused.
        redrive = f"/runs/{run_id}/redrive"
        attack = (
            f'<form id="f" method="post" action="{base}{redrive}">'
            f'<input type="hidden" name="token" value="{token}"></form>'
            '<script>document.getElementById("f").submit()</script>'
        )
        with static_site({"/": attack}) as elsewhere:
            document_statuses(driver)  # forget what came before
            driver.get(f"{elsewhere}/")
            assert statuses_at(driver, redrive) == [403]
            wait_until(driver, lambda d: "must come from the console's own page" in text(d, "main"))

        # So is the run page's own form without its token.
        driver.get(f"{base}/runs/{run_id}")
        wait_until(driver, lambda d: find(d, "#redrive-form"))
        document_statuses(driver)
        driver.execute_script(
            "const form = document.querySelector('#redrive-form');"
            "form.querySelector('[name=token]').remove(); form.submit();"
        )
        assert statuses_at(driver, redrive) == [403]
        wait_until(driver, lambda d: "needs the console's token" in text(d, "main"))
        run = serve.ledger.get_run(run_id)
        assert run is not None and (run.state, run.attempt) == (RunState.FAILED, 1)
        assert (evidence / "calls.log").read_text().split().count("eu-7") == 1

        # The fix lands; "redrive failed" with the token runs the three again.
        (evidence / "fixed").touch()
        driver.get(f"{base}/runs/{run_id}")
        page = wait_until(driver, lambda d: find(d, "html"))[0]
        click(driver, "#redrive")
        wait_until(driver, staleness_of(page), "pressing redrive loaded no page")
        wait_until(driver, lambda d: text(d, "main"))
        assert urlsplit(driver.current_url).path == f"/runs/{run_id}", text(driver, "main")
        driver.execute_script("window.__marker = 2")
        wait_until(
            driver,
            lambda d: text(d, "#run-state") == "succeeded" and counters(d)["failed"] == "0",
            "the redriven run did not end succeeded on the page",
        )
        assert counters(driver)["succeeded"] == "60"
        assert driver.execute_script("return window.__marker") == 2, "the page was reloaded"
        assert not find(driver, "#failed-jobs tr[data-job]")
        assert not find(driver, "#redrive")
        screenshot(driver, tmp_path / "console-run-redriven.png")
    run = serve.ledger.get_run(run_id)
    assert run is not None and (run.state, run.attempt, run.failed) == (RunState.SUCCEEDED, 2, 0)
