"""SIP MESSAGE (RFC 3428): short text pages to desk phones through the PBX, sent through a
`Sender` (the `SipEdge`, or its `OutboundCalls`)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Protocol

from appliance.logs import get_logger, hostile
from appliance.telephony.sipmsg import SipMessage, SipUri
from appliance.telephony.transport import new_tag

if TYPE_CHECKING:
    from appliance.config import SipSettings
    from appliance.telephony.transport import Addr

log = get_logger(__name__)
MAX_TEXT_BYTES = 1300  # RFC 3428 §7: a MESSAGE over UDP stays under 1300 bytes of body
TIMEOUT_STATUS = 408  # no final response: a client transaction timeout (RFC 3261 §8.1.3.1)


class Sender(Protocol):
    @property
    def settings(self) -> SipSettings: ...

    @property
    def host(self) -> str: ...

    def target_uri(self, target: str) -> str: ...

    def next_hop_for(self, uri: str) -> Addr | None: ...

    def domain(self) -> str: ...

    def via(self) -> str: ...

    async def request(self, req: SipMessage, addr: Addr, wait_s: float = 8.0) -> SipMessage | None: ...


async def send_message(edge: Sender, target: str, text: str, *, wait_s: float = 8.0,
                       headers: dict[str, str] | None = None) -> int:
    """Send `text` (UTF-8 text/plain) to an extension or SIP URI; the final status (408 if none).
    `headers`: extra header fields (e.g. an idempotency key for the PBX's SMS gateway).

    ValueError for empty text or text over 1300 bytes (split longer pages, or send a summary).
    """
    body = text.encode("utf-8")
    if not body.strip():
        raise ValueError("the message text is empty")
    if len(body) > MAX_TEXT_BYTES:
        raise ValueError(f"the message is {len(body)} bytes; SIP MESSAGE over UDP allows {MAX_TEXT_BYTES}")
    uri = edge.target_uri(target)
    if SipUri.parse(uri) is None:
        raise ValueError(f"not an extension or SIP URI: {target!r}")
    hop = edge.next_hop_for(uri)
    if hop is None:
        raise ValueError(f"no route to {target!r}: set sip.outbound_proxy or sip.registrar")
    user = edge.settings.extension or edge.settings.username or "appliance"
    req = SipMessage(method="MESSAGE", uri=uri)
    req.add("Via", edge.via())
    req.add("Max-Forwards", "70")
    req.add("From", f"<sip:{user}@{edge.domain()}>;tag={new_tag()}")
    req.add("To", f"<{uri}>")
    req.add("Call-ID", f"{secrets.token_hex(12)}@{edge.host}")
    req.add("CSeq", "1 MESSAGE")
    req.add("User-Agent", "clinic-appliance")
    for name, value in (headers or {}).items():
        req.add(name, value)
    req.add("Content-Type", "text/plain;charset=UTF-8")
    req.body = body
    resp = await edge.request(req, hop, wait_s=wait_s)
    status = (resp.status or TIMEOUT_STATUS) if resp is not None else TIMEOUT_STATUS
    log.info("sip.message_sent", target=hostile(target), status=status, size=len(body))  # never the text: PHI
    return status
