"""Redaction: every PHI element in the corpus is removed; clinical words stay readable."""

from __future__ import annotations

import re

import pytest

from appliance.records.redact import redact, redact_transcript

NAMES = ["Zanzibarella Quixotic", "Priya Raman"]

# (text, PHI substrings that must be gone)
CORPUS: list[tuple[str, list[str]]] = [
    ("Hi, my name is Zanzibarella Quixotic.", ["Zanzibarella", "Quixotic"]),
    ("it's zanzibarella calling back", ["zanzibarella"]),
    ("QUIXOTIC is my last name", ["QUIXOTIC"]),
    ("This is Maria Lopez, I had filler last week", ["Maria", "Lopez"]),
    ("my name is sarah connor and I'm worried", ["sarah", "connor"]),
    ("I'm Dmitri.", ["Dmitri"]),
    ("You can reach me at 415-555-0199.", ["415", "555", "0199"]),
    ("call (415) 555 0199 or +1 415.555.0199 after five", ["415", "0199"]),
    ("my cell is 4155550199", ["4155550199"]),
    ("the number is 555-0199", ["555-0199"]),
    ("it's four one five, five five five, zero one nine nine", ["four one five", "zero one nine nine"]),
    ("oh seven seven nine double three four five six", ["seven seven nine", "four five six"]),
    ("+44 20 7946 0958 is my UK number", ["7946", "0958"]),
    ("I was born on March 14th, 1985.", ["March 14", "1985"]),
    ("date of birth 03/14/1985", ["03/14/1985"]),
    ("DOB: 1985-03-14", ["1985-03-14"]),
    ("born 14.03.85", ["14.03.85"]),
    ("the fourteenth of march nineteen eighty five", ["fourteenth", "march", "nineteen eighty five"]),
    ("my birthday is July 4", ["July 4"]),
    ("born in 1990", ["1990"]),
    ("Sept. 3rd, '92 is my birthday", ["Sept", "3rd", "'92"]),
    ("I live at 742 Evergreen Terrace, Springfield, OR 97403", ["742", "Evergreen", "97403"]),
    ("123 Main Street Apt 4B", ["123 Main", "4B"]),
    ("send it to 45 oak ave, unit 3", ["45 oak", "unit 3"]),
    ("my address is forty two Wallaby Way", ["forty two", "Wallaby"]),
    ("PO Box 1234", ["1234"]),
    ("zip code 94110", ["94110"]),
    ("email zanzibarella@example.org please", ["zanzibarella@example.org", "example"]),
    ("it's priya dot raman at gmail dot com", ["priya", "raman", "gmail"]),
    ("J.Doe+spa@clinic-mail.co.uk", ["J.Doe", "clinic-mail"]),
    ("social is 123-45-6789", ["123-45-6789"]),
    ("Priya Raman here, DOB 2/3/1979, phone 650 555 1234, email priya.r@example.com, "
     "address 1600 Amphitheatre Parkway", ["Priya", "Raman", "2/3/1979", "650", "1234", "priya.r", "1600", "Amphitheatre"]),
]

KEEP = [
    ("I had botox, 20 units in the glabella, two weeks ago", ["botox", "20 units", "glabella", "two weeks"]),
    ("Is the deposit 50 or 200 dollars?", ["deposit", "50", "200 dollars"]),
    ("I'm worried about bruising and swelling", ["worried", "bruising", "swelling"]),
    ("This is about my lips", ["This is about my lips"]),
    ("can I come in at 3 pm on Tuesday", ["3 pm", "Tuesday"]),
]


@pytest.mark.parametrize(("text", "phi"), CORPUS)
def test_every_phi_pattern_is_removed(text: str, phi: list[str]) -> None:
    out = redact(text, NAMES)
    for value in phi:
        assert value.lower() not in out.lower(), (text, out)
    assert re.search(r"\[(NAME|PHONE|DATE|ADDRESS|EMAIL|ID)\]", out), out


@pytest.mark.parametrize(("text", "kept"), KEEP)
def test_clinical_content_stays(text: str, kept: list[str]) -> None:
    out = redact(text, NAMES)
    for value in kept:
        assert value in out, (text, out)


def test_transcript_lines_keep_speakers() -> None:
    out = redact_transcript([("agent", "What number can we call?"), ("caller", "415-555-0199, I'm Priya Raman")],
                            names=["Priya Raman"])
    assert out == "agent: What number can we call?\ncaller: [PHONE], I'm [NAME]"


def test_no_digit_run_of_phone_length_survives_the_whole_corpus() -> None:
    joined = "\n".join(redact(t, NAMES) for t, _ in CORPUS)
    assert not re.search(r"\d(?:[\s.-]?\d){6,}", joined), joined
    assert "@" not in joined
