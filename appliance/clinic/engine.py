"""The conversation engine: one call's dialogue, driven by an approved protocol pack.

A state machine whose steps come from the pack (intake questions and their outcomes, menu,
workflows, dialogue lines). Pure: the clock arrives as `now`, the schedule and payments are
injected, the language model is optional and only labels what rules could not settle.

Per caller turn: (1) red-flag rules from the pack, before anything else; a hit stops the flow
and escalates; (2) clinic facts (approved answers, said first); (3) approved topics and
out-of-protocol clinical questions; (4) the current step's handler (deterministic parsers, then
the model); (5) a re-prompt, then a fallback.
"""

from __future__ import annotations

from datetime import datetime

from appliance.clinic import guard
from appliance.clinic.appointments import AppointmentDesk
from appliance.clinic.context import CallerContext, CallState
from appliance.clinic.expect import YES_NO_STATES, expecting
from appliance.clinic.flow_appointments import AppointmentsFlow
from appliance.clinic.flow_booking import BookingFlow
from appliance.clinic.flow_facts import FactsFlow
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.flow_returning import ReturningFlow
from appliance.clinic.flow_turn import TurnFlow
from appliance.clinic.nlu import LlmAssist, is_question, topic_in, treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.payments import PaymentProvider, StaffTask, StaffTaskPayments
from appliance.clinic.promises import Promises
from appliance.clinic.redflags import SEVERITY_RANK, Hit
from appliance.clinic.safety_step import SafetyStep
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
from appliance.clinic.schema import Line, ResponseTime, Topic
from appliance.clinic.targets import without_targets
from appliance.conversation import Action, ConversationOutcome, Escalation, LanguageModel, Reply, Say, Turn
from appliance.logs import get_logger

log = get_logger(__name__)

_DEFAULT_RT = ResponseTime(urgent_minutes=15, routine_hours=24)
_CURRENCY = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}
_YES_NO_STATES = YES_NO_STATES
_DTMF = {
    "new_or_returning": {"1": "new patient", "2": "returning"},
    "returning_reason": {"1": "a concern about my recent treatment", "2": "touch up", "3": "book an appointment"},
    "appt_what": {"1": "confirm it", "2": "move it", "3": "cancel it"},  # an existing appointment (a reminder)
}


