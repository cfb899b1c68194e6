"""Patients found by phone number (caller ID, and the phone a caller confirms when booking);
bookings made on the phone become appointments in the record store, and the live slot
calendar starts from the appointments already booked.

A call that booked a slot writes, after its outcome is saved: the patient (the one caller ID
found, or a new patient from what the caller gave), the appointment, and a requested deposit.
If the slot was taken meanwhile (booked another way, or an event in the clinic's calendar as
calendar sync last read it), nothing is lost: the call gets a routine `booking-conflict`
escalation, so staff call the patient back to rebook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.conversation import Escalation
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import Store, iso
from appliance.records.db import DatabaseError, transaction
from appliance.records.errors import ConflictError, NotFoundError, SlotTakenError
from appliance.records.phones import normalize_phone
from appliance.records.queue import insert_escalation


@dataclass(frozen=True)
class PhoneBooking:
    provider: str
    start: datetime  # timezone-aware
    minutes: int
    kind: str  # treatment, consult, touch-up, review, series
    procedure: str | None
    name: str | None
    phone: str | None
    deposit_cents: int = 0
    currency: str = "USD"


class Bookings:
    """Patients by caller ID, what a call booked, a moved appointment, the booked slots."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def _patients_with_phone(self, number: str | None) -> list[tuple[int, str | None]]:
        """(id, name) of the patients whose phone is `number`, compared in `normalize_phone` form
        (stored numbers are as staff or callers wrote them)."""
        key = normalize_phone(number)
        if not key:
            return []
        rows = self.conn.execute("SELECT id, phone, name FROM patients WHERE phone IS NOT NULL AND phone != ''")
        return [(int(pid), name) for pid, phone, name in rows.fetchall() if normalize_phone(phone) == key]

    def patient_for_number(self, access: Access, number: str | None) -> int | None:
        """The one patient whose phone is `number` (caller ID); None when nobody or more than one
        patient has it (a shared family or work line: the caller is asked, never assumed)."""
        if len(normalize_phone(number)) < 7:  # an extension or a withheld number identifies nobody
            return None
        with transaction(self.conn):
            ids = [pid for pid, _name in self._patients_with_phone(number)]
            self.store.audit(access, "patient.lookup", "patients:" + ",".join(map(str, ids)))
        return ids[0] if len(ids) == 1 else None

    def record_phone_booking(self, access: Access, pbx_call_id: str, booking: PhoneBooking) -> int | None:
        """Store what a call booked; returns the appointment id, or None after a conflict (escalated)."""
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            pid = self._booking_patient(access, cid, booking)
            end = booking.start + timedelta(minutes=booking.minutes)
            if self._calendar_busy(booking.provider, booking.start, end):
                self._booking_conflict(access, cid)
                return None
            self.conn.execute("SAVEPOINT booking")
            try:
                cur = self.conn.execute(
                    "INSERT INTO appointments (patient_id, provider, slot_start, slot_end, procedure, call_id, kind, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (pid, booking.provider, iso(booking.start), iso(end), booking.procedure, cid, booking.kind, iso()))
            except DatabaseError as e:
                self.conn.execute("ROLLBACK TO booking")
                if "UNIQUE" not in str(e):
                    raise
                self._booking_conflict(access, cid)
                return None
            self.conn.execute("RELEASE booking")
            aid = int(cur.lastrowid or 0)
            outbox.enqueue(self.conn, "appointment.booked", {"appointment_id": aid, "patient_id": pid,
                                                             "provider": booking.provider,
                                                             "slot_start": iso(booking.start)})
            self.store.audit(access, "appointment.create", f"appointment:{aid}")
            if booking.deposit_cents > 0:
                self.conn.execute(
                    "INSERT INTO deposits (patient_id, appointment_id, amount_cents, currency, status, created_at) "
                    "VALUES (?, ?, ?, ?, 'requested', ?)", (pid, aid, booking.deposit_cents, booking.currency, iso()))
                did = int(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                # appliance.messaging: a staff task, or the provider's link texted to the patient
                outbox.enqueue(self.conn, "deposit.requested", {"deposit_id": did, "appointment_id": aid})
                self.store.audit(access, "deposit.create", f"appointment:{aid}")
        return aid

    def _booking_conflict(self, access: Access, cid: int) -> None:
        turn = self.conn.execute("SELECT coalesce(max(idx), 0) FROM turns WHERE call_id = ?", (cid,)).fetchone()
        insert_escalation(self.conn, cid, Escalation("routine", "booking-conflict", int(turn[0]),
                                                     "the slot the caller accepted was booked meanwhile: call back"))
        self.store.audit(access, "escalation.create", f"call:{cid}")

    def _calendar_busy(self, provider: str, start: datetime, end: datetime) -> bool:
        """Whether the provider's clinic calendar, as calendar sync last read it, holds an event
        (other than the appliance's own appointments) overlapping start-end. Empty without sync."""
        row = self.conn.execute(
            "SELECT 1 FROM calendar_busy b JOIN calendar_events e ON e.provider = b.provider AND e.href = b.href "
            "WHERE b.provider = ? AND b.starts_at < ? AND b.ends_at > ? AND (e.uid IS NULL OR e.uid NOT IN "
            "(SELECT cal_uid FROM appointments WHERE cal_uid IS NOT NULL)) LIMIT 1",
            (provider, iso(end), iso(start))).fetchone()
        return row is not None

    def move_appointment(self, access: Access, appointment_id: int, slot_start: datetime, slot_end: datetime) -> None:
        """Move a booked appointment to another time with its provider; SlotTakenError when that
        time holds another booking or an event in the provider's clinic calendar."""
        with transaction(self.conn):
            row = self.conn.execute("SELECT provider, status FROM appointments WHERE id = ?", (appointment_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no appointment {appointment_id}")
            if row[1] != "booked":
                raise ConflictError(f"appointment {appointment_id} is {row[1]}", fix="only a booked appointment moves")
            taken = SlotTakenError(f"{row[0]} is already booked at {iso(slot_start)}", fix="choose another time")
            if self._calendar_busy(str(row[0]), slot_start, slot_end):
                raise taken
            try:
                self.conn.execute("UPDATE appointments SET slot_start = ?, slot_end = ?, confirmed_at = NULL WHERE id = ?",
                                  (iso(slot_start), iso(slot_end), appointment_id))
            except DatabaseError as e:
                if "UNIQUE" in str(e):
                    raise taken from None
                raise
            outbox.enqueue(self.conn, "appointment.moved", {"appointment_id": appointment_id,
                                                            "slot_start": iso(slot_start)})
            self.store.audit(access, "appointment.update", f"appointment:{appointment_id}:moved")

    def _booking_patient(self, access: Access, cid: int, booking: PhoneBooking) -> int:
        """The call's patient (set from caller ID), else one patient with the phone the caller
        confirmed and the name they gave, else a new patient; the call is linked to them."""
        row = self.conn.execute("SELECT patient_id FROM calls WHERE id = ?", (cid,)).fetchone()
        if row and row[0] is not None:
            return int(row[0])
        same = [pid for pid, name in self._patients_with_phone(booking.phone)
                if booking.name and (name or "").lower() == booking.name.lower()]
        if len(same) == 1:
            pid = same[0]
        else:
            now = iso()
            cur = self.conn.execute("INSERT INTO patients (name, phone, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                    (booking.name, booking.phone, now, now))
            pid = int(cur.lastrowid or 0)
            self.store.audit(access, "patient.create", f"patient:{pid}")
        self.conn.execute("UPDATE calls SET patient_id = ? WHERE id = ?", (pid, cid))
        return pid

    def booked_slots(self, access: Access, since: datetime) -> list[tuple[str, datetime, datetime]]:
        """(provider, start, end) of every live booking ending after `since` (UTC-aware), for
        the slot calendar. Times and providers only: no patient data is read."""
        rows = self.conn.execute("SELECT provider, slot_start, slot_end FROM appointments "
                                 "WHERE status = 'booked' AND slot_end > ? ORDER BY slot_start", (iso(since),))
        return [(str(p), datetime.fromisoformat(a), datetime.fromisoformat(b)) for p, a, b in rows.fetchall()]
