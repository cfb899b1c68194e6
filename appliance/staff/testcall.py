"""Test calls from the browser: staff and installers talk to the appliance over WebRTC, through
the same voice pipeline and approved protocol as a phone call, in shadow mode (see
`appliance.callflow.TestCallRunner`). One test call at a time, ended after `max_seconds`.

Routes: the page `/test-call`, `POST /api/test-calls` (the browser's SDP offer in, the answer
out) and `DELETE /api/test-calls/{id}`. Each start and end is in the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from appliance.calls import CallInfo
from appliance.logs import get_logger
from appliance.staff.auth import Session
from appliance.staff.html import e, page
from appliance.staff.static import TESTCALL_JS
from appliance.staff.web import _ctx, check_csrf, require

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 20.0
UNAVAILABLE = "test calls are not available on this console"
UNAVAILABLE_FIX = ("run the appliance service (`appliance run`), which loads the voice engines, with "
                   "[console] test_calls = true")
Runner = Callable[[Any], Awaitable[Any]]


class TestCallError(Exception):
    __test__ = False

    def __init__(self, status: int, message: str, fix: str | None = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fix = fix


@dataclass
class _Call:
    media: Any
    username: str
    started: float
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class TestCalls:
    """The test calls in progress. `runner` runs one call's media to its end (None: this console
    has no voice engines, so it cannot take test calls). Each call's ICE host candidates are on
    `ice_addresses` only (the console's own address), or on every interface but loopback when it
    is None; the limit belongs to each call's connection, nothing else in the process sees it."""

    __test__ = False

    def __init__(self, runner: Runner | None, record: Callable[[str, str, str], Awaitable[Any]], *,
                 max_calls: int = 1, max_seconds: float = 900.0, ice_addresses: Sequence[str] | None = None) -> None:
        self.runner = runner
        self.record = record  # the audit log: (actor, action, target)
        self.max_calls = max_calls
        self.max_seconds = max_seconds
        self.ice_addresses = None if ice_addresses is None else tuple(ice_addresses)
        self.calls: dict[str, _Call] = {}

    async def start(self, offer_sdp: str, username: str) -> tuple[str, str]:
        from appliance.voice.webrtc import OfferError, WebRtcMedia, answer_offer, check_offer

        try:
            check_offer(offer_sdp)
        except OfferError as err:
            raise TestCallError(400, err.message, err.fix) from err
        runner = self.runner
        if runner is None:
            raise TestCallError(409, UNAVAILABLE, UNAVAILABLE_FIX)
        if len(self.calls) >= self.max_calls:
            raise TestCallError(409, "a test call is already in progress", "end it first (one test call at a time)")
        call_id = "test-" + secrets.token_hex(8)
        media = WebRtcMedia(CallInfo(call_id=call_id, direction="inbound", remote_number="", remote_name=None,
                                     started_at=time.time(), extra={"channel": "webrtc", "mode": "shadow"}))
        call = _Call(media, username, time.time())
        self.calls[call_id] = call  # counted while the offer is answered
        try:
            answer = await answer_offer(media, offer_sdp, host_addresses=self.ice_addresses)
        except OfferError as err:
            self.calls.pop(call_id, None)
            raise TestCallError(400, err.message, err.fix) from err
        except BaseException:
            self.calls.pop(call_id, None)
            raise
        await self.record(username, "testcall.start", f"test-call:{call_id}")
        call.task = asyncio.create_task(self._run(call_id, call, runner), name=f"testcall-{call_id}")
        log.info("testcall.started", call_id=call_id)
        return call_id, answer

    async def _run(self, call_id: str, call: _Call, runner: Runner) -> None:
        media = call.media
        outcome = "not-connected"
        try:
            if not await media.wait_connected(CONNECT_TIMEOUT_S):
                log.info("testcall.not_connected", call_id=call_id)
                return
            limit = asyncio.get_running_loop().call_later(self.max_seconds, media.gone, "timeout")
            try:
                result = await runner(media)
                outcome = getattr(result, "outcome", "ended")
            finally:
                limit.cancel()
        except Exception:  # noqa: BLE001  (a failed test call must not take the console down)
            outcome = "error"
            log.exception("testcall.failed", call_id=call_id)
        finally:
            await media.close()
            self.calls.pop(call_id, None)
            call.done.set()
            await self.record(call.username, "testcall.end", f"test-call:{call_id}")
            log.info("testcall.ended", call_id=call_id, outcome=outcome,
                     seconds=round(time.time() - call.started, 1))

    async def end(self, call_id: str, username: str) -> bool:
        call = self.calls.get(call_id)
        if call is None or call.username != username:
            return False
        call.media.gone("remote-bye")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.done.wait(), timeout=10)
        return True

    async def end_all_of(self, username: str) -> int:
        """End every test call of a user who signed off or was logged off for inactivity."""
        mine = [cid for cid, call in self.calls.items() if call.username == username]
        for cid in mine:
            await self.end(cid, username)
        return len(mine)

    async def close(self) -> None:
        calls = list(self.calls.values())
        for call in calls:
            call.media.gone("local")
        for call in calls:
            if call.task is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(call.task), timeout=10)


