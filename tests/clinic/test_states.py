"""The call's states: a StrEnum (stored and compared as plain strings), each with one handler in
its owner's table, checked at import; a misspelt state is refused, never dispatched."""

from __future__ import annotations

import json

import pytest

from appliance.clinic.context import CallState
from appliance.clinic.engine import STEPS
from appliance.clinic.outbound import OUTBOUND_STEPS
from appliance.clinic.states import ENGINE_STATES, OUTBOUND_STATES, State, StateTableError, check_steps


def test_a_state_is_its_plain_string() -> None:
    assert State.OFFER_SLOT == "offer_slot" and str(State.OFFER_SLOT) == "offer_slot"
    assert f"{State.INTAKE}" == "intake" and json.dumps({"state": State.INTAKE}) == '{"state": "intake"}'
    assert {State.MESSAGE: 1}["message"] == 1


def test_every_state_has_an_owner_and_every_table_matches_its_states() -> None:
    assert set(STEPS) == ENGINE_STATES and set(OUTBOUND_STEPS) == OUTBOUND_STATES
    assert set(State) == ENGINE_STATES | OUTBOUND_STATES | {State.ENDED, State.FOLLOW_UP_ASK}


def test_a_table_that_misses_a_state_or_names_another_fails() -> None:
    partial = {s: None for s in ENGINE_STATES if s != State.INTAKE}
    with pytest.raises(StateTableError, match="no handler for intake"):
        check_steps(partial, ENGINE_STATES, "test")
    with pytest.raises(StateTableError, match="does not own: identify_name"):
        check_steps({**partial, State.INTAKE: None, State.IDENTIFY_NAME: None}, ENGINE_STATES, "test")


def test_a_state_set_as_a_string_is_checked_at_once() -> None:
    s = CallState()
    s.state = "offer_slot"  # type: ignore[assignment]  # as a test or a script sets it
    assert s.state is State.OFFER_SLOT
    with pytest.raises(ValueError, match="offer_slots"):
        s.state = "offer_slots"  # type: ignore[assignment]
    s.price_return = None
    assert s.price_return is None
