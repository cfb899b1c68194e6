"""A minimal SIP user agent client over UDP for the benchmark: INVITE with a PCMU offer, ACK,
BYE, and answers to the far end's in-dialog requests (BYE 200; anything else 405 / 488).
`benchmarks.secure_caller.SecureSipCaller` is the same caller over TLS with SRTP.

It reuses the appliance's message parser and serialiser, SDP and RTP helpers, and runs on
plain threads so it measures the appliance from outside its event loop. Every wait is bounded.
"""

from __future__ import annotations

import math
import queue
import secrets
import socket
import threading
import time

from appliance.telephony.sdp import MediaDescription, SdpError, build_sdp, parse_sdp
from appliance.telephony.sipmsg import NameAddr, SipMessage, parse, via_value
from benchmarks.rtp_endpoint import RtpEndpoint

T1 = 0.5


class CallFailed(RuntimeError):
    """The call could not be set up or broke down (the benchmark stops with this message)."""


def _branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def _response(req: SipMessage, status: int, phrase: str, tag: str) -> SipMessage:
    resp = SipMessage(status=status, reason=phrase)
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        value = req.get(name)
        if value is None:
            continue
        if name == "To" and ";tag=" not in value:
            value = f"{value};tag={tag}"
        resp.add(name, value)
    return resp


