"""Clinic facts in calls (typed turns, no audio): the pack's approved answer at any step, then the
call resumes where it was; red flags and concerns still come first."""

from __future__ import annotations

from datetime import date, datetime

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.hours import hours_answer
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.conversation import Reply

PACK = load_pack(DEMO_PACK)
NOW = datetime(2025, 3, 12, 10, 0)


def conv(**caller: object) -> ClinicConversation:
    c = ClinicConversation(PACK, now=NOW, caller=CallerContext(**caller))
    c.start()
    return c


def answer(fact_id: str) -> str:
    return PACK.facts.by_id(fact_id).answer


def provs(reply: Reply) -> list[str]:
    return [(s.provenance or "").split("#", 1)[1] for s in reply.says]


def fact_said(reply: Reply) -> bool:
    return any(p.startswith("fact-") for p in provs(reply))


async def to_slot_offer(c: ClinicConversation) -> Reply:
    await c.caller_said("I'm a new patient and I'd like Botox for my forehead. My name is Dana Lee and my number "
                        "is 555 010 2233")
    for said in ("no", "no", "no", "no", "no"):  # earlier treatments, pregnancy, thinners, autoimmune, budget
        await c.caller_said(said)
    assert c.s.state == "offer_booking"
    offer = await c.caller_said("yes")
    assert c.s.state == "offer_slot"
    return offer


# ---- three steps of an unknown caller's call ----

async def test_at_the_open_question() -> None:
    c = conv()
    r = await c.caller_said("Hi, um, what time do you close on Saturday?")
    assert provs(r) == ["fact-hours", "dialogue.anything_else"]
    assert r.says[0].text == hours_answer(PACK.facts.by_id("fact-hours"), PACK.clinic, PACK.clinic.name, NOW.date())
    assert "Saturday, 10 AM to 2 PM" in r.says[0].text and not c.out.escalations
    r = await c.caller_said("yes, I'm a new patient and I'd like Botox for my forehead")
    assert provs(r)[0] == "dialogue.screen_intro" and c.s.state == "intake"  # the call goes on


async def test_in_the_middle_of_new_patient_intake() -> None:
    c = conv()
    await c.caller_said("I'm a new patient, I want Botox for my forehead")
    assert c.s.pending.id == "q-prior"
    r = await c.caller_said("do you take care credit?")
    assert [s.text for s in r.says] == [answer("fact-payment"), c.s.pending.ask]
    assert provs(r) == ["fact-payment", "q-prior"] and c.s.retries == 0
    r = await c.caller_said("no")
    assert c.s.pending.id == "q-pregnancy"
    # an answer and a fact in one turn: both handled
    r = await c.caller_said("no, and where are you located?")
    assert provs(r) == ["fact-address", "q-anticoagulants"]
    assert c.s.screen_answers["pregnant_or_breastfeeding"] == "no"


async def test_during_booking() -> None:
    c = conv()
    offer = await to_slot_offer(c)
    r = await c.caller_said("where do I park?")
    assert [s.text for s in r.says] == [answer("fact-parking"), offer.says[-1].text]  # the same slot, again
    r = await c.caller_said("are you open saturday?")
    assert provs(r) == ["fact-hours", "dialogue.offer_slot"]
    r = await c.caller_said("Saturday")  # the answer to the question just asked, not an hours question
    assert not fact_said(r)
    r = await c.caller_said("yes, and what's your cancellation policy?")
    assert provs(r)[0] == "fact-cancellation" and "dialogue.booked" in provs(r)
    out = c.ended("completed")
    assert out.outcome == "booked" and not out.escalations
    assert out.slots["facts_answered"] == ["fact-parking", "fact-hours", "fact-cancellation"]


async def test_a_fact_question_is_not_a_failed_reask() -> None:
    c = conv()
    await c.caller_said("I'm a new patient, I want Botox for my forehead")
    r = await c.caller_said("banana monkey")
    assert provs(r)[0] == "dialogue.reprompt" and c.s.retries == 1
    r = await c.caller_said("parking?")
    assert provs(r) == ["fact-parking", "q-prior"] and c.s.retries == 1  # not "sorry", not a second miss
    r = await c.caller_said("yes")
    assert c.s.retries == 0 and c.out.slots["prior_treatments"] == "yes"


async def test_a_key_press_after_a_fact_does_not_repeat_it() -> None:
    c = conv()
    await to_slot_offer(c)
    await c.caller_said("where do I park?")
    r = await c.caller_pressed("1")
    assert not fact_said(r) and "dialogue.booked" in provs(r)