class ClinicConversation(TurnFlow, IntakeFlow, BookingFlow, ReturningFlow, FactsFlow, AppointmentsFlow):
    """`appliance.conversation.Conversation` over a validated, approved pack."""

    def __init__(self, pack: Pack, *, now: datetime, caller: CallerContext | None = None,
                 scheduler: Scheduler | None = None, payments: PaymentProvider | None = None,
                 llm: LanguageModel | None = None, desk: AppointmentDesk | None = None) -> None:
        self.pack = pack
        self.now = now
        self.today = now.date()
        self.caller = caller or CallerContext()
        self.scheduler = scheduler or Scheduler(pack.clinic, InMemoryBookingStore())
        self.payments = payments or StaffTaskPayments()
        self.desk = desk  # existing appointments (confirm, cancel, move); None: those requests become messages
        self.assist = LlmAssist(llm)
        self.llm = llm
        self.s = CallState()
        self.tasks: list[StaffTask] = []
        self._actions: list[Action] = []
        self.lead: list[Say] = []  # said first in the next reply (approved answers to clinic facts)
        self.protected: set[int] = set()  # indexes of agent turns spoken with interruptible=False
        self.out = ConversationOutcome(pack=pack.ref)
        self.out.slots.update({k: v for k, v in (("name", self.caller.name), ("phone", self.caller.phone)) if v})
        self.promises = Promises(pack.clinic, pack.dialogue, now, self.out.slots)  # after hours: computed times
        self._approved = self._approved_texts()
        self.safety = SafetyStep(self)

    # ---- speaking ----

    def line(self, key: str, **values: object) -> Say:
        key, values = self.promises.line(key, values)  # outside opening hours: the line with {when}
        text = getattr(self.pack.dialogue, key)
        fill = {"clinic": self.pack.clinic.name, **{k: str(v) for k, v in values.items()}}
        return Say(text.format_map(_Fill(fill)), provenance=self.pack.prov(f"dialogue.{key}"),
                   cacheable=not values)

    def item(self, line: Line, **values: object) -> Say:
        text = line.text.format_map(_Fill({k: str(v) for k, v in values.items()})) if values else line.text
        return Say(text, provenance=self.pack.prov(line.id), cacheable=True)

    def money(self, amount: float) -> str:
        symbol = _CURRENCY.get(self.pack.menu.currency, "$")
        return f"{symbol}{amount:,.0f}" if amount == int(amount) else f"{symbol}{amount:,.2f}"

    def _approved_texts(self) -> set[str]:
        texts = {t for _, t in self.pack.dialogue if t}
        for wf in self.pack.workflows.values():
            texts |= {x.text for x in wf.immediate_instructions} | {t.answer for t in wf.topics}
        return texts

    def reply(self, says: list[Say], end: bool = False) -> Reply:
        actions, self._actions = tuple(self._actions), []
        says, self.lead = [*self.lead, *says], []
        checked: list[Say] = []
        for say in says:
            if say.provenance is None and not guard.allowed(say.text, self._approved):
                log.warning("clinic.guard_rejected", chars=len(say.text))
                continue
            checked.append(say)
            if not say.interruptible:
                self.protected.add(len(self.out.turns))
            self.out.turns.append(Turn("agent", say.text, say.provenance))
        if end:
            self.s.state = "ended"
        return Reply(says=tuple(checked), actions=actions, end_call=end)

    # ---- Conversation protocol ----

    def start(self) -> Reply:
        """One short turn: the clinic, the assistant, the notice, an open question. The caller
        speaks first; new-or-returning is asked only if what they say does not settle it."""
        self.s.state = "greeting"
        opens = self.promises.greeting()  # outside opening hours: closed now, open again {when}
        if opens is not None:
            self.s.patient_type = "returning" if self.caller.known_patient else self.s.patient_type
            return self.reply([self.line("greeting_after_hours", when=opens)])
        if self.caller.known_patient:
            self.s.patient_type = "returning"
            if self.pack.dialogue.greeting_known:
                return self.reply([self.line("greeting_known")])
            return self.reply([self.line("greeting"), self.line("ask_returning_reason")])
        return self.reply([self.line("greeting")])

    async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
        """`confidence`: the ASR's confidence in the turn (0..1), when the pipeline has it."""
        text = " ".join(str(text).split())[:1000]
        index = len(self.out.turns)
        self.out.turns.append(Turn("caller", text))
        self.lead = []
        if self.s.state == "ended":
            return Reply()
        if not text:
            return self.reply(self.reprompt())
        self.read(text)  # every slot and intent in the turn, whatever happens next
        says = self.safety.step(text, index, confidence)  # every red flag, every state, before anything else
        if says is not None:
            self.absorb()  # recorded (screen outcomes apply, conservatively), but the safety line is all that is said
            return self.reply(says)
        return await self._handle(text)

    async def caller_pressed(self, digit: str) -> Reply:
        digit = str(digit)[:1]
        self.out.turns.append(Turn("caller", f"[pressed {digit}]"))
        if self.s.state == "ended" or digit not in "0123456789*#" or not digit:
            return Reply()
        if digit == "0":
            return self.reply(self.start_message())
        menu = self.s.state if self.s.state != "greeting" else (
            "returning_reason" if self.caller.known_patient else "new_or_returning")
        mapped = _DTMF.get(menu, {}).get(digit)
        if mapped is None and (self.s.state in _YES_NO_STATES or (self.s.pending and self.s.pending.kind == "yes_no")):
            mapped = {"1": "yes", "2": "no"}.get(digit)
        if mapped is None:
            return self.reply(self.reprompt())
        return await self._handle(mapped)

    def expecting(self) -> str:
        """The answer the last question wants (the voice pipeline's end of turn adapts to it)."""
        return expecting(self.s.state, self.s.pending)

    def agent_heard(self, fraction: float) -> None:
        for turn in reversed(self.out.turns):
            if turn.speaker == "agent":
                turn.heard_fraction = max(0.0, min(1.0, float(fraction)))
                break

    def ended(self, reason: str) -> ConversationOutcome:
        o = self.out
        o.screen = {"complete": self.screen_complete(), "flags": list(self.s.screen_flags),
                    "answers": dict(self.s.screen_answers), "booking_kind": self.s.booking_kind}
        if any(e.severity in ("emergency", "urgent") for e in o.escalations):
            o.outcome = "escalated"
        elif self.s.concern_raised:
            o.outcome = "concern-noted"
        elif o.booking:
            o.outcome = "booked"
        elif self.s.message_taken:
            o.outcome = "message-taken"
        else:
            o.outcome = "completed" if self.s.state == "ended" and reason == "completed" else reason
        o.slots["staff_tasks"] = [{"kind": t.kind, **t.detail} for t in self.tasks]
        return o

    # ---- dispatch ----

    async def _handle(self, text: str) -> Reply:
        if self.read_at != len(self.out.turns):  # a key press: read what it stands for
            self.read(text)
        self.lead = self.fact_says()  # clinic facts: the approved answers first, then the rest of the turn
        text = self.reading.rest if self.lead else text
        if self.s.state == "escalated":
            return self.reply(self._after_escalation(text) if text else [])
        handler = getattr(self, f"on_{self.s.state}", self.on_greeting)
        early = self.absorb() if self.s.state not in ("message",) else []
        if self.lead and not text:  # only facts were asked: the step's question once more, no retry counted
            return self.reply(early + self.after_facts())
        anywhere = await self.anywhere(text)
        if anywhere is not None:
            self.s.retries = 0
            return self.reply(early + anywhere, end=self.s.state == "ended")
        answers_pending = self.s.pending is not None and self.parses_as_answer(text)
        if is_question(text) and not answers_pending and self.s.state not in ("message", "concern"):
            says = self._question(text)
            if says is not None:
                self._noted_returning(text)
                return self.reply(early + says + self.current_prompt())
        says = await handler(text)
        if says is None:
            settled = early or self.s.absorbed  # the turn said something else: ask again, no "sorry"
            says = early + (self.current_prompt() if settled else await self.not_understood(text))
        else:
            self.s.retries = 0
            says = early + says
        return self.reply(says, end=self.s.state == "ended")

    def _noted_returning(self, text: str) -> None:
        """"I'm a returning patient ... can I ...?": the question is answered, and the next prompt
        does not ask again whether they are new."""
        from appliance.clinic.nlu import intent_of

        if self.s.state in ("new_or_returning", "greeting") and intent_of(text) == "returning":
            self.s.patient_type = "returning"
            self.out.slots["patient_type"] = "returning"
            self.s.state = "returning_reason"

    def _topics(self, text: str = "") -> list[Topic]:
        """The approved topics in context: the call's procedure, the treatment being booked, and
        any treatment the caller names in this question ("can I shave between laser sessions?")."""
        wfs = [self.s.workflow] if self.s.workflow else []
        treatment = self.out.slots.get("treatment")
        if treatment and self.pack.workflow_of(treatment):
            wfs.append(self.pack.workflow_of(treatment))
        wfs += [self.pack.workflows[t.workflow] for t in treatments_in(self.pack, text) if t.workflow in self.pack.workflows]
        seen: set[str] = set()
        return [t for wf in wfs if wf for t in wf.topics if not (t.id in seen or seen.add(t.id))]

    def _question(self, text: str) -> list[Say] | None:
        from appliance.clinic.nlu import intent_of

        reading = getattr(self, "reading", None)
        if intent_of(text) in ("book", "touch_up", "message", "goodbye") or (
                reading is not None and reading.intent in ("book", "touch_up", "new_patient")):
            return None  # "can I book ...?", "any openings for filler?" are requests, routed by the current step
        text = without_targets(self.pack, text)  # "IPL for sun spots?" asks what the clinic offers, not about sun
        topic = topic_in(self._topics(text), text)
        if topic is not None:
            says = [Say(topic.answer, self.pack.prov(topic.id), cacheable=True)]
            if topic.reads_instructions and self.s.workflow:
                says += [self.item(x) for x in self.s.workflow.immediate_instructions]
            self.out.slots.setdefault("topics_answered", []).append(topic.id)
            return says
        if any(not treatments_in(self.pack, term) for term in guard.clinical_terms(text)):
            return self.clinical_question()  # "do you do Botox?" names a treatment: a sales question

        return None

    def clinical_question(self) -> list[Say]:
        """A clinical question the pack does not answer: no advice, a message for the clinician."""
        rt = self.s.workflow.response_time if self.s.workflow else _DEFAULT_RT
        index = max(i for i, t in enumerate(self.out.turns) if t.speaker == "caller")
        self.out.escalations.append(Escalation("routine", "clinical-question", index, "outside the approved protocol"))
        self.tasks.append(StaffTask("call-back", {"reason": "clinical-question", "turn": index}))
        return [self.line("clinical_question_noted", hours=rt.routine_hours)]

    async def not_understood(self, text: str) -> list[Say]:
        """At most one re-ask per question, then another strategy: an unclear screen answer takes the
        pack's outcome for it (never "no"); elsewhere the caller can leave a message."""
        self.s.retries += 1
        if self.s.state == "intake" and self.s.retries >= 2:
            return self.intake_gave_up()
        if self.s.retries >= 2 and self.s.state != "ask_name":
            self.s.retries = 0
            return self.start_message()
        return self.reprompt()

    def reprompt(self) -> list[Say]:
        says = [self.line("reprompt")] + self.current_prompt()
        if self.s.state in _YES_NO_STATES or (self.s.pending and self.s.pending.kind == "yes_no"):
            says.append(self.line("dtmf_yes_no"))
        return says

    def current_prompt(self) -> list[Say]:
        s = self.s
        if s.pending is not None:
            return [Say(s.pending.ask, self.pack.prov(s.pending.id), cacheable=True)]
        prompts = {"greeting": "ask_new_or_returning" if not self.caller.known_patient else "ask_returning_reason",
                   "new_or_returning": "ask_new_or_returning", "returning_reason": "ask_returning_reason",
                   "aftercare_context": "ask_aftercare_context", "concern": "ask_concern", "ask_name": "ask_name",
                   "ask_phone": "ask_phone", "message": "ask_message", "anything_else": "anything_else"}
        if s.state in prompts:
            return [self.line(prompts[s.state])]
        if s.state.startswith("appt_"):
            return self.appt_prompt()
        if s.state == "offer_slot" and s.slots_offered:
            return [self.slot_line("offer_slot", s.slots_offered[s.slot_index])]
        if s.state == "confirm_phone":
            return [self.line("confirm_phone", phone=(self.out.slots.get("phone") or "")[-4:])]
        if s.state == "offer_booking":
            return [self.line("offer_booking", kind=self.booking_label())]
        if s.state == "concern_check" and s.workflow:
            return [self.item(self.concern_question(s.workflow))]
        return []

    def start_message(self) -> list[Say]:
        self.s.pending = None
        self.s.state = "message"
        return [self.line("ask_message")]

    async def on_message(self, text: str) -> list[Say] | None:
        self.out.slots["message"] = text[:500]
        self.tasks.append(StaffTask("message", {"turn": len(self.out.turns) - 1}))
        self.s.message_taken = True
        self.s.state = "anything_else"
        return [self.line("message_taken"), self.line("anything_else")]

    async def on_anything_else(self, text: str) -> list[Say] | None:
        from appliance.clinic.nlu import intent_of
        from appliance.clinic.parsers import yes_no

        intent = intent_of(text)
        if intent == "goodbye" or (intent is None and yes_no(text) == "no"):
            return self.goodbye()
        if intent is None and yes_no(text) == "yes":
            self.s.state = "returning_reason" if self.s.patient_type == "returning" else "how_help"
            return [self.line("how_help")]
        return await self.route_intent(text, intent)

    async def on_how_help(self, text: str) -> list[Say] | None:
        from appliance.clinic.nlu import intent_of

        return await self.route_intent(text, intent_of(text))

    def goodbye(self) -> list[Say]:
        self.s.state = "ended"
        return [self.line("goodbye")]

    # ---- red flags ----

    def transfer_failed(self, target: str, detail: str) -> Reply:
        """The warm transfer did not connect: the caller hears who will call back and when (a
        protected line), and staff get an escalation at the severity that asked for the transfer."""
        severity = max((e.severity for e in self.out.escalations), key=SEVERITY_RANK.get, default="urgent")
        rt = self.s.workflow.response_time if self.s.workflow else _DEFAULT_RT
        base = self.line("transfer_failed", minutes=rt.urgent_minutes)
        self.out.escalations.append(Escalation(severity, "transfer-failed", len(self.out.turns), detail))
        log.warning("clinic.transfer_failed", severity=severity, pack=self.pack.ref)
        return self.reply([Say(base.text, base.provenance, interruptible=False, cacheable=True)])

    def model_failed(self, role: str) -> Reply:
        """A model failed under the call: the fallback line, an escalation, a transfer to a person."""
        from appliance.clinic.fallback import model_failed_reply

        log.error("clinic.model_failed", role=role, pack=self.pack.ref)
        self.s.pending = None
        return model_failed_reply(self, role)

    def np_extension(self) -> str | None:
        """The red-flag transfer target: after hours the on-call clinician who takes transfers (or None)."""
        return self.promises.transfer_target(self.pack.clinic.on_call[0].extension)

    def escalate(self, hit: Hit, index: int) -> list[Say]:
        """Stop the flow: the approved line, an escalation, and a warm transfer when the flag says so."""
        flag = hit.flag
        rank = SEVERITY_RANK[flag.severity]
        self.s.concern_raised = True
        if rank <= self.s.escalated_rank:
            self.out.escalations.append(Escalation(flag.severity, flag.category, index, flag.id, hit.evidence))
            return [self.line("escalated_hold")]
        wf = self.pack.workflows.get(hit.workflow) if hit.workflow else self.s.workflow
        rt = wf.response_time if wf else _DEFAULT_RT
        own = hit.workflow is None or self.s.workflow is None or hit.workflow == self.s.workflow.id
        if flag.line and own:  # another procedure's own line is not said to this caller
            say = Say(flag.line, self.pack.prov(flag.id), interruptible=flag.severity != "emergency", cacheable=True)
        else:
            key = f"escalate_{flag.severity}"
            if flag.severity == "emergency" and self.np_extension() is None \
                    and self.pack.dialogue.escalate_emergency_no_transfer:
                key = "escalate_emergency_no_transfer"  # after hours, nobody takes transfers: no "connecting you"
            base = self.line(key, minutes=rt.urgent_minutes, hours=rt.routine_hours)
            say = Say(base.text, base.provenance, interruptible=flag.severity != "emergency", cacheable=True)
        actions = [Action("escalate", severity=flag.severity, category=flag.category)]
        if flag.action in ("emergency", "transfer_np") and self.np_extension():
            actions.append(Action("transfer", target=self.np_extension(), attended=True))
        if flag.action == "urgent_callback":
            self.tasks.append(StaffTask("call-back", {"reason": flag.category, "severity": flag.severity,
                                                      "within_minutes": rt.urgent_minutes}))
        self.out.escalations.append(Escalation(flag.severity, flag.category, index, flag.id, hit.evidence))
        self.s.escalated_rank = rank
        self.s.pending = None
        self.s.state = "escalated"
        self._actions.extend(actions)
        log.info("clinic.escalation", severity=flag.severity, category=flag.category, flag=flag.id,
                 method=hit.method, pack=self.pack.ref)
        return [say]

    def _after_escalation(self, text: str) -> list[Say]:
        from appliance.clinic.nlu import intent_of

        intent = intent_of(text)
        if intent == "goodbye":
            return self.goodbye()
        if intent in ("book", "touch_up"):
            return [self.line("concern_first")]
        if is_question(text):
            says = self._question(text)
            if says is not None:
                return says
        return [self.line("escalated_hold")]


class _Fill(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
