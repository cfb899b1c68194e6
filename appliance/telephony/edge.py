"""The SIP edge component: answers calls from the PBX, places calls through it, registers.

`SipEdge(settings, handler)` binds one UDP socket, runs `handler(call)` for every answered
call once its ACK arrives (each call is an `appliance.calls.CallMedia`), and BYEs every call on
`stop()`. In-dialog requests must match a dialog on Call-ID and both tags, else 481; a call
whose caller vanishes is ended by the watchdog (`appliance.telephony.watchdog`).

The edge answers; its client side is `self.outbound` (`appliance.telephony.outbound.OutboundCalls`,
built over the edge): outbound calls, in-dialog requests, REGISTER and MESSAGE. The edge's own
methods `place_call`, `send_in_dialog`, `send_message` (and the addressing `send_message` of
`appliance.telephony.message` takes) hand over to it. A caller turned away at `max_calls` is
noted to `on_busy` (`appliance.telephony.missed`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from appliance.calls import CallHandler, CallInfo
from appliance.config import SipSettings
from appliance.errors import ConfigError
from appliance.logs import get_logger, hostile, phone
from appliance.telephony.call import SipCall
from appliance.telephony.dialog import Dialog, strip_tag
from appliance.telephony.dtmf import info_digit
from appliance.telephony.guard import SourceGuard
from appliance.telephony.localaddr import advertised_host
from appliance.telephony.media import RtpSession
from appliance.telephony.missed import turned_away
from appliance.telephony.outbound import OutboundCall, OutboundCalls
from appliance.telephony.register import Registration
from appliance.telephony.sdp import Negotiated, SdpError, answer_sdp, negotiate, parse_sdp, with_crypto
from appliance.telephony.sipmsg import ALLOW, NameAddr, SipMessage
from appliance.telephony.siprec.answer import SiprecAnswerer
from appliance.telephony.siptls import SipTlsTransport, TlsPolicy
from appliance.telephony.srtp import media_security
from appliance.telephony.timers import IntervalTooSmall, SessionTimer, session_headers, session_timer_for
from appliance.telephony.transport import Addr, SipTransport, new_tag, response_for
from appliance.telephony.watchdog import watch_calls

log = get_logger(__name__)
STATS_PERIOD_S = 10.0
SUPPORTED = {"timer"}  # option tags we accept in Require
DIALOG_METHODS = {"BYE", "INFO", "NOTIFY", "INVITE", "REFER", "UPDATE", "PRACK"}  # 481 when no dialog matches


class SipEdge:
    name = "sip"

    def __init__(self, settings: SipSettings, handler: CallHandler, shadow: CallHandler | None = None,
                 tls: TlsPolicy | None = None) -> None:
        self.settings = settings
        self.handler = handler
        self.host = advertised_host(settings)  # Contact, Call-IDs, SDP (a wildcard bind: the route's address)
        self.port = settings.bind_port
        rate = max(20.0, 4.0 * settings.max_calls)  # the PBX sends every call from one address
        self.guard = SourceGuard(settings.allowed_sources, rate_per_s=rate, burst=2 * rate)
        self.sip: SipTransport
        if settings.transport == "tls":
            if tls is None:
                if settings.tls_cert is None or settings.tls_key is None:
                    raise ConfigError('sip: transport = "tls" needs this box\'s certificate',
                                      fix="set sip.tls_cert and sip.tls_key (appliance run uses the console's pair)")
                tls = TlsPolicy.build(settings.tls_cert, settings.tls_key, settings.tls_ca, settings.tls_pbx_sha256)
            self.sip = SipTlsTransport(tls, self.guard, self._on_request, self._on_stray_response)
        else:
            self.sip = SipTransport(self.guard, self._on_request, self._on_stray_response)
        self.calls: dict[str, SipCall] = {}
        self._pending: dict[str, tuple[SipMessage, Addr, str]] = {}  # ringing inbound: call-id -> INVITE
        self._tasks: set[asyncio.Task[object]] = set()
        self.registration: Registration | None = None
        self.on_busy: Callable[[str], None] | None = None  # told each caller turned away at max_calls
        self.outbound = OutboundCalls(self)
        self.siprec = SiprecAnswerer(self, shadow)  # SIPREC recording sessions: shadow calls (None: refused)

    # -- component ------------------------------------------------------------------------------
    async def start(self) -> None:
        if isinstance(self.sip, SipTlsTransport):
            self.port = await self.sip.listen(self.settings.bind_host, self.settings.bind_port)
        else:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self.sip, local_addr=(self.settings.bind_host, self.settings.bind_port))
            self.port = transport.get_extra_info("sockname")[1]
        if self.settings.mode == "register":
            self.registration = Registration(self.outbound)
            self.registration.start()
        self.spawn(watch_calls(self, self.outbound))
        self.spawn(self._report_datagrams())
        log.info("sip.listening", host=self.settings.bind_host, port=self.port, mode=self.settings.mode,
                 transport=self.sip.proto.lower(), srtp=self.settings.srtp)

    async def stop(self) -> None:
        if self.registration:
            await self.registration.stop()
        calls = list(self.calls.values())
        await asyncio.gather(*(c.release("shutdown") for c in calls), return_exceptions=True)
        for call_id in list(self._pending):
            self.reject_pending(call_id, 503)
        for t in list(self._tasks):
            t.cancel()
        self.sip.close()

    async def _report_datagrams(self) -> None:
        """Every STATS_PERIOD_S with SIP traffic: `sip.datagram_stats`, the counters and how long
        handling datagrams held the event loop (which the agent's RTP pacing shares)."""
        while True:
            await asyncio.sleep(STATS_PERIOD_S)
            figures = self.sip.take_stats()
            if figures["datagrams"]:
                log.info("sip.datagram_stats", period_s=STATS_PERIOD_S, **figures)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def contact(self) -> str:
        user = self.settings.extension or self.settings.username or "appliance"
        tls = ";transport=tls" if self.settings.transport == "tls" else ""
        return f"<sip:{user}@{self.host}:{self.port}{tls}>"

    # -- the client side (OutboundCalls) --------------------------------------------------------
    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> OutboundCall:
        return await self.outbound.place_call(target, timeout_s=timeout_s)

    async def send_in_dialog(self, call: SipCall, method: str, *, body: bytes = b"",
                             content_type: str | None = None, wait: float = 8.0,
                             headers: tuple[tuple[str, str], ...] = ()) -> SipMessage | None:
        return await self.outbound.send_in_dialog(call, method, body=body, content_type=content_type, wait=wait,
                                                  headers=headers)

    async def send_message(self, target: str, text: str) -> int:
        """A text page (SIP MESSAGE) to an extension through the PBX; the final SIP status."""
        from appliance.telephony.message import send_message

        return await send_message(self, target, text)

    def target_uri(self, target: str) -> str:
        return self.outbound.target_uri(target)

    def next_hop_for(self, uri: str) -> Addr | None:
        return self.outbound.next_hop_for(uri)

    def domain(self) -> str:
        return self.outbound.domain()

    def via(self) -> str:
        return self.outbound.via()

    async def request(self, req: SipMessage, addr: Addr, wait_s: float = 8.0) -> SipMessage | None:
        return await self.outbound.request(req, addr, wait_s=wait_s)

    # -- lines and ringing INVITEs (the SIPREC answerer's too) -----------------------------------
    def lines_full(self) -> bool:
        """Every line is taken: calls up and calls ringing, against `max_calls`."""
        return len(self.calls) + len(self._pending) >= self.settings.max_calls

    def ring(self, msg: SipMessage, addr: Addr, tag: str) -> None:
        """An INVITE is being answered (100 sent): a CANCEL may still end it, `stop()` answers 503."""
        self._pending[msg.call_id] = (msg, addr, tag)

    def answering(self, call_id: str) -> bool:
        """The ringing INVITE is answered now; False if it was cancelled (or refused) meanwhile."""
        return self._pending.pop(call_id, None) is not None

    # -- dispatch -------------------------------------------------------------------------------
    def _on_request(self, msg: SipMessage, addr: Addr) -> None:
        method = msg.method or ""
        if method == "ACK":
            self._ack(msg)
            return
        if (msg.uri or "").split(":", 1)[0].lower() not in ("sip", "sips", "tel"):
            self.sip.send(response_for(msg, 416, to_tag=new_tag()), addr)
            return
        if method == "CANCEL":
            self._cancel(msg, addr)
            return
        if method == "OPTIONS":
            resp = response_for(msg, 200, to_tag=new_tag())
            resp.add("Allow", ALLOW)
            resp.add("Accept", "application/sdp")
            self.sip.send(resp, addr)
            return
        to = NameAddr.parse(msg.get("To") or "")
        in_dialog = bool(to and to.tag)
        call = self.calls.get(msg.call_id)
        if method == "INVITE" and not in_dialog:
            if msg.call_id in self._pending or call is not None:
                return  # a retransmission; the transaction layer repeats final answers
            self._invite(msg, addr)
            return
        if call is None or not call.dialog.matches(msg):
            if in_dialog or method in DIALOG_METHODS:
                self.sip.warn("sip.no_dialog", method=hostile(method), call_id=hostile(msg.call_id))
                self.sip.send(response_for(msg, 481), addr)
            else:
                self._not_allowed(msg, addr)
            return
        n = msg.cseq[0]
        if call.dialog.remote_cseq is not None and n < call.dialog.remote_cseq:
            self.sip.send(response_for(msg, 500, phrase="Server Internal Error (CSeq out of order)"), addr)
            return
        call.dialog.remote_cseq = n
        if method == "BYE":
            self.sip.send(response_for(msg, 200), addr)
            log.info("call.remote_bye", call_id=hostile(msg.call_id))
            call.terminated("remote-bye")
        elif method in ("INVITE", "UPDATE"):
            self._offer_in_dialog(call, msg, addr)
        elif method == "INFO":
            self._info(call, msg, addr)
        elif method == "NOTIFY":
            self.sip.send(response_for(msg, 200), addr)
            frag = msg.body.decode("utf-8", "replace").strip()
            parts = frag.split(" ")
            if len(parts) >= 2 and parts[0].upper() == "SIP/2.0" and parts[1].isdigit():
                call.notify_frags.put_nowait(int(parts[1]))
        else:
            self._not_allowed(msg, addr)

    def _ack(self, msg: SipMessage) -> None:
        """The ACK of a 2xx we sent (RFC 3261 §13.3.1.4, §17.1.1.3): same dialog, the CSeq of that
        INVITE. Anything else (ACKs of error answers, stale or forged ones) is dropped."""
        call = self.calls.get(msg.call_id)
        if call is None or call.acked.is_set() or not call.dialog.matches(msg) or msg.cseq[0] != call.ack_cseq:
            return
        call.acked.set()
        if call.clock.acked_at is None:
            call.clock.acked_at = time.monotonic()
        if call.handler_task is None and call.state == "confirmed":  # the pipeline starts on the ACK
            call.handler_task = self.spawn(self._run_handler(call))

    def _not_allowed(self, msg: SipMessage, addr: Addr) -> None:
        resp = response_for(msg, 405, to_tag=new_tag())
        resp.add("Allow", ALLOW)
        self.sip.send(resp, addr)

    def _on_stray_response(self, msg: SipMessage, addr: Addr) -> None:
        # A retransmitted 2xx to our INVITE (our ACK was lost): ACK it again.
        call = self.calls.get(msg.call_id)
        if call is not None and msg.cseq[1] == "INVITE" and (msg.status or 0) // 100 == 2:
            self.outbound.send_ack(call, msg.cseq[0])

    # -- inbound INVITE -------------------------------------------------------------------------
    def _invite(self, msg: SipMessage, addr: Addr) -> None:
        if msg.get("Max-Forwards") == "0":
            self.sip.send(response_for(msg, 483, to_tag=new_tag()), addr)
            return
        if self.siprec.claims(msg, addr):  # a recording session (RFC 7866): answered listen-only, or refused
            return
        require = [r.strip() for r in (msg.get("Require") or "").split(",") if r.strip()]
        unsupported = [r for r in require if r.lower() not in SUPPORTED]
        if unsupported:
            resp = response_for(msg, 420, to_tag=new_tag())
            resp.add("Unsupported", ", ".join(unsupported))
            self.sip.send(resp, addr)
            return
        try:
            timer = session_timer_for(msg, self.settings.session_min_se_s)
        except IntervalTooSmall as e:
            resp = response_for(msg, 422, to_tag=new_tag())
            resp.add("Min-SE", str(e.min_se))
            self.sip.send(resp, addr)
            return
        if self.lines_full():
            self.sip.send(response_for(msg, 486, to_tag=new_tag()), addr)
            turned_away(msg, self.settings.max_calls, self.on_busy)  # logged; the caller is called back
            return
        accept = (msg.get("Accept") or "").lower()
        if accept and "application/sdp" not in accept and "*/*" not in accept:
            self.sip.send(response_for(msg, 406, to_tag=new_tag()), addr)
            return
        neg = self._offer(msg)
        if isinstance(neg, str):
            self.sip.warn("call.sdp_refused", call_id=hostile(msg.call_id), reason=neg)
            self.sip.send(response_for(msg, 488, to_tag=new_tag()), addr)
            return
        tag = new_tag()
        self.sip.send(response_for(msg, 100), addr)
        self.ring(msg, addr, tag)
        self.spawn(self._answer(msg, addr, tag, neg, timer))

    def _offer(self, msg: SipMessage) -> Negotiated | str:
        """The media a request's SDP offer asks for, or why it is refused (answer 488): no SDP, a
        bad port or address, no common codec, an address family our RTP socket cannot reach."""
        ctype = (msg.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/sdp":
            return "no SDP offer"
        try:
            offer = parse_sdp(msg.body)
        except SdpError as e:
            return str(e)
        neg = negotiate(offer)
        if neg is None:
            return "no common codec"
        if ipaddress.ip_address(neg.remote_host).version != ipaddress.ip_address(self.settings.bind_host).version:
            return "address family"
        remote, refused = media_security(offer.proto, offer.crypto, self.settings.srtp)  # [sip] srtp policy
        if refused:
            return refused
        return with_crypto(neg, remote) if remote else neg

    def reject_pending(self, call_id: str, status: int) -> None:
        pending = self._pending.pop(call_id, None)
        if pending:
            msg, addr, tag = pending
            self.sip.send(response_for(msg, status, to_tag=tag), addr)

    def _cancel(self, msg: SipMessage, addr: Addr) -> None:
        """CANCEL matches the ringing INVITE (RFC 3261 §9.2): Call-ID, From tag, CSeq number."""
        pending = self._pending.get(msg.call_id)
        invite = pending[0] if pending else None
        if (invite is None or msg.cseq[0] != invite.cseq[0]
                or _from_tag(msg) != _from_tag(invite)):
            self.sip.send(response_for(msg, 481), addr)
            return
        self.sip.send(response_for(msg, 200), addr)
        self.reject_pending(msg.call_id, 487)
        log.info("call.cancelled", call_id=hostile(msg.call_id))

    async def _answer(self, msg: SipMessage, addr: Addr, tag: str, neg: Negotiated,
                      timer: SessionTimer | None) -> None:
        media = RtpSession(lambda pcm: None, lambda d: None)
        try:
            await media.open(self.settings.bind_host, self.settings.rtp_port_min, self.settings.rtp_port_max)
        except OSError:
            log.error("rtp.no_port")
            self.reject_pending(msg.call_id, 503)
            return
        ringing = response_for(msg, 180, to_tag=tag)
        for rr in msg.get_all("Record-Route"):  # RFC 3261 §12.1.1: the UAS copies Record-Route
            ringing.add("Record-Route", rr)
        ringing.add("Contact", self.contact)
        self.sip.send(ringing, addr)
        if self.settings.ring_delay_ms:
            await asyncio.sleep(self.settings.ring_delay_ms / 1000)
        if not self.answering(msg.call_id):  # cancelled while ringing
            media.close()
            return
        caller = NameAddr.parse(msg.get("From") or "")
        contact = NameAddr.parse(msg.get_all("Contact")[0]) if msg.get_all("Contact") else None
        callee = NameAddr.parse(msg.get("To") or "")
        dialog = Dialog(call_id=msg.call_id, local_tag=tag, remote_tag=caller.tag or "" if caller else "",
                        local_uri=strip_tag(msg.get("To") or ""), remote_uri=strip_tag(msg.get("From") or ""),
                        remote_target=contact.uri if contact else (caller.uri if caller else f"sip:{addr[0]}"),
                        route_set=msg.get_all("Record-Route"), local_cseq=secrets.randbelow(10_000) + 1,
                        fallback=addr, remote_cseq=msg.cseq[0])
        info = CallInfo(call_id=msg.call_id, direction="inbound",
                        remote_number=(caller.sip_uri.user or "") if caller and caller.sip_uri else "",
                        remote_name=caller.display if caller else None,
                        local_number=(callee.sip_uri.user or "") if callee and callee.sip_uri else "",
                        started_at=time.time(), extra={"source": addr[0]})  # the SIP peer (test-call gate)
        call = SipCall(self.outbound, info, dialog, media)
        media.set_remote(neg)
        local_key = media.agree(neg, we_offered=False)
        self.calls[msg.call_id] = call
        ok = response_for(msg, 200, to_tag=tag)
        for rr in msg.get_all("Record-Route"):
            ok.add("Record-Route", rr)
        ok.add("Contact", self.contact)
        ok.add("Allow", ALLOW)
        for k, v in session_headers(timer):
            ok.add(k, v)
        ok.add("Content-Type", "application/sdp")
        ok.body = answer_sdp(neg, host=self.host, port=media.port, session_id=call.sdp_session,
                             version=call.session_version, crypto=local_key)
        call.state = "confirmed"
        call.ack_cseq = msg.cseq[0]
        call.clock.answered(time.monotonic(), timer)
        # The caller's number only as a keyed tag (appliance.logs.phone), never in clear.
        log.info("call.answered", call_id=hostile(msg.call_id), caller=phone(info.remote_number), codec=neg.codec,
                 rtp_port=media.port, session_timer=timer.interval if timer else None,
                 transport=self.sip.proto.lower(), srtp=local_key is not None)
        self.sip.send(ok, addr)
        self.spawn(self.retransmit_ok(call, ok, addr))

    async def retransmit_ok(self, call: SipCall, ok: SipMessage, addr: Addr) -> None:
        """Resend the 2xx until its ACK arrives (RFC 3261 §13.3.1.4: T1, doubling up to T2); none
        after 64*T1: end the call with a BYE and free the line."""
        t1 = self.settings.timer_t1_ms / 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 64 * t1
        interval = t1
        while call.state != "ended":
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(call.acked.wait(), timeout=min(interval, left))
                return
            except TimeoutError:
                pass
            if call.state == "ended" or loop.time() >= deadline:
                break
            self.sip.send(ok, addr)
            interval = min(interval * 2, 8 * t1)
        if not call.acked.is_set() and call.state != "ended" and not call.ending:
            call.ending = True
            log.warning("call.timeout", call_id=hostile(call.dialog.call_id), reason="no-ack")
            await call.release("no-ack")

    async def _run_handler(self, call: SipCall) -> None:
        try:
            await getattr(call, "runner", self.handler)(call)  # a recording session has its own
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (a handler bug ends this call, not the edge)
            log.exception("call.handler_failed", call_id=hostile(call.dialog.call_id))
        finally:
            if call.state != "ended":
                await call.hangup("local")

    # -- in-dialog ------------------------------------------------------------------------------
    def _offer_in_dialog(self, call: SipCall, msg: SipMessage, addr: Addr) -> None:
        """re-INVITE or UPDATE: hold/resume/new address, a session refresh (RFC 4028); a bad offer: 488, media kept."""
        if self.siprec.reoffer(call, msg, addr):  # a recording session's streams
            return
        reinvite = msg.method == "INVITE"
        neg: Negotiated | str | None = self._offer(msg) if msg.body else call.media.neg
        if not isinstance(neg, Negotiated):
            self.sip.warn("call.sdp_refused", call_id=hostile(call.dialog.call_id), reason=neg or "no media")
            self.sip.send(response_for(msg, 488), addr)
            return
        try:
            timer = session_timer_for(msg, self.settings.session_min_se_s)
        except IntervalTooSmall as e:
            resp = response_for(msg, 422)
            resp.add("Min-SE", str(e.min_se))
            self.sip.send(resp, addr)
            return
        local_key = call.media.srtp.local if call.media.srtp else None
        if msg.body:
            call.media.set_remote(neg)
            local_key = call.media.agree(neg, we_offered=False)
            call.session_version += 1
        call.clock.refreshed(time.monotonic(), timer)
        ok = response_for(msg, 200)
        ok.add("Contact", self.contact)
        for k, v in session_headers(timer):
            ok.add(k, v)
        if msg.body or reinvite:
            ok.add("Content-Type", "application/sdp")
            ok.body = answer_sdp(neg, host=self.host, port=call.media.port, session_id=call.sdp_session,
                                 version=call.session_version, local_hold=call.local_hold, crypto=local_key)
        log.info("call.reinvite" if reinvite else "call.update", call_id=hostile(call.dialog.call_id),
                 hold=neg.on_hold)
        self.sip.send(ok, addr)
        if reinvite:
            call.acked.clear()
            call.ack_cseq = msg.cseq[0]
            self.spawn(self.retransmit_ok(call, ok, addr))

    def _info(self, call: SipCall, msg: SipMessage, addr: Addr) -> None:
        digit = info_digit(msg.get("Content-Type") or "", msg.body)
        self.sip.send(response_for(msg, 200), addr)
        if digit:
            call.dtmf_info(digit)


def _from_tag(msg: SipMessage) -> str:
    na = NameAddr.parse(msg.get("From") or "")
    return (na.tag or "") if na else ""
