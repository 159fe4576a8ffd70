"""Register a group: check every line while writing a new immutable version, then move `current`.

Each list is read once, line by line: lines are parsed, checked and written in parts of
1,000 jobs as they come, so memory does not grow with the list but for the job ids
(kept as hashes, to find duplicates across the group: bridge.domain.job_ids). The
version is claimed when its first part is ready and made current after its last:

- a bad line stops the writing (every later line is still checked, so all are
  reported) and the unfinished version is discarded;
- a registration killed half-way leaves a claim nothing reads, and the next one takes
  the next free number, so the old version keeps serving and nothing is locked;
- two registrations at once claim different numbers; the one that moves `current`
  second finds it moved and fails with Conflict, its version discarded.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.domain.controls import Controls
from bridge.domain.groups import (
    PART_SIZE,
    GroupManifest,
    Job,
    JobListChecker,
    ListManifest,
    VersionClaim,
)
from bridge.domain.names import validate_group_name, validate_list_name
from bridge.domain.schedules import Schedule
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict, InvalidInput, InvalidJobList
from bridge.ports import Clock, Registry

__all__ = ["ListSource", "RegisterProgress", "register_group"]

# Numbers above `current` that unfinished versions may hold before we give up: each
# is one conditional write, and each is a registration that was killed or lost a race.
_CLAIM_TRIES = 1000
_PROGRESS_EVERY = PART_SIZE  # lines between two progress reports


@dataclass(frozen=True)
class ListSource:
    """A job list to register, read once, line by line. `size` (bytes, when known) is
    what a progress display counts towards."""

    name: str
    open_lines: Callable[[], Iterable[str | bytes]]
    size: int | None = None

    @classmethod
    def from_path(cls, name: str, path: Path) -> ListSource:
        def open_lines() -> Iterator[bytes]:
            with path.open("rb") as handle:
                yield from handle

        try:
            size: int | None = path.stat().st_size
        except OSError:  # reading it will say what is wrong
            size = None
        return cls(name=name, open_lines=open_lines, size=size)


@dataclass(frozen=True)
class RegisterProgress:
    """How far a registration has come, over all its lists so far."""

    list_name: str  # the list being read
    lines: int
    bytes_read: int  # characters, for a source of text lines
    jobs_stored: int
    problems: int  # bad lines found: once there is one, nothing more is stored


def register_group(
    group: str,
    target: str,
    sources: Sequence[ListSource],
    controls: Controls,
    *,
    registry: Registry,
    clock: Clock,
    check_target: Callable[[str, Controls], None],
    on_progress: Callable[[RegisterProgress], None] | None = None,
    schedule: Schedule | None = None,
) -> GroupManifest:
    """The new manifest. Nothing is visible to triggers until every part is written.
    A `schedule` is stored with the version, anchored at its registration time."""
    validate_group_name(group)
    _check_list_names(sources)
    check_target(target, controls)

    previous = registry.current_version(group)
    version = _NewVersion(registry, group, previous, claimed_at=format_time(clock.now()))
    try:
        lists = _store_lists(sources, version, on_progress or _ignore)
        manifest = GroupManifest(
            group=group,
            version=version.number,
            target=target,
            controls=controls,
            lists=lists,
            created_at=format_time(clock.now()),
            schedule=schedule,
        )
        registry.finish_version(manifest)
        registry.set_current(group, manifest.version, expected=previous)
    except BaseException:
        version.discard()
        raise
    return manifest


class _NewVersion:
    """The version this registration writes, claimed when its first part is ready (a
    list whose first lines are bad never touches the registry)."""

    def __init__(self, registry: Registry, group: str, previous: int | None, claimed_at: str):
        self._registry = registry
        self._group = group
        self._previous = previous
        self._claimed_at = claimed_at
        self._number: int | None = None

    @property
    def number(self) -> int:
        if self._number is None:
            self._number = self._claim()
        return self._number

    def write_part(self, list_name: str, part: int, jobs: Sequence[Job]) -> None:
        self._registry.write_part(self._group, self.number, list_name, part, jobs)

    def discard(self) -> None:
        if self._number is None:
            return
        # Best effort: the error that stopped the registration is the one to report,
        # and a version left behind is only a claim nothing reads.
        with contextlib.suppress(Exception):
            self._registry.discard_version(self._group, self._number)

    def _claim(self) -> int:
        first = (self._previous or 0) + 1
        by = f"{socket.gethostname()} pid {os.getpid()}"
        for number in range(first, first + _CLAIM_TRIES):
            try:
                self._registry.claim_version(
                    VersionClaim(self._group, number, self._claimed_at, by)
                )
            except Conflict:
                continue  # finished by someone else, or being written, or abandoned
            return number
        raise Conflict(
            f"versions {first} to {first + _CLAIM_TRIES - 1} of group {self._group!r} are "
            "all taken by registrations that did not finish",
            hint="delete the group and register it again",
        )


def _store_lists(
    sources: Sequence[ListSource],
    version: _NewVersion,
    on_progress: Callable[[RegisterProgress], None],
) -> tuple[ListManifest, ...]:
    checker = JobListChecker()
    meter = _Meter(checker, on_progress)
    lists = []
    for src in sources:
        parts: list[int] = []
        batch: list[Job] = []
        with _reading(src) as lines:
            for job in checker.check_list(src.name, meter.read(src.name, lines)):
                if checker.problems:  # nothing more is stored; every line is still checked
                    batch.clear()
                    continue
                batch.append(job)
                if len(batch) == PART_SIZE:
                    version.write_part(src.name, len(parts), batch)
                    parts.append(len(batch))
                    meter.stored += len(batch)
                    batch = []
        if batch and not checker.problems:
            version.write_part(src.name, len(parts), batch)
            parts.append(len(batch))
            meter.stored += len(batch)
        meter.report(src.name)
        lists.append(ListManifest(src.name, tuple(parts)))
    if checker.problems:
        raise InvalidJobList(checker.problems)
    return tuple(lists)


class _Meter:
    """Counts what is read and reports it every `_PROGRESS_EVERY` lines."""

    def __init__(
        self, checker: JobListChecker, on_progress: Callable[[RegisterProgress], None]
    ) -> None:
        self._checker = checker
        self._on_progress = on_progress
        self.lines = 0
        self.bytes_read = 0
        self.stored = 0

    def read(self, list_name: str, lines: Iterable[str | bytes]) -> Iterator[str | bytes]:
        for line in lines:
            self.lines += 1
            self.bytes_read += len(line)
            if self.lines % _PROGRESS_EVERY == 0:
                self.report(list_name)
            yield line

    def report(self, list_name: str) -> None:
        self._on_progress(
            RegisterProgress(
                list_name=list_name,
                lines=self.lines,
                bytes_read=self.bytes_read,
                jobs_stored=self.stored,
                problems=len(self._checker.problems),
            )
        )


def _ignore(progress: RegisterProgress) -> None:
    return None


@contextlib.contextmanager
def _reading(src: ListSource) -> Iterator[Iterable[str | bytes]]:
    """The source's lines, closed afterwards (a file, or a generator holding one)."""
    lines = src.open_lines()
    try:
        yield lines
    finally:
        close = getattr(lines, "close", None)
        if callable(close):
            close()


def _check_list_names(sources: Sequence[ListSource]) -> None:
    if not sources:
        raise InvalidInput("a group needs at least one job list", hint="add --list NAME=FILE")
    seen: set[str] = set()
    for src in sources:
        validate_list_name(src.name)
        if src.name in seen:
            raise InvalidInput(f"list {src.name!r} is given twice; list names must be unique")
        seen.add(src.name)
