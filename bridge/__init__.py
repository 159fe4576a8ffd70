"""cronbridge's core: domain, use cases, ports, the local runtime and the CLI.

The public surface is small: the exception hierarchy here, the domain values in
`bridge.domain`, the use cases in `bridge.usecases` and the ports in `bridge.ports`.
"""

from bridge.exceptions import Conflict as Conflict
from bridge.exceptions import CronbridgeError as CronbridgeError
from bridge.exceptions import GroupNotFound as GroupNotFound
from bridge.exceptions import InvalidInput as InvalidInput
from bridge.exceptions import InvalidJobList as InvalidJobList
from bridge.exceptions import InvalidTarget as InvalidTarget
from bridge.exceptions import InvalidTrigger as InvalidTrigger
from bridge.exceptions import LineProblem as LineProblem
from bridge.exceptions import NotFound as NotFound
from bridge.exceptions import RunFailed as RunFailed
from bridge.exceptions import RunNotFound as RunNotFound
from bridge.exceptions import Unavailable as Unavailable

__all__ = [
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
]
