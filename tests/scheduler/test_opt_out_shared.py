"""An opt-out recorded through the record store stops the scheduler's calls, and one the
scheduler records (from a call) is seen by the record store: one number form for both."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.records.store import Records
from appliance.scheduler.store import ScheduleError, ScheduleStore
from tests.scheduler.conftest import STAFF, SYSTEM, treatment

LA = ZoneInfo("America/Los_Angeles")
LEASE = timedelta(seconds=120)


def test_records_opt_out_stops_scheduler_calls(store: ScheduleStore) -> None:
    plan = store.record_treatment(STAFF, treatment(phone="+1 555 010 2233"), datetime(2025, 3, 7, 12, tzinfo=LA))
    other = store.record_treatment(STAFF, treatment(name="Ana Ruiz", phone="555 010 9999", dob="1990-01-01"),
                                   datetime(2025, 3, 7, 12, tzinfo=LA))
    records = Records(store.conn)
    records.opt_out(STAFF, "(555) 010-2233", channel="call")  # written differently, same number
    assert store.conn.execute("SELECT phone FROM opt_outs").fetchall() == [("15550102233",)]
    claims = store.claim_due(SYSTEM, datetime(2025, 3, 8, 10, 5, tzinfo=LA), "w1", LEASE, 5)
    assert [c.plan_id for c in claims] == [other]  # the other patient is still called
    day1 = store.contacts(STAFF, plan_id=plan)[0]
    assert (day1["state"], day1["disposition"]) == ("cancelled", "opted-out")


def test_scheduler_opt_out_is_seen_by_the_records(store: ScheduleStore) -> None:
    store.record_treatment(STAFF, treatment(phone="+1 555 010 2233"), datetime(2025, 3, 7, 12, tzinfo=LA))
    records = Records(store.conn)
    assert not records.is_opted_out(STAFF, "555-010-2233", "call")
    assert store.opt_out(STAFF, "+1 (555) 010-2233", datetime(2025, 3, 7, 13, tzinfo=LA)) == 4
    for written in ("555-010-2233", "15550102233", "+1 555 010 2233", "001 555 010 2233"):
        assert records.is_opted_out(STAFF, written, "call"), written
    assert not records.is_opted_out(STAFF, "555-010-2234", "call")
    assert not records.is_opted_out(STAFF, "555-010-2233", "sms")  # a call opt-out is not an SMS one


def test_opt_outs_stored_before_normalising_still_match(store: ScheduleStore) -> None:
    store.conn.execute("INSERT INTO opt_outs (phone, channel, created_at) VALUES ('(555) 010-2233', 'all', 't')")
    store.record_treatment(STAFF, treatment(phone="+1 555 010 2233"), datetime(2025, 3, 7, 12, tzinfo=LA))
    assert store.claim_due(SYSTEM, datetime(2025, 3, 8, 10, 5, tzinfo=LA), "w1", LEASE, 5) == []
    assert Records(store.conn).is_opted_out(STAFF, "15550102233", "sms")


def test_opt_out_without_a_number_is_refused(store: ScheduleStore) -> None:
    with pytest.raises(ScheduleError, match="not a phone number"):
        store.opt_out(STAFF, "nobody", datetime(2025, 3, 7, 13, tzinfo=LA))
    assert store.conn.execute("SELECT count(*) FROM opt_outs").fetchone()[0] == 0
