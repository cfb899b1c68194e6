"""SIP message parsing and serialisation (RFC 3261 §7, §20, §25), pure and bounded.

`parse(data)` never raises: it returns a `SipMessage` or a `SipParseError` that says why,
and carries whatever it could read (so the caller can still answer 400, or 513 to a message
over the size limit, to a request that had a usable Via/From/To/Call-ID/CSeq). Every string in
a parsed message is caller-controlled.

Work is linear in the input: header values are scanned by hand (no regular expression with
overlapping quantifiers runs on them), and size, header count and header length are bounded.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 16_384
# The methods the edge accepts, advertised in Allow on its answers (calls and recording sessions).
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE"
MAX_HEADERS = 120
MAX_HEADER_LINE = 4_096  # one header after unfolding, name included

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
    "Session-Expires", "Min-SE",
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


def via_value(transport: str, host: str, port: int, branch: str | None = None) -> str:
    """A Via header value for a request sent over `transport` ("UDP", "TLS") from host:port
    (RFC 3261 §18.1.1), asking for rport (RFC 3581); a new branch unless one is given."""
    return f"SIP/2.0/{transport} {bracket(host)}:{port};branch={branch or 'z9hG4bK' + secrets.token_hex(10)};rport"


def new_request(method: str, uri: str, *, via: tuple[str, int], from_uri: str, tag: str, to_uri: str,
                call_id: str, cseq: int = 1, user_agent: str | None = None, branch: str | None = None,
                transport: str = "UDP") -> SipMessage:
    """An out-of-dialog request with the headers every request carries (RFC 3261 §8.1.1): Via
    (`transport` from `via`, see `via_value`), Max-Forwards, From with its tag, To, Call-ID and
    CSeq, then User-Agent when given. URIs are bare (no <>); the caller adds the rest (Contact,
    Expires, credentials)."""
    req = SipMessage(method=method, uri=uri)
    req.add("Via", via_value(transport, via[0], via[1], branch))
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
    """Header lines with continuation lines joined (RFC 3261 §7.3.1); linear in the input."""
    lines: list[list[str]] = []
    for line in head.split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t") and lines:
            lines[-1].append(line.strip())
        else:
            lines.append([line])
    return [" ".join(parts) for parts in lines]


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
    if not is_uri(uri) or "?" in uri.partition(";")[0].partition("@")[2]:
        return "bad request URI"
    msg.method, msg.uri = method, uri
    return None


def parse(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES,
          max_header_line: int = MAX_HEADER_LINE) -> SipMessage | SipParseError:
    try:
        return _parse(data, max_bytes, max_header_line)
    except (ValueError, IndexError, UnicodeError, OverflowError) as e:  # defensive: never escape
        return SipParseError(f"malformed: {type(e).__name__}")


def _parse(data: bytes, max_bytes: int, max_line: int) -> SipMessage | SipParseError:
    too_large = len(data) > max_bytes
    if too_large:  # read only the complete header lines within the limit, to answer 513
        data = data[:max_bytes]
        data = data[:data.rfind(b"\n") + 1]
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore leading CRLFs (keep-alives)
    if not data:
        return SipParseError("too large" if too_large else "empty")
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
    problems: list[str] = ["too large"] if too_large else []
    if len(lines) - 1 > MAX_HEADERS:
        problems.append("too many headers")
        lines = lines[:MAX_HEADERS + 1]
    for line in lines[1:]:
        if not line.strip():
            continue
        if len(line) > max_line:
            problems.append("header too long")
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
        scheme, colon, rest = text.strip().partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            return None
        user: str | None
        user, at, after = rest.partition("@")
        parsed = _hostport(after) if at else None
        if parsed is None:  # no userinfo (an '@' may still sit in a parameter)
            user, parsed = None, _hostport(rest)
        if parsed is None:
            return None
        host, port, tail = parsed
        if tail[:1] not in ("", ";", "?"):
            return None
        if user is not None:
            user = user.split(":", 1)[0]
        return cls(scheme.lower(), user, host, port, tail.split("?", 1)[0])

    @property
    def default_port(self) -> int:
        """The port when none is written: 5061 for sips: or transport=tls (RFC 3261 §19.1.2), else 5060."""
        return 5061 if self.scheme == "sips" or (self.param("transport") or "").lower() == "tls" else 5060

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
        if "<" in text:  # name-addr: [display-name] <URI> params
            head = _display_name(text)
            if head is None:
                return None
            display, after = head
            gt = after.find(">")
            if gt < 0:
                return None
            uri, rest = after[:gt], after[gt + 1:]
        else:  # addr-spec: URI params (no display name, no '?' or ',' or space in the URI)
            if ">" in text:
                return None
            uri, _, rest = text.partition(";")
            rest = ";" + rest if rest else ""
            uri = uri.strip()
            if "?" in uri or "," in uri or " " in uri:
                return None
        if not is_uri(uri):
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


_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_SCHEME = _ALPHA | _DIGITS | frozenset("+-.")
_HOST = _ALPHA | _DIGITS | frozenset("-.")
_HEX6 = _DIGITS | frozenset("ABCDEFabcdef:.")
_DISPLAY_TOKEN = _ALPHA | _DIGITS | frozenset("-.!%*_+`'~ \t")


def is_uri(text: str) -> bool:
    """`scheme:something` with no whitespace (RFC 3986 scheme); a linear scan."""
    scheme, colon, rest = text.partition(":")
    return (bool(colon) and bool(scheme) and scheme[0] in _ALPHA and all(c in _SCHEME for c in scheme)
            and bool(rest) and not any(c.isspace() for c in rest))


def _hostport(text: str) -> tuple[str, int | None, str] | None:
    """`host[:port]` at the start of `text` (an IPv6 reference in brackets): (host, port, the rest)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 2 or not all(c in _HEX6 for c in text[1:end]):
            return None
        host, i = text[:end + 1], end + 1
    else:
        i = 0
        while i < len(text) and text[i] in _HOST:
            i += 1
        if i == 0:
            return None
        host = text[:i]
    port = None
    if text[i:i + 1] == ":":
        j = i + 1
        while j < len(text) and text[j] in _DIGITS:
            j += 1
        if not 1 <= j - i - 1 <= 5:
            return None
        port = int(text[i + 1:j])
        if not 0 < port < 65536:
            return None
        i = j
    return host, port, text[i:]


