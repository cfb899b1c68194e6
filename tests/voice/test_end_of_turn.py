"""The end of turn adapts to what was asked and what was heard: pure decisions on a virtual clock."""

from __future__ import annotations

import pytest

from appliance.clinic.expect import expecting
from appliance.config import VoiceSettings
from appliance.voice.policy import EndOfTurn, Endpointer, end_of_turn

W = 0.032
RULE = end_of_turn(VoiceSettings(fast_end_ms=250))
assert RULE is not None


def ends_after(ep: Endpointer, voiced_s: float, early: str | None = None, early_at: float = 0.3) -> float | None:
    """Speech for `voiced_s`, then silence; the early transcript (if any) arrives `early_at` s
    into the pause. Returns the pause length at which the turn ended."""
    t = 0.0
    while t < voiced_s:
        ep.speech(t, W)
        t += W
    speech_end = t
    while t < speech_end + 5.0:
        if early is not None and t - speech_end >= early_at:
            ep.heard_early(speech_end, early)
        d = ep.silence(t, W, speech_end)
        if d is not None and d.kind == "end-of-turn":
            return round(t + W - speech_end, 3)
        t += W
    return None


def test_a_short_yes_ends_fast_and_a_long_answer_to_a_yes_no_question_does_not() -> None:
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="yes-no"), 0.4) <= 0.25 + W
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="name"), 0.9) <= 0.25 + W
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="yes-no"), 2.5) >= 0.65


def test_numbers_and_dates_get_the_longer_pause_they_are_said_with() -> None:
    for expect in ("digits", "date"):
        assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect=expect), 1.0) >= 0.9


def test_a_phone_number_said_in_groups_waits_until_it_has_all_its_digits() -> None:
    for heard in ("Five five five.", "555", "Five five five, oh one oh five.", "555-0105"):
        assert RULE.short_number(heard), heard
        assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="digits"), 1.5, early=heard) >= 1.6, heard
    for whole in ("Five five five, oh one oh five, two two three three.", "(555) 010-5223", "1 555 010 5223"):
        assert not RULE.short_number(whole), whole
        assert 0.9 <= ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="digits"), 3.0, early=whole) < 1.0
    assert RULE.digits("oh one oh five") == 4 and RULE.digits("I don't know it") == 0
    # only where a number was asked for, and only once digits are heard
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE), 1.5, early="Five five five.") < 0.65 + 2 * W
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="digits"), 1.5, early="Let me check.") < 1.0
    off = end_of_turn(VoiceSettings(phone_digits=0))
    assert off is not None and not off.short_number("Five five five.")


def test_an_early_transcript_ending_on_a_hold_word_waits_longer() -> None:
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE), 1.5, early="I would like to book a") >= 1.2
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE), 1.5, early="um so") >= 1.2
    # a finished sentence: the silence, or (the default) `complete_end_ms` once its words are in
    finished = ends_after(Endpointer(silence_s=0.65, rule=end_of_turn(VoiceSettings(complete_end_ms=650))), 1.5,
                          early="I would like to book Botox.")
    assert 0.65 <= finished < 0.65 + 2 * W
    finished = ends_after(Endpointer(silence_s=0.65, rule=RULE), 1.5, early="I would like to book Botox.")
    assert 0.3 <= finished < 0.3 + 2 * W
    # even after a yes/no question: "yes and" is not finished
    assert ends_after(Endpointer(silence_s=0.65, rule=RULE, expect="yes-no"), 0.6, early="Yes, and",
                      early_at=0.2) >= 1.2


def test_a_stale_early_transcript_is_ignored() -> None:
    ep = Endpointer(silence_s=0.65, rule=RULE)
    ep.speech(0.0, W)
    ep.silence(W, W, W)  # the pause starts at 0.032
    ep.heard_early(0.5, "and")  # another pause's words
    assert ep.early_text is None and ep.limit_s() == pytest.approx(0.65)


