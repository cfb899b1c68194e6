"""The confirmation question and the second listen, in the engine (no audio).

A turn Whisper was unsure of is heard again with the symptom words in the prompt
(`appliance.voice.processors.transcription.SecondListen`); those words reach the conversation as
`also_heard` (with the second recogniser's). They are read for red flags only, when the turn itself
raised none or less, and a hit there is never acted on before the caller confirms it: the pack's
`confirm_symptom` question, after which anything but a clear "no" escalates, and a "no" asks again
the question the call was on (or escalates the turn's own lesser hit). Unanswered, it is escalated
when the call ends.
The transcripts below are Whisper tiny.en's, from the espeak-ng sweep of the safety corpus
(`benchmarks/results/redflags_voice_second_listen_*.json`).
"""

from __future__ import annotations

from datetime import timedelta

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.states import State
from appliance.conversation import Reply

from .test_redflags_corpus import NOW, PACK

CONFIRM = PACK.dialogue.confirm_symptom
BLISTER = ("It's probably nothing but an amylisk.",  # "it's probably nothing but there's a blister"
           "It's probably nothing but a blister.")


def texts(reply: Reply) -> list[str]:
    return [s.text for s in reply.says]


async def in_intake(known: bool = False) -> ClinicConversation:
    c = ClinicConversation(PACK, now=NOW, caller=CallerContext(phone="5550100000", known_patient=known))
    c.start()
    await c.caller_said("I'd like to book lip filler")
    assert c.s.state == State.INTAKE and c.s.pending is not None
    return c


async def test_a_second_listen_hit_is_confirmed_and_a_yes_escalates() -> None:
    c = await in_intake()
    first, again = BLISTER
    reply = await c.caller_said(first, confidence=0.42, also_heard=again)
    assert texts(reply) == [CONFIRM] and not c.out.escalations
    reply = await c.caller_said("yes", confidence=0.8)
    (esc,) = c.out.escalations
    assert esc.severity == "urgent" and esc.category == "blisters-or-sores", esc
    assert "second listen" in esc.evidence and "blister" in esc.evidence, esc.evidence
    assert c.s.state == State.ESCALATED


async def test_an_unclear_answer_to_the_confirmation_escalates_too() -> None:
    c = await in_intake()
    await c.caller_said(BLISTER[0], confidence=0.42, also_heard=BLISTER[1])
    await c.caller_said("hmm I'm not sure what you mean", confidence=0.5)
    assert [e.severity for e in c.out.escalations] == ["urgent"]  # recall first


async def test_a_no_to_the_confirmation_asks_the_same_screen_question_again_and_answers_nothing() -> None:
    c = await in_intake()
    question = c.s.pending
    assert question is not None
    await c.caller_said(BLISTER[0], confidence=0.42, also_heard=BLISTER[1])
    reply = await c.caller_said("no", confidence=0.9)
    assert not c.out.escalations
    assert texts(reply) == [question.ask], texts(reply)  # the same question, its answer still open
    assert c.s.pending is question and question.id not in c.out.slots.get("screen", {})


async def test_a_no_to_an_unsure_symptom_asks_the_screen_question_again() -> None:
    c = await in_intake()
    question = c.s.pending
    assert question is not None
    reply = await c.caller_said("there's a blistor on my shin", confidence=0.3)  # fuzzy only, heard unsure
    assert texts(reply) == [CONFIRM]
    reply = await c.caller_said("no", confidence=0.9)
    assert texts(reply) == [question.ask] and c.s.pending is question and not c.out.escalations


async def test_the_turn_itself_comes_first_and_a_clear_hit_is_not_asked_about() -> None:
    c = await in_intake()
    reply = await c.caller_said("my throat feels tight and I can't breathe", confidence=0.45,
                                also_heard="My throat feels tight and I can't breathe.")
    assert CONFIRM not in texts(reply)
    assert [e.severity for e in c.out.escalations] == ["emergency"]
    assert "second listen" not in c.out.escalations[0].evidence


async def test_a_second_listen_that_raises_nothing_changes_nothing() -> None:
    c = await in_intake()
    question = c.s.pending
    reply = await c.caller_said("no I haven't", confidence=0.4, also_heard="No, I haven't.")
    assert CONFIRM not in texts(reply) and not c.out.escalations
    assert c.s.pending is not question  # the screen moved on as it does without a second listen


