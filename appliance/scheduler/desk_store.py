"""The front desk's durable outbound queue (`desk_contacts`, migrations 0012 and 0013); synchronous, one
thread owns it (the desk runner's), like `appliance.scheduler.store.ScheduleStore`.

Reminders are planned from the appointments themselves (`plan_reminders`, run by the desk
runner on every tick): every booked appointment gets its reminder rows once (a unique index on
appointment, planned start and lead), a moved appointment's old reminders are cancelled and new
ones planned, and a cancelled, arrived or no-show appointment's are cancelled. So nothing that
books, moves or cancels an appointment has to know about reminders, and a restart loses none.
Call-backs come from the SIP edge (486 at capacity) and the call runner (a call with nothing
said): `record_missed`; a later call from that number where the caller talks cancels it.
Concern follow-ups are written when staff resolve a concern's escalation (appliance.records.concern)
and claimed here like the others; one with no name on file is not called (`no-identity-on-file`).

Each method is one `BEGIN IMMEDIATE` transaction; claim, lease and finish as the aftercare queue:

    due --claim--> dialing (lease_token, lease_until) --finish(token)--> completed | due | failed
                      \\--lease expires (worker died)--> due (attempt counted)

A late `finish` whose lease was taken over is refused. PHI reads and writes are audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.logs import get_logger
from appliance.records.appointments import APPOINTMENT_SELECT, appointment_of
from appliance.records.audit import Access
from appliance.records.base import Store, rows_of
from appliance.records.db import Connection, transaction
from appliance.records.phones import normalize_phone, opted_out
from appliance.records.store import audit_key
from appliance.scheduler.desk_plan import (
    RETRY,
    DeskRules,
    callback_decision,
    callback_number,
    plan_callback,
    plan_reminders,
    stale_reminder,
)
from appliance.scheduler.policy import CallPolicy, ContactRights, may_contact
from appliance.scheduler.store import iso, parse_iso

log = get_logger(__name__)

PLAN_AHEAD = timedelta(days=14)  # appointments this far beyond the longest lead get their reminders now


@dataclass(frozen=True)
class DeskClaim:
    """A desk contact leased to one worker for one dial attempt."""

    contact_id: int
    token: str
    attempt: int
    kind: str  # reminder | callback | concern_follow_up
    phone: str
    patient_id: int | None
    name: str | None
    dob: str | None
    appointment: dict[str, Any] | None  # reminders: id, start, end, provider, procedure, deposit_cents, confirmed
    reason: str | None  # call-backs: busy | silent
    escalation: dict[str, Any] | None = None  # concern follow-ups: the resolved escalation's id and raised_at


@dataclass(frozen=True)
class DeskResult:
    """One dial's result: `result` answered | no-answer | busy | rejected | failed; an answered
    call's `disposition` (confirmed, moved, cancelled, reached, booked, voicemail, hung-up, ...)."""

    result: str
    disposition: str | None = None
    call_row_id: int | None = None
    opted_out: bool = False


