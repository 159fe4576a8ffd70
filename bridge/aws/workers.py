"""Whether a worker function can honour its group's controls (issue: group controls that
do nothing on AWS).

On AWS a `lambda:` group's controls are the worker function's settings: Lambda stops an
attempt at the function's timeout, retries it as the function's asynchronous invoke
configuration says, runs at most its reserved concurrency at once, and keeps its events
for its maximum event age. A group whose controls disagree would promise what does not
happen, and its runs' deadlines would be wrong. Registration refuses such a group and
`cronbridge doctor` reports it, each with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bridge.domain.controls import Controls
from bridge.domain.durations import format_duration

__all__ = ["Mismatch", "worker_mismatches"]

#: what Lambda does for a function with no asynchronous invoke configuration
_DEFAULT_RETRIES = 2
_DEFAULT_EVENT_AGE = 21600


@dataclass(frozen=True)
class Mismatch:
    what: str
    fix: str


def worker_mismatches(
    lambda_client: Any, function: str, controls: Controls, event_age: float
) -> list[Mismatch]:
    """What of `controls` the function does not honour; [] when it honours all.
    ClientError if the function cannot be read."""
    config = lambda_client.get_function_configuration(FunctionName=function)
    found: list[Mismatch] = []
    timeout = int(config.get("Timeout", 3))
    if timeout != round(controls.timeout):
        found.append(
            Mismatch(
                f"{function} times out after {format_duration(timeout)}, but the group's "
                f"--timeout is {format_duration(controls.timeout)}: on AWS an attempt ends at "
                "the function's timeout",
                f"register with --timeout {timeout}s, or set the function's timeout to "
                f"{round(controls.timeout)} s (Terraform: workers.<name>.timeout)",
            )
        )
    try:
        invoke = lambda_client.get_function_event_invoke_config(FunctionName=function)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        invoke = {}
    retries = int(invoke.get("MaximumRetryAttempts", _DEFAULT_RETRIES))
    if retries != controls.max_attempts - 1:
        found.append(
            Mismatch(
                f"Lambda retries {function} {retries} time(s), so a job gets {retries + 1} "
                f"attempt(s), but the group's --max-attempts is {controls.max_attempts}",
                f"register with --max-attempts {retries + 1}, or set the function's "
                f"MaximumRetryAttempts to {controls.max_attempts - 1} "
                "(Terraform: workers.<name>.max_attempts)",
            )
        )
    age = int(invoke.get("MaximumEventAgeInSeconds", _DEFAULT_EVENT_AGE))
    if age > event_age:
        found.append(
            Mismatch(
                f"Lambda keeps {function}'s events up to {format_duration(age)}, longer than "
                f"the {format_duration(event_age)} the deployment's deadlines allow for",
                f"set the function's MaximumEventAgeInSeconds to {round(event_age)} or less "
                "(Terraform: worker_event_age_seconds)",
            )
        )
    if controls.max_concurrency is not None:
        reserved = lambda_client.get_function_concurrency(FunctionName=function).get(
            "ReservedConcurrentExecutions"
        )
        if reserved != controls.max_concurrency:
            now = (
                "no reserved concurrency"
                if reserved is None
                else f"reserved concurrency {reserved}"
            )
            found.append(
                Mismatch(
                    f"{function} has {now}, but the group's --max-concurrency is "
                    f"{controls.max_concurrency}: on AWS only reserved concurrency limits it",
                    f"set the function's reserved concurrency to {controls.max_concurrency} "
                    "(Terraform: workers.<name>.reserved_concurrency), or register without "
                    "--max-concurrency",
                )
            )
    return found
