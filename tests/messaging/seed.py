"""Bookings with a deposit, written as a call writes them (appliance.records.bookings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.records.audit import Access
from appliance.records.bookings import PhoneBooking

SYSTEM = Access("system:test", "test")


def book(r: Any, call: str, *, name: str, phone: str, email: str | None = None, days: int = 3) -> int:
    """A patient (with an email on file when given), an inbound call from them, and the slot it
    booked with a $50 deposit requested; returns the deposit's id."""
    pid = r.add_patient(SYSTEM, name, phone=phone, email=email)
    r.start_call(SYSTEM, call, "inbound", phone, patient_id=pid, key=call)
    start = (datetime.now(UTC) + timedelta(days=days)).replace(hour=17, minute=0, second=0, microsecond=0)
    aid = r.bookings.record_phone_booking(SYSTEM, call, PhoneBooking(
        provider="np-rivera", start=start, minutes=30, kind="treatment", procedure="botox", name=name,
        phone=phone, deposit_cents=5000))
    return int(r.conn.execute("SELECT id FROM deposits WHERE appointment_id = ?", (aid,)).fetchone()[0])


def row(r: Any, sql: str, *args: Any) -> Any:
    return r.conn.execute(sql, args).fetchone()
