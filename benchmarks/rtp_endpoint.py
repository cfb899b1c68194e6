"""The benchmark caller's RTP endpoint: one thread that sends and receives, no jitter buffer.

The thread sends one 20 ms PCMU packet every 20 ms on its own `time.monotonic()` schedule
(the queued caller audio, or µ-law silence), and between sends waits on the socket, so every
received packet is timestamped the moment it arrives. Received audio is decoded and judged
speech / not speech at once (`benchmarks.speech`); the caller reads only those arrivals.

With `echo_db` set, the endpoint is a speakerphone without echo control: each packet it sends
carries, mixed under the caller's audio, what it heard `echo_delay_s` earlier, `echo_db` down.

With `srtp` set (an `SrtpContext`, by `benchmarks.secure_caller`), every packet is protected just
before it is sent and unprotected as it is read; one that fails authentication is ignored.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from appliance.telephony.g711 import ULAW_DECODE, ULAW_SILENCE, ulaw_encode
from appliance.telephony.rtp import RtpPacket, parse_rtp
from benchmarks.speech import FRAME, Arrival, is_speech

if TYPE_CHECKING:
    from appliance.telephony.srtp import SrtpContext

PTIME_S = 0.020


class RtpEndpoint:
    def __init__(self, host: str = "127.0.0.1", echo_db: float | None = None, echo_delay_s: float = 0.06) -> None:
        self.echo_db = echo_db
        self.echo_delay_s = echo_delay_s
        self._heard: deque[tuple[float, np.ndarray]] = deque()  # (arrival, PCM) to feed back as echo
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.payload_type = 0
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()
        self._queue: deque[tuple[int, bytes]] = deque()  # (clip id, 160 µ-law bytes)
        self._sent: dict[int, list[float]] = {}  # clip id -> send time of each of its packets
        self._done = threading.Event()
        self._seq = 0
        self._ts = 0
        self._ssrc = int.from_bytes(np.random.default_rng().bytes(4), "big")
        self._clip = 0
        self._thread = threading.Thread(target=self._run, name=f"rtp-{self.port}", daemon=True)
        self.received_packets = 0
        self.ignored_packets = 0
        self.srtp: SrtpContext | None = None  # set before start() for SRTP

    def start(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._thread.start()

    def play(self, pcm: np.ndarray) -> int:
        """Queue 8 kHz 16-bit audio for sending; returns a clip id for `sent_times`."""
        ulaw = ulaw_encode(pcm.astype("<i2").tobytes())
        with self.lock:
            self._clip += 1
            clip = self._clip
            self._sent[clip] = []
            for i in range(0, len(ulaw), FRAME):
                chunk = ulaw[i:i + FRAME]
                self._queue.append((clip, chunk + bytes([ULAW_SILENCE]) * (FRAME - len(chunk))))
        return clip

    def sent_times(self, clip: int) -> list[float]:
        with self.lock:
            return list(self._sent.get(clip, []))

    def pending(self) -> int:
        with self.lock:
            return len(self._queue)

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.sock.close()

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        next_send = time.monotonic()
        while not self._done.is_set():
            now = time.monotonic()
            if now >= next_send:
                self._send_one(now)
                next_send += PTIME_S
                if now - next_send > 0.2:  # the thread was starved: resynchronise, do not burst
                    next_send = now + PTIME_S
                continue
            readable, _, _ = select.select([self.sock], [], [], next_send - now)
            if readable:
                self._receive()

    def _send_one(self, now: float) -> None:
        with self.lock:
            clip, payload = self._queue.popleft() if self._queue else (0, bytes([ULAW_SILENCE]) * FRAME)
            if clip:
                self._sent[clip].append(now)
            while len(self._heard) > 50:  # the thread fell behind: an echo path does not queue up
                self._heard.popleft()
            echo = self._heard.popleft()[1] if self._heard and self._heard[0][0] <= now - self.echo_delay_s else None
        if echo is not None and self.echo_db is not None:
            mixed = ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)].astype(np.int32) + \
                (echo.astype(np.float64) * 10 ** (self.echo_db / 20)).astype(np.int32)
            payload = ulaw_encode(np.clip(mixed, -32768, 32767).astype("<i2").tobytes())
        pkt = RtpPacket(self.payload_type, self._seq, self._ts, self._ssrc, payload, marker=self._seq == 0)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
        data = pkt.build()
        if self.srtp is not None:
            data = self.srtp.protect(data)
        try:
            assert self.remote is not None
            self.sock.sendto(data, self.remote)
        except OSError:
            pass  # the far end closed: the caller notices by the missing replies

    def _receive(self) -> None:
        for _ in range(16):  # drain what arrived, each stamped as it is read
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            t = time.monotonic()
            if self.srtp is not None:
                clear = self.srtp.unprotect(data)
                if clear is None:
                    self.ignored_packets += 1  # forged, replayed, SRTCP
                    continue
                data = clear
            pkt = parse_rtp(data)
            if pkt is None or pkt.payload_type != self.payload_type:
                self.ignored_packets += 1  # RTCP, telephone-event, garbage
                continue
            pcm = ULAW_DECODE[np.frombuffer(pkt.payload, dtype=np.uint8)]
            with self.lock:
                self.arrivals.append(Arrival(t, is_speech(pcm)))
                self.received_packets += 1
                if self.echo_db is not None:
                    self._heard.append((t, pcm))
