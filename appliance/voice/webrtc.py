"""A browser test call as `CallMedia`: WebRTC (aiortc) in place of SIP/RTP, the same voice
pipeline behind it.

The browser sends an SDP offer (ICE gathered, no trickle) through the console; `answer_offer`
answers it with G.711 µ-law only, so the browser hears exactly what a phone caller hears and
the pipeline gets the 8 kHz PCM it gets from the SIP edge. Media is DTLS-SRTP, and ICE checks
accept media only from the browser that signalled the offer. ICE host candidates are limited
to the console's own address (no STUN server: the box never asks anyone outside the LAN).

A data channel named "events" carries what is not audio: the page sends `{"dtmf": "1"}` and
`{"hangup": true}`; the appliance sends the running transcript and what the call would have
done (escalations, transfers), as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable
from typing import Any, Literal

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from appliance.calls import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioIn,
    CallInfo,
    DtmfIn,
    HangUp,
    MediaEvent,
    TransferResult,
)
from appliance.errors import ApplianceError
from appliance.logs import get_logger, hostile

log = get_logger(__name__)

BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # 16
MAX_SDP = 20_000
DTMF_DIGITS = frozenset("0123456789*#")


class OfferError(ApplianceError):
    code = "webrtc-offer-refused"


def limit_ice_to(address: str | None) -> None:
    """Gather ICE host candidates on `address` only (the console's bind address), or on every
    interface but loopback (aioice's default) when the console listens on all addresses."""
    import aioice.ice

    original = getattr(aioice.ice, "_appliance_original", None) or aioice.ice.get_host_addresses
    aioice.ice._appliance_original = original  # type: ignore[attr-defined]  # kept on the module: patched once per process
    if address in (None, "", "0.0.0.0", "::"):  # noqa: S104  (a wildcard bind: every interface)
        aioice.ice.get_host_addresses = original
    else:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


class _PlayoutTrack(MediaStreamTrack):
    """The appliance's voice towards the browser: 20 ms frames from the media's queue (silence
    when it is empty), paced by a monotonic clock from the first frame."""

    kind = "audio"

    def __init__(self, media: WebRtcMedia) -> None:
        super().__init__()
        self._media = media
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            await asyncio.sleep(max(0.0, self._start + self._pts / SAMPLE_RATE - time.monotonic()))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._media.take_frame())
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


class WebRtcMedia:
    """One browser test call's media, as the voice pipeline sees a phone call's (`CallMedia`).

    Transfers are not placed and DTMF is not sent: a test call must never ring a desk phone.
    They fail with a clear reason, so the caller hears the protocol's approved fallback line,
    and the page is told what would have happened."""

    def __init__(self, info: CallInfo) -> None:
        self.info = info
        self.track = _PlayoutTrack(self)
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._gone: HangUp | None = None
        self._out = bytearray()
        self.audio_paused = False
        self._in = bytearray()
        self._sent_frames = 0
        self._resampler: av.AudioResampler | None = None
        self.pc: RTCPeerConnection | None = None
        self.ended = asyncio.Event()
        self.connected = asyncio.Event()
        self._send: Callable[[str], None] | None = None
        self._unsent: list[str] = []

    def report(self, event: dict[str, Any]) -> None:
        """Tell the page what happened (kept until its data channel is open, at most 200 events)."""
        text = json.dumps(event, separators=(",", ":"))
        if self._send is None:
            self._unsent = [*self._unsent[-199:], text]
            return
        with contextlib.suppress(Exception):  # a closing channel: the page is gone, nothing to tell
            self._send(text)

    def attach(self, send: Callable[[str], None]) -> None:
        self._send = send
        unsent, self._unsent = self._unsent, []
        for text in unsent:
            send(text)

    async def wait_connected(self, within_s: float) -> bool:
        """True once ICE and DTLS are up; False if the call ended or `within_s` passed first."""
        waits = {asyncio.ensure_future(self.connected.wait()), asyncio.ensure_future(self.ended.wait())}
        _done, pending = await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return self.connected.is_set() and not self.ended.is_set()

    # -- CallMedia -------------------------------------------------------------------------
    async def recv(self) -> MediaEvent:
        if self._gone is not None and self._events.empty():
            return self._gone
        return await self._events.get()

    def send_audio(self, pcm: bytes) -> None:
        if self._gone is None:
            self._out += pcm

    def pause_audio(self, paused: bool) -> None:
        self.audio_paused = paused

    def clear_audio(self) -> int:
        dropped = len(self._out) // BYTES_PER_MS
        self._out.clear()
        return dropped

    def pending_audio_ms(self) -> int:
        return len(self._out) // BYTES_PER_MS

    def sent_audio_ms(self) -> int:
        return self._sent_frames * FRAME_MS

    async def send_dtmf(self, digits: str) -> None:
        self.report({"type": "dtmf-out", "digits": digits[:32]})

    async def hangup(self, reason: str = "local") -> None:
        self.gone(reason)
        await self.close()

    async def transfer(self, target: str, *, attended: bool = False, brief_pcm: bytes | None = None) -> TransferResult:
        kind: Literal["blind", "attended"] = "attended" if attended else "blind"
        self.report({"type": "transfer", "target": target, "kind": kind, "placed": False})
        return TransferResult(ok=False, kind=kind, target=target, detail="test call: transfers are not placed")

    # -- the peer side -----------------------------------------------------------------------
    def take_frame(self) -> bytes:
        """The next 20 ms for the browser (padded at the end of a reply, silence when idle)."""
        if not self._out or self.audio_paused:
            return bytes(FRAME_BYTES)
        chunk = bytes(self._out[:FRAME_BYTES])
        del self._out[:FRAME_BYTES]
        self._sent_frames += 1
        return chunk.ljust(FRAME_BYTES, b"\0")

    def feed(self, frame: av.AudioFrame) -> None:
        """Audio from the browser (after aiortc's jitter buffer), as 20 ms AudioIn events."""
        if self._gone is not None:
            return
        if frame.sample_rate != SAMPLE_RATE or frame.layout.name != "mono" or frame.format.name != "s16":
            self._resampler = self._resampler or av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            frames = self._resampler.resample(frame)
        else:
            frames = [frame]
        for f in frames:
            self._in += f.to_ndarray().tobytes()
        now = time.monotonic()
        while len(self._in) >= FRAME_BYTES:
            self._events.put_nowait(AudioIn(bytes(self._in[:FRAME_BYTES]), now))
            del self._in[:FRAME_BYTES]

    def message(self, raw: str | bytes) -> None:
        """A data-channel message from the page: a keypad digit or a hang-up."""
        try:
            msg = json.loads(raw)
        except (ValueError, TypeError):
            log.info("webrtc.message_refused", call_id=self.info.call_id, reason="not JSON")
            return
        if not isinstance(msg, dict):
            return
        digit = msg.get("dtmf")
        if isinstance(digit, str) and digit in DTMF_DIGITS and self._gone is None:
            self._events.put_nowait(DtmfIn(digit, time.monotonic()))
        if msg.get("hangup") is True:
            self.gone("remote-bye")

    def gone(self, reason: str) -> None:
        if self._gone is None:
            self._gone = HangUp(reason, time.monotonic())
            self._out.clear()
            self._events.put_nowait(self._gone)
            self.ended.set()

    async def close(self) -> None:
        self.gone("local")
        self.track.stop()
        if self.pc is not None:
            with contextlib.suppress(Exception):  # closing a half-open connection may raise inside aiortc
                await self.pc.close()


async def _read_track(media: WebRtcMedia, track: MediaStreamTrack) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            media.gone("remote-bye")
            return
        if isinstance(frame, av.AudioFrame):  # an audio track yields decoded frames, never packets
            media.feed(frame)


def check_offer(sdp: str) -> None:
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
        raise OfferError("the offer is not an SDP document", fix="send the browser's RTCPeerConnection offer")
    if "m=audio" not in sdp:
        raise OfferError("the offer has no audio", fix="add an audio track (microphone) before creating the offer")
    if "PCMU/8000" not in sdp:
        raise OfferError("the browser offered no G.711 µ-law audio", fix="use a current Chromium or Firefox")


async def answer_offer(media: WebRtcMedia, offer_sdp: str) -> str:
    """Answer the browser's offer for `media`; media flows once ICE and DTLS complete."""
    check_offer(offer_sdp)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    media.pc = pc
    tasks: set[asyncio.Task[None]] = set()

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            task = asyncio.ensure_future(_read_track(media, track))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    @pc.on("datachannel")
    def _on_channel(channel: Any) -> None:
        if channel.label != "events":
            return
        channel.on("message", media.message)
        if channel.readyState == "open":
            media.attach(channel.send)
        else:
            channel.on("open", lambda: media.attach(channel.send))

    @pc.on("connectionstatechange")
    async def _on_state() -> None:
        log.info("webrtc.state", call_id=media.info.call_id, state=pc.connectionState)
        if pc.connectionState == "connected":
            media.connected.set()
        elif pc.connectionState in ("failed", "closed"):
            media.gone("remote-bye" if pc.connectionState == "closed" else "timeout")

    try:
        # The transceiver exists before the offer is applied, so that the offer's audio is
        # matched to it and negotiated with its codec preference (µ-law only).
        audio = pc.addTransceiver(media.track, direction="sendrecv")
        audio.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/pcmu"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except OfferError:
        await media.close()
        raise
    except Exception as e:  # aiortc's parser and negotiation errors: the browser's input was not usable
        await media.close()
        log.info("webrtc.offer_refused", call_id=media.info.call_id, error=hostile(str(e), 200))
        raise OfferError("the offer could not be negotiated", fix="send an unmodified browser offer") from e
    return pc.localDescription.sdp
