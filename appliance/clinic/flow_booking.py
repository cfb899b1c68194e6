"""Booking: contact details, slot offers from the schedule, the deposit per the menu's policy."""

from __future__ import annotations

from datetime import date, datetime

from appliance.clinic.call_context import CallContext
from appliance.clinic.errors import SlotTaken
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.parsers import person_name, phone_number, refused, yes_no
from appliance.clinic.payments import PaymentRequest, StaffTask
from appliance.clinic.schedule import Slot
from appliance.clinic.schema import DialogueKey, Treatment
from appliance.clinic.states import State
from appliance.conversation import Say

MAX_OFFERS = 3


def spoken_time(when: datetime) -> str:
    hour = when.hour % 12 or 12
    minute = f":{when.minute:02d}" if when.minute else ""
    return f"{when:%A}, {when:%B} {when.day} at {hour}{minute} {'AM' if when.hour < 12 else 'PM'}"


class BookingFlow:
    """Contact details, slots, the deposit; the treatment and its label come from the intake."""

    def __init__(self, ctx: CallContext, intake: IntakeFlow) -> None:
        self.ctx = ctx
        self.intake = intake

    async def on_offer_booking(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer == "yes":
            return self.collect_contact()
        if answer in ("no", "declined"):
            self.ctx.s.state = State.ANYTHING_ELSE
            return [*self.ctx.offer_declined(), self.ctx.line("anything_else")]
        return None

    def collect_contact(self) -> list[Say]:
        ctx, s, slots = self.ctx, self.ctx.s, self.ctx.out.slots
        if s.concern_raised:
            s.state = State.ANYTHING_ELSE
            return [ctx.line("concern_first"), ctx.line("anything_else")]
        if not slots.get("name"):
            s.state = State.ASK_NAME
            return [ctx.line("ask_name")]
        if not slots.get("phone"):
            s.state = State.ASK_PHONE
            return [ctx.line("ask_phone")]
        if not s.phone_confirmed:
            s.state = State.CONFIRM_PHONE
            return [ctx.line("confirm_phone", phone=slots["phone"][-4:])]
        return self.offer_slots()

    async def on_ask_name(self, text: str) -> list[Say] | None:
        if refused(text):
            return [self.ctx.line("declined_ack")] + self.ctx.start_message()
        name = person_name(text)
        if name is None and self.ctx.s.retries >= 1 and yes_no(text) is None and any(c.isalpha() for c in text):
            name = " ".join(text.split()[:3])[:60] or None
        if name is None:
            return None
        self.ctx.out.slots["name"] = name
        return self.collect_contact()

    async def on_ask_phone(self, text: str) -> list[Say] | None:
        if refused(text):
            return [self.ctx.line("declined_ack")] + self.ctx.start_message()
        number = phone_number(text)
        if number is None:
            return None
        self.ctx.out.slots["phone"] = number
        self.ctx.s.phone_confirmed = True
        return self.collect_contact()

    async def on_confirm_phone(self, text: str) -> list[Say] | None:
        number = phone_number(text)
        if number:
            self.ctx.out.slots["phone"] = number
            self.ctx.s.phone_confirmed = True
            return self.collect_contact()
        answer = yes_no(text)
        if answer == "yes":
            self.ctx.s.phone_confirmed = True
            return self.collect_contact()
        if answer in ("no", "declined"):
            self.ctx.out.slots.pop("phone", None)
            self.ctx.s.state = State.ASK_PHONE
            return [self.ctx.line("ask_phone")]
        return None

    def _family_minutes(self) -> tuple[str | None, int]:
        s = self.ctx.s
        if s.follow_up is not None and s.workflow is not None:
            return s.workflow.family, 30
        t = self.intake.treatment()
        if s.booking_kind == "treatment" and t is not None:
            return t.family, t.minutes
        return None, self.ctx.pack.menu.consult.minutes

    def offer_slots(self) -> list[Say]:
        s = self.ctx.s
        family, minutes = self._family_minutes()
        fu = s.follow_up
        earliest, latest = (fu.earliest, fu.latest) if fu is not None else (None, None)
        s.slots_offered = self.find_and_hold(family, minutes, earliest=earliest, latest=latest, count=MAX_OFFERS)
        s.slot_index = 0
        if not s.slots_offered:
            return self._no_slots()
        s.state = State.OFFER_SLOT
        return [self.slot_line("offer_slot", s.slots_offered[0])]

    def slot_line(self, key: DialogueKey, slot: Slot) -> Say:
        provider = self.ctx.scheduler.provider(slot.provider_id)
        return self.ctx.line(key, when=spoken_time(slot.start), provider=provider.name)

    def slot_taken_line(self, slot: Slot) -> Say:
        """The time the caller accepted was booked by another call a moment before: `slot` instead
        (`slot_declined` for a pack without `slot_taken`)."""
        provider = self.ctx.scheduler.provider(slot.provider_id)
        return self.ctx.line_or("slot_taken", "slot_declined", when=spoken_time(slot.start), provider=provider.name)

    def find_and_hold(self, family: str | None, minutes: int, earliest: date | None = None,
                      latest: date | None = None, count: int = MAX_OFFERS, provider: str | None = None) -> list[Slot]:
        """Free slots, held for this call while it offers them (other calls are not offered them)."""
        ctx = self.ctx
        slots = ctx.scheduler.find(family, minutes, ctx.now, earliest, latest, count=count, provider=provider,
                                   holder=ctx.holder)
        ctx.scheduler.hold(ctx.holder, slots, ctx.now)
        return slots

    def _no_slots(self) -> list[Say]:
        self.ctx.tasks.append(StaffTask("call-back", {"reason": "booking-no-slot", "kind": self.booking_kind_name()}))
        self.ctx.s.state = State.ANYTHING_ELSE
        return [self.ctx.line("no_slots"), self.ctx.line("anything_else")]

    def booking_kind_name(self) -> str:
        fu = self.ctx.s.follow_up
        return fu.kind if fu is not None else self.ctx.s.booking_kind

    async def on_offer_slot(self, text: str) -> list[Say] | None:
        s = self.ctx.s
        answer = yes_no(text)
        if answer == "yes":
            return await self._book(s.slots_offered[s.slot_index])
        if answer in ("no", "declined", "unsure"):
            s.slot_index += 1
            if s.slot_index >= len(s.slots_offered):
                return self._no_slots()
            return [self.slot_line("slot_declined", s.slots_offered[s.slot_index])]
        return None

    async def _book(self, slot: Slot) -> list[Say]:
        ctx, s = self.ctx, self.ctx.s
        kind = self.booking_kind_name()
        t = self.intake.treatment() if s.follow_up is None else None
        treatment_id = t.id if t and kind == "treatment" else (s.workflow.id if s.workflow else None)
        try:
            booking = ctx.scheduler.book(slot, kind, treatment_id, ctx.out.slots.get("name"), ctx.out.slots.get("phone"))
        except SlotTaken:
            s.slots_offered = s.slots_offered[s.slot_index + 1:]
            s.slot_index = 0
            if not s.slots_offered:
                return self._no_slots()
            return [self.slot_taken_line(s.slots_offered[0])]
        ctx.scheduler.release(ctx.holder)
        provider = ctx.scheduler.provider(booking.provider_id)
        label = self.intake.booking_label() if s.follow_up is None else f"a {kind} appointment"
        ctx.out.booking = {"id": booking.id, "kind": kind, "treatment": treatment_id, "provider": provider.id,
                           "start": booking.start.isoformat(timespec="minutes"), "minutes": booking.minutes,
                           "deposit": None}
        says = [ctx.line("booked", kind=label, when=spoken_time(booking.start), provider=provider.name)]
        says += await self._deposit(booking.id, kind, t)
        s.state = State.ANYTHING_ELSE
        return says + [ctx.line("anything_else")]

    async def _deposit(self, booking_id: str, kind: str, t: Treatment | None) -> list[Say]:
        ctx, menu, wf = self.ctx, self.ctx.pack.menu, self.ctx.s.workflow
        policy_id = None
        if kind == "treatment" and t is not None:
            policy_id = t.deposit
        elif kind == "consult":
            policy_id = menu.consult.deposit
        elif kind == "touch-up" and wf and wf.rebooking.touch_up_deposit:
            policy_id = next((x.deposit for x in menu.treatments if x.workflow == wf.id), None)
        policy = next((p for p in menu.deposit_policies if p.id == policy_id), None)
        if policy is None or policy.amount == 0:
            return []
        task = await ctx.payments.request_deposit(PaymentRequest(
            booking_id=booking_id, amount=policy.amount, currency=menu.currency, policy_id=policy.id,
            policy_kind=policy.kind, phone=ctx.out.slots.get("phone")))
        ctx.tasks.append(task)
        if ctx.out.booking is not None:
            ctx.out.booking["deposit"] = {"policy": policy.id, "kind": policy.kind, "amount": policy.amount,
                                          "currency": menu.currency, "status": "link-requested"}
        # `payment_link` promises a text: only when the clinic has an SMS channel; else the staff line
        texted = ctx.payments.texts_link or not ctx.pack.dialogue.payment_link_staff
        return [ctx.item(policy.line), ctx.line("payment_link" if texted else "payment_link_staff")]
