"""`cronbridge serve` driven over real HTTP, as a scheduler and a user would."""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bridge.domain.runs import RunState
from bridge.usecases.jobs import job_results
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, Serve


def register(
    serve: Serve,
    tmp_path: Path,
    target: str,
    jobs: dict[str, list[dict[str, object]]],
    *options: str,
) -> None:
    args = ["groups", "register", "g", "--target", target]
    for name, lines in jobs.items():
        args += ["--list", f"{name}={write_jobs(tmp_path / f'{name}.jsonl', lines)}"]
    done = serve.cli(*args, *options)
    assert done.returncode == 0, done.stderr


def put(serve: Serve, path: str, body: bytes = b"", agent: str | None = None) -> httpx.Response:
    headers = {"User-Agent": serve.secret if agent is None else agent}
    return httpx.put(f"{serve.url}{path}", content=body, headers=headers, timeout=DEADLINE)


def raw_put(serve: Serve, raw_path: str, body: bytes = b"") -> tuple[int, bytes]:
    """A PUT whose path goes out exactly as written (no client-side normalising)."""
    parts = urlsplit(serve.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=DEADLINE)
    try:
        conn.request("PUT", raw_path, body=body, headers={"User-Agent": serve.secret})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_wrong_or_missing_user_agent_is_denied_like_s3(serve: Serve, tmp_path: Path) -> None:
    register(serve, tmp_path, "python:sample_workers:note", {"a": numbered_jobs("a", 2)})
    for agent in ("curl/8.5.0", serve.secret[:-1], serve.secret[1:] + "x", ""):
        response = put(serve, "/cronbridge-triggers/triggers/g", agent=agent)
        assert response.status_code == 403
        assert "<Code>AccessDenied</Code>" in response.text
        assert response.headers["content-type"] == "application/xml"
    assert serve.ledger.list_runs(None, 10) == []
    assert serve.calls() == []


@pytest.mark.parametrize(
    "agent", ["{secret}", "azure-logic-apps/1.0 {secret}", "{secret} (+proxy)", "x{secret}x"]
)
def test_the_secret_anywhere_in_the_user_agent_is_admitted(
    serve: Serve, tmp_path: Path, agent: str
) -> None:
    """As the bucket policy's StringLike "*<secret>*": a scheduler's HTTP client or a
    proxy may add to the header it was given."""
    register(serve, tmp_path, "python:sample_workers:note", {"a": numbered_jobs("a", 1)})
    response = put(
        serve, "/cronbridge-triggers/triggers/g", agent=agent.format(secret=serve.secret)
    )
    assert response.status_code == 200
    assert response.headers["x-cronbridge-decision"] == "opened"


def test_right_user_agent_runs_the_group_to_the_end(serve: Serve, tmp_path: Path) -> None:
    register(
        serve,
        tmp_path,
        "python:sample_workers:note",
        {"a": numbered_jobs("a", 1500), "b": numbered_jobs("b", 20)},
    )
    response = put(serve, "/cronbridge-triggers/triggers/g")
    assert response.status_code == 200
    assert response.headers["x-cronbridge-decision"] == "opened"
    run = serve.wait_for_run(response.headers["x-cronbridge-run"])
    assert (run.state, run.dispatched, run.succeeded, run.failed) == (
        RunState.SUCCEEDED,
        1520,
        1520,
        0,
    )
    assert sorted(set(serve.calls())) == sorted(
        [f"a-{i}" for i in range(1500)] + [f"b-{i}" for i in range(20)]
    )


def test_the_same_scheduled_time_twice_is_one_run(serve: Serve, tmp_path: Path) -> None:
    register(
        serve,
        tmp_path,
        "python:sample_workers:note",
        {"a": numbered_jobs("a", 3)},
        "--overlap",
        "allow",
    )
    slot = b'{"scheduled_time": "2026-11-22T03:00:00Z"}'
    first = put(serve, "/cronbridge-triggers/triggers/g", slot)
    second = put(
        serve,
        "/cronbridge-triggers/triggers/g/retry",
        b'{"scheduled_time": "2026-11-22T04:00:00+01:00"}',
    )
    assert first.headers["x-cronbridge-decision"] == "opened"
    assert second.headers["x-cronbridge-decision"] == "duplicate"
    assert (
        first.headers["x-cronbridge-run"]
        == second.headers["x-cronbridge-run"]
        == "g.20261122T030000Z"
    )
    serve.wait_for_run("g.20261122T030000Z")
    assert len(serve.ledger.list_runs("g", 10)) == 1
    assert sorted(serve.calls()) == ["a-0", "a-1", "a-2"]


