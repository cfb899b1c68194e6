"""The durable outbound queue in the encrypted record store (synchronous; one thread owns it).

Tables (migrations 0004 and 0005): `aftercare_plans` (with the treatment behind the plan;
`treated_at` is the treatment day at the first contact time, clinic-local, stored in UTC),
`aftercare_contacts` (one row per planned contact, with its state and lease; 0014: `answers`, a
check-in's answers as JSON, read back decoded by `contacts`) and
`outbound_attempts` (one row per dial). Every method is one `BEGIN IMMEDIATE` transaction,
so two workers (or a worker and a restarted one) can never claim the same contact:

    due --claim--> dialing (lease_token, lease_until) --finish(token)--> completed | due | failed
                      \\--lease expires (worker died)--> due (attempt counted) --> retried once

A late `finish` from a worker whose lease was taken over is refused (its token no longer
matches), so a call is never recorded twice. PHI reads and writes go with audit events.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.pack import Pack
from appliance.conversation import Escalation
from appliance.logs import get_logger
from appliance.messaging.store import record_written_consents
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import Store, rows_of
from appliance.records.db import Connection, transaction
from appliance.records.phones import normalize_phone, opted_out, same_phone
from appliance.records.queue import insert_escalation
from appliance.records.store import audit_key
from appliance.scheduler.plan import PlanRules, plan_contacts
from appliance.scheduler.policy import CallPolicy, ContactRights, may_contact


class ScheduleError(ValueError):
    """Bad input for a plan (unknown procedure, bad date, ...): nothing was written."""


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("times must carry a timezone")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def phone_digits(phone: str | None) -> str:
    """The digits of a number as written (what is dialled); compare numbers with `normalize_phone`."""
    return re.sub(r"\D", "", phone or "")


log = get_logger(__name__)

@dataclass(frozen=True)
class Treatment:
    """A recorded treatment: what the plan is built from."""

    name: str
    phone: str
    dob: str  # YYYY-MM-DD: needed to verify identity on the call
    procedure: str  # treatment id or workflow id from the pack
    treated_on: date
    product: str | None = None
    area: str | None = None
    session: int | None = None
    time_zone: str | None = None  # the patient's IANA zone; default: the clinic's
    consent: bool | None = True  # aftercare-call consent given at the visit
    source: str = "api"
    email: str | None = None
    written: tuple[str, ...] | None = None  # channels consented to for written aftercare (None: not asked)
    sms_details: bool = False  # consented to texts that name the procedure
    provider: str | None = None  # the pack's provider id


@dataclass(frozen=True)
class Claim:
    """A contact leased to one worker for one dial attempt."""

    contact_id: int
    token: str
    attempt: int
    kind: str
    day: int
    item: str | None
    plan_id: int
    patient_id: int
    name: str | None
    phone: str
    dob: str | None
    workflow: str
    product: str | None
    area: str | None
    treated_on: date
    session: int | None
    time_zone: str


@dataclass(frozen=True)
class AttemptResult:
    """What one dial produced. `result`: answered | no-answer | busy | rejected | failed.
    For answered calls, `disposition` and the outcome flags come from the conversation."""

    result: str
    # completed | voicemail | wrong-person | identity-failed | opted-out | hung-up |
    # escalated (a red flag reported before identity was confirmed: staff call back, not retried)
    disposition: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)  # reached delivered concern escalated booked opted_out message_left
    call_row_id: int | None = None
    answers: dict[str, str] = field(default_factory=dict)  # a check-in's {question id: answer} (PHI: never logged)


FLAGS = ("reached", "delivered", "concern", "escalated", "booked", "opted_out", "message_left")


class ScheduleStore:
    def __init__(self, conn: Connection, pack: Pack, policy: CallPolicy, *, rules: PlanRules | None = None,
                 require_consent: bool = True) -> None:
        self.conn = conn
        self.pack = pack
        self.policy = policy
        self.rules = rules or PlanRules()
        self.require_consent = require_consent
        self.gate: Any = None  # appliance.golive.outbound.OutboundGate: which due contacts may be dialled
        self.store = Store(conn, audit_key(conn))  # the audit trail, as Records writes it
        self._plan_cols = {r[1] for r in conn.execute("PRAGMA table_info(aftercare_plans)")}

    # ---- plans ------------------------------------------------------------------------

    def _treated_at(self, treated_on: date) -> str:
        return iso(datetime.combine(treated_on, self.rules.call_from, ZoneInfo(self.policy.clinic_tz)))

    def treated_on(self, treated_at: str) -> date:
        """The treatment day (clinic-local) of a plan's `treated_at`."""
        return parse_iso(treated_at).astimezone(ZoneInfo(self.policy.clinic_tz)).date()

    def _workflow_id(self, procedure: str) -> str:
        if procedure in self.pack.workflows:
            return procedure
        wf = self.pack.workflow_of(procedure)
        if wf is not None:
            return wf.id
        known = sorted({*self.pack.workflows, *(t.id for t in self.pack.menu.treatments)})
        raise ScheduleError(f"unknown procedure {procedure!r}; expected a treatment or workflow id: {', '.join(known)}")

    def _validate(self, t: Treatment) -> str:
        if not t.name.strip():
            raise ScheduleError("the patient's name is required")
        if len(phone_digits(t.phone)) < 7:
            raise ScheduleError("a phone number with at least 7 digits is required")
        try:
            date.fromisoformat(t.dob)
        except (TypeError, ValueError) as e:
            raise ScheduleError(f"date of birth {t.dob!r} is not a date (YYYY-MM-DD)") from e
        if t.time_zone:
            try:
                ZoneInfo(t.time_zone)
            except Exception as e:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError
                raise ScheduleError(f"time zone {t.time_zone!r} is not an IANA zone (e.g. America/New_York)") from e
        return self._workflow_id(t.procedure)

    def _patient(self, access: Access, t: Treatment, now: str) -> int:
        row = self.conn.execute("SELECT id FROM patients WHERE phone = ? AND dob = ? ORDER BY id LIMIT 1",
                                (t.phone, t.dob)).fetchone()
        if row:
            return int(row[0])
        cur = self.conn.execute("INSERT INTO patients (name, phone, dob, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                                (t.name.strip(), t.phone, t.dob, now, now))
        pid = int(cur.lastrowid or 0)
        self.store.audit(access, "patient.create", f"patient:{pid}")
        return pid

    def record_treatment(self, access: Access, t: Treatment, now: datetime) -> int:
        """Create the patient (if new), the consent record and the plan with its contacts; return the plan id."""
        wf_id = self._validate(t)
        wf = self.pack.workflows[wf_id]
        tz = t.time_zone or self.policy.clinic_tz
        stamp = iso(now)
        clinic_tz = ZoneInfo(self.policy.clinic_tz)
        with transaction(self.conn):
            pid = self._patient(access, t, stamp)
            if t.consent is not None:
                self.conn.execute("INSERT INTO consents (patient_id, kind, granted, source, created_at) "
                                  "VALUES (?, 'aftercare-calls', ?, ?, ?)", (pid, int(t.consent), t.source, stamp))
                self.store.audit(access, "consent.create", f"patient:{pid}")
            cur = self.conn.execute(
                "INSERT INTO aftercare_plans (patient_id, procedure, pack, created_at, workflow, treated_at, product, "
                "area, session, time_zone, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, t.procedure, self.pack.ref, stamp, wf_id, self._treated_at(t.treated_on), t.product, t.area,
                 t.session, tz, t.source))
            plan_id = int(cur.lastrowid or 0)
            if "series_total" in self._plan_cols and wf.rebooking.series is not None:
                self.conn.execute("UPDATE aftercare_plans SET series_total = ?, series_done = ? WHERE id = ?",
                                  (wf.rebooking.series.sessions, t.session or 1, plan_id))
            if "review_due_at" in self._plan_cols:
                review = datetime.combine(t.treated_on + timedelta(days=wf.review_window.from_day),
                                          self.rules.call_from, clinic_tz)
                self.conn.execute("UPDATE aftercare_plans SET review_due_at = ? WHERE id = ?", (iso(review), plan_id))
            for c in plan_contacts(wf, t.treated_on, session=t.session, rules=self.rules):
                due = c.due_local(self.rules).replace(tzinfo=clinic_tz)
                expires = datetime.combine(c.expires_on, self.rules.call_from, clinic_tz)
                nxt = self.policy.next_allowed(max(due, now), tz) or expires
                state = "due" if nxt <= expires and expires > now else "failed"
                self.conn.execute(
                    "INSERT INTO aftercare_contacts (plan_id, kind, day, item, due_at, expires_at, next_at, state, "
                    "disposition, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (plan_id, c.kind, c.day, c.item, iso(due), iso(expires), iso(nxt), state,
                     None if state == "due" else "expired", stamp, stamp))
            self.store.audit(access, "aftercare_plan.create", f"plan:{plan_id}")
            if "provider" in self._plan_cols and t.provider:
                self.conn.execute("UPDATE aftercare_plans SET provider = ? WHERE id = ?", (t.provider, plan_id))
            if t.written is not None:  # appliance.messaging: the written instructions, or a printable sheet
                record_written_consents(self.conn, lambda a, s: self.store.audit(access, a, s), pid, email=t.email,
                                        written=t.written, sms_details=t.sms_details, source=t.source, stamp=stamp)
            outbox.enqueue(self.conn, "aftercare.recorded", {"plan_id": plan_id})
        return plan_id

    def contacts(self, access: Access, patient_id: int | None = None, plan_id: int | None = None) -> list[dict[str, Any]]:
        """The planned contacts (with their state) of one patient or one plan, in time order."""
        sql = ("SELECT c.*, p.patient_id, p.workflow, p.treated_at, p.time_zone FROM aftercare_contacts c "
               "JOIN aftercare_plans p ON p.id = c.plan_id WHERE ")
        if plan_id is not None:
            sql, arg = sql + "c.plan_id = ?", plan_id
        elif patient_id is not None:
            sql, arg = sql + "p.patient_id = ?", patient_id
        else:
            raise ScheduleError("pass a patient or a plan")
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(sql + " ORDER BY c.due_at, c.id", (arg,)))
            for r in rows:
                r["treated_on"] = self.treated_on(r["treated_at"]).isoformat() if r["treated_at"] else None
                r["answers"] = json.loads(r["answers"]) if r.get("answers") else None  # a check-in's answers
            self.store.audit(access, "aftercare_plan.read", f"patient:{patient_id}" if plan_id is None else f"plan:{plan_id}")
        return rows

    # ---- rights -----------------------------------------------------------------------

    def _rights(self, patient_id: int, phone: str) -> ContactRights:
        row = self.conn.execute("SELECT granted FROM consents WHERE patient_id = ? AND kind = 'aftercare-calls' "
                                "ORDER BY id DESC LIMIT 1", (patient_id,)).fetchone()
        return ContactRights(consent=None if row is None else bool(row[0]), opted_out=opted_out(self.conn, phone, "call"))

    def _cancel_for_phone(self, phone: str, now: str, reason: str) -> int:
        ids = [r[0] for r in self.conn.execute("SELECT id, phone FROM patients") if same_phone(r[1], phone)]
        if not ids:
            return 0
        marks = ",".join("?" for _ in ids)
        cur = self.conn.execute(
            f"UPDATE aftercare_contacts SET state = 'cancelled', disposition = ?, updated_at = ?, "  # noqa: S608 (placeholders only)
            f"lease_token = NULL, lease_until = NULL WHERE state = 'due' AND plan_id IN "
            f"(SELECT id FROM aftercare_plans WHERE patient_id IN ({marks}))", (reason, now, *ids))
        return int(cur.rowcount or 0)

    def opt_out(self, access: Access, phone: str, now: datetime, call_row_id: int | None = None) -> int:
        """Record "please stop calling" for this number; cancel every future contact. Returns how many."""
        if not normalize_phone(phone):
            raise ScheduleError(f"{phone!r} is not a phone number")
        stamp = iso(now)
        with transaction(self.conn):
            n = self._opt_out(access, phone, stamp, call_row_id)
        return n

    def _opt_out(self, access: Access, phone: str, stamp: str, call_row_id: int | None) -> int:
        self.conn.execute("INSERT OR IGNORE INTO opt_outs (phone, channel, call_id, created_at) VALUES (?, 'call', ?, ?)",
                          (normalize_phone(phone), call_row_id, stamp))
        self.store.audit(access, "opt_out.create", "phone-opt-out:call")
        return self._cancel_for_phone(phone, stamp, "opted-out")

    # ---- the queue --------------------------------------------------------------------

    def _expire_leases(self, now: datetime) -> None:
        stamp = iso(now)
        rows = self.conn.execute(
            "SELECT c.id, c.attempts, c.expires_at, c.lease_token, p.time_zone FROM aftercare_contacts c "
            "JOIN aftercare_plans p ON p.id = c.plan_id WHERE c.state = 'dialing' AND c.lease_until <= ?",
            (stamp,)).fetchall()
        for cid, attempts, expires, token, tz in rows:
            self.conn.execute("UPDATE outbound_attempts SET ended_at = ?, result = 'lease-expired' "
                              "WHERE token = ? AND result IS NULL", (stamp, token))
            nxt = self.policy.after_attempt(attempts, "lease-expired", now, tz, parse_iso(expires))
            self._requeue(cid, nxt, "lease-expired", stamp)

    def _requeue(self, cid: int, nxt: datetime | None, result: str, stamp: str) -> None:
        if nxt is None:
            self.conn.execute("UPDATE aftercare_contacts SET state = 'failed', disposition = ?, last_result = ?, "
                              "lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                              ("attempts-exhausted", result, stamp, cid))
        else:
            self.conn.execute("UPDATE aftercare_contacts SET state = 'due', next_at = ?, last_result = ?, "
                              "lease_token = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                              (iso(nxt), result, stamp, cid))

    def claim_due(self, access: Access, now: datetime, worker: str, lease: timedelta, limit: int) -> list[Claim]:
        """Lease up to `limit` contacts that are due now (atomically); expired leases come back first."""
        stamp = iso(now)
        claims: list[Claim] = []
        with transaction(self.conn):
            self._expire_leases(now)
            if limit <= 0:
                return []
            rows = self.conn.execute(
                "SELECT c.id, c.kind, c.day, c.item, c.attempts, c.expires_at, p.id, p.patient_id, p.workflow, "
                "p.product, p.area, p.treated_at, p.session, p.time_zone, pt.name, pt.phone, pt.dob, pt.ref "
                "FROM aftercare_contacts c JOIN aftercare_plans p ON p.id = c.plan_id "
                "JOIN patients pt ON pt.id = p.patient_id "
                "WHERE c.state = 'due' AND c.next_at <= ? AND p.workflow IS NOT NULL AND p.treated_at IS NOT NULL "
                "ORDER BY c.next_at, c.id", (stamp,)).fetchall()  # staff-kept contacts with no workflow: not dialled
            for (cid, kind, day, item, attempts, expires, plan_id, pid, wf, product, area, treated, session, tz,
                 name, phone, dob, ref) in rows:
                if len(claims) >= limit:
                    break
                if parse_iso(expires) <= now:
                    self.conn.execute("UPDATE aftercare_contacts SET state = 'failed', disposition = 'expired', "
                                      "updated_at = ? WHERE id = ?", (stamp, cid))
                    continue
                ok, reason = may_contact(self._rights(pid, phone), require_consent=self.require_consent)
                if not ok:
                    self.conn.execute("UPDATE aftercare_contacts SET state = 'cancelled', disposition = ?, "
                                      "updated_at = ? WHERE id = ?", (reason, stamp, cid))
                    continue
                if self.gate is not None:
                    decision, why = self.gate.decide(self, access, contact_id=cid, kind=kind, day=day, workflow=wf,
                                                     phone=phone, patient_ref=str(ref))
                    if decision == "review":
                        continue  # the supervised period: dialled once a reviewer releases it
                    if decision != "dial":
                        self._not_dialled(access, cid, kind, day, wf, str(ref), decision, why, stamp)
                        continue
                slot = self.policy.next_allowed(now, tz)
                if slot != now.astimezone(UTC):
                    self.conn.execute("UPDATE aftercare_contacts SET next_at = ?, updated_at = ? WHERE id = ?",
                                      (iso(slot or parse_iso(expires)), stamp, cid))
                    continue
                token = secrets.token_hex(12)
                self.conn.execute("UPDATE aftercare_contacts SET state = 'dialing', attempts = attempts + 1, "
                                  "lease_token = ?, lease_until = ?, updated_at = ? WHERE id = ? AND state = 'due'",
                                  (token, iso(now + lease), stamp, cid))
                self.conn.execute("INSERT INTO outbound_attempts (contact_id, attempt, token, worker, started_at) "
                                  "VALUES (?, ?, ?, ?, ?)", (cid, attempts + 1, token, worker, stamp))
                self.store.audit(access, "patient.read", f"patient:{pid}")
                claims.append(Claim(cid, token, attempts + 1, kind, day, item, plan_id, pid, name, phone, dob, wf,
                                    product, area, self.treated_on(treated), session, tz))
        return claims

    def _not_dialled(self, access: Access, cid: int, kind: str, day: int, workflow: str, ref: str, decision: str, why: str,
                     stamp: str) -> None:
        """A contact go-live keeps the appliance from dialling: closed, and (unless a reviewer
        discarded it) handed to staff as a routine task in the escalation queue."""
        self.conn.execute("UPDATE aftercare_contacts SET state = 'cancelled', disposition = ?, lease_token = NULL, "
                          "lease_until = NULL, updated_at = ? WHERE id = ?", (f"{decision}: {why}"[:200], stamp, cid))
        log.info("scheduler.not_dialled", contact=cid, kind=kind, day=day, decision=decision, reason=why)
        if decision == "hold":
            insert_escalation(self.conn, None, Escalation(
                "routine", "aftercare-call-held", 0,
                f"The day-{day} {kind} call for patient {ref} ({workflow}) was not placed: {why}. "
                "Please call the patient."))
            self.store.audit(access, "escalation.create", f"contact:{cid}")

    def renew(self, contact_id: int, token: str, until: datetime) -> bool:
        """Extend a lease while the call goes on; False when the lease was lost."""
        with transaction(self.conn):
            cur = self.conn.execute("UPDATE aftercare_contacts SET lease_until = ? WHERE id = ? AND lease_token = ? "
                                    "AND state = 'dialing'", (iso(until), contact_id, token))
        return cur.rowcount == 1

    def finish(self, access: Access, claim: Claim, outcome: AttemptResult, now: datetime) -> str | None:
        """Record one attempt's outcome; returns the contact's new state, or None if the lease was lost."""
        stamp = iso(now)
        with transaction(self.conn):
            row = self.conn.execute("SELECT attempts, expires_at FROM aftercare_contacts WHERE id = ? AND "
                                    "lease_token = ? AND state = 'dialing'", (claim.contact_id, claim.token)).fetchone()
            if row is None:
                return None
            attempts, expires = row
            self.conn.execute("UPDATE outbound_attempts SET ended_at = ?, result = ? WHERE token = ?",
                              (stamp, outcome.disposition or outcome.result, claim.token))
            flags = {k: int(bool(outcome.flags.get(k))) for k in FLAGS}
            sets = ", ".join(f"{k} = max({k}, ?)" for k in FLAGS)
            self.conn.execute(f"UPDATE aftercare_contacts SET {sets}, call_id = coalesce(?, call_id) "  # noqa: S608 (fixed names)
                              "WHERE id = ?", (*flags.values(), outcome.call_row_id, claim.contact_id))
            if outcome.answers:  # added to those of an earlier attempt of the contact (migration 0014)
                self.conn.execute("UPDATE aftercare_contacts SET answers = json_patch(coalesce(answers, '{}'), ?) "
                                  "WHERE id = ?", (json.dumps(outcome.answers), claim.contact_id))
            if flags["opted_out"]:
                self._opt_out(access, claim.phone, stamp, outcome.call_row_id)
            retry_on = outcome.result if outcome.result != "answered" else outcome.disposition
            if outcome.result == "answered" and outcome.disposition not in ("voicemail", "hung-up"):
                state = "completed"
                self.conn.execute("UPDATE aftercare_contacts SET state = 'completed', disposition = ?, last_result = ?, "
                                  "lease_token = NULL, lease_until = NULL, completed_at = ?, updated_at = ? WHERE id = ?",
                                  (outcome.disposition or "completed", outcome.result, stamp, stamp, claim.contact_id))
                self._dashboard(claim.plan_id, flags)
            else:
                nxt = self.policy.after_attempt(attempts, retry_on or "failed", now, claim.time_zone, parse_iso(expires))
                self._requeue(claim.contact_id, nxt, retry_on or "failed", stamp)
                state = "due" if nxt else "failed"
                if flags["message_left"]:
                    self.conn.execute("UPDATE aftercare_contacts SET disposition = 'voicemail' WHERE id = ?",
                                      (claim.contact_id,))
            self.store.audit(access, "aftercare_contact.update", f"plan:{claim.plan_id}{':answers' if outcome.answers else ''}")
        return state

    def _dashboard(self, plan_id: int, flags: dict[str, int]) -> None:
        """Feed the workflow-quality columns of the plan (present once the console's migration is in)."""
        updates = {"instructions_delivered": flags["delivered"], "patient_responded": flags["reached"],
                   "rebooked": flags["booked"]}
        for col, value in updates.items():
            if col in self._plan_cols and value:
                self.conn.execute(f"UPDATE aftercare_plans SET {col} = 1 WHERE id = ?", (plan_id,))  # noqa: S608

    def due_now(self, now: datetime) -> list[dict[str, Any]]:
        """Contacts whose time has come (no PHI: ids, kinds, states) for `run-due --dry-run`."""
        return rows_of(self.conn.execute("SELECT id, plan_id, kind, day, next_at, attempts FROM aftercare_contacts "
                                         "WHERE state = 'due' AND next_at <= ? ORDER BY next_at, id", (iso(now),)))

    def attempts_of(self, contact_id: int) -> list[dict[str, Any]]:
        return rows_of(self.conn.execute("SELECT attempt, token, worker, started_at, ended_at, result FROM "
                                         "outbound_attempts WHERE contact_id = ? ORDER BY attempt", (contact_id,)))

    def outcome_counts(self) -> dict[str, int]:
        """Aggregates per outcome for the quality dashboard (no PHI)."""
        row = self.conn.execute(
            "SELECT count(*), " + ", ".join(f"coalesce(sum({k}), 0)" for k in FLAGS) +  # noqa: S608 (fixed names)
            " FROM aftercare_contacts WHERE state = 'completed' OR attempts > 0").fetchone()
        return {"contacted": int(row[0]), **{k: int(v) for k, v in zip(FLAGS, row[1:], strict=True)}}
