"""Audit events in a hash chain: who viewed or changed what, and when.

Every PHI view and every change made through the console writes one event in the same
transaction as the change. Each event's hash covers the previous hash, so a deleted or edited
row breaks `verify_chain`. Details name records by id, never by patient name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

GENESIS = "0" * 64


class AuditSink(Protocol):
    """What the console needs from the audit log (appliance.records provides the shared one)."""

    def append(self, conn: Any, *, at: float, actor: str, action: str, subject: str, detail: str = "") -> None: ...


def _digest(prev: str, seq: int, at: float, actor: str, action: str, subject: str, detail: str) -> str:
    body = json.dumps([seq, repr(at), actor, action, subject, detail], separators=(",", ":"))
    return hashlib.sha256((prev + body).encode()).hexdigest()


class ChainedAudit:
    def append(self, conn: Any, *, at: float, actor: str, action: str, subject: str, detail: str = "") -> None:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        digest = _digest(prev, seq, at, actor, action, subject, detail)
        conn.execute("INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                     (seq, at, actor, action, subject, detail, prev, digest))


def verify_chain(conn: Any) -> int | None:
    """Return the seq of the first broken event, or None when the whole chain holds."""
    prev, expected_seq = GENESIS, 1
    for r in conn.execute("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq"):
        if r[0] != expected_seq or r[6] != prev or _digest(prev, r[0], r[1], r[2], r[3], r[4], r[5]) != r[7]:
            return int(r[0])
        prev, expected_seq = r[7], expected_seq + 1
    return None


def events(conn: Any, limit: int = 200) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT seq, at, actor, action, subject, detail FROM audit ORDER BY seq DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]
