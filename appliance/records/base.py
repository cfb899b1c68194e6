"""What every part of the record store shares: the connection, times, rows, the audit hook.

`Records` (appliance.records.store) holds one repository per concern (staff accounts, the
escalation queue, summary review, follow-up views, bookings, appointments, ...); each is given
the one `Store` (connection, audit key, call lookup) and nothing else of the others. Every
public method of a repository is one transaction that writes its audit event(s) and outbox
message(s) with the data.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from appliance.logs import hostile
from appliance.records import audit
from appliance.records.audit import Access
from appliance.records.db import Connection, transaction
from appliance.records.errors import RecordsError

Row = dict[str, Any]


def iso(dt: datetime | None = None) -> str:
    """UTC ISO 8601 with microseconds: sorts as text in time order."""
    dt = dt or datetime.now(UTC)
    if dt.tzinfo is None:
        raise ValueError("times must carry a timezone")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def iso_ts(ts: float) -> str:
    """`iso` of a Unix time."""
    return iso(datetime.fromtimestamp(ts, UTC))


def audit_key(conn: Connection) -> bytes:
    """The audit chain's HMAC key: random, kept inside the encrypted database (so a key
    rotation does not change it), created with the first schema."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'audit_key'").fetchone()
    if row is None:
        with transaction(conn):
            conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('audit_key', ?)", (secrets.token_bytes(32),))
        row = conn.execute("SELECT value FROM meta WHERE name = 'audit_key'").fetchone()
    return bytes(row[0])


def row_of(cur: Any, row: tuple[Any, ...] | None) -> Row | None:
    return None if row is None else {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def rows_of(cur: Any) -> list[Row]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class OnStore(Protocol):
    """What writes to the record store's database with its audit trail: `Records`, and the
    scheduler's queues that share its connection (the go-live and calendar tables are written
    through either)."""

    conn: Connection
    store: Store


@dataclass(frozen=True)
class Store:
    """The open database as every repository of the record store sees it: the connection (owned
    by one thread, see appliance.records.service), the audit chain's key, and the two things
    each write needs inside its transaction: an audit event, and the row of a named call."""

    conn: Connection
    audit_key: bytes

    def audit(self, access: Access, action: str, subject: str) -> None:
        """Append an audit event inside the caller's transaction."""
        audit.append(self.conn, self.audit_key, access, action, subject)

    def call_row_id(self, call: str) -> int:
        """The row of a call named by its key (the appliance's own id, `calls.call_key`). A PBX
        Call-ID is accepted only while it names exactly one call: a reused Call-ID never picks
        another patient's call (pass the key)."""
        row = self.conn.execute("SELECT id FROM calls WHERE call_key = ?", (call,)).fetchone()
        if row is not None:
            return int(row[0])
        rows = self.conn.execute("SELECT id FROM calls WHERE pbx_call_id = ? LIMIT 2", (call,)).fetchall()
        if len(rows) == 1:
            return int(rows[0][0])
        if rows:
            raise RecordsError(f"the PBX Call-ID {hostile(call)!r} names more than one call",
                               fix="name the call by its key (the value start_call(..., key=) stored)")
        raise RecordsError(f"no call with id {hostile(call)!r} in the records")
