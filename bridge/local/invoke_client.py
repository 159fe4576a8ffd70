"""Starting publishers in a running `cronbridge serve` through its Lambda Invoke API."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from bridge.domain.plan import PublisherUnit
from bridge.exceptions import Unavailable

__all__ = ["LambdaApiInvoker"]


class LambdaApiInvoker:
    """A PublisherInvoker that POSTs asynchronous invokes to the local server."""

    def __init__(
        self, base_url: str, *, user_agent: str, function: str, client: httpx.Client
    ) -> None:
        self._url = f"{base_url}/2015-03-31/functions/{function}/invocations"
        self._headers = {"User-Agent": user_agent, "X-Amz-Invocation-Type": "Event"}
        self._client = client

    def invoke_publishers(self, units: Sequence[PublisherUnit], delay: float = 0.0) -> None:
        # The command line starts runs, redrives and resumes: never a paced lane's later wake.
        if delay:
            raise ValueError("the command line does not start publishers later")
        for unit in units:
            try:
                response = self._client.post(self._url, json=unit.to_dict(), headers=self._headers)
            except httpx.HTTPError as exc:
                raise Unavailable(
                    f"cannot reach the local runtime at {self._url.split('/2015')[0]}: {exc}",
                    hint="start it with `cronbridge serve`",
                ) from None
            if response.status_code != 202:
                raise Unavailable(
                    f"the local runtime refused the invoke: HTTP {response.status_code}"
                )
