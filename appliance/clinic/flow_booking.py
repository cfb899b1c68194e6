"""Booking: contact details, slot offers from the schedule, the deposit per the menu's policy."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from appliance.clinic.errors import SlotTaken
from appliance.clinic.parsers import person_name, phone_number, refused, yes_no
from appliance.clinic.payments import PaymentRequest, StaffTask
from appliance.clinic.schedule import Slot
from appliance.conversation import Say

MAX_OFFERS = 3


def spoken_time(when: datetime) -> str:
    hour = when.hour % 12 or 12
    minute = f":{when.minute:02d}" if when.minute else ""
    return f"{when:%A}, {when:%B} {when.day} at {hour}{minute} {'AM' if when.hour < 12 else 'PM'}"


class BookingFlow:
    """Mixin for ClinicConversation."""

    s: Any
    pack: Any
    out: Any
    now: datetime
    today: date
    scheduler: Any
    payments: Any
    tasks: list[StaffTask]

    async def on_offer_booking(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer == "yes":
            return self.collect_contact()
        if answer in ("no", "declined"):
            self.s.state = "anything_else"
            return [self.line("anything_else")]
        return None

    def collect_contact(self) -> list[Say]:
        if self.s.concern_raised:
            self.s.state = "anything_else"
            return [self.line("concern_first"), self.line("anything_else")]
        if not self.out.slots.get("name"):
            self.s.state = "ask_name"
            return [self.line("ask_name")]
        if not self.out.slots.get("phone"):
            self.s.state = "ask_phone"
            return [self.line("ask_phone")]
        if not self.s.phone_confirmed:
            self.s.state = "confirm_phone"
            return [self.line("confirm_phone", phone=self.out.slots["phone"][-4:])]
        return self.offer_slots()

    async def on_ask_name(self, text: str) -> list[Say] | None:
        if refused(text):
            return [self.line("declined_ack")] + self.start_message()
        name = person_name(text)
        if name is None and self.s.retries >= 1 and yes_no(text) is None and any(c.isalpha() for c in text):
            name = " ".join(text.split()[:3])[:60] or None
        if name is None:
            return None
        self.out.slots["name"] = name
        return self.collect_contact()

    async def on_ask_phone(self, text: str) -> list[Say] | None:
        if refused(text):
            return [self.line("declined_ack")] + self.start_message()
        number = phone_number(text)
        if number is None:
            return None
        self.out.slots["phone"] = number
        self.s.phone_confirmed = True
        return self.collect_contact()

    async def on_confirm_phone(self, text: str) -> list[Say] | None:
        number = phone_number(text)
        if number:
            self.out.slots["phone"] = number
            self.s.phone_confirmed = True
            return self.collect_contact()
        answer = yes_no(text)
        if answer == "yes":
            self.s.phone_confirmed = True
            return self.collect_contact()
        if answer in ("no", "declined"):
            self.out.slots.pop("phone", None)
            self.s.state = "ask_phone"
            return [self.line("ask_phone")]
        return None

    def _family_minutes(self) -> tuple[str | None, int]:
        fu = self.s.follow_up
        if fu is not None and self.s.workflow is not None:
            return self.s.workflow.family, 30
        t = self.treatment()
        if self.s.booking_kind == "treatment" and t is not None:
            return t.family, t.minutes
        return None, self.pack.menu.consult.minutes

    def offer_slots(self) -> list[Say]:
        family, minutes = self._family_minutes()
        fu = self.s.follow_up
        earliest, latest = (fu.earliest, fu.latest) if fu is not None else (None, None)
        self.s.slots_offered = self.scheduler.find(family, minutes, self.now, earliest, latest, count=MAX_OFFERS)
        self.s.slot_index = 0
        if not self.s.slots_offered:
            return self._no_slots()
        self.s.state = "offer_slot"
        return [self.slot_line("offer_slot", self.s.slots_offered[0])]

    def slot_line(self, key: str, slot: Slot) -> Say:
        provider = self.scheduler.provider(slot.provider_id)
        return self.line(key, when=spoken_time(slot.start), provider=provider.name)

    def _no_slots(self) -> list[Say]:
        self.tasks.append(StaffTask("call-back", {"reason": "booking-no-slot", "kind": self.booking_kind_name()}))
        self.s.state = "anything_else"
        return [self.line("no_slots"), self.line("anything_else")]

    def booking_kind_name(self) -> str:
        fu = self.s.follow_up
        return fu.kind if fu is not None else self.s.booking_kind

    async def on_offer_slot(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer == "yes":
            return await self._book(self.s.slots_offered[self.s.slot_index])
        if answer in ("no", "declined", "unsure"):
            self.s.slot_index += 1
            if self.s.slot_index >= len(self.s.slots_offered):
                return self._no_slots()
            return [self.slot_line("slot_declined", self.s.slots_offered[self.s.slot_index])]
        return None

    async def _book(self, slot: Slot) -> list[Say]:
        kind = self.booking_kind_name()
        t = self.treatment() if self.s.follow_up is None else None
        treatment_id = t.id if t and kind == "treatment" else (self.s.workflow.id if self.s.workflow else None)
        try:
            booking = self.scheduler.book(slot, kind, treatment_id, self.out.slots.get("name"),
                                          self.out.slots.get("phone"))
        except SlotTaken:
            self.s.slots_offered = self.s.slots_offered[self.s.slot_index + 1:]
            self.s.slot_index = 0
            if not self.s.slots_offered:
                return self._no_slots()
            return [self.slot_line("slot_declined", self.s.slots_offered[0])]
        provider = self.scheduler.provider(booking.provider_id)
        label = self.booking_label() if self.s.follow_up is None else f"a {kind} appointment"
        self.out.booking = {"id": booking.id, "kind": kind, "treatment": treatment_id, "provider": provider.id,
                            "start": booking.start.isoformat(timespec="minutes"), "minutes": booking.minutes,
                            "deposit": None}
        says = [self.line("booked", kind=label, when=spoken_time(booking.start), provider=provider.name)]
        says += await self._deposit(booking.id, kind, t)
        self.s.state = "anything_else"
        return says + [self.line("anything_else")]

    async def _deposit(self, booking_id: str, kind: str, t: Any) -> list[Say]:
        policy_id = None
        if kind == "treatment" and t is not None:
            policy_id = t.deposit
        elif kind == "consult":
            policy_id = self.pack.menu.consult.deposit
        elif kind == "touch-up" and self.s.workflow and self.s.workflow.rebooking.touch_up_deposit:
            policy_id = next((x.deposit for x in self.pack.menu.treatments if x.workflow == self.s.workflow.id), None)
        policy = next((p for p in self.pack.menu.deposit_policies if p.id == policy_id), None)
        if policy is None or policy.amount == 0:
            return []
        task = await self.payments.request_deposit(PaymentRequest(
            booking_id=booking_id, amount=policy.amount, currency=self.pack.menu.currency, policy_id=policy.id,
            policy_kind=policy.kind, phone=self.out.slots.get("phone")))
        self.tasks.append(task)
        self.out.booking["deposit"] = {"policy": policy.id, "kind": policy.kind, "amount": policy.amount,
                                       "currency": self.pack.menu.currency, "status": "link-requested"}
        # `payment_link` promises a text: only when the clinic has an SMS channel; else the staff line
        texted = bool(getattr(self.payments, "texts_link", False)) or not self.pack.dialogue.payment_link_staff
        return [self.item(policy.line), self.line("payment_link" if texted else "payment_link_staff")]
