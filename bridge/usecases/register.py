"""Register a group: validate everything, write a new immutable version, move `current`."""

from __future__ import annotations

import contextlib
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
    plan_parts,
)
from bridge.domain.names import validate_group_name, validate_list_name
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict, InvalidInput, InvalidJobList
from bridge.ports import Clock, Registry

__all__ = ["ListSource", "register_group"]

_VERSION_RACE_TRIES = 5


@dataclass(frozen=True)
class ListSource:
    """A job list to register. `open_lines` is called twice: to check, then to write."""

    name: str
    open_lines: Callable[[], Iterable[str | bytes]]

    @classmethod
    def from_path(cls, name: str, path: Path) -> ListSource:
        def open_lines() -> Iterator[bytes]:
            with path.open("rb") as handle:
                yield from handle

        return cls(name=name, open_lines=open_lines)


def register_group(
    group: str,
    target: str,
    sources: Sequence[ListSource],
    controls: Controls,
    *,
    registry: Registry,
    clock: Clock,
    check_target: Callable[[str, Controls], None],
) -> GroupManifest:
    """The new manifest. Nothing is visible to triggers until every part is written."""
    validate_group_name(group)
    _check_list_names(sources)
    check_target(target, controls)

    checker = JobListChecker()
    counts = {}
    for src in sources:
        with _reading(src) as lines:
            counts[src.name] = sum(1 for _ in checker.check_list(src.name, lines))
    if checker.problems:
        raise InvalidJobList(checker.problems)

    lists = tuple(ListManifest(src.name, plan_parts(counts[src.name])) for src in sources)
    for _ in range(_VERSION_RACE_TRIES):
        previous = registry.current_version(group)
        manifest = GroupManifest(
            group=group,
            version=(previous or 0) + 1,
            target=target,
            controls=controls,
            lists=lists,
            created_at=format_time(clock.now()),
        )
        try:
            # Claiming the version first means two registrations never share part files.
            registry.create_manifest(manifest)
        except Conflict:
            continue
        _write_parts(registry, manifest, sources)
        registry.set_current(group, manifest.version, expected=previous)
        return manifest
    raise Conflict(f"group {group!r} is being registered by someone else right now; try again")


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


def _write_parts(
    registry: Registry, manifest: GroupManifest, sources: Sequence[ListSource]
) -> None:
    # A fresh checker re-reads the same lines: should a file change between the two
    # passes, the registration fails instead of storing jobs nobody checked.
    checker = JobListChecker()
    for src, planned in zip(sources, manifest.lists, strict=True):
        part, batch = 0, list[Job]()
        with _reading(src) as lines:
            for job in checker.check_list(src.name, lines):
                batch.append(job)
                if len(batch) == PART_SIZE:
                    registry.write_part(manifest.group, manifest.version, src.name, part, batch)
                    part, batch = part + 1, []
        if batch:
            registry.write_part(manifest.group, manifest.version, src.name, part, batch)
            part += 1
        if checker.problems or part != len(planned.parts):
            raise InvalidInput(
                f"list {src.name!r} changed while it was being registered; try again"
            )