def test_overlap_skip_while_a_run_is_in_progress(serve: Serve, tmp_path: Path) -> None:
    register(serve, tmp_path, "python:sample_workers:wait_for_gate", {"a": numbered_jobs("a", 3)})
    first = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
    serve.wait_for_run(first, lambda r: r.dispatched == 3)
    second = put(serve, "/cronbridge-triggers/triggers/g")
    assert second.status_code == 200
    assert second.headers["x-cronbridge-decision"] == "skipped"
    assert second.headers["x-cronbridge-reason"] == f"overlap: run {first} is still running"
    skipped = serve.ledger.get_run(second.headers["x-cronbridge-run"])
    assert skipped is not None and skipped.state is RunState.SKIPPED
    (serve.evidence / "gate").touch()
    assert serve.wait_for_run(first).state is RunState.SUCCEEDED
    shown = serve.cli("runs", "list", "g", "--json")
    assert [r["state"] for r in json.loads(shown.stdout)] == ["skipped", "succeeded"]


def test_a_failing_job_is_retried_then_failed_and_redrive_reruns_only_it(
    serve: Serve, tmp_path: Path
) -> None:
    jobs = [
        *numbered_jobs("a", 6),
        {"id": "fragile-1", "payload": {"fragile": True}},
        {"id": "fragile-2", "payload": {"fragile": True}},
    ]
    register(
        serve,
        tmp_path,
        "python:sample_workers:fail_while_broken",
        {"a": jobs},
        "--max-attempts",
        "3",
    )
    (serve.evidence / "broken").touch()
    run_id = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
    run = serve.wait_for_run(run_id)
    assert (run.state, run.succeeded, run.failed) == (RunState.FAILED, 6, 2)
    calls = serve.calls()
    assert calls.count("fragile-1") == calls.count("fragile-2") == 3
    assert all(calls.count(f"a-{i}") == 1 for i in range(6))
    shown = json.loads(serve.cli("runs", "show", run_id, "--json").stdout)
    assert sorted(j["job"] for j in shown["failed_jobs"]) == ["fragile-1", "fragile-2"]
    assert {j["error"] for j in shown["failed_jobs"]} == {
        "RuntimeError: job fragile-1 is broken",
        "RuntimeError: job fragile-2 is broken",
    }

    (serve.evidence / "broken").unlink()  # the fix lands
    (serve.evidence / "calls.log").unlink()
    redrive = serve.cli("runs", "redrive", run_id, "--wait")
    assert redrive.returncode == 0, redrive.stderr
    assert "redriving 2 failed or lost job(s)" in redrive.stdout
    assert "8 succeeded, 0 failed of 8" in redrive.stdout
    assert sorted(serve.calls()) == ["fragile-1", "fragile-2"]
    run = serve.wait_for_run(run_id)
    assert (run.state, run.succeeded, run.failed, run.attempt) == (RunState.SUCCEEDED, 8, 0, 2)


