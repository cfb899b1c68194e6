"""The answer the agent's last question wants, for the voice pipeline's end of turn: a short
yes/no or a name may end fast; a phone number or a date, said in parts, gets longer pauses.
Pure: from the conversation's state and its pending question."""

from __future__ import annotations

from typing import Protocol

from appliance.clinic.states import State

YES_NO_STATES = frozenset({State.OFFER_BOOKING, State.CONFIRM_PHONE, State.OFFER_SLOT, State.CONCERN_CHECK,
                           State.ANYTHING_ELSE, State.APPT_CANCEL_CHECK, State.APPT_OFFER})
NAME_STATES = frozenset({State.ASK_NAME, State.IDENTIFY_NAME})
DIGIT_STATES = frozenset({State.ASK_PHONE})
DATE_STATES = frozenset({State.IDENTIFY_DOB, State.APPT_IDENTIFY})  # a name, then a date of birth


class Asked(Protocol):
    """The pending question (a screen `Question`): what kind of answer it wants."""

    @property
    def kind(self) -> str: ...


def expecting(state: str, pending: Asked | None = None) -> str:
    """"yes-no" | "name" | "digits" | "date" | "open"."""
    kind = pending.kind if pending is not None else None
    if state in NAME_STATES:
        return "name"
    if state in DIGIT_STATES:
        return "digits"
    if state in DATE_STATES or kind == "date":
        return "date"
    if state in YES_NO_STATES or kind == "yes_no":
        return "yes-no"
    return "open"
