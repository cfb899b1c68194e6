"""A SIP OPTIONS probe over UDP: does anything at the PBX's address answer SIP?

Blocking, for the `doctor` command (a CLI, not the event loop). Any SIP response with our
Call-ID counts as an answer (200, 404, 407, ...): the point is that a SIP stack is there.
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    answered: bool
    status: str  # the response's status line, or why there was none
    refused: bool = False


def _request(host: str, port: int, local: tuple[str, int], call_id: str, branch: str, tag: str) -> bytes:
    lhost, lport = local
    target = f"[{host}]" if ":" in host else host
    via_host = f"[{lhost}]" if ":" in lhost else lhost
    return (
        f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host}:{lport};branch=z9hG4bK{branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:doctor@{via_host}>;tag={tag}\r\n"
        f"To: <sip:{target}:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:doctor@{via_host}:{lport}>\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: clinic-voice-appliance doctor\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _call_id(data: bytes) -> str | None:
    for raw in data.split(b"\r\n"):
        name, _, value = raw.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip().decode("ascii", "replace")
    return None


def probe(host: str, port: int, timeout: float = 3.0, retries: int = 3) -> ProbeResult:
    """Send OPTIONS (resent `retries` times within `timeout`) and wait for any matching response."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        return ProbeResult(False, f"cannot resolve {host!r}: {e.strerror}")
    family, _, _, _, addr = infos[0]
    call_id = f"{secrets.token_hex(8)}@doctor"
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(addr)
        except OSError as e:
            return ProbeResult(False, f"cannot reach {host}:{port}: {e.strerror}")
        msg = _request(addr[0], port, sock.getsockname()[:2], call_id, secrets.token_hex(6), secrets.token_hex(4))
        deadline = time.monotonic() + timeout
        resend_every = timeout / max(1, retries)
        next_send = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= next_send:
                sock.send(msg)
                next_send = now + resend_every
            sock.settimeout(max(0.01, min(next_send, deadline) - now))
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                return ProbeResult(False, f"{host}:{port} is unreachable (ICMP): nothing listens on that UDP port, "
                                   "or no route to the host", refused=True)
            if data.startswith(b"SIP/2.0 ") and _call_id(data) == call_id:
                line = data.split(b"\r\n", 1)[0].decode("ascii", "replace")
                return ProbeResult(True, line[:80])
    return ProbeResult(False, f"no SIP answer from {host}:{port} within {timeout:g} s")
