"""The answer the agent's last question wants, for the voice pipeline's end of turn: a short
yes/no or a name may end fast; a phone number or a date, said in parts, gets longer pauses.
Pure: from the conversation's state and its pending question."""

from __future__ import annotations

from typing import Any

YES_NO_STATES = frozenset({"offer_booking", "confirm_phone", "offer_slot", "concern_check", "anything_else",
                           "appt_cancel_check", "appt_offer"})
NAME_STATES = frozenset({"ask_name", "identify_name"})
DIGIT_STATES = frozenset({"ask_phone"})
DATE_STATES = frozenset({"identify_dob", "appt_identify"})  # a name, then a date of birth


def expecting(state: str, pending: Any = None) -> str:
    """"yes-no" | "name" | "digits" | "date" | "open"."""
    kind = getattr(pending, "kind", None)
    if state in NAME_STATES:
        return "name"
    if state in DIGIT_STATES:
        return "digits"
    if state in DATE_STATES or kind == "date":
        return "date"
    if state in YES_NO_STATES or kind == "yes_no":
        return "yes-no"
    return "open"
