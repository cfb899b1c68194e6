"""A SIP OPTIONS probe of the PBX, over UDP or over TLS: does a SIP stack answer at its address?

Blocking, for the `doctor` command (a CLI, not the event loop). Any SIP response with our
Call-ID counts as an answer (200, 404, 407, ...): the point is that a SIP stack is there.
`exchange` (send a request, resend it, wait for its response) also serves the doctor's
REGISTER query (`appliance.setup.sip_checks`).

Over TLS (`[sip] transport = "tls"`) the probe opens the connection the SIP edge would open:
TLS 1.2 or later, the PBX's certificate checked against `tls_ca` (chain and address) and/or its
pinned SHA-256 fingerprint (`tls_pbx_sha256`), this box's certificate offered; then the request
goes over that connection once (a reliable transport is not retransmitted) and the response is
framed by its Content-Length. A certificate that fails is named (`TlsRefused`): why, what the
PBX presented, and the fix.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appliance.telephony.sipmsg import SipMessage, bracket, new_request, parse

if TYPE_CHECKING:
    from appliance.telephony.siptls import TlsPolicy


@dataclass(frozen=True)
class ProbeResult:
    answered: bool
    status: str  # the response's status line, or why there was none
    refused: bool = False
    tls: TlsPeer | None = None  # over TLS: the connection the answer came over
    fix: str | None = None  # over TLS: what to do about a connection that failed


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


def _options(host: str, port: int, local: tuple[str, int], call_id: str, tag: str,
             transport: str = "UDP") -> SipMessage:
    target = f"sip:{bracket(host)}:{port}"
    me = bracket(local[0])
    req = new_request("OPTIONS", target, via=local, from_uri=f"sip:doctor@{me}", tag=tag, to_uri=target,
                      call_id=call_id, user_agent="clinic-voice-appliance doctor", transport=transport)
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


# -- SIP over TLS --------------------------------------------------------------------------------

CA_FIX = ("set sip.tls_ca to the PEM file of the CA that signed the PBX's certificate (the certificate's "
          "names must include the address in sip.registrar), or pin the PBX's own certificate with "
          "sip.tls_pbx_sha256 (on the PBX: openssl x509 -noout -fingerprint -sha256 -in pbx.pem)")
PIN_FIX = ("check sip.registrar is the PBX's address; if the PBX's certificate was renewed, set "
           "sip.tls_pbx_sha256 to the new one's fingerprint (on the PBX: openssl x509 -noout -fingerprint "
           "-sha256 -in pbx.pem)")


@dataclass(frozen=True)
class TlsPeer:
    """A TLS connection to the PBX that passed the configured checks."""

    version: str  # "TLSv1.3"
    subject: str  # the PBX certificate's subject
    sha256: str  # its SHA-256 fingerprint (hex, no colons)
    checked: str  # how it was checked, for the doctor's line

    def describe(self) -> str:
        return f"{self.version}, the PBX certificate ({self.subject}) {self.checked}"


class TlsRefused(Exception):
    """No usable TLS connection to the PBX: `kind` is connect | handshake | verify | pin."""

    def __init__(self, kind: str, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.fix = fix


def colons(hexed: str) -> str:
    """A fingerprint as openssl prints it (AB:CD:...)."""
    return ":".join(hexed[i:i + 2] for i in range(0, len(hexed), 2)).upper()


def _certificate(der: bytes) -> tuple[str, str]:
    from cryptography import x509

    from appliance.telephony.siptls import fingerprint

    try:
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string() or "no subject"
    except ValueError:
        subject = "an unreadable certificate"
    return subject, fingerprint(der)


def _presented(host: str, port: int, timeout: float) -> str:
    """What the PBX presents, read without checking it (only to name it in a refusal)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return ""
    if not der:
        return ""
    subject, sha = _certificate(der)
    return f"; it presents {subject}, SHA-256 {colons(sha)}"


