"""SDP (RFC 4566) for one audio stream and the offer/answer rules (RFC 3264) we need, with SDES (RFC 4568)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

from appliance.telephony.srtp import Crypto

# Codecs this edge speaks, by encoding name: (static payload type, clock rate).
CODECS: dict[str, tuple[int, int]] = {"PCMU": (0, 8000), "PCMA": (8, 8000)}
TELEPHONE_EVENT = "telephone-event"
DEFAULT_EVENT_PT = 101
Direction = str  # "sendrecv" | "sendonly" | "recvonly" | "inactive"
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
MAX_CRYPTO = 16  # usable `a=crypto:` lines kept from one offer; more are ignored


@dataclass
class MediaDescription:
    host: str
    port: int
    payload_types: list[int]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)  # pt -> (NAME, rate)
    direction: Direction = "sendrecv"
    ptime: int | None = None
    proto: str = "RTP/AVP"  # as offered: RTP/AVP, RTP/SAVP, RTP/AVPF or RTP/SAVPF
    crypto: list[Crypto] = field(default_factory=list)  # usable `a=crypto:` lines, offerer's order

    def codec_name(self, pt: int) -> str | None:
        if pt in self.rtpmap:
            return self.rtpmap[pt][0]
        for name, (static, _) in CODECS.items():
            if static == pt:
                return name
        return None


class SdpError(ValueError):
    pass


def _address(addrtype: str, text: str) -> str:
    """A `c=` address: an IPv4 or IPv6 literal of the stated type, never a name (no DNS, ever)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise SdpError("connection address is not an IP address") from None
    if ip.version != (4 if addrtype.upper() == "IP4" else 6):
        raise SdpError("connection address does not match its address type")
    return str(ip)


