"""SIP message parsing and serialisation (RFC 3261 §7, §20, §25), pure and bounded.

`parse(data)` never raises: it returns a `SipMessage` or a `SipParseError` that says why,
and carries whatever it could read (so the caller can still answer 400 to a request that
had a usable Via/From/To/Call-ID/CSeq). Every string in a parsed message is caller-controlled.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 16_384
MAX_HEADERS = 120

COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "r": "Refer-To", "b": "Referred-By", "o": "Event", "u": "Allow-Events", "x": "Session-Expires",
}
CANONICAL = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length", "Content-Type",
    "Route", "Record-Route", "Authorization", "Proxy-Authorization", "WWW-Authenticate",
    "Proxy-Authenticate", "Expires", "Allow", "Supported", "Require", "User-Agent", "Server",
    "Refer-To", "Referred-By", "Replaces", "Event", "Subscription-State", "Accept", "Subject",
    "Content-Encoding", "Unsupported", "Reason", "Min-Expires", "Retry-After", "Allow-Events",
    "Session-Expires",
)}
# Headers whose values may be comma-separated lists of one syntactic element each.
LIST_HEADERS = {"Via", "Route", "Record-Route", "Contact"}
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_SIP_VERSION = re.compile(r"^SIP/2\.0$", re.IGNORECASE)


class SipParseError:
    """Why a datagram is not a usable SIP message. Falsy, so `if msg:` tests success."""

    def __init__(self, reason: str, partial: SipMessage | None = None) -> None:
        self.reason = reason
        self.partial = partial

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"SipParseError({self.reason!r})"


@dataclass
class SipMessage:
    method: str | None = None  # requests
    uri: str | None = None
    status: int | None = None  # responses
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical(name)
        for n, v in self.headers:
            if n == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = canonical(name)
        out: list[str] = []
        for n, v in self.headers:
            if n == name:
                out.extend(split_list(v) if name in LIST_HEADERS else [v])
        return out

    def set(self, name: str, value: str) -> None:
        name = canonical(name)
        self.headers = [(n, v) for n, v in self.headers if n != name]
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    def remove(self, name: str) -> None:
        name = canonical(name)
        self.headers = [(n, v) for n, v in self.headers if n != name]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("CSeq") or "") or (0, "")

    def serialize(self) -> bytes:
        if self.is_request:
            first = f"{self.method} {self.uri} SIP/2.0"
        else:
            first = f"SIP/2.0 {self.status} {self.reason}"
        lines = [first]
        lines += [f"{n}: {v}" for n, v in self.headers if n != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + self.body


def bracket(host: str) -> str:
    """A host as a SIP URI or Via writes it: an IPv6 address in brackets (RFC 3261 §25.1)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def new_request(method: str, uri: str, *, via: tuple[str, int], from_uri: str, tag: str, to_uri: str,
                call_id: str, cseq: int = 1, user_agent: str | None = None, branch: str | None = None) -> SipMessage:
    """An out-of-dialog request with the headers every request carries (RFC 3261 §8.1.1): Via
    (UDP from `via`, asking for rport; a new branch unless one is given), Max-Forwards, From
    with its tag, To, Call-ID and CSeq, then User-Agent when given. URIs are bare (no <>);
    the caller adds the rest (Contact, Expires, credentials)."""
    req = SipMessage(method=method, uri=uri)
    branch = branch or "z9hG4bK" + secrets.token_hex(10)
    req.add("Via", f"SIP/2.0/UDP {bracket(via[0])}:{via[1]};branch={branch};rport")
    req.add("Max-Forwards", "70")
    req.add("From", f"<{from_uri}>;tag={tag}")
    req.add("To", f"<{to_uri}>")
    req.add("Call-ID", call_id)
    req.add("CSeq", f"{cseq} {method}")
    if user_agent:
        req.add("User-Agent", user_agent)
    return req


