"""A call's row when things go wrong: made from safe identifiers, written again without harm,
filled turn by turn, recovered after a crash, and fed from the escalation journal.

`ensure_call` and `record_escalation_for` are idempotent (by the call's key and the
escalation's id), so the call pipeline may retry them and the journal may be replayed any
number of times. `recover_open_calls` runs once at the service's start: a call still open
then was cut off by a crash; it is closed with reason `crash`, keeping every committed turn,
and gets a summary so staff see it (with its escalations) in the console.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from appliance.conversation import ConversationOutcome, Escalation, Turn
from appliance.records.audit import Access
from appliance.records.base import Store, iso
from appliance.records.db import Connection, transaction
from appliance.records.ids import CallRef
from appliance.records.queue import insert_escalation
from appliance.records.summary import CallSummary, build_summary

CRASH = "crash"


class SaveOutcome(Protocol):
    """`Records.save_outcome`: everything a finished call produced, in one transaction."""

    def __call__(self, access: Access, pbx_call_id: str, outcome: ConversationOutcome, summary: CallSummary,
                 end_reason: str | None = None) -> str: ...


def insert_call(store: Store, access: Access, ref: CallRef) -> int:
    """A new call's row from `ref` with its audit event, inside the caller's transaction."""
    cur = store.conn.execute(
        "INSERT INTO calls (call_key, pbx_call_id, direction, caller_number, started_at, patient_id, line) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ref.key, ref.pbx_call_id, ref.direction, ref.caller_number, ref.started_at or iso(), ref.patient_id,
         ref.line))
    cid = int(cur.lastrowid or 0)
    store.audit(access, "call.create", f"call:{cid}")
    return cid


def call_by_key(conn: Connection, key: str) -> int | None:
    """The row id of the call with key `key`, None if there is none (a read: not audited)."""
    row = conn.execute("SELECT id FROM calls WHERE call_key = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def escalation_exists(conn: Connection, msg_id: str) -> bool:
    """Whether the escalation with outbox message id `msg_id` is stored."""
    return conn.execute("SELECT 1 FROM escalations WHERE outbox_msg_id = ?", (msg_id,)).fetchone() is not None


class CallRecords:
    """A call's row as the call pipeline writes it while the call runs (idempotent by key),
    its escalations, its turns, and the calls a crash left open (closed through `save_outcome`,
    the store's post-call write)."""

    def __init__(self, store: Store, save_outcome: SaveOutcome) -> None:
        self.store = store
        self.conn = store.conn
        self._save_outcome = save_outcome

    def ensure_call(self, access: Access, ref: CallRef) -> int:
        """The call's row (by `ref.key`), created from `ref` if it is not there yet."""
        with transaction(self.conn):
            cid = call_by_key(self.conn, ref.key)
            return cid if cid is not None else insert_call(self.store, access, ref)

    def record_escalation_for(self, access: Access, ref: CallRef, esc: Escalation, response_minutes: float | None,
                              esc_id: str) -> bool:
        """Store escalation `esc_id` on the call `ref` (creating the call's row if needed) and
        queue it for staff, in one transaction; False if it was already stored."""
        with transaction(self.conn):
            if escalation_exists(self.conn, esc_id):
                return False
            cid = call_by_key(self.conn, ref.key)
            if cid is None:
                cid = insert_call(self.store, access, ref)
            insert_escalation(self.conn, cid, esc, response_minutes, esc_id)
            self.store.audit(access, "escalation.create", f"call:{cid}")
        return True

    def append_turns(self, access: Access, key: str, turns: Iterable[tuple[int, Turn]]) -> int:
        """Commit a call's turns as they happen (index, turn); a later write of an index replaces it."""
        rows = [(idx, t.speaker, t.text, t.provenance, t.heard_fraction) for idx, t in turns]
        if not rows:
            return 0
        with transaction(self.conn):
            cid = self.store.call_row_id(key)
            self.conn.executemany(
                "INSERT OR REPLACE INTO turns (call_id, idx, speaker, text, provenance, heard_fraction) "
                "VALUES (?, ?, ?, ?, ?, ?)", [(cid, *r) for r in rows])
            self.store.audit(access, "transcript.write", f"call:{cid}:turns {rows[0][0]}-{rows[-1][0]}")
        return len(rows)

    def recover_open_calls(self, access: Access) -> list[int]:
        """Close every call left open (the service was killed during it) with reason `crash`:
        its committed turns and escalations stay, and it gets a summary staff can review."""
        open_calls = [(int(r[0]), str(r[1])) for r in self.conn.execute(
            "SELECT id, call_key FROM calls WHERE ended_at IS NULL ORDER BY id")]
        for cid, key in open_calls:
            outcome = self._stored_outcome(cid)
            summary = build_summary(outcome)
            self._save_outcome(access, key, outcome, summary, end_reason=CRASH)
        return [cid for cid, _ in open_calls]

    def _stored_outcome(self, cid: int) -> ConversationOutcome:
        turns = [Turn(r[0], r[1], r[2], float(r[3])) for r in self.conn.execute(
            "SELECT speaker, text, provenance, heard_fraction FROM turns WHERE call_id = ? ORDER BY idx", (cid,))]
        escalations = [Escalation(r[0], r[1], r[2], r[3] or "", r[4] or "")  # turn as stored (may be NULL)
                       for r in self.conn.execute("SELECT severity, category, turn_idx, detail, evidence "
                                                  "FROM escalations WHERE call_id = ? ORDER BY id", (cid,))]
        row = self.conn.execute("SELECT pack FROM calls WHERE id = ?", (cid,)).fetchone()
        return ConversationOutcome(turns=turns, escalations=escalations, outcome=CRASH, pack=row[0] if row else None)
