"""From a finished outbound conversation to the attempt's recorded result; the production handler."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import OutboundLines
from appliance.clinic.pack import Pack
from appliance.conversation import ConversationOutcome
from appliance.scheduler.runner import CallHandler
from appliance.scheduler.store import FLAGS, AttemptResult, Claim


def result_of(outcome: ConversationOutcome) -> AttemptResult:
    out = outcome.slots.get("outbound") or {}
    return AttemptResult("answered", str(out.get("disposition") or "hung-up"), {k: bool(out.get(k)) for k in FLAGS})


def context_of(claim: Claim) -> OutboundContext:
    from datetime import date

    return OutboundContext(kind=claim.kind, day=claim.day, name=claim.name or "", dob=date.fromisoformat(claim.dob or ""),
                           workflow=claim.workflow, treated_on=claim.treated_on, phone=claim.phone,
                           product=claim.product, area=claim.area, session=claim.session, item=claim.item)


def conversation_for(pack: Pack, lines: OutboundLines, claim: Claim, **kw: Any) -> OutboundAftercareCall:
    now = datetime.now(ZoneInfo(pack.clinic.timezone)).replace(tzinfo=None)
    return OutboundAftercareCall(pack, lines, context_of(claim), now=now, **kw)


def voice_handler(pack: Pack, lines: OutboundLines, engines: Any, settings: Any, **kw: Any) -> CallHandler:
    """The production handler: the voice pipeline speaks the outbound conversation on the answered call."""

    async def handle(claim: Claim, call: Any) -> AttemptResult:
        from appliance.voice.session import VoiceSession

        conversation = conversation_for(pack, lines, claim, **kw)
        outcome = await VoiceSession(call, conversation, engines, settings).run()
        return result_of(outcome)

    return handle
