"""What a call's runner reads from and writes to the record store around the conversation: who
the caller is (by caller ID), the call's identifiers made storable, the slot calendar seeded with
the live appointments, and the slot a call booked. Used by the call runner (`appliance.callflow`),
the outbound call handlers (`appliance.scheduler`) and shadow listening (`appliance.golive.shadow`).

Lookups a caller waits for are bounded in time and fail open (an unknown caller), never closed."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.clinic.context import CallerContext
from appliance.clinic.pack import Pack
from appliance.conversation import ConversationOutcome
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.ids import clean_call_id, clean_name, clean_number
from appliance.records.service import AsyncRecords

log = get_logger(__name__)

LOOKUP_TIMEOUT_S = 1.0  # the caller is waiting for the greeting


async def caller_context(records: AsyncRecords | None, access: Access, info: Any) -> tuple[CallerContext, int | None]:
    """What the conversation may know before the greeting: an inbound caller ID that belongs to
    exactly one patient makes a known (returning) patient, and links the call to them. Nothing
    else from the record is used (the person on the line may not be that patient, so no name
    is spoken), and a slow or failed lookup answers the call as an unknown caller."""
    phone = info.remote_number or None
    if records is None or phone is None or info.direction != "inbound":
        return CallerContext(phone=phone), None
    try:
        pid = await asyncio.wait_for(records.invoke(lambda r: r.bookings.patient_for_number, access, phone), LOOKUP_TIMEOUT_S)
    except Exception:  # noqa: BLE001  (TimeoutError included: answer the call, log it)
        log.warning("call.caller_lookup_failed", call_id=hostile(info.call_id))
        return CallerContext(phone=phone), None
    return CallerContext(phone=phone, known_patient=pid is not None), pid


def safe_info(info: Any) -> Any:
    """The call's identifiers as the appliance keeps them: Call-ID, number and display name made
    valid UTF-8 and bounded (a PBX may send any bytes; they must never stop the record)."""
    return dataclasses.replace(info, call_id=clean_call_id(info.call_id),
                               remote_number=clean_number(info.remote_number) or "",
                               remote_name=clean_name(info.remote_name),
                               local_number=clean_number(info.local_number) or "")


async def store_booking(records: AsyncRecords, access: Access, call_id: str, outcome: ConversationOutcome,
                        pack: Pack) -> int | None:
    """The slot a call booked, as an appointment (with its patient and requested deposit)."""
    from zoneinfo import ZoneInfo

    from appliance.records.bookings import PhoneBooking

    b = outcome.booking or {}
    deposit = b.get("deposit") or {}
    booking = PhoneBooking(
        provider=str(b["provider"]), start=datetime.fromisoformat(b["start"]).replace(tzinfo=ZoneInfo(pack.clinic.timezone)),
        minutes=int(b["minutes"]), kind=str(b.get("kind") or "treatment"), procedure=b.get("treatment"),
        name=outcome.slots.get("name") or None, phone=outcome.slots.get("phone") or None,
        deposit_cents=int(deposit.get("amount") or 0) * 100, currency=str(deposit.get("currency") or "USD"))
    aid: int | None = await records.invoke(lambda r: r.bookings.record_phone_booking, access, call_id, booking)
    log.info("call.booking_stored", call_id=hostile(call_id), stored=aid is not None, kind=booking.kind)
    return aid


async def booking_calendar(records: AsyncRecords | None, pack: Pack) -> Any:
    """The slot calendar for calls, seeded with the live appointments in the record store (so a
    restart or a staff booking never lets a call offer a taken slot)."""
    from zoneinfo import ZoneInfo

    from appliance.clinic.schedule import Booking, InMemoryBookingStore

    if records is None:
        return InMemoryBookingStore()
    tz = ZoneInfo(pack.clinic.timezone)
    access = Access(actor="system:scheduler", reason="slot calendar")
    taken = await records.invoke(lambda r: r.bookings.booked_slots, access, datetime.now(UTC) - timedelta(days=1))
    return InMemoryBookingStore([
        Booking(id=f"appointment-{i}", kind="booked", treatment=None, provider_id=provider,
                start=start.astimezone(tz).replace(tzinfo=None), minutes=int((end - start).total_seconds() // 60))
        for i, (provider, start, end) in enumerate(taken)])
