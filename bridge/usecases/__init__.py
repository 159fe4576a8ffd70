"""Use cases: the product's behaviour, written once against the ports."""

from bridge.usecases.dispatch import TriggerOutcome as TriggerOutcome
from bridge.usecases.dispatch import handle_trigger as handle_trigger
from bridge.usecases.record import record_destination as record_destination
from bridge.usecases.redrive import RedriveOutcome as RedriveOutcome
from bridge.usecases.redrive import redrive_run as redrive_run
from bridge.usecases.register import ListSource as ListSource
from bridge.usecases.register import register_group as register_group
from bridge.usecases.resume import ResumedRun as ResumedRun
from bridge.usecases.resume import resume_runs as resume_runs

__all__ = [
    "ListSource",
    "RedriveOutcome",
    "ResumedRun",
    "TriggerOutcome",
    "handle_trigger",
    "record_destination",
    "redrive_run",
    "register_group",
    "resume_runs",
]