def parse_sdp(body: bytes | str) -> MediaDescription:
    """The first audio stream of an SDP body; SdpError if there is none usable: no audio, a port
    outside 1..65535 (0: the stream is refused), a `c=` that is missing or not an IP literal."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    session_host: str | None = None
    media: MediaDescription | None = None
    section = "session"  # "session" | "audio" (the first audio stream) | "other"
    session_dir = "sendrecv"
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            if media is not None:
                break  # only the first audio stream matters
            m = re.match(r"^audio\s+([0-9]{1,5})(?:/[0-9]{1,5})?\s+(RTP/S?AVPF?)\s+([0-9 \t]*)$", value)
            section = "audio" if m else "other"
            if m:
                pts = [int(p) for p in m.group(3).split() if len(p) <= 3 and int(p) < 128]
                media = MediaDescription(session_host or "", int(m.group(1)), pts, direction=session_dir,
                                         proto=m.group(2))
        elif kind == "c" and section != "other":
            m = re.match(r"^IN\s+(IP[46])\s+([^\s/]+)", value)
            if not m:
                raise SdpError("unusable connection line")
            host = _address(m.group(1), m.group(2))
            if media is not None:
                media.host = host
            else:
                session_host = host
        elif kind == "a" and section != "other":
            name, _, arg = value.partition(":")
            if name in _DIRECTIONS:
                if media is None:
                    session_dir = name
                else:
                    media.direction = name
            elif media is not None and name == "rtpmap":
                m = re.match(r"^([0-9]{1,3})\s+([\w\-.]+)/([0-9]{1,6})", arg)
                if m:
                    media.rtpmap[int(m.group(1))] = (m.group(2).upper(), int(m.group(3)))
            elif media is not None and name == "ptime" and re.fullmatch(r"[0-9]{1,4}", arg.strip()):
                media.ptime = int(arg)
            elif media is not None and name == "crypto" and len(media.crypto) < MAX_CRYPTO:
                crypto = Crypto.parse(arg)  # None: malformed or not for us (srtp.py), skipped
                if crypto is not None:
                    media.crypto.append(crypto)
    if media is None:
        raise SdpError("no audio stream")
    if not media.host:
        raise SdpError("no connection address")
    if media.port == 0:
        raise SdpError("audio stream rejected (port 0)")
    if not 0 < media.port < 65536:
        raise SdpError("audio port out of range")
    return media


@dataclass(frozen=True)
class Negotiated:
    codec: str  # "PCMU" | "PCMA"
    payload_type: int
    event_pt: int | None
    remote_host: str
    remote_port: int
    remote_direction: Direction  # as the peer described its side
    crypto: Crypto | None = None  # the peer's SRTP key when SRTP was agreed (with_crypto), else plain RTP

    @property
    def on_hold(self) -> bool:
        return self.remote_direction in ("sendonly", "inactive") or self.remote_host in ("0.0.0.0", "::")  # noqa: S104 (RFC 2543 hold)


def negotiate(offer: MediaDescription) -> Negotiated | None:
    """Pick the first offered codec we support (the offerer's preference), plus telephone-event."""
    codec = None
    for pt in offer.payload_types:
        name = offer.codec_name(pt)
        if name in CODECS and (pt not in offer.rtpmap or offer.rtpmap[pt][1] == CODECS[name][1]):
            codec = (name, pt)
            break
    if codec is None:
        return None
    event_pt = next((pt for pt in offer.payload_types
                     if offer.rtpmap.get(pt, ("", 0)) == (TELEPHONE_EVENT.upper(), 8000)), None)
    return Negotiated(codec[0], codec[1], event_pt, offer.host, offer.port, offer.direction)


def with_crypto(neg: Negotiated, crypto: Crypto | None) -> Negotiated:
    """`neg` with the peer's SRTP key (from srtp.media_security), or None for plain RTP."""
    return replace(neg, crypto=crypto)


def answer_direction(remote: Direction, local_hold: bool = False) -> Direction:
    mirrored = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
    d = mirrored.get(remote, "sendrecv")
    if local_hold:
        d = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(d, d)
    return d


def build_sdp(*, host: str, port: int, session_id: int, version: int, codecs: list[tuple[str, int]],
              event_pt: int | None, direction: Direction = "sendrecv", ptime: int = 20,
              crypto: Crypto | None = None) -> bytes:
    """An SDP body for one audio stream. `codecs` is [(NAME, payload type)] in preference order;
    with `crypto` (our SRTP key) the stream is RTP/SAVP and carries its `a=crypto:` line."""
    pts = [pt for _, pt in codecs] + ([event_pt] if event_pt is not None else [])
    lines = [
        "v=0",
        f"o=appliance {session_id} {version} IN IP4 {host}",
        "s=appliance",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} {'RTP/AVP' if crypto is None else 'RTP/SAVP'} {' '.join(str(p) for p in pts)}",
    ]
    lines += [f"a=rtpmap:{pt} {name}/{CODECS[name][1]}" for name, pt in codecs]
    if event_pt is not None:
        lines += [f"a=rtpmap:{event_pt} telephone-event/8000", f"a=fmtp:{event_pt} 0-16"]
    if crypto is not None:
        lines.append(f"a=crypto:{crypto.line()}")
    lines += [f"a=ptime:{ptime}", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def offer_sdp(*, host: str, port: int, session_id: int, version: int = 1, direction: Direction = "sendrecv",
              crypto: Crypto | None = None) -> bytes:
    return build_sdp(host=host, port=port, session_id=session_id, version=version,
                     codecs=[("PCMU", 0), ("PCMA", 8)], event_pt=DEFAULT_EVENT_PT, direction=direction, crypto=crypto)


def answer_sdp(neg: Negotiated, *, host: str, port: int, session_id: int, version: int,
               local_hold: bool = False, crypto: Crypto | None = None) -> bytes:
    """Our answer; `crypto` is our SRTP key, required exactly when the peer's (neg.crypto) is set,
    with the same tag and suite (RFC 4568 §7.1.2): a mismatch is a ValueError, never a silent downgrade."""
    if (crypto is None) != (neg.crypto is None):
        raise ValueError("an SRTP answer needs our key exactly when the peer's was agreed")
    if crypto is not None and neg.crypto is not None and (crypto.tag, crypto.suite) != (neg.crypto.tag, neg.crypto.suite):
        raise ValueError("the answer's crypto line must keep the chosen offer line's tag and suite")
    return build_sdp(host=host, port=port, session_id=session_id, version=version,
                     codecs=[(neg.codec, neg.payload_type)], event_pt=neg.event_pt,
                     direction=answer_direction(neg.remote_direction, local_hold), crypto=crypto)
