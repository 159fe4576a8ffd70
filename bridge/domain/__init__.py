"""The pure domain: values in, values out; no I/O, no clock reads."""

from bridge.domain.controls import Controls as Controls
from bridge.domain.controls import Overlap as Overlap
from bridge.domain.groups import GroupManifest as GroupManifest
from bridge.domain.groups import Job as Job
from bridge.domain.groups import JobListChecker as JobListChecker
from bridge.domain.groups import ListManifest as ListManifest
from bridge.domain.plan import PublisherUnit as PublisherUnit
from bridge.domain.results import JobRef as JobRef
from bridge.domain.results import JobResult as JobResult
from bridge.domain.results import JobStatus as JobStatus
from bridge.domain.runs import Decision as Decision
from bridge.domain.runs import Run as Run
from bridge.domain.runs import RunState as RunState
from bridge.domain.schedules import Schedule as Schedule
from bridge.domain.triggers import Trigger as Trigger
from bridge.domain.triggers import TriggerEvent as TriggerEvent

__all__ = [
    "Controls",
    "Decision",
    "GroupManifest",
    "Job",
    "JobListChecker",
    "JobRef",
    "JobResult",
    "JobStatus",
    "ListManifest",
    "Overlap",
    "PublisherUnit",
    "Run",
    "RunState",
    "Schedule",
    "Trigger",
    "TriggerEvent",
]
