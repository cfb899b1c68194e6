"""A response over TLS whose request's connection has closed (RFC 3261 §18.2.2): it goes to the
address the request came from, at the port of its Via's sent-by, on a new connection that checks
the PBX's certificate; never to the closed connection's ephemeral port. Real TLS on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from appliance.telephony.guard import SourceGuard
from appliance.telephony.sipmsg import SipMessage, parse
from appliance.telephony.siptls import SipTlsTransport, TlsPolicy, take_message
from appliance.telephony.transport import Addr, response_for
from tests.telephony.tlspeers import Certs, make_certs


def options(via_port: int | None) -> bytes:
    sent_by = "127.0.0.1" if via_port is None else f"127.0.0.1:{via_port}"
    return (f"OPTIONS sip:2100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {sent_by};branch=z9hG4bK-route-{via_port}\r\n"
            "From: <sip:pbx@127.0.0.1>;tag=p1\r\nTo: <sip:2100@127.0.0.1>\r\nCall-ID: route-test\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


class PbxListener:
    """The PBX's own TLS port: collects the messages that arrive on connections to it."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while data := await reader.read(65536):
            buf += data
            while (msg := take_message(buf)) is not None:
                self.messages.put_nowait(msg)
        writer.close()


async def serve_pbx(certs: Certs) -> tuple[asyncio.Server, PbxListener, int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs.pbx.cert, certs.pbx.key)
    pbx = PbxListener()
    server = await asyncio.start_server(pbx.handle, "127.0.0.1", 0, ssl=ctx)
    return server, pbx, int(server.sockets[0].getsockname()[1])


async def request_then_hang_up(certs: Certs, box_port: int, data: bytes) -> None:
    """The PBX opens a connection to the box from an ephemeral port, sends one request, closes."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    _reader, writer = await asyncio.open_connection("127.0.0.1", box_port, ssl=ctx)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def peers(tmp_path: Path) -> tuple[Certs, asyncio.Server, PbxListener, int, SipTlsTransport, int,
                                         asyncio.Queue[tuple[SipMessage, Addr]]]:
    """The PBX's TLS listener and the box's SIP over TLS transport (the requests it receives queued)."""
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    server, pbx, pbx_port = await serve_pbx(certs)
    got: asyncio.Queue[tuple[SipMessage, Addr]] = asyncio.Queue()
    box = SipTlsTransport(TlsPolicy.build(certs.box.cert, certs.box.key, certs.ca, None), SourceGuard(["127.0.0.1"]),
                          lambda msg, addr: got.put_nowait((msg, addr)))
    return certs, server, pbx, pbx_port, box, await box.listen("127.0.0.1", 0), got


async def test_a_response_after_the_connection_closed_goes_to_the_via_sent_by_port(tmp_path: Path) -> None:
    certs, server, pbx, pbx_port, box, box_port, got = await peers(tmp_path)
    try:
        await request_then_hang_up(certs, box_port, options(pbx_port))
        req, source = await asyncio.wait_for(got.get(), 10)
        assert source[1] != pbx_port  # it came from the PBX's ephemeral port ...
        for _ in range(100):  # ... on a connection the PBX has closed by now
            if source not in box.connections:
                break
            await asyncio.sleep(0.05)
        assert source not in box.connections
        box.send(response_for(req, 200), source)
        answer = parse(await asyncio.wait_for(pbx.messages.get(), 10))
        assert isinstance(answer, SipMessage) and answer.status == 200 and answer.call_id == "route-test"
        assert ("127.0.0.1", pbx_port) in box.connections  # a new connection to the sent-by port
    finally:
        box.close()
        server.close()


async def test_while_the_connection_is_open_the_response_goes_back_on_it(tmp_path: Path) -> None:
    certs, server, pbx, pbx_port, box, box_port, got = await peers(tmp_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", box_port,
                                                   ssl=ssl.create_default_context(cafile=str(certs.ca)))
    try:
        writer.write(options(pbx_port))
        await writer.drain()
        req, source = await asyncio.wait_for(got.get(), 10)
        box.send(response_for(req, 200), source)
        buf = bytearray()
        while (raw := take_message(buf)) is None:
            buf += await asyncio.wait_for(reader.read(65536), 10)
        answer = parse(raw)
        assert isinstance(answer, SipMessage) and answer.status == 200
        assert pbx.messages.empty() and ("127.0.0.1", pbx_port) not in box.connections
    finally:
        writer.close()
        box.close()
        server.close()
