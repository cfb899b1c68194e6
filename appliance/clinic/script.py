"""Scripted calls (`appliance converse --script FILE.yaml`): caller context plus typed turns.

    now: 2025-03-12T10:00          # the call's clock (clinic local time); default: now
    caller:
      phone: "+1 555 010 2233"
      known_patient: true
      name: Dana Lee
      procedure: ha-filler         # treatment id, workflow id or family of the last treatment
      product: Juvederm
      area: lips
      date: 2025-03-08             # treatment date
    turns:
      - I'd like to book a touch-up
      - dtmf: "1"
    appointments:                  # optional: booked appointments the call can find
      - {id: 41, start: 2025-03-14T15:00, minutes: 30, provider: np-rivera, treatment: botox,
         deposit: 50, name: Dana Lee, dob: 1985-03-03, caller_id: true}
    expect: {...}                  # optional; checked by the scenario tests, ignored here
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from appliance.clinic.appointments import InMemoryDesk, Upcoming
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.errors import PackError
from appliance.clinic.outbound_script import OutboundSpec
from appliance.clinic.pack import Pack, _problems
from appliance.clinic.schedule import Scheduler
from appliance.clinic.yamlload import YamlProblem, load_located
from appliance.conversation import LanguageModel, Reply


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScriptCaller(_M):
    phone: str | None = None
    known_patient: bool = False
    name: str | None = None
    procedure: str | None = None
    product: str | None = None
    area: str | None = None
    date: dt.date | None = None
    session: int | None = Field(None, ge=1, le=20)


class ScriptAppointment(_M):
    """A booked appointment the call can find: by caller ID (`caller_id: true`, for a known
    patient) or by its patient's `name` and `dob`."""

    id: int = Field(ge=1)
    start: datetime
    minutes: int = Field(30, ge=5, le=480)
    provider: str
    treatment: str | None = None
    deposit: float = Field(0, ge=0)
    name: str | None = None
    dob: dt.date | None = None
    caller_id: bool = False


class ScriptTurn(_M):
    say: str | None = Field(None, max_length=1000)
    dtmf: str | None = Field(None, pattern=r"^[0-9*#]$")
    heard: float | None = Field(None, ge=0, le=1)  # the previous agent reply was cut after this fraction

    @model_validator(mode="after")
    def _one(self) -> ScriptTurn:
        if (self.say is None) == (self.dtmf is None):
            raise ValueError("each turn is a text (or `say: TEXT`) or `dtmf: DIGIT`")
        return self


class Script(_M):
    name: str | None = None
    now: datetime | None = None
    caller: ScriptCaller = ScriptCaller()
    turns: list[str | ScriptTurn] = Field(min_length=1)
    expect: dict[str, Any] | None = None
    outbound: OutboundSpec | None = None  # an outbound aftercare call (see outbound_script.py)
    appointments: list[ScriptAppointment] = Field(default_factory=list)  # what the call can look up


def load_script(path: Path) -> Script:
    try:
        located = load_located(path)
    except YamlProblem as e:
        raise PackError(f"{path}:{e.line or '?'}: {e.message}", code="script-invalid",
                        fix="correct the script at that line") from e
    try:
        return Script.model_validate(located.data)
    except ValidationError as e:
        raise PackError(f"{path}: not a valid call script", problems=_problems(e, located, path.name),
                        code="script-invalid", fix="see `appliance converse --help` for the script format") from e


def caller_context(script: Script) -> CallerContext:
    c = script.caller
    return CallerContext(phone=c.phone, known_patient=c.known_patient, name=c.name, procedure=c.procedure,
                         product=c.product, area=c.area, treated_on=c.date, session=c.session)


def script_desk(script: Script) -> InMemoryDesk:
    desk = InMemoryDesk()
    for a in script.appointments:
        up = Upcoming(a.id, a.start, a.minutes, a.provider, a.treatment, int(round(a.deposit * 100)))
        if a.caller_id:
            desk.caller.append(up)
        if a.name and a.dob:
            desk.people.setdefault((" ".join(a.name.lower().split()), a.dob), []).append(up)
    return desk


def _actions(reply: Reply, after_turn: int) -> list[dict[str, Any]]:
    return [{"after_turn": after_turn, **{k: v for k, v in asdict(a).items() if v not in (None, False)}}
            for a in reply.actions]


async def play_turns(conv: Any, turns: list[Any], turn_count: Any) -> tuple[Reply, list[dict[str, Any]]]:
    """Greet, then play the script's caller turns (speech, key presses, barge-in fractions) until
    the conversation ends the call; return the last reply and every action with its turn index."""
    actions: list[dict[str, Any]] = []
    reply = conv.start()
    actions += _actions(reply, turn_count() - 1)
    for raw in turns:
        if reply.end_call:
            break
        turn = ScriptTurn(say=raw) if isinstance(raw, str) else raw
        if turn.heard is not None:
            conv.agent_heard(turn.heard)
        reply = await (conv.caller_pressed(turn.dtmf) if turn.dtmf else conv.caller_said(turn.say or ""))
        actions += _actions(reply, turn_count() - 1)
    return reply, actions


async def run_script(pack: Pack, script: Script, *, now: datetime, llm: LanguageModel | None = None,
                     scheduler: Scheduler | None = None) -> dict[str, Any]:
    """Play the script through the engine; return the outcome document (JSON-ready)."""
    if script.outbound is not None:
        return await run_outbound_script(pack, script, now=now, llm=llm, scheduler=scheduler)
    conv = ClinicConversation(pack, now=script.now or now, caller=caller_context(script), llm=llm,
                              scheduler=scheduler, desk=script_desk(script))
    reply, actions = await play_turns(conv, script.turns, lambda: len(conv.out.turns))
    outcome = conv.ended("completed" if reply.end_call else "caller-hung-up")
    doc = outcome_document(outcome, conv.protected)
    doc["actions"] = actions
    return doc


def outcome_document(outcome: Any, protected: set[int]) -> dict[str, Any]:
    data = asdict(outcome)
    for i, turn in enumerate(data["turns"]):
        if turn["speaker"] == "agent":
            turn["interruptible"] = i not in protected
    return data


async def run_outbound_script(pack: Pack, script: Script, *, now: datetime, llm: LanguageModel | None = None,
                              scheduler: Scheduler | None = None) -> dict[str, Any]:
    from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
    from appliance.clinic.outbound_lines import load_lines

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
