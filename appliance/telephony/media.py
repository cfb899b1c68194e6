"""One call's RTP stream: symmetric, peer-locked, jitter-buffered, paced by a monotonic clock.

Outgoing audio is queued by `send_audio` and played out in 20 ms packets on a monotonic
schedule (silence when the queue is empty, so the stream never stalls); `clear_audio` empties
the queue, so at most the packet already on the wire is heard after a barge-in. Incoming
packets are accepted only from the address and port the peer's SDP named. Once `secure` gives
the stream an SRTP context, every packet is protected on the way out and must pass SRTP
authentication on the way in (a plain or forged packet is dropped and counted in `srtp_failed`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable

from appliance.calls import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES
from appliance.logs import get_logger
from appliance.telephony import g711
from appliance.telephony.dtmf import DtmfReceiver, digit_packets
from appliance.telephony.jitter import JitterBuffer
from appliance.telephony.rtp import RtpPacket, parse_rtp
from appliance.telephony.sdp import Negotiated
from appliance.telephony.srtp import Crypto, SrtpContext

log = get_logger(__name__)
DECODE = {"PCMU": g711.ulaw_decode, "PCMA": g711.alaw_decode}
ENCODE = {"PCMU": g711.ulaw_encode, "PCMA": g711.alaw_encode}


class RtpSession(asyncio.DatagramProtocol):
    def __init__(self, on_audio: Callable[[bytes], None], on_dtmf: Callable[[str], None]) -> None:
        self.on_audio = on_audio
        self.on_dtmf = on_dtmf
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.neg: Negotiated | None = None
        self.peer: tuple[str, int] | None = None
        self.send_enabled = True
        self.jitter = JitterBuffer(prefetch=2)
        self.dtmf_rx = DtmfReceiver()
        self._out = bytearray()
        self.audio_paused = False  # queued audio held (barge-in pause): silence goes out
        self._dtmf_out: list[tuple[bytes, bool]] = []  # (payload, first)
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._dtmf_ts = 0
        self._rx_rest = b""
        self._task: asyncio.Task[None] | None = None
        self.sent_ms = 0
        self.last_played = b""  # PCM of the last frame sent (silence when nothing was queued)
        self.rejected = 0
        self._offered: Crypto | None = None  # our key in an SRTP offer not answered yet
        self.srtp: SrtpContext | None = None  # set by `secure` once SRTP was agreed: plain RTP is then refused
        self.srtp_failed = 0  # packets from the peer that failed SRTP (forged, replayed, plain RTP)
        self.received = 0
        self.last_rx: float | None = None  # monotonic time of the last packet from the peer
        self.changed_at = 0.0  # monotonic time of the last set_remote (hold, resume, new address)
        self._tick_failed = False

    # -- socket ----------------------------------------------------------------------------
    async def open(self, host: str, port_min: int, port_max: int, attempts: int = 50) -> int:
        loop = asyncio.get_running_loop()
        evens = list(range(port_min + (port_min % 2), port_max + 1, 2))
        for port in random.sample(evens, min(attempts, len(evens))):
            try:
                await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
            except OSError:
                continue
            self.port = port
            self._task = loop.create_task(self._pace())
            return port
        raise OSError(f"no free RTP port in {port_min}-{port_max}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport is a DatagramTransport

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp.socket_error", error=type(exc).__name__)

    def set_remote(self, neg: Negotiated) -> None:
        if self.neg is None or (neg.remote_host, neg.remote_port) != (self.neg.remote_host, self.neg.remote_port):
            self.jitter = JitterBuffer(prefetch=2)
        self.neg = neg
        self.changed_at = time.monotonic()
        self.peer = (neg.remote_host, neg.remote_port)
        self.send_enabled = not neg.on_hold

    def secure(self, ctx: SrtpContext) -> None:
        """SRTP from now on, both ways. Keep the context across re-offers that keep the keys: a new
        context restarts the packet index and must come with a new local key (srtp.py)."""
        self.srtp = ctx

    def offer_key(self) -> Crypto:
        """Our key for an SRTP offer: the call's current one, else a fresh key (kept until answered)."""
        if self.srtp is not None:
            return self.srtp.local
        if self._offered is None:
            self._offered = Crypto.new()
        return self._offered

    def agree(self, neg: Negotiated, *, we_offered: bool) -> Crypto | None:
        """Key the media for an agreed offer/answer: `neg.crypto` is the peer's key (None: plain RTP
        from now on). Answering an offer returns our key for the answer; a peer that keeps its key
        keeps the call's context, a new peer key re-keys the inbound side only."""
        if neg.crypto is None:
            self.srtp = None
            return None
        if self.srtp is not None and (self.srtp.local.tag, self.srtp.local.suite) == (neg.crypto.tag, neg.crypto.suite):
            self.srtp.set_remote(neg.crypto)
            return self.srtp.local
        local = self._offered if we_offered and self._offered is not None else None
        if local is None or (local.tag, local.suite) != (neg.crypto.tag, neg.crypto.suite):
            local = Crypto.new(neg.crypto.tag, neg.crypto.suite)
        self._offered = None
        self.secure(SrtpContext(local, neg.crypto))
        return local

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.neg is None or addr[:2] != self.peer:
            self.rejected += 1  # RTP from anyone but the negotiated peer is dropped
            return
        if self.srtp is not None:
            plain = self.srtp.unprotect(data)
            if plain is None:
                self.srtp_failed += 1
                return
            data = plain
        pkt = parse_rtp(data)
        if pkt is None:
            return
        self.received += 1
        self.last_rx = time.monotonic()
        if self.neg.event_pt is not None and pkt.payload_type == self.neg.event_pt:
            digit = self.dtmf_rx.feed(pkt.timestamp, pkt.payload)
            if digit:
                self.on_dtmf(digit)
        elif pkt.payload_type == self.neg.payload_type and len(pkt.payload) <= 1600:
            self.jitter.push(pkt.seq, DECODE[self.neg.codec](pkt.payload))

    # -- outgoing audio ----------------------------------------------------------------------
    def send_audio(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            pcm = pcm + b"\x00"
        self._out += pcm

    def clear_audio(self) -> int:
        ms = len(self._out) // (FRAME_BYTES // FRAME_MS)
        self._out.clear()
        return ms

    def pause_audio(self, paused: bool) -> None:
        self.audio_paused = paused

    def pending_ms(self) -> int:
        return len(self._out) // (FRAME_BYTES // FRAME_MS)

    def queue_dtmf(self, digits: str) -> None:
        for d in digits:
            for i, p in enumerate(digit_packets(d)):
                self._dtmf_out.append((p, i == 0))
            self._dtmf_out += [(b"", False)] * 3  # inter-digit gap

    # -- the clock ---------------------------------------------------------------------------
    async def _pace(self) -> None:
        period = FRAME_MS / 1000
        next_at = time.monotonic()
        while True:
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:  # the loop was stalled: resynchronise rather than burst
                next_at = time.monotonic()
            try:
                self._tick()
            except Exception:  # noqa: BLE001  (one bad tick must not stop the stream)
                if not self._tick_failed:  # once per stream, not every 20 ms
                    self._tick_failed = True
                    log.exception("rtp.tick_failed")

    def _tick(self) -> None:
        pcm = self.jitter.pop()
        if pcm is not None:
            data = self._rx_rest + pcm
            while len(data) >= FRAME_BYTES:
                self.on_audio(data[:FRAME_BYTES])
                data = data[FRAME_BYTES:]
            self._rx_rest = data
        if self.neg is None or self.transport is None or not self.send_enabled:
            return
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
        if self._dtmf_out:
            payload, first = self._dtmf_out.pop(0)
            if first:
                self._dtmf_ts = self._ts
            if payload and self.neg.event_pt is not None:
                self._emit(self.neg.event_pt, self._dtmf_ts, payload, first)
            return
        frame = b"" if self.audio_paused else bytes(self._out[:FRAME_BYTES])
        del self._out[:len(frame)]
        if frame:
            self.sent_ms += FRAME_MS
            frame = frame.ljust(FRAME_BYTES, b"\x00")
        else:
            frame = bytes(FRAME_BYTES)
        self.last_played = frame  # the next caller frame carries it: the echo canceller's reference
        self._emit(self.neg.payload_type, self._ts, ENCODE[self.neg.codec](frame), False)

    def _emit(self, pt: int, ts: int, payload: bytes, marker: bool) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        assert self.transport is not None and self.peer is not None
        packet = RtpPacket(pt, self._seq, ts, self._ssrc, payload, marker).build()
        if self.srtp is not None:
            packet = self.srtp.protect(packet)
        self.transport.sendto(packet, self.peer)

    def close(self) -> None:
        if self._task:
            self._task.cancel()
        if self.transport:
            self.transport.close()
