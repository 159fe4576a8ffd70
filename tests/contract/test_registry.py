"""The registry and the register use case, on both adapter families."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from bridge.domain.controls import Controls
from bridge.domain.groups import GroupManifest, Job, ListManifest, VersionClaim
from bridge.domain.schedules import Schedule, parse_schedule
from bridge.exceptions import Conflict, GroupNotFound, InvalidInput, InvalidJobList, InvalidTarget
from bridge.local.registry import FileRegistry
from bridge.local.targets import check_local_target
from bridge.ports import Registry
from bridge.usecases.register import ListSource, RegisterProgress, register_group
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.contract.conftest import snapshot

source = ListSource.from_path


def register(
    registry: Registry,
    clock: FakeClock,
    *sources: ListSource,
    group: str = "g",
    target: str = "python:publishers.examples:echo",
    schedule: Schedule | None = None,
) -> int:
    manifest = register_group(
        group,
        target,
        list(sources),
        Controls(),
        registry=registry,
        clock=clock,
        check_target=check_local_target,
        schedule=schedule,
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


# -- a registration that stops half-way (issue 11, item 3) ------------------------------


def _lines(jobs: list[dict[str, object]]) -> list[str]:
    return [json.dumps(job) for job in jobs]


def lines_source(name: str, lines: list[str], read: list[int] | None = None) -> ListSource:
    """A source of text lines; `read` (if given) counts the lines handed out so far."""

    def open_lines() -> Iterator[str]:
        for line in lines:
            if read is not None:
                read[0] += 1
            yield line

    return ListSource(name=name, open_lines=open_lines)


@pytest.mark.parametrize("left", ["a claim", "a claim and parts", "a finished version"])
def test_a_version_a_stopped_registration_left_is_skipped_and_the_old_one_serves(
    registry: Registry, clock: FakeClock, left: str
) -> None:
    register(registry, clock, lines_source("a", _lines(numbered_jobs("old", 3))))
    # What a registration killed after claiming v2 leaves (or, for a finished version,
    # one that wrote its manifest and died before moving `current`).
    registry.claim_version(VersionClaim("g", 2, "2026-11-22T03:00:00.000Z", "host pid 1"))
    if left != "a claim":
        registry.write_part("g", 2, "a", 0, [Job("half", 1)])
    if left == "a finished version":
        registry.finish_version(
            GroupManifest("g", 2, "python:x:y", Controls(), (ListManifest("a", (1,)),), "t")
        )
    assert registry.load_manifest("g").version == 1  # the old version keeps serving
    if left != "a finished version":
        with pytest.raises(GroupNotFound, match="never finished"):
            registry.load_manifest("g", 2)

    new = register(registry, clock, lines_source("a", _lines(numbered_jobs("new", 2))))

    assert new == 3 and registry.current_version("g") == 3
    assert [job.id for job in registry.read_part("g", 3, "a", 0)] == ["new-0", "new-1"]
    assert [job.id for job in registry.read_part("g", 1, "a", 0)] == ["old-0", "old-1", "old-2"]


def test_a_version_is_claimed_once(registry: Registry) -> None:
    claim = VersionClaim("g", 1, "2026-11-22T03:00:00.000Z", "host pid 1")
    registry.claim_version(claim)
    with pytest.raises(Conflict):
        registry.claim_version(claim)
    with pytest.raises(Conflict):
        registry.claim_version(VersionClaim("g", 1, "2026-11-22T03:00:01.000Z", "other pid 2"))


def test_of_two_registrations_at_once_one_commits_and_the_other_fails_cleanly(
    registry: Registry, clock: FakeClock
) -> None:
    """The slow one claims v2 first; the quick one, run while the slow one is between
    two parts, claims v3 and moves `current`; the slow one then finds `current` moved,
    fails, and leaves nothing of v2 behind."""
    register(registry, clock, lines_source("a", _lines(numbered_jobs("old", 1))))
    quick: list[int] = []

    def slow_lines() -> Iterator[str]:
        for n, line in enumerate(_lines(numbered_jobs("slow", 2500))):
            if n == 1500:  # part 0 of v2 is written: v2 is claimed
                quick.append(register(registry, clock, lines_source("a", ['{"id": "q"}'])))
            yield line

    with pytest.raises(Conflict, match="registered by someone else meanwhile"):
        register(registry, clock, ListSource("a", slow_lines))
    assert quick == [3] and registry.current_version("g") == 3
    assert [job.id for job in registry.read_part("g", 3, "a", 0)] == ["q"]
    assert not [key for key in snapshot(registry) if key.startswith("groups/g/v2/")]


def test_a_bad_line_after_parts_were_written_leaves_the_registry_as_it_was(
    registry: Registry, clock: FakeClock
) -> None:
    before = snapshot(registry)
    lines = [*_lines(numbered_jobs("a", 2500)), "oops", '{"id": "a-7"}']
    with pytest.raises(InvalidJobList) as info:
        register(registry, clock, lines_source("a", lines))
    assert [(p.line, p.problem[:8]) for p in info.value.problems] == [
        (2501, "not JSON"),
        (2502, "duplicat"),
    ]
    assert snapshot(registry) == before
    assert registry.list_groups() == []
    assert register(registry, clock, lines_source("a", lines[:3])) == 1


# -- big lists (issue 11, item 15) -------------------------------------------------------


class PartsSeen:
    """A registry that notes how many lines the source had given when each part came."""

    def __init__(self, registry: Registry, read: list[int]) -> None:
        self._registry = registry
        self._read = read
        self.parts: list[tuple[str, int, int, int]] = []  # list, part, jobs, lines read then

    def __getattr__(self, name: str) -> object:
        return getattr(self._registry, name)

    def write_part(
        self, group: str, version: int, list_name: str, part: int, jobs: Sequence[Job]
    ) -> None:
        self.parts.append((list_name, part, len(jobs), self._read[0]))
        self._registry.write_part(group, version, list_name, part, jobs)


def test_parts_are_written_while_the_list_is_read(registry: Registry, clock: FakeClock) -> None:
    read = [0]
    seen = PartsSeen(registry, read)
    lines = _lines(numbered_jobs("a", 5500))
    progress: list[RegisterProgress] = []
    manifest = register_group(
        "g",
        "python:publishers.examples:echo",
        [lines_source("a", lines, read)],
        Controls(),
        registry=cast(Registry, seen),
        clock=clock,
        check_target=check_local_target,
        on_progress=progress.append,
    )
    # The first part goes out when its 1,000th line has been read, not after the last.
    assert seen.parts[0] == ("a", 0, 1000, 1000)
    assert [(part, jobs) for _, part, jobs, _ in seen.parts] == [
        (0, 1000),
        (1, 1000),
        (2, 1000),
        (3, 1000),
        (4, 1000),
        (5, 500),
    ]
    assert [at for *_, at in seen.parts[:5]] == [1000, 2000, 3000, 4000, 5000]
    assert manifest.lists[0].parts == (1000,) * 5 + (500,)
    assert [p.lines for p in progress] == [1000, 2000, 3000, 4000, 5000, 5500]
    assert progress[-1].jobs_stored == 5500 and progress[-1].problems == 0
    assert progress[-1].bytes_read == sum(len(line) for line in lines)


def test_once_a_line_is_bad_nothing_more_is_written_but_every_line_is_checked(
    registry: Registry, clock: FakeClock
) -> None:
    read = [0]
    seen = PartsSeen(registry, read)
    lines = [*_lines(numbered_jobs("a", 1500)), "[1]", *_lines(numbered_jobs("b", 3000))]
    lines.append('{"id": "a-3"}')
    with pytest.raises(InvalidJobList) as info:
        register_group(
            "g",
            "python:publishers.examples:echo",
            [lines_source("a", lines, read)],
            Controls(),
            registry=cast(Registry, seen),
            clock=clock,
            check_target=check_local_target,
        )
    assert [p.line for p in info.value.problems] == [1501, 4502]
    assert "(first at list 'a' line 4)" in info.value.problems[1].problem
    assert [part for _, part, _, _ in seen.parts] == [0]  # the one before the bad line
    assert read == [len(lines)]
    assert registry.list_groups() == []


# -- a group's schedule is part of its version -------------------------------------------


def three_jobs(tmp_path: Path) -> ListSource:
    return source("a", write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 3)))


def test_a_cron_schedule_is_stored_with_the_version_and_read_back(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    schedule = parse_schedule("cron(30 1 * * ? *)", "Europe/London", slot_tolerance=120)
    assert register(registry, clock, three_jobs(tmp_path), schedule=schedule) == 1
    stored = json.loads(snapshot(registry)["groups/g/v1/group.json"])
    assert stored["schedule"]["expression"] == "cron(30 1 * * ? *)"
    assert stored["schedule"]["time_zone"] == "Europe/London"
    assert stored["schedule"]["slot_tolerance"] == 120
    assert stored["schedule"]["time_zone_rules"]
    loaded = registry.load_manifest("g").schedule
    assert loaded is not None
    assert (loaded.expression, loaded.time_zone, loaded.slot_tolerance) == (
        "cron(30 1 * * ? *)",
        "Europe/London",
        120,
    )
    # the autumn day of 2026: 01:30 BST once, not again at 01:30 GMT
    start = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert loaded.next_slots(start, 2) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


def test_a_rate_counts_from_the_versions_registration(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    clock.advance(42.5)  # registered at 03:00:42.5
    register(registry, clock, three_jobs(tmp_path), schedule=parse_schedule("rate(15 minutes)"))
    schedule = registry.load_manifest("g").schedule
    anchor = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert schedule is not None and schedule.anchor == anchor
    assert schedule.next_slots(clock.now(), 2) == [
        anchor + timedelta(minutes=15),
        anchor + timedelta(minutes=30),
    ]


def test_the_schedule_belongs_to_one_version(
    registry: Registry, clock: FakeClock, tmp_path: Path
) -> None:
    register(registry, clock, three_jobs(tmp_path), schedule=parse_schedule("0 3 * * *"))
    assert register(registry, clock, three_jobs(tmp_path)) == 2
    assert registry.load_manifest("g").schedule is None
    assert "schedule" not in json.loads(snapshot(registry)["groups/g/v2/group.json"])
    first = registry.load_manifest("g", 1).schedule
    assert first is not None and first.expression == "0 3 * * *"
