"""Structured logging: one JSON line per event on stderr, never PHI in clear.

Callers log events with fields (`log.info("call.answered", call_id=...)`), not prose built
from caller data. Strings that come from outside (SIP headers, display names) must pass
through `hostile()` before they reach a log field.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_configured = False


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
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),
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
