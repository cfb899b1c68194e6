"""The conversation engine: one call's dialogue, driven by an approved protocol pack.

A state machine whose steps come from the pack (intake questions and their outcomes, menu,
workflows, dialogue lines). Pure: the clock arrives as `now`, the schedule and payments are
injected, the language model is optional and only labels what rules could not settle.

Per caller turn: (1) red-flag rules from the pack, before anything else; a hit stops the flow
and escalates; (2) clinic facts (approved answers, said first); (3) approved topics and
out-of-protocol clinical questions; (4) the current step's handler (`STEPS`: deterministic
parsers, then the model); (5) a re-prompt, then a fallback.

The call's data and shared services are one `CallContext`; the steps are methods of the flows
(`Flows`: intake, booking, returning, appointments, facts, dialogue, turn), each built with the
context and the other flows it calls. `STEPS` maps every state of the engine to its handler and
is checked against `states.ENGINE_STATES` when this module loads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from appliance.clinic.appointments import AppointmentDesk
from appliance.clinic.call_context import CallContext, Closing
from appliance.clinic.call_context import Fill as _Fill
from appliance.clinic.context import CallerContext, CallState
from appliance.clinic.expect import YES_NO_STATES, expecting
from appliance.clinic.fallback import model_failed_reply
from appliance.clinic.flow_appointments import AppointmentsFlow
from appliance.clinic.flow_booking import BookingFlow
from appliance.clinic.flow_dialogue import DialogueFlow
from appliance.clinic.flow_facts import FactsFlow
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.flow_returning import ReturningFlow
from appliance.clinic.flow_turn import TurnFlow
from appliance.clinic.nlu import LlmAssist, is_question
from appliance.clinic.pack import Pack
from appliance.clinic.payments import PaymentProvider, StaffTask, StaffTaskPayments
from appliance.clinic.redflags import Hit, worst_severity
from appliance.clinic.safety_step import SafetyStep
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
from appliance.clinic.states import ENGINE_STATES, State, StateError, check_steps
from appliance.clinic.understand import Reading
from appliance.conversation import ConversationOutcome, Escalation, LanguageModel, Reply, Say, Turn
from appliance.logs import get_logger

__all__ = ["STEPS", "ClinicConversation", "Flows", "Step", "_Fill"]

log = get_logger(__name__)

_DTMF: dict[State, dict[str, str]] = {
    State.NEW_OR_RETURNING: {"1": "new patient", "2": "returning"},
    State.RETURNING_REASON: {"1": "a concern about my recent treatment", "2": "touch up", "3": "book an appointment"},
    State.APPT_WHAT: {"1": "confirm it", "2": "move it", "3": "cancel it"},  # an existing appointment (a reminder)
}


@dataclass(frozen=True)
class Flows:
    """The flows of one call, wired to each other (each receives only the flows it calls)."""

    ctx: CallContext
    intake: IntakeFlow
    booking: BookingFlow
    appointments: AppointmentsFlow
    returning: ReturningFlow
    dialogue: DialogueFlow
    facts: FactsFlow
    turn: TurnFlow

    @classmethod
    def build(cls, ctx: CallContext) -> Flows:
        intake = IntakeFlow(ctx)
        booking = BookingFlow(ctx, intake)
        appointments = AppointmentsFlow(ctx, booking)
        returning = ReturningFlow(ctx, intake, booking)
        dialogue = DialogueFlow(ctx, intake, booking, appointments, returning)
        facts = FactsFlow(ctx, dialogue)
        turn = TurnFlow(ctx, intake, returning, appointments, dialogue)
        return cls(ctx, intake, booking, appointments, returning, dialogue, facts, turn)


# A step: the caller's turn at one state -> what to say (None: the turn did not answer the step).
Step = Callable[[Flows, str], Awaitable[list[Say] | None]]


async def _price_treatment(f: Flows, text: str) -> list[Say] | None:
    """"Which treatment?" (asked for a price): the quote, or the step it was asked at takes the turn."""
    says = f.turn.price_treatment_named()
    back = STEPS.get(f.ctx.s.state)
    if says is not None or back is None or f.ctx.s.state in (State.PRICE_TREATMENT, State.ESCALATED):
        return says
    return await back(f, text)


STEPS: Final[Mapping[State, Step]] = {
    State.GREETING: lambda f, text: f.returning.on_greeting(text),
    State.NEW_OR_RETURNING: lambda f, text: f.returning.on_new_or_returning(text),
    State.RETURNING_REASON: lambda f, text: f.returning.on_returning_reason(text),
    State.HOW_HELP: lambda f, text: f.dialogue.on_how_help(text),
    State.ANYTHING_ELSE: lambda f, text: f.dialogue.on_anything_else(text),
    State.MESSAGE: lambda f, text: f.dialogue.on_message(text),
    State.INTAKE: lambda f, text: f.intake.on_intake(text),
    State.PRICE_TREATMENT: _price_treatment,
    State.OFFER_BOOKING: lambda f, text: f.booking.on_offer_booking(text),
    State.ASK_NAME: lambda f, text: f.booking.on_ask_name(text),
    State.ASK_PHONE: lambda f, text: f.booking.on_ask_phone(text),
    State.CONFIRM_PHONE: lambda f, text: f.booking.on_confirm_phone(text),
    State.OFFER_SLOT: lambda f, text: f.booking.on_offer_slot(text),
    State.AFTERCARE_CONTEXT: lambda f, text: f.returning.on_aftercare_context(text),
    State.CONCERN_CHECK: lambda f, text: f.returning.on_concern_check(text),
    State.CONCERN: lambda f, text: f.returning.on_concern(text),
    State.APPT_IDENTIFY: lambda f, text: f.appointments.on_appt_identify(text),
    State.APPT_WHAT: lambda f, text: f.appointments.on_appt_what(text),
    State.APPT_CANCEL_CHECK: lambda f, text: f.appointments.on_appt_cancel_check(text),
    State.APPT_OFFER: lambda f, text: f.appointments.on_appt_offer(text),
    State.ESCALATED: lambda f, text: f.dialogue.after_escalation(text),  # before the routing rules (`_handle`)
}
check_steps(STEPS, ENGINE_STATES, "engine.STEPS")


class ClinicConversation:
    """`appliance.conversation.Conversation` over a validated, approved pack."""

    def __init__(self, pack: Pack, *, now: datetime, caller: CallerContext | None = None,
                 scheduler: Scheduler | None = None, payments: PaymentProvider | None = None,
                 llm: LanguageModel | None = None, desk: AppointmentDesk | None = None,
                 closing: Closing | None = None) -> None:
        """`closing`: an outbound call's own closing lines (goodbye, a declined booking offer)."""
        self.llm = llm
        self.ctx = CallContext(pack=pack, now=now, caller=caller or CallerContext(),
                               scheduler=scheduler or Scheduler(pack.clinic, InMemoryBookingStore()),
                               payments=payments or StaffTaskPayments(), desk=desk, assist=LlmAssist(llm),
                               closing=closing)
        self.flows = Flows.build(self.ctx)
        self.safety = SafetyStep(self.ctx, self.flows.returning, self.flows.facts,
                                 reask=self.flows.dialogue.current_prompt)

    # ---- the call, as the voice pipeline, tests and wrappers read it ----

    @property
    def pack(self) -> Pack:
        return self.ctx.pack

    @property
    def now(self) -> datetime:
        return self.ctx.now

    @property
    def today(self) -> date:
        return self.ctx.today

    @property
    def caller(self) -> CallerContext:
        return self.ctx.caller

    @property
    def s(self) -> CallState:
        return self.ctx.s

    @property
    def out(self) -> ConversationOutcome:
        return self.ctx.out

    @property
    def tasks(self) -> list[StaffTask]:
        return self.ctx.tasks

    @property
    def protected(self) -> set[int]:
        return self.ctx.protected

    @property
    def assist(self) -> LlmAssist:
        return self.ctx.assist

    @property
    def reading(self) -> Reading:
        return self.ctx.reading

    def reply(self, says: list[Say], end: bool = False) -> Reply:
        return self.ctx.reply(says, end)

    def start_message(self) -> list[Say]:
        return self.ctx.start_message()

    # ---- Conversation protocol ----

    def start(self) -> Reply:
        """One short turn: the clinic, the assistant, the notice, an open question. The caller
        speaks first; new-or-returning is asked only if what they say does not settle it."""
        ctx, s = self.ctx, self.ctx.s
        s.state = State.GREETING
        opens = ctx.promises.greeting()  # outside opening hours: closed now, open again {when}
        if opens is not None:
            s.patient_type = "returning" if ctx.caller.known_patient else s.patient_type
            return ctx.reply([ctx.line("greeting_after_hours", when=opens)])
        if ctx.caller.known_patient:
            s.patient_type = "returning"
            if ctx.pack.dialogue.greeting_known:
                return ctx.reply([ctx.line("greeting_known")])
            return ctx.reply([ctx.line("greeting"), ctx.line("ask_returning_reason")])
        return ctx.reply([ctx.line("greeting")])

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        """`confidence`: the ASR's confidence in the turn (0..1), when the pipeline has it;
        `also_heard`: the second listen's words (the same audio, heard for symptoms), read for red flags only."""
        ctx = self.ctx
        text = " ".join(str(text).split())[:1000]
        index = len(ctx.out.turns)
        ctx.out.turns.append(Turn("caller", text))
        ctx.lead = []
        if ctx.s.state == State.ENDED:
            return Reply()
        if not text:
            return ctx.reply(self.flows.dialogue.reprompt())
        self.flows.turn.read(text)  # every slot and intent in the turn, whatever happens next
        says = self.safety.step(text, index, confidence, also_heard)  # every red flag, every state, before anything else
        if says is not None:
            self.flows.turn.absorb()  # recorded (screen outcomes apply, conservatively); the safety line is all that is said
            return ctx.reply(says)
        return await self._handle(text)

    async def caller_pressed(self, digit: str) -> Reply:
        ctx, s = self.ctx, self.ctx.s
        digit = str(digit)[:1]
        ctx.out.turns.append(Turn("caller", f"[pressed {digit}]"))
        if s.state == State.ENDED or digit not in "0123456789*#" or not digit:
            return Reply()
        if digit == "0":
            return ctx.reply(ctx.start_message())
        menu = s.state if s.state != State.GREETING else (
            State.RETURNING_REASON if ctx.caller.known_patient else State.NEW_OR_RETURNING)
        mapped = _DTMF.get(menu, {}).get(digit)
        if mapped is None and (s.state in YES_NO_STATES or (s.pending and s.pending.kind == "yes_no")):
            mapped = {"1": "yes", "2": "no"}.get(digit)
        if mapped is None:
            return ctx.reply(self.flows.dialogue.reprompt())
        return await self._handle(mapped)

    def expecting(self) -> str:
        """The answer the last question wants (the voice pipeline's end of turn adapts to it)."""
        return expecting(self.ctx.s.state, self.ctx.s.pending)

    def agent_heard(self, fraction: float) -> None:
        for turn in reversed(self.ctx.out.turns):
            if turn.speaker == "agent":
                turn.heard_fraction = max(0.0, min(1.0, float(fraction)))
                break

    def ended(self, reason: str) -> ConversationOutcome:
        ctx, o, s = self.ctx, self.ctx.out, self.ctx.s
        self.safety.call_ended(max(0, len(o.turns) - 1))  # a confirmation question left unanswered
        ctx.scheduler.release(ctx.holder)  # slots offered and not booked go back to other callers
        o.screen = {"complete": self.flows.intake.screen_complete(), "flags": list(s.screen_flags),
                    "answers": dict(s.screen_answers), "booking_kind": s.booking_kind}
        if any(e.severity in ("emergency", "urgent") for e in o.escalations):
            o.outcome = "escalated"
        elif s.concern_raised:
            o.outcome = "concern-noted"
        elif o.booking:
            o.outcome = "booked"
        elif s.message_taken:
            o.outcome = "message-taken"
        else:
            o.outcome = "completed" if s.state == State.ENDED and reason == "completed" else reason
        o.slots["staff_tasks"] = [{"kind": t.kind, **t.detail} for t in ctx.tasks]
        return o

    # ---- dispatch ----

    async def _handle(self, text: str) -> Reply:
        ctx, s, f = self.ctx, self.ctx.s, self.flows
        if ctx.read_at != len(ctx.out.turns):  # a key press: read what it stands for
            f.turn.read(text)
        ctx.lead = f.facts.fact_says()  # clinic facts: the approved answers first, then the rest of the turn
        text = (ctx.reading.rest or "") if ctx.lead else text
        step = STEPS.get(s.state)
        if step is None:
            raise StateError(f"{s.state}: not a step of the inbound engine (its owner answers this turn)")
        if s.state == State.ESCALATED:
            return ctx.reply((await step(f, text) or []) if text else [])
        early = f.turn.absorb() if s.state != State.MESSAGE else []
        if ctx.lead and not text:  # only facts were asked: the step's question once more, no retry counted
            return ctx.reply(early + f.facts.after_facts())
        anywhere = await f.turn.anywhere(text)
        if anywhere is not None:
            s.retries = 0
            return ctx.reply(early + anywhere, end=s.state == State.ENDED)
        answers_pending = s.pending is not None and f.intake.parses_as_answer(text)
        if is_question(text) and not answers_pending and s.state not in (State.MESSAGE, State.CONCERN):
            asked = f.dialogue.question(text)
            if asked is not None:
                f.dialogue.noted_returning(text)
                return ctx.reply(early + asked + f.dialogue.current_prompt())
        says = await step(f, text)
        if says is None:
            # The turn said something else: ask again, no "sorry", once; that was the question's
            # one re-ask, so an answer that still does not fit takes the next strategy.
            settled = (early or s.absorbed) and s.retries == 0
            if settled:
                s.retries = 1
            says = early + (f.dialogue.current_prompt() if settled else await f.dialogue.not_understood(text))
        else:
            s.retries = 0
            says = early + says
        return ctx.reply(says, end=s.state == State.ENDED)

    # ---- red flags, transfers, model failures ----

    def escalate(self, hit: Hit, index: int) -> list[Say]:
        return self.ctx.escalate(hit, index)

    def np_extension(self) -> str | None:
        return self.ctx.np_extension()

    def transfer_failed(self, target: str, detail: str) -> Reply:
        """The warm transfer did not connect: the caller hears who will call back and when (a
        protected line), and staff get an escalation at the severity that asked for the transfer."""
        ctx = self.ctx
        severity = worst_severity((e.severity for e in ctx.out.escalations), "urgent")
        base = ctx.line("transfer_failed", minutes=ctx.response_time().urgent_minutes)
        ctx.out.escalations.append(Escalation(severity, "transfer-failed", len(ctx.out.turns), detail))
        log.warning("clinic.transfer_failed", severity=severity, pack=ctx.pack.ref)
        return ctx.reply([Say(base.text, base.provenance, interruptible=False, cacheable=True)])

    def model_failed(self, role: str) -> Reply:
        """A model failed under the call: the fallback line, an escalation, a transfer to a person."""
        log.error("clinic.model_failed", role=role, pack=self.ctx.pack.ref)
        self.ctx.s.pending = None
        return model_failed_reply(self.ctx, role)
