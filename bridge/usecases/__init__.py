"""Use cases: the product's behaviour, written once against the ports."""

from bridge.usecases.control import ResumeOutcome as ResumeOutcome
from bridge.usecases.control import cancel_run as cancel_run
from bridge.usecases.control import resume_run as resume_run
from bridge.usecases.dispatch import TriggerOutcome as TriggerOutcome
from bridge.usecases.dispatch import handle_trigger as handle_trigger
from bridge.usecases.jobs import job_results as job_results
from bridge.usecases.record import RecordReport as RecordReport
from bridge.usecases.record import record_results as record_results
from bridge.usecases.redrive import RedriveOutcome as RedriveOutcome
from bridge.usecases.redrive import redrive_run as redrive_run
from bridge.usecases.register import ListSource as ListSource
from bridge.usecases.register import register_group as register_group
from bridge.usecases.resume import ResumedRun as ResumedRun
from bridge.usecases.resume import resume_runs as resume_runs
from bridge.usecases.sweep import SweepAction as SweepAction
from bridge.usecases.sweep import sweep_runs as sweep_runs

__all__ = [
    "ListSource",
    "RecordReport",
    "RedriveOutcome",
    "ResumeOutcome",
    "ResumedRun",
    "SweepAction",
    "TriggerOutcome",
    "cancel_run",
    "handle_trigger",
    "job_results",
    "record_results",
    "redrive_run",
    "register_group",
    "resume_run",
    "resume_runs",
    "sweep_runs",
]
