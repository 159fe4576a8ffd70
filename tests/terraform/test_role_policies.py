"""Every AWS call a function makes is allowed by its role, and nothing more.

The sandbox runs the pipeline's flows with a record of every AWS call made with each
function's role (`Sandbox(record_calls=True)`): the functions' own, their workers'
destination records, and the results queue's event source mapping. Each call is
checked against that function's role policy as the Terraform module renders it
(planned offline against the schema-only provider, with the sandbox's names, region
and account). A call no statement allows fails the test; an action of a statement
that no call used fails it too, unless `UNUSED` below says why it is there.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest

from bridge.domain.alerts import Alert, DestinationKind, new_alert_id
from bridge.domain.controls import Controls, Overlap
from bridge.domain.events import EventKind
from bridge.domain.groups import Job
from bridge.domain.runs import Run, RunState
from bridge.sandbox import Call, DeploymentNames, Sandbox
from bridge.usecases.control import cancel_run, resume_run
from bridge.usecases.redrive import redrive_run
from bridge.usecases.register import ListSource, register_group
from publishers.delivery import INLINE_ENVELOPE_LIMIT
from tests.conftest import SUPPORT, write_jobs
from tests.iam_policy import Policy, Request, requests_for, unused
from tests.terraform.conftest import TERRAFORM_DIR, Terraform

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's account, and the sandbox's region
NAMES = DeploymentNames("cb-iam")
WORKER, CONSUMER, LOSSY = "cb-iam-worker", "cb-iam-consumer", "cb-iam-lossy"
WORKER_ROLE = "cb-iam-workers"  # the role the three worker functions share
JOBS_QUEUE = "cb-iam-jobs"  # the sqs: target's queue
WAIT = 120.0  # bounds a wait so a broken test ends; never a claim about speed

CORE = ("dispatcher", "publisher", "recorder", "sweeper")
#: the policy each function's calls are checked against, by function name
ROLES = {
    **{getattr(NAMES, name): f'core["{name}"]' for name in CORE},
    **{name: f'worker["{WORKER_ROLE}"]' for name in (WORKER, CONSUMER, LOSSY)},
}


def _pins(
    roles: list[str], sid: str, actions: list[str], reason: str
) -> dict[tuple[str, str, str], str]:
    return {(role, sid, action): reason for role in roles for action in actions}


#: Actions of the module's role policies that no flow uses, each with why it is there,
#: by (policy, Sid, action). An action the flows do not use and this does not name
#: fails the test: justify it here, or take it out of the module.
UNUSED = {
    **_pins(
        [f'core["{name}"]' for name in CORE],
        "OwnLogs",
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Lambda's runtime writes the function's logs, not its code",
    ),
    **_pins(
        [f'core["{name}"]' for name in CORE],
        "FailedEventsToDlq",
        ["sqs:SendMessage"],
        "Lambda's on-failure destination, for an event that failed its last retry",
    ),
    **_pins(
        ['core["recorder"]'],
        "DrainResultsQueue",
        ["sqs:GetQueueAttributes"],
        "the event source mapping reads the queue's attributes; the sandbox's poller does not",
    ),
    **_pins(
        ['core["publisher"]'],
        "PaceLanes",
        ["sqs:GetQueueAttributes"],
        "the pacing queue's event source mapping reads the queue's attributes; the"
        " sandbox's poller does not",
    ),
    **_pins(
        ['core["publisher"]'],
        "ListRegistry",
        ["s3:ListBucket"],
        "a part or manifest deleted with its group mid-run then reads as missing"
        " (GroupNotFound) rather than AccessDenied; no flow deletes one under a publisher",
    ),
}


# -- the policies, as the module renders them ------------------------------------------------


def render_policies(terraform: Terraform, work: Path) -> dict[str, Policy]:
    """Every aws_iam_role_policy the module plans, by its address in the module
    (`core["publisher"]`, `worker["<role>"]`), for the sandbox's deployment.

    A root module calls the module with the sandbox's names; `terraform test` plans it
    with the aws provider mocked to moto's account and the sandbox's region (the
    schema-only provider alone would read them as placeholders), and `-json -verbose`
    reports the plan."""
    root = work / "root"
    (root / "tests").mkdir(parents=True)
    module = os.path.relpath(TERRAFORM_DIR / "modules" / "aws", root)
    workers = {
        name.removeprefix(f"{NAMES.prefix}-"): {"function_name": name, "role_name": WORKER_ROLE}
        for name in (WORKER, CONSUMER, LOSSY)
    }
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{JOBS_QUEUE}"
    (root / "main.tf").write_text(
        f"""
