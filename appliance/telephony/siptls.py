"""SIP over TLS (RFC 3261 §18, §26.2; TLS 1.2 at least): the UDP edge's message handling over
stream connections.

One listening socket takes connections from the PBX (the source guard applies at accept, and to
every message); a request to an address with no open connection opens one and checks the PBX's
certificate against the configured CA (chain and address) and/or its pinned SHA-256 fingerprint.
A PBX whose certificate fails is refused with `sip.tls_refused`, naming why and the fix. Messages
are framed by Content-Length (§18.3); a connection that sends one without it, or one larger than
the limit, is closed (a stream cannot be resynchronised). A double-CRLF keep-alive (RFC 5626 §3.5.1)
is answered with a single CRLF. Reliable transport: requests are not retransmitted (§17.1.1.2).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ConfigError
from appliance.logs import get_logger, hostile
from appliance.telephony.guard import SourceGuard
from appliance.telephony.sipmsg import MAX_MESSAGE_BYTES, SipMessage, Via
from appliance.telephony.transport import Addr, ClientTransaction, SipTransport

log = get_logger(__name__)
CONNECT_TIMEOUT_S = 5.0
DEFAULT_PORT = 5061  # SIP over TLS (RFC 3261 §19.1.2)
_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*$", re.IGNORECASE | re.MULTILINE)


class FramingError(ValueError):
    pass


def take_message(buf: bytearray, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes | None:
    """The next whole message at the front of a stream buffer (removed from it), or None when more
    bytes are needed; FramingError when the stream cannot go on (no Content-Length, too large).
    Leading CRLFs (keep-alives) are dropped."""
    while buf[:2] == b"\r\n":
        del buf[:2]
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > max_bytes:
            raise FramingError("too large")
        return None
    found = _LENGTH.search(bytes(buf[:end]))
    if found is None:
        raise FramingError("no Content-Length")
    total = end + 4 + int(found.group(1))
    if total > max_bytes:
        raise FramingError("too large")
    if len(buf) < total:
        return None
    message = bytes(buf[:total])
    del buf[:total]
    return message


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class TlsPolicy:
    """The contexts of one edge: `server` (this box's certificate, for connections the PBX opens)
    and `client` (connections this box opens: the PBX's certificate verified against the CA, or
    only pinned), plus the pinned fingerprint when configured."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    pin: str | None

    @classmethod
    def build(cls, cert: Path, key: Path, ca: Path | None, pin: str | None) -> TlsPolicy:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for ctx in (server, client):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(f"{cert}: cannot use it as the SIP TLS certificate with {key}: {e}",
                                  fix="set sip.tls_cert and sip.tls_key to a PEM certificate and its key") from None
        if ca is not None:
            try:
                client.load_verify_locations(cafile=str(ca))
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(f"{ca}: cannot read it as a CA certificate file: {e}",
                                  fix="set sip.tls_ca to the PEM file of the CA that signed the PBX's certificate") from None
        else:  # only the pin decides: checked once the handshake is done
            client.check_hostname = False
            client.verify_mode = ssl.CERT_NONE
        return cls(server, client, pin)


class _Connection(asyncio.Protocol):
    def __init__(self, owner: SipTlsTransport, addr: Addr | None) -> None:
        self.owner = owner
        self.addr = addr  # the address dialled (outgoing), else the peer's, set on accept
        self.outgoing = addr is not None
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's transport
        if not self.outgoing:
            peer = transport.get_extra_info("peername")
            self.addr = (str(peer[0]), int(peer[1]))
        assert self.addr is not None
        self.owner.opened(self)

    def data_received(self, data: bytes) -> None:
        assert self.addr is not None and self.transport is not None
        if not self.buf and data == b"\r\n\r\n":  # RFC 5626 ping: pong
            self.transport.write(b"\r\n")
            return
        self.buf += data
        while True:
            try:
                message = take_message(self.buf, self.owner.max_bytes)
            except FramingError as e:
                self.owner.stats["too_large" if str(e) == "too large" else "malformed"] += 1
                self.owner.warn("sip.tls_framing", source=hostile(self.addr[0]), reason=str(e))
                self.transport.close()
                return
            if message is None:
                return
            self.owner.datagram_received(message, self.addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.closed(self)


class SipTlsTransport(SipTransport):
    proto = "TLS"

    def __init__(self, policy: TlsPolicy, guard: SourceGuard, on_request: Callable[[SipMessage, Addr], None],
                 on_stray_response: Callable[[SipMessage, Addr], None] | None = None,
                 max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        super().__init__(guard, on_request, on_stray_response, max_bytes)
        self.policy = policy
        self.connections: dict[Addr, _Connection] = {}
        self._queued: dict[Addr, list[bytes]] = {}
        self._server: asyncio.Server | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self, None), host, port, ssl=self.policy.server)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for task in list(self._connecting):
            task.cancel()

    # -- connections ----------------------------------------------------------------------------
    def opened(self, conn: _Connection) -> None:
        assert conn.addr is not None and conn.transport is not None
        if not conn.outgoing and self.guard.allow(conn.addr[0], time.monotonic()) == "source":
            self.stats["refused"] += 1
            self.warn("sip.source_refused", source=hostile(conn.addr[0]))
            conn.transport.close()
            return
        if conn.outgoing and self.policy.pin is not None:
            ssl_object = conn.transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            seen = fingerprint(der) if der else "none"
            if seen != self.policy.pin:
                log.error("sip.tls_refused", peer=hostile(f"{conn.addr[0]}:{conn.addr[1]}"),
                          reason=f"the PBX certificate's SHA-256 fingerprint is {seen}, not the pinned one",
                          fix="check the PBX address, or set sip.tls_pbx_sha256 to the PBX's new certificate")
                self._queued.pop(conn.addr, None)
                conn.transport.close()
                return
        self.connections[conn.addr] = conn
        for data in self._queued.pop(conn.addr, []):
            conn.transport.write(data)

    def closed(self, conn: _Connection) -> None:
        if conn.addr is not None and self.connections.get(conn.addr) is conn:
            del self.connections[conn.addr]

    async def _connect(self, addr: Addr) -> None:
        loop = asyncio.get_running_loop()
        ctx = self.policy.client
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await loop.create_connection(lambda: _Connection(self, addr), addr[0], addr[1], ssl=ctx,
                                             server_hostname=addr[0] if ctx.check_hostname else None)
        except ssl.SSLCertVerificationError as e:
            self._queued.pop(addr, None)
            log.error("sip.tls_refused", peer=hostile(f"{addr[0]}:{addr[1]}"),
                      reason=f"the PBX certificate failed verification: {e.verify_message}",
                      fix="set sip.tls_ca to the CA that signed the PBX's certificate (its names must include "
                          "the address in sip.registrar), or pin it with sip.tls_pbx_sha256")
        except (OSError, TimeoutError, ssl.SSLError) as e:
            self._queued.pop(addr, None)
            self.warn("sip.tls_connect_failed", peer=hostile(f"{addr[0]}:{addr[1]}"), error=type(e).__name__,
                      detail=str(e)[:200])

    # -- sending --------------------------------------------------------------------------------
    def send(self, msg: SipMessage, addr: Addr) -> None:
        """A response goes back on its request's connection. When that has closed, the PBX's
        ephemeral port is gone with it: the response opens a connection to the address the request
        came from, at the port of its top Via's sent-by (5061 when it names none; RFC 3261 §18.2.2)."""
        if not msg.is_request and self._open(addr) is None:
            via = Via.parse(msg.get("Via") or "")
            addr = (addr[0], via.port if via is not None and via.port else DEFAULT_PORT)
        super().send(msg, addr)

    def _open(self, addr: Addr) -> asyncio.Transport | None:
        """The open connection to `addr`, if there is one."""
        conn = self.connections.get(addr)
        if conn is None or conn.transport is None or conn.transport.is_closing():
            return None
        return conn.transport

    def _sendraw(self, data: bytes, addr: Addr) -> None:
        transport = self._open(addr)
        if transport is not None:
            transport.write(data)
            return
        queue = self._queued.setdefault(addr, [])
        queue.append(data)
        if len(queue) == 1:
            task = asyncio.get_running_loop().create_task(self._connect(addr))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def start_transaction(self, msg: SipMessage, addr: Addr) -> ClientTransaction:
        """Over a reliable transport a request is sent once (RFC 3261 §17.1.1.2: no Timer A/E)."""
        via = Via.parse(msg.get("Via") or "")
        assert via is not None and via.branch
        tx = ClientTransaction((via.branch, msg.cseq[1]))
        self.transactions[tx.key] = tx
        self._sendraw(msg.serialize(), addr)
        return tx
