"""The benchmark caller over SIP/TLS with SRTP: the same UAC as `sip_caller.SipCaller`, its
signalling on one TLS connection (TLS 1.2 at least, the appliance's certificate verified against
a CA file or the certificate itself; messages framed by Content-Length, Via `SIP/2.0/TLS`,
requests sent once), its offer `RTP/SAVP` with a fresh SDES key (`a=crypto:`), and its RTP
endpoint protecting what it sends with that key and unprotecting what it hears with the key of
the appliance's answer.

The reader thread and the senders share the one SSL object, so every read and write on it holds
a lock, on a non-blocking socket (a read never waits for data while holding the lock).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from appliance.telephony.sdp import MediaDescription, build_sdp
from appliance.telephony.siptls import FramingError, take_message
from appliance.telephony.srtp import Crypto, SrtpContext, is_secure_proto
from benchmarks.sip_caller import CallFailed, SipCaller

CONNECT_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 5.0


def client_context(trust: Path) -> ssl.SSLContext:
    """A TLS client context that verifies the far end's certificate (chain and address) against
    `trust`: a CA's certificate, or a self-signed certificate trusted as it is."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(trust))
    return ctx


class SecureSipCaller(SipCaller):
    """One outgoing call over TLS with SRTP; `context` verifies the far end (`client_context`)."""

    proto = "TLS"
    reliable = True
    sock: ssl.SSLSocket

    def __init__(self, target: tuple[str, int], context: ssl.SSLContext, server_hostname: str | None = None,
                 **kwargs: Any) -> None:
        self.context = context
        self.server_hostname = server_hostname or target[0]
        self.local_key = Crypto.new()  # ours for this call only: one key, one SRTP context
        self.srtp: SrtpContext | None = None
        self.tls_version: str | None = None
        self.closed_by_peer = threading.Event()
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._peer: tuple[str, int] = target
        super().__init__(target, **kwargs)
        self.contact = f"{self.from_uri};transport=tls"  # the far end's requests come back on this connection
        self.remote_target = f"{self.to_uri};transport=tls"

    # -- the transport --------------------------------------------------------------------------
    def _open(self) -> int:
        try:
            raw = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT_S, source_address=(self.host, 0))
        except OSError as e:
            raise CallFailed(f"no TLS connection to {self.target[0]}:{self.target[1]}: {e}") from None
        try:
            tls = self.context.wrap_socket(raw, server_hostname=self.server_hostname)
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise CallFailed(f"TLS handshake with {self.target[0]}:{self.target[1]} failed: {e}") from None
        tls.setblocking(False)
        self.sock = tls
        self.tls_version = tls.version()
        peer = tls.getpeername()
        self._peer = (str(peer[0]), int(peer[1]))
        return int(tls.getsockname()[1])

    def _send_to(self, data: bytes, addr: tuple[str, int]) -> None:
        """Write a whole message on the connection (`addr` is always its far end)."""
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        while view:
            with self._lock:
                try:
                    view = view[self.sock.send(view):]
                    continue
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except (OSError, ValueError):
                    return  # closed: the caller notices by the missing responses
            if time.monotonic() > deadline:
                return
            select.select([], [self.sock], [], 0.05)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.sock.pending():
                    readable, _, _ = select.select([self.sock], [], [], 0.1)
                    if not readable:
                        continue
                with self._lock:
                    data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue  # a TLS record without application data (e.g. a session ticket)
            except (OSError, ValueError):
                return
            if not data:
                self.closed_by_peer.set()
                return
            self._buf += data
            while True:
                try:
                    message = take_message(self._buf)
                except FramingError:
                    self.closed_by_peer.set()  # a stream that cannot be resynchronised
                    return
                if message is None:
                    break
                self._handle(message, self._peer)

    # -- SDP and SRTP ---------------------------------------------------------------------------
    def _offer(self) -> bytes:
        return build_sdp(host=self.host, port=self.rtp.port, session_id=self._session, version=1,
                         codecs=[("PCMU", 0)], event_pt=None, crypto=self.local_key)

    @property
    def _session(self) -> int:
        return int.from_bytes(self.call_id.encode()[:4], "big")

    def _start_media(self, media: MediaDescription) -> None:
        if not is_secure_proto(media.proto):
            raise CallFailed(f"the far end answered an SRTP offer with {media.proto}")
        remote = next((c for c in media.crypto if (c.tag, c.suite) == (self.local_key.tag, self.local_key.suite)),
                      None)
        if remote is None:
            raise CallFailed("the SRTP answer has no usable crypto line for our offer's tag and suite")
        self.srtp = SrtpContext(self.local_key, remote)
        self.rtp.srtp = self.srtp
        super()._start_media(media)

    def security(self) -> dict[str, Any]:
        """What the call's security was: the TLS version and the SRTP packet counts."""
        s = self.srtp
        return {"tls": self.tls_version, "srtp_protected": s.protected if s else 0,
                "srtp_unprotected": s.unprotected if s else 0, "srtp_failed": s.failed if s else 0}


def srtp_cost_us(packets: int = 2000) -> dict[str, float]:
    """The crypto an SRTP call adds per 20 ms packet on this machine: median µs to protect one
    PCMU packet (172 bytes of RTP) and to unprotect it, with libsrtp as the appliance uses it."""
    from statistics import median

    from appliance.telephony.rtp import RtpPacket

    a, b = Crypto.new(), Crypto.new()
    sender, receiver = SrtpContext(a, b), SrtpContext(b, a)
    payload = bytes(range(160))
    out: dict[str, list[float]] = {"protect_us": [], "unprotect_us": []}
    for seq in range(packets):
        rtp = RtpPacket(0, seq, seq * 160, 0x1234, payload).build()
        t0 = time.perf_counter()
        wire = sender.protect(rtp)
        t1 = time.perf_counter()
        clear = receiver.unprotect(wire)
        t2 = time.perf_counter()
        assert clear == rtp
        out["protect_us"].append((t1 - t0) * 1e6)
        out["unprotect_us"].append((t2 - t1) * 1e6)
    return {k: round(median(v), 2) for k, v in out.items()}