def test_by_default_a_yes_no_answer_waits_the_plain_silence() -> None:
    """The fast end is off by default: at 250 ms it split "No, I don't take any" at its comma."""
    rule = end_of_turn(VoiceSettings())
    assert 0.65 <= ends_after(Endpointer(silence_s=0.65, rule=rule, expect="yes-no"), 0.4) < 0.65 + 2 * W


def test_without_the_rule_or_in_smart_turn_mode_nothing_changes() -> None:
    assert 0.65 <= ends_after(Endpointer(silence_s=0.65, expect="yes-no"), 0.4) < 0.65 + 2 * W
    assert end_of_turn(VoiceSettings(adaptive_endpointing=False)) is None
    assert Endpointer(mode="smart-turn", rule=RULE, expect="yes-no").limit_s() == pytest.approx(1.6)


def test_the_rule_alone() -> None:
    rule = EndOfTurn(hold_words=frozenset({"and"}))
    assert rule.unfinished("Botox and") and not rule.unfinished("Botox.") and not rule.unfinished("")
    assert rule.silence_s(0.65, "open", 3.0, None) == 0.65


def test_a_sentence_that_ends_on_a_hold_word_in_a_finishing_phrase_is_finished() -> None:
    """ "No, I don't think so." ended on the hold word "so" and waited 1.2 s (the benchmark's slowest turn)."""
    rule = end_of_turn(VoiceSettings())
    assert rule is not None
    for whole in ("No, I don't think so.", "I hope so", "Yes, I think so!", "Hold on.", "I'd like that.",
                  "That's what I'm calling about."):
        assert not rule.unfinished(whole), whole
    for cut in ("So.", "I was thinking so", "And so", "I think that", "Well, um", "My appointment is on",
                "I don't think so,", "Hold on..."):
        assert rule.unfinished(cut), cut
    ep = Endpointer(silence_s=0.65, rule=rule, expect="yes-no")
    assert 0.65 <= ends_after(ep, 1.4, "No, I don't think so.") < 0.65 + 2 * W
    ep = Endpointer(silence_s=0.65, rule=rule, expect="yes-no")
    assert ends_after(ep, 1.4, "No, I was thinking so") >= 1.2
    assert EndOfTurn(hold_words=frozenset({"so"}), finishing=("Think  SO",)).unfinished("so") is True
    assert EndOfTurn(hold_words=frozenset({"so"}), finishing=("Think  SO",)).unfinished("I think so.") is False


def test_a_finished_sentence_ends_fast_only_for_open_answers() -> None:
    rule = end_of_turn(VoiceSettings(complete_end_ms=350))
    assert rule is not None and rule.complete_s == pytest.approx(0.35)
    assert rule.finished("How much is lip filler?") and rule.finished("I had Botox last week.")
    assert not rule.finished("I would like to book") and not rule.finished("Botox and.")
    assert not rule.finished("My appointment is on") and not rule.finished("") and not rule.finished("...")
    ep = Endpointer(silence_s=0.65, rule=rule, expect="open")
    assert 0.35 <= ends_after(ep, 2.0, "How much is lip filler?", early_at=0.3) < 0.35 + 2 * W
    # the words came back late: the turn ends as soon as they are in, not before
    assert 0.5 <= ends_after(Endpointer(silence_s=0.65, rule=rule, expect="open"), 2.0, "Yes, please.",
                             early_at=0.5) < 0.5 + 2 * W
    # unclosed words, a digits question, or the rule unset: the base silence
    assert ends_after(Endpointer(silence_s=0.65, rule=rule, expect="open"), 2.0, "I would like to book") >= 0.65
    assert ends_after(Endpointer(silence_s=0.65, rule=rule, expect="digits"), 2.0, "Five five five.") >= 0.65
    off = end_of_turn(VoiceSettings(complete_end_ms=650))  # as long as the silence: off
    assert ends_after(Endpointer(silence_s=0.65, rule=off, expect="open"), 2.0, "How much is it?") >= 0.65
    assert VoiceSettings().complete_end_ms == 300  # on by default (docs/voice.md: measured on whole calls)