terraform {{
  required_providers {{
    aws     = {{ source = "hashicorp/aws" }}
    archive = {{ source = "hashicorp/archive" }}
    random  = {{ source = "hashicorp/random" }}
  }}
}}

provider "aws" {{}}

module "cronbridge" {{
  source            = {json.dumps(module)}
  prefix            = {json.dumps(NAMES.prefix)}
  auth_mode         = "iam"
  workers           = {json.dumps(workers)}
  worker_queue_arns = [{json.dumps(queue)}]
}}
"""
    )
    (root / "tests" / "render.tftest.hcl").write_text(
        f"""
mock_provider "aws" {{
  source = {json.dumps(str(TERRAFORM_DIR / "testing" / "aws"))}
  mock_data "aws_region" {{
    defaults = {{ region = {json.dumps(REGION)} }}
  }}
}}
mock_provider "archive" {{}}
mock_provider "random" {{}}

run "render" {{
  command = plan
}}
"""
    )
    terraform.init(root)
    done = terraform.run(root, "test", "-json", "-verbose")
    plans = [
        message["test_plan"]
        for message in map(json.loads, done.stdout.splitlines())
        if message.get("type") == "test_plan"
    ]
    assert len(plans) == 1, f"`terraform test -json -verbose` reported no plan:\n{done.stdout}"
    prefix = "module.cronbridge.aws_iam_role_policy."
    policies = {
        change["address"].removeprefix(prefix): Policy.parse(
            change["address"], json.loads(change["change"]["after"]["policy"])
        )
        for change in plans[0]["resource_changes"]
        if change["address"].startswith(prefix)
    }
    assert set(ROLES.values()) <= set(policies), sorted(policies)
    return policies


# -- the flows ---------------------------------------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The module the sandbox loads the workers from (tests/support/iam_workers.py)."""
    monkeypatch.syspath_prepend(str(SUPPORT))
    module = importlib.import_module("iam_workers")
    for event in (module.FIXED, module.GATE, module.HELD):
        event.clear()
    module.BLOBS.clear()
    yield module
    module.GATE.set()  # never leave a worker waiting


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


