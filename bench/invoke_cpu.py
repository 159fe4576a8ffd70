"""CPU per asynchronous Lambda invoke, side by side, against a loopback stub of the
Invoke API (202 for POST /2015-03-31/functions/<name>/invocations) in another process:

- raw: an unsigned HTTP POST over a kept-alive http.client connection (the floor);
- boto3: the botocore client's `invoke(InvocationType="Event")`;
- cronbridge: the publisher's invoke path (`AsyncInvoker` over `EventInvokeClient`,
  32 threads, as in a publisher Lambda).

CPU is this process's (user + system) time divided by invokes; the stub's is not counted.

    python -m bench.invoke_cpu
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMAND = "python -m bench.invoke_cpu"
INVOKES = 3000
PAYLOAD = json.dumps(
    {
        "cronbridge": {
            "run": "nightly.20261122T030000Z",
            "group": "nightly",
            "list": "eu",
            "job": "job-000123",
            "scheduled_time": "2026-11-22T03:00:00.000Z",
            "attempt": 1,
        },
        "payload": {"customer": 123, "region": "eu"},
    }
).encode()


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(port_out: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    port_out.put(server.server_address[1])
    server.serve_forever()


def _cpu(run: Any, count: int) -> tuple[float, float]:
    """(CPU microseconds per invoke, invokes per wall second)."""
    run(50)  # warm connections and caches
    cpu, wall = time.process_time(), time.perf_counter()
    run(count)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / count * 1e6, count / wall


def measure(invokes: int = INVOKES) -> dict[str, Any]:
    ports: Any = multiprocessing.Queue()
    stub = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    stub.start()
    port = ports.get(timeout=10)
    endpoint = f"http://127.0.0.1:{port}"
    path = "/2015-03-31/functions/worker/invocations"
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
            "AWS_SECRET_ACCESS_KEY": "benchmark",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_LAMBDA": endpoint,
        }
    )
    try:
        import boto3

        from publishers.delivery import AsyncInvoker, client_config
        from publishers.invoke import EventInvokeClient

        connection = http.client.HTTPConnection("127.0.0.1", port)

        def raw(n: int) -> None:
            for _ in range(n):
                connection.request(
                    "POST",
                    path,
                    body=PAYLOAD,
                    headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"},
                )
                connection.getresponse().read()

        client = boto3.client("lambda", config=client_config(1))

        def with_boto3(n: int) -> None:
            for _ in range(n):
                client.invoke(FunctionName="worker", InvocationType="Event", Payload=PAYLOAD)

        session = boto3.session.Session()
        lean = EventInvokeClient(
            session.client("lambda", config=client_config(32)), session.get_credentials()
        )
        invoker = AsyncInvoker(lean, threads=32)

        def with_cronbridge(n: int) -> None:
            invoker.invoke_all("worker", [PAYLOAD] * n)

        figures = {
            name: _cpu(fn, invokes)
            for name, fn in (("raw", raw), ("boto3", with_boto3), ("cronbridge", with_cronbridge))
        }
        invoker.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stub.terminate()
    floor = figures["raw"][0]
    return {
        "invoke_cpu_us": {name: round(cpu, 1) for name, (cpu, _) in figures.items()},
        "invokes_per_s": {name: round(rate) for name, (_, rate) in figures.items()},
        "ratio_to_raw": {name: round(cpu / floor, 2) for name, (cpu, _) in figures.items()},
        "invokes": invokes,
        "command": COMMAND,
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=2)
    print()
