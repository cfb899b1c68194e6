"""Shadow calls in the encrypted record store (table `shadow_calls`, schema 8): one row per
recording session, its record a JSON document. Writing and every read go with an audit event
(`shadow.create`, `shadow.list`, `shadow.read`), as for any record built from PHI.

Every function runs on the record store's writer thread (`AsyncRecords.run(lambda r: ...)`).
"""

from __future__ import annotations

import json
from typing import Any

from appliance.records.audit import Access
from appliance.records.base import OnStore, iso, rows_of
from appliance.records.db import transaction
from appliance.records.errors import NotFoundError
from appliance.records.ids import clean_call_id, clean_number

LIST_LIMIT = 200
FIELDS = "call_key, pbx_call_id, caller_number, started_at, ended_at, end_reason, outcome, intent, would_escalate"
COLUMNS = "id, " + FIELDS


def save(r: OnStore, access: Access, call_key: str, pbx_call_id: str, caller_number: str | None, started_at: str,
         end_reason: str, outcome: str, intent: str | None, would_escalate: str | None,
         record: dict[str, Any]) -> int:
    """Store one shadow call; returns its row id."""
    with transaction(r.conn):
        cur = r.conn.execute(
            f"INSERT INTO shadow_calls ({FIELDS}, record) "  # noqa: S608 (fixed column names)
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (call_key, clean_call_id(pbx_call_id), clean_number(caller_number), started_at, iso(), end_reason[:64],
             outcome[:64], intent, would_escalate, json.dumps(record, ensure_ascii=False, sort_keys=True)))
        sid = int(cur.lastrowid or 0)
        r.store.audit(access, "shadow.create", f"shadow:{sid}")
    return sid


def shadow_calls(r: OnStore, access: Access, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The latest shadow calls, newest first, without their records (audited: they name callers)."""
    with transaction(r.conn):
        cur = r.conn.execute(f"SELECT {COLUMNS} FROM shadow_calls ORDER BY started_at DESC, id DESC LIMIT ?",  # noqa: S608
                             (limit,))
        rows = rows_of(cur)
        r.store.audit(access, "shadow.list", f"shadow:{len(rows)}")
    return rows


def shadow_call(r: OnStore, access: Access, sid: int) -> dict[str, Any]:
    """One shadow call with its record (audited)."""
    with transaction(r.conn):
        cur = r.conn.execute(f"SELECT {COLUMNS}, record FROM shadow_calls WHERE id = ?", (sid,))  # noqa: S608
        rows = rows_of(cur)
        if not rows:
            raise NotFoundError(f"no shadow call {sid}")
        r.store.audit(access, "shadow.read", f"shadow:{sid}")
    row = rows[0]
    row["record"] = json.loads(row["record"])
    return row
