"""The transactional outbox: a staff-facing event is written in the same transaction as the
change that caused it, once per endpoint, and a relay delivers it later, at least once.

The message id is the idempotency key receivers de-duplicate by. Failed deliveries are retried
with exponential back-off (`backoff`), capped, without limit of attempts: nothing is dropped.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0


def backoff(attempts: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, 4, ... up to cap)."""
    return min(cap, base * (2 ** max(0, min(attempts - 1, 30))))


@dataclass(frozen=True)
class Message:
    id: str
    seq: int
    topic: str
    payload: dict[str, Any]
    created_at: float
    attempts: int


class Outbox:
    def __init__(self, endpoints: tuple[str, ...] = ("console",)) -> None:
        self.endpoints = endpoints

    def enqueue(self, conn: Any, topic: str, payload: dict[str, Any], at: float) -> str:
        """Write one message (call inside the transaction of the change it reports)."""
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox").fetchone()
        msg_id = f"{row[0]:012d}-{secrets.token_hex(8)}"
        conn.execute("INSERT INTO outbox (id, seq, topic, payload, created_at) VALUES (?,?,?,?,?)",
                     (msg_id, row[0], topic, json.dumps(payload, separators=(",", ":")), at))
        for endpoint in self.endpoints:
            conn.execute("INSERT INTO outbox_delivery (msg_id, endpoint, next_at) VALUES (?,?,?)", (msg_id, endpoint, at))
        return msg_id

    @staticmethod
    def due(conn: Any, endpoint: str, now: float, limit: int = 50) -> list[Message]:
        rows = conn.execute(
            "SELECT o.id, o.seq, o.topic, o.payload, o.created_at, d.attempts FROM outbox_delivery d "
            "JOIN outbox o ON o.id = d.msg_id WHERE d.endpoint = ? AND d.delivered_at IS NULL AND d.next_at <= ? "
            "ORDER BY o.seq LIMIT ?", (endpoint, now, limit)).fetchall()
        return [Message(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    @staticmethod
    def delivered(conn: Any, endpoint: str, msg_id: str, now: float) -> None:
        conn.execute("UPDATE outbox_delivery SET delivered_at = ?, attempts = attempts + 1, last_error = '' "
                     "WHERE msg_id = ? AND endpoint = ?", (now, msg_id, endpoint))

    @staticmethod
    def failed(conn: Any, endpoint: str, msg_id: str, now: float, error: str) -> None:
        row = conn.execute("SELECT attempts FROM outbox_delivery WHERE msg_id = ? AND endpoint = ?",
                           (msg_id, endpoint)).fetchone()
        attempts = (row[0] if row else 0) + 1
        conn.execute("UPDATE outbox_delivery SET attempts = ?, next_at = ?, last_error = ? WHERE msg_id = ? AND endpoint = ?",
                     (attempts, now + backoff(attempts), error[:200], msg_id, endpoint))

    @staticmethod
    def pending(conn: Any, endpoint: str | None = None) -> int:
        if endpoint is None:
            return int(conn.execute("SELECT COUNT(*) FROM outbox_delivery WHERE delivered_at IS NULL").fetchone()[0])
        return int(conn.execute("SELECT COUNT(*) FROM outbox_delivery WHERE delivered_at IS NULL AND endpoint = ?",
                                (endpoint,)).fetchone()[0])
