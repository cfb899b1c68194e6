"""The asyncio side: RecordStore as a service component, all database work on its writer thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlcipher3

from appliance.config import load_settings
from appliance.records.audit import Access
from appliance.records.errors import DatabaseInUseError
from appliance.records.keys import read_key
from appliance.records.rotate import rekey
from appliance.records.service import RecordStore
from appliance.records.store import Records
from tests.records.conftest import PHI
from tests.records.helpers import concern_call

SYSTEM = Access("system:call", "call", "pbx-async-1")


@pytest.fixture
def settings(write_config):
    return load_settings(write_config("[database]\nrecording = true\n"))


async def test_record_store_runs_the_post_call_pipeline_off_the_loop(settings) -> None:
    store = RecordStore(settings)
    assert store.name == "records"
    await store.start()
    try:
        records = store.records
        assert records is not None
        await records.run(Records.start_call, SYSTEM, "pbx-async-1", "inbound", PHI["phone"])
        writes = [records.run(Records.add_patient, SYSTEM, f"P{i}") for i in range(20)]
        ids = await asyncio.gather(*writes)
        assert sorted(ids) == list(range(1, 21))  # serialised on the writer thread, none lost
        summary = await records.finish_call(SYSTEM, "pbx-async-1", concern_call(), "caller-hangup")
        assert summary.escalated and summary.intent == "clinical-concern"
        pending = await records.run(Records.outbox_pending, SYSTEM)
        assert [m.topic for m in pending] == ["escalation.raised", "call.summary"]
        assert (await records.run(Records.verify_audit)).ok
        # The connection belongs to the writer thread: using it from the event loop's thread fails.
        assert threading.current_thread() is threading.main_thread()
        with pytest.raises(sqlcipher3.ProgrammingError, match="thread"):
            records._r().conn.execute("SELECT 1")
        assert await store.purge() == {"recordings": 0, "outbox": 0}
    finally:
        await store.stop()
    assert settings.db_path.exists()


async def test_one_writer_at_a_time(settings) -> None:
    first = RecordStore(settings)
    await first.start()
    try:
        with pytest.raises(DatabaseInUseError):
            await RecordStore(settings).start()
        with pytest.raises(DatabaseInUseError):
            await asyncio.to_thread(rekey, settings.db_path, settings.db_key_file)
    finally:
        await first.stop()
    second = RecordStore(settings)  # the lock is released on stop
    await second.start()
    await second.stop()


async def test_stop_without_start_is_harmless(settings) -> None:
    await RecordStore(settings).stop()


def test_data_dir_layout(settings) -> None:
    assert settings.db_path == Path(settings.data_dir) / "appliance.db"
    assert settings.database.recording is True and settings.database.retention.recordings_days == 30


async def test_finish_call_closes_the_call_in_the_same_transaction(settings) -> None:
    store = RecordStore(settings)
    await store.start()
    try:
        records = store.records
        assert records is not None
        await records.run(Records.start_call, SYSTEM, "pbx-async-1", "inbound", None)
        await records.finish_call(SYSTEM, "pbx-async-1", concern_call(), "caller-hangup")
    finally:
        await store.stop()
    r = Records.open(settings.db_path, read_key(settings.db_key_file))
    try:
        row = r.conn.execute("SELECT outcome, end_reason, ended_at IS NOT NULL FROM calls").fetchone()
        assert row == ("escalated", "caller-hangup", 1)
        writes = [a for (a,) in r.conn.execute("SELECT action FROM audit_events ORDER BY seq")]
        assert writes == ["call.create", "call.outcome.write"]
    finally:
        r.close()
