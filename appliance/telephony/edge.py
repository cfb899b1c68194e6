"""The SIP edge component: answers calls from the PBX, places calls through it, registers.

`SipEdge(settings, handler)` binds one UDP socket, runs `handler(call)` for every answered
call (each call is an `appliance.calls.CallMedia`), and BYEs every call on `stop()`.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from appliance.calls import CallHandler, CallInfo
from appliance.config import SipSettings
from appliance.logs import get_logger, hostile
from appliance.telephony.call import SipCall
from appliance.telephony.dialog import Dialog, strip_tag
from appliance.telephony.guard import SourceGuard
from appliance.telephony.media import RtpSession
from appliance.telephony.outbound import Outbound
from appliance.telephony.register import Registration
from appliance.telephony.sdp import SdpError, answer_sdp, negotiate, parse_sdp
from appliance.telephony.sipmsg import NameAddr, SipMessage
from appliance.telephony.transport import T1, Addr, SipTransport, new_tag, response_for

log = get_logger(__name__)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER"


class SipEdge(Outbound):
    name = "sip"

    def __init__(self, settings: SipSettings, handler: CallHandler) -> None:
        self.settings = settings
        self.handler = handler
        self.host = settings.advertised_host or settings.bind_host
        self.port = settings.bind_port
        rate = max(20.0, 4.0 * settings.max_calls)  # the PBX sends every call from one address
        self.guard = SourceGuard(settings.allowed_sources, rate_per_s=rate, burst=2 * rate)
        self.sip = SipTransport(self.guard, self._on_request, self._on_stray_response)
        self.calls: dict[str, SipCall] = {}
        self._pending: dict[str, tuple[SipMessage, Addr, str]] = {}  # ringing inbound: call-id -> INVITE
        self._tasks: set[asyncio.Task[object]] = set()
        self.registration: Registration | None = None

    # -- component ------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.sip,
                                                           local_addr=(self.settings.bind_host, self.settings.bind_port))
        self.port = transport.get_extra_info("sockname")[1]
        if self.settings.mode == "register":
            self.registration = Registration(self)
            self.registration.start()
        log.info("sip.listening", host=self.settings.bind_host, port=self.port, mode=self.settings.mode)

    async def stop(self) -> None:
        if self.registration:
            await self.registration.stop()
        calls = list(self.calls.values())
        await asyncio.gather(*(c.release("shutdown") for c in calls), return_exceptions=True)
        for call_id in list(self._pending):
            self._reject_pending(call_id, 503)
        for t in list(self._tasks):
            t.cancel()
        if self.sip.transport:
            self.sip.transport.close()

    def spawn(self, coro: object) -> asyncio.Task[object]:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def contact(self) -> str:
        user = self.settings.extension or self.settings.username or "appliance"
        return f"<sip:{user}@{self.host}:{self.port}>"

    async def send_message(self, target: str, text: str) -> int:
        """A text page (SIP MESSAGE) to an extension through the PBX; the final SIP status."""
        from appliance.telephony.message import send_message

        return await send_message(self, target, text)

    def forget(self, call: SipCall) -> None:
        self.calls.pop(call.dialog.call_id, None)

    # -- dispatch -------------------------------------------------------------------------------
    def _on_request(self, msg: SipMessage, addr: Addr) -> None:
        method = msg.method or ""
        call = self.calls.get(msg.call_id)
        to = NameAddr.parse(msg.get("To") or "")
        in_dialog = bool(to and to.tag)
        if method == "ACK":
            if call:
                call.acked.set()
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
        if method == "INVITE" and not in_dialog:
            if msg.call_id in self._pending or call is not None:
                return  # a retransmission; the transaction layer repeats final answers
            self._invite(msg, addr)
            return
        if call is None or (in_dialog and to is not None and to.tag != call.dialog.local_tag):
            if method in ("BYE", "INFO", "NOTIFY", "INVITE", "REFER", "UPDATE"):
                self.sip.send(response_for(msg, 481), addr)
            else:
                self._not_allowed(msg, addr)
            return
        if method == "BYE":
            self.sip.send(response_for(msg, 200), addr)
            log.info("call.remote_bye", call_id=hostile(msg.call_id))
            call.terminated("remote-bye")
        elif method == "INVITE":
            self._reinvite_in(call, msg, addr)
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

    def _not_allowed(self, msg: SipMessage, addr: Addr) -> None:
        resp = response_for(msg, 405, to_tag=new_tag())
        resp.add("Allow", ALLOW)
        self.sip.send(resp, addr)

    def _on_stray_response(self, msg: SipMessage, addr: Addr) -> None:
        # A retransmitted 2xx to our INVITE (our ACK was lost): ACK it again.
        call = self.calls.get(msg.call_id)
        if call is not None and msg.cseq[1] == "INVITE" and (msg.status or 0) // 100 == 2:
            self.send_ack(call, msg.cseq[0])

    # -- inbound INVITE -------------------------------------------------------------------------
    def _invite(self, msg: SipMessage, addr: Addr) -> None:
        if msg.get("Max-Forwards") == "0":
            self.sip.send(response_for(msg, 483, to_tag=new_tag()), addr)
            return
        require = [r.strip() for r in (msg.get("Require") or "").split(",") if r.strip()]
        if require:
            resp = response_for(msg, 420, to_tag=new_tag())
            resp.add("Unsupported", ", ".join(require))
            self.sip.send(resp, addr)
            return
        if len(self.calls) + len(self._pending) >= self.settings.max_calls:
            log.info("call.busy", max_calls=self.settings.max_calls)
            self.sip.send(response_for(msg, 486, to_tag=new_tag()), addr)
            return
        accept = (msg.get("Accept") or "").lower()
        if accept and "application/sdp" not in accept and "*/*" not in accept:
            self.sip.send(response_for(msg, 406, to_tag=new_tag()), addr)
            return
        ctype = (msg.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype != "application/sdp":
                raise SdpError("no SDP offer")
            neg = negotiate(parse_sdp(msg.body))
        except SdpError:
            neg = None
        if neg is None:
            self.sip.send(response_for(msg, 488, to_tag=new_tag()), addr)
            return
        tag = new_tag()
        self.sip.send(response_for(msg, 100), addr)
        self._pending[msg.call_id] = (msg, addr, tag)
        self.spawn(self._answer(msg, addr, tag, neg))

    def _reject_pending(self, call_id: str, status: int) -> None:
        pending = self._pending.pop(call_id, None)
        if pending:
            msg, addr, tag = pending
            self.sip.send(response_for(msg, status, to_tag=tag), addr)

    def _cancel(self, msg: SipMessage, addr: Addr) -> None:
        if msg.call_id not in self._pending:
            self.sip.send(response_for(msg, 481), addr)
            return
        self.sip.send(response_for(msg, 200), addr)
        self._reject_pending(msg.call_id, 487)
        log.info("call.cancelled", call_id=hostile(msg.call_id))

    async def _answer(self, msg: SipMessage, addr: Addr, tag: str, neg: object) -> None:
        from appliance.telephony.sdp import Negotiated

        assert isinstance(neg, Negotiated)
        media = RtpSession(lambda pcm: None, lambda d: None)
        try:
            await media.open(self.settings.bind_host, self.settings.rtp_port_min, self.settings.rtp_port_max)
        except OSError:
            log.error("rtp.no_port")
            self._reject_pending(msg.call_id, 503)
            return
        ringing = response_for(msg, 180, to_tag=tag)
        for rr in msg.get_all("Record-Route"):  # RFC 3261 §12.1.1: the UAS copies Record-Route
            ringing.add("Record-Route", rr)
        ringing.add("Contact", self.contact)
        self.sip.send(ringing, addr)
        if self.settings.ring_delay_ms:
            await asyncio.sleep(self.settings.ring_delay_ms / 1000)
        if self._pending.pop(msg.call_id, None) is None:  # cancelled while ringing
            media.close()
            return
        caller = NameAddr.parse(msg.get("From") or "")
        contact = NameAddr.parse(msg.get_all("Contact")[0]) if msg.get_all("Contact") else None
        callee = NameAddr.parse(msg.get("To") or "")
        dialog = Dialog(call_id=msg.call_id, local_tag=tag, remote_tag=caller.tag or "" if caller else "",
                        local_uri=strip_tag(msg.get("To") or ""), remote_uri=strip_tag(msg.get("From") or ""),
                        remote_target=contact.uri if contact else (caller.uri if caller else f"sip:{addr[0]}"),
                        route_set=msg.get_all("Record-Route"), local_cseq=secrets.randbelow(10_000) + 1,
                        fallback=addr)
        info = CallInfo(call_id=msg.call_id, direction="inbound",
                        remote_number=(caller.sip_uri.user or "") if caller and caller.sip_uri else "",
                        remote_name=caller.display if caller else None,
                        local_number=(callee.sip_uri.user or "") if callee and callee.sip_uri else "",
                        started_at=time.time())
        call = SipCall(self, info, dialog, media)
        media.set_remote(neg)
        self.calls[msg.call_id] = call
        ok = response_for(msg, 200, to_tag=tag)
        for rr in msg.get_all("Record-Route"):
            ok.add("Record-Route", rr)
        ok.add("Contact", self.contact)
        ok.add("Allow", ALLOW)
        ok.add("Content-Type", "application/sdp")
        ok.body = answer_sdp(neg, host=self.host, port=media.port, session_id=call.sdp_session,
                             version=call.session_version)
        call.state = "confirmed"
        log.info("call.answered", call_id=hostile(msg.call_id), caller=hostile(info.remote_number),
                 codec=neg.codec, rtp_port=media.port)
        self.sip.send(ok, addr)
        self.spawn(self._retransmit_ok(call, ok, addr))
        call.handler_task = self.spawn(self._run_handler(call))  # type: ignore[assignment]

    async def _retransmit_ok(self, call: SipCall, ok: SipMessage, addr: Addr) -> None:
        interval = T1
        for _ in range(10):
            try:
                await asyncio.wait_for(call.acked.wait(), timeout=interval)
                return
            except TimeoutError:
                if call.state == "ended":
                    return
                self.sip.send(ok, addr)
                interval = min(interval * 2, 4.0)
        if not call.acked.is_set():
            log.warning("call.no_ack", call_id=hostile(call.dialog.call_id))
            await call.release("no-ack")

    async def _run_handler(self, call: SipCall) -> None:
        try:
            await self.handler(call)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (a handler bug ends this call, not the edge)
            log.exception("call.handler_failed", call_id=hostile(call.dialog.call_id))
        finally:
            if call.state != "ended":
                await call.hangup("local")

    # -- in-dialog ------------------------------------------------------------------------------
    def _reinvite_in(self, call: SipCall, msg: SipMessage, addr: Addr) -> None:
        try:
            neg = negotiate(parse_sdp(msg.body)) if msg.body else call.media.neg
        except SdpError:
            neg = None
        if neg is None:
            self.sip.send(response_for(msg, 488), addr)
            return
        call.media.set_remote(neg)
        call.session_version += 1
        ok = response_for(msg, 200)
        ok.add("Contact", self.contact)
        ok.add("Content-Type", "application/sdp")
        ok.body = answer_sdp(neg, host=self.host, port=call.media.port, session_id=call.sdp_session,
                             version=call.session_version, local_hold=call.local_hold)
        log.info("call.reinvite", call_id=hostile(call.dialog.call_id), hold=neg.on_hold)
        call.acked.clear()
        self.sip.send(ok, addr)
        self.spawn(self._retransmit_ok(call, ok, addr))

    def _info(self, call: SipCall, msg: SipMessage, addr: Addr) -> None:
        ctype = (msg.get("Content-Type") or "").lower()
        text = msg.body.decode("utf-8", "replace")
        digit = None
        if "dtmf-relay" in ctype:
            for line in text.splitlines():
                k, _, v = line.partition("=")
                if k.strip().lower() == "signal":
                    digit = v.strip()
        elif "application/dtmf" in ctype:
            digit = text.strip()
        self.sip.send(response_for(msg, 200), addr)
        if digit and len(digit) == 1 and digit.upper() in "0123456789*#ABCD":
            call.dtmf_info(digit.upper())
