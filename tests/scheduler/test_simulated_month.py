"""A simulated month of aftercare calls: the scheduler runner on a fake clock, the production call
handler on the real encrypted store, and scripted patients (one per workflow of the demo pack, so
every procedure family) who answer every question they are asked.

The clock is stepped to each contact's due time and the runner claims, dials and records the
calls as it does in service. Afterwards, for every check-in of every workflow: it was called on
its day, every line its purpose lists was spoken (by provenance, in the stored transcript), and
every question's answer is stored on the contact (read back through the store). No audio, no
models: the conversation engine only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.calls import CallInfo
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import Pack
from appliance.clinic.schema import Workflow
from appliance.config import OutboundSettings
from appliance.conversation import Conversation, ConversationOutcome, Reply
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.scheduler.calls import OutboundCallHandler
from appliance.scheduler.runner import Scheduler
from appliance.scheduler.setup import open_store
from appliance.scheduler.store import AttemptResult, Claim, ScheduleStore, phone_digits
from tests.scheduler.conftest import STAFF, SYSTEM, treatment

TREATED = date(2025, 3, 3)  # a Monday: every check-in day of the demo pack (1-4, 7, 10, 14, 28) falls on an open day
MONTH = 35  # days simulated
SETTINGS = OutboundSettings(enabled=True, poll_seconds=3600, max_outbound=4, reserve_inbound=2)
AREAS = {"neuromodulator-botox": "my forehead and the frown lines", "neuromodulator-dysport": "the crow's feet",
         "neuromodulator-xeomin": "between my eyebrows", "dermal-filler-ha": "the lips and the chin"}
CALL_FROM = time.fromisoformat(SETTINGS.call_from)  # when a contact is first due, clinic-local
MAX_TURNS = 20


def concern_id(wf: Workflow) -> str:
    """The workflow's concern question, asked last on every check-in (the engine's choice)."""
    return next((q.id for q in wf.questions if q.id.endswith("q-concern")), wf.questions[0].id)


@dataclass
class Patient:
    """A scripted patient: what they say to each prompt, by the prompt's pack item id."""

    workflow: str
    name: str
    phone: str
    dob: date
    unknown: list[str]

    def answer(self, question: str) -> str:
        if question.endswith("q-concern"):
            return "no"
        if question.endswith("q-received"):
            return "yes, I have them here"
        return AREAS[self.workflow]  # the review's area question

    def stored(self, question: str) -> str:
        """The answer as the store keeps it: yes / no when it opens with one, else the words."""
        said = self.answer(question)
        return said.split(",")[0] if said.split(",")[0] in ("yes", "no") else said

    def says(self, prompt: str) -> str:
        fixed = {"outbound.ask_name": self.name, "outbound.ask_dob": f"{self.dob:%B} {self.dob.day} {self.dob.year}",
                 "outbound.satisfaction.ask": "five", "outbound.offer_booking": "no thanks",
                 "dialogue.anything_else": "no, that's all"}
        if prompt in fixed:
            return fixed[prompt]
        if "-q-" in prompt:
            return self.answer(prompt)
        self.unknown.append(prompt)  # a prompt this script has no answer for: reported by the test
        return "goodbye"


def patients(pack: Pack) -> list[Patient]:
    return [Patient(wf, f"Pat {chr(ord('A') + i)}lder", f"+1 555 010 33{i:02d}", date(1980 + i, 4, 10 + i), [])
            for i, wf in enumerate(sorted(pack.workflows))]


def item(reply: Reply) -> str:
    """The pack item id of the reply's last line: the prompt the patient answers."""
    return (reply.says[-1].provenance or "").split("#", 1)[-1] if reply.says else ""


