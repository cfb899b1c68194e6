"""Whisper's decoder loops are heard as unsure (appliance.voice.asr.confidence)."""

from __future__ import annotations

import math

from appliance.inference.proxies import Segment
from appliance.voice.asr import LOOPED_CONFIDENCE, confidence, looped

# Heard in a fresh red-flag sweep for "the nurse didn't pick up and now I've passed out once",
# with a confidence of 0.827: the vocabulary prompt's words, over and over.
LOOP = " The nasolabial folds," + " the nasolabial folds," * 31
SENTENCE = " The nurse didn't pick up and now I've passed out once."


def test_a_loop_is_what_whisper_calls_one_and_a_sentence_is_not() -> None:
    assert looped(LOOP)
    assert not looped(SENTENCE) and not looped(" Yes.") and not looped("")
    # Whisper's threshold (2.4) lets a short loop through: this one compresses 1.9 times.
    assert not looped(" the end of the video is very, very, very, very, very, very, very, very.")


def test_a_looped_hearing_is_capped_and_a_clear_one_keeps_its_confidence() -> None:
    logprob = math.log(0.827)
    assert confidence([Segment(SENTENCE, 0.01, logprob)]) == 0.827
    assert confidence([Segment(LOOP, 0.01, logprob)]) == LOOPED_CONFIDENCE
    # one looping segment among others makes the hearing unsure
    assert confidence([Segment(SENTENCE, 0.01, logprob), Segment(LOOP, 0.01, logprob)]) == LOOPED_CONFIDENCE
    assert confidence([Segment(" ", 0.9, -3.0)]) is None  # no words: no confidence
