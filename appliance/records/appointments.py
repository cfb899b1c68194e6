"""Appointment outcomes in the record store: finding a caller's patient by name and date of
birth, their upcoming appointments, confirmations, cancellations (late or not, and what became
of the deposit), arrivals and no-shows, and the rates the dashboard shows.

Each change is one transaction with its outbox message and audit event:

  appointment.confirmed  {"appointment_id", "via"}
  appointment.cancelled  {"appointment_id", "late", "deposit", "via"}
  appointment.arrived    {"appointment_id", "by"}     (status completed)
  appointment.no_show    {"appointment_id", "by"}     (status no-show)

Calendar sync (appliance.calsync) follows `status`: a cancelled appointment's event is deleted
from the clinic's calendar; an arrived or no-show one stays as it is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, rows_of
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError
from appliance.records.ids import clean_text
from appliance.records.outcomes import COUNTS, check_deposit, check_mark, rates, same_person_name

VIA_LIMIT = 40  # characters of a `via` or `by` kept (a channel or a user name)

# One appointment as a call sees it (`appointment_of`), then its status; the scheduler's desk
# store reads appointments with the same columns.
APPOINTMENT_SELECT = (
    "SELECT a.id, a.provider, a.slot_start, a.slot_end, a.procedure, a.confirmed_at, "
    "(SELECT coalesce(sum(d.amount_cents), 0) FROM deposits d WHERE d.appointment_id = a.id) AS deposit_cents, "
    "a.status FROM appointments a ")
_UPCOMING = (APPOINTMENT_SELECT + "WHERE a.patient_id = ? AND a.status = 'booked' AND a.slot_start >= ? "
             "ORDER BY a.slot_start, a.id")


def appointment_of(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row of APPOINTMENT_SELECT: id, provider, start, end, procedure, the deposits asked for it
    (cents, every deposit row) and whether the patient confirmed it."""
    aid, provider, start, end, procedure, confirmed, cents = row[:7]
    return {"id": int(aid), "provider": str(provider), "start": str(start), "end": str(end),
            "procedure": procedure, "deposit_cents": int(cents), "confirmed": confirmed is not None}

_DAYS = (
    "SELECT a.id, coalesce(p.name, '') AS patient_label, coalesce(a.procedure, '') AS procedure, a.kind, a.provider, "
    "a.slot_start AS starts_at, a.status, a.confirmed_at, a.confirmed_via, a.cancelled_at, a.cancel_late, "
    "a.deposit_outcome, a.changed_via, a.marked_by, a.marked_at, a.cal_state AS calendar "
    "FROM appointments a JOIN patients p ON p.id = a.patient_id WHERE a.slot_start >= ? AND a.slot_start < ? "
    "ORDER BY a.slot_start, a.id")

_RATES = (
    "SELECT count(*), "
    "coalesce(sum(status = 'booked'), 0), "
    "coalesce(sum(status != 'cancelled' AND confirmed_at IS NOT NULL), 0), "
    "coalesce(sum(status = 'cancelled'), 0), "
    "coalesce(sum(status = 'cancelled' AND cancel_late = 1), 0), "
    "coalesce(sum(status = 'completed'), 0), "
    "coalesce(sum(status = 'no-show'), 0) "
    "FROM appointments WHERE slot_start >= ? AND slot_start < ?")


