"""The staged pilot on the call path: a call that turns out to need a workflow (or a call type)
that is not live yet hears the built-in pilot line and becomes a message for staff. Red flags
are still checked on every turn by the engine first: a turn that escalates is never diverted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from appliance.config import CallType
from appliance.conversation import ConversationOutcome, Reply, Say, heard_kwargs
from appliance.golive.lines import PILOT_MESSAGE, PILOT_MESSAGE_PROVENANCE
from appliance.golive.policy import Pilot
from appliance.logs import get_logger

log = get_logger(__name__)
_SETTLED = ("escalated", "message", "anything_else", "ended")


def call_shape(engine: Any) -> tuple[CallType | None, str | None]:
    """(call type, workflow id) of an inbound clinic conversation, as far as it is known yet."""
    s = getattr(engine, "s", None)
    if s is None:
        return None, None
    workflow = s.workflow.id if getattr(s, "workflow", None) is not None else None
    if workflow is not None and s.patient_type != "new":
        return "inbound-aftercare", workflow
    if s.patient_type == "new":
        return "inbound-new", workflow
    if s.patient_type == "returning":
        return "inbound-aftercare", workflow
    return None, workflow


class PilotConversation:
    """Wraps the clinic engine (`ClinicConversation`): replies pass through until the call needs
    something the pilot has not made live; then the caller is told so and a message is taken."""

    def __init__(self, inner: Any, pilot: Pilot, call_id: str = "") -> None:
        self.inner = inner
        self.pilot = pilot
        self.call_id = call_id
        self.diverted: tuple[CallType | None, str | None] | None = None

    @property
    def out(self) -> ConversationOutcome | None:
        return getattr(self.inner, "out", None)

    def _check(self, reply: Reply) -> Reply:
        s = getattr(self.inner, "s", None)
        rank: int = getattr(s, "escalated_rank", 0)
        if (self.diverted is not None or s is None or s.state in _SETTLED or rank
                or any(a.kind in ("escalate", "transfer") for a in reply.actions)):
            return reply
        call_type, workflow = call_shape(self.inner)
        if self.pilot.live(call_type, workflow):
            return reply
        self.diverted = (call_type, workflow)
        turns = self.inner.out.turns
        n = len(reply.says)
        if n and [t.text for t in turns[-n:]] == [say.text for say in reply.says]:
            del turns[-n:]  # not spoken: the pilot line replaces them
        says = [Say(PILOT_MESSAGE, PILOT_MESSAGE_PROVENANCE, cacheable=True), *self.inner.start_message()]
        log.info("golive.pilot_message", call_id=self.call_id, call_type=call_type, workflow=workflow)
        out = self.inner.reply(says)
        return Reply(says=out.says, actions=(*reply.actions, *out.actions), end_call=False)

    def start(self) -> Reply:
        reply: Reply = self.inner.start()  # the wrapped engine is typed Any
        return reply

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        said = self.inner.caller_said
        return self._check(await said(text, **heard_kwargs(said, confidence, also_heard)))

    async def caller_pressed(self, digit: str) -> Reply:
        return self._check(await self.inner.caller_pressed(digit))

    async def caller_said_stream(self, text: str, confidence: float | None = None,
                                 also_heard: str | None = None) -> AsyncIterator[Say | Reply]:
        """Not streamed: the whole reply is needed to decide (a pilot call is a short one)."""
        reply = await self.caller_said(text, confidence, also_heard)
        for say in reply.says:
            yield say
        yield Reply(actions=reply.actions, end_call=reply.end_call)

    def agent_heard(self, fraction: float) -> None:
        self.inner.agent_heard(fraction)

    def ended(self, reason: str) -> ConversationOutcome:
        outcome: ConversationOutcome = self.inner.ended(reason)
        return outcome

    def __getattr__(self, name: str) -> Any:  # transfer_failed, model_failed, s, reply ...
        return getattr(self.inner, name)