class HttpTarget(ThreadingHTTPServer):
    """An http: target on loopback: 500 for a job whose payload says so, else 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Answer(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = int((envelope.get("payload") or {}).get("status", 200))
        body = json.dumps({"job": envelope["cronbridge"]["job"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Flows:
    """Groups registered and fired in one sandbox, as a scheduler and a person would."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.runtime = sandbox.runtime
        self.tmp_path = tmp_path

    def register(
        self, group: str, target: str, jobs: list[dict[str, Any]], controls: Controls
    ) -> None:
        path = write_jobs(self.tmp_path / f"{group}.jsonl", jobs)
        register_group(
            group,
            target,
            [ListSource.from_path("a", path)],
            controls,
            registry=self.runtime.registry,
            clock=self.runtime.clock,
            check_target=lambda target, controls: None,
        )

    def enlarge(self, group: str, job_id: str) -> None:
        """Give `job_id` a payload over the inline limit, by rewriting its part.

        No registered job can have one: a job is at most 200 KiB (MAX_JOB_BYTES),
        encoded as its envelope is, and the envelope goes by reference only past 224 KiB
        (INLINE_ENVELOPE_LIMIT). The publisher keeps that path (PayloadStore), so its
        calls must still be allowed."""
        registry = self.runtime.registry
        version = registry.current_version(group)
        assert version is not None
        blob = {"blob": "y" * (INLINE_ENVELOPE_LIMIT + 1)}
        jobs = [
            Job(job.id, blob if job.id == job_id else job.payload)
            for job in registry.read_part(group, version, "a", 0)
        ]
        registry.write_part(group, version, "a", 0, jobs)

    def fire(self, group: str, slot: str = "2026-11-22T03:00:00Z") -> str:
        """The run id the trigger names."""
        response = httpx.put(
            f"{self.sandbox.env['CRONBRIDGE_TRIGGER_URL']}/triggers/{group}",
            content=json.dumps({"scheduled_time": slot}).encode(),
            headers={"User-Agent": self.sandbox.env["CRONBRIDGE_TRIGGER_SECRET"]},
        )
        assert response.status_code == 200
        return f"{group}.{slot.replace('-', '').replace(':', '')}"

    def run(
        self, run_id: str, until: Callable[[Run], bool] = lambda run: run.state.finished
    ) -> Run:
        end = time.monotonic() + WAIT
        run: Run | None = None
        while time.monotonic() < end:
            run = self.runtime.ledger.get_run(run_id)
            if run is not None and until(run):
                return run
            time.sleep(0.1)
        raise AssertionError(f"{run_id}: {run}")

    def redrive(self, run_id: str) -> None:
        redrive_run(
            run_id,
            registry=self.runtime.registry,
            ledger=self.runtime.ledger,
            publishers=self.runtime.publishers,
            clock=self.runtime.clock,
            timing=self.runtime.settings.timing,
        )

    def cancel(self, run_id: str) -> None:
        cancel_run(run_id, ledger=self.runtime.ledger, clock=self.runtime.clock)

    def resume(self, run_id: str) -> None:
        resume_run(
            run_id,
            registry=self.runtime.registry,
            ledger=self.runtime.ledger,
            publishers=self.runtime.publishers,
            clock=self.runtime.clock,
            timing=self.runtime.settings.timing,
        )