def _display_name(text: str) -> tuple[str | None, str] | None:
    """The display name before '<' (quoted, with escapes; or tokens and spaces) and the text from
    the '<' after it (excluded); None if there is no valid one."""
    if text.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                break
            out.append(ch)
            i += 1
        else:
            return None  # no closing quote
        after = text[i + 1:].lstrip()
        return ("".join(out), after[1:]) if after.startswith("<") else None
    lt = text.find("<")
    name = text[:lt]
    if not all(c in _DISPLAY_TOKEN for c in name):
        return None  # an unquoted display name is tokens only
    return (name.strip() or None), text[lt + 1:]


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @classmethod
    def parse(cls, text: str) -> Via | None:
        """`SIP/2.0/transport sent-by;params` (RFC 3261 §20.42), LWS allowed around the slashes."""
        parts = text.split("/", 2)
        if len(parts) != 3 or parts[0].strip() != "SIP" or parts[1].strip() != "2.0":
            return None
        rest = parts[2].lstrip()
        i = 0
        while i < len(rest) and rest[i] in _ALPHA:
            i += 1
        transport, j = rest[:i], i
        while j < len(rest) and rest[j].isspace():
            j += 1
        if not transport or j == i:
            return None
        k = j
        while k < len(rest) and rest[k] != ";" and not rest[k].isspace():
            k += 1
        sent_by, params_text = rest[j:k], rest[k:].lstrip()
        if params_text[:1] not in ("", ";"):
            return None
        hp = _hostport(sent_by)
        if hp is None or hp[2]:
            return None
        params: dict[str, str | None] = {}
        for p in params_text.split(";")[1:]:
            k2, eq, v = p.partition("=")
            k2 = k2.strip().lower()
            if not k2 or not _TOKEN.match(k2):
                return None
            params[k2] = v.strip() if eq else None
        return cls(transport.upper(), hp[0], hp[1], params)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")
