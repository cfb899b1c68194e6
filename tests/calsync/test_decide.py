"""Calendar sync's decisions, without a server: what to write, what a conflict is, what the
calendar's changes do to an appointment, and how a reconnect reconciles what was booked offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.calsync.decide import Appointment, backoff_s, foreign_busy, overlaps, plan_push, pull_action, push_action
from appliance.calsync.ical import RemoteEvent

T = datetime(2030, 1, 7, 17, 0, tzinfo=UTC)
H = timedelta(minutes=30)


def appt(aid: int = 1, start: datetime = T, status: str = "booked", state: str | None = None, **kw) -> Appointment:
    return Appointment(aid, kw.pop("provider", "np-1"), start, start + H, status, state, **kw)


def confirmed(aid: int = 1, start: datetime = T, status: str = "booked", written: datetime = T, etag: str = '"1"'):
    return appt(aid, start, status, "confirmed", cal_uid=f"appliance-{aid}", cal_href=f"/c/appliance-{aid}.ics",
                cal_etag=etag, cal_start=written, cal_end=written + H)


def event(uid: str | None, start: datetime = T, etag: str = '"1"', cancelled: bool = False, busy: bool = True):
    span = (start, start + H)
    return RemoteEvent(f"/c/{uid}.ics", etag, uid, (span,) if busy and not cancelled else (), cancelled, span)


# -- writing ---------------------------------------------------------------------------------
def test_a_new_booking_is_written_when_its_slot_is_free() -> None:
    assert push_action(appt(), [], server_up=True) == "create"
    assert push_action(appt(), [(T - H, T)], server_up=True) == "create"  # ends as it starts: no overlap


def test_a_new_booking_whose_slot_is_taken_in_the_calendar_is_refused() -> None:
    assert push_action(appt(), [(T + timedelta(minutes=15), T + 2 * H)], server_up=True) == "conflict"
    assert push_action(appt(state="unconfirmed"), [(T - H, T + timedelta(minutes=1))], server_up=True) == "conflict"


def test_server_down_a_new_booking_is_unconfirmed_once() -> None:
    assert push_action(appt(), [], server_up=False) == "unconfirmed"
    assert push_action(appt(state="unconfirmed"), [], server_up=False) is None
    assert push_action(confirmed(start=T + H), [], server_up=False) is None  # a move waits too


def test_moves_and_cancellations_on_the_box_are_written() -> None:
    assert push_action(confirmed(start=T + H), [], server_up=True) == "update"
    assert push_action(confirmed(status="cancelled"), [], server_up=True) == "delete"
    assert push_action(confirmed(), [], server_up=True) is None
    assert push_action(confirmed(status="completed"), [], server_up=True) is None


def test_a_move_onto_a_slot_taken_in_the_calendar_is_reverted() -> None:
    assert push_action(confirmed(start=T + H), [(T + H, T + 2 * H)], server_up=True) == "revert"


def test_finished_states_need_nothing() -> None:
    for state in ("conflict", "removed"):
        for status in ("booked", "cancelled"):
            assert push_action(appt(status=status, state=state), [], server_up=True) is None
    assert push_action(appt(status="cancelled"), [], server_up=True) is None  # never written, nothing to delete


def test_writes_free_slots_before_taking_them() -> None:
    plan = plan_push([appt(3, T + 2 * H), confirmed(2, status="cancelled"), confirmed(1, start=T + H), appt(4, T)],
                     {"np-1": [(T, T + H + timedelta(minutes=1))]}, server_up=True)
    assert [(action, a.id) for action, a in plan] == [("delete", 2), ("revert", 1), ("conflict", 4), ("create", 3)]


def test_own_events_are_not_foreign_busy_times() -> None:
    mine, theirs, floating = event("appliance-1"), event("x@other", T + H), event(None, T + 2 * H)
    assert foreign_busy([mine, theirs, floating], {"appliance-1"}) == [(T + H, T + 2 * H), (T + 2 * H, T + 3 * H)]


# -- reading ---------------------------------------------------------------------------------
def test_the_calendar_deleting_or_cancelling_an_event_cancels_the_appointment() -> None:
    assert pull_action(confirmed(), None) == "cancel-local"
    assert pull_action(confirmed(), event("appliance-1", cancelled=True)) == "cancel-local"
    assert pull_action(confirmed(status="cancelled"), None) == "forget"  # both sides cancelled


def test_the_calendar_moving_an_event_moves_the_appointment_and_wins_over_a_local_move() -> None:
    assert pull_action(confirmed(), event("appliance-1", T + H, etag='"2"')) == "move-local"
    assert pull_action(confirmed(start=T + 2 * H), event("appliance-1", T + H, etag='"2"')) == "move-local"
    # Cancelled on the box, moved in the calendar: take the new ETag, then the delete goes ahead.
    assert pull_action(confirmed(status="cancelled"), event("appliance-1", T + H, etag='"2"')) == "seen"


def test_an_unchanged_event_needs_nothing_and_an_edited_one_updates_its_etag() -> None:
    assert pull_action(confirmed(), event("appliance-1")) is None
    assert pull_action(confirmed(), event("appliance-1", etag='"2"')) == "seen"


def test_an_event_written_before_its_answer_was_lost_is_adopted() -> None:
    written = appt(state="unconfirmed", cal_uid="appliance-1", cal_href="/c/appliance-1.ics")
    assert pull_action(written, event("appliance-1")) == "adopt"
    assert pull_action(written, None) is None  # not there: it is written at the next push
    assert pull_action(appt(), None) is None


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_s(10_000, 1.0, 300.0) == 300.0


@pytest.mark.parametrize(("a", "b", "expected"), [
    ((T, T + H), (T + H, T + 2 * H), False), ((T, T + H), (T - H, T + timedelta(seconds=1)), True),
    ((T, T + 2 * H), (T + H, T + H + timedelta(minutes=1)), True)])
def test_overlaps(a, b, expected) -> None:
    assert overlaps(a, b) is expected and overlaps(b, a) is expected
