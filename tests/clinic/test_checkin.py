"""Each check-in call carries out its purpose from the pack (appliance/clinic/checkin.py): its
lines and topic answers, then its questions one by one (answers kept in the outcome), then the
concern question; a red flag or a concern in any answer takes the engine's safety path at once.
Typed turns, the clock passed in."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from appliance.clinic.checkin import answer_of
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.conversation import Reply
from tests.clinic.packcheck import line_of, unapproved_copy
from tests.clinic.packcheck import problems as pack_problems

PACK = load_pack(DEMO_PACK)
LINES = load_lines(PACK)
TREATED = date(2025, 3, 3)  # a Monday


def ids(reply: Reply) -> list[str]:
    return [(s.provenance or "").split("#", 1)[1] for s in reply.says]


async def verified(workflow: str, day: int, kind: str = "check-in", written: str | None = None) -> tuple[
        OutboundAftercareCall, Reply]:
    contact = OutboundContext(kind=kind, day=day, name="Dana Lee", dob=date(1985, 4, 12), workflow=workflow,
                              treated_on=TREATED, written=written)
    now = datetime.combine(TREATED + timedelta(days=day), datetime.min.time()).replace(hour=10, minute=30)
    call = OutboundAftercareCall(PACK, LINES, contact, now=now)
    call.start()
    await call.caller_said("Dana Lee")
    return call, await call.caller_said("April 12 1985")


# ---- a later check-in per procedure family of the demo pack ----

LATER = [  # workflow, day, what the purpose says (provenance ids), the questions in order, the answers
    ("neuromodulator-botox", 14, ["bx-ci-day14-review"], ["bx-q-area", "bx-q-concern"],
     ["my forehead and the frown lines", "no"]),
    ("dermal-filler-ha", 7, ["fi-ci-day7-review"], ["fi-q-area", "fi-q-concern"], ["the lips", "no"]),
    ("laser-ipl-pigment", 10, ["ipl-t-sun"], ["ipl-q-concern"], ["no"]),
    ("peel-medium", 4, ["pe-t-products"], ["pe-q-concern"], ["no, none"]),
    ("microneedling-face", 28, ["mn-ci-day28-series", "mn-bv-retinoid"], ["mn-q-concern"], ["no"]),
]


@pytest.mark.parametrize(("workflow", "day", "purpose", "questions", "answers"), LATER,
                         ids=[x[0] for x in LATER])
async def test_a_later_check_in_says_its_purpose_then_asks_its_questions(
        workflow: str, day: int, purpose: list[str], questions: list[str], answers: list[str]) -> None:
    wf = PACK.workflows[workflow]
    assert {PACK.workflows[workflow].family for workflow, *_ in LATER} == {"neuromodulator", "filler", "laser", "peel",
                                                                           "microneedling"}
    call, r = await verified(workflow, day)
    said = ids(r)
    assert said[0] == "outbound.intro_check_in"
    assert said[1:] == [*purpose, questions[0]]  # the purpose's approved lines, then its first question
    assert not set(said) & {x.id for x in wf.immediate_instructions}  # not the day-1 instructions again
    topics = {t.id: t.answer for t in wf.topics}
    for s in r.says[1:-1]:
        assert s.provenance and s.provenance.startswith(PACK.ref + "#")  # approved, cited
        key = s.provenance.split("#")[1]
        if key in topics:
            assert s.text == topics[key]
    for q, answer, nxt in zip(questions, answers, [*questions[1:], None], strict=True):
        assert call.e.s.state in ("checkin_question", "concern_check") and call.asking is not None
        assert call.asking.id == q
        r = await call.caller_said(answer)
        if nxt is not None:
            assert ids(r) == [nxt]
    assert ids(r)[0] == "outbound.no_concern"
    if day == max(ci.day for ci in wf.check_ins):  # the last check-in: satisfaction first (test_satisfaction.py)
        assert ids(r)[1:] == ["outbound.satisfaction.ask"]
        r = await call.caller_said("five")
    assert "outbound.offer_booking" in ids(r)
    out = call.ended("completed")
    assert out.slots["check_in"] == f"{[ci.id for ci in wf.check_ins if ci.day == day][0]}"
    expected = {q: ("no" if a.startswith("no") else a) for q, a in zip(questions, answers, strict=True)}
    assert out.slots["checkin_answers"] == expected
    assert not out.escalations and out.slots["outbound"]["delivered"]


async def test_day_1_asks_whether_the_instructions_can_be_opened_after_reading_them() -> None:
    call, r = await verified("neuromodulator-botox", 1)
    assert ids(r) == ["outbound.intro_check_in", "outbound.instructions_intro", "bx-ii-upright", "bx-ii-rub",
                      "bx-ii-exercise", "bx-q-received"]
    r = await call.caller_pressed("2")  # no: a key press answers it as for the concern question
    assert ids(r) == ["bx-q-concern"]
    assert call.out.slots["checkin_answers"] == {"bx-q-received": "no"}


async def test_a_question_not_answered_by_yes_or_no_keeps_the_words() -> None:
    call, _ = await verified("laser-ipl-pigment", 2)
    r = await call.caller_said("I got the email but the link would not open")
    assert ids(r) == ["ipl-q-concern"]
    assert call.out.slots["checkin_answers"]["ipl-q-received"] == "I got the email but the link would not open"
    assert answer_of("yes") == "yes" and answer_of("not sure") == "unsure" and answer_of("No, none") == "no"
    assert answer_of("Everything is fine, no concerns.") == "Everything is fine, no concerns."


async def test_other_contacts_and_bare_check_in_days_are_as_before() -> None:
    call, r = await verified("neuromodulator-botox", 5)  # no check-in on day 5
    assert ids(r) == ["outbound.intro_check_in", "bx-q-concern"]
    call, r = await verified("neuromodulator-botox", 14, kind="touch-up")
    assert ids(r) == ["outbound.intro_touch_up", "bx-q-concern"]
    await call.caller_said("no")
    assert "checkin_answers" not in call.out.slots and "check_in" not in call.out.slots


async def test_written_instructions_are_checked_first_then_the_check_in_question() -> None:
    call, r = await verified("peel-medium", 1, written="sms")
    assert ids(r) == ["outbound.intro_check_in", "outbound.written_check"]
    r = await call.caller_said("yes")
    assert ids(r)[-1] == "pe-q-received" and "pe-ii-peeling" in ids(r)
    r = await call.caller_said("yes, the kit too")
    assert ids(r) == ["pe-q-concern"]


# ---- safety: red flags and concerns in answer to a check-in question ----

async def test_a_red_flag_in_answer_to_a_check_in_question_escalates_and_nothing_else_is_asked() -> None:
    call, _ = await verified("neuromodulator-botox", 14)
    r = await call.caller_said("the forehead, and my eyelid is drooping since yesterday")
    assert any(a.kind == "escalate" for a in r.actions)
    assert not any(i.startswith("bx-q-") or i.startswith("outbound.") for i in ids(r))  # no question, no offer
    assert call.e.s.state == "escalated"
    r = await call.caller_said("ok, and can I book my review?")
    assert "bx-q-concern" not in ids(r) and "outbound.offer_booking" not in ids(r)
    out = call.ended("completed")
    assert out.outcome == "escalated" and out.escalations[0].category == "eyelid-or-vision"
    assert out.slots["checkin_answers"] == {"bx-q-area": "the forehead, and my eyelid is drooping since yesterday"}
    assert out.slots["outbound"]["escalated"] and not out.slots["outbound"]["booked"]


async def test_a_red_flag_before_identity_is_confirmed_escalates_and_the_contact_is_not_called_again() -> None:
    contact = OutboundContext(kind="check-in", day=1, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="neuromodulator-botox", treated_on=TREATED)
    call = OutboundAftercareCall(PACK, LINES, contact, now=datetime(2025, 3, 4, 10, 30))
    call.start()
    await call.caller_said("Dana Lee")
    r = await call.caller_said("it's marked dirt 1980")  # the date of birth misheard: asked once more
    assert ids(r) == ["outbound.identity_retry"]
    r = await call.caller_said("my eyelid is drooping since yesterday")
    assert any(a.kind == "escalate" for a in r.actions)
    out = call.ended("caller-hung-up")
    assert out.outcome == "escalated" and out.escalations[0].category == "eyelid-or-vision"
    told = out.slots["outbound"]
    assert told["disposition"] == "escalated" and told["escalated"] and not told["reached"]  # staff own it now


async def test_an_emergency_in_answer_to_the_day_1_question_is_protected_and_asks_nothing() -> None:
    call, _ = await verified("dermal-filler-ha", 1)
    r = await call.caller_said("yes I got them, but my lip has turned white")
    assert call.out.escalations[0].severity == "emergency"
    assert ids(r) == ["dialogue.escalate_emergency"] and r.says[0].interruptible is False  # nothing else asked
    assert {a.kind for a in r.actions} >= {"transfer", "escalate"}
    assert call.out.slots["checkin_answers"] == {"fi-q-received": "yes"}


async def test_a_concern_without_a_red_flag_goes_to_the_clinician_at_once() -> None:
    call, _ = await verified("microneedling-face", 1)
    r = await call.caller_said("yes, but I'm worried about how it's healing")
    assert "mn-q-concern" not in ids(r) and "outbound.offer_booking" not in ids(r)
    out = call.ended("completed")
    assert out.outcome == "concern-noted" and out.escalations[0].category == "patient-concern"
    assert out.slots["checkin_answers"] == {"mn-q-received": "yes"}


async def test_a_negated_concern_word_is_not_a_concern() -> None:
    call, _ = await verified("laser-ipl-pigment", 2)
    r = await call.caller_said("yes, no problem at all")
    assert ids(r) == ["ipl-q-concern"] and not call.out.escalations


# ---- the pack ----

def test_every_question_of_every_demo_workflow_is_asked_on_some_check_in() -> None:
    for wf in PACK.workflows.values():
        asked = {q for ci in wf.check_ins for q in ci.questions}
        assert asked == {q.id for q in wf.questions}, wf.id
        assert any(ci.lines or ci.topics or ci.questions for ci in wf.check_ins if ci.day > 1) or len(
            wf.check_ins) == 1, wf.id


def test_a_check_in_naming_an_unknown_question_names_file_line_and_the_choices(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    wf = root / "workflows" / "peel-medium.yaml"
    wf.write_text(wf.read_text().replace("questions: [pe-q-concern]", "questions: [pe-q-sunburn]")
                  .replace("topics: [pe-t-products]", "topics: [pe-t-instructions]"))
    problems = pack_problems(root)
    line = line_of(wf, "questions: [pe-q-sunburn]")
    assert (f"workflows/peel-medium.yaml:{line}: check_ins.1.questions.0: unknown question 'pe-q-sunburn'; "
            "expected one of this workflow's questions: pe-q-concern, pe-q-received") in problems, problems
    line = line_of(wf, "topics: [pe-t-instructions]")
    assert any(p.startswith(f"workflows/peel-medium.yaml:{line}: check_ins.1.topics.0: topic 'pe-t-instructions' "
                            "reads the instructions again") for p in problems), problems


def test_a_check_in_line_must_name_an_instruction_or_be_a_line(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    wf = root / "workflows" / "microneedling-face.yaml"
    text = wf.read_text()
    wf.write_text(text.replace("      - mn-bv-retinoid\n", "      - mn-ii-nothing\n"))
    line = line_of(wf, "- mn-ii-nothing")
    assert any(p.startswith(f"workflows/microneedling-face.yaml:{line}: check_ins.1.lines.1: unknown line "
                            "'mn-ii-nothing'; expected the id of one of this workflow's") and "mn-bv-retinoid" in p
               for p in pack_problems(root))
    wf.write_text(text.replace("      - mn-bv-retinoid\n", "      - {id: mn-ci-x}\n"))  # an own line needs its text
    line = line_of(wf, "- {id: mn-ci-x}")
    assert f"workflows/microneedling-face.yaml:{line}: check_ins.1.lines.1.Line.text: this field is required" in \
        pack_problems(root)


def test_check_in_ids_stay_unique_and_old_check_ins_stay_valid(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    wf = root / "workflows" / "microneedling-face.yaml"
    text = wf.read_text().replace("id: mn-ci-day28-series", "id: mn-ii-products")
    wf.write_text(text)
    assert any("id 'mn-ii-products' is already used" in p for p in pack_problems(root))
    # a pack from before these fields: check-ins with day and purpose only
    lines = text.split("check_ins:\n", 1)
    rest = lines[1].split("questions:\n", 1)[1]
    wf.write_text(lines[0] + "check_ins:\n  - {id: mn-ci-day1, day: 1, purpose: ask about any concern}\n"
                  "questions:\n" + rest)
    assert load_pack(root).workflows["microneedling-face"].check_ins[0].questions == []


async def test_an_instruction_line_the_first_check_in_lists_is_said_once(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    wf = root / "workflows" / "laser-diode-hair.yaml"
    wf.write_text(wf.read_text().replace("    questions: [lhr-q-concern]\n",
                                         "    lines: [lhr-ii-sun]\n    questions: [lhr-q-concern]\n"))
    pack = load_pack(root)
    contact = OutboundContext(kind="check-in", day=2, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="laser-diode-hair", treated_on=TREATED)
    call = OutboundAftercareCall(pack, load_lines(pack, approved=False), contact, now=datetime(2025, 3, 5, 10, 30))
    call.start()
    await call.caller_said("Dana Lee")
    r = await call.caller_said("April 12 1985")
    assert ids(r) == ["outbound.intro_check_in", "lhr-ii-sun", "outbound.instructions_intro", "lhr-ii-heat",
                      "lhr-ii-waxing", "lhr-q-concern"]
