"""The edge's answers to SIPREC recording sessions (RFC 7866): with shadow calls off (the
default), 420 `Unsupported: siprec` (or 488 when the INVITE does not require the extension);
with them on, a listen-only `ShadowCall` answered 200 with one `a=recvonly` port per recorded
side, under the edge's own limits (allowed sources, max calls, session timers, ACK, BYE,
RTP timeout). A malformed body or metadata gets 400 and a log line, never a crash.

It answers on an `AnsweringEdge`: the edge's lines, its ringing INVITEs and its 2xx
retransmission, as for any inbound call."""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from appliance.calls import CallHandler, CallInfo
from appliance.logs import get_logger, hostile, phone
from appliance.telephony.dialog import Dialog, strip_tag
from appliance.telephony.outbound import EdgeCore
from appliance.telephony.sipmsg import ALLOW, NameAddr, SipMessage
from appliance.telephony.siprec.call import ShadowCall, ShadowStream
from appliance.telephony.siprec.metadata import Roles, assign_roles
from appliance.telephony.siprec.offer import (
    OPTION_TAG,
    OfferError,
    RecordingOffer,
    answer_sdp,
    is_recording_session,
    option_tags,
    parse_offer,
)
from appliance.telephony.timers import IntervalTooSmall, SessionTimer, session_headers, session_timer_for
from appliance.telephony.transport import Addr, new_tag, response_for

if TYPE_CHECKING:
    import asyncio

    from appliance.telephony.call import Signalling, SipCall

log = get_logger(__name__)
UNDERSTOOD = {OPTION_TAG, "timer"}


@dataclass
class Answered:
    """What a recording session was answered with (a re-INVITE is answered alike)."""

    offer: RecordingOffer
    ports: list[int]
    roles: Roles


class AnsweringEdge(EdgeCore, Protocol):
    """What answering a recording session takes from the edge."""

    @property
    def outbound(self) -> Signalling: ...

    def lines_full(self) -> bool: ...

    def ring(self, msg: SipMessage, addr: Addr, tag: str) -> None: ...

    def answering(self, call_id: str) -> bool: ...

    def reject_pending(self, call_id: str, status: int) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]: ...

    async def retransmit_ok(self, call: SipCall, ok: SipMessage, addr: Addr) -> None: ...


