"""The staff-side records: calls, escalations, summaries, appointments, aftercare.

Every method is one transaction. Changes write their outbox message (PHI-minimal: ids,
severity, category, never names or text) in the same transaction; every view of PHI and every
change made by a person writes an audit event naming the actor and the record ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from appliance.staff.audit import AuditSink, ChainedAudit
from appliance.staff.db import StaffDB, StoreError
from appliance.staff.outbox import Outbox

Row = dict[str, Any]

# Used only when the caller does not pass the protocol's response-time target.
DEFAULT_RESPONSE_MINUTES = {"emergency": 5, "urgent": 15, "routine": 24 * 60}
SEVERITY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


class NotFound(StoreError):
    code = "staff-not-found"


class Conflict(StoreError):
    code = "staff-conflict"


def _rows(cur: Any) -> list[Row]:
    return [dict(r) for r in cur.fetchall()]


class StaffRepo:
    def __init__(self, db: StaffDB, *, outbox: Outbox | None = None, audit: AuditSink | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.outbox = outbox or Outbox()
        self.audit = audit or ChainedAudit()
        self.clock = clock

    def _audit(self, conn: Any, actor: str, action: str, subject: str, detail: str = "") -> None:
        self.audit.append(conn, at=self.clock(), actor=actor, action=action, subject=subject, detail=detail)

    # -- users -------------------------------------------------------------------------------
    async def add_user(self, *, username: str, display_name: str, role: str, pw_hash: str,
                       extension: str | None, actor: str) -> int:
        def tx(c: Any) -> int:
            if c.execute("SELECT 1 FROM staff_users WHERE username = ?", (username,)).fetchone():
                raise Conflict(f"user {username!r} already exists", fix="pick another user name or use set-password")
            cur = c.execute("INSERT INTO staff_users (username, display_name, role, pw_hash, extension, created_at) "
                            "VALUES (?,?,?,?,?,?)", (username, display_name, role, pw_hash, extension, self.clock()))
            self._audit(c, actor, "user.add", f"user:{cur.lastrowid}", role)
            return int(cur.lastrowid)
        return await self.db.run(tx)

    async def set_password(self, username: str, pw_hash: str, actor: str) -> None:
        def tx(c: Any) -> None:
            cur = c.execute("UPDATE staff_users SET pw_hash = ? WHERE username = ?", (pw_hash, username))
            if cur.rowcount == 0:
                raise NotFound(f"no user {username!r}", fix="list users with `appliance staff users`")
            self._audit(c, actor, "user.password", f"user:{username}")
        await self.db.run(tx)

    async def user(self, username: str) -> Row | None:
        def tx(c: Any) -> Row | None:
            r = c.execute("SELECT * FROM staff_users WHERE username = ? AND active = 1", (username,)).fetchone()
            return dict(r) if r else None
        return await self.db.run(tx)

    async def users(self) -> list[Row]:
        return await self.db.run(lambda c: _rows(c.execute(
            "SELECT id, username, display_name, role, extension, active FROM staff_users ORDER BY username")))

    async def record(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        """An audit event with no other change (log-in, log-off, refused log-in, export)."""
        await self.db.run(lambda c: self._audit(c, actor, action, subject, detail))

    # -- calls -------------------------------------------------------------------------------
    async def call_started(self, *, call_id: str, caller_label: str = "", line: str = "", topic: str = "",
                           direction: str = "inbound", patient_ref: str | None = None) -> None:
        def tx(c: Any) -> None:
            now = self.clock()
            c.execute("INSERT OR IGNORE INTO calls (call_id, patient_ref, caller_label, line, direction, topic, started_at) "
                      "VALUES (?,?,?,?,?,?,?)", (call_id, patient_ref, caller_label, line, direction, topic, now))
            self.outbox.enqueue(c, "call.started", {"call_id": call_id}, now)
        await self.db.run(tx)

    async def call_ended(self, call_id: str) -> None:
        def tx(c: Any) -> None:
            now = self.clock()
            c.execute("UPDATE calls SET status = 'ended', ended_at = ? WHERE call_id = ?", (now, call_id))
            self.outbox.enqueue(c, "call.ended", {"call_id": call_id}, now)
        await self.db.run(tx)

    async def live_calls(self, actor: str) -> list[Row]:
        def tx(c: Any) -> list[Row]:
            rows = _rows(c.execute("SELECT * FROM calls WHERE status = 'live' ORDER BY started_at"))
            self._audit(c, actor, "view.calls", "calls", f"{len(rows)} rows")
            return rows
        return await self.db.run(tx)

    # -- escalations -------------------------------------------------------------------------
    async def add_escalation(self, *, severity: str, category: str, detail: str = "", call_id: str | None = None,
                             patient_ref: str | None = None, patient_label: str = "",
                             response_minutes: float | None = None) -> int:
        if severity not in SEVERITY_ORDER:
            raise StoreError(f"unknown severity {severity!r}", fix="use emergency, urgent or routine")
        minutes = DEFAULT_RESPONSE_MINUTES[severity] if response_minutes is None else response_minutes

        def tx(c: Any) -> int:
            now = self.clock()
            cur = c.execute("INSERT INTO escalations (call_id, patient_ref, patient_label, severity, category, detail, "
                            "created_at, deadline_at) VALUES (?,?,?,?,?,?,?,?)",
                            (call_id, patient_ref, patient_label, severity, category, detail, now, now + minutes * 60))
            eid = int(cur.lastrowid)
            self.outbox.enqueue(c, "escalation.created", {"id": eid, "severity": severity, "category": category,
                                                          "deadline_at": now + minutes * 60}, now)
            return eid
        return await self.db.run(tx)

    async def escalations(self, actor: str, *, include_resolved: bool = False) -> list[Row]:
        def tx(c: Any) -> list[Row]:
            where = "" if include_resolved else "WHERE status != 'resolved'"
            rows = _rows(c.execute(f"SELECT * FROM escalations {where} ORDER BY created_at DESC LIMIT 500"))  # noqa: S608
            rows.sort(key=lambda r: (r["status"] == "resolved", SEVERITY_ORDER[r["severity"]], r["deadline_at"]))
            self._audit(c, actor, "view.escalations", "escalations", f"{len(rows)} rows")
            return rows
        return await self.db.run(tx)

    def _escalation(self, c: Any, eid: int) -> Row:
        r = c.execute("SELECT * FROM escalations WHERE id = ?", (eid,)).fetchone()
        if r is None:
            raise NotFound(f"no escalation {eid}")
        return dict(r)

    async def escalation(self, eid: int, actor: str | None) -> Row:
        def tx(c: Any) -> Row:
            row = self._escalation(c, eid)
            if actor:
                self._audit(c, actor, "view.escalation", f"escalation:{eid}")
            return row
        return await self.db.run(tx)

    async def acknowledge(self, eid: int, actor: str) -> Row:
        def tx(c: Any) -> Row:
            row = self._escalation(c, eid)
            if row["status"] != "open":
                raise Conflict(f"escalation {eid} is already {row['status']}")
            now = self.clock()
            c.execute("UPDATE escalations SET status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ? WHERE id = ?",
                      (actor, now, eid))
            self._audit(c, actor, "escalation.acknowledge", f"escalation:{eid}")
            self.outbox.enqueue(c, "escalation.acknowledged", {"id": eid, "by": actor}, now)
            return self._escalation(c, eid)
        return await self.db.run(tx)

    async def resolve(self, eid: int, actor: str, note: str) -> Row:
        def tx(c: Any) -> Row:
            row = self._escalation(c, eid)
            if row["status"] == "resolved":
                raise Conflict(f"escalation {eid} is already resolved")
            now = self.clock()
            c.execute("UPDATE escalations SET status = 'resolved', resolved_by = ?, resolved_at = ?, resolution_note = ?, "
                      "acknowledged_by = COALESCE(acknowledged_by, ?), acknowledged_at = COALESCE(acknowledged_at, ?) "
                      "WHERE id = ?", (actor, now, note, actor, now, eid))
            self._audit(c, actor, "escalation.resolve", f"escalation:{eid}")
            self.outbox.enqueue(c, "escalation.resolved", {"id": eid, "by": actor}, now)
            return self._escalation(c, eid)
        return await self.db.run(tx)

    async def mark_paged(self, eid: int, target: str, level: int) -> None:
        """Record that the paging policy reached `target` (an extension) for this escalation."""
        def tx(c: Any) -> None:
            row = self._escalation(c, eid)
            paged = ",".join(p for p in (row["paged"], target) if p)
            now = self.clock()
            c.execute("UPDATE escalations SET paged = ? WHERE id = ?", (paged, eid))
            self._audit(c, "system", "escalation.page", f"escalation:{eid}", f"level {level} ext {target}")
            self.outbox.enqueue(c, "escalation.paged", {"id": eid, "target": target, "level": level}, now)
        await self.db.run(tx)

    # -- summaries ---------------------------------------------------------------------------
    async def add_summary(self, *, ai_text: str, transcript: list[dict[str, Any]], call_id: str | None = None,
                          patient_ref: str | None = None, patient_label: str = "", procedure: str = "") -> int:
        def tx(c: Any) -> int:
            now = self.clock()
            cur = c.execute("INSERT INTO summaries (call_id, patient_ref, patient_label, procedure, ai_text, transcript, "
                            "created_at) VALUES (?,?,?,?,?,?,?)",
                            (call_id, patient_ref, patient_label, procedure, ai_text, json.dumps(transcript), now))
            sid = int(cur.lastrowid)
            self.outbox.enqueue(c, "summary.created", {"id": sid, "procedure": procedure}, now)
            return sid
        return await self.db.run(tx)

    async def summaries(self, actor: str) -> list[Row]:
        def tx(c: Any) -> list[Row]:
            rows = _rows(c.execute("SELECT id, call_id, patient_label, procedure, status, created_at, reviewed_by, "
                                   "corrections FROM summaries ORDER BY status = 'final', created_at DESC LIMIT 500"))
            self._audit(c, actor, "view.summaries", "summaries", f"{len(rows)} rows")
            return rows
        return await self.db.run(tx)

    def _summary(self, c: Any, sid: int) -> Row:
        r = c.execute("SELECT * FROM summaries WHERE id = ?", (sid,)).fetchone()
        if r is None:
            raise NotFound(f"no summary {sid}")
        row = dict(r)
        row["transcript"] = json.loads(row["transcript"])
        return row

    async def summary(self, sid: int, actor: str) -> Row:
        def tx(c: Any) -> Row:
            row = self._summary(c, sid)
            self._audit(c, actor, "view.summary", f"summary:{sid}")
            return row
        return await self.db.run(tx)

    async def review_summary(self, sid: int, actor: str, text: str, *, finalize: bool) -> Row:
        """Staff review: a changed text counts as one correction; `finalize` makes it final."""
        def tx(c: Any) -> Row:
            row = self._summary(c, sid)
            if row["status"] == "final":
                raise Conflict(f"summary {sid} is already final")
            now = self.clock()
            current = row["final_text"] if row["final_text"] is not None else row["ai_text"]
            changed = text.strip() != current.strip()
            if changed:
                c.execute("INSERT INTO summary_corrections (summary_id, by_user, at, before_text, after_text) "
                          "VALUES (?,?,?,?,?)", (sid, actor, now, current, text))
            c.execute("UPDATE summaries SET final_text = ?, corrections = corrections + ?, status = ?, reviewed_by = ?, "
                      "reviewed_at = COALESCE(reviewed_at, ?) WHERE id = ?",
                      (text, int(changed), "final" if finalize else "draft", actor, now, sid))
            self._audit(c, actor, "summary.correct" if changed else "summary.review", f"summary:{sid}",
                        "final" if finalize else "draft")
            self.outbox.enqueue(c, "summary.reviewed", {"id": sid, "corrected": changed, "final": finalize, "by": actor}, now)
            return self._summary(c, sid)
        return await self.db.run(tx)

    # -- appointments and aftercare ----------------------------------------------------------
    async def add_appointment(self, *, procedure: str, starts_at: float, kind: str = "treatment",
                              patient_ref: str | None = None, patient_label: str = "", status: str = "booked") -> int:
        def tx(c: Any) -> int:
            cur = c.execute("INSERT INTO appointments (patient_ref, patient_label, procedure, kind, starts_at, status, "
                            "created_at) VALUES (?,?,?,?,?,?,?)",
                            (patient_ref, patient_label, procedure, kind, starts_at, status, self.clock()))
            return int(cur.lastrowid)
        return await self.db.run(tx)

    async def appointments(self, actor: str) -> list[Row]:
        def tx(c: Any) -> list[Row]:
            rows = _rows(c.execute("SELECT * FROM appointments ORDER BY starts_at LIMIT 500"))
            self._audit(c, actor, "view.appointments", "appointments", f"{len(rows)} rows")
            return rows
        return await self.db.run(tx)

    async def add_aftercare(self, **fields: Any) -> int:
        allowed = {"patient_ref", "patient_label", "procedure", "treated_at", "stage", "instructions_delivered",
                   "patient_responded", "contacts", "series_total", "series_done", "review_due_at", "review_done",
                   "rebooked", "satisfaction", "next_contact_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"unknown aftercare fields {sorted(unknown)}")
        cols = sorted(fields)

        def tx(c: Any) -> int:
            sql = f"INSERT INTO aftercare ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
            return int(c.execute(sql, [fields[k] for k in cols]).lastrowid)
        return await self.db.run(tx)

    async def aftercare(self, actor: str) -> list[Row]:
        def tx(c: Any) -> list[Row]:
            rows = _rows(c.execute("SELECT * FROM aftercare ORDER BY treated_at DESC LIMIT 500"))
            self._audit(c, actor, "view.aftercare", "aftercare", f"{len(rows)} rows")
            return rows
        return await self.db.run(tx)
