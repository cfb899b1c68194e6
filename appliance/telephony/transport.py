"""SIP over UDP: one socket, the source guard, parsing, retransmission, client transactions.

Requests that pass the guard and parse are handed to `on_request(msg, addr)`; responses are
matched to the client transaction that sent the request (by Via branch and CSeq method).
Malformed requests get 400 when they carry enough to address one; nothing raises out of
`datagram_received`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from appliance.logs import get_logger, hostile
from appliance.telephony.busy import CLOCK, BusyMeter
from appliance.telephony.guard import SourceGuard
from appliance.telephony.ratelog import LogLimiter
from appliance.telephony.sipmsg import MAX_MESSAGE_BYTES, SipMessage, SipParseError, Via, parse, via_value
from appliance.telephony.status import reason

log = get_logger(__name__)
Addr = tuple[str, int]
T1 = 0.5
T2 = 4.0


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(6)


def response_for(req: SipMessage, status: int, *, to_tag: str | None = None, phrase: str | None = None) -> SipMessage:
    resp = SipMessage(status=status, reason=phrase or reason(status))
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for n, v in req.headers:
            if n == name:
                if n == "To" and to_tag and ";tag=" not in v.replace(" ", "") and status != 100:
                    v = f"{v};tag={to_tag}"
                resp.headers.append((n, v))
    resp.add("Server", "clinic-appliance")
    return resp


class ClientTransaction:
    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.responses: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.provisional = asyncio.Event()
        self.final = asyncio.Event()


class SipTransport(asyncio.DatagramProtocol):
    proto = "UDP"  # as Via names it (SipTlsTransport: "TLS")

    def __init__(self, guard: SourceGuard, on_request: Callable[[SipMessage, Addr], None],
                 on_stray_response: Callable[[SipMessage, Addr], None] | None = None,
                 max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.guard = guard
        self.on_request = on_request
        self.on_stray_response = on_stray_response
        self.max_bytes = max_bytes
        self.transport: asyncio.DatagramTransport | None = None
        self.transactions: dict[tuple[str, str], ClientTransaction] = {}
        self._answered: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()  # server-side retransmits
        self._refused_logged: set[str] = set()
        self._logs = LogLimiter()
        self.stats = {"refused": 0, "rate_limited": 0, "malformed": 0, "too_large": 0}
        self.busy = BusyMeter()
        CLOCK.install()

    def via(self, host: str, port: int, branch: str | None = None) -> str:
        """The Via header value of a request this edge sends (RFC 3261 §18.1.1; rport, RFC 3581)."""
        return via_value(self.proto, host, port, branch or new_branch())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def take_stats(self) -> dict[str, float | int]:
        """The counters since start, and the handling-time figures of the period since the last call
        (see `busy.py`)."""
        return {**self.stats, **self.busy.take().as_log()}

    def warn(self, event: str, **fields: object) -> None:
        """A warning a peer can cause: at most a few per event every 10 s."""
        held = self._logs.allow(event, time.monotonic())
        if held is not None:
            log.warning(event, **fields, **({"suppressed": held} if held else {}))

    # -- asyncio protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport is a DatagramTransport

    def error_received(self, exc: Exception) -> None:
        log.debug("sip.socket_error", error=type(exc).__name__)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        start, cpu, collecting = time.perf_counter(), time.thread_time(), CLOCK.spent()
        try:
            self._received(data, addr)
        except Exception:  # noqa: BLE001  (a bad datagram must never take the edge down)
            if self._logs.allow("sip.datagram_failed", time.monotonic()) is not None:
                log.exception("sip.datagram_failed", source=hostile(addr[0]))
        finally:
            # the handler's CPU time, less any garbage collection it happened to start (see busy.py)
            self.busy.add(start, time.thread_time() - cpu, CLOCK.spent() - collecting)

    def _received(self, data: bytes, addr: Addr) -> None:
        why = self.guard.allow(addr[0], time.monotonic())
        if why == "source":
            self.stats["refused"] += 1
            if addr[0] not in self._refused_logged and len(self._refused_logged) < 1000:
                self._refused_logged.add(addr[0])
                log.warning("sip.source_refused", source=hostile(addr[0]))
            return
        if why == "rate":
            self.stats["rate_limited"] += 1
            return
        if not data.strip():
            return  # CRLF keep-alive
        msg = parse(data, self.max_bytes)
        if isinstance(msg, SipParseError):
            too_large = msg.reason == "too large"
            self.stats["too_large" if too_large else "malformed"] += 1
            part = msg.partial
            answer = (part is not None and part.is_request and part.method != "ACK"
                      and all(part.get(h) for h in ("Via", "Call-ID", "CSeq")))
            self.warn("sip.message_too_large" if too_large else "sip.malformed", source=hostile(addr[0]),
                      reason=msg.reason, size=len(data), answered=answer)
            if answer and part is not None:
                status = 513 if too_large else 400
                self.send(response_for(part, status, phrase=None if too_large else f"Bad Request ({msg.reason})"),
                          addr)
            return
        if msg.is_request:
            key = self._server_key(msg)
            if key is not None and key in self._answered and msg.method != "ACK":
                self._sendraw(self._answered[key], addr)  # retransmitted request: repeat our answer
                return
            self.on_request(msg, addr)
        else:
            self._response(msg, addr)

    @staticmethod
    def _server_key(msg: SipMessage) -> tuple[str, str, str] | None:
        via = Via.parse(msg.get("Via") or "")
        if via is None or not via.branch:
            return None
        return (via.branch, msg.cseq[1], msg.call_id)

    def _response(self, msg: SipMessage, addr: Addr) -> None:
        via = Via.parse(msg.get("Via") or "")
        key = (via.branch or "", msg.cseq[1]) if via else ("", "")
        tx = self.transactions.get(key)
        if tx is None:
            if self.on_stray_response:
                self.on_stray_response(msg, addr)
            return
        tx.responses.put_nowait(msg)
        if (msg.status or 0) >= 200:
            tx.final.set()
        else:
            tx.provisional.set()

    # -- sending ---------------------------------------------------------------------------
    def _sendraw(self, data: bytes, addr: Addr) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def send(self, msg: SipMessage, addr: Addr) -> None:
        data = msg.serialize()
        if not msg.is_request and (msg.status or 0) >= 200:
            # remember final answers so retransmitted requests get the same answer
            req_key = self._server_key(msg)
            if req_key is not None:
                self._answered[req_key] = data
                while len(self._answered) > 2000:
                    self._answered.popitem(last=False)
        self._sendraw(data, addr)

    def start_transaction(self, msg: SipMessage, addr: Addr) -> ClientTransaction:
        """Send a request and retransmit it (RFC 3261 §17.1) until a response arrives.
        Read responses from `tx.responses`; call `end_transaction` when done."""
        via = Via.parse(msg.get("Via") or "")
        assert via is not None and via.branch
        tx = ClientTransaction((via.branch, msg.cseq[1]))
        self.transactions[tx.key] = tx
        data = msg.serialize()
        self._sendraw(data, addr)
        asyncio.get_running_loop().create_task(self._retransmit(tx, data, addr, msg.method == "INVITE"))
        return tx

    async def _retransmit(self, tx: ClientTransaction, data: bytes, addr: Addr, invite: bool) -> None:
        interval = T1
        deadline = time.monotonic() + 64 * T1
        while time.monotonic() < deadline and tx.key in self.transactions:
            stop = tx.provisional if invite else tx.final
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                if invite or tx.final.is_set():
                    return
            except TimeoutError:
                pass
            if tx.final.is_set() or tx.key not in self.transactions:
                return
            if tx.provisional.is_set() and invite:
                return
            self._sendraw(data, addr)
            interval = min(interval * 2, T2) if (invite is False or not tx.provisional.is_set()) else T2

    def end_transaction(self, tx: ClientTransaction) -> None:
        self.transactions.pop(tx.key, None)
