"""The paging policy on a virtual clock: no audio, no network."""

from __future__ import annotations

from dataclasses import replace

from appliance.staff.paging import Attempt, brief, decide

CHAIN = ("201", "202", "203")


def run(severity: str, *, response_s: float, outcomes: dict[int, str], ack_at: float | None, until: float,
        ring_s: float = 30.0, max_rounds: int = 2) -> list[tuple[float, str]]:
    """Drive the policy like the pager does: ask at t=0 and whenever it says to wake up (or
    when a page call ends after ring_s with the scripted outcome)."""
    attempts: list[Attempt] = []
    log: list[tuple[float, str]] = []
    now = 0.0
    for _ in range(100):
        acked = ack_at is not None and now >= ack_at
        d = decide(severity=severity, created_at=0.0, response_s=response_s, chain=CHAIN, attempts=tuple(attempts),
                   acknowledged=acked, now=now, ring_s=ring_s, max_rounds=max_rounds)
        if d.action == "page":
            attempts.append(Attempt(d.level, d.target, now))
            log.append((now, d.target))
            outcome = outcomes.get(d.level)
            if outcome:  # the page call ends after one ring period
                now += ring_s
                attempts[-1] = replace(attempts[-1], outcome=outcome)
            continue
        if d.action != "wait":
            log.append((now, d.action))
            return log
        nxt = d.wake_at if ack_at is None or ack_at <= now else min(d.wake_at, ack_at)
        if nxt > until:
            return log
        now = nxt
    raise AssertionError("policy did not settle")


def test_routine_waits_in_the_queue():
    assert run("routine", response_s=86400, outcomes={}, ack_at=None, until=1e6) == [(0.0, "queue")]


def test_urgent_pages_first_on_call_at_once():
    assert run("urgent", response_s=900, outcomes={}, ack_at=10, until=1e6)[:1] == [(0.0, "201")]


def test_acknowledged_in_time_pages_nobody_else():
    assert run("urgent", response_s=900, outcomes={}, ack_at=899, until=1e6) == [(0.0, "201"), (899, "done")]


def test_not_acknowledged_within_target_pages_next():
    log = run("urgent", response_s=900, outcomes={}, ack_at=1000, until=1e6)
    assert log == [(0.0, "201"), (900.0, "202"), (1000, "done")]


def test_unanswered_call_pages_next_without_waiting_for_the_target():
    log = run("urgent", response_s=900, outcomes={0: "no-answer"}, ack_at=100, until=1e6)
    assert log == [(0.0, "201"), (30.0, "202"), (100, "done")]


def test_emergency_target_zero_still_allows_one_ring_period():
    log = run("emergency", response_s=0, outcomes={}, ack_at=None, until=1e6, max_rounds=1)
    assert log == [(0.0, "201"), (30.0, "202"), (60.0, "203"), (90.0, "exhausted")]


def test_chain_wraps_then_is_exhausted():
    outcomes = {i: "declined" for i in range(6)}
    log = run("urgent", response_s=600, outcomes=outcomes, ack_at=None, until=1e6, max_rounds=2)
    assert [t for _, t in log] == ["201", "202", "203", "201", "202", "203", "exhausted"]


def test_connected_page_is_done():
    log = run("urgent", response_s=600, outcomes={0: "no-answer", 1: "connected"}, ack_at=None, until=1e6)
    assert log == [(0.0, "201"), (30.0, "202"), (60.0, "done")]


def test_empty_chain_is_exhausted_at_once():
    d = decide(severity="urgent", created_at=0, response_s=60, chain=(), attempts=(), acknowledged=False, now=0)
    assert d.action == "exhausted"


def test_brief_is_phi_minimal():
    text = brief("urgent", "filler-vascular", "2")
    assert text == "urgent filler concern, patient on line 2, press 1 to connect."


def test_answered_page_is_waited_for_past_the_window():
    listening = (Attempt(0, "201", 0.0, "answered"),)
    d = decide(severity="emergency", created_at=0, response_s=0, chain=CHAIN, attempts=listening, acknowledged=False,
               now=500.0)
    assert d.action == "wait" and d.wake_at is None
    ended = (Attempt(0, "201", 0.0, "no-answer"),)
    d = decide(severity="emergency", created_at=0, response_s=0, chain=CHAIN, attempts=ended, acknowledged=False,
               now=40.0)
    assert (d.action, d.target) == ("page", "202")


def test_briefs_name_no_patient():
    from appliance.live.briefs import transfer_brief
    from appliance.staff.paging import callback_brief, text_page

    assert callback_brief("emergency", "vision-change") == ("emergency vision concern, the patient has hung up, "
                                                            "press 1 to acknowledge.")
    assert transfer_brief("urgent", "filler") == "urgent filler concern, connecting the patient now."
    assert text_page("urgent", "filler", "2") == "URGENT: filler concern, patient on line 2. See the console."
