"""Schema 5: a store at schema 4 with contacts in both tables keeps every one in `aftercare_contacts`,
the scheduler's leases and attempts intact, and one treatment time per plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.config import OutboundSettings
from appliance.records.db import connect
from appliance.records.migrations import LATEST, current_version, migrate
from appliance.records.store import Records
from appliance.scheduler.setup import open_store
from appliance.scheduler.store import AttemptResult
from tests.records.conftest import SYSTEM

T0 = "2026-01-05T18:00:00.000000+00:00"
LEGACY_DUE = "2026-01-06T18:00:00.000000+00:00"


def _schema_4_with_data(db_path: Path, key: bytes) -> None:
    conn = connect(db_path, key)
    assert migrate(conn, target=4) == 4
    conn.executescript(
        "INSERT INTO patients (name, phone, dob, created_at, updated_at) "
        f"VALUES ('Pat Q.', '+1 415 555 0100', '1980-02-03', '{T0}', '{T0}');"
        "INSERT INTO consents (patient_id, kind, granted, source, created_at) "
        f"VALUES (1, 'aftercare-calls', 1, 'console', '{T0}');"
        # plan 1: written by the scheduler at schema 4 (both treatment columns set)
        "INSERT INTO aftercare_plans (patient_id, procedure, pack, created_at, workflow, treated_on, treated_at, "
        "time_zone, source) VALUES (1, 'neuromodulator-botox', 'demo-clinic@2025.1', "
        f"'{T0}', 'neuromodulator-botox', '2026-01-05', '{T0}', 'America/Los_Angeles', 'api');"
        # plan 2: the console's, with its contacts in the schema-1 table
        "INSERT INTO aftercare_plans (patient_id, procedure, created_at, treated_at) "
        f"VALUES (1, 'filler', '{T0}', '{T0}');"
        # plan 3: only the date
        "INSERT INTO aftercare_plans (patient_id, procedure, created_at, workflow, treated_on) "
        f"VALUES (1, 'ha-filler', '{T0}', 'dermal-filler-ha', '2026-01-02');"
        "INSERT INTO calls (pbx_call_id, direction, started_at) VALUES ('pbx-out-1', 'outbound', 't');"
        # the scheduler's contact mid-call: leased, one attempt open
        "INSERT INTO outbound_contacts (id, plan_id, kind, day, item, due_at, expires_at, next_at, state, attempts, "
        "lease_token, lease_until, created_at, updated_at) VALUES (7, 1, 'check-in', 1, 'bx-ci-1', "
        "'2026-01-06T18:00:00.000000+00:00', '2026-01-08T18:00:00.000000+00:00', "
        "'2026-01-06T18:00:00.000000+00:00', 'dialing', 1, 'tok-1', '2026-01-06T18:02:00.000000+00:00', "
        f"'{T0}', '{T0}');"
        "INSERT INTO outbound_contacts (plan_id, kind, day, due_at, expires_at, next_at, state, reached, "
        "escalated, call_id, created_at, updated_at, completed_at) VALUES (1, 'check-in', 3, "
        "'2026-01-08T18:00:00.000000+00:00', '2026-01-10T18:00:00.000000+00:00', "
        "'2026-01-08T18:00:00.000000+00:00', 'completed', 1, 1, 1, "
        f"'{T0}', '{T0}', '{T0}');"
        "INSERT INTO outbound_attempts (contact_id, attempt, token, worker, started_at) "
        "VALUES (7, 1, 'tok-1', 'w1', '2026-01-06T18:00:00.000000+00:00');"
        "INSERT INTO aftercare_contacts (plan_id, day, due_at, status) "
        f"VALUES (2, 1, '{LEGACY_DUE}', 'done');"
        "INSERT INTO aftercare_contacts (plan_id, day, due_at, status) "
        "VALUES (2, 3, '2026-01-08T18:00:00.000000+00:00', 'scheduled');"
        "INSERT INTO aftercare_contacts (plan_id, day, due_at, status) "
        "VALUES (2, 7, '2026-01-12T18:00:00.000000+00:00', 'missed');")
    conn.close()


def test_version_4_contacts_move_into_one_table_and_keep_their_state(db_path: Path, key: bytes) -> None:
    _schema_4_with_data(db_path, key)
    records = Records.open(db_path, key)
    try:
        conn = records.conn
        assert current_version(conn) == LATEST
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "outbound_contacts" not in tables and {"aftercare_contacts", "outbound_attempts"} <= tables
        plan_cols = {r[1] for r in conn.execute("PRAGMA table_info(aftercare_plans)")}
        assert "treated_at" in plan_cols and "treated_on" not in plan_cols
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = conn.execute("SELECT id, plan_id, kind, day, state, attempts, lease_token, disposition, reached, "
                            "escalated, call_id, next_at, expires_at FROM aftercare_contacts ORDER BY plan_id, day"
                            ).fetchall()
        assert [tuple(r[:8]) for r in rows] == [
            (7, 1, "check-in", 1, "dialing", 1, "tok-1", None),
            (8, 1, "check-in", 3, "completed", 0, None, None),
            (9, 2, "check-in", 1, "completed", 0, None, "completed"),
            (10, 2, "check-in", 3, "due", 0, None, None),
            (11, 2, "check-in", 7, "failed", 0, None, "expired"),
        ]
        assert tuple(rows[1][8:11]) == (1, 1, 1)  # outcome flags and the call kept
        assert rows[2][8] == 1  # a done check-in reached the patient
        legacy = rows[2]
        assert legacy[11] == LEGACY_DUE
        assert legacy[12] == "2026-01-08T18:00:00.000000+00:00"  # open two days, in the store's time format
        attempts = conn.execute("SELECT contact_id, token FROM outbound_attempts").fetchall()
        assert [tuple(a) for a in attempts] == [(7, "tok-1")]
        treated = dict(conn.execute("SELECT id, treated_at FROM aftercare_plans").fetchall())
        assert treated == {1: T0, 2: T0, 3: "2026-01-02T12:00:00.000000+00:00"}
        pipeline = {r["id"]: r for r in records.followups.aftercare_pipeline(SYSTEM)}
        assert pipeline[2]["contacts"] == 1 and pipeline[2]["next_contact_at"] == "2026-01-08T18:00:00.000000+00:00"
        assert pipeline[1]["contacts"] == 1 and pipeline[3]["treated_at"].startswith("2026-01-02")
        assert records.verify_audit().ok
    finally:
        records.close()


def test_the_scheduler_resumes_a_migrated_lease(db_path: Path, key: bytes) -> None:
    """The contact that was mid-call at schema 4 comes back after its lease, is retried once and
    finishes; the console's contacts with no workflow are never dialled."""
    _schema_4_with_data(db_path, key)
    store = open_store(db_path, key, load_pack(DEMO_PACK), OutboundSettings())
    try:
        assert store.contacts(SYSTEM, plan_id=1)[0]["treated_on"] == "2026-01-05"
        after_lease = datetime(2026, 1, 6, 18, 3, tzinfo=UTC)
        assert store.claim_due(SYSTEM, after_lease, "w2", timedelta(minutes=2), 5) == []  # retry spaced
        (claim,) = store.claim_due(SYSTEM, after_lease + timedelta(minutes=6), "w2", timedelta(minutes=2), 5)
        assert (claim.contact_id, claim.attempt, claim.workflow) == (7, 2, "neuromodulator-botox")
        assert claim.treated_on.isoformat() == "2026-01-05"
        assert store.finish(SYSTEM, claim, AttemptResult("answered", "completed", {"reached": True}),
                            after_lease + timedelta(minutes=8)) == "completed"
        results = [(a["attempt"], a["result"]) for a in store.attempts_of(7)]
        assert results == [(1, "lease-expired"), (2, "completed")]
        later = datetime(2026, 1, 8, 19, tzinfo=UTC)  # plan 2's day-3 contact is due, but has no workflow
        assert store.claim_due(SYSTEM, later, "w2", timedelta(minutes=2), 5) == []
        assert store.conn.execute("SELECT state FROM aftercare_contacts WHERE id = 10").fetchone()[0] == "due"
    finally:
        store.conn.close()
