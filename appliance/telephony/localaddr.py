"""The address this box gives the PBX in Contact headers, Call-IDs and SDP `c=` lines.

`[sip] advertised_host` when set; else `bind_host` when it is one address; else (a wildcard
bind, `0.0.0.0` or `::`, which no peer can send to) the source address the kernel would use
toward the PBX: the registrar, the outbound proxy, or the allowed sources' networks, in that
order. The route lookup connects a UDP socket, which sends nothing.
"""

from __future__ import annotations

import ipaddress
import socket

from appliance.config import SipSettings
from appliance.errors import ConfigError
from appliance.telephony.outbound import parse_hostport

WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104  (names of a wildcard bind, not a bind)


def source_address_toward(ip: str) -> str | None:
    """The local address the kernel picks to reach `ip` (an IP literal); None without a route."""
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((ip, 9))  # UDP: no packet leaves, only the route is chosen
            local = str(s.getsockname()[0])
    except OSError:
        return None
    return None if local in WILDCARDS else local


def _pbx_addresses(s: SipSettings) -> list[str]:
    """IP literals that stand for the PBX, most specific first."""
    out: list[str] = []
    for text in (s.registrar, s.outbound_proxy):
        if text:
            host, _ = parse_hostport(text.removeprefix("sip:").removeprefix("sips:").split(";")[0])
            try:
                out.append(str(ipaddress.ip_address(host.strip("[]"))))
            except ValueError:
                continue  # a name: the allowed sources still say where the PBX is
    for net in s.allowed_sources:
        n = ipaddress.ip_network(net, strict=False)
        out.append(str(n.network_address if n.num_addresses <= 2 else n.network_address + 1))
    return out


def advertised_host(s: SipSettings) -> str:
    if s.advertised_host:
        return s.advertised_host
    if s.bind_host not in WILDCARDS:
        return s.bind_host
    for ip in _pbx_addresses(s):
        local = source_address_toward(ip)
        if local is not None:
            return local
    raise ConfigError(f"sip: bind_host = {s.bind_host!r} listens on every interface and no route to the PBX "
                      "shows which address it reaches this box at",
                      fix="set [sip] advertised_host to this box's address on the PBX's network")
