"""The record store (synchronous): every PHI read and write goes with an audit event.

Each public method is one transaction: the data, its audit event(s) and any outbox message
commit together or not at all. `Records` belongs to one thread (the writer thread of
`appliance.records.service`); asyncio code uses the async facade there.

`Records` holds patients, a call's start, end and saved outcome, consents, recordings, the
outbox relay, retention and the audit trail itself; every other concern is a repository it
holds, each given the one `Store`: `calls` (appliance.records.calls), `users`, `queue`,
`review`, `followups`, `bookings`, `appointments`, `quality`, `documentation`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.conversation import ConversationOutcome, Escalation
from appliance.records import audit, outbox
from appliance.records.appointments import Appointments
from appliance.records.audit import Access, AuditReport
from appliance.records.base import Row, Store, audit_key, iso, row_of, rows_of
from appliance.records.bookings import Bookings
from appliance.records.calls import CallRecords, escalation_exists, insert_call
from appliance.records.db import Connection, DatabaseError, connect, transaction
from appliance.records.documentation import Documentation
from appliance.records.errors import RecordsError, SlotTakenError
from appliance.records.followup import FollowUps
from appliance.records.ids import CallRef
from appliance.records.migrations import migrate
from appliance.records.phones import normalize_phone, opted_out
from appliance.records.quality import Quality
from appliance.records.queue import EscalationQueue, insert_escalation
from appliance.records.redact import redact_transcript
from appliance.records.review import SummaryReview, summary_text
from appliance.records.summary import CallSummary
from appliance.records.users import StaffUsers

__all__ = ["RETENTION_KINDS", "Records", "audit_key", "iso"]

RETENTION_KINDS = ("recordings", "transcripts", "summaries", "outbox")
_row = row_of


class Records:
    """The open record store: its own tables' reads and writes, and one repository per concern
    (all sharing `store`, none reaching into another)."""

    def __init__(self, conn: Connection, *, recording_enabled: bool = False) -> None:
        self.conn = conn
        self.store = Store(conn, audit_key(conn))
        self.recording_enabled = recording_enabled
        self.calls = CallRecords(self.store, self.save_outcome)
        self.users = StaffUsers(self.store)
        self.queue = EscalationQueue(self.store)
        self.review = SummaryReview(self.store)
        self.followups = FollowUps(self.store)
        self.bookings = Bookings(self.store)
        self.appointments = Appointments(self.store)
        self.quality = Quality(self.store)
        self.documentation = Documentation(self.store)

    @classmethod
    def open(cls, path: Path, key: bytes, *, recording_enabled: bool = False) -> Records:
        conn = connect(path, key)
        try:
            migrate(conn)
            return cls(conn, recording_enabled=recording_enabled)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def record_event(self, access: Access, action: str, subject: str) -> None:
        """An audit event on its own (e.g. a staff member viewed a screen built from PHI)."""
        with transaction(self.conn):
            self.store.audit(access, action, subject)

    def audit_events(self, limit: int = 200) -> list[Row]:
        """The latest audit events, newest first (they name record ids, never patients)."""
        cur = self.conn.execute("SELECT seq, at, actor, action, subject, reason, call_id FROM audit_events "
                                "ORDER BY seq DESC LIMIT ?", (limit,))
        return rows_of(cur)

    # -- patients --------------------------------------------------------------------------
    def add_patient(self, access: Access, name: str | None, phone: str | None = None, dob: str | None = None,
                    email: str | None = None, address: str | None = None, ref: str | None = None) -> int:
        """`ref`: the practice-management system's identifier for the patient (unique)."""
        now = iso()
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO patients (name, phone, dob, email, address, ref, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (name, phone, dob, email, address, ref, now, now))
            pid = int(cur.lastrowid or 0)
            self.store.audit(access, "patient.create", f"patient:{pid}")
        return pid

    def get_patient(self, access: Access, patient_id: int) -> dict[str, Any] | None:
        with transaction(self.conn):
            cur = self.conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,))
            row = _row(cur, cur.fetchone())
            self.store.audit(access, "patient.read", f"patient:{patient_id}")
        return row

    def find_patients_by_phone(self, access: Access, phone: str) -> list[dict[str, Any]]:
        with transaction(self.conn):
            cur = self.conn.execute("SELECT * FROM patients WHERE phone = ? ORDER BY id", (phone,))
            rows = [r for r in (_row(cur, t) for t in cur.fetchall()) if r]
            self.store.audit(access, "patient.search", "patients:" + ",".join(str(r["id"]) for r in rows))
        return rows

    # -- calls -----------------------------------------------------------------------------
    def start_call(self, access: Access, pbx_call_id: str, direction: str, caller_number: str | None,
                   started_at: datetime | None = None, patient_id: int | None = None, line: str | None = None,
                   *, key: str | None = None) -> int:
        """A new call's row; returns its row id. `key`: the appliance's own id for the call (made
        here when not given; name the call by it later, the PBX's Call-ID may be reused).
        `line`: how staff name the call's line or channel ("2"), shown in the console."""
        ref = CallRef.of(pbx_call_id, direction, caller_number, key=key, started_at=iso(started_at),
                         patient_id=patient_id, line=line)
        with transaction(self.conn):
            return insert_call(self.store, access, ref)

    def end_call(self, access: Access, pbx_call_id: str, outcome: str, end_reason: str,
                 ended_at: datetime | None = None) -> None:
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            self.conn.execute("UPDATE calls SET ended_at = ?, outcome = ?, end_reason = ? WHERE id = ?",
                              (iso(ended_at), outcome, end_reason, cid))
            self.store.audit(access, "call.update", f"call:{cid}")

    def _insert_escalation(self, cid: int | None, esc: Escalation, response_minutes: float | None = None,
                           msg_id: str | None = None) -> str:
        return insert_escalation(self.conn, cid, esc, response_minutes, msg_id)

    def record_escalation(self, access: Access, pbx_call_id: str, esc: Escalation,
                          response_minutes: float | None = None, msg_id: str | None = None) -> str:
        """Store an escalation the moment it is raised; queue it for staff. Returns the outbox message id.

        `pbx_call_id`: the call's key (or a Call-ID that names one call). `response_minutes`: the
        protocol's response-time target (staff see the deadline it sets). `msg_id`: the
        escalation's id, when the caller made one (a second write with it changes nothing)."""
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            if msg_id and escalation_exists(self.conn, msg_id):
                return msg_id
            msg_id = self._insert_escalation(cid, esc, response_minutes, msg_id)
            self.store.audit(access, "escalation.create", f"call:{cid}")
        return msg_id

    def save_outcome(self, access: Access, pbx_call_id: str, outcome: ConversationOutcome,
                     summary: CallSummary, end_reason: str | None = None) -> str:
        """Everything a finished call produced, in one transaction (with `end_reason`, the call is
        also closed in it); returns the summary's outbox id."""
        names = [str(summary.slots["name"])] if summary.slots.get("name") else []
        now = iso()
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            self.conn.executemany(
                "INSERT OR REPLACE INTO turns (call_id, idx, speaker, text, provenance, heard_fraction) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(cid, i, t.speaker, t.text, t.provenance, t.heard_fraction) for i, t in enumerate(outcome.turns)])
            known = {(r[0], r[1]) for r in self.conn.execute(
                "SELECT turn_idx, category FROM escalations WHERE call_id = ?", (cid,))}
            for esc in outcome.escalations:
                if (esc.turn, esc.category) not in known:
                    self._insert_escalation(cid, esc)
            screen = outcome.screen or {}
            self.conn.execute("INSERT INTO screen_results (call_id, complete, flags, created_at) VALUES (?, ?, ?, ?)",
                              (cid, int(bool(screen.get("complete"))), json.dumps(list(screen.get("flags", []))), now))
            answers = screen.get("answers") or {}
            self.conn.executemany(
                "INSERT INTO intake_answers (call_id, question, answer, created_at) VALUES (?, ?, ?, ?)",
                [(cid, str(q), json.dumps(a) if not isinstance(a, str) else a, now) for q, a in answers.items()])
            self.conn.execute("UPDATE calls SET outcome = ?, pack = ? WHERE id = ?", (outcome.outcome, outcome.pack, cid))
            if end_reason is not None:
                self.conn.execute("UPDATE calls SET ended_at = coalesce(ended_at, ?), end_reason = ? WHERE id = ?",
                                  (now, end_reason, cid))
            data = summary.to_dict()
            self.conn.execute(  # a summary made again keeps its staff review
                "INSERT INTO call_summaries (call_id, summary, draft_text, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(call_id) DO UPDATE SET summary = excluded.summary, draft_text = excluded.draft_text",
                (cid, json.dumps(data, sort_keys=True), summary_text(data), now))
            self.conn.execute(
                "INSERT OR REPLACE INTO redacted_transcripts (call_id, text, created_at) VALUES (?, ?, ?)",
                (cid, redact_transcript(((t.speaker, t.text) for t in outcome.turns), names), now))
            key, pbx = self.conn.execute("SELECT call_key, pbx_call_id FROM calls WHERE id = ?", (cid,)).fetchone()
            msg_id = outbox.enqueue(self.conn, "call.summary", {"call_id": cid, "call_key": key, "pbx_call_id": pbx,
                                                                 "summary": data})
            self.store.audit(access, "call.outcome.write", f"call:{cid}")
        return msg_id

    def get_transcript(self, access: Access, pbx_call_id: str) -> list[dict[str, Any]]:
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            cur = self.conn.execute("SELECT idx, speaker, text, provenance, heard_fraction FROM turns "
                                    "WHERE call_id = ? ORDER BY idx", (cid,))
            rows = [r for r in (_row(cur, t) for t in cur.fetchall()) if r]
            self.store.audit(access, "transcript.read", f"call:{cid}")
        return rows

    def get_summary(self, access: Access, pbx_call_id: str) -> dict[str, Any] | None:
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            row = self.conn.execute("SELECT summary FROM call_summaries WHERE call_id = ?", (cid,)).fetchone()
            self.store.audit(access, "summary.read", f"call:{cid}")
        return None if row is None else json.loads(row[0])

    def redacted_transcript(self, pbx_call_id: str) -> str | None:
        """The de-identified transcript (no PHI: not an audited read)."""
        cid = self.store.call_row_id(pbx_call_id)
        row = self.conn.execute("SELECT text FROM redacted_transcripts WHERE call_id = ?", (cid,)).fetchone()
        return None if row is None else str(row[0])

    # -- bookings (confirm, cancel, arrived: appliance.records.appointments), consents ----------
    def book_appointment(self, access: Access, patient_id: int, provider: str, slot_start: datetime,
                         slot_end: datetime, procedure: str | None = None, pbx_call_id: str | None = None,
                         kind: str = "treatment") -> int:
        """Book a provider's slot; SlotTakenError if it already holds a live booking.
        `kind`: treatment, review or consult."""
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id) if pbx_call_id else None
            try:
                cur = self.conn.execute(
                    "INSERT INTO appointments (patient_id, provider, slot_start, slot_end, procedure, call_id, kind, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (patient_id, provider, iso(slot_start), iso(slot_end), procedure, cid, kind, iso()))
            except DatabaseError as e:
                if "UNIQUE" in str(e) and "appointments" in str(e):
                    raise SlotTakenError(f"{provider} is already booked at {iso(slot_start)}",
                                         fix="offer the caller another slot") from None
                raise
            aid = int(cur.lastrowid or 0)
            outbox.enqueue(self.conn, "appointment.booked", {"appointment_id": aid, "patient_id": patient_id,
                                                             "provider": provider, "slot_start": iso(slot_start)})
            self.store.audit(access, "appointment.create", f"appointment:{aid}")
        return aid

    def record_consent(self, access: Access, patient_id: int | None, kind: str, granted: bool, source: str,
                       pbx_call_id: str | None = None) -> int:
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id) if pbx_call_id else None
            cur = self.conn.execute("INSERT INTO consents (patient_id, kind, granted, source, call_id, created_at) "
                                    "VALUES (?, ?, ?, ?, ?, ?)", (patient_id, kind, int(granted), source, cid, iso()))
            rid = int(cur.lastrowid or 0)
            self.store.audit(access, "consent.create", f"consent:{rid}")
        return rid

    def opt_out(self, access: Access, phone: str, channel: str = "all", pbx_call_id: str | None = None) -> None:
        """Record "do not contact" for this number (stored normalised: appliance.records.phones)."""
        number = normalize_phone(phone)
        if not number:
            raise RecordsError("an opt-out needs a phone number with digits", fix="pass the patient's number")
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id) if pbx_call_id else None
            self.conn.execute("INSERT OR IGNORE INTO opt_outs (phone, channel, call_id, created_at) VALUES (?, ?, ?, ?)",
                              (number, channel, cid, iso()))
            self.store.audit(access, "opt_out.create", f"phone-opt-out:{channel}")

    def is_opted_out(self, access: Access, phone: str, channel: str) -> bool:
        with transaction(self.conn):
            found = opted_out(self.conn, phone, channel)
            self.store.audit(access, "opt_out.read", f"phone-opt-out:{channel}")
        return found

    # -- recordings ------------------------------------------------------------------------
    def add_recording(self, access: Access, pbx_call_id: str, pcm: bytes, sample_rate: int) -> int:
        """Keep a call's audio (16-bit PCM) inside the encrypted database; refused unless recording is on."""
        if not self.recording_enabled:
            raise RecordsError("call recording is off", fix="set [database] recording = true to keep call audio")
        with transaction(self.conn):
            cid = self.store.call_row_id(pbx_call_id)
            cur = self.conn.execute("INSERT INTO recordings (call_id, sample_rate, encoding, audio, created_at) "
                                    "VALUES (?, ?, 'pcm_s16le', ?, ?)", (cid, sample_rate, pcm, iso()))
            rid = int(cur.lastrowid or 0)
            self.store.audit(access, "recording.create", f"recording:{rid}")
        return rid

    def get_recording(self, access: Access, recording_id: int) -> tuple[bytes, int] | None:
        with transaction(self.conn):
            row = self.conn.execute("SELECT audio, sample_rate FROM recordings WHERE id = ?", (recording_id,)).fetchone()
            self.store.audit(access, "recording.read", f"recording:{recording_id}")
        return None if row is None else (bytes(row[0]), int(row[1]))

    # -- outbox relay ----------------------------------------------------------------------
    def outbox_pending(self, access: Access, limit: int = 100, topic: str | None = None) -> list[outbox.OutboxMessage]:
        msgs = outbox.pending(self.conn, limit, topic)
        if msgs:
            self.record_event(access, "outbox.read", f"outbox:{msgs[0].seq}..{msgs[-1].seq}")
        return msgs

    def outbox_delivered(self, msg_ids: list[str]) -> int:
        return outbox.mark_delivered(self.conn, msg_ids)

    def outbox_set_endpoints(self, names: list[str], now: float) -> list[str]:
        """Register the consumers (`console`, each webhook); see `outbox.set_endpoints`."""
        with transaction(self.conn):
            return outbox.set_endpoints(self.conn, names, now)

    def outbox_due(self, access: Access, endpoint: str, now: float, limit: int = 50) -> list[outbox.OutboxMessage]:
        """An endpoint's messages due for delivery, in order (their payloads may carry PHI: audited)."""
        msgs = outbox.due(self.conn, endpoint, now, limit)
        if msgs:
            self.record_event(access, "outbox.read", f"outbox:{msgs[0].seq}..{msgs[-1].seq}:{endpoint}")
        return msgs

    def outbox_delivered_to(self, endpoint: str, seq: int, now: float) -> None:
        with transaction(self.conn):
            outbox.delivered_to(self.conn, endpoint, seq, now)

    def outbox_failed(self, endpoint: str, seq: int, now: float, error: str) -> int:
        with transaction(self.conn):
            return outbox.failed_at(self.conn, endpoint, seq, now, error)

    def outbox_undelivered(self, endpoint: str | None = None) -> int:
        return outbox.undelivered(self.conn, endpoint)

    # -- retention -------------------------------------------------------------------------
    def purge(self, access: Access, retention_days: dict[str, int | None], now: datetime | None = None) -> dict[str, int]:
        """Delete data older than its kind's retention (None keeps it); one audited transaction."""
        now = now or datetime.now(UTC)
        done: dict[str, int] = {}
        with transaction(self.conn):
            for kind in RETENTION_KINDS:
                days = retention_days.get(kind)
                if days is None:
                    continue
                cutoff = iso(now - timedelta(days=days))
                done[kind] = self._purge_kind(kind, cutoff)
                self.store.audit(access, "records.purge", f"{kind}:{done[kind]} before {cutoff}")
        return done

    def _purge_kind(self, kind: str, cutoff: str) -> int:
        c = self.conn
        old_calls = "SELECT id FROM calls WHERE coalesce(ended_at, started_at) < ?"
        if kind == "recordings":
            return c.execute("DELETE FROM recordings WHERE created_at < ?", (cutoff,)).rowcount
        if kind == "transcripts":
            n = c.execute(f"DELETE FROM turns WHERE call_id IN ({old_calls})", (cutoff,)).rowcount  # noqa: S608
            # a check-in's answers are the patient's words too: they go with the call's transcript
            n += c.execute(f"UPDATE aftercare_contacts SET answers = NULL WHERE answers IS NOT NULL "  # noqa: S608
                           f"AND call_id IN ({old_calls})", (cutoff,)).rowcount
            n += c.execute(f"DELETE FROM redacted_transcripts WHERE call_id IN ({old_calls})",  # noqa: S608
                           (cutoff,)).rowcount
            # calls heard in shadow (appliance.golive.shadow) are transcripts too
            return n + c.execute("DELETE FROM shadow_calls WHERE ended_at < ?", (cutoff,)).rowcount
        if kind == "summaries":
            return c.execute("DELETE FROM call_summaries WHERE created_at < ?", (cutoff,)).rowcount
        if kind == "outbox":
            n = c.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (cutoff,)).rowcount
            # texts and emails to patients, once settled: the words and the address go, the row
            # stays (what was sent, when, from which template; its dedupe key keeps it sent once)
            return n + c.execute("UPDATE messages SET body = '', recipient = '', subject = '', last_error = '' "
                                 "WHERE status IN ('sent', 'suppressed', 'dead') AND coalesce(sent_at, created_at) < ? "
                                 "AND (body != '' OR recipient != '')", (cutoff,)).rowcount
        raise RecordsError(f"unknown retention kind {kind!r}")

    # -- audit -----------------------------------------------------------------------------
    def verify_audit(self, anchor: str | None = None) -> AuditReport:
        return audit.verify(self.conn, self.store.audit_key, anchor)
