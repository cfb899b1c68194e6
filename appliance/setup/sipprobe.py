"""A SIP OPTIONS probe over UDP: does anything at the PBX's address answer SIP?

Blocking, for the `doctor` command (a CLI, not the event loop). Any SIP response with our
Call-ID counts as an answer (200, 404, 407, ...): the point is that a SIP stack is there.
`exchange` (send a request, resend it, wait for its response) also serves the doctor's
REGISTER query (`appliance.telephony.doctor_checks`).
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from appliance.telephony.sipmsg import SipMessage, bracket, new_request, parse


@dataclass(frozen=True)
class ProbeResult:
    answered: bool
    status: str  # the response's status line, or why there was none
    refused: bool = False


def exchange(sock: socket.socket, req: SipMessage, deadline: float, resend_after: Callable[[int], float], *,
             final_only: bool = False, malformed_ok: bool = False) -> SipMessage | Literal["refused", "timeout"]:
    """Send `req` on a connected UDP socket, again `resend_after(n)` seconds after the n-th send,
    until a response with its Call-ID arrives (with `final_only`: a final one to its CSeq) or
    `deadline` passes. `malformed_ok` takes a response the parser faults (a header missing or
    bad) when its status line and Call-ID can be read; otherwise such a datagram is skipped."""
    data = req.serialize()
    sent, next_send = 0, 0.0
    while (now := time.monotonic()) < deadline:
        if now >= next_send:
            sock.send(data)
            next_send = now + resend_after(sent)
            sent += 1
        sock.settimeout(max(0.01, min(next_send, deadline) - now))
        try:
            raw = sock.recv(65535)
        except TimeoutError:
            continue
        except ConnectionRefusedError:
            return "refused"
        parsed = parse(raw)
        msg = parsed if isinstance(parsed, SipMessage) else parsed.partial if malformed_ok else None
        if msg is None or msg.is_request or msg.call_id != req.call_id:
            continue  # not ours, or malformed: keep waiting
        if not final_only or (msg.cseq == req.cseq and (msg.status or 0) >= 200):
            return msg
    return "timeout"


def _options(host: str, port: int, local: tuple[str, int], call_id: str, tag: str) -> SipMessage:
    target = f"sip:{bracket(host)}:{port}"
    me = bracket(local[0])
    req = new_request("OPTIONS", target, via=local, from_uri=f"sip:doctor@{me}", tag=tag, to_uri=target,
                      call_id=call_id, user_agent="clinic-voice-appliance doctor")
    req.add("Contact", f"<sip:doctor@{me}:{local[1]}>")
    req.add("Accept", "application/sdp")
    return req


def probe(host: str, port: int, timeout: float = 3.0, retries: int = 3) -> ProbeResult:
    """Send OPTIONS (resent `retries` times within `timeout`) and wait for any matching response."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        return ProbeResult(False, f"cannot resolve {host!r}: {e.strerror}")
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(addr)
        except OSError as e:
            return ProbeResult(False, f"cannot reach {host}:{port}: {e.strerror}")
        req = _options(str(addr[0]), port, sock.getsockname()[:2], f"{secrets.token_hex(8)}@doctor", secrets.token_hex(4))
        resend_every = timeout / max(1, retries)
        got = exchange(sock, req, time.monotonic() + timeout, lambda _n: resend_every, malformed_ok=True)
    if got == "refused":
        return ProbeResult(False, f"{host}:{port} is unreachable (ICMP): nothing listens on that UDP port, "
                           "or no route to the host", refused=True)
    if isinstance(got, str):
        return ProbeResult(False, f"no SIP answer from {host}:{port} within {timeout:g} s")
    return ProbeResult(True, f"SIP/2.0 {got.status} {got.reason}".strip()[:80])
