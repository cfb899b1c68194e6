"""`appliance doctor` checks owned by the SIP edge: "registration accepted".

The check sends a REGISTER *query* (no Contact header, RFC 3261 §10.2.3) to the configured
registrar with the configured credentials: the registrar authenticates it exactly as it would
the appliance's own REGISTER and answers 200 with the bindings it holds, but nothing is added
or removed, so a running appliance keeps its registration. Only an observed 200 is a pass.

With `[sip] transport = "tls"` the query goes where the edge registers, the same way: over one TLS
connection with the PBX's certificate checked against `tls_ca` and/or its pinned fingerprint
(the PBX's TLS port, 5061 when `registrar` names none), the response framed by Content-Length.
A certificate that fails is named, with the fix; a pass names how the certificate was checked.

Blocking (plain sockets): `doctor` is a command-line tool, not the event loop.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appliance.config import Settings
from appliance.errors import ApplianceError
from appliance.setup.doctor import Check, Result, sip_client_policy
from appliance.setup.sipprobe import TlsPeer, TlsRefused, exchange, tls_connection, tls_exchange
from appliance.telephony.digest import authorization, parse_challenge
from appliance.telephony.localaddr import advertised_host
from appliance.telephony.outbound import parse_hostport
from appliance.telephony.sipmsg import NameAddr, SipMessage, bracket, new_request

if TYPE_CHECKING:
    from appliance.telephony.siptls import TlsPolicy

NAME = "registration"
TIMEOUT_S = 3.0
T1 = 0.5  # the first resend, doubling up to T2 (RFC 3261 §17.1.2.2)
T2 = 4.0


@dataclass
class Answer:
    status: int | None  # the final status, None when nothing answered
    detail: str  # the status line, or why there was none
    contacts: list[str] = field(default_factory=list)
    challenged: bool = False  # we answered a 401/407 with credentials
    refused: bool = False  # ICMP port unreachable (UDP), or no TCP connection (TLS)
    tls: TlsPeer | None = None  # over TLS: the checked connection
    fix: str | None = None  # over TLS: the fix for a connection refused (certificate, port)


def _register(host: str, port: int, local: tuple[str, int], user: str, call_id: str, tag: str,
              cseq: int, transport: str = "UDP") -> SipMessage:
    domain = f"{bracket(host)}:{port}"
    aor = f"sip:{user}@{domain}"
    return new_request("REGISTER", f"sip:{domain}", via=local, from_uri=aor, tag=tag, to_uri=aor, call_id=call_id,
                       cseq=cseq, user_agent="clinic-appliance doctor", transport=transport)


Send = Callable[[SipMessage], SipMessage | Literal["refused", "timeout", "closed"]]


def _query(send: Send, make: Callable[[int], SipMessage], where: str, *, user: str, password: str | None,
           timeout_s: float, tls: TlsPeer | None = None) -> Answer:
    """The query and, when challenged, its retry with credentials, over `send` (UDP or TLS);
    `make(cseq)` builds the REGISTER."""
    req = make(1)
    challenged = False
    for attempt in range(2):
        got = send(req)
        if got == "refused":
            return Answer(None, f"{where} is unreachable (ICMP): nothing listens on that UDP port", refused=True)
        if got == "closed":
            return Answer(None, f"{where} closed the TLS connection without answering the REGISTER",
                          challenged=challenged, tls=tls)
        if isinstance(got, str):
            return Answer(None, f"no answer from {where} within {timeout_s:g} s", challenged=challenged, tls=tls)
        status = got.status or 0
        line = f"{status} {got.reason or ''}".strip()
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        ch = parse_challenge(got.get(header) or "") if status in (401, 407) else None
        if ch is None or attempt == 1 or password is None:
            contacts = [str(na.uri) for c in got.get_all("Contact") if (na := NameAddr.parse(c))]
            return Answer(status, line, contacts, challenged, tls=tls)
        challenged = True
        req = make(2)
        req.add("Authorization" if status == 401 else "Proxy-Authorization",
                authorization(ch, username=user, password=password, method="REGISTER", uri=req.uri or "",
                              cnonce=secrets.token_hex(8)))
    return Answer(None, "no final answer")  # not reached: the loop returns


def query_registration(host: str, port: int, *, user: str, password: str | None,
                       timeout_s: float = TIMEOUT_S) -> Answer:
    """REGISTER without a Contact (a query) over UDP, answered with digest credentials once if challenged."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as e:
        return Answer(None, f"cannot resolve {host!r}: {e.strerror}")
    call_id, tag = f"{secrets.token_hex(10)}@doctor", secrets.token_hex(5)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(addr)
        except OSError as e:
            return Answer(None, f"cannot reach {host}:{port}: {e.strerror}")
        local = sock.getsockname()[:2]
        deadline = time.monotonic() + timeout_s
        return _query(lambda req: exchange(sock, req, deadline, lambda n: min(T1 * 2**n, T2), final_only=True),
                      lambda cseq: _register(str(addr[0]), port, local, user, call_id, tag, cseq),
                      f"{host}:{port}", user=user, password=password, timeout_s=timeout_s)


