"""Requests the edge originates: outbound calls (with digest challenges and early media),
in-dialog requests (BYE, INFO, REFER, re-INVITE) and their ACKs.

`OutboundCalls(edge)` is the edge's client side, built by `SipEdge` over `EdgeView`: the few
things it reads from the edge (settings, transport, advertised host and bound port, Contact, the
calls table, its task spawner). It is what a `SipCall` signals through (`appliance.telephony.call.Signalling`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from appliance.calls import CallInfo
from appliance.logs import get_logger, hostile
from appliance.telephony.call import SipCall
from appliance.telephony.dialog import Dialog, strip_tag
from appliance.telephony.digest import authorization, parse_challenge
from appliance.telephony.media import RtpSession
from appliance.telephony.sdp import Negotiated, SdpError, negotiate, offer_sdp, parse_sdp, with_crypto
from appliance.telephony.sipmsg import NameAddr, SipMessage, SipUri
from appliance.telephony.srtp import Crypto, media_security
from appliance.telephony.transport import Addr, ClientTransaction, SipTransport, new_tag

if TYPE_CHECKING:
    from appliance.config import SipSettings

log = get_logger(__name__)
Outcome = Literal["answered", "busy", "no-answer", "rejected", "failed"]


@dataclass
class OutboundCall:
    outcome: Outcome
    status: int | None = None
    call: SipCall | None = None
    early_media: bool = False


def outcome_for(status: int | None) -> Outcome:
    if status is None:
        return "failed"
    if 200 <= status < 300:
        return "answered"
    if status in (486, 600):
        return "busy"
    if status in (408, 480, 487):
        return "no-answer"
    if (400 <= status < 500 and status not in (401, 407)) or 600 <= status < 700:
        return "rejected"
    return "failed"


def parse_hostport(text: str, default_port: int = 5060) -> Addr:
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    return (host, int(port)) if port else (text, default_port)


class EdgeCore(Protocol):
    """What every view of the edge reads: its settings, transport, address and calls table."""

    @property
    def settings(self) -> SipSettings: ...

    @property
    def sip(self) -> SipTransport: ...

    @property
    def host(self) -> str: ...

    @property
    def contact(self) -> str: ...

    @property
    def calls(self) -> dict[str, SipCall]: ...


class EdgeView(EdgeCore, Protocol):
    """What `OutboundCalls` reads from the edge, each time (the port is known once it listens)."""

    @property
    def port(self) -> int: ...

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]: ...


class OutboundCalls:
    """The edge's requests and outbound calls; each call it places goes in the edge's calls table."""

    def __init__(self, edge: EdgeView) -> None:
        self.edge = edge

    @property
    def settings(self) -> SipSettings:
        return self.edge.settings

    @property
    def host(self) -> str:
        return self.edge.host

    @property
    def contact(self) -> str:
        return self.edge.contact

    def forget(self, call: SipCall) -> None:
        """An ended call leaves the calls table."""
        self.edge.calls.pop(call.dialog.call_id, None)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        """A task the edge cancels when it stops (a bridge's watcher)."""
        return self.edge.spawn(coro)

    def proxy(self) -> Addr | None:
        target = self.settings.outbound_proxy or self.settings.registrar
        return parse_hostport(target, self.settings.default_port) if target else None

    def via(self) -> str:
        """A new Via for a request from this edge, naming its transport (UDP or TLS)."""
        return self.edge.sip.via(self.host, self.edge.port)

    def domain(self) -> str:
        p = self.proxy()
        return f"{p[0]}:{p[1]}" if p else self.host

    def password(self) -> str | None:
        f = self.settings.password_file
        return f.read_text(encoding="utf-8").strip() if f and f.is_file() else None

    def target_uri(self, target: str) -> str:
        return target if target.startswith(("sip:", "sips:")) else f"sip:{target}@{self.domain()}"

    def next_hop_for(self, uri: str) -> Addr | None:
        p = self.proxy()
        if p:
            return p
        u = SipUri.parse(uri)
        return (u.host.strip("[]"), u.port or u.default_port) if u else None

    def authorize(self, req: SipMessage, resp: SipMessage) -> bool:
        """Add credentials answering a 401/407 to `req` (new branch, next CSeq); False if we can't."""
        header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        ch = parse_challenge(resp.get(header) or "")
        password = self.password()
        if ch is None or password is None or not self.settings.username:
            return False
        n, method = req.cseq
        req.set("CSeq", f"{n + 1} {method}")
        req.set("Via", self.via())
        req.set("Authorization" if resp.status == 401 else "Proxy-Authorization",
                authorization(ch, username=self.settings.username, password=password, method=method,
                              uri=req.uri or "", cnonce=secrets.token_hex(8)))
        return True

    async def request(self, req: SipMessage, addr: Addr, wait_s: float = 8.0) -> SipMessage | None:
        """Send a non-INVITE request; its final response (after one digest retry), or None."""
        for attempt in range(2):
            tx = self.edge.sip.start_transaction(req, addr)
            try:
                final = None
                deadline = time.monotonic() + wait_s
                while final is None:
                    resp = await asyncio.wait_for(tx.responses.get(), timeout=max(0.01, deadline - time.monotonic()))
                    if (resp.status or 0) >= 200:
                        final = resp
            except TimeoutError:
                return None
            finally:
                self.edge.sip.end_transaction(tx)
            if final.status in (401, 407) and attempt == 0 and self.authorize(req, final):
                continue
            return final
        return None

    async def send_in_dialog(self, call: SipCall, method: str, *, body: bytes = b"",
                             content_type: str | None = None, wait: float = 8.0,
                             headers: tuple[tuple[str, str], ...] = ()) -> SipMessage | None:
        req = call.dialog.request(method, via=self.via(), contact=self.contact)
        for k, v in headers:
            req.add(k, v)
        if content_type:
            req.add("Content-Type", content_type)
        req.body = body
        hop = call.dialog.next_hop()
        if hop is None:
            return None
        return await self.request(req, hop, wait_s=wait)

    def send_ack(self, call: SipCall, cseq: int) -> None:
        ack = call.dialog.request("ACK", via=self.via(), contact=self.contact, cseq=cseq)
        hop = call.dialog.next_hop()
        if hop:
            self.edge.sip.send(ack, hop)

    async def reinvite(self, call: SipCall) -> bool:
        call.session_version += 1
        body = offer_sdp(host=self.host, port=call.media.port, session_id=call.sdp_session,
                         version=call.session_version, direction="sendonly" if call.local_hold else "sendrecv",
                         crypto=self.offer_key(call.media))
        resp = await self.invite_in_dialog(call, body)
        if resp is None or (resp.status or 0) >= 300:
            return False
        neg = self.answered_media(resp.body)
        if neg is not None:
            call.media.set_remote(neg)
            call.media.agree(neg, we_offered=True)
        return True

    def offer_key(self, media: RtpSession) -> Crypto | None:
        """Our SRTP key for an offer ([sip] srtp "required" or "optional"), else None: plain RTP."""
        return media.offer_key() if self.settings.srtp != "off" else None

    def answered_media(self, body: bytes) -> Negotiated | None:
        """The media an SDP answer agrees (with the peer's SRTP key), or None when it is unusable or
        breaks the [sip] srtp policy (plain RTP answered under "required")."""
        try:
            answer = parse_sdp(body)
        except SdpError:
            return None
        neg = negotiate(answer)
        if neg is None:
            return None
        remote, refused = media_security(answer.proto, answer.crypto, self.settings.srtp)
        if refused:
            log.warning("call.sdp_refused", reason=refused)
            return None
        return with_crypto(neg, remote) if remote else neg

    async def invite_in_dialog(self, call: SipCall, body: bytes,
                               headers: tuple[tuple[str, str], ...] = ()) -> SipMessage | None:
        req = call.dialog.request("INVITE", via=self.via(), contact=self.contact)
        for k, v in headers:
            req.add(k, v)
        req.add("Content-Type", "application/sdp")
        req.body = body
        hop = call.dialog.next_hop()
        if hop is None:
            return None
        resp = await self.request(req, hop)
        if resp is not None and (resp.status or 0) // 100 == 2:
            self.send_ack(call, req.cseq[0])
        return resp

    # -- outbound calls ---------------------------------------------------------------------------
    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> OutboundCall:
        uri = self.target_uri(target)
        hop = self.next_hop_for(uri)
        if hop is None:
            return OutboundCall("failed")
        media = RtpSession(lambda pcm: None, lambda d: None)
        try:
            await media.open(self.settings.bind_host, self.settings.rtp_port_min, self.settings.rtp_port_max)
        except OSError:
            return OutboundCall("failed")
        user = self.settings.extension or self.settings.username or "appliance"
        local_uri = f"<sip:{user}@{self.domain()}>"
        dialog = Dialog(call_id=f"{secrets.token_hex(12)}@{self.host}", local_tag=new_tag(), remote_tag="",
                        local_uri=local_uri, remote_uri=f"<{uri}>", remote_target=uri, fallback=hop,
                        local_cseq=0)
        info = CallInfo(call_id=dialog.call_id, direction="outbound",
                        remote_number=(u.user or "") if (u := SipUri.parse(uri)) else target,
                        local_number=user)
        call = SipCall(self, info, dialog, media)
        req = dialog.request("INVITE", via=self.via(), contact=self.contact)
        req.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER")
        req.add("Content-Type", "application/sdp")
        req.body = offer_sdp(host=self.host, port=media.port, session_id=call.sdp_session,
                             crypto=self.offer_key(media))
        self.edge.calls[dialog.call_id] = call
        try:
            result = await self._run_invite(call, req, hop, timeout_s)
        except asyncio.CancelledError:  # the caller stopped waiting (a page acknowledged in the console)
            call.terminated("cancelled")
            log.info("call.outbound", call_id=hostile(dialog.call_id), outcome="cancelled")
            raise
        except Exception:  # noqa: BLE001
            log.exception("call.outbound_failed")
            result = OutboundCall("failed")
        if result.outcome != "answered":
            call.terminated(result.outcome)
        log.info("call.outbound", call_id=hostile(dialog.call_id), outcome=result.outcome, status=result.status)
        return result

    async def _run_invite(self, call: SipCall, req: SipMessage, hop: Addr, timeout_s: float) -> OutboundCall:
        deadline = time.monotonic() + timeout_s
        early = False
        for attempt in range(2):
            tx = self.edge.sip.start_transaction(req, hop)
            provisional = False
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return await self._cancel_invite(req, hop, tx, provisional, early, call)
                    try:
                        resp = await asyncio.wait_for(tx.responses.get(), timeout=min(left, 32.0))
                    except TimeoutError:
                        if time.monotonic() < deadline:
                            return OutboundCall("failed" if not provisional else "no-answer")
                        continue
                    status = resp.status or 0
                    if status < 200:
                        provisional = True
                        if resp.body and self._early_media(call, resp):
                            early = True
                        continue
                    if status < 300:
                        self._confirm(call, resp)
                        self.send_ack(call, req.cseq[0])
                        if self.settings.srtp == "required" and call.media.srtp is None:  # answered in the clear
                            log.warning("call.srtp_refused", call_id=hostile(call.dialog.call_id))
                            await call.release("srtp-refused")
                            return OutboundCall("rejected", 488, None, early)
                        return OutboundCall("answered", status, call, early)
                    self._ack_failure(req, resp, hop)
                    if status in (401, 407) and attempt == 0 and self.authorize(req, resp):
                        call.dialog.local_cseq = req.cseq[0]
                        break
                    return OutboundCall(outcome_for(status), status, None, early)
            except asyncio.CancelledError:  # nobody waits for this call any more: stop the phone ringing
                await asyncio.shield(self._abandon_invite(call, req, hop, tx, provisional, early))
                raise
            finally:
                self.edge.sip.end_transaction(tx)
        return OutboundCall("failed")

    def _early_media(self, call: SipCall, resp: SipMessage) -> bool:
        neg = self.answered_media(resp.body)
        if neg is None:
            return False
        call.media.set_remote(neg)
        call.media.agree(neg, we_offered=True)
        return True

    def _confirm(self, call: SipCall, resp: SipMessage) -> None:
        to = NameAddr.parse(resp.get("To") or "")
        contacts = resp.get_all("Contact")
        contact = NameAddr.parse(contacts[0]) if contacts else None
        call.dialog.remote_tag = (to.tag or "") if to else ""
        if contact:
            call.dialog.remote_target = contact.uri
        call.dialog.route_set = list(reversed(resp.get_all("Record-Route")))
        call.dialog.remote_uri = strip_tag(resp.get("To") or call.dialog.remote_uri)
        if resp.body:
            self._early_media(call, resp)
        call.state = "confirmed"
        call.clock.answered(time.monotonic())
        call.clock.acked_at = call.clock.answered_at  # we ACK at once
        object.__setattr__(call.info, "started_at", time.time())

    def _ack_failure(self, req: SipMessage, resp: SipMessage, hop: Addr) -> None:
        ack = SipMessage(method="ACK", uri=req.uri)
        ack.add("Via", req.get("Via") or "")
        ack.add("Max-Forwards", "70")
        for r in req.get_all("Route"):
            ack.add("Route", r)
        ack.add("From", req.get("From") or "")
        ack.add("To", resp.get("To") or "")
        ack.add("Call-ID", req.call_id)
        ack.add("CSeq", f"{req.cseq[0]} ACK")
        self.edge.sip.send(ack, hop)

    async def _abandon_invite(self, call: SipCall, req: SipMessage, hop: Addr, tx: ClientTransaction,
                              provisional: bool, early: bool) -> None:
        """Give up a call that is still being set up. A CANCEL may only follow a provisional
        response (RFC 3261 §9.1): without one yet, wait briefly for it (or for the final answer)."""
        responses = tx.responses
        if not provisional:
            with contextlib.suppress(TimeoutError):
                resp = await asyncio.wait_for(responses.get(), timeout=2.0)
                status = resp.status or 0
                if status < 200:
                    provisional = True
                elif status < 300:  # answered just now: complete the dialog, then end it
                    await self._answered_too_late(call, req, resp)
                    return
                else:
                    self._ack_failure(req, resp, hop)
                    return
        await self._cancel_invite(req, hop, tx, provisional, early, call)

    async def _answered_too_late(self, call: SipCall, req: SipMessage, resp: SipMessage) -> None:
        """A 2xx for a call nobody waits for: ACK it (or the phone keeps resending it), then BYE."""
        self._confirm(call, resp)
        self.send_ack(call, req.cseq[0])
        await call.release("cancelled")

    async def _cancel_invite(self, req: SipMessage, hop: Addr, tx: ClientTransaction, provisional: bool,
                             early: bool, call: SipCall | None = None) -> OutboundCall:
        if not provisional:  # nothing answered at all: no CANCEL before a provisional (RFC 3261 §9.1)
            return OutboundCall("failed", None, None, early)
        cancel = SipMessage(method="CANCEL", uri=req.uri)
        for name in ("Via", "Route"):
            for v in req.get_all(name) if name == "Route" else [req.get("Via") or ""]:
                cancel.add(name, v)
        cancel.add("Max-Forwards", "70")
        cancel.add("From", req.get("From") or "")
        cancel.add("To", req.get("To") or "")
        cancel.add("Call-ID", req.call_id)
        cancel.add("CSeq", f"{req.cseq[0]} CANCEL")
        self.edge.sip.send(cancel, hop)  # the 200 to CANCEL is a stray response; the INVITE gets 487
        responses = tx.responses
        final: int | None = None  # normally 487; None if the callee never answered the CANCEL
        with contextlib.suppress(TimeoutError):
            while True:
                resp = await asyncio.wait_for(responses.get(), timeout=4.0)
                if (resp.status or 0) >= 200:
                    final = resp.status
                    if (resp.status or 0) >= 300:
                        self._ack_failure(req, resp, hop)
                    elif call is not None:  # the 200 crossed the CANCEL: complete the dialog, then end it
                        await self._answered_too_late(call, req, resp)
                    break
        return OutboundCall("no-answer" if provisional else "failed", final, None, early)
