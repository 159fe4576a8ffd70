"""What the CLI does with what people type and workers raise: printed as given, never
read as markup; every mistake one message, one hint and exit code 2; help that reads
plainly, with -h, --version and shell completion."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.cli.app import app, run_app, show_error
from bridge.domain.controls import Controls
from bridge.domain.triggers import TriggerEvent
from bridge.exceptions import CronbridgeError, InvalidJobList, LineProblem
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.usecases.register import ListSource
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, cli_env

ECHO = "python:publishers.examples:echo"
WAIT = 60  # a bound so a broken test ends; never a claim about speed
#: text a worker or a user supplies that Rich would read as markup
MARKUP_ERRORS = {
    "closing": (KeyError, "[/b] missing key [red]x", "KeyError: '[/b] missing key [red]x'"),
    "tags": (ValueError, "field [name] at row [i]", "ValueError: field [name] at row [i]"),
    "emoji": (ValueError, "code :smile: here", "ValueError: code :smile: here"),
}


def raise_payload_error(event: dict[str, Any], context: Any) -> None:
    """A worker that raises the exception its payload names, with the payload's text."""
    kind, text, _ = MARKUP_ERRORS[event["payload"]["error"]]
    raise kind(text)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table cells on one line, so a test can look for a whole error in them."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def good_list(tmp_path: Path) -> Path:
    return write_jobs(tmp_path / "good.jsonl", numbered_jobs("a", 2))


def register_args(*extra: str, group: str = "g", lists: str = "a=GOOD") -> list[str]:
    return ["groups", "register", group, "--target", ECHO, "--list", lists, *extra]


# -- 1: what users and workers supply is printed as it is ---------------------------------


@pytest.fixture
def failed_run(home: Home, tmp_path: Path) -> str:
    """A run whose workers raised text full of Rich markup, ended and in the ledger."""
    runtime = LocalRuntime(home, workers=4, retry_delay=0.01)
    try:
        jobs = [{"id": f"j-{name}", "payload": {"error": name}} for name in MARKUP_ERRORS]
        source = ListSource.from_path("a", write_jobs(tmp_path / "a.jsonl", jobs))
        target = f"python:{__name__}:raise_payload_error"
        runtime.register("g", target, [source], Controls(max_attempts=1))
        event = TriggerEvent("b", "triggers/g", b"", runtime.clock.now(), sequencer="1")
        run_id = runtime.handle_trigger(event).run_id
        assert runtime.wait_idle(WAIT)
    finally:
        runtime.close()
    return run_id


@pytest.mark.parametrize("command", ["show", "jobs"])
def test_a_workers_error_is_shown_exactly_as_it_was_raised(
    capsys: pytest.CaptureFixture[str], failed_run: str, command: str
) -> None:
    code, out, err = run(capsys, "runs", command, failed_run)
    assert (code, err) == (0, "")
    for _, _, recorded in MARKUP_ERRORS.values():
        assert recorded in out


@pytest.mark.parametrize(
    ("name", "shown"),
    [("x[/b]", "invalid group name 'x[/b]'"), ("a[b]c", "invalid group name 'a[b]c'")],
)
def test_a_bad_group_name_is_quoted_exactly_as_typed(
    capsys: pytest.CaptureFixture[str], good_list: Path, name: str, shown: str
) -> None:
    args = [a.replace("GOOD", str(good_list)) for a in register_args(group=name)]
    code, _, err = run(capsys, *args)
    assert code == 2
    assert (
        err.splitlines()[0]
        == f"error: {shown}: use 1-63 characters: lowercase letters, digits and '-', starting with a letter or digit"
    )
    assert "Traceback" not in err


def test_messages_hints_and_problems_are_printed_as_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    show_error(
        CronbridgeError("moto [server] is missing", hint="pip install 'cronbridge[sandbox]'")
    )
    assert capsys.readouterr().err.splitlines() == [
        "error: moto [server] is missing",
        "hint: pip install 'cronbridge[sandbox]'",
    ]
    show_error(InvalidJobList([LineProblem("a", 3, "not JSON ([/i] :smile:)")]))
    assert "  list 'a' line 3: not JSON ([/i] :smile:)" in capsys.readouterr().err.splitlines()


