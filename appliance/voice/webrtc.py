"""A browser test call as `CallMedia`: WebRTC (aiortc) in place of SIP/RTP, the same voice
pipeline behind it.

The browser sends an SDP offer (ICE gathered, no trickle) through the console; `answer_offer`
answers it with G.711 µ-law only, so the browser hears exactly what a phone caller hears and
the pipeline gets the 8 kHz PCM it gets from the SIP edge. Media is DTLS-SRTP, and ICE checks
accept media only from the browser that signalled the offer. No STUN server: the box never asks
anyone outside the LAN. A call's ICE host candidates can be limited to given addresses (the
console's own, `host_addresses_for`), for that call's connection alone (`limit_host_addresses`).

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
from collections.abc import Callable, Sequence
from typing import Any, Literal

import aioice
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


def host_addresses_for(bind_host: str | None) -> tuple[str, ...] | None:
    """The ICE host addresses of a console bound to `bind_host`: that address alone, or None for
    a wildcard bind (0.0.0.0, ::, empty), which leaves aioice's default: every interface but
    loopback."""
    if bind_host in (None, "", "0.0.0.0", "::"):  # noqa: S104  (a wildcard bind: every interface)
        return None
    return (bind_host,)


def limit_host_addresses(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Make `pc` gather its ICE host candidates on `addresses` only, leaving every other
    connection, and the aioice module, as they are.

    Call it once `pc` has its transports (after the remote offer is applied, or after the local
    tracks and data channels are added) and before `setLocalDescription`, which gathers; once
    gathered, it raises `RuntimeError` rather than leave the candidates as they are.

    aiortc has no setting for this (`RTCConfiguration` has ICE servers, transport and bundle
    policies; `RTCIceGatherer` builds its aioice `Connection` itself, whose parameters choose
    IPv4/IPv6 only). Filtering the gathered candidates would still bind a socket on every
    interface and send connectivity checks from each. So each of this connection's gatherers
    gets, on its own aioice `Connection` instance, a `get_component_candidates` that binds on
    `addresses` in place of the interface list aioice's `gather_candidates` passes in. The cost:
    it reaches aiortc's `RTCIceGatherer._connection` (the attribute aiortc's own ICE transport
    uses) and relies on that aioice method's signature, both as of the pinned versions;
    tests/voice/test_webrtc_ice.py checks the result on them."""
    limited = tuple(addresses)
    dtls = [t.sender.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    gatherers = [d.transport.iceGatherer for d in dtls]  # bundled media share one: limiting it again changes nothing
    if any(g.state != "new" for g in gatherers):
        raise RuntimeError("limit_host_addresses: the connection has gathered its ICE candidates already")
    for gatherer in gatherers:
        _gather_on(gatherer._connection, limited)


def _gather_on(connection: aioice.Connection, only: tuple[str, ...]) -> None:
    """`connection`, and no other, gathers its host candidates on `only`: a method of its own
    shadows the class's, which it calls with `only` in place of aioice's interface list."""
    own = type(connection).get_component_candidates

    async def get_component_candidates(component: int, addresses: list[str],
                                       timeout: int = 5) -> list[aioice.Candidate]:  # noqa: ASYNC109  (aioice's own signature)
        """Host candidates on `only`; `addresses` (the interfaces aioice found) is not used."""
        return await own(connection, component, list(only), timeout)

    connection.get_component_candidates = get_component_candidates  # type: ignore[method-assign]  # this one connection's gathering; the class keeps aioice's


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


async def answer_offer(media: WebRtcMedia, offer_sdp: str, *, host_addresses: Sequence[str] | None = None) -> str:
    """Answer the browser's offer for `media`; media flows once ICE and DTLS complete.

    The answer's ICE host candidates are on `host_addresses` only, or on aioice's default (every
    interface but loopback) when it is None."""
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
        if host_addresses is not None:
            limit_host_addresses(pc, host_addresses)
        await pc.setLocalDescription(await pc.createAnswer())
    except OfferError:
        await media.close()
        raise
    except Exception as e:  # aiortc's parser and negotiation errors: the browser's input was not usable
        await media.close()
        log.info("webrtc.offer_refused", call_id=media.info.call_id, error=hostile(str(e), 200))
        raise OfferError("the offer could not be negotiated", fix="send an unmodified browser offer") from e
    return pc.localDescription.sdp