@pytest.mark.parametrize(("state", "kind", "expected"), [
    ("offer_slot", None, "yes-no"), ("intake", "yes_no", "yes-no"), ("intake", "date", "date"),
    ("ask_name", None, "name"), ("identify_name", None, "name"), ("ask_phone", None, "digits"),
    ("identify_dob", None, "date"), ("greeting", None, "open"), ("intake", "areas", "open"),
])
def test_what_the_clinic_conversation_expects(state: str, kind: str | None, expected: str) -> None:
    class Pending:
        pass

    pending = None
    if kind is not None:
        pending = Pending()
        pending.kind = kind  # type: ignore[attr-defined]
    assert expecting(state, pending) == expected


def test_an_open_answer_that_only_opens_the_turn_waits_for_the_reason_of_the_call() -> None:
    """ "Hi, it's probably nothing," then a breath: the early pass reads "Hi, it's probably
    nothing." (a finished sentence) and the turn ended there after 300 ms, the agent asked "Are
    you new or returning?" over the red flag that followed ("... but my vision is blurry")."""
    rule = end_of_turn(VoiceSettings())
    assert rule is not None
    for opening in ("Hi, it's probably nothing.", "Hello?", "Hi there. Quick question.", "Good morning!",
                    "Um, so, this might be a silly question.", "HI... it's PROBABLY nothing!"):
        assert rule.opening_only(opening), opening
    for whole in ("Hi, I had filler yesterday and my lip is white.", "It's probably nothing serious.",
                  "Hi, how much is Botox?", "Hill.", "", "Yes.", "I'm not sure."):
        assert not rule.opening_only(whole), whole
    ep = Endpointer(silence_s=0.65, rule=rule, expect="open")
    assert ends_after(ep, 1.5, "Hi, it's probably nothing.", early_at=0.2) >= 1.2
    ep = Endpointer(silence_s=0.65, rule=rule, expect="open")
    assert ends_after(ep, 2.5, "Hi, my vision is blurry since the filler.", early_at=0.2) < 0.65
    # Only open answers: "I'm not sure." to a yes/no question, or "Hello." as a name, is an answer.
    ep = Endpointer(silence_s=0.65, rule=rule, expect="yes-no")
    assert ends_after(ep, 0.6, "Hello.", early_at=0.2) < 0.65 + 2 * W
    assert EndOfTurn(openings=("Quick  QUESTION", "")).opening_only("quick question") is True
    assert EndOfTurn().opening_only("Hi.") is False  # no openings configured: the rule is off


def test_a_pause_whose_early_words_are_still_out_waits_for_them_then_decides_from_them() -> None:
    """At a 0.6 s pause the early pass (about 450 ms) came back after the 650 ms window had ended
    the turn: "Is it okay to take ibuprofen / before my Dysport treatment?" was cut on no words."""
    rule = end_of_turn(VoiceSettings())
    assert rule is not None

    def ep(wait: float = 0.5) -> Endpointer:
        return Endpointer(silence_s=0.65, rule=rule, expect="open", early_asr_s=0.1, words_wait_s=wait)

    # The words come back 0.9 s into the pause: unfinished waits on, a finished sentence ends then.
    assert ends_after(ep(), 2.0, "My appointment is on", early_at=0.9) >= 1.2
    assert 0.9 <= ends_after(ep(), 2.0, "Is it okay to take ibuprofen?", early_at=0.9) < 0.9 + 2 * W
    # Words that never come: the wait is bounded.
    assert 1.15 <= ends_after(ep(), 2.0, None) < 1.15 + 2 * W
    # Off (or no early pass in this call): the window alone, as before.
    assert 0.65 <= ends_after(ep(0.0), 2.0, "My appointment is on", early_at=0.9) < 0.65 + 2 * W
    # Words already in before the window ends: nothing to wait for.
    assert 0.3 <= ends_after(ep(), 2.0, "Is it okay to take ibuprofen?", early_at=0.2) < 0.3 + 2 * W
    # Without a rule (plain silence) nothing waits.
    plain = Endpointer(silence_s=0.65, early_asr_s=0.1, words_wait_s=0.5)
    assert 0.65 <= ends_after(plain, 2.0, None) < 0.65 + 2 * W
