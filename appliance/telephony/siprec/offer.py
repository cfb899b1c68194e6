"""A SIPREC recording-session offer (RFC 7866 §6, §8): is this INVITE one, its SDP streams
(each `m=audio` with its `a=label`), its metadata, and the SDP the appliance answers with:
the same m-lines, the first two audio streams accepted `a=recvonly` on a port each, any
other stream refused (port 0). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.telephony.sdp import CODECS, MediaDescription, Negotiated, SdpError, negotiate, parse_sdp
from appliance.telephony.sipmsg import SipMessage
from appliance.telephony.siprec.metadata import MetadataError, RecordingMetadata, parse_metadata
from appliance.telephony.siprec.multipart import MultipartError, Part, media_type, parse_multipart
from appliance.telephony.srtp import is_secure_proto

OPTION_TAG = "siprec"
METADATA_TYPE = "application/rs-metadata+xml"
MAX_STREAMS = 2  # the two sides of a call; a third offered stream is refused (port 0)


def option_tags(msg: SipMessage, header: str) -> list[str]:
    return [t.strip() for v in msg.get_all(header) for t in v.split(",") if t.strip()]


def is_recording_session(msg: SipMessage) -> bool:
    """An INVITE from a recording client: `Require: siprec`, a Contact with the `+sip.src`
    feature tag, or a body part that is recording metadata."""
    if OPTION_TAG in (t.lower() for t in option_tags(msg, "Require")):
        return True
    if any("+sip.src" in c.lower() for c in msg.get_all("Contact")):
        return True
    ctype = msg.get("Content-Type") or ""
    return media_type(ctype).startswith("multipart/") and b"recording-session" in msg.body.lower()


class OfferError(ValueError):
    """Why an offer is refused: `status` 400 (malformed body or metadata) or 488 (no usable media)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Section:
    """One m-line of the offer, as offered."""

    kind: str  # "audio", "video", ...
    proto: str  # "RTP/AVP", ...
    fmt: str  # the format list, as offered (echoed when the stream is refused)
    label: str = ""
    media: MediaDescription | None = None  # audio streams the edge can take
    neg: Negotiated | None = None


@dataclass(frozen=True)
class RecordingOffer:
    sections: tuple[Section, ...]
    metadata: RecordingMetadata | None

    @property
    def accepted(self) -> list[int]:
        """Indexes of the sections answered with a port (the first MAX_STREAMS usable audio streams)."""
        return [i for i, s in enumerate(self.sections) if s.neg is not None][:MAX_STREAMS]


def _bodies(msg: SipMessage) -> tuple[bytes, bytes | None]:
    """(SDP, metadata or None) from an application/sdp or multipart/mixed body."""
    ctype = msg.get("Content-Type") or ""
    kind = media_type(ctype)
    if kind == "application/sdp":
        return msg.body, None
    if not kind.startswith("multipart/"):
        raise OfferError(488, "no SDP offer")
    try:
        parts = parse_multipart(msg.body, ctype)
    except MultipartError as e:
        raise OfferError(400, f"malformed multipart body: {e}") from None
    sdp = [p for p in parts if p.content_type == "application/sdp"]
    meta: list[Part] = [p for p in parts if p.content_type == METADATA_TYPE or p.disposition == "recording-session"]
    if not sdp:
        raise OfferError(488, "no SDP part")
    return sdp[0].body, meta[0].body if meta else None


def _sections(sdp: bytes) -> tuple[list[str], list[list[str]]]:
    """The session-level lines and each m-line's lines."""
    session: list[str] = []
    media: list[list[str]] = []
    for raw in sdp.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        elif line:
            session.append(line)
    return session, media


def _token(text: str, default: str) -> str:
    """A field echoed in the answer (m-line, label) only when it is a plain token (letters, digits, / . - _)."""
    ok = 0 < len(text) <= 32 and all(c.isascii() and (c.isalnum() or c in "/.-_") for c in text)
    return text if ok else default


def _section(session: list[str], lines: list[str]) -> Section:
    head = lines[0][2:].split()
    kind = _token(head[0] if head else "", "audio")
    proto = _token(head[2] if len(head) > 2 else "", "RTP/AVP")
    fmt = " ".join(_token(f, "") for f in head[3:12]).strip() or "0"
    label = _token(next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("a=label:")), ""), "")
    if kind != "audio" or is_secure_proto(proto):  # recording streams are not SRTP-keyed
        return Section(kind, proto, fmt, label)
    try:  # the one-stream SDP parser, on the session lines plus this stream alone
        media = parse_sdp("\r\n".join(session + lines))
    except SdpError:
        return Section(kind, proto, fmt, label)
    return Section(kind, proto, fmt, label, media, negotiate(media))


def parse_offer(msg: SipMessage) -> RecordingOffer:
    """The streams and metadata of a recording-session INVITE; OfferError when refused."""
    sdp, meta_body = _bodies(msg)
    try:
        metadata = parse_metadata(meta_body) if meta_body is not None else None
    except MetadataError as e:
        raise OfferError(400, f"recording metadata refused: {e}") from None
    session, media = _sections(sdp)
    if not media:
        raise OfferError(488, "no media stream")
    if len(media) > 16:
        raise OfferError(488, "too many media streams")
    offer = RecordingOffer(tuple(_section(session, m) for m in media), metadata)
    if not offer.accepted:
        raise OfferError(488, "no usable audio stream (PCMU or PCMA)")
    return offer


def answer_sdp(offer: RecordingOffer, *, host: str, ports: list[int], session_id: int, version: int) -> bytes:
    """The SRS's answer: every offered m-line in order; accepted audio streams `a=recvonly` on
    their own port with the negotiated codec (PCMU when offered) and the offer's label; the
    others refused with port 0 (RFC 3264 §6)."""
    lines = ["v=0", f"o=appliance {session_id} {version} IN IP4 {host}", "s=appliance", f"c=IN IP4 {host}", "t=0 0"]
    accepted = dict(zip(offer.accepted, ports, strict=True))
    for i, s in enumerate(offer.sections):
        if i not in accepted or s.neg is None:
            lines.append(f"m={s.kind} 0 {s.proto} {s.fmt}")
            continue
        lines += [f"m=audio {accepted[i]} RTP/AVP {s.neg.payload_type}",
                  f"a=rtpmap:{s.neg.payload_type} {s.neg.codec}/{CODECS[s.neg.codec][1]}"]
        if s.label:
            lines.append(f"a=label:{s.label}")
        lines += ["a=ptime:20", "a=recvonly"]
    return ("\r\n".join(lines) + "\r\n").encode()
