"""Transactional outbox: messages written in the same transaction as the data they announce.

A relay (the staff console, webhooks) reads pending messages in order, delivers them, and
marks them delivered. Delivery is at-least-once: consumers deduplicate by `msg_id`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.records.db import Connection


@dataclass(frozen=True)
class OutboxMessage:
    seq: int
    msg_id: str
    topic: str
    payload: dict[str, Any]
    created_at: str
    attempts: int


def enqueue(conn: Connection, topic: str, payload: dict[str, Any]) -> str:
    """Add a message inside the caller's transaction; return its id (the consumers' dedup key)."""
    msg_id = str(uuid.uuid4())
    conn.execute("INSERT INTO outbox (msg_id, topic, payload, created_at) VALUES (?, ?, ?, ?)",
                 (msg_id, topic, json.dumps(payload, sort_keys=True), datetime.now(UTC).isoformat()))
    return msg_id


def pending(conn: Connection, limit: int = 100, topic: str | None = None) -> list[OutboxMessage]:
    """Undelivered messages, oldest first; each call counts a delivery attempt."""
    where = "delivered_at IS NULL" + (" AND topic = ?" if topic else "")
    args: tuple[Any, ...] = ((topic,) if topic else ()) + (limit,)
    rows = conn.execute(f"SELECT seq, msg_id, topic, payload, created_at, attempts FROM outbox "  # noqa: S608
                        f"WHERE {where} ORDER BY seq LIMIT ?", args).fetchall()
    if rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", [(r[0],) for r in rows])
        conn.execute("COMMIT")
    return [OutboxMessage(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5] + 1) for r in rows]


def mark_delivered(conn: Connection, msg_ids: list[str]) -> int:
    """Mark messages delivered (idempotent: marking twice changes nothing); return how many changed."""
    now = datetime.now(UTC).isoformat()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.executemany("UPDATE outbox SET delivered_at = ? WHERE msg_id = ? AND delivered_at IS NULL",
                               [(now, m) for m in msg_ids])
        changed = cur.rowcount
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return changed
