"""Request bodies are bounded before anything else looks at them (authentication included).

An ASGI middleware: each route has a body size limit (`limit_for`). A declared
Content-Length above it is refused with 413 without reading a byte; a body without one
(chunked, streamed) is counted as it arrives and refused with 413 as soon as it passes the
limit. Bodies within the limit are held (at most the limit, in memory) and handed to the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 128 * 1024  # JSON changes: a reviewed summary (20 000 characters) fits
LIMITS = (("/login", 8 * 1024), ("/logout", 8 * 1024), ("/api/test-calls", 256 * 1024))  # path prefix, bytes


def limit_for(path: str) -> int:
    return next((n for prefix, n in LIMITS if path == prefix or path.startswith(prefix + "/")), DEFAULT_LIMIT)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await _too_large(send, limit)
                    return
            except ValueError:
                await _too_large(send, limit, status=400, text=b"bad Content-Length\n")
                return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") and declared is None \
                and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], first: Message | None, receive: Receive) -> Receive:
    """The held body as one message, then the client's own messages (disconnects)."""
    pending: list[Message] = [first] if first is not None else [{"type": "http.request", "body": b"".join(chunks),
                                                                 "more_body": False}]

    async def _receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return _receive


async def _too_large(send: Send, limit: int, *, status: int = 413, text: bytes = b"") -> None:
    body = text or f"request body larger than {limit} bytes\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
