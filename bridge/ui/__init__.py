"""`cronbridge ui`: a web console for groups, runs and jobs, on either backend.

It reads the ledger and the registry through the same ports as the CLI
(bridge.cli.backend.open_backend) and acts through the same use cases
(bridge.usecases.actions.RunActions). Starlette routes, uvicorn serves (in a thread:
bridge.ui.server), Jinja2 renders with autoescaping on; htmx (live updates) and uPlot
(charts) are vendored in `static/` (see its README.md): nothing is fetched from a CDN.
"""

from bridge.ui.server import Console as Console
from bridge.ui.server import start_console as start_console

__all__ = ["Console", "start_console"]
