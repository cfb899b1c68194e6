"""The console's web layer: the context every route reads, sessions and their refusals, CSRF,
security headers, log-in and log-off, live events and the OpenAPI document (for signed-in users
only). The page and API modules build on it; `appliance.staff.app.create_app` mounts them all."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse

from appliance.golive.control import GoLive
from appliance.logs import get_logger, hostile
from appliance.records.errors import ConflictError, NotFoundError
from appliance.staff.auth import RateLimiter, Session, Sessions, allowed, csrf_ok, verify_password
from appliance.staff.events import EventBus
from appliance.staff.html import e, page
from appliance.staff.repo import StaffRepo
from appliance.staff.static import CONSOLE_JS

log = get_logger(__name__)

COOKIE = "__Host-console"
LOGIN_COOKIE = "__Host-console-login"
SSE_HEARTBEAT_S = 10.0


@dataclass
class ConsoleContext:
    repo: StaffRepo
    sessions: Sessions
    limiter: RateLimiter
    bus: EventBus = field(default_factory=EventBus)
    clock: Callable[[], float] = time.time
    exporter: Any = None  # appliance.staff.export.Exporter, set by the app factory
    test_calls: Any = None  # appliance.staff.testcall.TestCalls, when the console has voice engines
    golive: GoLive | None = None  # pack status (the banner), pilot, supervised period
    time_zone: str = "UTC"  # the clinic's (its pack's clinic.timezone): the appointment list's days and times
    no_show_deposit: str | None = None  # the pack's cancellation policy for a missed appointment's deposit
    follow_up: Any = None  # appliance.records.concern.FollowUpPlan: what resolving a concern schedules (None: nothing)
    pack: Any = None  # the approved protocol pack (appliance.clinic.pack.Pack): summaries' documentation checklists


class NeedLogin(Exception):  # noqa: N818
    def __init__(self, expired: bool = False) -> None:
        self.expired = expired


class Forbidden(Exception):  # noqa: N818
    pass


def _ctx(request: Request) -> ConsoleContext:
    ctx: ConsoleContext = request.app.state.ctx  # set by staff.app.create_app
    return ctx


def current_session(request: Request) -> Session:
    token = request.cookies.get(COOKIE)
    # Background refreshes (live updates) do not count as activity for the idle log-off.
    session = _ctx(request).sessions.get(token, touch="x-console-background" not in request.headers)
    if session is None:
        raise NeedLogin(expired=bool(token))
    return session


def require(permission: str) -> Callable[..., Session]:
    def dep(session: Annotated[Session, Depends(current_session)]) -> Session:
        if not allowed(session.role, permission):
            raise Forbidden()
        return session
    return dep


async def check_csrf(request: Request, session: Annotated[Session, Depends(current_session)]) -> Session:
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get("csrf_token")  # type: ignore[assignment]
    if not csrf_ok(session.csrf, given):
        raise Forbidden()
    return session


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(NeedLogin)
    async def _need_login(request: Request, exc: NeedLogin) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "session expired" if exc.expired else "not signed in"}, status_code=401)
        resp = RedirectResponse("/login?expired=1" if exc.expired else "/login", status_code=303)
        if exc.expired:
            resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        return HTMLResponse(page("Not allowed", "<p>Your role does not allow this, or the form expired. "
                                 '<a href="/">Back</a></p>'), status_code=403)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return JSONResponse({"detail": "not found"}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        return JSONResponse({"detail": exc.message}, status_code=409)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        resp: Response = await call_next(request)
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def _login_page(token: str, message: str = "", error: bool = False) -> str:
    body = (f'<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{e(token)}">'
            '<p><label>User name<br><input name="username" autocomplete="username" required maxlength="64"></label></p>'
            '<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required '
            'maxlength="256"></label></p><p><button type="submit">Sign in</button></p></form>')
    return page("Sign in", body, message=message, error=error)


def auth_routes(app: FastAPI) -> None:
    import secrets

    @app.get("/login", response_class=HTMLResponse, tags=["pages"], summary="Sign-in form (public)")
    async def login_form(request: Request, expired: int = 0) -> Response:
        token = secrets.token_urlsafe(24)
        msg = "Your session ended after a period without activity. Please sign in again." if expired else ""
        resp = HTMLResponse(_login_page(token, msg))
        resp.set_cookie(LOGIN_COOKIE, token, secure=True, httponly=True, samesite="strict", path="/")
        return resp

    @app.post("/login", response_class=HTMLResponse, tags=["pages"], summary="Sign in (public)")
    async def login(request: Request, username: Annotated[str, Form(max_length=64)],
                    password: Annotated[str, Form(max_length=256)], csrf_token: Annotated[str, Form(max_length=64)]) -> Response:
        ctx = _ctx(request)
        if not csrf_ok(request.cookies.get(LOGIN_COOKIE), csrf_token):
            return HTMLResponse(_login_page(csrf_token, "The sign-in form expired; please try again.", True), 403)
        client = request.client.host if request.client else "?"
        keys = (f"user:{username.lower()}", f"ip:{client}")
        wait, delay = ctx.limiter.begin(*keys)  # counted before the slow check: concurrent tries see it
        if wait > 0:
            await ctx.repo.record("system:console", "login.throttled", f"user:{hostile(username, 64)}")
            throttled = HTMLResponse(_login_page(csrf_token, f"Too many failed sign-ins. Try again in "
                                                 f"{int(wait // 60) + 1} minutes.", True), status_code=429)
            throttled.headers["Retry-After"] = str(int(wait) + 1)
            return throttled
        if delay > 0:  # the user name is backing off, this address has no failures: a short wait only
            await asyncio.sleep(delay)
        user = await ctx.repo.user(username)
        ok = await asyncio.to_thread(verify_password, user["password_hash"] if user else None, password)
        if not ok or user is None:
            await ctx.repo.record("system:console", "login.refused", f"user:{hostile(username, 64)}")
            log.info("console.login_refused", client=hostile(client))
            return HTMLResponse(_login_page(csrf_token, "Wrong user name or password.", True), status_code=401)
        ctx.limiter.succeeded(*keys)
        session = ctx.sessions.create(user["username"], user["display_name"], user["role"])
        await ctx.repo.record(user["username"], "login", "console")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, session.token, secure=True, httponly=True, samesite="strict", path="/")
        resp.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    @app.post("/logout", tags=["pages"], summary="Sign off")
    async def logout(request: Request, session: Annotated[Session, Depends(check_csrf)]) -> Response:
        _ctx(request).sessions.end(session.token)
        await _ctx(request).repo.record(session.username, "logout", "console")
        if _ctx(request).test_calls is not None:  # a signed-off user's microphone is not left open
            await _ctx(request).test_calls.end_all_of(session.username)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp


def live_routes(app: FastAPI) -> None:
    @app.get("/api/events", tags=["api"], summary="Live updates (Server-Sent Events, PHI-minimal)",
             response_class=StreamingResponse)
    async def events(request: Request, session: Annotated[Session, Depends(current_session)]) -> Response:
        ctx = _ctx(request)
        q = ctx.bus.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 3000\n\n"
                while True:
                    if await request.is_disconnected() or ctx.sessions.get(session.token, touch=False) is None:
                        yield "event: logout\ndata: {}\n\n"
                        return
                    try:
                        ev = await asyncio.wait_for(q.get(), timeout=SSE_HEARTBEAT_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {ev['topic']}\ndata: {json.dumps(ev, separators=(',', ':'))}\n\n"
            finally:
                ctx.bus.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/static/console.js", include_in_schema=False)
    async def console_js() -> Response:
        return PlainTextResponse(CONSOLE_JS, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/api/openapi.json", tags=["api"], summary="This API's OpenAPI document")
    async def openapi(request: Request, session: Annotated[Session, Depends(current_session)]) -> Response:
        return JSONResponse(app.openapi())
