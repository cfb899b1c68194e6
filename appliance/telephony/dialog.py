"""A SIP dialog (RFC 3261 §12): the identifiers and route needed to send in-dialog requests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from appliance.telephony.sipmsg import NameAddr, SipMessage, SipUri
from appliance.telephony.transport import Addr


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From (outgoing) / To (incoming) name-addr, without tag
    remote_uri: str
    remote_target: str  # the peer's Contact URI
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    fallback: Addr | None = None  # where the dialog's first request came from
    remote_cseq: int | None = None  # the highest CSeq number the peer has used in this dialog

    def matches(self, msg: SipMessage) -> bool:
        """A request belongs to this dialog (RFC 3261 §12.2.2): same Call-ID, our tag in To, the
        peer's tag in From. (A peer that sent no From tag, RFC 2543 style, must send none again.)"""
        if msg.call_id != self.call_id:
            return False
        to = NameAddr.parse(msg.get("To") or "")
        fr = NameAddr.parse(msg.get("From") or "")
        return (to is not None and fr is not None and bool(self.local_tag) and to.tag == self.local_tag
                and (fr.tag or "") == self.remote_tag)

    def next_hop(self) -> Addr | None:
        """First Route entry, else the remote target; the fallback if it is not an IP address."""
        text = self.route_set[0] if self.route_set else self.remote_target
        na = NameAddr.parse(text)
        uri = SipUri.parse(na.uri if na else text)
        if uri is not None:
            try:
                ipaddress.ip_address(uri.host.strip("[]"))
                return (uri.host.strip("[]"), uri.port or uri.default_port)
            except ValueError:
                pass
        return self.fallback

    def request(self, method: str, *, via: str, contact: str,
                cseq: int | None = None) -> SipMessage:
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        msg = SipMessage(method=method, uri=self.remote_target)
        msg.add("Via", via)
        msg.add("Max-Forwards", "70")
        for r in self.route_set:
            msg.add("Route", r)
        msg.add("From", f"{self.local_uri};tag={self.local_tag}")
        msg.add("To", f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri)
        msg.add("Call-ID", self.call_id)
        msg.add("CSeq", f"{cseq} {method}")
        msg.add("Contact", contact)
        msg.add("User-Agent", "clinic-appliance")
        return msg


def strip_tag(name_addr: str) -> str:
    na = NameAddr.parse(name_addr)
    if na is None:
        return name_addr
    params = {k: v for k, v in na.params.items() if k != "tag"}
    return str(NameAddr(na.display, na.uri, params))