def query_registration_tls(host: str, port: int, policy: TlsPolicy, ca: Path | None, *, user: str,
                           password: str | None, timeout_s: float = TIMEOUT_S) -> Answer:
    """The same query over one TLS connection checked as the SIP edge checks it (`policy`, `ca`)."""
    call_id, tag = f"{secrets.token_hex(10)}@doctor", secrets.token_hex(5)
    try:
        with tls_connection(host, port, policy, ca, timeout_s) as (conn, peer):
            local = conn.getsockname()[:2]
            deadline = time.monotonic() + timeout_s
            buf = bytearray()
            return _query(lambda req: tls_exchange(conn, req, deadline, final_only=True, buf=buf),
                          lambda cseq: _register(host, port, local, user, call_id, tag, cseq, "TLS"),
                          f"{host}:{port}", user=user, password=password, timeout_s=timeout_s, tls=peer)
    except TlsRefused as e:
        return Answer(None, e.detail, refused=e.kind == "connect", fix=e.fix)


def _fix_for(a: Answer, s: Settings, where: str) -> str:
    sip = s.sip
    if a.fix is not None:
        return a.fix
    if a.status is None and sip.transport == "tls":
        return (f"check the PBX is up, that sip.registrar ({where}) is its address and SIP over TLS port, and "
                "the PBX's SIP log for why the REGISTER was not answered")
    if a.status is None:
        return (f"check the PBX is up and sip.registrar ({where}) is its address and SIP port, and that the "
                f"LAN firewall passes UDP between the PBX and this box ({sip.bind_host})")
    if a.status in (401, 407) or (a.status == 403 and a.challenged):  # many PBXs answer a bad digest 403
        if sip.password_file is None:
            return "the PBX asks for a password: put the extension's SIP secret in a file and set sip.password_file"
        return (f"the PBX rejected the credentials: check sip.username ({sip.username}) and that "
                f"{sip.password_file} holds the extension's SIP secret (one line)")
    if a.status == 403:
        return (f"the PBX forbids this registration: check extension {sip.username} exists, allows "
                f"registration, and accepts this box's address ({sip.bind_host})")
    if a.status == 404:
        return f"the PBX does not know user {sip.username} in domain {where}: check sip.username and sip.registrar"
    return "see the PBX's log for why it refused the REGISTER; check sip.registrar and sip.username"


def check_registration(s: Settings) -> list[Result]:
    sip = s.sip
    if sip.mode != "register":
        return [Result(NAME, "skip", "trunk mode: the appliance does not register (the PBX sends calls to it)")]
    assert sip.registrar and sip.username  # the settings validator requires both in register mode
    host, port = parse_hostport(sip.registrar, sip.default_port)
    where = f"{host}:{port}"
    password = None
    if sip.password_file is not None:
        try:
            password = sip.password_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            return [Result(NAME, "fail", f"cannot read sip.password_file {sip.password_file}: {e.strerror}",
                           "create it with the extension's SIP secret on one line (mode 0600, readable by the "
                           "appliance's user)")]
    note = ""
    if sip.transport == "tls":
        try:
            policy, note = sip_client_policy(s)
        except ApplianceError as e:
            return [Result(NAME, "fail", e.message, e.fix)]
        a = query_registration_tls(host, port, policy, sip.tls_ca, user=sip.username, password=password)
    else:
        a = query_registration(host, port, user=sip.username, password=password)
    over = f" (over {a.tls.describe()})" if a.tls is not None else ""
    if a.status is not None and 200 <= a.status < 300:
        try:
            host_here = advertised_host(sip)
        except ApplianceError:
            host_here = sip.bind_host
        mine = f"sip:{sip.extension or sip.username}@{host_here}:{sip.bind_port}"
        bound = "the appliance is registered now" if any(c.split(";")[0] == mine for c in a.contacts) \
            else "the appliance is not registered at the moment (is it running?)"
        auth = "with the configured password" if a.challenged else "without a challenge"
        return [Result(NAME, "pass", f"{where} accepted a REGISTER for {sip.username} {auth}: {a.detail}{over}; "
                       f"{bound}{note}")]
    return [Result(NAME, "fail", f"REGISTER for {sip.username} at {where}: {a.detail}{over}{note}",
                   _fix_for(a, s, where))]


def doctor_checks() -> list[tuple[str, Check, str | None]]:
    from appliance.setup.voice_probe import NAME as VOICE
    from appliance.setup.voice_probe import check_voice_path

    return [(NAME, check_registration, "pbx"), (VOICE, check_voice_path, NAME)]
