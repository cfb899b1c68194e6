"""Deterministic parsers: yes/no, numbers in words, dates, phone numbers, names, money."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.clinic.parsers import money_range, numbers, parse_date, person_name, phone_number, yes_no

TODAY = date(2025, 3, 12)  # a Wednesday


@pytest.mark.parametrize(("text", "want"), [
    ("twenty five", [25]), ("twenty-five units", [25]), ("one hundred and fifty", [150]),
    ("two thousand five hundred", [2500]), ("$1,200", [1200]), ("between 300 and 500", [300, 500]),
    ("nothing here", []),
])
def test_numbers(text: str, want: list[int]) -> None:
    assert numbers(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("yes", "yes"), ("Yeah I am", "yes"), ("I take aspirin every day", "yes"), ("no", "no"),
    ("nope, I'm not", "no"), ("I don't", "no"), ("not sure", "unsure"), ("maybe", "unsure"),
    ("I'd rather not say", "declined"), ("none of your business", "declined"), ("banana", None),
])
def test_yes_no(text: str, want: str | None) -> None:
    assert yes_no(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("yesterday", date(2025, 3, 11)), ("three weeks ago", date(2025, 2, 19)), ("a couple of weeks ago", date(2025, 2, 26)),
    ("about two months ago", date(2025, 1, 12)), ("last Tuesday", date(2025, 3, 11)), ("on monday", date(2025, 3, 10)),
    ("March third", date(2025, 3, 3)), ("the 3rd of March", date(2025, 3, 3)), ("february twenty eighth", date(2025, 2, 28)),
    ("December 20", date(2024, 12, 20)), ("3/1", date(2025, 3, 1)), ("2024-12-01", date(2024, 12, 1)),
    ("never had it", "never"), ("no idea", None),
])
def test_dates(text: str, want: object) -> None:
    assert parse_date(text, TODAY) == want


def test_phone_names_money() -> None:
    assert phone_number("five five five, oh one two, three four five six") == "5550123456"
    assert phone_number("555 010 2233") == "5550102233"
    assert phone_number("double five five 1234") == "5551234"
    assert phone_number("twelve") is None
    assert person_name("my name is dana lee") == "Dana Lee"
    assert person_name("It's Priya Shah") == "Priya Shah"
    assert person_name("yes") is None and person_name("I'd rather not say") is None
    assert money_range("around five hundred dollars") == (500, 500)
    assert money_range("between 300 and 600") == (300, 600)
    assert money_range("under a thousand") == (0, 1000)
    assert money_range("no idea") is None


@pytest.mark.parametrize("said, expected", [
    ("April 12, 1985", date(1985, 4, 12)),
    ("March 3, 1980.", date(1980, 3, 3)),
    ("the 3rd of March, 1980", date(1980, 3, 3)),
    ("April twelfth nineteen eighty five", date(1985, 4, 12)),
    ("the twelfth of April nineteen eighty-five", date(1985, 4, 12)),
    ("June 5 2001", date(2001, 6, 5)),
])
def test_dates_of_birth_keep_their_year(said: str, expected: date) -> None:
    assert parse_date(said, date(2026, 11, 22)) == expected


def test_a_plain_goodbye_is_a_goodbye() -> None:
    from appliance.clinic.nlu import intent_of

    assert intent_of("Goodbye.") == "goodbye"
    assert intent_of("Okay, bye-bye!") == "goodbye"