async def test_an_unknown_callers_first_turn_is_heard_again_too() -> None:
    c = ClinicConversation(PACK, now=NOW, caller=CallerContext(phone="5550100000", known_patient=False))
    c.start()
    reply = await c.caller_said("My country, you're really thick and woeland.", confidence=0.38,
                                also_heard="My tongue, peel, beryllific and swollen.")
    assert texts(reply) == [CONFIRM] and not c.out.escalations
    await c.caller_said("yes it is", confidence=0.7)
    assert [e.severity for e in c.out.escalations] == ["emergency"]


async def test_an_outbound_check_in_confirms_a_second_listen_hit_and_a_no_asks_its_own_step_again() -> None:
    treatment = PACK.menu.treatments[0]
    contact = OutboundContext(kind="check-in", day=1, name="Maya Cruz", dob=NOW.date().replace(year=1985),
                              workflow=treatment.workflow, treated_on=NOW.date() - timedelta(days=1))
    call = OutboundAftercareCall(PACK, load_lines(PACK), contact, now=NOW)
    call.start()
    assert call.e.s.state == State.IDENTIFY_NAME
    reply = await call.caller_said("Yes, mm-hmm, my lip's at the stint.", confidence=0.41,
                                   also_heard="Yes, my lips are blistering.")
    assert texts(reply) == [CONFIRM] and not call.e.out.escalations
    reply = await call.caller_said("no", confidence=0.9)
    assert not call.e.out.escalations
    assert texts(reply) == texts(Reply(says=tuple(call._ask_again()))) and call.e.s.state == State.IDENTIFY_NAME
    reply = await call.caller_said("Yes, mm-hmm, my lip's at the stint.", confidence=0.41,
                                   also_heard="Yes, my lips are blistering.")
    assert texts(reply) == [CONFIRM]
    await call.caller_said("yeah", confidence=0.9)
    (esc,) = call.e.out.escalations
    assert esc.severity == "urgent" and 'second listen, lexicon match of "blister"' in esc.evidence, esc


# Piper's "my tongue is swollen" through G.711: Whisper heard a routine swelling, Moonshine the tongue.
TONGUE = ("Microne's swole one.", "My tongue is swollen.")


async def test_a_worse_flag_on_the_second_listen_is_asked_about_and_a_no_keeps_the_turns_own() -> None:
    c = await in_intake()
    reply = await c.caller_said(TONGUE[0], confidence=0.55)
    assert [e.severity for e in c.out.escalations] == ["routine"]  # the first hearing alone: a routine swelling

    c = await in_intake()
    reply = await c.caller_said(TONGUE[0], confidence=0.55, also_heard=TONGUE[1])
    assert texts(reply) == [CONFIRM] and not c.out.escalations  # the emergency is asked about first
    await c.caller_said("yes", confidence=0.9)
    (esc,) = c.out.escalations
    assert esc.severity == "emergency" and "second listen" in esc.evidence and "tongue" in esc.evidence, esc

    c = await in_intake()
    await c.caller_said(TONGUE[0], confidence=0.55, also_heard=TONGUE[1])
    await c.caller_said("no", confidence=0.9)
    (esc,) = c.out.escalations  # the caller's own words still raised the routine flag
    assert esc.severity == "routine" and esc.category == "swelling-lumps-or-asymmetry", esc
    assert c.s.state == State.ESCALATED


async def test_a_confirmation_never_answered_is_escalated_when_the_caller_hangs_up() -> None:
    c = await in_intake()
    await c.caller_said(BLISTER[0], confidence=0.42, also_heard=BLISTER[1])
    out = c.ended("hung-up")
    (esc,) = out.escalations
    assert esc.severity == "urgent" and esc.evidence.startswith("confirmation not answered; ") and out.outcome == "escalated"

    c = await in_intake()
    await c.caller_said(TONGUE[0], confidence=0.55, also_heard=TONGUE[1])
    out = c.ended("hung-up")
    assert [e.severity for e in out.escalations] == ["emergency", "routine"], out.escalations  # both, for staff

    c = await in_intake()  # answered: nothing more at the end
    await c.caller_said(BLISTER[0], confidence=0.42, also_heard=BLISTER[1])
    await c.caller_said("no", confidence=0.9)
    assert c.ended("hung-up").escalations == []
