"""Red flags by voice: a sample of the safety corpus spoken through the real speech path.

27 turns of tests/clinic/corpus/redflags.yaml (every emergency sign of the demo pack, the issue-14
turns and five that must not fire), each spoken by two caller voices (Piper pitch-shifted and
espeak-ng en-us), taken through 8 kHz G.711, heard by the appliance's Transcriber (with its
confidence) and given to the real conversation in the turn's state. The full sweep (every turn of
the corpus, and espeak-ng en-gb as well: the two espeak-ng voices measure alike, 18/22 each on this
sample) is `python -m benchmarks.redflags_voice`, run by `make bench`; docs/voice.md "Red flags by
voice" has its numbers.

    .venv/bin/python -m pytest tests/voice/test_redflags_voice.py -q -s
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import redflags_voice as rv

pytestmark = [pytest.mark.models]

SAMPLE_VOICES = ("piper", "en-us")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = rv.run(Path(tmp_path_factory.mktemp("redflags-voice")), voices=SAMPLE_VOICES, sample=True)
    print("\n" + "\n".join(rv.headline(out)))
    return out


def test_the_sample_covers_every_emergency_sign_and_some_negations() -> None:
    turns = rv.corpus_turns(sample=True)
    assert 20 <= len(turns) <= 30
    said = " ".join(t["say"].lower() for t in turns)
    for sign in ("breathe", "throat", "hives", "tongue", "blurry", "double", "mottled", "grey", "dusky", "lacy",
                 "blanching", "chest pain", "fainted", "swallow", "allergic", "slurred", "arm is weak", "seizure",
                 "eye pain", "blisters"):
        assert sign in said, sign
    assert sum(1 for t in turns if t["expect"] == "none") >= 4
    assert {t["state"] for t in turns} >= {"new_or_returning", "how_help", "concern_check", "outbound:identify_name"}


# The 98% bar (rv.BAR) is not met by voice yet. Whisper tiny.en mishears espeak-ng's synthetic
# voices badly on 8 kHz G.711 (about 40% word error rate); with the second listen (Whisper with the
# symptom words and Moonshine, confirmed with the caller) the full sweep measured 72.0% (en-us) and
# 71.5% (en-gb), 95-97% for Piper (docs/voice.md "A second recogniser"). Piper speaks with random
# variation, so one miss in the 22-turn sample moves its recall by 4.5 points (runs here: 18-22 of
# 22; 18 once, in a full-suite run on 2026-12-07: "fainted" heard "painted", "eye pain" heard "a knife
# pain", "seizure history" lost, all new audio, none a rule change). espeak-ng is deterministic:
# this sample measured 18/22 each with Moonshine, en-us 19/22 once (16/22 with the prompted pass alone, 11-14/22
# with no second listen). These floors guard against regressions; the
# full sweep in `make bench` reports against the bar itself.
PIPER_FLOOR = 0.77  # 17/22, under the spread of fresh Piper audio: it catches a speech path that loses the
# words; a lost lexicon entry is caught by the typed corpus (tests/clinic), which holds the misheard forms
ESPEAK_FLOOR = 0.65


def test_the_bundled_voice_stays_at_its_measured_recall(result: dict[str, Any]) -> None:
    piper = result["summary"]["by_voice"]["piper"]["recall"]
    misses = [(m["spoken"], m["heard"]) for m in result["misses"] if m["voice"] == "piper"]
    print(f"piper recall {piper:.1%} (bar {rv.BAR:.0%}); misses: {misses}")
    assert piper >= PIPER_FLOOR, (piper, misses)


def test_the_espeak_voices_stay_above_their_measured_floor(result: dict[str, Any]) -> None:
    below = {v: b["recall"] for v, b in result["summary"]["by_voice"].items() if v != "piper" and b["recall"] < ESPEAK_FLOOR}
    assert not below, (below, [(m["voice"], m["spoken"], m["heard"]) for m in result["misses"]])


def test_a_caught_turn_names_its_method_and_what_was_heard(result: dict[str, Any]) -> None:
    for r in result["rows"]:
        if r["caught"]:
            assert r["methods"], r
            assert set(r["methods"]) <= {"exact", "lexicon", "asr", "pattern", "fuzzy", "worsening", "second-listen"}, r
        if r["caught_after_confirmation"]:  # the approved question was asked, and the "yes" escalated
            assert r["confirmation"] and r["severity_after_yes"] is not None, r
        assert r["confidence"] is None or 0.0 <= r["confidence"] <= 1.0, r
    # the transcriber's confidence reached the conversation: every spoken turn produced one
    assert all(r["confidence"] is not None for r in result["rows"] if r["heard"])


def test_negated_turns_raise_few_false_alarms(result: dict[str, Any]) -> None:
    negatives = [r for r in result["rows"] if r["expect"] == "none"]
    false = [r for r in negatives if r["false_alarm"]]
    assert len(false) <= len(negatives) * 0.15, [(r["voice"], r["heard"], r["evidence"]) for r in false]


def test_unsure_turns_are_heard_again_and_only_they(result: dict[str, Any]) -> None:
    below = result["second_listen_below"]
    assert below > 0  # the appliance's default: the second listen is on
    for r in result["rows"]:
        unsure = r["confidence"] is not None and r["confidence"] < below
        assert (r["heard_again"] is not None) == unsure, r  # Whisper with the symptom words
        assert (r["heard_other"] is not None) == unsure, r  # and the second recogniser
        assert not r["second_listen"] or unsure, r
    assert result["second_recogniser"] == "MoonshineTranscriber"
    assert any(r["heard_again"] for r in result["rows"] if r["voice"] != "piper")  # espeak-ng: often unsure
    # A confirmation question on a turn that must not fire is the second listen's designed cost (the
    # caller says "no" and the call goes on), not a false alarm: the full sweep measured 7 of 195 (3.6%).
    # This sample holds the negations that trip it: "no blurry vision, no fever" heard by Whisper with
    # the symptom words as "Blender vision ...", "my vision is fine" by Moonshine as "My vision in time"
    # (2 or 3 of these 15 in CI runs). The bound keeps it from becoming the rule.
    negatives = [r for r in result["rows"] if r["expect"] == "none"]
    asked = [r for r in negatives if r["false_confirmation"]]
    assert len(asked) <= len(negatives) * 0.2, [(r["voice"], r["heard"], r["heard_again"], r["heard_other"])
                                                 for r in asked]
