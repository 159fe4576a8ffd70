"""The public surface is deliberate: nothing leaks out, nothing goes missing."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "bridge": [
        "Conflict",
        "CronbridgeError",
        "GroupNotFound",
        "InvalidInput",
        "InvalidJobList",
        "InvalidTarget",
        "InvalidTrigger",
        "LineProblem",
        "NotFound",
        "RunFailed",
        "RunNotFound",
        "Unavailable",
    ],
    "bridge.domain": [
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
    ],
    "bridge.usecases": [
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
    ],
    "bridge.ports": [
        "Clock",
        "JobSink",
        "Ledger",
        "OpenOutcome",
        "Progress",
        "PublisherInvoker",
        "Registry",
        "SendSet",
        "SinkFactory",
        "SystemClock",
    ],
    "bridge.local": [
        "FileRegistry",
        "Home",
        "LocalLambda",
        "LocalRuntime",
        "SqliteLedger",
        "TriggerServer",
    ],
    "publishers": [
        "TargetSpec",
        "UnitOutcome",
        "load_python_handler",
        "parse_target",
        "run_publisher_unit",
    ],
    "triggers": ["TriggerRequest", "build_trigger_request", "render_curl"],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_exported_members(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(EXPECTED[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is listed but missing"


def test_every_exception_descends_from_the_root() -> None:
    import bridge

    for name in EXPECTED["bridge"]:
        member = getattr(bridge, name)
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, bridge.CronbridgeError)
