"""Per-endpoint outbox delivery: each registered consumer gets every message at least once, in
order, with back-off after a failure; a message counts as delivered once every consumer has it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.conversation import Escalation
from appliance.records.errors import SlotTakenError
from appliance.records.outbox import backoff
from appliance.records.store import Records
from tests.records.conftest import SYSTEM


def _raise(records: Records, n: int) -> list[str]:
    records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
    return [records.record_escalation(SYSTEM, "pbx-call-1", Escalation("urgent", f"c{i}", i)) for i in range(n)]


def test_every_endpoint_gets_every_message_and_the_message_completes_with_the_last(records: Records) -> None:
    records.outbox_set_endpoints(["console", "pms"], now=100.0)
    ids = _raise(records, 3)
    assert records.outbox_undelivered("console") == 3 and records.outbox_undelivered("pms") == 3
    for m in records.outbox_due(SYSTEM, "console", now=100.0):
        records.outbox_delivered_to("console", m.seq, now=100.0)
    assert records.outbox_undelivered("console") == 0
    assert [m.msg_id for m in records.outbox_pending(SYSTEM)] == ids  # pms still waits for them
    first = records.outbox_due(SYSTEM, "pms", now=100.0)[0]
    records.outbox_delivered_to("pms", first.seq, now=100.0)
    records.outbox_delivered_to("pms", first.seq, now=101.0)  # twice: changes nothing
    assert [m.msg_id for m in records.outbox_pending(SYSTEM)] == ids[1:]


def test_a_failed_delivery_backs_off_and_holds_the_endpoints_order(records: Records) -> None:
    records.outbox_set_endpoints(["pms"], now=0.0)
    ids = _raise(records, 2)
    head = records.outbox_due(SYSTEM, "pms", now=1000.0)[0]
    assert records.outbox_failed("pms", head.seq, 1000.0, "HTTP 503") == 1
    assert records.outbox_due(SYSTEM, "pms", now=1000.0 + backoff(1) - 0.001) == []  # nothing overtakes it
    retry = records.outbox_due(SYSTEM, "pms", now=1000.0 + backoff(1))
    assert [m.msg_id for m in retry] == ids and retry[0].attempts == 1
    assert records.outbox_failed("pms", head.seq, 1001.0, "HTTP 503") == 2
    assert records.outbox_due(SYSTEM, "pms", now=1001.0 + backoff(2) - 0.001) == []


def test_a_new_endpoint_gets_what_is_not_yet_delivered_and_a_removed_one_stops_holding_messages(records: Records) -> None:
    records.outbox_set_endpoints(["console"], now=0.0)
    ids = _raise(records, 2)
    records.outbox_delivered_to("console", records.outbox_due(SYSTEM, "console", 0.0)[0].seq, 0.0)
    records.outbox_set_endpoints(["console", "pms"], now=1.0)
    assert [m.msg_id for m in records.outbox_due(SYSTEM, "pms", 1.0)] == ids[1:]  # the first was done everywhere
    assert records.outbox_set_endpoints(["console"], now=2.0) == ["pms"]
    assert records.outbox_undelivered("pms") == 0
    records.outbox_delivered_to("console", records.outbox_due(SYSTEM, "console", 2.0)[0].seq, 2.0)
    assert records.outbox_pending(SYSTEM) == []


def test_delivery_rows_roll_back_with_the_message(records: Records) -> None:
    records.outbox_set_endpoints(["console", "pms"], now=0.0)
    records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
    a = records.add_patient(SYSTEM, "A")
    t0 = datetime(2026, 12, 1, 15, tzinfo=UTC)
    records.book_appointment(SYSTEM, a, "np-1", t0, t0 + timedelta(minutes=30))
    with pytest.raises(SlotTakenError):
        records.book_appointment(SYSTEM, a, "np-1", t0, t0 + timedelta(minutes=30))
    assert records.outbox_undelivered() == 2  # one message, two endpoints; the refused booking left none
