"""One call as every flow sees it: its pack, clock, caller, state and outcome, and the services
the flows share (speaking approved lines, the reply, an escalation, taking a message, goodbye).

The flows (`flow_*.py`) each receive the `CallContext` and the other flows they call, by type;
`ClinicConversation` (engine.py) builds them and dispatches each turn to the step of the state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from appliance.clinic import guard
from appliance.clinic.appointments import AppointmentDesk
from appliance.clinic.context import CallerContext, CallState
from appliance.clinic.nlu import LlmAssist
from appliance.clinic.pack import Pack
from appliance.clinic.payments import PaymentProvider, StaffTask
from appliance.clinic.promises import Promises
from appliance.clinic.redflags import SEVERITY_RANK, Hit
from appliance.clinic.schedule import Scheduler
from appliance.clinic.schema import DialogueKey, Line, ResponseTime
from appliance.clinic.states import State
from appliance.clinic.understand import Reading
from appliance.conversation import Action, ConversationOutcome, Escalation, Reply, Say, Severity, Turn
from appliance.logs import get_logger

log = get_logger(__name__)

DEFAULT_RT = ResponseTime(urgent_minutes=15, routine_hours=24)
_CURRENCY = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£"}
_ESCALATE: dict[Severity, DialogueKey] = {"emergency": "escalate_emergency", "urgent": "escalate_urgent",
                                          "routine": "escalate_routine"}

ClosingKey = Literal["goodbye", "booking_declined"]
Closing = Callable[[ClosingKey], Say]  # an outbound call's own closing lines (outbound.yaml)


class Fill(dict[str, str]):
    """Placeholder values for `str.format_map`: a placeholder without a value stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(eq=False, kw_only=True)
class CallContext:
    """The call: what the flows read and write, and the services they share."""

    pack: Pack
    now: datetime
    caller: CallerContext
    scheduler: Scheduler
    payments: PaymentProvider
    desk: AppointmentDesk | None  # existing appointments (confirm, cancel, move); None: such requests become messages
    assist: LlmAssist
    closing: Closing | None = None  # an outbound call: its goodbye and declined-offer lines instead of the pack's
    s: CallState = field(default_factory=CallState)
    tasks: list[StaffTask] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)  # carried out with the next reply
    lead: list[Say] = field(default_factory=list)  # said first in the next reply (approved answers to clinic facts)
    protected: set[int] = field(default_factory=set)  # indexes of agent turns spoken with interruptible=False
    reading: Reading = field(default_factory=Reading)  # the latest caller turn, read (`TurnFlow.read`)
    read_at: int = -1  # the number of turns when it was read
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)  # whose hold on offered slots (`Scheduler.hold`)
    out: ConversationOutcome = field(init=False)
    promises: Promises = field(init=False)  # after hours: the computed call-back times
    approved: frozenset[str] = field(init=False)  # every approved text (the guard for unprovenanced lines)

    def __post_init__(self) -> None:
        self.out = ConversationOutcome(pack=self.pack.ref)
        self.out.slots.update({k: v for k, v in (("name", self.caller.name), ("phone", self.caller.phone)) if v})
        self.promises = Promises(self.pack.clinic, self.pack.dialogue, self.now, self.out.slots)
        self.approved = frozenset(self._approved_texts())

    @property
    def today(self) -> date:
        return self.now.date()

    def _approved_texts(self) -> set[str]:
        texts = {t for _, t in self.pack.dialogue if isinstance(t, str) and t}
        for wf in self.pack.workflows.values():
            texts |= {x.text for x in wf.immediate_instructions} | {t.answer for t in wf.topics}
        return texts

    # ---- speaking ----

    def line(self, key: DialogueKey, **values: object) -> Say:
        """The pack's dialogue line `key`, filled (outside opening hours: its after-hours variant)."""
        key, values = self.promises.line(key, values)
        text = self.pack.dialogue.text(key)
        if text is None:
            raise KeyError(f"dialogue.{key}: the pack has no such line")
        fill = Fill({"clinic": self.pack.clinic.name, **{k: str(v) for k, v in values.items()}})
        return Say(text.format_map(fill), provenance=self.pack.prov(f"dialogue.{key}"), cacheable=not values)

    def line_or(self, key: DialogueKey, fallback: DialogueKey, **values: object) -> Say:
        """`key` when the pack has that optional line, else `fallback`."""
        return self.line(key if self.pack.dialogue.text(key) else fallback, **values)

    def item(self, line: Line, **values: object) -> Say:
        text = line.text.format_map(Fill({k: str(v) for k, v in values.items()})) if values else line.text
        return Say(text, provenance=self.pack.prov(line.id), cacheable=True)

    def money(self, amount: float) -> str:
        symbol = _CURRENCY.get(self.pack.menu.currency, "$")
        return f"{symbol}{amount:,.0f}" if amount == int(amount) else f"{symbol}{amount:,.2f}"

    def reply(self, says: list[Say], end: bool = False) -> Reply:
        """The reply: the lead lines first, every line checked by the guard, the pending actions."""
        actions, self.actions = tuple(self.actions), []
        says, self.lead = [*self.lead, *says], []
        checked: list[Say] = []
        for say in says:
            if say.provenance is None and not guard.allowed(say.text, self.approved):
                log.warning("clinic.guard_rejected", chars=len(say.text))
                continue
            checked.append(say)
            if not say.interruptible:
                self.protected.add(len(self.out.turns))
            self.out.turns.append(Turn("agent", say.text, say.provenance))
        if end:
            self.s.state = State.ENDED
        return Reply(says=tuple(checked), actions=actions, end_call=end)

    def last_caller_turn(self) -> int:
        return max(i for i, t in enumerate(self.out.turns) if t.speaker == "caller")

    # ---- steps every flow may take ----

    def start_message(self) -> list[Say]:
        """A message for staff: the caller is asked for it (the next turn is the message)."""
        self.s.pending = None
        self.s.state = State.MESSAGE
        return [self.line("ask_message")]

    def goodbye(self) -> list[Say]:
        self.s.state = State.ENDED
        return [self.closing("goodbye") if self.closing is not None else self.line("goodbye")]

    def offer_declined(self) -> list[Say]:
        """Said when the caller declines the booking offer, before "anything else?" (an outbound call's line)."""
        return [self.closing("booking_declined")] if self.closing is not None else []

    def response_time(self) -> ResponseTime:
        return self.s.workflow.response_time if self.s.workflow else DEFAULT_RT

    # ---- red flags ----

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
        rt = wf.response_time if wf else DEFAULT_RT
        own = hit.workflow is None or self.s.workflow is None or hit.workflow == self.s.workflow.id
        if flag.line and own:  # another procedure's own line is not said to this caller
            say = Say(flag.line, self.pack.prov(flag.id), interruptible=flag.severity != "emergency", cacheable=True)
        else:
            key = _ESCALATE[flag.severity]
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
        self.s.state = State.ESCALATED
        self.actions.extend(actions)
        log.info("clinic.escalation", severity=flag.severity, category=flag.category, flag=flag.id,
                 method=hit.method, pack=self.pack.ref)
        return [say]