async def _no_audit(actor: str, action: str, target: str) -> None:
    return None


class Offer(BaseModel):
    type: str = Field(pattern="^offer$")
    sdp: str = Field(min_length=1, max_length=20_000)


class Answer(BaseModel):
    id: str
    type: str = "answer"
    sdp: str


PAGE = """
<p>Talk to the appliance from this browser: the same voice, protocol and pipeline as a phone call,
in <strong>shadow mode</strong>. Nothing you say is kept as a patient record, no desk phone is paged and
no transfer is placed; what the call would have done is listed below.</p>
<p><button type="button" id="tc-start" disabled>Start test call</button>
<button type="button" id="tc-hangup" disabled>Hang up</button>
<span id="tc-status" role="status">Not connected.</span></p>
<p id="tc-keypad" aria-label="Keypad">{keys}</p>
<audio id="tc-audio" autoplay></audio>
<ol id="tc-log" aria-live="polite"></ol>
<script src="/static/testcall.js" defer></script>
"""


def register_testcall(app: FastAPI) -> None:
    def _calls(request: Request) -> TestCalls:
        return getattr(_ctx(request), "test_calls", None) or TestCalls(None, _no_audit)

    @app.exception_handler(TestCallError)
    async def _refused(request: Request, exc: TestCallError) -> Response:
        return JSONResponse({"detail": exc.message, "fix": exc.fix}, status_code=exc.status)

    @app.get("/test-call", tags=["pages"], summary="Test call from the browser (WebRTC, shadow mode)")
    async def test_call_page(s: Annotated[Session, Depends(require("testcall"))]) -> Response:
        keys = "".join(f'<button type="button" data-dtmf="{e(k)}" disabled>{e(k)}</button>' for k in "123456789*0#")
        return HTMLResponse(page("Test call", PAGE.format(keys=keys), s, active="/test-call"))

    @app.get("/static/testcall.js", include_in_schema=False)
    async def testcall_js() -> Response:
        return PlainTextResponse(TESTCALL_JS, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.post("/api/test-calls", tags=["api"], summary="Start a test call: the browser's SDP offer in, the answer out",
              status_code=201, response_model=Answer,
              responses={400: {"description": "the offer cannot be used"},
                         409: {"description": "one is in progress, or this console takes none"}})
    async def start_test_call(request: Request, offer: Offer, s: Annotated[Session, Depends(check_csrf)],
                              _: Annotated[Session, Depends(require("testcall"))]) -> Answer:
        call_id, sdp = await _calls(request).start(offer.sdp, s.username)
        return Answer(id=call_id, sdp=sdp)

    @app.delete("/api/test-calls/{call_id}", tags=["api"], summary="End one of your test calls", status_code=204,
                responses={404: {"description": "no such test call of yours"}})
    async def end_test_call(request: Request, call_id: Annotated[str, Field(max_length=40)],
                            s: Annotated[Session, Depends(check_csrf)],
                            _: Annotated[Session, Depends(require("testcall"))]) -> Response:
        if not await _calls(request).end(call_id, s.username):
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response(status_code=204)
