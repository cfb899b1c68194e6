"""The front desk's outbound calls: an appointment reminder, and a call-back to a missed call.

Reminder (`reminder_call`): the aftercare call's identity check (name, then date of birth;
nothing about the patient before it), then the pack's `intro_reminder` with the appointment's
day and time, and the existing-appointment step of the clinic engine: yes or 1 confirms (with
the treatment's before-visit instructions), 2 moves (slot offers with the same provider),
3 cancels (the pack's cancellation policy). Every caller turn passes the red-flag check first,
as on every call; a voicemail gets the no-PHI message.

Call-back (`callback_call`): the clinic engine with the pack's `greeting_callback` instead of
the greeting ("returning a call from this number"), then the inbound conversation as usual.
"""

from __future__ import annotations

from datetime import date, datetime

from appliance.clinic.appointments import AppointmentDesk, InMemoryDesk, Upcoming
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.errors import PackError
from appliance.clinic.flow_booking import spoken_time
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext, name_matches
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import person_name
from appliance.clinic.schedule import Scheduler
from appliance.clinic.schema import OutboundLines
from appliance.clinic.states import APPOINTMENT_STATES, State
from appliance.conversation import ConversationOutcome, LanguageModel, Reply, Say


class ReminderCall(OutboundAftercareCall):
    """`appliance.conversation.Conversation`: one reminder contact for one booked appointment."""

    def __init__(self, pack: Pack, lines: OutboundLines, contact: OutboundContext, appt: Upcoming, *,
                 now: datetime, scheduler: Scheduler | None = None, llm: LanguageModel | None = None) -> None:
        if not lines.intro_reminder:
            raise PackError(f"{pack.root / 'outbound.yaml'}: no intro_reminder line for reminder calls",
                            fix="add intro_reminder (see the demo pack), then have a clinician approve the pack")
        self.pack, self.lines, self.c, self.now, self.appt = pack, lines, contact, now, appt
        self.wf = pack.workflows.get(contact.workflow) if contact.workflow else None
        caller = CallerContext(phone=contact.phone, known_patient=True, name=contact.name)
        self._open(caller, scheduler=scheduler, llm=llm, desk=InMemoryDesk(caller=[appt]))

    async def on_name(self, text: str) -> Reply:
        """A patient booked by phone has no date of birth on file: the full name is the check (the
        reminder says only the appointment's day and time)."""
        if self.c.dob is not None:
            return await super().on_name(text)
        said = person_name(text) or text
        if not name_matches(said, self.c.name):
            return self._retry_or_fail()
        self.verified = True
        return self.e.reply(self._script())

    def _script(self) -> list[Say]:
        """After identity: the appointment, then confirm / move / cancel (the engine's step)."""
        e = self.e
        e.out.slots["reminder"] = {"appointment_id": self.appt.id}
        e.s.appt, e.s.appt_op, e.s.state = self.appt, "appointment", State.APPT_WHAT
        self.delivered = True
        return [self.say("intro_reminder", when=spoken_time(self.appt.start))]

    def _ask_again(self) -> list[Say]:
        if self.e.s.state in APPOINTMENT_STATES:
            return self.e.flows.appointments.appt_prompt()
        return super()._ask_again()

    def ended(self, reason: str) -> ConversationOutcome:
        out = super().ended(reason)
        changes = out.slots.get("appointment_changes") or []
        out.slots["outbound"]["appointment"] = changes[-1]["op"] if changes else None
        return out


def reminder_call(pack: Pack, lines: OutboundLines, *, appt: Upcoming, name: str, dob: date | None, phone: str | None,
                  now: datetime, scheduler: Scheduler | None, llm: LanguageModel | None = None) -> ReminderCall:
    """The reminder contact's conversation. `appt` in clinic-local time, as `now`. `dob`: None when
    the record has none (a patient who booked by phone): the full name alone is checked."""
    contact = OutboundContext(kind="reminder", day=0, name=name, dob=dob, workflow=_workflow_id(pack, appt),
                              treated_on=appt.start.date(), phone=phone)
    return ReminderCall(pack, lines, contact, appt, now=now, scheduler=scheduler, llm=llm)


def _workflow_id(pack: Pack, appt: Upcoming) -> str:
    if appt.treatment in pack.workflows:
        return str(appt.treatment)
    wf = pack.workflow_of(appt.treatment) if appt.treatment else None
    return wf.id if wf else ""


class CallbackConversation(ClinicConversation):
    """The clinic returning a missed call: its own greeting, then the inbound conversation."""

    def start(self) -> Reply:
        if not self.pack.dialogue.greeting_callback:
            return super().start()
        self.s.state = State.GREETING
        if self.caller.known_patient:
            self.s.patient_type = "returning"
        return self.reply([self.ctx.line("greeting_callback")])


def callback_call(pack: Pack, *, caller: CallerContext, now: datetime, scheduler: Scheduler | None,
                  llm: LanguageModel | None = None, desk: AppointmentDesk | None = None) -> CallbackConversation:
    return CallbackConversation(pack, now=now, caller=caller, scheduler=scheduler, llm=llm, desk=desk)
