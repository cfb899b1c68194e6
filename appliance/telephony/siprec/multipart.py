"""`multipart/mixed` bodies (RFC 2046 §5.1) as a SIPREC INVITE carries them: an SDP part and a
recording metadata part. Pure and bounded: a body is at most one SIP message (16 KiB), split
by plain string search, never a regular expression over caller bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PARTS = 8
MAX_PART_HEADERS = 16


class MultipartError(ValueError):
    """The body is not a well-formed multipart/mixed body (answer 400)."""


@dataclass(frozen=True)
class Part:
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return media_type(self.headers.get("content-type", "text/plain"))

    @property
    def disposition(self) -> str:
        return self.headers.get("content-disposition", "").split(";", 1)[0].strip().lower()


def media_type(value: str) -> str:
    """`type/subtype` of a Content-Type value, lower case, without parameters."""
    return value.split(";", 1)[0].strip().lower()


def content_param(value: str, name: str) -> str | None:
    """A parameter of a Content-Type value (`boundary`), unquoted; None if absent."""
    for item in value.split(";")[1:]:
        key, _, val = item.partition("=")
        if key.strip().lower() == name:
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            return val
    return None


def _part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n"):
        head, body = b"", raw[2:]
    else:
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = raw.partition(b"\n\n")
        if not sep:
            raise MultipartError("a part has no blank line after its headers")
    headers: dict[str, str] = {}
    lines = head.decode("utf-8", "replace").splitlines() if head else []
    if len(lines) > MAX_PART_HEADERS:
        raise MultipartError("a part has too many headers")
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError("a part has a malformed header line")
        headers[name.strip().lower()] = value.strip()
    return Part(headers, body)


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart body, in order; MultipartError when it is malformed."""
    boundary = content_param(content_type, "boundary")
    if not boundary or len(boundary) > 70 or any(ord(c) < 32 or ord(c) > 126 for c in boundary):
        raise MultipartError("no usable boundary parameter")
    delimiter = b"--" + boundary.encode("ascii")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("no parts, or no closing delimiter")
    parts: list[Part] = []
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        if len(parts) >= MAX_PARTS:
            raise MultipartError("too many parts")
        if not chunk.startswith((b"\r\n", b"\n")):
            raise MultipartError("a delimiter is not followed by a line break")
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:]
        if chunk.endswith(b"\r\n"):  # the line break before the next delimiter belongs to it
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(_part(chunk))
    if not closed or not parts:
        raise MultipartError("no closing delimiter")
    return parts
