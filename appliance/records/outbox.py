"""Transactional outbox: messages written in the same transaction as the data they announce.

Consumers are named endpoints (`console` for the console's live pages, one per LAN webhook).
Each registered endpoint gets a delivery row for every message written after it was
registered (a trigger, so in the message's own transaction); a relay reads an endpoint's due
messages in order, delivers them, and marks that endpoint's delivery done, or failed with a
next attempt after an exponential back-off. Delivery is at-least-once: consumers deduplicate
by `msg_id`. `pending`/`mark_delivered` are the whole-message view (delivered everywhere).
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


BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0


def backoff(attempts: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, 4, ... up to cap)."""
    return min(cap, base * (1 << max(0, min(attempts - 1, 30))))


def new_id() -> str:
    return str(uuid.uuid4())


def enqueue(conn: Connection, topic: str, payload: dict[str, Any], msg_id: str | None = None) -> str:
    """Add a message inside the caller's transaction; return its id (the consumers' dedup key)."""
    msg_id = msg_id or new_id()
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


# -- per-endpoint delivery ----------------------------------------------------------------------
def _iso_at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def set_endpoints(conn: Connection, names: list[str], now: float) -> list[str]:
    """Make `names` the active endpoints (inside the caller's transaction).

    A newly registered endpoint also gets every message not yet delivered everywhere; an
    endpoint no longer configured is deactivated and its pending deliveries dropped.
    Returns the endpoints that were deactivated."""
    at = _iso_at(now)
    known = {r[0]: bool(r[1]) for r in conn.execute("SELECT name, active FROM outbox_endpoints")}
    for name in names:
        if known.get(name):
            continue
        conn.execute("INSERT INTO outbox_endpoints (name, active, added_at) VALUES (?, 1, ?) "
                     "ON CONFLICT(name) DO UPDATE SET active = 1", (name, at))
        conn.execute("INSERT OR IGNORE INTO outbox_deliveries (msg_seq, endpoint) "
                     "SELECT seq, ? FROM outbox WHERE delivered_at IS NULL", (name,))
    gone = [n for n, active in known.items() if active and n not in names]
    for name in gone:
        conn.execute("UPDATE outbox_endpoints SET active = 0 WHERE name = ?", (name,))
        conn.execute("DELETE FROM outbox_deliveries WHERE endpoint = ? AND delivered_at IS NULL", (name,))
    if gone:  # messages that only waited for a removed endpoint are now delivered everywhere
        conn.execute("UPDATE outbox SET delivered_at = ? WHERE delivered_at IS NULL AND EXISTS "
                     "(SELECT 1 FROM outbox_deliveries d WHERE d.msg_seq = outbox.seq) AND NOT EXISTS "
                     "(SELECT 1 FROM outbox_deliveries d WHERE d.msg_seq = outbox.seq AND d.delivered_at IS NULL)",
                     (at,))
    return gone


def due(conn: Connection, endpoint: str, now: float, limit: int = 50) -> list[OutboxMessage]:
    """The endpoint's undelivered messages in order, up to the first one still backing off."""
    rows = conn.execute(
        "SELECT o.seq, o.msg_id, o.topic, o.payload, o.created_at, d.attempts, d.next_at FROM outbox_deliveries d "
        "JOIN outbox o ON o.seq = d.msg_seq WHERE d.endpoint = ? AND d.delivered_at IS NULL "
        "ORDER BY d.msg_seq LIMIT ?", (endpoint, limit)).fetchall()
    at = _iso_at(now)
    out = []
    for seq, msg_id, topic, payload, created_at, attempts, next_at in rows:
        if next_at is not None and next_at > at:
            break  # keep the endpoint's order: later messages wait for this one
        out.append(OutboxMessage(seq, msg_id, topic, json.loads(payload), created_at, attempts))
    return out


def delivered_to(conn: Connection, endpoint: str, seq: int, now: float) -> None:
    """Mark one endpoint's delivery done (inside the caller's transaction; idempotent)."""
    conn.execute("UPDATE outbox_deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = '' "
                 "WHERE endpoint = ? AND msg_seq = ? AND delivered_at IS NULL", (_iso_at(now), endpoint, seq))


def failed_at(conn: Connection, endpoint: str, seq: int, now: float, error: str) -> int:
    """Count a failed attempt and set the next one after the back-off; return the attempts so far."""
    row = conn.execute("SELECT attempts FROM outbox_deliveries WHERE endpoint = ? AND msg_seq = ?",
                       (endpoint, seq)).fetchone()
    attempts = (int(row[0]) if row else 0) + 1
    conn.execute("UPDATE outbox_deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE endpoint = ? AND msg_seq = ?",
                 (attempts, _iso_at(now + backoff(attempts)), error[:200], endpoint, seq))
    return attempts


def undelivered(conn: Connection, endpoint: str | None = None) -> int:
    """How many deliveries are still pending (for one endpoint, or for all)."""
    if endpoint is None:
        return int(conn.execute("SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL").fetchone()[0])
    return int(conn.execute("SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL AND endpoint = ?",
                            (endpoint,)).fetchone()[0])
