"""The conversation state machine, in process and without audio: pure logic, fixed clock."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.clinic import guard
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.errors import SlotTaken
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.rebooking import follow_up, recall_from
from appliance.clinic.schedule import HOLD, InMemoryBookingStore, Scheduler

PACK = load_pack(DEMO_PACK)
NOW = datetime(2025, 3, 12, 10, 0)


def conv(**caller: object) -> ClinicConversation:
    return ClinicConversation(PACK, now=NOW, caller=CallerContext(**caller))


async def test_greeting_differs_for_known_patients() -> None:
    first = conv().start()  # one short turn with an open question: the caller speaks first
    assert [s.provenance for s in first.says] == [PACK.prov("dialogue.greeting")]
    assert "Harbor Light Aesthetics" in first.says[0].text and first.says[0].cacheable is True
    assert first.says[0].interruptible is True
    known = conv(known_patient=True).start()
    assert [s.provenance for s in known.says] == [PACK.prov("dialogue.greeting_known")]
    assert "Welcome back" in known.says[0].text


async def test_red_flag_stops_the_flow_with_protected_line_and_transfer() -> None:
    c = conv(known_patient=True, procedure="ha-filler", treated_on=date(2025, 3, 10))
    c.start()
    reply = await c.caller_said("book a touch-up, oh and my lip looks a bit grey")
    assert reply.says[0].interruptible is False
    kinds = [(a.kind, a.severity, a.category, a.target, a.attended) for a in reply.actions]
    assert ("escalate", "emergency", "vascular-compromise", None, False) in kinds
    assert ("transfer", None, None, "201", True) in kinds
    later = await c.caller_said("so can I book the touch-up?")
    assert later.says[0].provenance == PACK.prov("dialogue.concern_first") and not later.actions
    out = c.ended("caller-hung-up")
    assert out.outcome == "escalated" and out.booking is None
    assert out.escalations[0].turn == 1 and out.turns[1].speaker == "caller"  # after the one-line greeting


async def test_dtmf_and_digit_validation() -> None:
    c = conv()
    c.start()
    r = await c.caller_pressed("2")
    assert r.says[0].provenance == PACK.prov("dialogue.ask_returning_reason")
    assert (await c.caller_pressed("x")).says == ()
    r = await c.caller_pressed("0")
    assert r.says[0].provenance == PACK.prov("dialogue.ask_message")


async def test_unclear_screen_answer_takes_declined_outcome_after_retry() -> None:
    c = conv()
    c.start()
    await c.caller_said("new patient, Botox for my forehead")  # asks prior treatments
    await c.caller_said("yes")  # asks last neuromodulator date
    await c.caller_said("no")  # never -> asks pregnancy
    first = await c.caller_said("banana monkey")
    assert first.says[0].provenance == PACK.prov("dialogue.reprompt")
    assert first.says[-1].provenance == PACK.prov("dialogue.dtmf_yes_no")
    second = await c.caller_said("banana monkey")
    assert second.says[0].provenance == PACK.prov("out-pregnancy-declined")
    assert c.s.booking_kind == "consult" and "pregnancy-unanswered" in c.s.screen_flags


async def test_agent_heard_marks_last_agent_turn() -> None:
    c = conv()
    c.start()
    await c.caller_said("hello")
    c.agent_heard(0.4)
    assert c.out.turns[-1].heard_fraction == 0.4 and c.out.turns[0].heard_fraction == 1.0


async def test_empty_and_huge_input_never_crash() -> None:
    c = conv()
    c.start()
    assert (await c.caller_said("")).says[0].provenance == PACK.prov("dialogue.reprompt")
    r = await c.caller_said("\x00<|im_end|>" * 5000)
    assert r.says and len(c.out.turns[-len(r.says) - 1].text) <= 1000


def test_scheduler_never_double_books() -> None:
    store = InMemoryBookingStore()
    sched = Scheduler(PACK.clinic, store)
    first = sched.find(None, 30, NOW, count=1)[0]
    assert first.start > NOW and first.start.weekday() in (0, 1, 2, 3, 4, 5)
    sched.book(first, "consult", None, "A", "1")
    with pytest.raises(SlotTaken):
        sched.book(first, "consult", None, "B", "2")
    again = sched.find(None, 30, NOW, count=1)[0]
    assert (again.provider_id, again.start) != (first.provider_id, first.start)
    for s in sched.find("laser", 45, NOW, count=5):
        assert "laser" in sched.provider(s.provider_id).families


async def test_two_calls_share_the_schedule() -> None:
    store = InMemoryBookingStore()
    booked = []
    for name in ("Ann Lee", "Bo Kim"):
        c = ClinicConversation(PACK, now=NOW, scheduler=Scheduler(PACK.clinic, store),
                               caller=CallerContext(known_patient=True, name=name, phone="5550001111",
                                                    procedure="botox", treated_on=date(2025, 2, 26)))
        c.start()
        for turn in ("touch up please", "yes", "yes"):
            await c.caller_said(turn)
        booked.append(c.ended("completed").booking)
    assert booked[0] and booked[1] and booked[0]["start"] != booked[1]["start"]


def test_slots_offered_on_one_call_are_held_from_the_others() -> None:
    sched = Scheduler(PACK.clinic, InMemoryBookingStore())
    offered = sched.find(None, 30, NOW, count=2, holder="a")
    sched.hold("a", offered, NOW)
    assert sched.find(None, 30, NOW, count=2, holder="a") == offered  # the holder still sees its own
    other = sched.find(None, 30, NOW, count=2, holder="b")
    assert not {(s.provider_id, s.start) for s in other} & {(s.provider_id, s.start) for s in offered}
    sched.hold("c", offered, NOW - HOLD)  # a call that began HOLD ago: its hold has lapsed
    assert sched.find(None, 30, NOW, count=2, holder="b") == other
    sched.hold("b", other, NOW)  # a new hold drops the lapsed one
    assert "c" not in sched._holds and set(sched._holds) == {"a", "b"}
    sched.release("a")
    assert sched.find(None, 30, NOW, count=2, holder="b") == offered


def _touch_up_caller(sched: Scheduler, name: str) -> ClinicConversation:
    return ClinicConversation(PACK, now=NOW, scheduler=sched,
                              caller=CallerContext(known_patient=True, name=name, phone="5550001111",
                                                   procedure="botox", treated_on=date(2025, 2, 26)))


async def test_two_callers_at_once_are_offered_different_times_and_both_book() -> None:
    sched = Scheduler(PACK.clinic, InMemoryBookingStore())
    a, b = _touch_up_caller(sched, "Ann Lee"), _touch_up_caller(sched, "Bo Kim")
    offers = []
    for c in (a, b):
        c.start()
        await c.caller_said("touch up please")
        offers.append((await c.caller_said("yes")).says[-1])
    assert all(o.provenance == PACK.prov("dialogue.offer_slot") for o in offers)
    assert offers[0].text != offers[1].text, offers  # not the same time to both
    for c in (b, a):
        assert (await c.caller_said("yes")).says[0].provenance == PACK.prov("dialogue.booked")
    booked = [c.ended("completed").booking for c in (a, b)]
    assert booked[0] and booked[1] and booked[0]["start"] != booked[1]["start"]


async def test_a_time_booked_elsewhere_while_offered_is_said_to_be_taken_and_the_next_offered() -> None:
    sched = Scheduler(PACK.clinic, InMemoryBookingStore())
    c = _touch_up_caller(sched, "Ann Lee")
    c.start()
    await c.caller_said("touch up please")
    await c.caller_said("yes")
    first, second = c.s.slots_offered[:2]
    sched.book(first, "consult", None, "Staff booking", None)  # the front desk, a moment before the yes
    r = await c.caller_said("yes, that works")
    assert [s.provenance for s in r.says] == [PACK.prov("dialogue.slot_taken")]
    assert "just taken" in r.says[0].text and "No problem" not in r.says[0].text
    assert (await c.caller_said("yes")).says[0].provenance == PACK.prov("dialogue.booked")
    assert c.ended("completed").booking["start"] == second.start.isoformat(timespec="minutes")


def test_rebooking_windows() -> None:
    botox, filler, lhr = (PACK.workflows[k] for k in ("neuromodulator-botox", "dermal-filler-ha", "laser-diode-hair"))
    w = follow_up(botox, date(2025, 3, 1), date(2025, 3, 5))
    assert (w.kind, w.earliest, w.latest) == ("touch-up", date(2025, 3, 15), date(2025, 3, 22))
    assert follow_up(botox, date(2025, 1, 1), date(2025, 3, 5)).kind == "review"
    assert follow_up(lhr, date(2025, 1, 1), date(2025, 1, 10), session=2).earliest == date(2025, 2, 12)
    assert follow_up(lhr, date(2025, 1, 1), date(2025, 1, 10), session=6).kind == "review"
    assert recall_from(botox, date(2025, 1, 1), date(2025, 1, 10)) == date(2025, 4, 1)
    assert recall_from(filler, date(2025, 1, 1), date(2025, 1, 10)) == date(2025, 6, 30)


def test_guard_rejects_generated_clinical_text() -> None:
    approved = {PACK.workflows["neuromodulator-botox"].immediate_instructions[0].text}
    assert guard.allowed("Lovely to hear from you!", approved)
    assert not guard.allowed("That swelling is normal and will go away.", approved)
    assert not guard.allowed("You should take ibuprofen.", approved)
    assert guard.allowed(next(iter(approved)), approved)
    assert guard.clinical_terms("My lips are swollen and bruising") == ["swollen", "bruising"]  # "bruis*"


def test_the_guards_words_are_the_lexicons(tmp_path: Path) -> None:
    """The clinical words live in the lexicon: a file without them is refused with its line and fix."""
    from appliance.clinic.lexicon import LEXICON_DIR, LexiconError, load_file, load_lexicon

    assert "swell*" in load_lexicon("en").guard.clinical
    bad = tmp_path / "en.yaml"
    text = (LEXICON_DIR / "en.yaml").read_text()
    start = text.index("  clinical: [")
    end = text.index("\n\n", start)
    bad.write_text(text[:start] + "  clinical: []" + text[end:])
    with pytest.raises(LexiconError) as e:
        load_file(bad)
    line = text[:start].count("\n") + 1
    assert any(p.startswith(f"en.yaml:{line}: guard.clinical: ") for p in e.value.problems), e.value.problems


async def test_generated_text_without_provenance_is_dropped() -> None:
    from appliance.conversation import Say

    c = conv()
    reply = c.reply([Say("Bruising like that is totally normal."), Say("Happy to help!")])
    assert [s.text for s in reply.says] == ["Happy to help!"]


async def test_caller_before_greeting_is_handled() -> None:
    c = conv()
    r = await c.caller_said("hi, I'm a new patient")
    assert r.says and all(s.provenance for s in r.says)


def test_random_callers_never_crash_and_every_line_is_approved() -> None:
    import asyncio

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    words = st.sampled_from(["yes", "no", "botox", "filler", "lips", "new", "returning", "touch up", "white", "not",
                             "vision", "rather not say", "twenty", "ago", "?", "book", "0", "1", "bye", "pain", "é\x00"])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.lists(words, max_size=6).map(" ".join), max_size=12), st.booleans())
    def run(turns: list[str], known: bool) -> None:
        c = conv(known_patient=known, procedure="ha-filler" if known else None,
                 treated_on=date(2025, 3, 1) if known else None, phone="5550001111")

        async def play() -> None:
            c.start()
            for t in turns:
                if len(t) == 1 and t.isdigit():
                    await c.caller_pressed(t)
                else:
                    await c.caller_said(t)

        asyncio.run(play())
        out = c.ended("caller-hung-up")
        assert all(t.provenance and t.provenance.startswith(PACK.ref) for t in out.turns if t.speaker == "agent")
        if out.escalations and any(e.category != "clinical-question" for e in out.escalations):
            first = min(e.turn for e in out.escalations if e.category != "clinical-question")
            assert not any(t.provenance.endswith("dialogue.booked") for t in out.turns[first:] if t.provenance)

    run()


async def test_failed_transfer_tells_the_caller_and_escalates_again() -> None:
    from datetime import datetime

    from appliance.clinic.context import CallerContext
    from appliance.clinic.pack import DEMO_PACK, load_pack
    from appliance.clinic.service import new_conversation
    from appliance.config import Settings

    pack = load_pack(DEMO_PACK)
    conv = new_conversation(pack, Settings(), caller=CallerContext(phone="5550106666"), scheduler=None,
                            now=datetime(2025, 3, 12, 10, 0))
    conv.start()
    first = await conv.caller_said("It's probably nothing but my vision is blurry since the filler yesterday")
    assert [a.kind for a in first.actions] == ["escalate", "transfer"]
    reply = conv.transfer_failed("201", "rejected (404)")
    [say] = reply.says
    assert say.provenance.endswith("#dialogue.transfer_failed") and not say.interruptible
    assert "call you back" in say.text and "911" in say.text
    outcome = conv.ended("remote-bye")
    assert [(e.severity, e.category) for e in outcome.escalations] == [
        ("emergency", "vision-change"), ("emergency", "transfer-failed")]
    assert outcome.outcome == "escalated"


async def test_a_question_naming_its_treatment_gets_the_approved_answer_at_any_step() -> None:
    c = conv()
    c.start()
    reply = await c.caller_said("I'm a returning patient, I had laser hair removal last week. Can I shave between sessions?")
    assert reply.says[0].provenance == PACK.prov("lhr-t-shaving")
    # The caller said they are returning: the next prompt does not ask again.
    assert reply.says[-1].provenance == PACK.prov("dialogue.ask_returning_reason")
    out = c.ended("caller-hung-up")
    assert out.escalations == [] and out.slots["topics_answered"] == ["lhr-t-shaving"]


async def test_a_question_on_no_named_treatment_is_noted_for_the_clinician_not_guessed() -> None:
    c = conv(known_patient=True)
    c.start()
    reply = await c.caller_said("Can I shave between laser sessions?")  # "laser": no one treatment
    assert reply.says[0].provenance == PACK.prov("dialogue.clinical_question_noted")
    assert [(e.severity, e.category) for e in c.ended("caller-hung-up").escalations] == [("routine", "clinical-question")]


async def test_treatment_name_misheard_in_a_short_answer_is_read_as_the_treatment() -> None:
    c = conv()
    c.start()
    await c.caller_said("Hi, I'm a new patient.")
    assert c.s.pending is not None and c.s.pending.slot == "treatment"
    r = await c.caller_said("Box, please.")  # Whisper's "Botox, please." on telephone audio
    assert c.out.slots["treatment"] == "botox", r.says
    assert r.says[0].provenance == PACK.prov("q-areas")
    other = conv()
    other.start()
    await other.caller_said("Hi, I'm a new patient.")
    await other.caller_said("I want to know what is in the box you sent me")  # a long turn: its own words
    assert "treatment" not in other.out.slots


async def test_a_question_is_asked_at_most_twice_then_another_strategy() -> None:
    c = conv()
    c.start()
    await c.caller_said("Hi, I'm a new patient.")
    first = await c.caller_said("Bob's please.")  # not a treatment: the one re-ask
    assert [s.provenance for s in first.says] == [PACK.prov("dialogue.reprompt"), PACK.prov("q-treatment")]
    second = await c.caller_said("My forehead lines.")  # an area, still no treatment
    provs = [s.provenance for s in second.says]
    assert PACK.prov("q-treatment") not in provs, provs  # not a third time
    assert c.out.slots["treatment"] == "unknown" and c.s.booking_kind == "consult"
    assert c.out.slots["areas"] == ["forehead"]  # what was said is kept


async def test_a_turn_that_answers_something_else_gets_one_plain_re_ask() -> None:
    c = conv()
    c.start()
    await c.caller_said("Hi, I'm a new patient.")
    first = await c.caller_said("I'm not pregnant or anything.")  # a screen answer, not the treatment
    assert [s.provenance for s in first.says] == [PACK.prov("q-treatment")]  # no "sorry"
    second = await c.caller_said("Hmm, not sure yet.")
    assert PACK.prov("q-treatment") not in [s.provenance for s in second.says]
    assert c.out.slots["treatment"] in ("unknown", "declined")