# ---- never before the red-flag check, never instead of a concern ----

async def test_a_red_flag_with_a_fact_question_escalates() -> None:
    c = conv()
    r = await c.caller_said("Where do I park? My lips are swelling and my throat feels tight")
    assert not fact_said(r) and r.says[0].interruptible is False
    assert ("transfer", "201") in [(a.kind, a.target) for a in r.actions]
    assert c.out.escalations[0].severity == "emergency"


async def test_a_symptom_with_a_fact_question_takes_the_concern_path() -> None:
    c = conv()
    r = await c.caller_said("can I park my car there? my lip is swollen")
    assert not fact_said(r) and c.out.escalations and c.s.concern_raised


async def test_after_an_escalation_facts_are_answered_and_nothing_is_sold() -> None:
    c = conv(known_patient=True, procedure="ha-filler", treated_on=date(2025, 3, 10))
    await c.caller_said("my lip looks white")
    assert c.s.state == "escalated"
    r = await c.caller_said("where are you located?")
    assert provs(r) == ["fact-address"] and c.s.state == "escalated"
    r = await c.caller_said("what's the address, and can I book a touch up")
    assert provs(r) == ["fact-address", "dialogue.concern_first"]


# ---- returning callers, message-taking, prices ----

async def test_a_returning_caller_with_a_recent_treatment() -> None:
    c = conv(known_patient=True)
    r = await c.caller_said("I had filler in my lips on Monday, where are you located?")
    assert provs(r) == ["fact-address", "fi-q-concern"] and c.s.state == "concern_check"
    r = await c.caller_said("no, all good. What are your hours?")
    assert provs(r) == ["fact-hours", "dialogue.anything_else"]


async def test_during_message_taking() -> None:
    c = conv()
    await c.caller_said("I'd like to leave a message")
    r = await c.caller_said("what are your hours?")
    assert provs(r) == ["fact-hours", "dialogue.ask_message"] and not c.s.message_taken
    r = await c.caller_said("please call me back about moving my appointment, and where do I park?")
    assert provs(r) == ["fact-parking", "dialogue.message_taken", "dialogue.anything_else"]
    assert c.out.slots["message"] == "please call me back about moving my appointment"


async def test_a_price_question_and_a_fact_in_one_turn() -> None:
    c = conv()
    r = await c.caller_said("how much is botox for the forehead, and do you take care credit?")
    assert provs(r) == ["fact-payment", "botox", "dialogue.anything_else"]


# ---- outbound calls ----

def outbound() -> OutboundAftercareCall:
    contact = OutboundContext(kind="check-in", day=1, name="Emily Johnson", dob=date(1980, 3, 3),
                              workflow="neuromodulator-botox", treated_on=date(2025, 3, 7))
    call = OutboundAftercareCall(PACK, load_lines(PACK), contact, now=datetime(2025, 3, 8, 10, 30))
    call.start()
    return call


async def test_outbound_call_answers_facts_and_asks_again() -> None:
    c = outbound()
    r = await c.caller_said("where are you located?")
    assert provs(r) == ["fact-address", "outbound.ask_name"] and c.tries == 0  # not a failed identity try
    await c.caller_said("This is Emily Johnson")
    r = await c.caller_said("what are your hours?")
    assert provs(r) == ["fact-hours", "outbound.ask_dob"] and c.tries == 0
    await c.caller_said("March 3, 1980")
    assert c.verified and c.e.s.state == "checkin_question"  # the day-1 check-in's question, before the concern one
    r = await c.caller_said("where do I park?")
    assert provs(r) == ["fact-parking", "bx-q-received"]  # the same question again
    r = await c.caller_said("yes I can")
    assert provs(r) == ["bx-q-concern"] and c.out.slots["checkin_answers"] == {"bx-q-received": "yes"}
    r = await c.caller_said("do you take care credit?")
    assert provs(r) == ["fact-payment", "bx-q-concern"]
    r = await c.caller_said("no, and where do I park?")
    assert provs(r)[:2] == ["fact-parking", "outbound.no_concern"]
    assert not c.ended("completed").escalations


async def test_outbound_red_flag_with_a_fact_question_escalates() -> None:
    c = outbound()
    r = await c.caller_said("where are you? my eyelid is drooping")
    assert not fact_said(r) and any(a.kind == "escalate" for a in r.actions)