def sqs_batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Messages of the jobs queue as its event source mapping hands them to the consumer."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{JOBS_QUEUE}",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def run_every_flow(sandbox: Sandbox, tmp_path: Path, workers: ModuleType) -> dict[str, Run]:
    """Every flow, in one sandbox; the runs they ended with, by name. The CLI's calls
    (registering, `runs redrive`, `cancel`, `resume`, reading the ledger) are made outside
    any function, so they are not recorded."""
    flows = Flows(sandbox, tmp_path)
    runs: dict[str, str] = {}  # run ids, by name

    # An SNS alert on the "lam" group's failed runs, to the module's alerts topic: the
    # sweeper reads the rule and publishes the event of the run below that fails.
    topic = boto3.client("sns").create_topic(Name=f"{NAMES.prefix}-alerts")["TopicArn"]
    alert = Alert(
        new_alert_id(),
        "lam",
        frozenset({EventKind.FAILED}),
        DestinationKind.SNS,
        topic,
        sandbox.runtime.clock.now(),
    )
    sandbox.runtime.registry.put_alert(alert)

    # A destination record lost (the worker answers more than a record may carry): past
    # the deadline the sweeper sends the job once more, past the next records it as lost.
    flows.register("lost", f"lambda:{LOSSY}", [{"id": "l0", "payload": 0}], Controls(deadline=1.5))
    runs["lost"] = flows.fire("lost")

    # A group deleted while its run waits for a result: the sweeper finds its version gone
    # (a read of a missing key) and cancels the run.
    flows.register("gone", f"lambda:{LOSSY}", [{"id": "g0", "payload": 0}], Controls(deadline=3))
    runs["gone"] = flows.fire("gone")
    flows.run(runs["gone"], lambda run: run.dispatched == 1)
    sandbox.runtime.registry.delete_group("gone")

    # overlap=replace: a trigger while the group's run still waits cancels that run.
    flows.register(
        "swap", f"lambda:{LOSSY}", [{"id": "s0", "payload": 0}], Controls(overlap=Overlap.REPLACE)
    )
    runs["replaced"] = flows.fire("swap", "2026-11-22T03:00:00Z")
    flows.run(runs["replaced"], lambda run: run.launched == 1)
    runs["replacing"] = flows.fire("swap", "2026-11-22T04:00:00Z")
    flows.run(runs["replacing"], lambda run: run.launched == 1)
    flows.cancel(runs["replacing"])

    # A trigger for a group nobody registered: the dispatcher finds no such group.
    flows.fire("nobody")

    # lambda: a job by reference through the state bucket, one that fails until fixed,
    # then `runs redrive`.
    jobs = [
        {"id": "plain", "payload": {"n": 1}},
        {"id": "big", "payload": {}},
        {"id": "fragile", "payload": {"fragile": True}},
    ]
    flows.register("lam", f"lambda:{WORKER}", jobs, Controls())
    flows.enlarge("lam", "big")
    runs["lam"] = flows.fire("lam")
    first = flows.run(runs["lam"])
    assert (first.state, first.succeeded, first.failed) == (RunState.FAILED, 2, 1), first
    assert workers.BLOBS == {"big": INLINE_ENVELOPE_LIMIT + 1}, "the worker fetched the payload"
    workers.FIXED.set()
    flows.redrive(runs["lam"])
    flows.run(runs["lam"], lambda run: run.attempt == 2 and run.state.finished)

    # `runs cancel` while a job holds the (one-at-a-time) emulator, then `runs resume`.
    jobs = [{"id": "held", "payload": {"gated": True}}]
    jobs += [{"id": f"h{i}", "payload": i} for i in range(4)]
    flows.register("held", f"lambda:{WORKER}", jobs, Controls())
    runs["held"] = flows.fire("held")
    assert workers.HELD.wait(WAIT)
    flows.cancel(runs["held"])
    workers.GATE.set()
    assert sandbox.wait_idle(WAIT)
    flows.resume(runs["held"])
    flows.run(runs["held"], lambda run: run.state in (RunState.SUCCEEDED, RunState.FAILED))

    # A paced run: one lane, a job a second; each next wake waits in the pacing queue.
    jobs = [{"id": f"p{i}", "payload": i} for i in range(3)]
    flows.register("paced", f"lambda:{WORKER}", jobs, Controls(max_rate=1))
    runs["paced"] = flows.fire("paced")
    flows.run(runs["paced"])

    # sqs: the publisher sends to the queue; the consumer (the helper) runs each job and
    # records its result, handed a batch as its event source mapping would.
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName=JOBS_QUEUE)["QueueUrl"]
    jobs = [{"id": "q0", "payload": 0}, {"id": "q1", "payload": 1}, {"id": "qbig", "payload": {}}]
    flows.register("queued", f"sqs:{queue}", jobs, Controls())
    flows.enlarge("queued", "qbig")
    runs["queued"] = flows.fire("queued")
    messages: list[dict[str, Any]] = []
    end = time.monotonic() + WAIT
    while len(messages) < len(jobs) and time.monotonic() < end:
        messages += sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
    ok, answer = sandbox.lambdas.invoke_sync(CONSUMER, sqs_batch(messages))
    assert ok and answer == {"batchItemFailures": []}, answer
    for m in messages:  # as the mapping does after a batch without failures
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert workers.BLOBS["qbig"] == INLINE_ENVELOPE_LIMIT + 1

    # http: the publisher posts each job and records the answers.
    target = HttpTarget()
    try:
        jobs = [{"id": "ok", "payload": {"status": 200}}, {"id": "bad", "payload": {"status": 500}}]
        flows.register("hooked", target.url, jobs, Controls(max_attempts=2))
        runs["hooked"] = flows.fire("hooked")
        flows.run(runs["hooked"])
    finally:
        target.stop()

    ended = {name: flows.run(run_id) for name, run_id in runs.items()}
    end = time.monotonic() + WAIT
    while time.monotonic() < end and not any(
        call.function == NAMES.sweeper and call.operation == "Publish" for call in sandbox.calls
    ):
        time.sleep(0.1)
    assert sandbox.wait_idle(WAIT)
    return ended


# -- the check ---------------------------------------------------------------------------------


