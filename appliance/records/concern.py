"""Concern follow-ups in the record store: resolving a concern's escalation schedules the call
that asks the patient whether it is better, the same or worse (a `desk_contacts` row of kind
`concern_follow_up`, migration 0013), and the escalation shows that call's outcome.

Used inside the escalation queue's transactions (appliance.records.queue): the contact is
written with the resolution, in the same transaction, with its audit event. The desk runner
places the call (appliance.scheduler.desk_*); its result (`disposition`) is read back here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.logs import get_logger
from appliance.records.base import Row, iso, rows_of
from appliance.records.db import Connection
from appliance.records.phones import normalize_phone, opted_out

log = get_logger(__name__)

# Escalations that are a patient's concern besides those naming one of the pack's red flags.
CONCERN_CATEGORIES = frozenset({"patient-concern", "concern-follow-up"})
Times = tuple[datetime, datetime, datetime]  # due, first call time, expiry
_FOLLOW_UPS = (
    "SELECT d.escalation_id, d.id, d.state, d.next_at AS call_at, d.disposition AS outcome, d.attempts, d.call_id, "
    "CASE WHEN d.state IN ('completed', 'failed', 'cancelled') THEN coalesce(d.completed_at, d.updated_at) END AS done_at "
    "FROM desk_contacts d WHERE d.kind = 'concern_follow_up' AND d.escalation_id IN ")


@dataclass(frozen=True)
class FollowUpPlan:
    """What resolving a concern schedules, from the pack (built by the console at start):
    `flags` the pack's red-flag ids (an escalation naming one is a concern), `times` when to call
    for a resolution at a given time (None: no call time), `number` the callable form of a phone
    number (None for a withheld or anonymous number, or an extension)."""

    flags: frozenset[str]
    times: Callable[[datetime], Times | None]
    number: Callable[[str | None], str | None]

    def concern(self, category: str, detail: str | None) -> bool:
        return category in CONCERN_CATEGORIES or (detail or "") in self.flags


def schedule_follow_up(conn: Connection, audit: Callable[[str, str], None], eid: int, plan: FollowUpPlan,
                       now: datetime) -> int | None:
    """Inside the resolution's transaction: the follow-up contact's id, or None (not a concern,
    no callable number on the call or the patient's record, the number opted out, no call time,
    or one planned already)."""
    row = conn.execute(
        "SELECT e.category, e.detail, c.patient_id, c.caller_number, p.phone FROM escalations e "
        "LEFT JOIN calls c ON c.id = e.call_id LEFT JOIN patients p ON p.id = c.patient_id WHERE e.id = ?",
        (eid,)).fetchone()
    if row is None or not plan.concern(str(row[0]), row[1]):
        return None
    pid = None if row[2] is None else int(row[2])
    phone = next((str(n) for n in (row[4], row[3]) if plan.number(n)), None)
    if phone is None:
        log.info("concern.follow_up_skipped", escalation=eid, why="no-number")
        return None
    key = normalize_phone(phone)
    if opted_out(conn, phone, "call"):
        log.info("concern.follow_up_skipped", escalation=eid, why="opted-out")
        return None
    times = plan.times(now)
    if times is None:
        log.info("concern.follow_up_skipped", escalation=eid, why="no-call-time")
        return None
    if pid is None:  # a caller number on the call: the patient when exactly one has it
        pids = [int(r[0]) for r in conn.execute("SELECT id, phone FROM patients WHERE phone IS NOT NULL")
                if normalize_phone(r[1]) == key]
        pid = pids[0] if len(pids) == 1 else None
    due, nxt, expires = times
    stamp = iso(now)
    cur = conn.execute(
        "INSERT OR IGNORE INTO desk_contacts (kind, escalation_id, patient_id, phone, phone_key, due_at, expires_at, "
        "next_at, created_at, updated_at) VALUES ('concern_follow_up', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (eid, pid, phone, key, iso(due), iso(expires), iso(nxt), stamp, stamp))
    if not cur.rowcount:
        return None
    cid = int(cur.lastrowid or 0)
    if pid is not None:
        audit("patient.read", f"patient:{pid}")
    audit("desk_contact.create", f"concern_follow_up:{cid}:escalation:{eid}")
    log.info("concern.follow_up_planned", escalation=eid, contact=cid)
    return cid


def follow_ups_of(conn: Connection, eids: Iterable[int]) -> dict[int, Row]:
    """The follow-up of each escalation that has one: `state` (due, dialing, completed, failed,
    cancelled), `call_at` (the planned call time), `outcome` (the call's result), `escalated_again`
    (the escalations raised on the follow-up call), `done_at`. No patient data."""
    ids = sorted({int(e) for e in eids})
    if not ids:
        return {}
    sql = _FOLLOW_UPS + "(" + ",".join("?" * len(ids)) + ")"  # placeholders only
    rows = rows_of(conn.execute(sql, ids))
    out: dict[int, Row] = {}
    for r in rows:
        cid = r.pop("call_id")
        again = [] if cid is None else [int(x[0]) for x in conn.execute(
            "SELECT id FROM escalations WHERE call_id = ? ORDER BY id", (cid,))]
        out[int(r.pop("escalation_id"))] = {**r, "escalated_again": again}
    return out


def with_follow_ups(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each escalation row with its `follow_up` (None when it has none)."""
    found = follow_ups_of(conn, (r["id"] for r in rows))
    for r in rows:
        r["follow_up"] = found.get(int(r["id"]))
    return rows
