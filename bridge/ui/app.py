"""The console's routes, its guard and how it answers when something fails.

Guard: a GET with `?token=T` (the per-start token) sets the `cronbridge_console` cookie
and redirects to the same page without it; any page or change without that cookie is
refused (403). A change (POST: a run's redrive, cancel or resume; a group's pause or
resume) also needs the token in its form (or the X-Cronbridge-Token header), and is
refused if the browser says it comes from another site (Origin, Sec-Fetch-Site).
Static assets need nothing.

Failures: an unknown group, run or job is a 404 page; a backend that fails (AWS
credentials expired, the ledger unreadable, serve stopped) a 503 page whose
`#backend-error` says so. The backend is then closed and opened again on the next
request, so the console recovers as soon as the backend does. Changes open a backend of
their own: a `serve` started again on another port is found at once.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from bridge.cli.backend import Backend
from bridge.domain.pause import parse_until
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict, CronbridgeError, InvalidInput, NotFound
from bridge.local.home import Home
from bridge.ports import SystemClock
from bridge.ui.groups import controls_summary, group_page, group_rows, page_number
from bridge.ui.runs import RunReader, first_line
from bridge.usecases.actions import RunActions
from bridge.usecases.jobs import JOB_STATUSES, find_run
from bridge.usecases.pause import pause_group, resume_group

__all__ = ["COOKIE", "TOKEN_HEADER", "ConsoleApp", "build_app"]

log = logging.getLogger("cronbridge.ui")

COOKIE = "cronbridge_console"
TOKEN_HEADER = "x-cronbridge-token"  # noqa: S105 - the header's name, not a secret
_HERE = Path(__file__).parent
_MAX_FORM_BYTES = 16 * 1024
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    # not no-referrer: Chromium then sends "Origin: null" with our own forms
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Opener = Callable[[str | None, Home], Backend]
Page = Callable[[Request, Backend], Response]


class BackendFailed(Exception):
    """The backend could not answer; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ConsoleApp:
    backend_name: str | None
    home: Home
    token: str
    url: str
    opener: Opener
    reader: RunReader = field(default_factory=RunReader)
    asgi: ASGIApp = field(init=False)
    _backend: Backend | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,  # every template: whatever a user or worker wrote is text
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.globals.update(
            controls_summary=controls_summary,
            first_line=first_line,
            format_time=format_time,
            pretty_json=_pretty_json,
        )
        self.asgi = Starlette(
            routes=[
                Route("/", self._page(self._groups)),
                Route("/groups/{name}", self._page(self._group)),
                Route("/runs/{run_id}", self._page(self._run)),
                Route("/runs/{run_id}/live", self._page(self._live, fragment=True)),
                Route("/runs/{run_id}/jobs", self._page(self._jobs)),
                Route("/runs/{run_id}/jobs/{job_id:path}", self._page(self._job)),
                Route(
                    "/runs/{name}/{action}",
                    self._change(("redrive", "cancel", "resume"), self._act_on_run),
                    methods=["POST"],
                ),
                Route(
                    "/groups/{name}/{action}",
                    self._change(("pause", "resume"), self._act_on_group),
                    methods=["POST"],
                ),
                Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
            ],
            exception_handlers={HTTPException: self._http_error},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        """No such page (404), or not with that method (405): a page, like the others."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        said = {404: "there is no such page", 405: "that page does not take this method"}
        return self._render(
            "message.html",
            status=status,
            title="not found" if status == 404 else "not allowed",
            message=said.get(status, "the request cannot be answered"),
        )

    # -- the backend -------------------------------------------------------------------
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = _opened(self.opener, self.backend_name, self.home)
            return self._backend

    def forget_backend(self, failed: Backend | None = None) -> None:
        """Close the backend (only if it is still `failed`, when given): the next request
        opens a new one."""
        with self._lock:
            found = self._backend
            if found is None or (failed is not None and found is not failed):
                return  # another request has opened a new one already
            self._backend = None
        _close_quietly(found)

    def close(self) -> None:
        self.forget_backend()

    # -- the guard ---------------------------------------------------------------------
    def _valid(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _login(self, request: Request) -> Response | None:
        """A redirect that sets the cookie, a 403 page, or None to go on."""
        given = request.query_params.get("token")
        if given is not None:
            if not self._valid(given):
                return self._forbidden("that token is not this console's")
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            # One leading slash: "//host/..." would send the browser to another site.
            target = "/" + request.url.path.lstrip("/") + (f"?{urlencode(rest)}" if rest else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return answer
        if not self._valid(request.cookies.get(COOKIE)):
            return self._forbidden("this browser has not opened the console's address yet")
        return None

    def _cross_site(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is not None:
            own = {_origin(self.url), f"http://{request.headers.get('host', '')}"}
            if origin.rstrip("/") not in own:
                return True
        site = request.headers.get("sec-fetch-site")
        return site is not None and site not in ("same-origin", "none")

    def _forbidden(self, why: str) -> Response:
        return self._render(
            "message.html",
            status=403,
            title="not allowed",
            message=f"Not allowed: {why}. Open the URL that `cronbridge ui` (or "
            "`cronbridge serve`) printed, the one with ?token= in it.",
        )

    # -- answers -----------------------------------------------------------------------
    def _render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        for name in ("backend_error", "back", "message"):
            values.setdefault(name, None)
        values.setdefault("backend_name", self.backend_name or "")
        text = self._templates.get_template(template).render(token=self.token, **values)
        return HTMLResponse(text, status_code=status, headers=_HEADERS)

    def _page(
        self, page: Page, *, fragment: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refused = self._login(request)
            if refused is not None:
                return refused
            return await run_in_threadpool(self._answer, page, request, fragment)

        return endpoint

    def _answer(self, page: Page, request: Request, fragment: bool) -> Response:
        where: Backend | None = None
        try:
            where = self.backend()
            return page(request, where)
        except Exception as exc:  # noqa: BLE001 - _failed logs what it does not know
            failure = backend_failure(exc)
            if failure is not None:
                if where is not None:
                    self.forget_backend(where)  # the next request opens it again
                if fragment:  # htmx swaps only a 2xx: the region says it and keeps asking
                    return self._render(
                        "live_failed.html",
                        run_id=request.path_params.get("run_id", ""),
                        query=request.url.query,
                        backend_error=failure,
                    )
            return self._failed(exc, refused=400, title="cannot show")

    def _failed(
        self, exc: Exception, *, refused: int, title: str, back: str | None = None
    ) -> Response:
        """What went wrong, as a page: 404 for an unknown name, `refused` for what cannot
        be done, 503 for a backend that failed, else 500 (and the log says more)."""
        if isinstance(exc, NotFound):
            return self._render("message.html", status=404, title="not found", message=_said(exc))
        if isinstance(exc, InvalidInput | Conflict):
            return self._render(
                "message.html", status=refused, title=title, message=_said(exc), back=back
            )
        failure = backend_failure(exc)
        if failure is None:
            log.error("console request failed", exc_info=exc)
            return self._render(
                "message.html", status=500, title="error", message="the console failed; see its log"
            )
        return self._render(
            "message.html", status=503, title="backend failed", backend_error=failure, back=back
        )

    async def _guarded_form(self, request: Request) -> Response | dict[str, str]:
        """A change's form, once its cookie, its own page and its token are checked; or the
        page that refuses it. Every POST goes through here."""
        refused = self._login(request)
        if refused is not None:
            return refused
        if self._cross_site(request):
            return self._forbidden("a change must come from the console's own page")
        body = await request.body()
        form = dict(parse_qsl(body[:_MAX_FORM_BYTES].decode("utf-8", "replace")))
        if not self._valid(form.get("token") or request.headers.get(TOKEN_HEADER)):
            return self._forbidden("a change needs the console's token")
        return form

    def _change(
        self, actions: tuple[str, ...], act: Callable[[str, str, dict[str, str]], Response]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A POST route: guarded, then `act(name, action, form)` for one of `actions`, with
        the name the path gives (a run's, or a group's)."""

        async def endpoint(request: Request) -> Response:
            form = await self._guarded_form(request)
            if isinstance(form, Response):
                return form
            name = request.path_params["name"]
            action = request.path_params["action"]
            if action not in actions:
                return self._render(
                    "message.html", status=404, title="not found", message=f"no action {action!r}"
                )
            return await run_in_threadpool(act, name, action, form)

        return endpoint

    def _acting(self, action: str, back: str, act: Callable[[Backend], str]) -> Response:
        """Open a backend of the change's own, `act` on it, and go where it says; or a page
        that says why not (with a link `back`)."""
        where: Backend | None = None
        try:
            where = _opened(self.opener, self.backend_name, self.home)
            return RedirectResponse(act(where), status_code=303, headers=_HEADERS)
        except Exception as exc:  # noqa: BLE001 - _failed logs what it does not know
            return self._failed(exc, refused=409, title=f"cannot {action}", back=back)
        finally:
            if where is not None:
                _close_quietly(where)

    def _act_on_run(self, text: str, action: str, form: dict[str, str]) -> Response:
        def act(where: Backend) -> str:
            hand = RunActions(where.registry, where.ledger, where.publishers, where.timing)
            if action == "redrive":
                run = hand.redrive(text).run
            elif action == "cancel":
                run = hand.cancel(text, "cancelled in the console")
            else:
                run = hand.resume(text).run
            return f"/runs/{run.run_id}"

        return self._acting(action, f"/runs/{text}", act)

    def _act_on_group(self, name: str, action: str, form: dict[str, str]) -> Response:
        clock = SystemClock()

        def act(where: Backend) -> str:
            if action == "resume":
                resume_group(name, registry=where.registry)
                return f"/groups/{name}"
            until = (form.get("until") or "").strip()
            pause_group(
                name,
                parse_until(until, clock.now()) if until else None,
                form.get("cancel_running") == "on",
                registry=where.registry,
                ledger=where.ledger,
                clock=clock,
            )
            return f"/groups/{name}"

        return self._acting(action, f"/groups/{name}", act)

    # -- pages -------------------------------------------------------------------------
    def _groups(self, request: Request, where: Backend) -> Response:
        return self._render("groups.html", title="groups", rows=group_rows(where))

    def _group(self, request: Request, where: Backend) -> Response:
        name = request.path_params["name"]
        found = group_page(where, name, page_number(request.query_params.get("page")))
        return self._render("group.html", title=f"group {name}", group=found)

    def _run(self, request: Request, where: Backend) -> Response:
        text = request.path_params["run_id"]
        run = find_run(where.ledger, text)
        if run.run_id != text:  # a prefix or GROUP@latest: the page of the run it names
            query = request.url.query
            return RedirectResponse(f"/runs/{run.run_id}" + (f"?{query}" if query else ""), 303)
        view = self.reader.run_view(where, run, request.query_params)
        return self._render("run.html", title=f"run {run.run_id}", view=view)

    def _live(self, request: Request, where: Backend) -> Response:
        run = find_run(where.ledger, request.path_params["run_id"])
        view = self.reader.run_view(where, run, request.query_params)
        return self._render("live.html", view=view)

    def _jobs(self, request: Request, where: Backend) -> Response:
        run = find_run(where.ledger, request.path_params["run_id"])
        view = self.reader.job_list(where, run, request.query_params)
        return self._render(
            "jobs.html", title=f"jobs of run {run.run_id}", view=view, statuses=JOB_STATUSES
        )

    def _job(self, request: Request, where: Backend) -> Response:
        run = find_run(where.ledger, request.path_params["run_id"])
        job_id = request.path_params["job_id"]
        view = self.reader.job_view(where, run, job_id)
        return self._render("job.html", title=f"job {job_id}", view=view)


def build_app(
    backend_name: str | None, home: Home, *, token: str, url: str, opener: Opener
) -> ConsoleApp:
    return ConsoleApp(backend_name, home, token, url, opener)


def backend_failure(exc: BaseException) -> str | None:
    """What to tell the user about a backend that failed, or None if `exc` is not that."""
    if isinstance(exc, BackendFailed):
        return exc.message
    if isinstance(exc, CronbridgeError) and not isinstance(exc, (NotFound, InvalidInput, Conflict)):
        return _said(exc)
    if isinstance(exc, sqlite3.Error):
        return f"the local ledger cannot be read: {exc}"
    if isinstance(exc, OSError):
        return f"the local state cannot be read: {exc.strerror or exc}"
    try:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:  # pragma: no cover - boto3 comes with cronbridge
        return None
    if isinstance(exc, NoCredentialsError):
        return "AWS: no credentials were found; sign in (for example `aws sso login`) and reload"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "error"))
        hint = (
            "; your AWS credentials have expired: sign in again and reload"
            if "Expired" in code or code in ("UnrecognizedClientException", "InvalidClientTokenId")
            else ""
        )
        return f"AWS answered {code}: {error.get('Message', '')}{hint}"
    if isinstance(exc, BotoCoreError):
        return f"AWS cannot be reached: {exc}"
    return None


def _opened(opener: Opener, name: str | None, home: Home) -> Backend:
    try:
        return opener(name, home)
    except Exception as exc:
        failure = backend_failure(exc) or (_said(exc) if isinstance(exc, CronbridgeError) else None)
        if failure is None:
            raise
        raise BackendFailed(failure) from exc


def _close_quietly(where: Backend) -> None:
    try:
        where.close()
    except Exception:  # a backend that failed may fail to close too: it is dropped anyway
        log.debug("closing a backend failed", exc_info=True)


def _said(exc: CronbridgeError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


def _pretty_json(value: Any) -> str:
    """JSON to read: indented, every character as it is (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
