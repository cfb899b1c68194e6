"""The one phone-number form used to match opt-outs and patients (digits only, E.164-ish)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.records.phones import normalize_phone, same_phone


@pytest.mark.parametrize(("raw", "want"), [
    ("+1 (415) 555-0100", "14155550100"),
    ("415.555.0100", "14155550100"),
    ("1-415-555-0100", "14155550100"),
    ("001 415 555 0100", "14155550100"),
    ("011 44 20 7946 0958", "442079460958"),
    ("+44 20 7946 0958", "442079460958"),
    ("14155550100", "14155550100"),
    ("2100", "2100"),  # an extension stays as it is
    ("", ""), (None, ""), ("call me", ""),
])
def test_normal_form(raw: str | None, want: str) -> None:
    assert normalize_phone(raw) == want


def test_different_numbers_differ() -> None:
    assert not same_phone("+1 415 555 0100", "+1 415 555 0101")
    assert not same_phone("", "")  # no digits is nobody's number


@given(st.from_regex(r"[2-9][0-9]{2}", fullmatch=True), st.from_regex(r"[2-9][0-9]{6}", fullmatch=True),
       st.sampled_from(["+1 ({a}) {b3}-{b4}", "{a}-{b3}-{b4}", "1 {a} {b}", "{a}{b}", "001{a}{b}", "({a}) {b}"]))
def test_every_written_form_of_a_number_matches_its_sip_form(area: str, rest: str, form: str) -> None:
    written = form.format(a=area, b=rest, b3=rest[:3], b4=rest[3:])
    assert normalize_phone(written) == f"1{area}{rest}"
    assert same_phone(written, f"1{area}{rest}")