@pytest.mark.parametrize(
    ("raw_path", "body", "status", "code"),
    [
        ("/cronbridge-triggers/triggers/nope", b"", 404, "NoSuchGroup"),
        ("/cronbridge-triggers/triggers/%2E%2E/x", b"", 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/..%2Fx", b"", 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/%00", b"", 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/" + "a" * 300, b"", 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/g", b"{not json", 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/g", b'{"scheduled_time": "soon"}', 400, "InvalidTrigger"),
        ("/cronbridge-triggers/triggers/g", b"x" * 4097, 400, "EntityTooLarge"),
        ("/cronbridge-triggers/other/g", b"", 403, "AccessDenied"),
        ("/another-bucket/triggers/g", b"", 403, "AccessDenied"),
        ("/", b"", 403, "AccessDenied"),
    ],
)
def test_bad_triggers_get_one_clear_error_and_change_nothing(
    serve: Serve, tmp_path: Path, raw_path: str, body: bytes, status: int, code: str
) -> None:
    register(serve, tmp_path, "python:sample_workers:note", {"a": numbered_jobs("a", 1)})
    answer, text = raw_put(serve, raw_path, body)
    assert (answer, f"<Code>{code}</Code>" in text.decode()) == (status, True)
    assert serve.ledger.list_runs(None, 10) == []
    assert put(serve, "/cronbridge-triggers/triggers/g").status_code == 200  # still serving


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD", "PATCH"])
def test_other_methods_are_not_allowed(serve: Serve, method: str) -> None:
    response = httpx.request(
        method, f"{serve.bucket_url}/triggers/g", headers={"User-Agent": serve.secret}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"


def test_the_invoke_api_obeys_the_same_user_agent_rule(serve: Serve) -> None:
    url = f"{serve.url}/2015-03-31/functions/cronbridge-publisher/invocations"
    denied = httpx.post(url, json={}, headers={"User-Agent": "x", "X-Amz-Invocation-Type": "Event"})
    assert denied.status_code == 403
    missing = httpx.post(
        url.replace("publisher", "nope"),
        json={},
        headers={"User-Agent": serve.secret, "X-Amz-Invocation-Type": "Event"},
    )
    assert (missing.status_code, missing.headers["x-amzn-errortype"]) == (
        404,
        "ResourceNotFoundException",
    )
    sync = httpx.post(url, json={}, headers={"User-Agent": serve.secret})
    assert sync.status_code == 400


def test_the_printed_curl_command_runs_a_group_end_to_end(serve: Serve, tmp_path: Path) -> None:
    register(serve, tmp_path, "python:sample_workers:note", {"a": numbered_jobs("a", 40)})
    printed = serve.cli("curl", "g")
    assert printed.returncode == 0 and printed.stdout.startswith("curl ")
    fired = subprocess.run(
        [*shlex.split(printed.stdout), "-D", "-"], capture_output=True, text=True, timeout=DEADLINE
    )
    assert fired.returncode == 0, fired.stderr
    run_id = next(
        line.split(": ", 1)[1].strip()
        for line in fired.stdout.splitlines()
        if line.lower().startswith("x-cronbridge-run")
    )
    run = serve.wait_for_run(run_id)
    assert (run.state, run.succeeded) == (RunState.SUCCEEDED, 40)


def test_trigger_wait_shows_progress_and_a_summary(serve: Serve, tmp_path: Path) -> None:
    register(serve, tmp_path, "python:sample_workers:note", {"a": numbered_jobs("a", 50)})
    done = serve.cli("trigger", "g", "--scheduled-time", "2026-11-22T05:00:00Z", "--wait")
    assert done.returncode == 0, done.stderr
    assert "run g.20261122T050000Z: opened" in done.stdout
    assert "run g.20261122T050000Z succeeded: 50 succeeded, 0 failed of 50" in done.stdout
    again = serve.cli("trigger", "g", "--scheduled-time", "2026-11-22T05:00:00Z", "--json")
    assert json.loads(again.stdout) == {
        "run": "g.20261122T050000Z",
        "decision": "duplicate",
        "reason": "run exists",
    }
    jobs = json.loads(serve.cli("runs", "jobs", "g.20261122T050000Z", "--json").stdout)
    assert len(jobs) == 50 and jobs[0]["job"] == "a-0"
    assert {(j["status"], j["tries"], j["output"]) for j in jobs[:1]} == {("succeeded", 1, '"a-0"')}
    shown = serve.cli("runs", "jobs", "g.20261122T050000Z", "--status", "lost")
    assert shown.returncode == 0 and "no lost job results" in shown.stdout
    wrong = serve.cli("runs", "jobs", "g.20261122T050000Z", "--status", "nope")
    assert (
        wrong.returncode == 2 and "--status must be one of succeeded, failed, lost" in wrong.stderr
    )


def test_serve_prints_the_endpoint_and_the_secret(serve: Serve) -> None:
    banner = "".join(serve.banner)
    assert f"Listening on {serve.url}" in banner
    endpoint = json.loads((serve.home.root / "endpoint.json").read_text())
    assert endpoint == {"url": serve.url, "bucket": "cronbridge-triggers"}


def test_a_killed_server_resumes_its_run_on_restart_nothing_lost_nothing_counted_twice(
    tmp_path: Path,
) -> None:
    import os
    import signal

    first = Serve(tmp_path)
    try:
        register(first, tmp_path, "python:sample_workers:slow_note", {"a": numbered_jobs("a", 600)})
        run_id = put(first, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
        first.wait_for_run(run_id, lambda r: r.succeeded >= 60)
        os.kill(first.proc.pid, signal.SIGKILL)  # no goodbye: queued invocations are lost
        first.proc.wait(timeout=30)
        interrupted = first.ledger.get_run(run_id)
    finally:
        first.stop()
    assert interrupted is not None and interrupted.state is RunState.RUNNING
    assert interrupted.succeeded < 600

    second = Serve(tmp_path)
    try:
        assert f"resuming run {run_id} (resent)" in "".join(second.banner)
        run = second.wait_for_run(run_id)
        results = job_results(second.ledger, run_id)
    finally:
        second.stop()
    assert (run.state, run.succeeded, run.failed, run.dispatched) == (
        RunState.SUCCEEDED,
        600,
        0,
        600,
    )
    assert sorted(r.ref.job_id for r in results) == sorted(f"a-{i}" for i in range(600))
    assert set(second.calls()) == {f"a-{i}" for i in range(600)}  # every job ran at least once


def test_overlap_replace_stops_the_old_runs_dispatch_at_the_cancel(tmp_path: Path) -> None:
    """2 x 2,000 jobs paced at 1,000 a second, triggered again mid-run with replace: once
    the cancel is recorded, no job of the old run is handed over. Jobs of one worker
    function start in the order they were handed over, so in the log of starts no old
    job may follow the new run's first one, but for the few the 8 threads had in hand."""
    serve = Serve(tmp_path)
    try:
        register(
            serve,
            tmp_path,
            "python:sample_workers:note_run",
            {"a": numbered_jobs("a", 2000), "b": numbered_jobs("b", 2000)},
            "--overlap",
            "replace",
            "--max-rate",
            "1000",
        )
        old = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
        serve.wait_for_run(old, lambda r: r.succeeded >= 500)
        second = put(serve, "/cronbridge-triggers/triggers/g")
        new = second.headers["x-cronbridge-run"]
        assert second.headers["x-cronbridge-decision"] == "opened" and new != old
        finished = serve.wait_for_run(new)
        cancelled = serve.wait_for_run(old)
    finally:
        serve.stop()
    assert finished.state is RunState.SUCCEEDED and finished.succeeded == 4000
    assert cancelled.state is RunState.CANCELLED and cancelled.reason == f"replaced by run {new}"
    starts = [line.split()[0] for line in (serve.evidence / "runs.log").read_text().splitlines()]
    first_new = starts.index(new)
    late_old = starts[first_new:].count(old)
    assert late_old <= 8, f"{late_old} jobs of the cancelled run started after the new run's"
    assert starts.count(old) < 4000


def test_lost_results_end_the_run_by_its_deadline_and_the_group_goes_on(tmp_path: Path) -> None:
    """1% of jobs answer more than a destination record may carry, so their results are
    dropped (as Lambda drops a record it cannot deliver). Past the deadline they are sent
    once more, their results are dropped again, and past the second deadline they are
    recorded as lost: the run ends, and a trigger during the resend already opens."""
    serve = Serve(tmp_path, "--sweep-every", "0.5")
    try:
        jobs = {
            name: [
                {"id": f"{name}-{i}", "payload": {"answer_bytes": 300_000 if i % 100 == 7 else 0}}
                for i in range(500)
            ]
            for name in ("a", "b")
        }
        register(serve, tmp_path, "python:sample_workers:bloated", jobs, "--deadline", "4s")
        first = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
        serve.wait_for_run(first, lambda r: r.resent == 1)
        again = put(serve, "/cronbridge-triggers/triggers/g", b'{"note": "while resending"}')
        assert again.headers["x-cronbridge-decision"] == "opened"
        run = serve.wait_for_run(first)
        shown = json.loads(serve.cli("runs", "show", first, "--json").stdout)
    finally:
        serve.stop()
    assert (run.state, run.succeeded, run.failed, run.lost) == (RunState.FAILED, 990, 0, 10)
    lost = sorted(j["job"] for j in shown["failed_jobs"] if j["status"] == "lost")
    assert lost == sorted(f"{n}-{i}" for n in ("a", "b") for i in range(7, 500, 100))
    calls = (serve.evidence / "runs.log").read_text().splitlines()
    assert all(calls.count(f"{first} {job}") == 2 for job in lost), "sent once more, no more"


def test_cancel_then_resume_from_the_command_line(serve: Serve, tmp_path: Path) -> None:
    register(
        serve,
        tmp_path,
        "python:sample_workers:wait_for_gate",
        {"a": numbered_jobs("a", 300)},
        "--max-concurrency",
        "4",
    )
    run_id = put(serve, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
    cancelled = serve.cli("runs", "cancel", run_id, "--reason", "maintenance")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {run_id} cancelled" in cancelled.stdout and "(maintenance)" in cancelled.stdout
    again = serve.cli("runs", "cancel", run_id)
    assert again.returncode == 2 and "only a running run can be cancelled" in again.stderr
    (serve.evidence / "gate").touch()
    resumed = serve.cli("runs", "resume", run_id, "--wait")
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id} succeeded: 300 succeeded" in resumed.stdout
    finished = serve.cli("runs", "resume", run_id)
    assert finished.returncode == 2 and "runs redrive" not in finished.stderr