# -- 10: every mistake, one message and one hint, exit code 2 -----------------------------


def error_and_hint(err: str) -> tuple[str, str]:
    """The one error line and the one hint line of a mistake's output."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    hints = [line for line in err.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == 1, err
    return errors[0], hints[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (register_args(group="Bad_Name"), "invalid group name 'Bad_Name'"),
        (register_args(lists="Bad=GOOD"), "invalid list name 'Bad'"),
        (
            register_args(lists="a=/no/such/file"),
            "job list file '/no/such/file' (list 'a') does not exist",
        ),
        (register_args(lists="a=DIR"), "(list 'a') is a directory"),
        (register_args("--list", "b=-", lists="a=-"), "2 lists read standard input"),
        (
            register_args("--max-rate", "inf"),
            "max_rate must be more than 0 per second, and finite, not inf",
        ),
        (register_args("--max-rate", "nan"), "not nan"),
        (register_args("--max-rate", "0"), "max_rate must be more than 0"),
        (register_args("--max-concurrency", "0"), "max_concurrency must be 1 or more"),
        (register_args("--timeout", "20m"), "timeout must be more than 0 and at most 900 seconds"),
        (register_args("--deadline", "0"), "deadline must be more than 0 seconds"),
        (register_args("--max-lateness", "99999999999d"), "max_lateness must be at most 366 days"),
        (register_args("--min-interval", "367d"), "min_interval must be at most 366 days"),
        (register_args("--deadline", "400d"), "deadline must be at most 366 days"),
        (register_args("--overlap", "maybe"), "overlap must be one of"),
        (["runs", "list", "BAD"], "no group 'BAD' is registered"),
        (["runs", "list", "nosuchgroup"], "no group 'nosuchgroup' is registered"),
        (["curl", "nosuchgroup"], "no group 'nosuchgroup' is registered"),
        (["runs", "list", "--limit", "0"], "Invalid value for '--limit'"),
        (["runs", "show", "g.x", "--failed", "-1"], "Invalid value for '--failed'"),
        (["--backend", "azure", "groups", "list"], "--backend must be local or aws, not 'azure'"),
        (["groups", "frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_a_mistake_gets_one_message_one_hint_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    good_list: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    args = [a.replace("GOOD", str(good_list)).replace("DIR", str(tmp_path)) for a in args]
    code, out, err = run(capsys, *args)
    error, hint = error_and_hint(err)
    assert code == 2
    assert message in error
    assert len(hint) > len("hint: ")
    assert "Traceback" not in out + err


def test_lateness_beyond_the_bound_is_refused_and_nothing_is_stored(
    capsys: pytest.CaptureFixture[str], good_list: Path, home: Home
) -> None:
    args = [
        a.replace("GOOD", str(good_list)) for a in register_args("--max-lateness", "99999999999d")
    ]
    code, _, err = run(capsys, *args)
    assert code == 2 and "(31622400 seconds)" in err
    assert json.loads(run(capsys, "groups", "list", "--json")[1]) == []


def test_an_empty_list_file_is_called_empty_not_line_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run(capsys, *register_args(lists=f"a={empty}"))
    assert code == 2
    assert "  list 'a': the list has no jobs: the file is empty or has only blank lines" in err
    assert "line 0" not in err


def test_a_list_full_of_bad_lines_shows_the_first_20_problems_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "jobs.csv"
    csv.write_text("".join(f"{i},payload-{i}\n" for i in range(5_000)))
    code, _, err = run(capsys, *register_args(lists=f"a={csv}"))
    lines = err.partition("error: ")[1:]
    lines = "".join(lines).splitlines()
    assert code == 2
    assert lines[0] == "error: the job lists have 5,000 problems; nothing was registered"
    assert [line.split(":")[0] for line in lines[1:21]] == [
        f"  list 'a' line {n}" for n in range(1, 21)
    ]
    assert lines[21:] == [
        "  and 4,980 more",
        "hint: fix every line listed and register again",
    ]


def test_runs_of_a_registered_group_without_runs_are_no_mistake(
    capsys: pytest.CaptureFixture[str], good_list: Path
) -> None:
    assert run(capsys, *[a.replace("GOOD", str(good_list)) for a in register_args()])[0] == 0
    code, out, _ = run(capsys, "runs", "list", "g")
    assert (code, out.strip()) == (0, "no runs yet for group g")


def test_azure_without_credentials_says_so_in_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    # Only the Azure CLI credential, and no `az` to find: no credential, and no network.
    env.update(AZURE_TOKEN_CREDENTIALS="AzureCliCredential", PATH=str(tmp_path))
    subscription = "00000000-0000-0000-0000-000000000000"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "azure",
            "list",
            "--resource-group",
            "rg",
            "--subscription",
            subscription,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: could not sign in to Azure")
    assert lines[1].startswith("hint: run `az login`")


# -- 14: help, version, completion, --backend anywhere, lists on standard input -----------


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert run(capsys, "--version") == (0, f"cronbridge {version('cronbridge')}\n", "")


@pytest.mark.parametrize(
    "command", [[], ["groups"], ["groups", "register"], ["runs", "list"], ["azure", "list"]]
)
def test_dash_h_is_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "-h")
    assert code == 0
    assert out.startswith(f"Usage: {' '.join(['cronbridge', *command])} [OPTIONS]")


def every_command_path() -> list[list[str]]:
    import typer.main

    paths: list[list[str]] = [[]]
    stack: list[tuple[list[str], Any]] = [([], typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            stack.append(([*path, name], sub))
    return paths


def test_every_help_names_its_values_plainly_and_cuts_no_command_short(
    capsys: pytest.CaptureFixture[str],
) -> None:
    placeholder = re.compile(r"\{[a-z_]+\}|<[a-z_\[\]| ]+>")
    for path in every_command_path():
        code, out, _ = run(capsys, *path, "--help")
        assert code == 0, path
        assert placeholder.search(out) is None, (path, placeholder.search(out))
        listed = out.partition("\nCommands:\n")[2]
        assert "..." not in listed, (path, listed)


def test_help_of_min_interval_says_what_the_code_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = " ".join(run(capsys, "groups", "register", "--help")[1].split())
    assert "Reject" not in out
    assert "closer than this to the previous run's is recorded as skipped" in out


def test_shell_completion_is_offered_and_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Name the shell instead of detecting it: the test's parent may be any process.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    code, out, _ = run(capsys, "--show-completion", "bash")
    assert code == 0 and "_CRONBRIDGE_COMPLETE=complete_bash" in out
    monkeypatch.setenv("_CRONBRIDGE_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "cronbridge gro")
    monkeypatch.setenv("COMP_CWORD", "1")
    code, out, _ = run(capsys)
    assert (code, out.split()) == (0, ["groups"])


@pytest.mark.parametrize(
    "args",
    [
        ["--backend", "aws", "runs", "list", "g"],
        ["runs", "list", "g", "--backend", "aws"],
        ["runs", "list", "--backend=aws", "g"],
    ],
)
def test_backend_may_come_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, _, err = run(capsys, *args)
    # No deployment is configured: the AWS backend says so, wherever --backend stood.
    assert code == 2
    assert "the AWS backend needs CRONBRIDGE_STATE_BUCKET" in err


def test_a_list_can_be_read_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, good_list: Path
) -> None:
    lines = "".join(json.dumps(job) + "\n" for job in numbered_jobs("s", 3))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    code, out, err = run(
        capsys, *register_args("--list", "from-stdin=-", lists=f"file={good_list}")
    )
    assert code == 0 and "error" not in err
    assert "registered g v1: 5 jobs in 2 list(s)" in out
    shown = json.loads(run(capsys, "groups", "show", "g", "--json")[1])
    assert shown["lists"] == [
        {"name": "file", "jobs": 2, "parts": [2]},
        {"name": "from-stdin", "jobs": 3, "parts": [3]},
    ]


def test_backend_is_lifted_only_before_a_double_dash() -> None:
    from bridge.cli.app import lift_backend

    assert lift_backend(["runs", "list", "--backend", "aws", "--", "--backend", "x"]) == [
        *["--backend", "aws", "runs", "list"],
        *["--", "--backend", "x"],
    ]
