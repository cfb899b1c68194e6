"""Live updates for open console pages: an in-process fan-out of PHI-minimal events
(topic and record id) to each Server-Sent-Events stream. A slow reader loses old events, not
the server's memory: each subscriber's queue is bounded and drops its oldest event."""

from __future__ import annotations

import asyncio
from typing import Any

QUEUE_MAX = 100


class EventBus:
    def __init__(self) -> None:
        self._subs: set[asyncio.Queue[dict[str, Any]]] = set()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MAX)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subs.discard(q)

    def publish(self, event: dict[str, Any]) -> None:
        for q in list(self._subs):
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
