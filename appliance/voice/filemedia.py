"""`CallMedia` over audio in memory: a recorded caller in, what the appliance said out.

Caller audio is delivered in 20 ms frames paced by the monotonic clock (as the SIP edge
delivers RTP), optionally followed by silence, then the caller hangs up. Outgoing audio is
queued and played out in 20 ms packets on the same clock; every packet sent is recorded with
its send time, so tests assert on what a caller would actually have heard.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from appliance.calls import FRAME_BYTES, FRAME_MS, AudioIn, CallInfo, DtmfIn, HangUp, MediaEvent, TransferResult

_FRAME_S = FRAME_MS / 1000


def ulaw_round_trip(pcm: bytes) -> bytes:
    from appliance.telephony.g711 import ulaw_decode, ulaw_encode

    return ulaw_decode(ulaw_encode(pcm))


@dataclass
class SentFrame:
    t: float  # monotonic time the packet went out
    pcm: bytes
    offset_ms: int  # position in the caller's input timeline (ms since the first input frame)


@dataclass
class FileCallMedia:
    """Play `caller_pcm` (8 kHz 16-bit mono) into a call in real time; record the replies.

    `tail_s` of silence follows the recording before the caller hangs up (unless the appliance
    hangs up first). `dtmf` schedules digits at offsets in seconds. `speed` > 1 runs faster
    than real time (tools only; tests and `simulate` use 1). Each caller frame carries the
    frame played in the tick before (`AudioIn.played`), as the SIP media does. `echo_db` feeds
    the agent's own audio back into the caller's, `echo_delay_ms` later and `echo_db` down
    through a G.711 µ-law round trip each way (a speakerphone or a phone without echo control).
    """

    caller_pcm: bytes
    info: CallInfo = field(default_factory=lambda: CallInfo(call_id="file-call", direction="inbound",
                                                            remote_number="file"))
    tail_s: float = 3.0
    dtmf: tuple[tuple[float, str], ...] = ()
    speed: float = 1.0
    hangup_when_done: bool = True
    transfer_fails: str | None = None  # the failure detail every transfer returns (the call stays up)
    sent: list[SentFrame] = field(default_factory=list)
    transfers: list[tuple[str, bool]] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    clears: list[tuple[float, int]] = field(default_factory=list)  # (t, dropped ms)
    pauses: list[tuple[float, bool]] = field(default_factory=list)  # (t, paused) barge-in holds
    audio_paused: bool = False
    hangup_reason: str | None = None
    echo_db: float | None = None
    echo_delay_ms: int = 60

    def __post_init__(self) -> None:
        self._out: deque[bytes] = deque()
        self._partial = b""
        self._sent_frames = 0
        self._in_pos = 0
        self._t0: float | None = None
        self._ended: HangUp | None = None
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._played: list[bytes] = []  # what went out in each tick (silence included)

    # ---- clock-driven feeder and player

    def _start(self) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic()
            self._tasks = [asyncio.create_task(self._run())]

    @property
    def started_at(self) -> float:
        return self._t0 or time.monotonic()

    async def _tick(self, n: int) -> None:
        assert self._t0 is not None
        delay = self._t0 + n * _FRAME_S / self.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _run(self) -> None:
        """One 20 ms clock for both directions, as the SIP media has: each tick plays the agent's
        next frame, then delivers the caller's frame with the one played in the tick before (two
        tasks would let a loaded event loop deliver caller frames ahead of the frames played)."""
        pcm = self.caller_pcm + bytes(int(self.tail_s * 8000) * 2)
        frames = (len(pcm) + FRAME_BYTES - 1) // FRAME_BYTES
        digits = sorted(self.dtmf)
        n = 0
        while not self._ended:
            await self._tick(n)
            if self._ended:
                return
            self._play_one()
            if n < frames:
                while digits and digits[0][0] * 1000 <= n * FRAME_MS:
                    self._events.put_nowait(DtmfIn(digits.pop(0)[1], time.monotonic()))
                chunk = pcm[n * FRAME_BYTES:(n + 1) * FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
                self._in_pos = n
                played = self._played[n - 1] if 0 < n <= len(self._played) else b""
                self._events.put_nowait(AudioIn(self._with_echo(chunk, n), time.monotonic(), played))
            elif n == frames and self.hangup_when_done:
                self._end("remote-bye")
                return
            n += 1

    def _play_one(self) -> None:
        if self._out and not self.audio_paused:
            pcm = self._out.popleft()
            self._sent_frames += 1
            self.sent.append(SentFrame(time.monotonic(), pcm, self._in_pos * FRAME_MS))
            self._played.append(pcm)
        else:
            self._played.append(bytes(FRAME_BYTES))

    def _with_echo(self, chunk: bytes, n: int) -> bytes:
        """The caller's frame `n` with the agent's audio of `echo_delay_ms` before mixed in."""
        back = n - 1 - self.echo_delay_ms // FRAME_MS
        if self.echo_db is None or not 0 <= back < len(self._played):
            return chunk
        gain = 10 ** (self.echo_db / 20)
        echo = ulaw_round_trip(ulaw_round_trip(self._played[back]))
        mixed = np.frombuffer(chunk, "<i2").astype(np.int32) + (np.frombuffer(echo, "<i2") * gain).astype(np.int32)
        return ulaw_round_trip(np.clip(mixed, -32768, 32767).astype("<i2").tobytes())

    def _end(self, reason: str) -> None:
        if self._ended is None:
            self._ended = HangUp(reason, time.monotonic())
            self.hangup_reason = reason
            self._events.put_nowait(self._ended)

    # ---- CallMedia

    async def recv(self) -> MediaEvent:
        self._start()
        if self._ended and self._events.empty():
            return self._ended
        return await self._events.get()

    def send_audio(self, pcm: bytes) -> None:
        self._start()
        data = self._partial + pcm
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        for i in range(0, whole, FRAME_BYTES):
            self._out.append(data[i:i + FRAME_BYTES])
        rest = data[whole:]
        self._partial = b""
        if rest:
            self._out.append(rest.ljust(FRAME_BYTES, b"\0"))

    def pause_audio(self, paused: bool) -> None:
        self.audio_paused = paused
        self.pauses.append((time.monotonic(), paused))

    def clear_audio(self) -> int:
        dropped = len(self._out) * FRAME_MS
        self._out.clear()
        self.clears.append((time.monotonic(), dropped))
        return dropped

    def pending_audio_ms(self) -> int:
        return len(self._out) * FRAME_MS

    def sent_audio_ms(self) -> int:
        return self._sent_frames * FRAME_MS

    async def send_dtmf(self, digits: str) -> None:
        self.dtmf_sent.append(digits)

    async def hangup(self, reason: str = "local") -> None:
        self._end(reason)

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
        self.transfers.append((target, attended))
        kind: Literal["blind", "attended"] = "attended" if attended else "blind"
        if self.transfer_fails is not None:
            return TransferResult(ok=False, kind=kind, target=target, detail=self.transfer_fails)
        self._end("transfer")
        return TransferResult(ok=True, kind=kind, target=target)

    async def close(self) -> None:
        """Stop the clock tasks (after the call)."""
        self._end(self.hangup_reason or "local")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    # ---- what was said

    def output_pcm(self, *, with_gaps: bool = True) -> bytes:
        """Everything sent, as one 8 kHz PCM stream; with gaps, silences between replies are
        kept on the call's timeline so the recording lines up with the caller's audio."""
        if not with_gaps or not self.sent:
            return b"".join(f.pcm for f in self.sent)
        assert self._t0 is not None
        out = bytearray()
        for f in self.sent:
            slot = round((f.t - self._t0) * self.speed / _FRAME_S) * FRAME_BYTES
            if slot > len(out):
                out.extend(bytes(slot - len(out)))
            out.extend(f.pcm)
        return bytes(out)
