"""Property tests: generated phone numbers, e-mails, dates and addresses never survive redaction."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.records.redact import redact

digits = st.text("0123456789", min_size=1, max_size=1)
MONTHS = ["January", "Feb", "March", "Apr", "May", "June", "Jul", "August", "Sept", "October", "Nov", "December"]
FILLER = st.sampled_from(["Hi,", "so", "my lips feel fine", "thanks", "I had botox", "please call", "okay"])


@st.composite
def phones(draw: st.DrawFn) -> str:
    area, mid, last = (draw(st.from_regex(r"[2-9]\d{2}", fullmatch=True)), draw(st.from_regex(r"\d{3}", fullmatch=True)),
                       draw(st.from_regex(r"\d{4}", fullmatch=True)))
    sep = draw(st.sampled_from(["-", ".", " ", ""]))
    style = draw(st.sampled_from(["plain", "paren", "plus1"]))
    if style == "paren":
        return f"({area}) {mid}{sep}{last}"
    if style == "plus1":
        return f"+1 {area}{sep}{mid}{sep}{last}"
    return f"{area}{sep}{mid}{sep}{last}"


emails = st.from_regex(r"[a-z][a-z0-9._+-]{0,12}@[a-z][a-z0-9-]{1,10}\.(com|org|net|co\.uk)", fullmatch=True)


@st.composite
def dates(draw: st.DrawFn) -> str:
    d, m, y = draw(st.integers(1, 28)), draw(st.integers(1, 12)), draw(st.integers(1930, 2024))
    return draw(st.sampled_from([f"{m}/{d}/{y}", f"{m:02d}-{d:02d}-{y}", f"{y}-{m:02d}-{d:02d}",
                                 f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1]} {y}"]))


@st.composite
def addresses(draw: st.DrawFn) -> str:
    number = draw(st.integers(1, 99999))
    street = draw(st.sampled_from(["Main", "Oak", "Evergreen", "Martin Luther King", "5th", "Elm"]))
    suffix = draw(st.sampled_from(["Street", "St", "Ave", "Avenue", "Road", "Blvd", "Lane", "Drive", "Court", "Way"]))
    return f"{number} {street} {suffix}"


@settings(max_examples=150, deadline=None)
@given(before=FILLER, phi=st.one_of(phones(), emails, dates(), addresses()), after=FILLER)
def test_generated_phi_never_survives(before: str, phi: str, after: str) -> None:
    out = redact(f"{before} {phi} {after}")
    assert phi not in out
    assert not re.search(r"\d{3,}", out), out
    assert "@" not in out
