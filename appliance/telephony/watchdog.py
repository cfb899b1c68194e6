"""Ends the calls nobody hangs up: the caller vanished (no RTP), the call ran too long, the
session timer was not refreshed. One task per edge, a few checks a second, one log line per
call it ends; it never blocks the event loop (the BYE goes out in its own task).

It watches a `Watched` (the edge: its settings, calls table and task spawner) and refreshes
sessions through a `Refresher` (the edge's `OutboundCalls`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from appliance.logs import get_logger, hostile
from appliance.telephony.sdp import answer_sdp

if TYPE_CHECKING:
    from appliance.config import SipSettings
    from appliance.telephony.call import SipCall
    from appliance.telephony.sipmsg import SipMessage

log = get_logger(__name__)


class Watched(Protocol):
    @property
    def settings(self) -> SipSettings: ...

    @property
    def calls(self) -> dict[str, SipCall]: ...

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]: ...


class Refresher(Protocol):
    @property
    def host(self) -> str: ...

    async def invite_in_dialog(self, call: SipCall, body: bytes,
                               headers: tuple[tuple[str, str], ...] = ()) -> SipMessage | None: ...


def tick_s(edge: Watched) -> float:
    s = edge.settings
    return max(0.05, min(1.0, s.rtp_timeout_s / 4, s.max_call_s / 4, s.session_min_se_s / 8))


async def watch_calls(edge: Watched, refresher: Refresher) -> None:
    failed_logged = False
    while True:
        await asyncio.sleep(tick_s(edge))
        try:
            check_calls(edge, refresher, time.monotonic())
        except Exception:  # noqa: BLE001  (the watchdog must keep watching)
            if not failed_logged:
                failed_logged = True
                log.exception("call.watchdog_failed")


def check_calls(edge: Watched, refresher: Refresher, now: float) -> None:
    s = edge.settings
    for call in list(edge.calls.values()):
        if call.state != "confirmed" or call.ending:
            continue
        last_rtp = max(call.media.last_rx or 0.0, call.media.changed_at)
        why = call.clock.due(now, max_call_s=s.max_call_s, rtp_timeout_s=s.rtp_timeout_s, last_rtp=last_rtp,
                             rtp_expected=call.rtp_expected)
        if why is not None:
            call.ending = True
            log.info("call.timeout", call_id=hostile(call.dialog.call_id), reason=why)
            edge.spawn(call.release(why))
        elif call.clock.refresh_due(now):
            call.clock.refreshing = True
            edge.spawn(refresh_session(refresher, call))


async def refresh_session(edge: Refresher, call: SipCall) -> None:
    """We are the refresher (RFC 4028 refresher=uas): a re-INVITE with the same SDP."""
    timer, neg = call.clock.session, call.media.neg
    try:
        if timer is None or neg is None:
            return
        body = answer_sdp(neg, host=edge.host, port=call.media.port, session_id=call.sdp_session,
                          version=call.session_version, local_hold=call.local_hold,
                          crypto=call.media.srtp.local if call.media.srtp else None)
        resp = await edge.invite_in_dialog(call, body, headers=(
            ("Supported", "timer"), ("Session-Expires", f"{timer.interval};refresher=uas")))
        if resp is not None and (resp.status or 0) // 100 == 2:
            call.clock.refreshed(time.monotonic(), timer)
    finally:
        call.clock.refreshing = False