def scripted(people: dict[str, Patient]) -> Callable[[Any, Conversation], Any]:
    async def run(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        patient = people[phone_digits(media.info.remote_number)]
        reply = conv.start()
        for _ in range(MAX_TURNS):
            if reply.end_call:
                return conv.ended("hangup"), "hangup"
            reply = await conv.caller_said(patient.says(item(reply)))
        patient.unknown.append("the call did not end")
        return conv.ended("remote-bye"), "remote-bye"

    return run


class Phones:
    """The dialer: every patient answers; each call has a Call-ID of its own."""

    def __init__(self) -> None:
        self.placed = 0

    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> Any:
        self.placed += 1
        info = CallInfo(call_id=f"sim-{self.placed}", direction="outbound", remote_number=phone_digits(target))
        return SimpleNamespace(outcome="answered", call=SimpleNamespace(info=info))


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


async def idle(sched: Scheduler) -> None:
    for _ in range(1000):
        if not sched._calls:  # noqa: SLF001 - the test waits for the calls in flight
            return
        await asyncio.sleep(0.01)
    raise AssertionError("calls did not finish")


async def run_month(sched: Scheduler, clock: Clock, plans: list[int], end: datetime) -> None:
    """Step the clock to each due time and let the runner place what is due, until `end`."""
    def contacts(store: ScheduleStore) -> list[dict[str, Any]]:
        return [r for p in plans for r in store.contacts(STAFF, plan_id=p)]

    for _ in range(200):
        due = [datetime.fromisoformat(r["next_at"]) for r in await sched._db(contacts, sched.store)  # noqa: SLF001
               if r["state"] == "due"]
        if not due or min(due) > end:
            return
        clock.t = max(clock.t, min(due))
        await sched.tick()
        await idle(sched)
    raise AssertionError("the month did not finish")


@pytest.mark.timeout(120)
async def test_a_month_of_check_ins_for_every_workflow_of_the_demo_pack(
        db: tuple[Path, bytes], pack: Pack, records: AsyncRecords) -> None:
    tz = ZoneInfo(pack.clinic.timezone)
    people = patients(pack)
    assert {pack.workflows[p.workflow].family for p in people} >= {"neuromodulator", "filler", "laser", "peel",
                                                                   "microneedling"}
    setup = open_store(db[0], db[1], pack, SETTINGS)
    start = datetime.combine(TREATED, time(12), tz)
    plans = {setup.record_treatment(STAFF, treatment(name=p.name, phone=p.phone, dob=p.dob.isoformat(),
                                                     procedure=p.workflow, treated_on=TREATED, product=None, area=None),
                                    start): p for p in people}
    setup.conn.close()

    clock = Clock(start)
    handler = OutboundCallHandler(pack, load_lines(pack), scripted({phone_digits(p.phone): p for p in people}),
                                  records=records, channels=(), clock=clock)
    call_ids: dict[int, str] = {}

    async def place(claim: Claim, media: Any) -> AttemptResult:  # the production handler; the test notes the call
        call_ids[claim.contact_id] = media.info.call_id
        return await handler(claim, media)

    sched = Scheduler(lambda: open_store(db[0], db[1], pack, SETTINGS), Phones(), place, SETTINGS, clock=clock,
                      worker="sim")
    await sched.start()
    try:
        await asyncio.sleep(0.05)  # the runner's first tick: nothing is due at the visit
        await run_month(sched, clock, list(plans), start + timedelta(days=MONTH))
        rows = await sched._db(lambda: {p: sched.store.contacts(STAFF, plan_id=p) for p in plans})  # noqa: SLF001
        tries = await sched._db(lambda: {c["id"]: sched.store.attempts_of(c["id"])  # noqa: SLF001
                                         for cs in rows.values() for c in cs})
    finally:
        await sched.stop()

    assert [p.unknown for p in people] == [[] for _ in people]  # every prompt was one the script answers
    checked = 0
    for plan, patient in plans.items():
        wf = pack.workflows[patient.workflow]
        first = min(ci.day for ci in wf.check_ins if ci.day >= 1)
        month = [c for c in rows[plan] if datetime.fromisoformat(c["due_at"]) <= start + timedelta(days=MONTH)]
        assert [(c["kind"], c["day"], c["state"], c["disposition"]) for c in month if c["state"] != "completed"] == []
        check_ins = {c["item"]: c for c in month if c["kind"] == "check-in"}
        assert sorted(check_ins) == sorted(ci.id for ci in wf.check_ins if ci.day >= 1), patient.workflow
        for ci in (ci for ci in wf.check_ins if ci.day >= 1):  # day 0 is the visit itself
            contact = check_ins[ci.id]
            (attempt,) = tries[contact["id"]]  # called once, on its day, at the first contact time
            called = datetime.fromisoformat(attempt["started_at"]).astimezone(tz)
            assert (called.date(), called.time()) == (TREATED + timedelta(days=ci.day), CALL_FROM), ci.id
            turns = await records.run(Records.get_transcript, STAFF, call_ids[contact["id"]])
            spoken = [t["provenance"].split("#", 1)[1] for t in turns if t["speaker"] == "agent" and t["provenance"]]
            purpose = [x if isinstance(x, str) else x.id for x in ci.lines] + list(ci.topics)  # from the pack
            if ci.day == first:
                purpose += [x.id for x in wf.immediate_instructions if x.id not in purpose]
            questions = [*(q for q in ci.questions if q != concern_id(wf)), concern_id(wf)]
            expected = [*purpose, *questions]
            assert [x for x in spoken if x in expected] == expected, ci.id  # each once, in order
            assert contact["answers"] == {q: patient.stored(q) for q in questions}, ci.id
            checked += 1
    assert checked == sum(len([ci for ci in wf.check_ins if ci.day >= 1]) for wf in pack.workflows.values())


def test_a_retried_check_in_keeps_the_answers_of_each_attempt(store: ScheduleStore) -> None:
    """A patient who hangs up after the first question is called again: both answers stay, and
    each write of answers is in the audit trail."""
    tz = ZoneInfo(store.policy.clinic_tz)
    plan = store.record_treatment(STAFF, treatment(treated_on=TREATED), datetime.combine(TREATED, time(12), tz))
    now = datetime.combine(TREATED + timedelta(days=1), CALL_FROM, tz)
    (claim,) = store.claim_due(SYSTEM, now, "w1", timedelta(minutes=5), 1)
    cut = AttemptResult("answered", "hung-up", {"reached": True}, answers={"bx-q-received": "yes"})
    assert store.finish(SYSTEM, claim, cut, now) == "due"
    later = now + timedelta(hours=3)
    (again,) = store.claim_due(SYSTEM, later, "w1", timedelta(minutes=5), 1)
    assert again.contact_id == claim.contact_id
    done = AttemptResult("answered", "completed", {"reached": True}, answers={"bx-q-concern": "no"})
    assert store.finish(SYSTEM, again, done, later) == "completed"
    day1 = store.contacts(STAFF, plan_id=plan)[0]
    assert day1["answers"] == {"bx-q-received": "yes", "bx-q-concern": "no"}
    assert all(c["answers"] is None for c in store.contacts(STAFF, plan_id=plan)[1:])  # nothing asked yet
    audited = [r[0] for r in store.conn.execute("SELECT subject FROM audit_events WHERE action = ?",
                                                ("aftercare_contact.update",))]
    assert audited == [f"plan:{plan}:answers"] * 2


def test_check_in_answers_go_with_the_calls_transcript_under_retention(store: ScheduleStore,
                                                                      db: tuple[Path, bytes]) -> None:
    """The answers are the patient's words: the transcripts purge clears them with the call's turns."""
    from appliance.records.audit import Access
    from appliance.records.store import Records

    tz = ZoneInfo(store.policy.clinic_tz)
    plan = store.record_treatment(STAFF, treatment(treated_on=TREATED), datetime.combine(TREATED, time(12), tz))
    now = datetime.combine(TREATED + timedelta(days=1), CALL_FROM, tz)
    records = Records.open(db[0], db[1])
    try:
        call_row = records.start_call(SYSTEM, "check-in-1", "outbound", None, started_at=now)
        (claim,) = store.claim_due(SYSTEM, now, "w1", timedelta(minutes=5), 1)
        done = AttemptResult("answered", "completed", {"reached": True}, call_row_id=call_row,
                             answers={"bx-q-received": "yes, on my phone"})
        assert store.finish(SYSTEM, claim, done, now) == "completed"
        assert store.contacts(STAFF, plan_id=plan)[0]["answers"] == {"bx-q-received": "yes, on my phone"}
        job = Access("system:retention", "retention")
        records.purge(job, {"transcripts": 400}, now=now + timedelta(days=30))  # not old enough: kept
        assert store.contacts(STAFF, plan_id=plan)[0]["answers"] == {"bx-q-received": "yes, on my phone"}
        records.purge(job, {"transcripts": 7}, now=now + timedelta(days=30))
        assert store.contacts(STAFF, plan_id=plan)[0]["answers"] is None
    finally:
        records.close()
