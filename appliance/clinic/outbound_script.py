"""Scripted outbound calls for `appliance converse --script`: a script with an `outbound:` section.

    now: 2025-03-08T10:30             # clinic local time of the call
    caller: {name: Dana Lee, phone: "+1 555 010 2233", procedure: neuromodulator-botox,
             product: Botox, area: forehead, date: 2025-03-07}
    outbound: {kind: check-in, day: 1, dob: 1985-04-12}   # written: email (instructions sent in writing)
    turns: [Dana Lee, April 12 1985, "no, all good", ...]   # the patient's answers
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from appliance.clinic.errors import PackError

if TYPE_CHECKING:
    from appliance.clinic.pack import Pack
    from appliance.clinic.schedule import Scheduler
    from appliance.clinic.script import Script
    from appliance.conversation import LanguageModel


class OutboundSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["check-in", "review", "touch-up", "recall", "series"] = "check-in"
    day: int = Field(1, ge=0, le=730)
    dob: dt.date
    approved_lines: bool = False  # require the clinician approval of outbound/lines.yaml (calls always do)
    written: Literal["sms", "email"] | None = None  # the instructions were sent in writing (day 1 asks if they arrived)


async def run_outbound_script(pack: Pack, script: Script, *, now: datetime, llm: LanguageModel | None = None,
                              scheduler: Scheduler | None = None) -> dict[str, Any]:
    from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
    from appliance.clinic.outbound_lines import load_lines
    from appliance.clinic.script import outcome_document, play_turns

    spec, c = script.outbound, script.caller
    if spec is None:
        raise PackError("not an outbound script", code="script-invalid")
    if not (c.name and c.procedure and c.date):
        raise PackError("an outbound script needs caller.name, caller.procedure and caller.date",
                        code="script-invalid", fix="add them under caller:")
    named = pack.workflow_of(c.procedure)
    workflow = c.procedure if c.procedure in pack.workflows else (named.id if named else None)
    if workflow is None:
        raise PackError(f"caller.procedure {c.procedure!r} is not a treatment or workflow of {pack.ref}",
                        code="script-invalid", fix=f"use one of: {', '.join(sorted(pack.workflows))}")
    contact = OutboundContext(kind=spec.kind, day=spec.day, name=c.name, dob=spec.dob, workflow=workflow,
                              treated_on=c.date, phone=c.phone, product=c.product, area=c.area, session=c.session,
                              written=spec.written)
    conv = OutboundAftercareCall(pack, load_lines(pack, approved=spec.approved_lines), contact,
                                 now=script.now or now, scheduler=scheduler, llm=llm)
    reply, actions = await play_turns(conv, script.turns, lambda: len(conv.e.out.turns))
    outcome = conv.ended("completed" if reply.end_call else "caller-hung-up")
    doc = outcome_document(outcome, conv.e.protected)
    doc["actions"] = actions
    return doc
