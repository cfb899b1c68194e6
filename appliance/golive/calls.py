"""Go-live on each call: the pilot and the supervised period as they stand (read from the record
store at the call's start, so an admin's change applies to the next call), and after the call
the workflow it used, and its booking held for staff review while the period runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.config import Settings
from appliance.conversation import ConversationOutcome
from appliance.golive import store
from appliance.golive.pilot import call_shape
from appliance.golive.policy import Pilot
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access

if TYPE_CHECKING:
    from appliance.records.bookings import PhoneBooking
    from appliance.records.service import AsyncRecords
    from appliance.records.store import Records

log = get_logger(__name__)


@dataclass(frozen=True)
class CallPolicy:
    pilot: Pilot
    supervised: bool


async def call_policy(settings: Settings, records: AsyncRecords | None) -> CallPolicy:
    golive = settings.golive
    if records is None:
        return CallPolicy(Pilot.of(golive), golive.supervised)
    state = await records.run(store.load_state)
    return CallPolicy(Pilot.of(golive, state.get("enabled_workflows") or ()),
                      golive.supervised and not state.get("supervised_ended_at"))


def booking_payload(outcome: ConversationOutcome, timezone: str) -> dict[str, Any]:
    return {"booking": outcome.booking, "name": outcome.slots.get("name") or None,
            "phone": outcome.slots.get("phone") or None, "timezone": timezone}


def phone_booking(payload: dict[str, Any]) -> PhoneBooking:
    """The `PhoneBooking` a call (or a released hold) stores."""
    from zoneinfo import ZoneInfo

    from appliance.records.bookings import PhoneBooking

    b = payload["booking"]
    deposit = b.get("deposit") or {}
    return PhoneBooking(
        provider=str(b["provider"]), start=datetime.fromisoformat(b["start"]).replace(tzinfo=ZoneInfo(payload["timezone"])),
        minutes=int(b["minutes"]), kind=str(b.get("kind") or "treatment"), procedure=b.get("treatment"),
        name=payload.get("name"), phone=payload.get("phone"),
        deposit_cents=int(deposit.get("amount") or 0) * 100, currency=str(deposit.get("currency") or "USD"))


async def after_call(records: AsyncRecords, access: Access, call_key: str, engine: Any, outcome: ConversationOutcome,
                     policy: CallPolicy, timezone: str) -> bool:
    """Note the call's workflow; in the supervised period hold its booking (and so the booking's
    confirmation and deposit request) for staff review. True when the booking was held."""
    call_type, workflow = call_shape(engine)
    await records.run(lambda r: store.note_call(r, access, call_key, workflow, call_type, policy.supervised))
    if not (policy.supervised and outcome.booking):
        return False
    payload = booking_payload(outcome, timezone)
    hid = await records.run(lambda r: store.add_hold(r, access, call_key, workflow, "booking", payload))
    tasks = [t for t in outcome.slots.get("staff_tasks") or [] if isinstance(t, dict)]
    if tasks:
        await records.run(lambda r: store.add_hold(r, access, call_key, workflow, "staff-tasks", {"tasks": tasks}))
    log.info("golive.held_for_review", call_id=hostile(access.call_id or ""), hold=hid, workflow=workflow,
             tasks=len(tasks))
    return True


async def release(records: AsyncRecords, access: Access, hid: str, by: str) -> dict[str, Any]:
    """A staff approval releases a held action: the booking is stored (its confirmation goes out
    through the outbox as `appointment.booked`); held staff tasks are released to the outbox; a
    held aftercare or recall call is placed by the scheduler at its next turn."""
    from appliance.records import outbox
    from appliance.records.db import transaction

    hold: dict[str, Any] = await records.run(lambda r: store.claim_hold(r, access, hid, "released", by))
    if hold["kind"] == "aftercare-call":
        pass  # the scheduler places a released call at its next turn (appliance.golive.outbound)
    elif hold["kind"] == "booking":
        hold["appointment_id"] = await records.run(lambda r: r.bookings.record_phone_booking(
            access, hold["call_key"], phone_booking(hold["payload"])))
    else:
        def enqueue(r: Records) -> None:
            with transaction(r.conn):
                outbox.enqueue(r.conn, "golive.released", {"hold": hid, "kind": hold["kind"],
                                                           "call_key": hold["call_key"], **hold["payload"]})
        await records.run(enqueue)
    log.info("golive.released", hold=hid, kind=hold["kind"], by=hostile(by))
    return hold
