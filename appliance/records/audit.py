"""The audit trail: append-only, hash-chained events for every read or write of PHI.

Each event carries seq, time, actor (who), action (what), subject (which record), reason
(why) and the call id, plus `prev_hash` and `hash` = HMAC-SHA256(audit key, prev_hash +
canonical fields). The audit key is random and kept inside the encrypted database (table
`meta`), so the chain cannot be recomputed without the database key, and survives rekeying.
Triggers refuse UPDATE and DELETE on the table; `verify` finds the first event that was
altered, deleted or moved, should someone bypass them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.records.db import Connection

GENESIS = "0" * 64


@dataclass(frozen=True)
class Access:
    """Who touches PHI and why: recorded with every read and write."""

    actor: str  # "staff:<username>" or "system:<component>"
    reason: str  # "call", "post-call", "console:view", "retention", ...
    call_id: str | None = None  # the PBX call id, when the access serves a call


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""
    head: str | None = None  # "SEQ:HASH" of the last event: an anchor to detect later truncation


def event_hash(key: bytes, prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str,
               reason: str, call_id: str | None) -> str:
    body = json.dumps([seq, at, actor, action, subject, reason, call_id], ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, prev_hash.encode() + b"\n" + body.encode(), hashlib.sha256).hexdigest()


def append(conn: Connection, key: bytes, access: Access, action: str, subject: str, at: str | None = None) -> int:
    """Append one event inside the caller's transaction; return its seq."""
    last = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = at or datetime.now(UTC).isoformat(timespec="microseconds")
    h = event_hash(key, prev, seq, at, access.actor, action, subject, access.reason, access.call_id)
    conn.execute("INSERT INTO audit_events (seq, at, actor, action, subject, reason, call_id, prev_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (seq, at, access.actor, action, subject, access.reason, access.call_id, prev, h))
    return seq


def append_many(conn: Connection, key: bytes, access: Access, action: str, subjects: Iterable[str]) -> None:
    for subject in subjects:
        append(conn, key, access, action, subject)


def verify(conn: Connection, key: bytes, anchor: str | None = None) -> AuditReport:
    """Walk the chain in seq order; report the first event that does not check.

    `anchor` ("SEQ:HASH", from an earlier report's `head`) must still be in the chain: this
    catches events removed from the end, which a chain alone cannot show."""
    expected_seq, prev, n = 1, GENESIS, 0
    seen_anchor = False
    want_seq, _, want_hash = (anchor or "").partition(":")
    rows = conn.execute("SELECT seq, at, actor, action, subject, reason, call_id, prev_hash, hash "
                        "FROM audit_events ORDER BY seq")
    for seq, at, actor, action, subject, reason, call_id, prev_hash, h in rows:
        if seq != expected_seq:
            return AuditReport(False, n, seq, f"event {seq}: events {expected_seq}..{seq - 1} are missing (deleted)")
        if prev_hash != prev:
            return AuditReport(False, n, seq, f"event {seq}: does not follow event {seq - 1} "
                                              "(moved, replaced, or an earlier event was deleted)")
        if not hmac.compare_digest(h, event_hash(key, prev, seq, at, actor, action, subject, reason, call_id)):
            return AuditReport(False, n, seq, f"event {seq}: contents altered (hash does not match)")
        if anchor and str(seq) == want_seq:
            if h != want_hash:
                return AuditReport(False, n, seq, f"event {seq}: differs from the anchor recorded earlier")
            seen_anchor = True
        prev, expected_seq, n = h, seq + 1, n + 1
    head = f"{expected_seq - 1}:{prev}" if n else None
    if anchor and not seen_anchor:
        bad = int(want_seq) if want_seq.isdigit() else None
        return AuditReport(False, n, bad, f"event {want_seq} (the anchor) is missing: events were removed "
                                          f"from the end of the trail (it now ends at event {expected_seq - 1})", head)
    return AuditReport(True, n, head=head)
