"""Red-flag rules from the pack's phrase lists, with conservative negation handling."""

from __future__ import annotations

import pytest

from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.redflags import detect, mentioned

PACK = load_pack(DEMO_PACK)
FILLER = [(f, "dermal-filler-ha") for f in PACK.workflows["dermal-filler-ha"].red_flags]


@pytest.mark.parametrize(("text", "phrase", "want"), [
    ("no vision changes", "vision", False),
    ("I don't have any blurry vision", "blurry", False),
    ("my vision is fine", "vision", False),
    ("the swelling is normal now", "swelling", False),
    ("my lip throbbing is that normal", "throbbing", True),  # asked, not told: the comma was lost by the ASR
    ("my lip's throbbing, is that normal?", "throbbing", True),
    ("the swelling is it okay", "swelling", True),
    ("my lip throbbing is it ok", "throbbing", True),
    ("it's probably nothing but my vision is blurry", "blurry", True),
    ("I'm not sure if my vision is blurry", "blurry", True),  # unsure: escalate
    ("I don't think it's white but it might be", "white", True),
    ("no pain, but my lip looks white", "white", True),
    ("my lip is white, but it's fine", "white", True),
    ("the skin is turning white", "skin white", True),  # words in order, small gaps allowed
    ("nothing about that", "vision", None),
])
def test_negation(text: str, phrase: str, want: bool | None) -> None:
    assert mentioned(text, phrase) is want


def test_most_severe_first_and_none_for_denials() -> None:
    hits = detect("my lips are bruised and one spot looks dusky", FILLER)
    assert [h.flag.category for h in hits] == ["vascular-compromise", "swelling-lumps-or-asymmetry"]
    assert hits[0].flag.severity == "emergency"
    assert detect("no blanching, no vision changes, no pain, no fever", FILLER) == []


def test_every_pack_flag_has_an_action_and_matches_its_own_phrases() -> None:
    for flag, _ in PACK.all_red_flags():
        assert flag.action
        for phrase in flag.phrases:
            assert detect(f"I noticed {phrase} this morning", [(flag, None)]), (flag.id, phrase)


def test_a_procedure_name_is_never_read_as_a_symptom() -> None:
    """"I'm worried about my peel" is not raw skin: no treatment name of the pack (nor a product
    synonym) raises a flag when it is booked, priced or worried about. Indications that are also
    menu synonyms ("sun spots") are lexicon targets, checked in their own sentence below."""
    from appliance.clinic import safety
    from appliance.clinic.lexicon import load_lexicon
    from appliance.clinic.targets import without_targets

    targets = set(load_lexicon("en").safety.targets)
    fired = []
    for t in PACK.menu.treatments:
        for name in [t.name, t.id.replace("-", " "), *t.synonyms]:
            if name.lower() in targets:
                continue
            for say in (f"I'd like to book {name}", f"how much is {name}?", f"I'm worried about my {name}",
                        f"can I book another {name} next month?", f"do you do {name} for sun spots?"):
                hits = safety.check(PACK.all_red_flags(), without_targets(PACK, say)).hits
                fired += [(say, h.flag.id, h.method, h.heard) for h in hits]
    assert not fired, fired


def test_a_question_about_a_symptom_is_no_denial_in_the_lexicon_matcher_either() -> None:
    from appliance.clinic.safety import check

    for said in ("My lip strobing is that normal.", "my lip throbbing is that normal"):
        hit = check(FILLER, said, workflow="dermal-filler-ha").top
        assert hit is not None and hit.flag.category == "severe-or-worsening-pain", said
    assert check(FILLER, "my lip is fine now, no throbbing", workflow="dermal-filler-ha").top is None


def test_the_denial_words_are_the_lexicons() -> None:
    """Negations, "fine" words and asking clauses come from the language's lexicon: changing the
    lexicon's tables changes what denies a symptom, with no code change."""
    from appliance.clinic.lexicon import load_lexicon
    from appliance.clinic.redflags import Denial, denial

    sx = load_lexicon("en").safety
    said, phrase = "my lip throbbing is that normal", ["throbbing"]
    before, after = ["my", "lip"], ["is", "that", "normal"]
    assert not denial("en").denies(before, after, said)  # the lexicon's asking clause: a question
    no_asking = Denial.of(sx.model_copy(update={"asking": type(sx.asking)()}))
    assert no_asking.denies(before, after, said)  # without it, "normal" after the phrase denies it

    scots = Denial.of(sx.model_copy(update={"negations": [*sx.negations, "nae"]}))
    assert scots.denies(["nae"], [], "nae " + phrase[0]) and not denial("en").denies(["nae"], [], "nae throbbing")
    hedged = Denial.of(sx.model_copy(update={"uncertainty": ["reckon"]}))
    assert not hedged.denies(["no"], [], "i reckon no throbbing") and denial("en").denies(["no"], [], "no throbbing")
    assert Denial.of(sx.model_copy(update={"clause_breaks": []})).clauses("a but b") == ["a but b"]
    assert denial("en").clauses("a but b") == ["a ", " b"]


@pytest.mark.parametrize(("said", "name"), [
    ("My name is Rosa White.", True), ("It's Maya Gray.", True), ("Mary Jo Grey", True), ("this is Jo Blue, thanks", True),
    ("It's gone white.", False),       # lower case: the recogniser did not write a name
    ("Gone White.", False),            # "gone" is a worsening word, never a given name
    ("Lips White.", False), ("Face Grey.", False),  # a body part first: a report
    ("White.", False),                 # one word: no given name
    ("Rosa White, and my lip has gone white", False),  # more than a name
])
def test_a_colour_is_a_surname_only_in_a_turn_that_is_only_a_name(said: str, name: bool) -> None:
    from appliance.clinic import safety

    assert safety.only_a_name(said) is name
