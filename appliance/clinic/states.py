"""The steps a call can be at (`CallState.state`), and who answers a caller turn at each.

`State` is a `StrEnum`: a state is stored, logged and compared as its plain string ("intake",
"offer_slot"), as before. Every state belongs to exactly one owner, checked at import:

    ENGINE_STATES    the inbound engine's steps: `engine.STEPS` has one handler for each
    OUTBOUND_STATES  an outbound call's own steps (identity, the day-N script), answered before
                     the engine sees the turn: `outbound.OUTBOUND_STEPS` has one handler for each
    FOLLOW_UP_ASK    the concern follow-up call's question (`concern_call.ConcernFollowUpCall`)
    ENDED            the call is over: no turn is answered

`concern_check` is both an engine step (the inbound concern question) and an outbound step (the
check-in's concern question: the answer is kept, then the engine's step takes the turn).
A table that misses a state of its owner, or names a state that is not its owner's, fails at
import (`check_steps`), so a state can neither be misspelt nor left without a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum, unique
from typing import Final


@unique
class State(StrEnum):
    # routing: what the caller wants
    GREETING = "greeting"
    NEW_OR_RETURNING = "new_or_returning"
    RETURNING_REASON = "returning_reason"
    HOW_HELP = "how_help"
    ANYTHING_ELSE = "anything_else"
    MESSAGE = "message"
    # new patients: the screen, prices, booking
    INTAKE = "intake"
    PRICE_TREATMENT = "price_treatment"
    OFFER_BOOKING = "offer_booking"
    ASK_NAME = "ask_name"
    ASK_PHONE = "ask_phone"
    CONFIRM_PHONE = "confirm_phone"
    OFFER_SLOT = "offer_slot"
    # returning patients: aftercare, concerns
    AFTERCARE_CONTEXT = "aftercare_context"
    CONCERN_CHECK = "concern_check"
    CONCERN = "concern"
    # existing appointments
    APPT_IDENTIFY = "appt_identify"
    APPT_WHAT = "appt_what"
    APPT_CANCEL_CHECK = "appt_cancel_check"
    APPT_OFFER = "appt_offer"
    # after a red flag (or a model failure), and the end of the call
    ESCALATED = "escalated"
    ENDED = "ended"
    # outbound calls: identity, then the day-N script
    IDENTIFY_NAME = "identify_name"
    IDENTIFY_DOB = "identify_dob"
    WRITTEN_CHECK = "written_check"
    CHECKIN_QUESTION = "checkin_question"
    SATISFACTION = "satisfaction"
    FOLLOW_UP_ASK = "follow_up_ask"


ENGINE_STATES: Final = frozenset({
    State.GREETING, State.NEW_OR_RETURNING, State.RETURNING_REASON, State.HOW_HELP, State.ANYTHING_ELSE,
    State.MESSAGE, State.INTAKE, State.PRICE_TREATMENT, State.OFFER_BOOKING, State.ASK_NAME, State.ASK_PHONE,
    State.CONFIRM_PHONE, State.OFFER_SLOT, State.AFTERCARE_CONTEXT, State.CONCERN_CHECK, State.CONCERN,
    State.APPT_IDENTIFY, State.APPT_WHAT, State.APPT_CANCEL_CHECK, State.APPT_OFFER, State.ESCALATED,
})
OUTBOUND_STATES: Final = frozenset({
    State.IDENTIFY_NAME, State.IDENTIFY_DOB, State.WRITTEN_CHECK, State.CHECKIN_QUESTION, State.SATISFACTION,
    State.CONCERN_CHECK,
})
ROUTING_STATES: Final = frozenset({State.GREETING, State.NEW_OR_RETURNING, State.RETURNING_REASON, State.HOW_HELP,
                                   State.ANYTHING_ELSE})  # nothing asked yet but what the caller wants
APPOINTMENT_STATES: Final = frozenset({State.APPT_IDENTIFY, State.APPT_WHAT, State.APPT_CANCEL_CHECK,
                                       State.APPT_OFFER})  # an existing appointment (`AppointmentsFlow`)


class StateTableError(RuntimeError):
    """A state table does not match the states of its owner (raised at import)."""


class StateError(RuntimeError):
    """A step was asked of a call whose state does not allow it: a bug, never the caller's words."""


def check_steps(table: Mapping[State, object], expected: frozenset[State], owner: str) -> None:
    """Every state of `expected` has a handler in `table`, and `table` has no other key."""
    keys = set(table)
    missing = sorted(expected - keys)
    extra = sorted(keys - expected)
    if missing or extra:
        raise StateTableError(f"{owner}: " + "; ".join(
            part for part in (f"no handler for {', '.join(missing)}" if missing else "",
                              f"handlers for states it does not own: {', '.join(extra)}" if extra else "") if part))


def _check_owners() -> None:
    owned = ENGINE_STATES | OUTBOUND_STATES | {State.FOLLOW_UP_ASK, State.ENDED}
    unowned = sorted(set(State) - owned)
    if unowned:
        raise StateTableError(f"states with no owner (add each to ENGINE_STATES or OUTBOUND_STATES): {', '.join(unowned)}")


_check_owners()
