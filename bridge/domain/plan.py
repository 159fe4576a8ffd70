"""Publisher work units, the fan-out tree, and the lanes of a paced run (DESIGN.md §1).

A unit is one job list of a run, or a range of its parts. A unit over one part is a
leaf: it dispatches that part's jobs. A unit over more parts splits into at most
`branching` children over contiguous ranges, so a list of P parts is reached in
ceil(log_branching(P)) hops and no publisher ever handles more than one part's jobs.

A paced run (a group with `max_rate`) does not fan out: its parts are shared among a
few lanes, as many as its rate needs at LANE_RATE jobs a second each, and a lane goes
through its parts in order, a few jobs at a time (see `Pace`), handing the rest to a
delayed continuation of itself instead of sleeping inside a Lambda.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from bridge.domain.groups import GroupManifest

__all__ = [
    "DEADLINE_RESEND",
    "DEFAULT_BRANCHING",
    "LANE_RATE",
    "MAX_PACE_INTERVAL",
    "REDRIVE",
    "Pace",
    "PublisherUnit",
    "lanes",
    "pace",
    "root_units",
    "split_unit",
]

DEFAULT_BRANCHING = 10
#: the send set of a redrive: the failed and lost jobs of the attempt before
REDRIVE = "redrive"
#: the send set of the one resend a run's deadline makes per attempt
DEADLINE_RESEND = "resend"
#: the most jobs a second one lane of a paced run hands over
LANE_RATE = 100.0
#: the longest a lane waits between wakes (an SQS message's longest delay)
MAX_PACE_INTERVAL = 900.0


@dataclass(frozen=True)
class PublisherUnit:
    run_id: str
    group: str
    version: int
    list_name: str
    first_part: int
    end_part: int  # exclusive
    scheduled_time: str
    attempt: int = 1  # 1 for the run's dispatch, n+1 for its n-th redrive
    offset: int = 0  # jobs of a leaf's part already handed over by an earlier invocation
    #: "" sends the whole part; otherwise the name of the ledger's send set (a redrive's
    #: failed jobs, a resend's jobs without a result) that says which of its jobs to send
    only: str = ""
    #: a paced lane's wake: 0 for its first, n+1 for the continuation wake n sends
    wake: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.first_part < self.end_part:
            raise ValueError(f"empty part range [{self.first_part}, {self.end_part})")

    @property
    def is_leaf(self) -> bool:
        return self.end_part - self.first_part == 1

    @property
    def lane(self) -> str:
        """Names a paced lane within its run: its send set, list and end (a lane moves
        its first part and offset forward as it goes; its end stays)."""
        return f"{self.attempt}#{self.only}#{self.list_name}#{self.end_part}"

    @property
    def part(self) -> int:
        """The one part of a leaf unit."""
        if not self.is_leaf:
            raise ValueError("only a leaf unit has a single part")
        return self.first_part

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublisherUnit:
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in fields})


@dataclass(frozen=True)
class Pace:
    """How a lane of a paced run hands jobs over: `jobs` at a time, one wake every
    `interval` seconds (its share of the group's rate, at most LANE_RATE a second)."""

    jobs: int
    interval: float


def lanes(manifest: GroupManifest) -> dict[str, int]:
    """Per list, the lanes a paced run uses: as many in all as the rate needs at
    LANE_RATE each, at least one per list, at most one per part."""
    rate = manifest.controls.max_rate
    if rate is None:
        return {}
    parts = {job_list.name: len(job_list.parts) for job_list in manifest.lists}
    wanted = max(1, math.ceil(rate / LANE_RATE))
    total = sum(parts.values())
    return {
        name: max(1, min(count, round(wanted * count / total))) for name, count in parts.items()
    }


def pace(manifest: GroupManifest) -> Pace | None:
    """A paced run's lane pace, the same for every lane; None when the group has no rate."""
    rate = manifest.controls.max_rate
    if rate is None:
        return None
    share = rate / sum(lanes(manifest).values())
    jobs = max(1, round(share))  # a second's worth, and at least one a wake
    return Pace(jobs=jobs, interval=min(MAX_PACE_INTERVAL, jobs / share))


def root_units(
    run_id: str,
    manifest: GroupManifest,
    scheduled_time: str,
    attempt: int = 1,
    only: str = "",
    lists: frozenset[str] | None = None,
) -> tuple[PublisherUnit, ...]:
    """What the dispatcher launches: one unit per job list (of `lists`, if given), or,
    for a paced run, its lanes."""
    units = [
        PublisherUnit(
            run_id=run_id,
            group=manifest.group,
            version=manifest.version,
            list_name=job_list.name,
            first_part=0,
            end_part=len(job_list.parts),
            scheduled_time=scheduled_time,
            attempt=attempt,
            only=only,
        )
        for job_list in manifest.lists
        if lists is None or job_list.name in lists
    ]
    per_list = lanes(manifest)
    if not per_list:
        return tuple(units)
    paced: list[PublisherUnit] = []
    for unit in units:
        count = per_list[unit.list_name]
        paced.extend(split_unit(unit, count) if count > 1 else (unit,))
    return tuple(paced)


def split_unit(
    unit: PublisherUnit, branching: int = DEFAULT_BRANCHING
) -> tuple[PublisherUnit, ...]:
    """The children of a non-leaf unit: at most `branching` contiguous, near-equal ranges."""
    if branching < 2:
        raise ValueError("branching must be at least 2")
    count = unit.end_part - unit.first_part
    if count == 1:
        return ()
    width, extra = divmod(count, min(branching, count))
    children, start = [], unit.first_part
    for index in range(min(branching, count)):
        end = start + width + (1 if index < extra else 0)
        children.append(replace(unit, first_part=start, end_part=end))
        start = end
    return tuple(children)
