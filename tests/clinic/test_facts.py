"""Clinic facts, without a call: which facts a turn asks for (the lexicon's cues, hedges, telephone
mishearings), what is left of the turn for the step, the computed hours, and the pack checks."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.clinic.facts import facts_asked
from appliance.clinic.facts_words import rewrite
from appliance.clinic.hours import hours_answer
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
from appliance.clinic.understand import TurnContext, read_turn
from tests.clinic.packcheck import line_of, unapproved_copy
from tests.clinic.packcheck import problems as pack_problems

PACK = load_pack(DEMO_PACK)
TODAY = date(2025, 3, 12)


def asked(text: str, state: str = "greeting") -> tuple[list[str], str | None]:
    got = facts_asked(PACK, text, state)
    return (list(got.ids), got.rest) if got else ([], None)


@pytest.mark.parametrize(("said", "fact"), [
    ("what time do you close", "fact-hours"),
    ("are you open saturday", "fact-hours"),
    ("Are you guys open on Saturdays?", "fact-hours"),
    ("um hi, so like, what are your hours", "fact-hours"),
    ("I was wondering what your hours are", "fact-hours"),
    ("what are your ours today", "fact-hours"),  # "hours" as telephone ASR writes it
    ("is the clinic open on Christmas?", "fact-hours"),
    ("how late are you open on Thursdays", "fact-hours"),
    ("where do I park", "fact-parking"),
    ("is there parking?", "fact-parking"),
    ("do you validate my ticket", "fact-parking"),  # the clinic's own phrase
    ("parking?", "fact-parking"),
    ("where are you located", "fact-address"),
    ("where are you located it", "fact-address"),
    ("What is the address?", "fact-address"),
    ("are you close to the freeway", "fact-address"),
    ("how do I get there from the highway", "fact-directions"),
    ("do you take care credit", "fact-payment"),
    ("do you take carry credit", "fact-payment"),  # "CareCredit" as telephone ASR writes it
    ("can I pay with Apple Pay", "fact-payment"),
    ("do you take insurance", "fact-payment"),
    ("what's your cancellation policy", "fact-cancellation"),
    ("what's your cancelation policy", "fact-cancellation"),
    ("is there a fee if I cancel", "fact-cancellation"),
    ("how much notice do I need to reschedule", "fact-cancellation"),
    ("what happens at a consultation", "fact-consultation"),
    ("what happens at a consolation", "fact-consultation"),
    ("how long is the consultation", "fact-consultation"),
    ("what does the consult include?", "fact-consultation"),
])
def test_fact_questions_as_callers_ask_them(said: str, fact: str) -> None:
    ids, rest = asked(said)
    assert ids == [fact], said
    assert rest == "", said


@pytest.mark.parametrize(("said", "state"), [
    ("Saturday", "offer_slot"),  # the answer to the question just asked: a day, not an hours question
    ("is Saturday open?", "offer_slot"),  # a slot's availability, not the clinic's hours
    ("Do you have any openings Saturday?", "greeting"),
    ("Can I book Botox, maybe Saturday morning?", "greeting"),
    ("How much is lip filler?", "greeting"),  # a price quote (an existing intent)
    ("how much is the deposit", "ask_name"),
    ("what does a consultation cost", "greeting"),
    ("I need to cancel, can you just have someone call me back", "greeting"),  # a request, not the policy
    ("Can I speak to someone about parking", "greeting"),
    ("I want a refund if I cancel", "greeting"),  # a complaint
    ("how many hours after botox can I lie down", "greeting"),  # aftercare, not opening hours
    ("should I keep my eyes closed after the peel, can you tell me", "greeting"),
    ("can I get a consultation for filler?", "greeting"),
    ("anytime you're open on Saturday works", "offer_slot"),  # an answer, not a question
    ("I can get there by five", "offer_slot"),
    ("yes", "intake"),
    ("this is Dana Park", "greeting"),  # a name, not a parking question
    ("Hi, my name is Jenny Cash", "greeting"),
])
def test_not_fact_questions(said: str, state: str) -> None:
    assert asked(said, state) == ([], None), said


@pytest.mark.parametrize(("said", "state", "facts", "rest"), [
    ("yes, and do you take care credit?", "offer_slot", ["fact-payment"], "yes"),
    ("no, and where are you located?", "intake", ["fact-address"], "no"),
    ("Saturday works, are you open then?", "offer_slot", ["fact-hours"], "Saturday works"),
    ("Hi, are you open on Saturdays? I'd like to book Botox", "greeting", ["fact-hours"], "Hi I'd like to book Botox"),
    ("Where do I park and how much is Botox", "greeting", ["fact-parking"], "and how much is Botox"),
    # "it" is the consultation of the clause before; the booking request is the step's
    ("Can I book a consultation and what does it include?", "greeting", ["fact-consultation"],
     "Can I book a consultation"),
    ("where are you located and where do I park? thanks", "greeting", ["fact-address", "fact-parking"], ""),
    ("are you open monday and tuesday", "greeting", ["fact-hours"], ""),  # one clause: no rest
])
def test_a_turn_with_a_fact_and_something_else(said: str, state: str, facts: list[str], rest: str) -> None:
    assert asked(said, state) == (facts, rest)


def test_a_symptom_is_never_read_for_facts() -> None:
    """"Can I park my car ... my lip is swollen": the concern (and the red-flag check) comes first."""
    r = read_turn(PACK, "can I park my car there? my lip is swollen", TurnContext(today=TODAY))
    assert r.facts == () and r.rest is None and r.slots.get("symptoms")


def test_the_reading_carries_the_facts_and_the_rest_s_intent() -> None:
    only = read_turn(PACK, "what's your address?", TurnContext(today=TODAY))
    assert (only.intent, only.facts, only.rest) == ("fact", ("fact-address",), "")
    both = read_turn(PACK, "where do I park, and how much is Botox for my forehead?", TurnContext(today=TODAY))
    assert both.intent == "price" and both.facts == ("fact-parking",)
    assert both.slots["treatment"] == "botox" and both.slots["areas"] == ["forehead"]


def test_the_lexicon_rewrite_undoes_mishearings_and_names_synonym_sets() -> None:
    assert rewrite("Do you take Kara credit?") == "do you take care credit?"
    assert rewrite("is the parking garage close to you") == "is the park near you"


# ---- the hours: computed from clinic.yaml, never a second copy ----

def hours(today: date = TODAY, said: str = "") -> str:
    fact = PACK.facts.by_id("fact-hours")
    return hours_answer(fact, PACK.clinic, PACK.clinic.name, today, said)


def test_hours_answer_is_the_pack_wording_over_clinic_hours() -> None:
    assert hours().startswith("We're open Monday to Wednesday, 9 AM to 6 PM; Thursday, 9 AM to 7 PM; Friday, "
                              "9 AM to 5 PM; Saturday, 10 AM to 2 PM. We're closed on Sunday.")
    # a holiday within the wording's 60 days is named; Christmas is not, until a caller names it
    assert "our staff training day, Friday, April 18" in hours() and "Christmas" not in hours()
    named = hours(said="are you open on Christmas or New Year's?")
    assert "Christmas Day, Thursday, December 25" in named and "New Year's Day, Thursday, January 1" in named
    assert named.count("Christmas") == 1  # the next one only
    assert "April 18" not in hours(date(2025, 4, 19))  # past holidays are not said


def test_hours_follow_clinic_yaml(tmp_path: Path) -> None:
    root = tmp_path / "pack"
    shutil.copytree(DEMO_PACK, root)
    clinic = root / "clinic.yaml"
    clinic.write_text(clinic.read_text().replace('  sat: "10:00-14:00"\n', "  sat: closed\n")
                      .replace('  thu: "09:00-19:00"', '  thu: "09:00-18:00"'))
    pack = load_pack(root)
    text = hours_answer(pack.facts.by_id("fact-hours"), pack.clinic, pack.clinic.name, TODAY)
    assert text.startswith("We're open Monday to Thursday, 9 AM to 6 PM; Friday, 9 AM to 5 PM. "
                           "We're closed on Saturday, Sunday.")


def test_the_schedule_offers_no_slot_on_a_holiday() -> None:
    slots = Scheduler(PACK.clinic, InMemoryBookingStore()).find(None, 30, datetime(2025, 4, 17, 17, 0), count=3)
    assert slots and all(s.start.date() != date(2025, 4, 18) for s in slots)


# ---- pack checks: file, line and fix ----

@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return unapproved_copy(tmp_path)


def test_a_fact_without_its_answer_names_file_and_line(pack_dir: Path) -> None:
    facts = pack_dir / "facts.yaml"
    text = facts.read_text()
    start = text.index("  - id: fact-parking")
    end = text.index("    answer:", start)
    facts.write_text(text[:end] + text[text.index("\n", end) + 1:])
    line = line_of(facts, "id: fact-parking")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"facts.yaml:{line}: facts.3.answer: this field is required") for p in problems), problems


def test_a_topic_the_lexicon_does_not_know_needs_phrases(pack_dir: Path) -> None:
    facts = pack_dir / "facts.yaml"
    facts.write_text(facts.read_text() + "  - id: fact-gift-cards\n    topic: gift-cards\n"
                                         "    answer: We sell gift cards at the front desk.\n")
    line = line_of(facts, "topic: gift-cards")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"facts.yaml:{line}: facts.7.topic: the lexicon has no phrases for 'gift-cards'")
               for p in problems), problems
    facts.write_text(facts.read_text() + "    phrases: [gift card, gift cards, gift certificate]\n")
    pack = load_pack(pack_dir)
    assert facts_asked(pack, "do you sell gift cards?").ids == ("fact-gift-cards",)


def test_duplicate_topics_and_ids_are_refused(pack_dir: Path) -> None:
    facts = pack_dir / "facts.yaml"
    facts.write_text(facts.read_text().replace("id: fact-directions\n    topic: directions",
                                               "id: fact-parking\n    topic: address"))
    lines = [i for i, line in enumerate(facts.read_text().splitlines(), 1) if "id: fact-parking" in line]
    problems = pack_problems(pack_dir)
    assert f"facts.yaml:{lines[0] + 1}: facts.2.topic: 'address' is already answered by facts.1; expected one " \
           "fact per topic" in problems, problems
    assert f"facts.yaml:{lines[1]}: id 'fact-parking' is already used at facts.yaml:{lines[0]}; expected ids " \
           "unique in the pack" in problems, problems


def test_an_unknown_placeholder_names_file_and_line(pack_dir: Path) -> None:
    facts = pack_dir / "facts.yaml"
    facts.write_text(facts.read_text().replace('span: "{days}, {from} to {to}"', 'span: "{days}, {start} to {to}"')
                     .replace("answer: There's free parking", "answer: Call {front_desk}. There's free parking"))
    problems = pack_problems(pack_dir)
    line = line_of(facts, "span:")
    assert any(p.startswith(f"facts.yaml:{line}: facts.0.hours.span: unknown placeholder {{start}}")
               for p in problems), problems
    line = line_of(facts, "id: fact-parking")
    assert any(p.startswith(f"facts.yaml:{line}: facts.3: unknown placeholder {{front_desk}}")
               for p in problems), problems


def test_the_hours_topic_needs_its_wording(pack_dir: Path) -> None:
    facts = pack_dir / "facts.yaml"
    text = facts.read_text()
    facts.write_text(text[:text.index("    hours:\n")] + text[text.index("  - id: fact-address"):])
    line = line_of(facts, "id: fact-hours")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"facts.yaml:{line}: facts.0: the hours topic needs `hours`") for p in problems), problems


def test_a_bad_holiday_names_clinic_yaml_and_line(pack_dir: Path) -> None:
    clinic = pack_dir / "clinic.yaml"
    clinic.write_text(clinic.read_text().replace("{date: 2025-05-26, name: Memorial Day}",
                                                 "{date: 2025-05-32, name: Memorial Day}"))
    line = line_of(clinic, "2025-05-32")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"clinic.yaml:{line}: cannot read value: not a valid date") for p in problems), problems


def test_a_pack_without_facts_is_valid_and_answers_none(pack_dir: Path) -> None:
    (pack_dir / "facts.yaml").unlink()
    pack = load_pack(pack_dir)
    assert pack.facts is None and facts_asked(pack, "where do I park?") is None


def test_a_bad_lexicon_facts_section_names_file_line_and_fix(tmp_path: Path) -> None:
    from appliance.clinic.facts_words import check_section
    from appliance.clinic.lexicon import LEXICON_DIR, LexiconError

    bad = tmp_path / "en.yaml"
    text = (LEXICON_DIR / "en.yaml").read_text()
    bad.write_text(text.replace("  ask_starts: [what,", "  ask_start: [what,", 1))
    with pytest.raises(LexiconError) as e:
        check_section(bad)
    line = line_of(bad, "  ask_start: [what,")
    assert f"en.yaml:{line}: facts.ask_start: Extra inputs are not permitted" in e.value.problems, e.value.problems
    assert "correct en.yaml at the line shown" in str(e.value)
