"""The console's HTTP server: uvicorn in a thread of its own, so `cronbridge ui`,
`cronbridge serve` and the tests start and stop it alike.

uvicorn's access log is off (a login URL carries the token in its query string) and its
own messages are kept to warnings: the command prints the one line a user needs.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from bridge.cli.backend import Backend, open_backend
from bridge.cli.serving import UI_PORT
from bridge.exceptions import Unavailable
from bridge.local.home import Home
from bridge.ui.app import build_app

__all__ = ["DEFAULT_UI_PORT", "Console", "new_token", "start_console"]

log = logging.getLogger("cronbridge.ui")

DEFAULT_UI_PORT = UI_PORT
_START_SECONDS = 10.0

BackendOpener = Callable[[str | None, Home], Backend]


def new_token() -> str:
    """A per-start token: whoever holds it may look and act (as Jupyter's)."""
    return secrets.token_urlsafe(24)


@dataclass
class Console:
    """A running console: its base URL, its token, and the URL that logs a browser in."""

    url: str
    token: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def login_url(self) -> str:
        return f"{self.url}/?token={self.token}"

    def stop(self) -> None:
        """Stop serving (requests in flight end first) and close the backend."""
        self._server.should_exit = True
        self._thread.join(timeout=_START_SECONDS)
        for close in self._closers:
            close()


def start_console(
    backend_name: str | None,
    home: Home,
    host: str = "127.0.0.1",
    port: int = DEFAULT_UI_PORT,
    token: str | None = None,
    *,
    opener: BackendOpener = open_backend,
) -> Console:
    """Serve the console on `host:port` (0 picks a free port) until `.stop()`.

    It reads and acts through the backend `opener(backend_name, home)` opens, as the CLI
    does. OSError if it cannot listen (bridge.cli.serving.listen_error says why)."""
    token = token or new_token()
    sock = _listen(host, port)
    bound = sock.getsockname()
    shown_host = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    url = f"http://{shown_host}:{bound[1]}"
    console_app = build_app(backend_name, home, token=token, url=url, opener=opener)
    config = uvicorn.Config(
        console_app.asgi,
        access_log=False,
        log_config=None,
        log_level=logging.WARNING,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="cronbridge-console", daemon=True
    )
    thread.start()
    end = time.monotonic() + _START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            server.should_exit = True
            sock.close()
            console_app.close()
            raise Unavailable(f"the console did not start on {url}")
        time.sleep(0.01)
    return Console(url, token, server, thread, [console_app.close, sock.close])


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio then turns Nagle off on each connection (no 40 ms stalls
    # between a response's head and body on a kept-alive connection)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock
