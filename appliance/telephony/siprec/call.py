"""A SIPREC recording session on the edge: a `SipCall` (its dialog, ACK, BYE, timeouts and
watchdog are the edge's, as for any call) over listen-only RTP streams, one per recorded side.

`ListenOnlyRtp` is the edge's `RtpSession` (peer-locked, jitter-buffered, decoded on the same
20 ms clock) with its sending path removed: it never emits a packet, whatever the SDP or a
re-INVITE says. Each stream's audio goes to its own bounded queue for the shadow runner.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.calls import CallHandler, CallInfo
from appliance.telephony.call import Signalling, SipCall
from appliance.telephony.dialog import Dialog
from appliance.telephony.media import RtpSession
from appliance.telephony.sdp import Negotiated

MAX_FRAMES = 3000  # 60 s of 20 ms frames per stream; the oldest are dropped if the listener stalls


class ListenOnlyRtp(RtpSession):
    """Receives one recorded stream; sends nothing, ever (a shadow call never speaks)."""

    def __init__(self) -> None:
        super().__init__(lambda pcm: None, lambda digit: None)
        self.send_enabled = False
        self.suppressed = 0  # sends that were asked for and not made (always 0 in a working edge)

    def set_remote(self, neg: Negotiated) -> None:
        super().set_remote(neg)
        self.send_enabled = False  # whatever the direction: the playout tick only delivers audio

    def send_audio(self, pcm: bytes) -> None:
        self.suppressed += 1

    def queue_dtmf(self, digits: str) -> None:
        self.suppressed += 1

    def _emit(self, pt: int, ts: int, payload: bytes, marker: bool) -> None:
        self.suppressed += 1  # never reached (send_enabled is always False): and if it were, nothing goes out


@dataclass
class ShadowStream:
    """One recorded side of the call: its SDP label, its role and its decoded 20 ms frames."""

    label: str
    role: str  # "patient" | "staff"
    rtp: ListenOnlyRtp = field(default_factory=ListenOnlyRtp)
    frames: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(MAX_FRAMES + 1))
    dropped: int = 0

    def __post_init__(self) -> None:
        self.rtp.on_audio = self.frame

    def frame(self, pcm: bytes) -> None:
        if self.frames.qsize() >= MAX_FRAMES:
            self.frames.get_nowait()
            self.dropped += 1
        self.frames.put_nowait(pcm)

    def end(self) -> None:
        """No more audio: the listener finishes the turn it is hearing and stops."""
        self.frames.put_nowait(None)


class StreamSet:
    """The streams as the edge's call and watchdog see one call's media."""

    def __init__(self, streams: list[ShadowStream]) -> None:
        self.streams = streams
        self.on_audio: Any = None  # set by SipCall; the streams deliver their own audio
        self.on_dtmf: Any = None
        self.neg: Negotiated | None = None  # no single stream: the edge never re-offers it (no refresh as uas)
        self.changed_at = time.monotonic()

    @property
    def port(self) -> int:
        return self.streams[0].rtp.port if self.streams else 0

    @property
    def last_rx(self) -> float | None:
        """The last packet from the recording client on any stream (the watchdog's RTP timeout)."""
        times = [s.rtp.last_rx for s in self.streams if s.rtp.last_rx is not None]
        return max(times) if times else None

    @property
    def suppressed(self) -> int:
        return sum(s.rtp.suppressed for s in self.streams)

    def close(self) -> None:
        for s in self.streams:
            s.rtp.close()


class ShadowCall(SipCall):
    """A recording session: never sends audio or DTMF, never transfers; the edge runs `runner`
    (the shadow runner) on it once the ACK arrives."""

    shadow = True

    def __init__(self, signalling: Signalling, info: CallInfo, dialog: Dialog, streams: list[ShadowStream],
                 runner: CallHandler, answer: Any) -> None:
        self.streams = streams
        super().__init__(signalling, info, dialog, StreamSet(streams))  # type: ignore[arg-type]  # StreamSet stands in for RtpSession
        self.runner = runner
        self.answer = answer  # the parsed offer and the answered ports (re-INVITEs are answered alike)

    @property
    def rtp_expected(self) -> bool:
        """The recording client sends both sides for the whole call (its `sendonly` is not a hold)."""
        return True

    def terminated(self, reason: str) -> None:
        was_up = self.state != "ended"
        super().terminated(reason)
        if was_up:
            for s in self.streams:
                s.end()

    # -- a shadow call never speaks ------------------------------------------------------------
    def send_audio(self, pcm: bytes) -> None:
        return None

    def clear_audio(self) -> int:
        return 0

    def pause_audio(self, paused: bool) -> None:
        return None

    def pending_audio_ms(self) -> int:
        return 0

    def sent_audio_ms(self) -> int:
        return 0

    async def send_dtmf(self, digits: str) -> None:
        return None

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None,
                       timeout_s: float = 30.0) -> Any:
        from appliance.calls import TransferResult

        return TransferResult(False, "attended" if attended else "blind", target, "shadow call: never transferred")

    async def set_hold(self, hold: bool) -> bool:
        return False
