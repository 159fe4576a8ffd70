"""The Makefile's venv handling, run for real on a copy of it, with stand-in pythons that
make stand-in venvs and log what they are asked (no network, no pip): a broken or foreign
`.venv` is made again, a good one is kept, and `make demo` installs only the project."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A python that says who it is (the Makefile asks with -c), makes a venv whose python is
# itself, and logs every call; its venv's `cronbridge` logs too.
FAKE_PYTHON = """#!/bin/sh
echo "$0 $*" >> "$LOG"
case "$1" in
  -c) case "$2" in *version_info*) exit 0 ;; *) echo "{identity}"; exit 0 ;; esac ;;
  -m) case "$2" in
        venv) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" &&
              printf '#!/bin/sh\\necho "cronbridge $*" >> "$LOG"\\n' > "$3/bin/cronbridge" &&
              chmod +x "$3/bin/cronbridge"; exit $? ;;
        pip) exit {pip_exit} ;;
      esac ;;
esac
exit 3
"""


def fake_python(directory: Path, name: str, identity: str, pip_exit: int = 0) -> Path:
    path = directory / name
    path.write_text(FAKE_PYTHON.format(identity=identity, pip_exit=pip_exit))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    work = tmp_path / "project"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, work / name)
    return work


def make(project: Path, python: Path, *targets: str) -> tuple[int, list[str]]:
    """Run make; its exit code and the calls the stand-ins logged (minus identity probes)."""
    log = project / "calls.log"
    log.write_text("")
    env = {**os.environ, "LOG": str(log)}
    done = subprocess.run(
        ["make", "--no-print-directory", f"PYTHON={python}", *targets],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = [
        line.replace(str(project) + "/", "")
        for line in log.read_text().splitlines()
        if " -c " not in line
    ]
    return done.returncode, calls


def test_a_venv_whose_python_fails_is_made_again_even_with_its_stamps_in_place(
    project: Path, tmp_path: Path
) -> None:
    """As after an install with a too-old python: .venv/bin/python fails, yet stamps say done."""
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    broken = venv / "bin" / "python"
    broken.write_text("#!/bin/sh\necho 'Python 3.9 is too old' >&2\nexit 1\n")
    broken.chmod(0o755)
    for stamp in (".installed", ".installed-base", ".installed-dev", ".python"):
        (venv / stamp).write_text("3.9.0 /old\n")  # all newer than pyproject.toml
    python = fake_python(tmp_path, "python3", "3.12.1 /opt/py312")
    code, calls = make(project, python, "demo")
    assert code == 0, calls
    assert calls == [
        f"{python} -m venv .venv",
        ".venv/bin/python -m pip install --quiet --upgrade pip",
        ".venv/bin/python -m pip install --quiet -e .",  # the project only: no dev tools
        "cronbridge demo",
    ]
    assert (venv / ".python").read_text().strip() == "3.12.1 /opt/py312"

    code, calls = make(project, python, "demo")  # nothing to do the second time
    assert (code, calls) == (0, ["cronbridge demo"])


def test_another_python_or_a_venv_left_halfway_is_made_again(project: Path, tmp_path: Path) -> None:
    first = fake_python(tmp_path, "python3", "3.11.9 /usr")
    assert make(project, first, "demo")[0] == 0
    other = fake_python(tmp_path, "python3.13", "3.13.0 /opt/py313")
    code, calls = make(project, other, "demo")
    assert code == 0
    assert calls[0] == f"{other} -m venv .venv"

    failing = fake_python(tmp_path, "python3.12", "3.12.0 /opt/py312", pip_exit=1)
    code, calls = make(project, failing, "demo")
    assert code != 0  # `pip install --upgrade pip` failed: the venv is left unfinished
    code, calls = make(project, first, "demo")  # the next run starts the venv over
    assert code == 0
    assert calls[0] == f"{first} -m venv .venv"


def test_the_dev_tools_come_with_the_targets_that_need_them(project: Path, tmp_path: Path) -> None:
    python = fake_python(tmp_path, "python3", "3.11.9 /usr")
    assert make(project, python, "demo")[0] == 0
    code, calls = make(project, python, "types")  # mypy is not there: make fails after
    assert calls[:1] == [".venv/bin/python -m pip install --quiet -e .[dev]"]
    assert code != 0
    code, calls = make(project, python, "demo")  # '.[dev]' covers the project too
    assert (code, calls) == (0, ["cronbridge demo"])


def test_a_venv_an_older_makefile_finished_is_kept(project: Path, tmp_path: Path) -> None:
    python = fake_python(tmp_path, "python3", "3.11.9 /usr")
    (project / ".venv" / "bin").mkdir(parents=True)
    bin_dir = project / ".venv" / "bin"
    shutil.copy(python, bin_dir / "python")
    (bin_dir / "cronbridge").write_text('#!/bin/sh\necho "cronbridge $*" >> "$LOG"\n')
    (bin_dir / "cronbridge").chmod(0o755)
    (project / ".venv" / ".installed").touch()  # the old stamp: '.[dev]' was installed
    code, calls = make(project, python, "demo")
    assert code == 0
    assert calls == [".venv/bin/python -m pip install --quiet -e .", "cronbridge demo"]
