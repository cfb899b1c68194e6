"""Retention of the texts and emails sent to patients: once settled and past `outbox_days`,
their words and address are deleted with the outbox; the row stays, so nothing is sent twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.messaging import store
from appliance.records.audit import Access
from appliance.records.db import transaction
from appliance.records.errors import ConflictError
from appliance.records.keys import ensure_key
from appliance.records.store import Records

WHO = Access("system:test", "test")


def _queue(r: Records, ref: str, body: str) -> int | None:
    with transaction(r.conn):
        return store.queue_in(r, WHO, purpose="aftercare-instructions", subject_ref=ref, channel="sms",
                              patient_id=None, recipient="+15551230000", subject="", body=body, template="demo#t")


def test_retention_clears_settled_patient_messages_and_a_cleared_dead_letter_is_not_resent(tmp_path: Path) -> None:
    r = Records.open(tmp_path / "m.db", ensure_key(tmp_path / "db.key"))
    try:
        ids = {name: _queue(r, name, f"Your aftercare, {name}") for name in ("sent", "dead", "queued", "recent")}
        store.mark(r, WHO, ids["sent"], "sent")
        store.mark(r, WHO, ids["recent"], "sent")
        store.mark(r, WHO, ids["dead"], "failed", max_attempts=1)
        old = (datetime.now(UTC) - timedelta(days=60)).isoformat()
        r.conn.execute("UPDATE messages SET created_at = ?, sent_at = CASE WHEN sent_at IS NULL THEN NULL ELSE ? END "
                       "WHERE id IN (?, ?, ?)", (old, old, ids["sent"], ids["dead"], ids["queued"]))

        done = r.purge(Access("system:retention", "retention"), {"outbox": 30})

        assert done["outbox"] >= 2
        rows = {m: r.conn.execute("SELECT status, body, recipient FROM messages WHERE id = ?", (i,)).fetchone()
                for m, i in ids.items()}
        assert rows["sent"] == ("sent", "", "") and rows["dead"] == ("dead", "", "")
        assert rows["queued"][1:] == ("Your aftercare, queued", "+15551230000")  # not settled: still to send
        assert rows["recent"][1:] == ("Your aftercare, recent", "+15551230000")  # inside retention
        assert _queue(r, "sent", "again") is None  # the row keeps its dedupe key: never sent twice
        with pytest.raises(ConflictError, match="past its retention"):
            store.retry(r, WHO, ids["dead"])
        assert r.verify_audit().ok
    finally:
        r.close()