class SipCaller:
    """One outgoing call to `target` (host, port); the RTP endpoint carries its audio."""

    proto = "UDP"  # the Via transport
    reliable = False  # over TLS a request is sent once (RFC 3261 §17.1.1.2), over UDP retransmitted

    def __init__(self, target: tuple[str, int], user: str = "5550100001", host: str = "127.0.0.1",
                 echo_db: float | None = None, to_user: str = "clinic") -> None:
        self.target = target
        self.host = host
        self.port: int = self._open()
        self.call_id = f"bench-{secrets.token_hex(8)}@{host}"
        self.tag = secrets.token_hex(6)
        self.from_uri = f"sip:{user}@{host}:{self.port}"
        self.to_uri = f"sip:{to_user}@{target[0]}:{target[1]}"  # an extension when target is a PBX
        self.contact = self.from_uri
        self.remote_tag = ""
        self.remote_target = self.to_uri
        self.route_set: list[str] = []  # a record-routing PBX between us (RFC 3261 §12.1.2)
        self.cseq = 1
        self.rtp = RtpEndpoint(host, echo_db=echo_db)  # echo_db: a speakerphone feeding back what it hears
        self.responses: queue.Queue[SipMessage] = queue.Queue()
        self.remote_bye = threading.Event()
        self.ended = False
        self._stop = threading.Event()
        self._ok: bytes | None = None  # our ACK, re-sent on a retransmitted 200
        self._reader = threading.Thread(target=self._read, name=f"sip-{self.port}", daemon=True)
        self._reader.start()

    # -- the transport (SecureSipCaller: a TLS connection) --------------------------------------
    def _open(self) -> int:
        """Open the signalling socket; returns our local port."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, 0))
        self.sock.settimeout(0.1)
        return int(self.sock.getsockname()[1])

    def _send_to(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)

    # -- requests --------------------------------------------------------------------------------
    def _request(self, method: str, cseq: int, body: bytes = b"", branch: str | None = None) -> SipMessage:
        msg = SipMessage(method=method, uri=self.remote_target)
        msg.add("Via", via_value(self.proto, self.host, self.port, branch or _branch()))
        msg.add("Max-Forwards", "70")
        for route in self.route_set:  # in-dialog requests follow the dialog's route set (loose routing)
            msg.add("Route", route)
        msg.add("From", f"<{self.from_uri}>;tag={self.tag}")
        msg.add("To", f"<{self.to_uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else ""))
        msg.add("Call-ID", self.call_id)
        msg.add("CSeq", f"{cseq} {method}")
        msg.add("Contact", f"<{self.contact}>")
        msg.add("User-Agent", "clinic-appliance-bench")
        if body:
            msg.add("Content-Type", "application/sdp")
        msg.body = body
        return msg

    def _send(self, msg: SipMessage) -> None:
        self._send_to(msg.serialize(), self.target)

    def _offer(self) -> bytes:
        return build_sdp(host=self.host, port=self.rtp.port, session_id=secrets.randbelow(10**9), version=1,
                         codecs=[("PCMU", 0)], event_pt=None)

    def invite(self, timeout: float = 15.0) -> float:
        """Place the call; returns time.monotonic() when the 200 OK arrived. CallFailed otherwise."""
        invite = self._request("INVITE", self.cseq, self._offer())
        deadline = time.monotonic() + timeout
        interval, next_send, provisional = T1, 0.0, False
        while True:
            now = time.monotonic()
            if now > deadline:
                raise CallFailed(f"no answer to INVITE within {timeout:.0f} s from {self.target[0]}:{self.target[1]}")
            if not provisional and now >= next_send:
                self._send(invite)
                next_send, interval = (math.inf if self.reliable else now + interval), min(interval * 2, 4.0)
            try:
                resp = self.responses.get(timeout=0.05)
            except queue.Empty:
                continue
            if resp.cseq != (self.cseq, "INVITE"):
                continue
            status = resp.status or 0
            if status < 200:
                provisional = True
                continue
            to = NameAddr.parse(resp.get("To") or "")
            self.remote_tag = to.tag if to and to.tag else ""
            if status < 300:  # the dialog: its remote target and route set, before the ACK uses them
                contact = resp.get_all("Contact")
                na = NameAddr.parse(contact[0]) if contact else None
                if na is not None:
                    self.remote_target = na.uri
                self.route_set = list(reversed(resp.get_all("Record-Route")))  # one entry per route
            self._ack(resp)
            if status >= 300:
                raise CallFailed(f"INVITE answered {status} {resp.reason}")
            answered = time.monotonic()
            try:
                media = parse_sdp(resp.body)
            except SdpError as e:
                raise CallFailed(f"unusable SDP answer: {e}") from None
            if media.codec_name(media.payload_types[0]) != "PCMU":
                raise CallFailed("the far end did not accept PCMU")
            self._start_media(media)
            return answered

    def _start_media(self, media: MediaDescription) -> None:
        self.rtp.start((media.host, media.port))

    def _ack(self, resp: SipMessage) -> None:
        ack = self._request("ACK", self.cseq)
        if (resp.status or 0) >= 300:  # non-2xx ACK: same branch as the INVITE (RFC 3261 §17.1.1.3)
            ack.set("Via", resp.get("Via") or ack.get("Via") or "")
        self._ok = ack.serialize()
        self._send(ack)

    def bye(self, timeout: float = 4.0) -> bool:
        """Hang up (unless the far end already did); True if the BYE was answered."""
        if self.remote_bye.is_set() or not self.remote_tag or self.ended:
            return True
        self.ended = True
        self.cseq += 1
        bye = self._request("BYE", self.cseq)
        deadline = time.monotonic() + timeout
        next_send, interval = 0.0, T1
        while time.monotonic() < deadline and not self.remote_bye.is_set():
            if time.monotonic() >= next_send:
                self._send(bye)
                next_send = math.inf if self.reliable else time.monotonic() + interval
                interval = min(interval * 2, 4.0)
            try:
                resp = self.responses.get(timeout=0.05)
            except queue.Empty:
                continue
            if resp.cseq == (self.cseq, "BYE") and (resp.status or 0) >= 200:
                return True
        return self.remote_bye.is_set()

    def close(self) -> None:
        self._stop.set()
        self.rtp.close()
        self._reader.join(timeout=1)
        self.sock.close()

    # -- the reader thread ----------------------------------------------------------------------
    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self._handle(data, addr)

    def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
        """One SIP message from the far end: a response for `invite`/`bye`, or an in-dialog request."""
        msg = parse(data)
        if not isinstance(msg, SipMessage) or msg.call_id != self.call_id:
            return
        if not msg.is_request:
            if msg.cseq[1] == "INVITE" and (msg.status or 0) // 100 == 2 and self._ok is not None:
                self._send_to(self._ok, addr)  # retransmitted 200: our ACK was lost
            self.responses.put(msg)
            return
        method = msg.method or ""
        if method == "ACK":
            return
        if method == "BYE":
            self.remote_bye.set()
            self._send_to(_response(msg, 200, "OK", self.tag).serialize(), addr)
        elif method == "INVITE":  # re-INVITE: keep our one stream
            resp = _response(msg, 200, "OK", self.tag)
            resp.add("Contact", f"<{self.contact}>")
            resp.add("Content-Type", "application/sdp")
            resp.body = self._offer()
            self._send_to(resp.serialize(), addr)
        elif method in ("OPTIONS", "NOTIFY", "INFO"):
            self._send_to(_response(msg, 200, "OK", self.tag).serialize(), addr)
        else:
            resp = _response(msg, 405, "Method Not Allowed", self.tag)
            resp.add("Allow", "INVITE, ACK, BYE, OPTIONS, NOTIFY, INFO")
            self._send_to(resp.serialize(), addr)
