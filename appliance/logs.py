"""Structured logging: one JSON line per event on stderr, never PHI in clear.

Callers log events with fields (`log.info("call.answered", call_id=...)`), not prose built
from caller data. Strings that come from outside (SIP headers, display names) must pass
through `hostile()` before they reach a log field; phone numbers through `phone()` and SIP
URIs through `sip_uri()` (a keyed tag, never the number). Fields named like a number or a
URI (`PHONE_FIELDS`, `URI_FIELDS`) are tagged even when a call site forgets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict

_configured = False
_phone_key: bytes | None = None  # per install (data_dir/secrets/log.key), else per process

# Fields that name a phone number or a SIP URI with a user part: always logged as a tag (a
# safety net; call sites pass them through `phone()` / `sip_uri()` themselves).
PHONE_FIELDS = frozenset({"caller", "callee", "number", "caller_number", "remote_number", "local_number", "phone",
                          "from_number", "to_number"})
URI_FIELDS = frozenset({"uri", "from_uri", "to_uri", "contact_uri", "request_uri"})


class Redacted(str):
    """A value already made safe for a log line (a phone tag, a URI without its user part)."""

    __slots__ = ()


def use_install_key(secrets_dir: Path) -> None:
    """Tag phone numbers with this install's key (`secrets_dir/log.key`, made on first use,
    mode 0600): the same number gets the same tag across restarts, and nobody without the key
    can test a guessed number against a log."""
    global _phone_key
    path = secrets_dir / "log.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    _phone_key = bytes.fromhex(path.read_text().strip())


def phone(value: object) -> Redacted:
    """A phone number (or any caller identity) as a log tag: `ph-` + the first 12 hex digits of
    HMAC-SHA256(install key, its digits). Never the number itself."""
    global _phone_key
    if value is None or value == "":
        return Redacted("")
    text = str(value)
    digits = "".join(ch for ch in text if ch.isdigit()) or text
    if _phone_key is None:
        _phone_key = secrets.token_bytes(32)
    tag = hmac.new(_phone_key, digits.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:12]
    return Redacted("ph-" + tag)


_URI_USER = re.compile(r"(sips?:|tel:)([^@;>\s]+)(@?)", re.IGNORECASE)


def sip_uri(value: object) -> Redacted:
    """A SIP URI with its user part (the number) replaced by its tag; bounded, printable."""
    text = hostile(value, 200)
    return Redacted(_URI_USER.sub(lambda m: m.group(1) + phone(m.group(2)) + m.group(3), text))


def _redact_fields(_logger: Any, _method: str, event: EventDict) -> EventDict:
    for key in PHONE_FIELDS.intersection(event):
        if not isinstance(event[key], Redacted):
            event[key] = phone(event[key])
    for key in URI_FIELDS.intersection(event):
        if not isinstance(event[key], Redacted):
            event[key] = sip_uri(event[key])
    return event


def hostile(value: object, limit: int = 80) -> str:
    """A caller-controlled string made safe for a log line: printable ASCII, bounded."""
    text = str(value)
    safe = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text[:limit])
    return safe + ("…" if len(text) > limit else "")


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing (a tool or a test may swap it
    and close the old one; a logger configured earlier must not keep the closed stream)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    global _configured
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _redact_fields,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(
            file=stream or _CurrentStderr()),  # type: ignore[arg-type]  # structlog calls only write() and flush()
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: keep them quiet and on the same stream.
    logging.basicConfig(level=logging.WARNING, stream=stream or _CurrentStderr(), force=True)
    _route_loguru()
    _configured = True


def _route_loguru() -> None:
    """Pipecat logs through loguru, at DEBUG for every frame: keep its warnings and errors only,
    as JSON lines like ours (its messages carry no caller data at WARNING and above)."""
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with pipecat
        return
    library = structlog.get_logger("pipecat")

    def sink(message: Any) -> None:
        record = message.record
        level = "error" if record["level"].no >= 40 else "warning"
        getattr(library, level)("library.log", library=record["name"], message=hostile(record["message"], 300))

    logger.remove()
    logger.add(sink, level="WARNING", format="{message}")


def get_logger(name: str) -> Any:
    if not _configured:
        configure()
    return structlog.get_logger(name)