@contextmanager
def tls_connection(host: str, port: int, policy: TlsPolicy, ca: Path | None,
                   timeout: float = 3.0) -> Iterator[tuple[ssl.SSLSocket, TlsPeer]]:
    """A TLS connection to the PBX checked as the SIP edge checks it (`policy.client`: the CA
    and the address when `ca` is set; `policy.pin`: the fingerprint); TlsRefused otherwise."""
    where = f"{host}:{port}"
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise TlsRefused("connect", f"no TCP connection to {where} within {timeout:g} s",
                         f"check the PBX is up, that it takes SIP over TLS on port {port} (usually 5061), and "
                         f"that the LAN firewall passes TCP {port} from this box to the PBX") from None
    except OSError as e:
        raise TlsRefused("connect", f"cannot connect to {where} over TCP: {e.strerror or e}",
                         f"check the PBX takes SIP over TLS on port {port} (usually 5061; Asterisk: a "
                         "transport-tls transport), the address and port in sip.registrar, and that the LAN "
                         f"firewall passes TCP {port}") from None
    ctx = policy.client
    try:
        conn = ctx.wrap_socket(raw, server_hostname=host if ctx.check_hostname else None)
    except ssl.SSLCertVerificationError as e:
        raw.close()
        raise TlsRefused("verify", f"the PBX certificate failed verification at {where}: {e.verify_message}"
                         f"{_presented(host, port, timeout)}", CA_FIX) from None
    except (OSError, ssl.SSLError) as e:
        raw.close()
        reason = getattr(e, "reason", None) or str(e) or type(e).__name__
        raise TlsRefused("handshake", f"the TLS handshake with {where} failed: {reason}",
                         f"check that port {port} is the PBX's TLS port (usually 5061, not its UDP port 5060) "
                         "and that the PBX allows TLS 1.2 or later") from None
    try:
        der = conn.getpeercert(binary_form=True) or b""
        subject, seen = _certificate(der) if der else ("no certificate", "none")
        checks = []
        if ctx.verify_mode == ssl.CERT_REQUIRED:
            checks.append(f"verified against {ca} (chain and address)")
        if policy.pin is not None:
            if seen != policy.pin:
                raise TlsRefused("pin", f"the PBX certificate at {where} ({subject}) has the SHA-256 fingerprint "
                                 f"{colons(seen) if der else 'none'}, not the pinned {colons(policy.pin)}",
                                 PIN_FIX)
            checks.append("matches the pinned SHA-256")
        yield conn, TlsPeer(conn.version() or "TLS", subject, seen, " and ".join(checks))
    finally:
        conn.close()


def tls_exchange(conn: ssl.SSLSocket, req: SipMessage, deadline: float, *, final_only: bool = False,
                 buf: bytearray | None = None) -> SipMessage | Literal["timeout", "closed"]:
    """Send `req` once on a TLS connection and read messages, framed by Content-Length, until a
    response with its Call-ID (with `final_only`: a final one to its CSeq), the deadline, or the
    PBX closing the connection. `buf` carries bytes read past one response to the next call."""
    from appliance.telephony.siptls import FramingError, take_message

    buf = bytearray() if buf is None else buf
    conn.sendall(req.serialize())
    while True:
        try:
            raw = take_message(buf)
        except FramingError:
            return "closed"  # a stream that cannot be framed cannot go on
        if raw is not None:
            msg = parse(raw)
            if isinstance(msg, SipMessage) and not msg.is_request and msg.call_id == req.call_id and (
                    not final_only or (msg.cseq == req.cseq and (msg.status or 0) >= 200)):
                return msg
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        conn.settimeout(left)
        try:
            data = conn.recv(65535)
        except TimeoutError:
            return "timeout"
        except (OSError, ssl.SSLError):
            return "closed"
        if not data:
            return "closed"
        buf += data


def probe_tls(host: str, port: int, policy: TlsPolicy, ca: Path | None, timeout: float = 3.0) -> ProbeResult:
    """OPTIONS over a checked TLS connection; `fix` says what to do when there was no answer."""
    try:
        with tls_connection(host, port, policy, ca, timeout) as (conn, peer):
            local = conn.getsockname()[:2]
            req = _options(host, port, local, f"{secrets.token_hex(8)}@doctor", secrets.token_hex(4), "TLS")
            req.set("Contact", f"<sip:doctor@{bracket(local[0])}:{local[1]};transport=tls>")
            got = tls_exchange(conn, req, time.monotonic() + timeout)
    except TlsRefused as e:
        return ProbeResult(False, e.detail, refused=e.kind == "connect", fix=e.fix)
    if isinstance(got, str):
        why = "closed the connection" if got == "closed" else f"sent no SIP answer within {timeout:g} s"
        return ProbeResult(False, f"{host}:{port} ({peer.describe()}) {why}", tls=peer,
                           fix="check the PBX's SIP log: the TLS connection was accepted, the OPTIONS was not answered")
    return ProbeResult(True, f"SIP/2.0 {got.status} {got.reason}".strip()[:80], tls=peer)
