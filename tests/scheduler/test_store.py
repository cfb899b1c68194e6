"""The durable queue on the real SQLCipher database: plans, claims, leases, outcomes, opt-out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.clinic.pack import Pack
from appliance.config import OutboundSettings
from appliance.scheduler.setup import open_store
from appliance.scheduler.store import AttemptResult, ScheduleError, ScheduleStore
from tests.scheduler.conftest import STAFF, SYSTEM, treatment

LA = ZoneInfo("America/Los_Angeles")
LEASE = timedelta(seconds=120)
ROOT = Path(__file__).resolve().parents[2]


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LA)


def test_plan_created_on_friday_moves_day1_to_next_allowed_slot(store: ScheduleStore) -> None:
    # The demo clinic opens Saturday 10:00-14:00 and is closed on Sunday. A Saturday treatment's
    # day-1 call (Sunday 10:00) moves to Monday 10:00 (the clinic's first contact time there).
    plan = store.record_treatment(STAFF, treatment(treated_on=date(2025, 3, 8)), at(2025, 3, 8, 16))
    rows = store.contacts(STAFF, plan_id=plan)
    day1 = rows[0]
    assert (day1["kind"], day1["day"]) == ("check-in", 1)
    assert datetime.fromisoformat(day1["due_at"]) == at(2025, 3, 9, 10)
    assert datetime.fromisoformat(day1["next_at"]) == at(2025, 3, 10, 9)  # Monday, opening time
    assert not store.claim_due(SYSTEM, at(2025, 3, 9, 12), "w1", LEASE, 5)  # Sunday: nothing is placed
    claims = store.claim_due(SYSTEM, at(2025, 3, 10, 9), "w1", LEASE, 5)
    assert [c.contact_id for c in claims] == [day1["id"]]


def test_friday_treatment_day1_late_friday_record(store: ScheduleStore) -> None:
    # Recorded Friday 16:50 for a Thursday treatment: day 1 (Friday 10:00) is past and Friday
    # has closed (16:30 is the last start), so Saturday 10:00 is the next allowed slot.
    plan = store.record_treatment(STAFF, treatment(treated_on=date(2025, 3, 6)), at(2025, 3, 7, 16, 50))
    day1 = store.contacts(STAFF, plan_id=plan)[0]
    assert datetime.fromisoformat(day1["next_at"]) == at(2025, 3, 8, 10)


def test_bad_input_refused_nothing_written(store: ScheduleStore) -> None:
    for bad, match in ((treatment(procedure="tattoo"), "unknown procedure"), (treatment(dob="12/04/85"), "birth"),
                       (treatment(phone="12"), "phone"), (treatment(time_zone="Mars/Base"), "time zone"),
                       (treatment(name=" "), "name")):
        with pytest.raises(ScheduleError, match=match):
            store.record_treatment(STAFF, bad, at(2025, 3, 7, 10))
    assert store.conn.execute("SELECT count(*) FROM aftercare_plans").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM patients").fetchone()[0] == 0


def _complete(store: ScheduleStore, now: datetime, **flags: bool) -> None:
    (claim,) = store.claim_due(SYSTEM, now, "w1", LEASE, 1)
    store.finish(SYSTEM, claim, AttemptResult("answered", "completed", {"reached": True, **flags}), now)


def test_claim_is_exclusive_and_restart_does_not_duplicate(store: ScheduleStore, db: tuple[Path, bytes],
                                                           pack: Pack) -> None:
    store.record_treatment(STAFF, treatment(), at(2025, 3, 7, 12))  # Friday; day 1 Saturday 10:00
    now = at(2025, 3, 8, 10, 5)
    first = store.claim_due(SYSTEM, now, "w1", LEASE, 5)
    assert len(first) == 1 and first[0].attempt == 1 and first[0].name == "Dana Lee"
    assert store.claim_due(SYSTEM, now, "w2", LEASE, 5) == []  # leased: nobody else gets it
    store.conn.close()  # the appliance restarts while the call is still within its lease
    again = open_store(db[0], db[1], pack, OutboundSettings())
    try:
        assert again.claim_due(SYSTEM, now + timedelta(seconds=30), "w3", LEASE, 5) == []
        assert again.finish(SYSTEM, first[0], AttemptResult("answered", "completed", {"reached": True}),
                            now + timedelta(seconds=60)) == "completed"
        assert again.claim_due(SYSTEM, now + timedelta(days=1, hours=1), "w3", LEASE, 5) == []  # day 3 not yet due
        rows = again.contacts(STAFF, plan_id=first[0].plan_id)
        assert rows[0]["state"] == "completed" and rows[0]["attempts"] == 1 and rows[0]["reached"] == 1
    finally:
        again.conn.close()


def test_no_answer_retries_then_gives_up(store: ScheduleStore) -> None:
    store.record_treatment(STAFF, treatment(), at(2025, 3, 7, 12))
    now = at(2025, 3, 8, 10)
    for attempt in (1, 2, 3):
        (claim,) = store.claim_due(SYSTEM, now, "w1", LEASE, 5)
        assert claim.attempt == attempt
        state = store.finish(SYSTEM, claim, AttemptResult("no-answer"), now + timedelta(seconds=40))
        row = store.contacts(STAFF, plan_id=claim.plan_id)[0]
        if attempt < 3:
            assert state == "due"
            nxt = datetime.fromisoformat(row["next_at"])
            assert nxt >= now + timedelta(hours=2)  # spaced
            assert store.claim_due(SYSTEM, now + timedelta(minutes=5), "w1", LEASE, 5) == []
            now = nxt
        else:
            assert state == "failed" and row["disposition"] == "attempts-exhausted"
    assert [a["result"] for a in store.attempts_of(claim.contact_id)] == ["no-answer"] * 3


def test_opt_out_stops_all_future_contacts(store: ScheduleStore) -> None:
    plan = store.record_treatment(STAFF, treatment(), at(2025, 3, 7, 12))
    other = store.record_treatment(STAFF, treatment(procedure="ha-filler", treated_on=date(2025, 3, 5)),
                                   at(2025, 3, 7, 12))
    now = at(2025, 3, 8, 10)
    claims = store.claim_due(SYSTEM, now, "w1", LEASE, 5)
    mine = next(c for c in claims if c.plan_id == plan)
    for c in claims:
        if c is not mine:
            store.finish(SYSTEM, c, AttemptResult("no-answer"), now)
    assert store.finish(SYSTEM, mine, AttemptResult("answered", "opted-out", {"reached": True, "opted_out": True}),
                        now) == "completed"
    for p in (plan, other):
        rows = store.contacts(STAFF, plan_id=p)
        assert not any(r["state"] in ("due", "dialing") for r in rows)
        assert any(r["disposition"] == "opted-out" for r in rows)
    assert store.claim_due(SYSTEM, at(2025, 6, 30, 11), "w1", LEASE, 50) == []  # months later: still nothing
    # a new treatment for the same number is planned but never called
    later = store.record_treatment(STAFF, treatment(treated_on=date(2025, 4, 1)), at(2025, 4, 1, 12))
    assert store.claim_due(SYSTEM, at(2025, 4, 2, 11), "w1", LEASE, 50) == []
    assert {r["disposition"] for r in store.contacts(STAFF, plan_id=later) if r["state"] == "cancelled"} == {"opted-out"}


def test_consent_refused_means_no_calls(store: ScheduleStore) -> None:
    plan = store.record_treatment(STAFF, treatment(consent=False), at(2025, 3, 7, 12))
    assert store.claim_due(SYSTEM, at(2025, 3, 8, 10), "w1", LEASE, 5) == []
    assert store.contacts(STAFF, plan_id=plan)[0]["disposition"] == "consent-withdrawn"


def test_outcomes_feed_the_dashboard_counts(store: ScheduleStore) -> None:
    store.record_treatment(STAFF, treatment(), at(2025, 3, 7, 12))
    _complete(store, at(2025, 3, 8, 10), delivered=True, booked=True)
    counts = store.outcome_counts()
    assert counts["contacted"] == 1 and counts["reached"] == 1 and counts["delivered"] == 1 and counts["booked"] == 1
    assert counts["escalated"] == 0 and counts["opted_out"] == 0


@pytest.mark.timeout(120)
def test_sigkill_between_dialing_and_completed_retries_exactly_once(store: ScheduleStore,
                                                                    db: tuple[Path, bytes], tmp_path: Path) -> None:
    store.record_treatment(STAFF, treatment(), at(2025, 3, 7, 12))
    now = at(2025, 3, 8, 10, 5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "tests" / "scheduler" / "crash_worker.py"), str(db[0]),
         str(tmp_path / "secrets" / "db.key"), now.isoformat(), "120"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = worker.stdout.readline() if worker.stdout else ""
        assert line.startswith("CLAIMED "), line
        claimed = line.split()[1:]
        assert len(claimed) == 1
        contact_id, dead_token = int(claimed[0].split(":")[0]), claimed[0].split(":")[1]
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    row = store.conn.execute("SELECT state, attempts FROM aftercare_contacts WHERE id = ?", (contact_id,)).fetchone()
    assert tuple(row) == ("dialing", 1)  # the crash left it mid-call: not dropped
    assert store.claim_due(SYSTEM, now + timedelta(seconds=60), "w2", LEASE, 5) == []  # lease still holds
    after = now + LEASE + timedelta(seconds=1)
    assert store.claim_due(SYSTEM, after, "w2", LEASE, 5) == []  # expired: back in the queue, retry spaced 5 min
    retry_at = after + timedelta(minutes=5)
    (retry,) = store.claim_due(SYSTEM, retry_at, "w2", LEASE, 5)
    assert retry.contact_id == contact_id and retry.attempt == 2 and retry.token != dead_token
    assert store.claim_due(SYSTEM, retry_at, "w3", LEASE, 5) == []  # exactly one retry
    assert store.finish(SYSTEM, retry, AttemptResult("answered", "completed", {"reached": True}), retry_at) == "completed"
    ghost = retry.__class__(**{**retry.__dict__, "token": dead_token})  # the dead worker's late report
    assert store.finish(SYSTEM, ghost, AttemptResult("answered", "completed"), retry_at) is None
    assert store.claim_due(SYSTEM, retry_at + timedelta(hours=3), "w3", LEASE, 5) == []
    attempts = store.attempts_of(contact_id)
    assert [(a["attempt"], a["worker"], a["result"]) for a in attempts] == [
        (1, "crash-worker", "lease-expired"), (2, "w2", "completed")]
    assert datetime.fromisoformat(attempts[0]["ended_at"]).astimezone(UTC) == after.astimezone(UTC)
