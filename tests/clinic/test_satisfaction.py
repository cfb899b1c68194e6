"""Satisfaction at the end of a treatment's last check-in (appliance/clinic/satisfaction.py): 1 to 5
by voice or keypad, re-asked once, never after a concern, a complaint or an escalation; "I left a
review" on a follow-up call; the pack's lines and the review text validated with file and line.
Typed turns on the real outbound conversation, the clock passed in."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.satisfaction import review_done_said, scale_answer
from appliance.conversation import Reply
from tests.clinic.packcheck import line_of, unapproved_copy
from tests.clinic.packcheck import problems as pack_problems

PACK = load_pack(DEMO_PACK)
LINES = load_lines(PACK)
TREATED = date(2025, 3, 3)
LAST = max(ci.day for ci in PACK.workflows["neuromodulator-botox"].check_ins)  # 14


def ids(reply: Reply) -> list[str]:
    return [(s.provenance or "").split("#", 1)[1] for s in reply.says]


async def at_concern_question(day: int = LAST, earlier_concern: bool = False,
                              kind: str = "check-in") -> OutboundAftercareCall:
    contact = OutboundContext(kind=kind, day=day, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="neuromodulator-botox", treated_on=TREATED, earlier_concern=earlier_concern)
    call = OutboundAftercareCall(PACK, LINES, contact, now=datetime.combine(TREATED + timedelta(days=day),
                                                                             datetime.min.time()).replace(hour=10))
    call.start()
    for said in ("Dana Lee", "April 12 1985"):
        await call.caller_said(said)
    while call.e.s.state == "checkin_question":  # the day's questions before the concern question
        await call.caller_said("the forehead")
    assert call.e.s.state == "concern_check"
    return call


@pytest.mark.parametrize(("said", "score"), [("four", 4), ("a five", 5), ("4 out of 5", 4), ("5", 5),
                                             ("I'd say three out of five", 3), ("5/5", 5), ("one", 1)])
async def test_satisfaction_by_voice_is_kept_then_the_call_goes_on(said: str, score: int) -> None:
    call = await at_concern_question()
    r = await call.caller_said("no")
    assert ids(r) == ["outbound.no_concern", "outbound.satisfaction.ask"]
    r = await call.caller_said(said)
    assert ids(r)[0] == "outbound.satisfaction.thanks" and ids(r)[-1] == "outbound.offer_booking"
    assert call.ended("completed").slots["satisfaction"] == score


async def test_satisfaction_by_keypad() -> None:
    call = await at_concern_question()
    await call.caller_said("no")
    r = await call.caller_pressed("4")
    assert ids(r)[0] == "outbound.satisfaction.thanks" and "outbound.offer_booking" in ids(r)
    out = call.ended("completed")
    assert out.slots["satisfaction"] == 4 and "[pressed 4]" in [t.text for t in out.turns]


@pytest.mark.parametrize("unclear", ["pretty good", "four or five", "ten", "I don't know"])
async def test_an_answer_that_is_not_1_to_5_is_asked_once_more_then_left(unclear: str) -> None:
    call = await at_concern_question()
    await call.caller_said("no")
    r = await call.caller_said(unclear)
    assert ids(r) == ["outbound.satisfaction.reask"]
    r = await call.caller_said("really good")
    assert ids(r)[0] == "outbound.satisfaction.skipped" and ids(r)[-1] == "outbound.offer_booking"
    assert "satisfaction" not in call.ended("completed").slots


async def test_a_reask_answered_with_a_number_is_kept() -> None:
    call = await at_concern_question()
    await call.caller_said("no")
    assert ids(await call.caller_said("pretty good")) == ["outbound.satisfaction.reask"]
    assert ids(await call.caller_pressed("9"))[0] == "outbound.satisfaction.skipped"  # not on the scale: left
    assert "satisfaction" not in call.ended("completed").slots


async def test_not_asked_after_a_concern_on_the_call() -> None:
    call = await at_concern_question()
    r = await call.caller_said("yes, I have a small bump on my forehead")
    assert "outbound.satisfaction.ask" not in ids(r)
    out = call.ended("completed")
    assert out.escalations and "satisfaction_asked" not in out.slots


async def test_not_asked_after_a_red_flag_in_a_check_in_answer() -> None:
    contact = OutboundContext(kind="check-in", day=LAST, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="neuromodulator-botox", treated_on=TREATED)
    call = OutboundAftercareCall(PACK, LINES, contact, now=datetime(2025, 3, 17, 10))
    call.start()
    for said in ("Dana Lee", "April 12 1985", "my eyelid is drooping since yesterday", "no"):
        r = await call.caller_said(said)
        assert "outbound.satisfaction.ask" not in ids(r)
    assert call.ended("completed").escalations


async def test_not_asked_after_a_concern_or_escalation_earlier_in_the_follow_up() -> None:
    call = await at_concern_question(earlier_concern=True)
    r = await call.caller_said("no")
    assert ids(r)[0] == "outbound.no_concern" and "outbound.satisfaction.ask" not in ids(r)
    assert "outbound.offer_booking" in ids(r)


async def test_a_complaint_in_the_answer_takes_the_complaint_path() -> None:
    call = await at_concern_question()
    await call.caller_said("no")
    r = await call.caller_said("two, I'm not happy with the result")
    assert ids(r)[0] == "dialogue.complaint_noted" and "outbound.offer_booking" not in ids(r)
    out = call.ended("completed")
    assert out.slots["complaint"] and out.slots["satisfaction"] == 2
    assert [e.category for e in out.escalations] == ["result-complaint"]


async def test_only_the_last_check_in_asks() -> None:
    call = await at_concern_question(day=3)
    r = await call.caller_said("no")
    assert "outbound.satisfaction.ask" not in ids(r) and "outbound.offer_booking" in ids(r)


async def test_the_patient_says_they_left_the_review_on_a_later_call() -> None:
    call = await at_concern_question(day=14, kind="touch-up")
    r = await call.caller_said("no, and I already did the review by the way")
    assert ids(r)[0] == "outbound.satisfaction.review_thanks"
    out = call.ended("completed")
    assert out.slots["review_done"] is True
    assert out.turns[-len(r.says)].provenance == PACK.prov("outbound.satisfaction.review_thanks")  # in the transcript


async def test_the_review_said_at_anything_else_is_thanked_without_a_not_caught() -> None:
    call = await at_concern_question(day=14, kind="touch-up")
    await call.caller_said("no")
    r = await call.caller_said("no thanks")
    assert ids(r)[-1] == "dialogue.anything_else"
    r = await call.caller_said("I left a review")
    assert ids(r)[:2] == ["outbound.satisfaction.review_thanks", "dialogue.anything_else"], ids(r)
    assert "dialogue.reprompt" not in ids(r)
    out = call.ended("completed")
    assert out.slots["review_done"] is True
    said = [t.provenance for t in out.turns if t.speaker == "agent"]
    assert PACK.prov("dialogue.reprompt") not in said and PACK.prov("outbound.satisfaction.review_thanks") in said
    assert call.e.s.retries == 0  # understood: not counted as a miss
    r = await call.caller_said("no, that's all")
    assert "dialogue.reprompt" not in ids(r)


async def test_review_words_before_identity_or_denied_are_not_kept() -> None:
    contact = OutboundContext(kind="touch-up", day=14, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="neuromodulator-botox", treated_on=TREATED)
    call = OutboundAftercareCall(PACK, LINES, contact, now=datetime(2025, 3, 17, 10))
    call.start()
    await call.caller_said("I left a review, this is Dana Lee")  # not verified yet: whoever answered
    await call.caller_said("April 12 1985")
    assert call.verified
    await call.caller_said("I haven't left a review yet")
    assert "review_done" not in call.ended("completed").slots


def test_the_words() -> None:
    assert [scale_answer(x) for x in ("pretty good", "great", "four or five", "10 out of 10")] == [None] * 4
    assert review_done_said("I left a review") and review_done_said("I already did the review")
    assert not review_done_said("I didn't leave a review") and not review_done_said("I'd like to book my review")


def test_a_bad_satisfaction_line_names_the_file_the_line_and_the_fix(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    path = root / "outbound.yaml"
    path.write_text(path.read_text().replace("  thanks: Thank you, that helps us.",
                                             "  thanks: Thank you for rating your {treatment}."))
    (problem,) = pack_problems(root)
    assert problem.startswith(f"outbound.yaml:{line_of(path, '  thanks:')}: satisfaction.thanks:")
    assert "{treatment}" in problem and "expected {clinic} or {phone}" in problem


def test_a_review_request_without_an_https_link_names_the_file_and_the_line(tmp_path: Path) -> None:
    root = unapproved_copy(tmp_path)
    path = root / "messages.yaml"
    path.write_text(path.read_text().replace("  link: https://reviews.example.test/demo-clinic",
                                             "  link: reviews.example.test/demo-clinic"))
    (problem,) = pack_problems(root)
    assert problem.startswith(f"messages.yaml:{line_of(path, '  link: reviews')}: review_request.link:")


def test_a_bad_lexicon_followup_section_names_file_line_and_fix(tmp_path: Path) -> None:
    from appliance.clinic.lexicon import LEXICON_DIR, LexiconError
    from appliance.clinic.satisfaction import check_section

    bad = tmp_path / "en.yaml"
    text = (LEXICON_DIR / "en.yaml").read_text()
    start = text.index("  concern_same: [")
    end = text.index("  concern_better: [")
    bad.write_text(text[:start] + "  concern_same: []\n" + text[end:])
    with pytest.raises(LexiconError) as e:
        check_section(bad)
    line = line_of(bad, "  concern_same: []")
    assert any(p.startswith(f"en.yaml:{line}: followup.concern_same: ") for p in e.value.problems), e.value.problems
    assert "correct en.yaml at the line shown (see the comments of its followup section)" in str(e.value)