def check(
    calls: list[Call], policies: dict[str, Policy]
) -> tuple[list[str], dict[str, list[Request]]]:
    """The calls no statement allows (as lines to read), and every role's allowed requests."""
    denied = []
    granted: dict[str, list[Request]] = collections.defaultdict(list)
    for call in calls:
        role = ROLES.get(call.function)
        assert role is not None, f"{call.function} made a call, and has no role here: {call}"
        for request in requests_for(call, region=REGION, account=ACCOUNT):
            if policies[role].allowing(request):
                granted[role].append(request)
            else:
                denied.append(f"{role} ({call.function}): {request}  [{call.operation}]")
    return sorted(set(denied)), granted


@pytest.mark.usefixtures("restore_environ")
def test_every_call_of_every_function_is_allowed_by_its_role_and_nothing_more(
    terraform: Terraform, tmp_path: Path, workers: ModuleType
) -> None:
    policies = render_policies(terraform, tmp_path)
    sandbox = Sandbox(
        {
            WORKER: "iam_workers:worker",
            CONSUMER: "iam_workers:consumer",
            LOSSY: "iam_workers:lossy",
        },
        names=NAMES,
        retry_delay=0.01,
        results_window=0.3,
        results_visibility=2,
        sweep_every=0.5,
        record_calls=True,
    )
    sandbox.start()
    try:
        ended = run_every_flow(sandbox, tmp_path, workers)
    finally:
        sandbox.stop()
    calls = sandbox.calls

    states = {name: (run.state, run.succeeded, run.failed, run.lost) for name, run in ended.items()}
    assert states == {
        "lost": (RunState.FAILED, 0, 0, 1),
        "gone": (RunState.CANCELLED, 0, 0, 0),
        "replaced": (RunState.CANCELLED, 0, 0, 0),
        "replacing": (RunState.CANCELLED, 0, 0, 0),
        "lam": (RunState.SUCCEEDED, 3, 0, 0),
        "held": (RunState.SUCCEEDED, 5, 0, 0),
        "paced": (RunState.SUCCEEDED, 3, 0, 0),
        "queued": (RunState.SUCCEEDED, 3, 0, 0),
        "hooked": (RunState.FAILED, 1, 1, 0),
    }
    assert ended["lost"].resent == 1, "the lost record's job was sent once more first"
    assert ended["gone"].reason == "its group version was deleted"
    assert ended["replaced"].reason == f"replaced by run {ended['replacing'].run_id}"

    assert {c.function for c in calls} == set(ROLES) - {LOSSY}, "a function made no call"
    published = [c for c in calls if c.service == "sns" and c.operation == "Publish"]
    assert [(c.function, c.params.get("TopicArn")) for c in published] == [
        (NAMES.sweeper, f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAMES.prefix}-alerts")
    ], "the lam run's failure was published once, by the sweeper, to the alerts topic"
    denied, granted = check(calls, policies)
    assert not denied, "calls no statement of the role allows:\n" + "\n".join(denied)
    left = {
        (role, sid, action)
        for role in sorted(set(ROLES.values()))
        for sid, action in unused(policies[role], granted[role])
    }
    unexplained = "\n".join(
        f"{role} {sid} {action}" for role, sid, action in sorted(left - set(UNUSED))
    )
    assert not unexplained, f"actions no call used, and UNUSED does not explain:\n{unexplained}"
    used = "\n".join(f"{role} {sid} {action}" for role, sid, action in sorted(set(UNUSED) - left))
    assert not used, f"UNUSED names actions the flows did use: drop them\n{used}"

    # The check has teeth: without the statement that allowed them, the calls are denied.
    sweeper = policies['core["sweeper"]']
    without = Policy(
        sweeper.name, tuple(s for s in sweeper.statements if s.sid != "EndOverdueRuns")
    )
    denied, _ = check(calls, {**policies, 'core["sweeper"]': without})
    assert denied and all(line.startswith('core["sweeper"]') for line in denied)
    assert any(line.endswith("[TransactWriteItems]") for line in denied), denied
