"""Workers the benchmarks register as python: targets."""

from __future__ import annotations

import queue
import time
from typing import Any

#: when each `stamp` job started (time.perf_counter()), for latency figures
STARTED: queue.SimpleQueue[float] = queue.SimpleQueue()


def noop(event: dict[str, Any], context: Any) -> None:
    return None


def stamp(event: dict[str, Any], context: Any) -> None:
    STARTED.put(time.perf_counter())


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What a small real worker returns: a few bytes about the job it did."""
    return {"job": event["cronbridge"]["job"], "ok": True}


def some_fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Every 50th job fails with a two-line error; the rest return a small result."""
    n = event["payload"]["n"]
    if n % 50 == 0:
        raise ValueError(f"job {n} failed on purpose\nsecond line of the error")
    return {"n": n}
