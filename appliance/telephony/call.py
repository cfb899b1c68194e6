"""One SIP call as the voice pipeline sees it: `appliance.calls.CallMedia` over a dialog and RTP.

A call signals through `Signalling` (the edge's `OutboundCalls` in production): in-dialog
requests (BYE, INFO, REFER), re-INVITEs, a new call for a transfer, a task for a bridge, and
leaving the calls table.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from appliance.calls import AudioIn, CallInfo, DtmfIn, HangUp, MediaEvent, TransferResult
from appliance.logs import get_logger
from appliance.telephony.dialog import Dialog
from appliance.telephony.media import RtpSession
from appliance.telephony.timers import CallClock

if TYPE_CHECKING:
    from appliance.telephony.outbound import OutboundCall
    from appliance.telephony.sipmsg import SipMessage

log = get_logger(__name__)
MAX_EVENTS = 500  # ~10 s of audio frames; the oldest are dropped if the pipeline stalls


class Signalling(Protocol):
    """What a call (and its transfer) asks of the edge."""

    @property
    def contact(self) -> str: ...

    def forget(self, call: SipCall) -> None: ...

    async def send_in_dialog(self, call: SipCall, method: str, *, body: bytes = b"",
                             content_type: str | None = None, wait: float = 8.0,
                             headers: tuple[tuple[str, str], ...] = ()) -> SipMessage | None: ...

    async def reinvite(self, call: SipCall) -> bool: ...

    def target_uri(self, target: str) -> str: ...

    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> OutboundCall: ...

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]: ...


class SipCall:
    def __init__(self, signalling: Signalling, info: CallInfo, dialog: Dialog, media: RtpSession) -> None:
        self.signalling = signalling
        self.info = info
        self.dialog = dialog
        self.media = media
        self.state = "early"  # early -> confirmed -> ended
        self.session_version = 1
        self.sdp_session = secrets.randbelow(2**31)
        self.local_hold = False
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._hangup: HangUp | None = None
        self.ended = asyncio.Event()
        self.acked = asyncio.Event()
        self.ack_cseq = 0  # the CSeq of the INVITE whose 2xx waits for its ACK
        self.clock = CallClock()
        self.ending = False  # a timeout is ending it
        self.notify_frags: asyncio.Queue[int] = asyncio.Queue()  # REFER progress (sipfrag status)
        self.handler_task: asyncio.Task[object] | None = None
        self.bridged_to: SipCall | None = None  # joined to another call by the appliance
        media.on_audio = self._audio
        media.on_dtmf = self._dtmf

    @property
    def rtp_expected(self) -> bool:
        """The peer should be sending RTP: negotiated, and on hold neither way."""
        neg = self.media.neg
        return (neg is not None and not neg.on_hold and neg.remote_direction != "recvonly"
                and not self.local_hold)

    # -- events from the network --------------------------------------------------------------
    def _push(self, ev: MediaEvent) -> None:
        if self._hangup is not None:
            return
        if self._events.qsize() >= MAX_EVENTS:
            self._events.get_nowait()
        self._events.put_nowait(ev)

    def _audio(self, pcm: bytes) -> None:
        if self.state == "confirmed" or self.info.direction == "outbound":
            self._push(AudioIn(pcm, time.monotonic(), self.media.last_played))

    def _dtmf(self, digit: str) -> None:
        self._push(DtmfIn(digit, time.monotonic()))

    def dtmf_info(self, digit: str) -> None:
        self._dtmf(digit)

    def terminated(self, reason: str) -> None:
        """The call is over (BYE, CANCEL, transfer, shutdown): release media, wake `recv`."""
        if self.state == "ended":
            return
        self.detach(reason)
        self.state = "ended"
        self.media.close()
        self.ended.set()
        self.signalling.forget(self)

    def detach(self, reason: str) -> None:
        """The pipeline's part of the call is over (`recv` returns HangUp) though the SIP call
        may go on: bridged to another call by the appliance."""
        if self._hangup is None:
            self._hangup = HangUp(reason, time.monotonic())
            self._events.put_nowait(self._hangup)

    # -- CallMedia ----------------------------------------------------------------------------
    async def recv(self) -> MediaEvent:
        if self._hangup is not None and self._events.empty():
            return self._hangup
        return await self._events.get()

    def send_audio(self, pcm: bytes) -> None:
        self.media.send_audio(pcm)

    def clear_audio(self) -> int:
        return self.media.clear_audio()

    def pause_audio(self, paused: bool) -> None:
        self.media.pause_audio(paused)

    def pending_audio_ms(self) -> int:
        return self.media.pending_ms()

    def sent_audio_ms(self) -> int:
        return self.media.sent_ms

    async def send_dtmf(self, digits: str) -> None:
        if self.media.neg is not None and self.media.neg.event_pt is not None:
            self.media.queue_dtmf(digits)
            return
        for d in digits:
            await self.signalling.send_in_dialog(self, "INFO", body=f"Signal={d}\r\nDuration=160\r\n".encode(),
                                           content_type="application/dtmf-relay")

    async def hangup(self, reason: str = "local") -> None:
        """The pipeline hangs up (a no-op once its part is over, e.g. after a transfer)."""
        if self._hangup is not None:
            return
        await self.release(reason)

    async def release(self, reason: str) -> None:
        """End the SIP call whoever holds it: BYE if it is up, then release the media."""
        if self.state == "ended":
            return
        if self.state == "confirmed":
            await self.signalling.send_in_dialog(self, "BYE", wait=1.0)
        self.terminated(reason)

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None,
                       timeout_s: float = 30.0) -> TransferResult:
        """Blind or attended transfer; `timeout_s` bounds the target's ringing (and the REFER's outcome)."""
        from appliance.telephony.transfer import attended_transfer, blind_transfer

        if attended:
            return await attended_transfer(self, target, brief_pcm, timeout_s)
        return await blind_transfer(self, target, timeout_s)

    async def set_hold(self, hold: bool) -> bool:
        """Put the peer on hold (sendonly) or resume it with a re-INVITE; True if accepted."""
        self.local_hold = hold
        return await self.signalling.reinvite(self)
