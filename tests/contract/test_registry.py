"""The registry and the register use case, on both adapter families."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bridge.domain.controls import Controls
from bridge.domain.groups import Job
from bridge.exceptions import Conflict, GroupNotFound, InvalidInput, InvalidJobList, InvalidTarget
from bridge.local.registry import FileRegistry
from bridge.local.targets import check_local_target
from bridge.ports import Registry
from bridge.usecases.register import ListSource, register_group
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.contract.conftest import snapshot

source = ListSource.from_path


def register(
    registry: Registry,
    clock: FakeClock,
    *sources: ListSource,
    group: str = "g",
    target: str = "python:publishers.examples:echo",
) -> int:
    manifest = register_group(
        group,
        target,
        list(sources),
        Controls(),
        registry=registry,
        clock=clock,
        check_target=check_local_target,
    )
    return manifest.version


def test_register_writes_the_state_bucket_layout(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    a = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2500))
    b = write_jobs(tmp_path / "b.jsonl", numbered_jobs("b", 3))
    assert register(registry, clock, source("a", a), source("b", b)) == 1
    stored = snapshot(registry)
    assert stored["groups/g/current.json"] == b'{"version": 1}'
    assert sorted(k for k in stored if k.startswith("groups/g/v1/lists/a/")) == [
        "groups/g/v1/lists/a/part-0.jsonl",
        "groups/g/v1/lists/a/part-1.jsonl",
        "groups/g/v1/lists/a/part-2.jsonl",
    ]
    assert "groups/g/v1/group.json" in stored and len(stored) == 6
    manifest = registry.load_manifest("g")
    assert [(jl.name, jl.parts) for jl in manifest.lists] == [("a", (1000, 1000, 500)), ("b", (3,))]
    jobs = list(registry.read_part("g", 1, "a", 2))
    assert jobs[0] == Job("a-2000", {"n": 2000}) and len(jobs) == 500


def test_a_new_registration_is_a_new_version_and_the_old_one_stays(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    a = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    register(registry, clock, source("a", a))
    write_jobs(a, numbered_jobs("new", 5))
    assert register(registry, clock, source("a", a)) == 2
    assert registry.load_manifest("g").total_jobs == 5
    assert registry.load_manifest("g", 1).total_jobs == 2  # a run pinned to v1 still reads v1
    assert next(registry.read_part("g", 1, "a", 0)).id == "a-0"


def test_bad_lists_report_every_line_and_change_nothing(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    good = write_jobs(tmp_path / "good.jsonl", numbered_jobs("a", 3))
    register(registry, clock, source("a", good))
    before = snapshot(registry)
    bad = write_jobs(
        tmp_path / "bad.jsonl",
        ['{"id": "x"}', "oops", '{"id": "x"}', '{"id": "big", "payload": "' + "y" * 210_000 + '"}'],
    )
    with pytest.raises(InvalidJobList) as info:
        register(registry, clock, source("a", good), source("b", bad))
    assert [(p.list_name, p.line) for p in info.value.problems] == [("b", 2), ("b", 3), ("b", 4)]
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("group", "lists", "target", "error"),
    [
        ("Bad Name", ["a"], "python:publishers.examples:echo", InvalidInput),
        ("g", [], "python:publishers.examples:echo", InvalidInput),
        ("g", ["a", "a"], "python:publishers.examples:echo", InvalidInput),
        ("g", ["../a"], "python:publishers.examples:echo", InvalidInput),
        ("g", ["a"], "python:no_such_module_here:f", InvalidTarget),
        ("g", ["a"], "python:publishers.examples:nope", InvalidTarget),
        ("g", ["a"], "lambda:worker", InvalidTarget),
        ("g", ["a"], "http://127.0.0.1:9/unreachable", InvalidTarget),
    ],
)
def test_bad_registrations_change_nothing(
    registry: Registry,
    clock: FakeClock,
    tmp_path: Path,
    group: str,
    lists: list[str],
    target: str,
    error: type[Exception],
) -> None:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    before = snapshot(registry)
    with pytest.raises(error):
        register(registry, clock, *(source(n, path) for n in lists), group=group, target=target)
    assert snapshot(registry) == before


def test_current_moves_only_from_the_expected_version(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    register(registry, clock, source("a", write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 1))))
    with pytest.raises(Conflict):
        registry.set_current("g", 5, expected=None)
    assert registry.current_version("g") == 1


def test_concurrent_registrations_each_get_their_own_version(
    file_registry: FileRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    paths = [write_jobs(tmp_path / f"{i}.jsonl", numbered_jobs(f"r{i}", 50)) for i in range(6)]
    outcomes: list[object] = []

    def attempt(path: Path) -> None:
        try:
            outcomes.append(register(file_registry, clock, source("a", path)))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [o for o in outcomes if isinstance(o, int)]
    assert len(set(versions)) == len(versions) >= 1
    current = file_registry.load_manifest("g")
    ids = {job.id for job in file_registry.read_part("g", current.version, "a", 0)}
    assert (
        len(ids) == 50 and len({i.split("-")[0] for i in ids}) == 1
    )  # one registration's jobs, unmixed


def test_list_and_delete(registry: Registry, clock: FakeClock, tmp_path: Path) -> None:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 1))
    register(registry, clock, source("a", path), group="one")
    register(registry, clock, source("a", path), group="two")
    assert registry.list_groups() == ["one", "two"]
    registry.delete_group("one")
    assert registry.list_groups() == ["two"]
    with pytest.raises(GroupNotFound):
        registry.load_manifest("one")
    with pytest.raises(GroupNotFound):
        registry.delete_group("one")
