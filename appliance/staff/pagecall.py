"""One page: call a desk phone through the PBX, speak the brief, wait for the clinician to press 1.

The brief repeats (`repeats` times) while the clinician listens; pressing 1 is the answer the
pager acts on (connect the patient, or acknowledge when the patient has gone). A page call
that is not answered, is refused, or ends without a 1 is a failed page, and the pager moves
on down the on-call chain. The caller of `ring_and_brief` owns the answered call it returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from appliance.calls import DtmfIn, HangUp
from appliance.logs import get_logger
from appliance.staff.paging import PageOutcome
from appliance.voice.briefing import duration_s

if TYPE_CHECKING:
    from appliance.telephony.call import SipCall
    from appliance.telephony.outbound import OutboundCall

log = get_logger(__name__)
LISTEN_S = 6.0  # after each brief, how long to wait for a key before repeating it


class Dialer(Protocol):
    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> OutboundCall: ...


@runtime_checkable
class TextSender(Protocol):
    """A dialer that also sends SIP MESSAGE texts (the SIP edge); returns the final SIP status."""

    async def send_message(self, target: str, text: str) -> int: ...


@dataclass
class PageResult:
    outcome: PageOutcome | None  # None: answered and pressed 1 (the pager decides what it becomes)
    call: SipCall | None = None  # the answered page call, still up, when the clinician pressed 1


FAILED = {"busy": "declined", "rejected": "declined", "no-answer": "no-answer"}


async def wait_key(call: SipCall, seconds: float) -> str | None:
    """The next key pressed within `seconds` ("" if the call ended, None if no key)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            ev = await asyncio.wait_for(call.recv(), left)
        except TimeoutError:
            return None
        if isinstance(ev, DtmfIn):
            return ev.digit
        if isinstance(ev, HangUp):
            return ""
    return None


async def ring_and_brief(dialer: Dialer, target: str, pcm: bytes, *, ring_s: float, repeats: int = 3,
                         listen_s: float = LISTEN_S, answered: Callable[[], None] | None = None) -> PageResult:
    """`answered()` is called when the clinician picks up (they are listening: the pager gives
    them a full window to press 1 before it pages the next)."""
    placed = await dialer.place_call(target, timeout_s=ring_s)
    if placed.outcome != "answered" or placed.call is None:
        outcome = FAILED.get(placed.outcome, "failed")
        log.info("page.unanswered", target=target, outcome=outcome, status=placed.status)
        return PageResult(outcome)  # type: ignore[arg-type]
    call = placed.call
    if answered is not None:
        answered()
    try:
        for _ in range(repeats):
            call.clear_audio()
            call.send_audio(pcm)
            key = await wait_key(call, duration_s(pcm) + listen_s)
            if key == "1":
                call.clear_audio()
                log.info("page.pressed", target=target)
                return PageResult(None, call)
            if key == "":
                log.info("page.hung_up", target=target)
                return PageResult("declined")
        log.info("page.not_acknowledged", target=target)
        await call.release("page-unacknowledged")
        return PageResult("no-answer")
    except BaseException:
        await asyncio.shield(call.release("page-cancelled"))
        raise
