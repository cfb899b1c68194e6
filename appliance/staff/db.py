"""The staff-side tables in an encrypted SQLCipher file, reached off the event loop.

This is the console's own store until appliance.records provides the shared one: the same
key file, the same settings (WAL, synchronous=FULL so an acknowledged escalation or an audit
record survives power loss), a separate file so the schemas cannot collide.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlcipher3

from appliance.errors import ApplianceError
from appliance.records.keys import ensure_key

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS staff_users (
  id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('np', 'front_desk', 'admin')), pw_hash TEXT NOT NULL,
  extension TEXT, active INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, patient_ref TEXT, caller_label TEXT NOT NULL DEFAULT '',
  line TEXT NOT NULL DEFAULT '', direction TEXT NOT NULL DEFAULT 'inbound', topic TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'live', started_at REAL NOT NULL, ended_at REAL);
CREATE TABLE IF NOT EXISTS escalations (
  id INTEGER PRIMARY KEY, call_id TEXT, patient_ref TEXT, patient_label TEXT NOT NULL DEFAULT '',
  severity TEXT NOT NULL CHECK (severity IN ('emergency', 'urgent', 'routine')), category TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, deadline_at REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
  acknowledged_by TEXT, acknowledged_at REAL, resolved_by TEXT, resolved_at REAL, resolution_note TEXT,
  paged TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS summaries (
  id INTEGER PRIMARY KEY, call_id TEXT, patient_ref TEXT, patient_label TEXT NOT NULL DEFAULT '',
  procedure TEXT NOT NULL DEFAULT '', ai_text TEXT NOT NULL, final_text TEXT, transcript TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'final')), created_at REAL NOT NULL,
  reviewed_by TEXT, reviewed_at REAL, corrections INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS summary_corrections (
  id INTEGER PRIMARY KEY, summary_id INTEGER NOT NULL REFERENCES summaries(id), by_user TEXT NOT NULL,
  at REAL NOT NULL, before_text TEXT NOT NULL, after_text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS appointments (
  id INTEGER PRIMARY KEY, patient_ref TEXT, patient_label TEXT NOT NULL DEFAULT '', procedure TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'treatment', starts_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'booked',
  created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS aftercare (
  id INTEGER PRIMARY KEY, patient_ref TEXT, patient_label TEXT NOT NULL DEFAULT '', procedure TEXT NOT NULL,
  treated_at REAL NOT NULL, stage TEXT NOT NULL DEFAULT 'instructions', instructions_delivered INTEGER NOT NULL DEFAULT 0,
  patient_responded INTEGER NOT NULL DEFAULT 0, contacts INTEGER NOT NULL DEFAULT 0, series_total INTEGER NOT NULL DEFAULT 1,
  series_done INTEGER NOT NULL DEFAULT 1, review_due_at REAL, review_done INTEGER NOT NULL DEFAULT 0,
  rebooked INTEGER NOT NULL DEFAULT 0, satisfaction INTEGER, next_contact_at REAL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '', prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, topic TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_delivery (
  msg_id TEXT NOT NULL REFERENCES outbox(id), endpoint TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_at REAL NOT NULL, delivered_at REAL, last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY (msg_id, endpoint));
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_delivery (endpoint, delivered_at, next_at);
"""


class StoreError(ApplianceError):
    code = "staff-store"


class StaffDB:
    """One SQLCipher connection, serialised by a lock; `await db.run(fn)` runs fn(conn) in a thread."""

    def __init__(self, path: Path, key: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA key=\"x'{key.hex()}'\"")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA)
        except sqlcipher3.DatabaseError as e:
            raise StoreError(f"{path}: cannot open the staff database: {e}",
                             fix="check the key file matches this database (or restore it from backup)") from e
        conn.row_factory = sqlcipher3.Row
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, key_file: Path) -> StaffDB:
        return cls(path, ensure_key(key_file))

    def call(self, fn: Callable[[Any], T]) -> T:
        """Run fn(conn) inside one transaction (blocking; use `run` from async code)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    async def run(self, fn: Callable[[Any], T]) -> T:
        return await asyncio.to_thread(self.call, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
