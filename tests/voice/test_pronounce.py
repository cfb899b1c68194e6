from appliance.voice.pronounce import spoken_form


def test_emergency_number_is_read_digit_by_digit() -> None:
    assert spoken_form("hang up and call 911 now.") == "hang up and call nine one one now."


def test_phone_numbers_are_read_in_groups() -> None:
    assert spoken_form("call us on 555-213-4409") == "call us on five five five, two one three, four four zero nine"
    assert spoken_form("(555) 213 4409") == "five five five, two one three, four four zero nine"


def test_other_numbers_and_text_are_untouched() -> None:
    assert spoken_form("20 to 25 units, $300 deposit, 2 weeks") == "20 to 25 units, $300 deposit, 2 weeks"
