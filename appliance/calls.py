"""The seam between the telephony edge and the voice pipeline: one call's media and metadata.

The SIP edge implements `CallMedia` for every answered or placed call; the voice pipeline
consumes it; tests and tools implement it over files. Audio is 8 kHz, 16-bit signed
little-endian mono PCM. The media side owns the clock: `send_audio` only queues, and the
implementation plays the queue out in 20 ms packets paced by a monotonic clock, so that
`clear_audio` (barge-in) stops the caller hearing anything further within one packet.
A `CallObserver` (the call's live-call entry) is told of a transfer by whoever starts it
(`observed_transfer`), so nothing needs to wrap the media to watch the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 320


@dataclass(frozen=True)
class CallInfo:
    call_id: str  # the PBX's SIP Call-ID
    direction: Literal["inbound", "outbound"]
    remote_number: str  # caller (inbound) or callee (outbound) user part, as received: hostile
    remote_name: str | None = None  # display name, as received: hostile
    local_number: str = ""
    started_at: float = 0.0  # time.time() when the call was answered
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioIn:
    """20 ms of caller audio (FRAME_BYTES of PCM), in arrival order, after the jitter buffer."""

    pcm: bytes
    t: float  # time.monotonic() when the frame was taken from the jitter buffer
    played: bytes = b""  # the agent's audio sent in the same tick of the media's clock (echo reference)


@dataclass(frozen=True)
class DtmfIn:
    digit: str  # 0-9 * # A-D
    t: float


@dataclass(frozen=True)
class HangUp:
    reason: str  # "remote-bye", "local", "timeout", "cancel", "transfer", ...
    t: float


MediaEvent = AudioIn | DtmfIn | HangUp


@dataclass(frozen=True)
class TransferResult:
    ok: bool
    kind: Literal["blind", "attended"]
    target: str
    detail: str = ""  # SIP status or reason when not ok


class CallMedia(Protocol):
    info: CallInfo

    async def recv(self) -> MediaEvent:
        """Next event from the caller. After a HangUp, every call returns that HangUp again."""
        ...

    def send_audio(self, pcm: bytes) -> None:
        """Queue PCM for paced playout (any length; partial frames are padded at the end)."""
        ...

    def clear_audio(self) -> int:
        """Drop all queued, not yet sent audio; return how many ms were dropped."""
        ...

    def pause_audio(self, paused: bool) -> None:
        """Hold the queued audio (silence goes out instead, nothing is dropped) or release it:
        the caller may be talking over the agent, and whether that stops the agent is not yet known."""
        ...

    def pending_audio_ms(self) -> int:
        """How much queued audio has not been sent yet."""
        ...

    def sent_audio_ms(self) -> int:
        """Total audio sent to the caller since the call began (for what-was-heard bookkeeping)."""
        ...

    async def send_dtmf(self, digits: str) -> None: ...

    async def hangup(self, reason: str = "local") -> None: ...

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
        """Blind (REFER) or attended transfer to an extension. On failure the call stays up."""
        ...


CallHandler = Callable[[CallMedia], Awaitable[None]]
"""What the service plugs into the SIP edge: run one call to its end."""


class CallObserver(Protocol):
    """Told what happens to a call while it lasts (its entry in `appliance.live.registry`). It
    observes the call; it never stands between the call's media and whoever uses it. Whoever
    starts a transfer on the media reports it (`observed_transfer`): `transfer_started` just
    before, then `transfer_ended` with the result, or with None when the transfer raised or was
    cancelled (the call stays as it was)."""

    def transfer_started(self, target: str) -> None: ...

    def transfer_ended(self, result: TransferResult | None) -> None: ...


async def observed_transfer(media: CallMedia, observer: CallObserver | None, target: str, *,
                            attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
    """`media.transfer(...)`, reported to `observer` (None: nobody watches the call) as it starts and ends."""
    if observer is None:
        return await media.transfer(target, attended=attended, brief_pcm=brief_pcm)
    observer.transfer_started(target)
    try:
        result = await media.transfer(target, attended=attended, brief_pcm=brief_pcm)
    except BaseException:
        observer.transfer_ended(None)
        raise
    observer.transfer_ended(result)
    return result