class SiprecAnswerer:
    def __init__(self, edge: AnsweringEdge, runner: CallHandler | None) -> None:
        self.edge = edge
        self.runner = runner  # the shadow runner; None: shadow calls are off

    def claims(self, msg: SipMessage, addr: Addr) -> bool:
        """Answer `msg` here if it is a recording-session INVITE (True); else it is the edge's."""
        if not is_recording_session(msg):
            return False
        if self.runner is None:
            self._refuse_off(msg, addr)
        else:
            self._invite(msg, addr)
        return True

    def _send(self, msg: SipMessage, addr: Addr, status: int, **headers: str) -> None:
        resp = response_for(msg, status, to_tag=new_tag())
        for name, value in headers.items():
            resp.add(name.replace("_", "-"), value)
        self.edge.sip.send(resp, addr)

    def _refuse_off(self, msg: SipMessage, addr: Addr) -> None:
        required = OPTION_TAG in (t.lower() for t in option_tags(msg, "Require"))
        self.edge.sip.warn("siprec.refused", call_id=hostile(msg.call_id), reason="shadow calls are off ([golive] shadow)")
        if required:
            self._send(msg, addr, 420, Unsupported=OPTION_TAG)
        else:
            self._send(msg, addr, 488)

    def _invite(self, msg: SipMessage, addr: Addr) -> None:
        edge = self.edge
        unknown = [t for t in option_tags(msg, "Require") if t.lower() not in UNDERSTOOD]
        if unknown:
            self._send(msg, addr, 420, Unsupported=", ".join(unknown))
            return
        try:
            timer = session_timer_for(msg, edge.settings.session_min_se_s)
        except IntervalTooSmall as e:
            self._send(msg, addr, 422, Min_SE=str(e.min_se))
            return
        if timer is not None and timer.refresher == "uas":
            timer = None  # the recording client refreshes, or the session has no timer (RFC 4028 §7.2)
        if edge.lines_full():
            log.info("call.busy", max_calls=edge.settings.max_calls, recording=True)
            self._send(msg, addr, 486)
            return
        try:
            if edge.settings.srtp == "required":  # recording streams would be plain RTP on the LAN
                raise OfferError(488, "SRTP required: recording streams are plain RTP")
            offer = self._usable(parse_offer(msg))
        except OfferError as e:
            edge.sip.warn("siprec.offer_refused", call_id=hostile(msg.call_id), status=e.status, reason=e.reason)
            self._send(msg, addr, e.status)
            return
        tag = new_tag()
        edge.sip.send(response_for(msg, 100), addr)
        edge.ring(msg, addr, tag)
        edge.spawn(self._answer(msg, addr, tag, offer, timer))

    def _usable(self, offer: RecordingOffer) -> RecordingOffer:
        """Every accepted stream's address is of the family our RTP sockets can reach."""
        family = ipaddress.ip_address(self.edge.settings.bind_host).version
        for i in offer.accepted:
            neg = offer.sections[i].neg
            if neg is None or ipaddress.ip_address(neg.remote_host).version != family:
                raise OfferError(488, "address family")
        return offer

    async def _answer(self, msg: SipMessage, addr: Addr, tag: str, offer: RecordingOffer,
                      timer: SessionTimer | None) -> None:
        edge, s = self.edge, self.edge.settings
        caller = NameAddr.parse(msg.get("From") or "")
        from_user = (caller.sip_uri.user or "") if caller and caller.sip_uri else ""
        roles = assign_roles([offer.sections[i].label for i in offer.accepted], offer.metadata, from_user)
        streams = [ShadowStream(offer.sections[i].label, role) for i, role in zip(offer.accepted, roles.roles,
                                                                                   strict=True)]
        try:
            for stream in streams:
                await stream.rtp.open(s.bind_host, s.rtp_port_min, s.rtp_port_max)
        except OSError:
            log.error("rtp.no_port", recording=True)
            for stream in streams:
                stream.rtp.close()
            edge.reject_pending(msg.call_id, 503)
            return
        if not edge.answering(msg.call_id):  # cancelled meanwhile
            for stream in streams:
                stream.rtp.close()
            return
        contact = NameAddr.parse(msg.get_all("Contact")[0]) if msg.get_all("Contact") else None
        dialog = Dialog(call_id=msg.call_id, local_tag=tag, remote_tag=caller.tag or "" if caller else "",
                        local_uri=strip_tag(msg.get("To") or ""), remote_uri=strip_tag(msg.get("From") or ""),
                        remote_target=contact.uri if contact else (caller.uri if caller else f"sip:{addr[0]}"),
                        route_set=msg.get_all("Record-Route"), local_cseq=secrets.randbelow(10_000) + 1,
                        fallback=addr, remote_cseq=msg.cseq[0])
        info = CallInfo(call_id=msg.call_id, direction="inbound", remote_number=roles.patient or from_user,
                        local_number=roles.staff, started_at=time.time(),
                        extra={"source": addr[0], "recording": "siprec", "roles": ",".join(roles.roles),
                               "labels": ",".join(st.label for st in streams), "roles_by": roles.how})
        answered = Answered(offer, [st.rtp.port for st in streams], roles)
        assert self.runner is not None
        call = ShadowCall(edge.outbound, info, dialog, streams, self.runner, answered)
        for stream, i in zip(streams, offer.accepted, strict=True):
            neg = offer.sections[i].neg
            assert neg is not None
            stream.rtp.set_remote(neg)
        edge.calls[msg.call_id] = call
        ok = self._ok(msg, tag, call, answered, timer)
        call.state = "confirmed"
        call.ack_cseq = msg.cseq[0]
        call.clock.answered(time.monotonic(), timer)
        log.info("siprec.answered", call_id=hostile(msg.call_id), caller=phone(info.remote_number),
                 streams=len(streams), roles=list(roles.roles), roles_by=roles.how, rtp_ports=answered.ports,
                 metadata=offer.metadata is not None)
        edge.sip.send(ok, addr)
        edge.spawn(edge.retransmit_ok(call, ok, addr))

    def _ok(self, msg: SipMessage, tag: str | None, call: ShadowCall, answered: Answered,
            timer: SessionTimer | None) -> SipMessage:

        ok = response_for(msg, 200, to_tag=tag)
        for rr in msg.get_all("Record-Route") if tag else []:
            ok.add("Record-Route", rr)
        ok.add("Contact", self.edge.contact)
        ok.add("Allow", ALLOW)
        for k, v in session_headers(timer):
            ok.add(k, v)
        ok.add("Content-Type", "application/sdp")
        ok.body = answer_sdp(answered.offer, host=self.edge.host, ports=answered.ports, session_id=call.sdp_session,
                             version=call.session_version)
        return ok

    # -- in-dialog ------------------------------------------------------------------------------
    def reoffer(self, call: SipCall, msg: SipMessage, addr: Addr) -> bool:
        """A re-INVITE or UPDATE in a recording session (new metadata, a moved stream, a session
        refresh): answered here with the same listen-only streams (True); False for other calls.
        An offer that cannot be taken gets 488 and the session keeps its streams."""
        if not isinstance(call, ShadowCall):
            return False
        answered: Answered = call.answer
        offer = answered.offer
        if msg.body:
            try:
                offer = self._usable(parse_offer(msg))
            except OfferError as e:
                self.edge.sip.warn("siprec.offer_refused", call_id=hostile(msg.call_id), status=e.status,
                                   reason=e.reason)
                self.edge.sip.send(response_for(msg, e.status), addr)
                return True
            if len(offer.accepted) != len(call.streams):
                self.edge.sip.send(response_for(msg, 488), addr)
                return True
            for stream, i in zip(call.streams, offer.accepted, strict=True):
                neg = offer.sections[i].neg
                assert neg is not None
                stream.rtp.set_remote(neg)
            call.session_version += 1
            call.answer = answered = Answered(offer, answered.ports, answered.roles)
        try:
            timer = session_timer_for(msg, self.edge.settings.session_min_se_s)
        except IntervalTooSmall as e:
            resp = response_for(msg, 422)
            resp.add("Min-SE", str(e.min_se))
            self.edge.sip.send(resp, addr)
            return True
        if timer is not None and timer.refresher == "uas":
            timer = None
        call.clock.refreshed(time.monotonic(), timer)
        ok = self._ok(msg, None, call, answered, timer)
        if not msg.body and msg.method != "INVITE":
            ok.remove("Content-Type")
            ok.body = b""
        self.edge.sip.send(ok, addr)
        if msg.method == "INVITE":
            call.acked.clear()
            call.ack_cseq = msg.cseq[0]
            self.edge.spawn(self.edge.retransmit_ok(call, ok, addr))
        return True