def canonical(name: str) -> str:
    n = name.strip()
    low = n.lower()
    if low in COMPACT:
        return COMPACT[low]
    return CANONICAL.get(low, n)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>."""
    out: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quoted and angle == 0:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf).strip())
    return [x for x in out if x]


def parse_cseq(value: str) -> tuple[int, str] | None:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN.match(parts[1]):
        return None
    n = int(parts[0])
    if n >= 2**31:
        return None
    return n, parts[1]


def _unfold(head: str) -> list[str]:
    lines: list[str] = []
    for line in head.split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def _start_line(line: str, msg: SipMessage) -> str | None:
    if line.upper().startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or not _SIP_VERSION.match(parts[0]):
            return "bad status line"
        if not (len(parts[1]) == 3 and parts[1].isdigit()) or not 100 <= int(parts[1]) <= 699:
            return "bad status code"
        msg.status = int(parts[1])
        msg.reason = parts[2] if len(parts) > 2 else ""
        return None
    parts = line.split(" ")
    if len(parts) != 3:
        return "bad request line"
    method, uri, version = parts
    if not _TOKEN.match(method):
        return "bad method"
    if not _SIP_VERSION.match(version):
        return "unsupported SIP version"
    if not re.match(r"^[A-Za-z][A-Za-z0-9+\-.]*:\S+$", uri) or "?" in uri.partition(";")[0].partition("@")[2]:
        return "bad request URI"
    msg.method, msg.uri = method, uri
    return None


def parse(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> SipMessage | SipParseError:
    try:
        return _parse(data, max_bytes)
    except (ValueError, IndexError, UnicodeError, OverflowError) as e:  # defensive: never escape
        return SipParseError(f"malformed: {type(e).__name__}")


def _parse(data: bytes, max_bytes: int) -> SipMessage | SipParseError:
    if len(data) > max_bytes:
        return SipParseError("too large")
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore leading CRLFs (keep-alives)
    if not data:
        return SipParseError("empty")
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head_b, body = data[:sep], data[sep + 4:]
    else:
        sep = data.find(b"\n\n")
        head_b, body = (data[:sep], data[sep + 2:]) if sep >= 0 else (data, b"")
    head = head_b.decode("utf-8", "surrogateescape")
    lines = _unfold(head)
    msg = SipMessage()
    err = _start_line(lines[0], msg)
    if err:
        return SipParseError(err)
    if len(lines) - 1 > MAX_HEADERS:
        return SipParseError("too many headers")
    problems: list[str] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            problems.append("bad header line")
            continue
        msg.headers.append((canonical(name), value.strip()))
    _check(msg, problems)
    cl = msg.get_all("Content-Length")
    if cl:
        if len(set(cl)) > 1 or not cl[0].isdigit() or len(cl[0]) > 9:
            problems.append("bad Content-Length")
        else:
            n = int(cl[0])
            if n > len(body):
                problems.append("Content-Length exceeds body")
            body = body[:n]
    msg.body = body
    if problems:
        return SipParseError(problems[0], partial=msg)
    return msg


def _check(msg: SipMessage, problems: list[str]) -> None:
    for name in ("Call-ID", "CSeq", "From", "To", "Via") if msg.is_request else ("Call-ID", "CSeq", "Via"):
        if msg.get(name) is None:
            problems.append(f"missing {name}")
    for name in ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type", "Expires"):
        if len(msg.get_all(name)) > 1:
            problems.append(f"duplicate {name}")
    cseq = msg.get("CSeq")
    if cseq is not None:
        parsed = parse_cseq(cseq)
        if parsed is None:
            problems.append("bad CSeq")
        elif msg.is_request and parsed[1] != msg.method:
            problems.append("CSeq method mismatch")
    mf = msg.get("Max-Forwards")
    if mf is not None and (not mf.isdigit() or int(mf) > 255):
        problems.append("bad Max-Forwards")
    expires = msg.get("Expires")
    if expires is not None and not (expires.isdigit() and len(expires) <= 10):
        problems.append("bad Expires")
    for name in ("From", "To"):
        v = msg.get(name)
        if v is not None and NameAddr.parse(v) is None:
            problems.append(f"bad {name}")
    for v in msg.get_all("Via"):
        if Via.parse(v) is None:
            problems.append("bad Via")
    for v in msg.get_all("Contact"):
        if v != "*" and NameAddr.parse(v) is None:
            problems.append("bad Contact")
    date = msg.get("Date")
    if date is not None and not date.rstrip().endswith("GMT"):
        problems.append("bad Date")


@dataclass(frozen=True)
class SipUri:
    scheme: str
    user: str | None
    host: str
    port: int | None
    params: str = ""  # raw ";a=b;c" including the leading ';'

    @classmethod
    def parse(cls, text: str) -> SipUri | None:
        m = re.match(r"^(sips?):(?:([^@]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(\d{1,5}))?([;?].*)?$",
                     text.strip(), re.IGNORECASE)
        if not m:
            return None
        user = m.group(2)
        if user is not None:
            user = user.split(":", 1)[0]
        port = int(m.group(4)) if m.group(4) else None
        if port is not None and not 0 < port < 65536:
            return None
        return cls(m.group(1).lower(), user, m.group(3), port, (m.group(5) or "").split("?", 1)[0])

    def param(self, name: str) -> str | None:
        for p in self.params.split(";"):
            k, _, v = p.partition("=")
            if k.strip().lower() == name:
                return v.strip()
        return None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.hostport}{self.params}"


@dataclass(frozen=True)
class NameAddr:
    display: str | None
    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> NameAddr | None:
        text = text.strip()
        display: str | None = None
        m = re.match(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>(.*)$', text, re.DOTALL)
        if m:
            if m.group(1) is None and not re.fullmatch(r"[A-Za-z0-9\-.!%*_+`'~ \t]*", m.group(2)):
                return None  # an unquoted display name is tokens only
            display = m.group(1) if m.group(1) is not None else (m.group(2).strip() or None)
            if display and m.group(1) is not None:
                display = re.sub(r"\\(.)", r"\1", display)
            uri, rest = m.group(3), m.group(4)
        else:
            if "<" in text or ">" in text:
                return None
            uri, _, rest = text.partition(";")
            rest = ";" + rest if rest else ""
            uri = uri.strip()
            if "?" in uri or "," in uri or " " in uri:
                return None
        if not re.match(r"^[A-Za-z][A-Za-z0-9+\-.]*:\S+$", uri):
            return None
        params: dict[str, str] = {}
        for p in rest.split(";"):
            k, _, v = p.partition("=")
            k = k.strip().lower()
            if k:
                if not _TOKEN.match(k):
                    return None
                params[k] = v.strip().strip('"')
            elif p.strip():
                return None
        return cls(display, uri, params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipUri | None:
        return SipUri.parse(self.uri)

    def __str__(self) -> str:
        shown = f'"{escape_quoted(self.display)}" ' if self.display else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{shown}<{self.uri}>{params}"


def escape_quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @classmethod
    def parse(cls, text: str) -> Via | None:
        m = re.match(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$", text, re.DOTALL)
        if not m:
            return None
        hp = re.match(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(\d{1,5}))?$", m.group(2))
        if not hp:
            return None
        params: dict[str, str | None] = {}
        for p in (m.group(3) or "").split(";")[1:]:
            k, eq, v = p.partition("=")
            k = k.strip().lower()
            if not k or not _TOKEN.match(k):
                return None
            params[k] = v.strip() if eq else None
        port = int(hp.group(2)) if hp.group(2) else None
        return cls(m.group(1).upper(), hp.group(1), port, params)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")