class Appointments:
    """A caller's patient and upcoming appointments, the day list and rates, and the changes
    staff or callers make: confirm, cancel, arrived or no-show."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def _appointment_status(self, appointment_id: int) -> str:
        row = self.conn.execute("SELECT status FROM appointments WHERE id = ?", (appointment_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no appointment {appointment_id}")
        return str(row[0])

    # -- reads -----------------------------------------------------------------------------
    def patients_by_name_dob(self, access: Access, name: str, dob: date) -> list[int]:
        """The patients born on `dob` whose name is `name` (case and spaces aside; or the same
        first and last words), by id. Several may match: the caller is asked, never assumed."""
        with transaction(self.conn):
            rows = self.conn.execute("SELECT id, name FROM patients WHERE dob = ? ORDER BY id", (dob.isoformat(),))
            ids = [int(pid) for pid, stored in rows.fetchall() if same_person_name(name, stored)]
            self.store.audit(access, "patient.lookup", "patients:" + ",".join(map(str, ids)))
        return ids

    def upcoming_for_patient(self, access: Access, patient_id: int, since: datetime) -> list[dict[str, Any]]:
        """The patient's booked appointments starting at or after `since`, soonest first, with the
        deposits asked for each (cents, every deposit row of the appointment) and whether the
        patient confirmed it."""
        with transaction(self.conn):
            out = [appointment_of(r) for r in self.conn.execute(_UPCOMING, (patient_id, iso(since))).fetchall()]
            self.store.audit(access, "appointment.read",
                        f"patient:{patient_id}:appointments:" + ",".join(str(a["id"]) for a in out))
        return out

    def appointments_between(self, access: Access, since: datetime, until: datetime) -> list[Row]:
        """Every appointment starting in [since, until), with its outcome, for the console's day list."""
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(_DAYS, (iso(since), iso(until))))
            self.store.audit(access, "view.appointments", "appointments:" + ",".join(str(r["id"]) for r in rows))
        return rows

    def appointment_rates(self, access: Access, since: datetime, until: datetime) -> dict[str, Any]:
        """Counts and rates (`appliance.records.outcomes.rates`) of the appointments starting in
        [since, until). Aggregates only: no patient data."""
        with transaction(self.conn):
            row = self.conn.execute(_RATES, (iso(since), iso(until))).fetchone()
            self.store.audit(access, "view.appointment_rates", f"appointments:{iso(since)}..{iso(until)}")
        return rates(dict(zip(COUNTS, (int(v) for v in row), strict=True)))

    # -- changes ---------------------------------------------------------------------------
    def confirm_appointment(self, access: Access, appointment_id: int, via: str) -> None:
        """The patient confirmed a booked appointment (`via`: phone, reminder, console, ...).
        Confirming again records the latest confirmation."""
        via = clean_text(via, VIA_LIMIT)
        with transaction(self.conn):
            status = self._appointment_status(appointment_id)
            if status != "booked":
                raise ConflictError(f"appointment {appointment_id} is {status}", fix="only a booked appointment is confirmed")
            self.conn.execute("UPDATE appointments SET confirmed_at = ?, confirmed_via = ? WHERE id = ?",
                              (iso(), via, appointment_id))
            outbox.enqueue(self.conn, "appointment.confirmed", {"appointment_id": appointment_id, "via": via})
            self.store.audit(access, "appointment.update", f"appointment:{appointment_id}:confirmed")

    def cancel_appointment(self, access: Access, appointment_id: int, *, late: bool = False, deposit: str = "none",
                           via: str = "staff") -> None:
        """Cancel a booked appointment: `late` by the clinic's cancellation policy, `deposit` what
        became of its deposit (kept | refunded | none), `via` how (phone, staff, console, ...).
        Frees the slot; calendar sync removes its event from the clinic's calendar."""
        check_deposit(deposit)
        via = clean_text(via, VIA_LIMIT)
        with transaction(self.conn):
            status = self._appointment_status(appointment_id)
            if status != "booked":
                raise ConflictError(f"appointment {appointment_id} is {status}", fix="only a booked appointment is cancelled")
            self.conn.execute("UPDATE appointments SET status = 'cancelled', cancelled_at = ?, cancel_late = ?, "
                              "deposit_outcome = ?, changed_via = ? WHERE id = ?",
                              (iso(), int(late), deposit, via, appointment_id))
            outbox.enqueue(self.conn, "appointment.cancelled", {"appointment_id": appointment_id, "late": bool(late),
                                                                "deposit": deposit, "via": via})
            self.store.audit(access, "appointment.update", f"appointment:{appointment_id}:cancelled")

    def mark_appointment(self, access: Access, appointment_id: int, status: str, by: str,
                         no_show_deposit: str | None = None) -> None:
        """Mark the patient arrived (`status` completed) or a no-show; `by`: the staff member.
        A mark may be corrected by marking again; a cancelled appointment is not marked.
        `no_show_deposit`: the policy's outcome for a missed appointment's deposit (the pack's
        late-cancellation outcome, kept or refunded), recorded with a no-show that had a deposit."""
        topic = check_mark(status)
        by = clean_text(by, VIA_LIMIT)
        with transaction(self.conn):
            now_status = self._appointment_status(appointment_id)
            if now_status == "cancelled":
                raise ConflictError(f"appointment {appointment_id} was cancelled",
                                    fix="a cancelled appointment is neither arrived nor a no-show")
            outcome = None
            if status == "no-show" and no_show_deposit is not None:
                paid = self.conn.execute("SELECT coalesce(sum(amount_cents), 0) FROM deposits WHERE appointment_id = ?",
                                         (appointment_id,)).fetchone()[0]
                policy = check_deposit(no_show_deposit)  # validated whether or not a deposit was taken
                outcome = policy if paid else "none"
            self.conn.execute("UPDATE appointments SET status = ?, marked_by = ?, marked_at = ?, deposit_outcome = ? "
                              "WHERE id = ?", (status, by, iso(), outcome, appointment_id))
            payload: dict[str, Any] = {"appointment_id": appointment_id, "by": by}
            if outcome is not None:
                payload["deposit"] = outcome
            outbox.enqueue(self.conn, topic, payload)
            self.store.audit(access, "appointment.update", f"appointment:{appointment_id}:{status}")
