"""Groups, job lists and jobs (DESIGN.md §3.2): validation and the versioned manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.domain._show import show
from bridge.domain.controls import Controls
from bridge.domain.job_ids import JobIdTable
from bridge.domain.names import validate_group_name, validate_list_name
from bridge.domain.schedules import Schedule
from bridge.exceptions import GroupNotFound, InvalidInput, LineProblem

__all__ = [
    "MAX_JOB_BYTES",
    "MAX_JOB_ID_CHARS",
    "PART_SIZE",
    "GroupManifest",
    "Job",
    "JobListChecker",
    "ListManifest",
    "VersionClaim",
    "decode_job",
    "encode_job",
    "not_registered",
    "plan_parts",
    "stored_manifest",
]

PART_SIZE = 1000
MAX_JOB_ID_CHARS = 128
MAX_JOB_BYTES = 200 * 1024
_JOB_FIELDS = frozenset({"id", "payload"})
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BITS = 40  # where a job was first seen: (list index << 40) | line number


@dataclass(frozen=True)
class Job:
    id: str
    payload: Any = None


def encode_job(job: Job) -> str:
    """The one line a job is stored as in a part file."""
    return json.dumps({"id": job.id, "payload": job.payload}, separators=(",", ":"))


def decode_job(line: str | bytes) -> Job:
    data = json.loads(line)
    return Job(id=data["id"], payload=data.get("payload"))


def not_registered(group: str) -> GroupNotFound:
    return GroupNotFound(
        f"group {group!r} is not registered",
        hint="see `cronbridge groups list`, or register it with `cronbridge groups register`",
    )


def plan_parts(job_count: int, part_size: int = PART_SIZE) -> tuple[int, ...]:
    """Job counts of the parts a list of `job_count` jobs is stored as."""
    full, rest = divmod(job_count, part_size)
    return (part_size,) * full + ((rest,) if rest else ())


@dataclass
class JobListChecker:
    """Checks the lines of a group's job lists, remembering ids across all its lists.

    Feed it every line; it keeps every problem with its list and line number, so one
    registration attempt reports them all. It holds no job: only each id's hash and
    where it was first seen (bridge.domain.job_ids, at most 32 bytes a job).
    """

    problems: list[LineProblem] = field(default_factory=list)
    _seen: JobIdTable = field(default_factory=JobIdTable)
    _lists: dict[str, int] = field(default_factory=dict)

    def check_line(self, list_name: str, number: int, line: str | bytes) -> Job | None:
        """The job on this line, None for a blank line or a bad one (recorded)."""
        if not line.strip():
            return None
        job, problem = self._parse(line)
        if problem is None and job is not None:
            first = self._seen.first_seen(job.id, self._where(list_name, number))
            if first is not None:
                at_list, at_line = self._place(first)
                problem = (
                    f"duplicate job id {show(job.id)} (first at list {at_list!r} line {at_line})"
                )
        if problem is not None:
            self.problems.append(LineProblem(list_name, number, problem))
            return None
        return job

    def check_list(self, list_name: str, lines: Iterable[str | bytes]) -> Iterator[Job]:
        count = 0
        for number, line in enumerate(lines, start=1):
            job = self.check_line(list_name, number, line)
            if job is not None:
                count += 1
                yield job
        if count == 0 and not any(p.list_name == list_name for p in self.problems):
            self.problems.append(LineProblem(list_name, 0, "the list has no jobs"))

    def _where(self, list_name: str, number: int) -> int:
        index = self._lists.setdefault(list_name, len(self._lists))
        return index << _LINE_BITS | number

    def _place(self, where: int) -> tuple[str, int]:
        index, number = where >> _LINE_BITS, where & ((1 << _LINE_BITS) - 1)
        return next(name for name, i in self._lists.items() if i == index), number

    @staticmethod
    def _parse(line: str | bytes) -> tuple[Job | None, str | None]:
        if len(line) > MAX_JOB_BYTES + 1:
            return None, f"line is longer than {MAX_JOB_BYTES // 1024} KiB"
        try:
            data = json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            return None, f"not JSON ({exc})" if isinstance(exc, ValueError) else "not UTF-8"
        if not isinstance(data, dict):
            return (
                None,
                f'must be a JSON object like {{"id": "a", "payload": 1}}, not {type(data).__name__}',
            )
        unknown = sorted(set(data) - _JOB_FIELDS)
        if unknown:
            return (
                None,
                f"unknown field(s) {', '.join(map(show, unknown))}; a job has id and payload",
            )
        job_id = data.get("id")
        if not isinstance(job_id, str) or not job_id:
            return None, "id must be a non-empty string"
        if len(job_id) > MAX_JOB_ID_CHARS:
            return None, f"id is longer than {MAX_JOB_ID_CHARS} characters"
        if _CONTROL_CHARS.search(job_id):
            return None, f"id {show(job_id)} contains control characters"
        job = Job(id=job_id, payload=data.get("payload"))
        size = len(encode_job(job).encode())
        if size > MAX_JOB_BYTES:
            return (
                None,
                f"job is {size} bytes; at most {MAX_JOB_BYTES} ({MAX_JOB_BYTES // 1024} KiB)",
            )
        return job, None


@dataclass(frozen=True)
class ListManifest:
    name: str
    parts: tuple[int, ...]  # job count of each part

    @property
    def jobs(self) -> int:
        return sum(self.parts)


@dataclass(frozen=True)
class GroupManifest:
    """One immutable version of a group: what a run pins when it starts."""

    group: str
    version: int
    target: str
    controls: Controls
    lists: tuple[ListManifest, ...]
    created_at: str
    #: when the group should run, if it says (anchored at `created_at`); optional
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        if self.schedule is not None and self.schedule.anchor is None:
            object.__setattr__(self, "schedule", self.schedule.anchored_at(self.created_at))
        validate_group_name(self.group)
        for job_list in self.lists:
            validate_list_name(job_list.name)
        if not self.lists:
            raise InvalidInput(f"group {self.group!r} needs at least one job list")

    @property
    def total_jobs(self) -> int:
        return sum(job_list.jobs for job_list in self.lists)

    def job_list(self, name: str) -> ListManifest:
        for job_list in self.lists:
            if job_list.name == name:
                return job_list
        raise InvalidInput(f"group {self.group!r} v{self.version} has no list {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "version": self.version,
            "target": self.target,
            "controls": self.controls.to_dict(),
            "lists": [
                {"name": jl.name, "jobs": jl.jobs, "parts": list(jl.parts)} for jl in self.lists
            ],
            "total_jobs": self.total_jobs,
            "created_at": self.created_at,
            **({"schedule": self.schedule.to_dict()} if self.schedule else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupManifest:
        return cls(
            group=data["group"],
            version=int(data["version"]),
            target=data["target"],
            controls=Controls.from_dict(data.get("controls", {})),
            lists=tuple(
                ListManifest(name=jl["name"], parts=tuple(int(n) for n in jl["parts"]))
                for jl in data["lists"]
            ),
            created_at=data["created_at"],
            schedule=Schedule.from_dict(data["schedule"]) if data.get("schedule") else None,
        )


@dataclass(frozen=True)
class VersionClaim:
    """A version one registration has taken and is still writing.

    It is stored where the version's manifest goes (`v<N>/group.json`), written only if
    nothing is there, and the manifest replaces it once every part is written: from the
    claim on, no other registration writes that version. A claim a killed registration
    left behind says who took it and when; nothing reads it, `current` never points at
    it, and the next registration simply takes the next number.
    """

    group: str
    version: int
    claimed_at: str
    by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "version": self.version,
            "unfinished": {"claimed_at": self.claimed_at, "by": self.by},
        }


def stored_manifest(group: str, version: int, data: Any) -> GroupManifest:
    """The manifest stored for `version`; GroupNotFound if that version was never
    finished (a claim, or an empty file left by a registration killed while claiming)."""
    if not isinstance(data, dict) or "unfinished" in data or "lists" not in data:
        raise GroupNotFound(
            f"version {version} of group {group!r} was never finished: its registration stopped",
            hint="`cronbridge groups show` names the current version",
        )
    return GroupManifest.from_dict(data)