class DeskStore:
    def __init__(self, conn: Connection, policy: CallPolicy, rules: DeskRules | None = None) -> None:
        self.conn = conn
        self.policy = policy
        self.rules = rules or DeskRules()
        self.gate: Any = None  # appliance.golive.outbound.OutboundGate (demo packs call test phones only)
        self.store = Store(conn, audit_key(conn))  # the audit trail, as Records writes it

    # ---- reminders ---------------------------------------------------------------------

    def plan_reminders(self, access: Access, now: datetime) -> tuple[int, int]:
        """Cancel the reminders whose appointment moved or is no longer booked; plan the missing
        ones of every booked appointment within reach. Idempotent. Returns (planned, cancelled)."""
        stamp = iso(now)
        planned = cancelled = 0
        with transaction(self.conn):
            stale = self.conn.execute(
                "SELECT d.id, d.slot_at, a.status, a.slot_start FROM desk_contacts d "
                "JOIN appointments a ON a.id = d.appointment_id WHERE d.kind = 'reminder' AND d.state = 'due'").fetchall()
            for cid, slot_at, status, start in stale:
                why = stale_reminder(parse_iso(slot_at), str(status), parse_iso(start))
                if why is not None:
                    cancelled += self._close(cid, "cancelled", why, stamp)
            if self.rules.before_hours:
                horizon = now + timedelta(hours=max(self.rules.before_hours)) + PLAN_AHEAD
                rows = self.conn.execute(
                    "SELECT a.id, a.slot_start, a.patient_id, p.phone FROM appointments a "
                    "JOIN patients p ON p.id = a.patient_id WHERE a.status = 'booked' AND a.slot_start > ? "
                    "AND a.slot_start <= ? AND p.phone IS NOT NULL AND p.phone != '' ORDER BY a.slot_start, a.id",
                    (stamp, iso(horizon))).fetchall()
                for aid, start, pid, phone in rows:
                    planned += self._plan_one(access, int(aid), parse_iso(start), int(pid), str(phone), now, stamp)
        if planned or cancelled:
            log.info("desk.reminders_planned", planned=planned, cancelled=cancelled)
        return planned, cancelled

    def _plan_one(self, access: Access, aid: int, start: datetime, pid: int, phone: str, now: datetime,
                  stamp: str) -> int:
        done = {int(r[0]) for r in self.conn.execute(
            "SELECT lead_hours FROM desk_contacts WHERE kind = 'reminder' AND appointment_id = ? AND slot_at = ?",
            (aid, iso(start)))}
        n = 0
        for p in plan_reminders(start, now, self.rules, self.policy):
            if p.lead_hours in done:
                continue
            self.conn.execute(
                "INSERT INTO desk_contacts (kind, appointment_id, patient_id, phone, phone_key, slot_at, lead_hours, "
                "due_at, expires_at, next_at, created_at, updated_at) VALUES ('reminder', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (aid, pid, phone, normalize_phone(phone), iso(start), p.lead_hours, iso(p.due_at), iso(p.expires_at),
                 iso(p.next_at), stamp, stamp))
            n += 1
        if n:
            self.store.audit(access, "patient.read", f"patient:{pid}")
            self.store.audit(access, "desk_contact.create", f"appointment:{aid}:reminders")
        return n

    # ---- call-backs --------------------------------------------------------------------

    def _pending_callback(self, key: str) -> int | None:
        row = self.conn.execute("SELECT id FROM desk_contacts WHERE kind = 'callback' AND phone_key = ? AND state IN "
                                "('due', 'dialing')", (key,)).fetchone()
        return None if row is None else int(row[0])

    def record_missed(self, access: Access, number: str | None, reason: str, ended_at: datetime) -> int | None:
        """A caller turned away (`reason` busy) or who said nothing (silent): the call-back's id,
        or None (withheld number, extension, opted out, one pending already, no call time)."""
        key = callback_number(number, self.rules.min_digits)
        with transaction(self.conn):
            ok, why = callback_decision(number, opted_out=bool(key) and opted_out(self.conn, number, "call"),
                                        pending=bool(key) and self._pending_callback(key or "") is not None,
                                        min_digits=self.rules.min_digits)
            times = plan_callback(ended_at, self.rules, self.policy) if ok else None
            if not ok or times is None or key is None:
                log.info("desk.callback_skipped", reason=reason, why=why if not ok else "no-call-time")
                return None
            stamp = iso(ended_at)
            pids = [int(r[0]) for r in self.conn.execute("SELECT id, phone FROM patients WHERE phone IS NOT NULL")
                    if normalize_phone(r[1]) == key]
            cur = self.conn.execute(
                "INSERT INTO desk_contacts (kind, patient_id, phone, phone_key, reason, due_at, expires_at, next_at, "
                "created_at, updated_at) VALUES ('callback', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pids[0] if len(pids) == 1 else None, str(number), key, reason, iso(times.due_at),
                 iso(times.expires_at), iso(times.next_at), stamp, stamp))
            cid = int(cur.lastrowid or 0)
            self.store.audit(access, "desk_contact.create", f"callback:{cid}")
        log.info("desk.callback_planned", contact=cid, reason=reason)
        return cid

    def caller_talked(self, access: Access, number: str | None, now: datetime) -> int:
        """The number called again and talked: its pending call-back (not yet dialling) is cancelled."""
        key = callback_number(number, self.rules.min_digits)
        if key is None:
            return 0
        with transaction(self.conn):
            cid = self._pending_callback(key)
            if cid is None:
                return 0
            n = self._close(cid, "cancelled", "called-again", iso(now), only_due=True)
            if n:
                self.store.audit(access, "desk_contact.update", f"callback:{cid}:called-again")
        return n

    # ---- the queue ---------------------------------------------------------------------

    def _close(self, cid: int, state: str, disposition: str, stamp: str, only_due: bool = False) -> int:
        cur = self.conn.execute(
            "UPDATE desk_contacts SET state = ?, disposition = ?, lease_token = NULL, lease_until = NULL, "
            "updated_at = ? WHERE id = ? AND (state = 'due' OR ? = 0)", (state, disposition, stamp, cid, int(only_due)))
        return int(cur.rowcount or 0)

    def _requeue(self, cid: int, nxt: datetime | None, result: str, stamp: str) -> str:
        if nxt is None:
            self.conn.execute("UPDATE desk_contacts SET state = 'failed', disposition = coalesce(disposition, ?), "
                              "last_result = ?, lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                              ("attempts-exhausted", result, stamp, cid))
            return "failed"
        self.conn.execute("UPDATE desk_contacts SET state = 'due', next_at = ?, last_result = ?, lease_token = NULL, "
                          "lease_until = NULL, updated_at = ? WHERE id = ?", (iso(nxt), result, stamp, cid))
        return "due"

    def _expire_leases(self, now: datetime) -> None:
        stamp = iso(now)
        rows = self.conn.execute("SELECT id, attempts, expires_at FROM desk_contacts WHERE state = 'dialing' AND "
                                 "lease_until <= ?", (stamp,)).fetchall()
        for cid, attempts, expires in rows:
            nxt = self.policy.after_attempt(attempts, "lease-expired", now, None, parse_iso(expires))
            self._requeue(cid, nxt, "lease-expired", stamp)

    def _held(self, phone: str) -> str | None:
        """Why the go-live gate keeps this call from being placed (demo content calls test phones
        only; in the supervised period desk calls wait), or None."""
        if self.gate is None:
            return None
        from appliance.golive.policy import is_test_outbound
        from appliance.golive.store import load_state

        if self.gate.demo and not is_test_outbound(self.gate.golive, number=phone, pbx=self.gate.pbx):
            return "held: demo content calls test phones only"
        if self.gate.golive.supervised and not load_state(self).get("supervised_ended_at"):
            return "supervised"
        return None

    def claim_due(self, access: Access, now: datetime, worker: str, lease: timedelta, limit: int) -> list[DeskClaim]:
        """Lease up to `limit` due contacts (atomically). A reminder whose appointment is no longer
        booked at that time (or moved) is cancelled, not dialled; an opted-out number likewise."""
        stamp = iso(now)
        claims: list[DeskClaim] = []
        with transaction(self.conn):
            self._expire_leases(now)
            if limit <= 0:
                return []
            rows = self.conn.execute(
                "SELECT d.id, d.kind, d.phone, d.patient_id, d.appointment_id, d.slot_at, d.reason, d.attempts, "
                "d.expires_at, d.escalation_id, e.created_at FROM desk_contacts d LEFT JOIN escalations e ON "
                "e.id = d.escalation_id WHERE d.state = 'due' AND d.next_at <= ? ORDER BY d.next_at, d.id",
                (stamp,)).fetchall()
            for cid, kind, phone, pid, aid, slot_at, reason, attempts, expires, eid, raised in rows:
                if len(claims) >= limit:
                    break
                if parse_iso(expires) <= now:
                    self._close(cid, "failed", "expired", stamp)
                    continue
                appt = self._appointment(aid) if kind == "reminder" else None
                if kind == "reminder":
                    why = "appointment-missing" if appt is None else stale_reminder(
                        parse_iso(slot_at), appt["status"], parse_iso(appt["start"]))
                    if why is not None:
                        self._close(cid, "cancelled", why, stamp)
                        continue
                name = dob = None
                if pid is not None:
                    row = self.conn.execute("SELECT name, dob FROM patients WHERE id = ?", (pid,)).fetchone()
                    name, dob = (row[0], row[1]) if row else (None, None)
                if kind != "callback" and not name:  # identity: the name (and the date of birth when on file)
                    self._close(cid, "cancelled", "no-identity-on-file", stamp)
                    continue
                ok, why = may_contact(ContactRights(consent=None, opted_out=opted_out(self.conn, phone, "call")),
                                      require_consent=False)
                held = None if not ok else self._held(phone)
                if not ok or (held and held != "supervised"):
                    self._close(cid, "cancelled", why if not ok else str(held), stamp)
                    continue
                if held == "supervised":
                    continue  # waits for the supervised period's end (or its expiry)
                slot = self.policy.next_allowed(now)
                if slot != now.astimezone(UTC):
                    self.conn.execute("UPDATE desk_contacts SET next_at = ?, updated_at = ? WHERE id = ?",
                                      (iso(slot or parse_iso(expires)), stamp, cid))
                    continue
                token = secrets.token_hex(12)
                self.conn.execute("UPDATE desk_contacts SET state = 'dialing', attempts = attempts + 1, lease_token = ?, "
                                  "lease_until = ?, updated_at = ? WHERE id = ? AND state = 'due'",
                                  (token, iso(now + lease), stamp, cid))
                if pid is not None:
                    self.store.audit(access, "patient.read", f"patient:{pid}")
                self.store.audit(access, "desk_contact.claim", f"{kind}:{cid}")
                esc = None if eid is None else {"id": int(eid), "raised_at": raised}
                claims.append(DeskClaim(cid, token, attempts + 1, kind, str(phone), pid, name, dob, appt, reason, esc))
        return claims

    def _appointment(self, aid: int | None) -> dict[str, Any] | None:
        row = self.conn.execute(APPOINTMENT_SELECT + "WHERE a.id = ?", (aid,)).fetchone()
        return None if row is None else {**appointment_of(row), "status": str(row[7])}

    def renew(self, contact_id: int, token: str, until: datetime) -> bool:
        with transaction(self.conn):
            cur = self.conn.execute("UPDATE desk_contacts SET lease_until = ? WHERE id = ? AND lease_token = ? AND "
                                    "state = 'dialing'", (iso(until), contact_id, token))
        return cur.rowcount == 1

    def finish(self, access: Access, claim: DeskClaim, outcome: DeskResult, now: datetime) -> str | None:
        """Record one attempt; the contact's new state, or None when the lease was lost (refused)."""
        stamp = iso(now)
        with transaction(self.conn):
            row = self.conn.execute("SELECT attempts, expires_at FROM desk_contacts WHERE id = ? AND lease_token = ? "
                                    "AND state = 'dialing'", (claim.contact_id, claim.token)).fetchone()
            if row is None:
                return None
            attempts, expires = row
            self.conn.execute("UPDATE desk_contacts SET call_id = coalesce(?, call_id), disposition = ? WHERE id = ?",
                              (outcome.call_row_id, outcome.disposition, claim.contact_id))
            if outcome.opted_out:
                self.conn.execute("INSERT OR IGNORE INTO opt_outs (phone, channel, call_id, created_at) "
                                  "VALUES (?, 'call', ?, ?)", (normalize_phone(claim.phone), outcome.call_row_id, stamp))
                self.store.audit(access, "opt_out.create", "phone-opt-out:call")
            if outcome.result == "answered" and outcome.disposition not in RETRY:
                state = "completed"
                self.conn.execute("UPDATE desk_contacts SET state = 'completed', last_result = 'answered', "
                                  "lease_token = NULL, lease_until = NULL, completed_at = ?, updated_at = ? WHERE id = ?",
                                  (stamp, stamp, claim.contact_id))
            else:
                retry_on = outcome.disposition if outcome.result == "answered" else outcome.result
                nxt = self.policy.after_attempt(attempts, retry_on or "failed", now, None, parse_iso(expires))
                state = self._requeue(claim.contact_id, nxt, retry_on or "failed", stamp)
            self.store.audit(access, "desk_contact.update", f"{claim.kind}:{claim.contact_id}")
        return state

    # ---- reading -----------------------------------------------------------------------

    def contacts(self, access: Access, *, appointment_id: int | None = None, kind: str | None = None
                 ) -> list[dict[str, Any]]:
        """Desk contacts (of one appointment, or of one kind), in time order."""
        sql, args = "SELECT * FROM desk_contacts WHERE 1 = 1", list[str | int]()
        if appointment_id is not None:
            sql, args = sql + " AND appointment_id = ?", [*args, appointment_id]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(sql + " ORDER BY due_at, id", args))
            self.store.audit(access, "desk_contact.read", f"appointment:{appointment_id}" if appointment_id else f"{kind}")
        return rows

    def due_now(self, now: datetime) -> list[dict[str, Any]]:
        """What is due now, without PHI (ids, kinds, times)."""
        return rows_of(self.conn.execute("SELECT id, kind, appointment_id, lead_hours, reason, next_at, attempts FROM "
                                         "desk_contacts WHERE state = 'due' AND next_at <= ? ORDER BY next_at, id",
                                         (iso(now),)))
