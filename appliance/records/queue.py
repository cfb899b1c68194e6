"""The escalation queue and live calls, as staff see them in the console.

Escalations are stored by the call pipeline (`Records.record_escalation`; `insert_escalation`
writes one with its outbox message inside the caller's transaction); here staff list,
acknowledge and resolve them, and the pager records whom it called. Every view names the
records shown in its audit event; every change writes its outbox message in its transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from appliance.conversation import Escalation
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, rows_of
from appliance.records.concern import FollowUpPlan, schedule_follow_up, with_follow_ups
from appliance.records.db import Connection, transaction
from appliance.records.errors import ConflictError, NotFoundError
from appliance.records.ids import clean_text

# Used when no response-time target came with the escalation (the protocol pack gives one).
DEFAULT_RESPONSE_MINUTES = {"emergency": 5.0, "urgent": 15.0, "routine": 24 * 60.0}
SEVERITY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}
EVIDENCE_LIMIT = 1000  # characters of an escalation's evidence kept (it quotes the pack and the caller)

_SELECT = (
    "SELECT e.id, c.pbx_call_id AS call_id, c.call_key, coalesce(p.name, c.caller_number, '') AS patient_label, "
    "p.ref AS patient_ref, c.line, e.severity, e.category, e.detail, e.evidence, e.created_at, e.deadline_at, "
    "e.acknowledged_by, e.acknowledged_at, e.resolved_by, e.resolved_at, e.resolution_note, e.paged "
    "FROM escalations e LEFT JOIN calls c ON c.id = e.call_id LEFT JOIN patients p ON p.id = c.patient_id")


def deadline(created_at: str, severity: str, response_minutes: float | None = None) -> str:
    minutes = DEFAULT_RESPONSE_MINUTES.get(severity, 15.0) if response_minutes is None else response_minutes
    return iso(datetime.fromisoformat(created_at) + timedelta(minutes=minutes))


def insert_escalation(conn: Connection, cid: int | None, esc: Escalation, response_minutes: float | None = None,
                      msg_id: str | None = None) -> str:
    """Insert an escalation (`cid` None: raised outside a call) and its outbox message, inside the
    caller's transaction. Returns the outbox message id."""
    msg_id, now = msg_id or outbox.new_id(), iso()
    due = deadline(now, esc.severity, response_minutes)
    evidence = clean_text(getattr(esc, "evidence", "") or "", EVIDENCE_LIMIT)
    cur = conn.execute(
        "INSERT INTO escalations (call_id, severity, category, turn_idx, detail, evidence, created_at, "
        "deadline_at, outbox_msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cid, esc.severity, esc.category, esc.turn, esc.detail, evidence, now, due, msg_id))
    # The whole message goes to staff webhooks (inside the LAN, like call summaries); the
    # console's live updates pass on only the id, severity and category.
    payload = {"id": int(cur.lastrowid or 0), "call_id": cid, "severity": esc.severity, "category": esc.category,
               "turn": esc.turn, "deadline_at": due, "detail": esc.detail, "evidence": evidence}
    return outbox.enqueue(conn, "escalation.raised", payload, msg_id)


def _shape(r: dict[str, Any]) -> Row:
    r["status"] = "resolved" if r["resolved_at"] else "acknowledged" if r["acknowledged_at"] else "open"
    r["deadline_at"] = r["deadline_at"] or deadline(r["created_at"], r["severity"])
    return r


class EscalationQueue:
    """The escalation queue and the live calls staff see; acknowledging, resolving and paging
    escalations (each change with its audit event and outbox message, in one transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def _escalation_row(self, eid: int) -> Row:
        rows = rows_of(self.conn.execute(_SELECT + " WHERE e.id = ?", (eid,)))  # noqa: S608 (constant)
        if not rows:
            raise NotFoundError(f"no escalation {eid}")
        return with_follow_ups(self.conn, [_shape(rows[0])])[0]

    def escalation_queue(self, access: Access, include_resolved: bool = False, limit: int = 500) -> list[Row]:
        """Open (and acknowledged) escalations, most pressing first: severity, then deadline."""
        where = "" if include_resolved else " WHERE e.resolved_at IS NULL"
        with transaction(self.conn):
            rows = with_follow_ups(self.conn, [_shape(r) for r in rows_of(self.conn.execute(
                _SELECT + where + " ORDER BY e.created_at DESC LIMIT ?", (limit,)))])  # noqa: S608 (constant)
            rows.sort(key=lambda r: (r["status"] == "resolved", SEVERITY_ORDER[r["severity"]], r["deadline_at"]))
            self.store.audit(access, "view.escalations", "escalations:" + ",".join(str(r["id"]) for r in rows))
        return rows

    def escalation(self, access: Access | None, eid: int) -> Row:
        """One escalation; `access` None for system reads that show no one anything (the pager)."""
        with transaction(self.conn):
            row = self._escalation_row(eid)
            if access is not None:
                self.store.audit(access, "view.escalation", f"escalation:{eid}")
        return row

    def acknowledge_escalation(self, access: Access, eid: int, by: str) -> Row:
        with transaction(self.conn):
            row = self._escalation_row(eid)
            if row["status"] != "open":
                raise ConflictError(f"escalation {eid} is already {row['status']}")
            self.conn.execute("UPDATE escalations SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ?",
                              (by, iso(), eid))
            self.store.audit(access, "escalation.acknowledge", f"escalation:{eid}")
            outbox.enqueue(self.conn, "escalation.acknowledged", {"id": eid, "by": by})
            return self._escalation_row(eid)

    def resolve_escalation(self, access: Access, eid: int, by: str, note: str,
                           follow_up: FollowUpPlan | None = None) -> Row:
        """Resolve with a note; with `follow_up` (the pack's concern follow-up), a concern with a
        callable number gets its follow-up call planned in the same transaction (once)."""
        with transaction(self.conn):
            row = self._escalation_row(eid)
            if row["status"] == "resolved":
                raise ConflictError(f"escalation {eid} is already resolved")
            now = iso()
            self.conn.execute(
                "UPDATE escalations SET resolved_by = ?, resolved_at = ?, resolution_note = ?, "
                "acknowledged_by = coalesce(acknowledged_by, ?), acknowledged_at = coalesce(acknowledged_at, ?) "
                "WHERE id = ?", (by, now, note, by, now, eid))
            self.store.audit(access, "escalation.resolve", f"escalation:{eid}")
            if follow_up is not None:
                schedule_follow_up(self.conn, lambda action, subject: self.store.audit(access, action, subject), eid,
                                   follow_up, datetime.fromisoformat(now))
            outbox.enqueue(self.conn, "escalation.resolved", {"id": eid, "by": by})
            return self._escalation_row(eid)

    def mark_escalation_paged(self, access: Access, eid: int, target: str, level: int) -> None:
        """Record that the paging policy reached `target` (an extension) for this escalation."""
        with transaction(self.conn):
            row = self._escalation_row(eid)
            paged = ",".join(p for p in (row["paged"], target) if p)
            self.conn.execute("UPDATE escalations SET paged = ? WHERE id = ?", (paged, eid))
            self.store.audit(access, "escalation.page", f"escalation:{eid}:level {level}:ext {target}")
            outbox.enqueue(self.conn, "escalation.paged", {"id": eid, "target": target, "level": level})

    def live_calls(self, access: Access) -> list[Row]:
        """Calls in progress (not ended), oldest first."""
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(
                "SELECT c.id, c.pbx_call_id AS call_id, c.call_key, coalesce(c.line, '') AS line, c.direction, "
                "coalesce(p.name, c.caller_number, '') AS caller_label, c.started_at FROM calls c "
                "LEFT JOIN patients p ON p.id = c.patient_id WHERE c.ended_at IS NULL ORDER BY c.started_at LIMIT 200"))
            self.store.audit(access, "view.calls", "calls:" + ",".join(str(r["id"]) for r in rows))
        return rows
