"""A conversation whose escalations reach the record store the moment they are raised.

`RecordedConversation` wraps a call's conversation (inbound calls in `appliance.callflow`, the
outbound and front-desk calls in `appliance.scheduler`): every escalation that appears in the
engine's live outcome after a caller turn is stored at once, with its response-time target from
the protocol, and the call's live-call entry hears of a planned transfer first. When the store
does not take an escalation, the caller hears the pack's approved transfer line and is
warm-transferred to the on-call injector: nothing said is lost and a person is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from appliance.clinic.pack import Pack
from appliance.clinic.schema import ResponseTime
from appliance.conversation import (
    Action,
    Conversation,
    ConversationOutcome,
    Escalation,
    Reply,
    Say,
    Turn,
    heard_kwargs,
    reply_items,
)
from appliance.live.registry import LiveCall
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.callwriter import CallWriter
from appliance.records.service import AsyncRecords
from appliance.records.store import Records

log = get_logger(__name__)


def response_minutes(pack: Pack, esc: Escalation) -> float:
    """The protocol's response-time target for an escalation: the workflow whose red flag raised
    it, else the strictest target in the pack (general red flags, questions outside the pack)."""
    workflows = [pack.workflows[wf] for flag, wf in pack.all_red_flags() if wf and flag.id == esc.detail]
    targets = [wf.response_time for wf in workflows or pack.workflows.values()]
    by_severity: dict[str, Callable[[ResponseTime], int]] = {
        "emergency": lambda t: t.emergency_minutes, "urgent": lambda t: t.urgent_minutes,
        "routine": lambda t: t.routine_hours * 60}
    per = by_severity[esc.severity]
    return float(min(per(t) for t in targets))


def fallback_line(pack: Pack) -> Say:
    """The pack's approved urgent line ("... I'm transferring you to them ..."), protected: what a
    caller hears when their escalation could not be stored and they are transferred instead."""
    from appliance.clinic.engine import _Fill

    minutes = min(w.response_time.urgent_minutes for w in pack.workflows.values()) if pack.workflows else 15
    text = pack.dialogue.escalate_urgent.format_map(_Fill({"clinic": pack.clinic.name, "minutes": str(minutes)}))
    return Say(text, pack.prov("dialogue.escalate_urgent"), interruptible=False, cacheable=True)


class RecordedConversation:
    """A Conversation that writes each escalation to the record store as soon as it is raised.

    The engine keeps its outcome up to date as the call goes (`outcome`, or `out` for the
    clinic engine); every escalation that appears there after a caller turn is stored at once,
    with the same turn index the final outcome carries (so the post-call save does not add it twice).
    """

    def __init__(self, inner: Conversation, records: AsyncRecords | None, access: Access,
                 pack: Pack | None = None, live: LiveCall | None = None, writer: CallWriter | None = None) -> None:
        self.inner = inner
        self.live = live  # the call's entry in the live-call registry: told of planned transfers here,
        # of the transfers under way by the voice session (its `observer`)
        self.pack = pack
        self.records = records
        self.access = access
        self.writer = writer  # the call's record, by the appliance's own key (None: by access.call_id)
        self._stored = 0
        self._fallback_done = False  # the caller was told and transferred because the store failed

    def _live(self) -> ConversationOutcome | None:
        live = getattr(self.inner, "out", None) or getattr(self.inner, "outcome", None)
        return live if isinstance(live, ConversationOutcome) else None

    async def _escalate(self, reply: Reply) -> Reply:
        if self.live is not None:  # before the escalation is stored: the pager must see the planned transfer
            self.live.saw_reply(reply)
        live = self._live()
        fresh: list[Escalation] = live.escalations[self._stored:] if live else []
        unstored = False
        for esc in fresh:
            log.warning("call.escalation", call_id=hostile(self.access.call_id), severity=esc.severity,
                        category=esc.category)
            minutes = response_minutes(self.pack, esc) if self.pack else None
            if self.writer is not None:
                unstored = not await self.writer.escalation(esc, minutes) or unstored
            elif self.records is not None:
                await self.records.run(Records.record_escalation, self.access, self.access.call_id or "", esc, minutes)
            self._stored += 1
        if live is None and any(a.kind == "escalate" for a in reply.actions):
            log.error("call.escalation_unrecorded", call_id=hostile(self.access.call_id),
                      note="conversation engine exposes no live outcome")
        if unstored:
            reply = self._told_and_transferred(reply, live)
        self._commit_turns(live)
        return reply

    def _commit_turns(self, live: ConversationOutcome | None) -> None:
        if self.writer is not None and live is not None:
            self.writer.turns(live.turns)

    def _told_and_transferred(self, reply: Reply, live: ConversationOutcome | None) -> Reply:
        """No one was told of an escalation (the store did not take it): the caller hears the
        pack's approved transfer line (protected) and is warm-transferred to the on-call injector,
        unless the reply transfers them already. Once per call (a failed transfer is not retried)."""
        if self._fallback_done or any(a.kind == "transfer" for a in reply.actions):
            self._fallback_done = True
            return reply
        self._fallback_done = True
        say = fallback_line(self.pack) if self.pack else None
        if say is None or self.pack is None:
            log.error("call.escalation_untold", call_id=hostile(self.access.call_id), note="no pack to transfer with")
            return reply
        if live is not None:
            live.turns.append(Turn("agent", say.text, say.provenance))
        target = self.pack.clinic.on_call[0].extension
        log.warning("call.escalation_fallback_transfer", call_id=hostile(self.access.call_id), target=target)
        return Reply(says=(*reply.says, say), actions=(*reply.actions, Action("transfer", target=target, attended=True)))

    def start(self) -> Reply:
        reply = self.inner.start()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to commit to
            asyncio.get_running_loop()
            self._commit_turns(self._live())
        return reply

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        said = self.inner.caller_said
        return await self._escalate(await said(text, **heard_kwargs(said, confidence, also_heard)))

    async def caller_pressed(self, digit: str) -> Reply:
        return await self._escalate(await self.inner.caller_pressed(digit))

    async def caller_said_stream(self, text: str, confidence: float | None = None,
                                 also_heard: str | None = None) -> AsyncIterator[Say | Reply]:
        """Streamed replies pass straight through; the escalations they raised are stored as
        soon as the stream ends (before the reply's actions, such as a transfer, are carried out)."""
        last: Reply | None = None
        async for item in reply_items(self.inner, text, confidence, also_heard):
            if isinstance(item, Reply):
                last = item
            else:
                yield item
        yield await self._escalate(last or Reply())

    async def transfer_failed(self, target: str, detail: str) -> Reply:
        """The caller hears what happens next (the engine's approved line) and the failure is
        kept with the call; an engine that cannot say so gets a logged error, never silence."""
        handler = getattr(self.inner, "transfer_failed", None)
        log.warning("call.transfer_failed", call_id=hostile(self.access.call_id), target=hostile(target),
                    detail=hostile(detail))
        if handler is None:
            log.error("call.transfer_failed_unhandled", call_id=hostile(self.access.call_id))
            return Reply()
        reply = handler(target, detail)
        if inspect.isawaitable(reply):
            reply = await reply
        self._fallback_done = True  # a transfer was tried: the engine's line says what happens next
        return await self._escalate(reply)

    async def model_failed(self, role: str) -> Reply:
        """A model failed under the call: the engine's fallback reply, its escalation stored at once."""
        handler = getattr(self.inner, "model_failed", None)
        log.error("call.model_failed", call_id=hostile(self.access.call_id), role=role)
        if handler is None:
            return Reply()
        reply = handler(role)
        if inspect.isawaitable(reply):
            reply = await reply
        return await self._escalate(reply)

    def agent_heard(self, fraction: float) -> None:
        self.inner.agent_heard(fraction)

    def ended(self, reason: str) -> ConversationOutcome:
        return self.inner.ended(reason)

    def __getattr__(self, name: str) -> Any:  # optional protocol extensions of the inner engine
        return getattr(self.inner, name)
