"""A scripted SIP caller on a raw UDP socket (127.0.0.1), for tests that need to send exactly the
bytes a broken or hostile peer sends: wrong tags, no ACK, vanishing, bad SDP."""

from __future__ import annotations

import asyncio
import socket

from appliance.telephony.sipmsg import NameAddr, SipMessage, parse

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


class RawCaller:
    def __init__(self, edge_port: int, call_id: str, *, tag: str = "caller1") -> None:
        self.edge = ("127.0.0.1", edge_port)
        self.sock = udp()
        self.rtp = udp()
        self.port = self.sock.getsockname()[1]
        self.call_id = call_id
        self.tag = tag
        self.to = "<sip:100@127.0.0.1>"  # with the edge's tag once answered
        self.cseq = 1
        self.inbox: list[SipMessage] = []  # every message received, in order
        self._n = 0

    def sdp(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        return SDP.format(host=host, port=self.rtp.getsockname()[1] if port is None else port)

    def send(self, method: str, *, cseq: int | None = None, to: str | None = None, from_tag: str | None = None,
             body: str = "", headers: tuple[str, ...] = (), cseq_method: str | None = None) -> None:
        self._n += 1
        ftag = self.tag if from_tag is None else from_tag
        lines = [f"{method} sip:100@127.0.0.1:{self.edge[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{self.call_id}x{self._n}",
                 "From: <sip:5551000@127.0.0.1>" + (f";tag={ftag}" if ftag else ""),
                 f"To: {self.to if to is None else to}", f"Call-ID: {self.call_id}",
                 f"CSeq: {self.cseq if cseq is None else cseq} {cseq_method or method}",
                 f"Contact: <sip:caller@127.0.0.1:{self.port}>", "Max-Forwards: 70", *headers]
        if body:
            lines.append("Content-Type: application/sdp")
        data = "\r\n".join(lines) + f"\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}"
        self.sock.sendto(data.encode(), self.edge)

    async def recv(self, *, status: int | None = None, method: str | None = None, limit_s: float = 5.0,
                   cseq_method: str | None = None) -> SipMessage:
        """The next message with this status (a response) or method (a request from the edge)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(limit_s):
            while True:
                msg = parse(await loop.sock_recv(self.sock, 65535))
                if not msg:
                    continue
                self.inbox.append(msg)
                if cseq_method is not None and msg.cseq[1] != cseq_method:
                    continue
                if (status is not None and msg.status == status) or (method is not None and msg.method == method):
                    return msg

    async def invite(self, *, body: str | None = None, headers: tuple[str, ...] = (), ack: bool = True) -> SipMessage:
        """INVITE; wait for the 200 (and ACK it unless told not to). Returns the 200."""
        self.send("INVITE", body=self.sdp() if body is None else body, headers=headers, to="<sip:100@127.0.0.1>")
        ok = await self.recv(status=200, cseq_method="INVITE")
        self.to = ok.get("To") or self.to
        if ack:
            self.ack()
        return ok

    def ack(self, **kw: object) -> None:
        self.send("ACK", cseq=kw.pop("cseq", self.cseq), **kw)  # type: ignore[arg-type]

    def reply(self, req: SipMessage, status: int = 200, body: str = "") -> None:
        """Answer a request the edge sent (its BYE; its re-INVITE, with an SDP `body`)."""
        lines = [f"SIP/2.0 {status} OK"] + [f"{n}: {v}" for n, v in req.headers
                                            if n in ("Via", "From", "To", "Call-ID", "CSeq")]
        lines.append(f"Contact: <sip:caller@127.0.0.1:{self.port}>")
        if body:
            lines.append("Content-Type: application/sdp")
        data = "\r\n".join(lines) + f"\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}"
        self.sock.sendto(data.encode(), self.edge)

    @property
    def edge_tag(self) -> str:
        na = NameAddr.parse(self.to)
        return (na.tag or "") if na else ""

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()
