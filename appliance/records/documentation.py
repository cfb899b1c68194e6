"""The documentation checklist of a call as staff see and sign it: the facts the call supplies
(its stored summary and escalations, with their acknowledgements) and the staff sign-off (who,
when; schema 15, `documentation_signoffs`). Reads and the sign-off are audited."""

from __future__ import annotations

import json

from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, rows_of
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError


class Documentation:
    """A call's documentation checklist: the facts the call supplies and the staff sign-off."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def _signoff(self, sid: int) -> Row | None:
        rows = rows_of(self.conn.execute("SELECT workflow, signed_by, signed_at FROM documentation_signoffs "
                                         "WHERE call_id = ?", (sid,)))
        return rows[0] if rows else None

    def documentation_facts(self, access: Access, sid: int) -> Row:
        """What the call supplies to its checklist: the summary's procedure, the approved lines
        heard and the concern reported, the call's escalations (id, severity, category, red flag,
        raised, acknowledged, by whom), and the sign-off if there is one."""
        with transaction(self.conn):
            row = self.conn.execute("SELECT summary FROM call_summaries WHERE call_id = ?", (sid,)).fetchone()
            if row is None:
                raise NotFoundError(f"no summary {sid}")
            summary = json.loads(row[0])
            escalations = rows_of(self.conn.execute(
                "SELECT id, severity, category, detail, created_at, acknowledged_at, acknowledged_by FROM escalations "
                "WHERE call_id = ? ORDER BY id", (sid,)))
            self.store.audit(access, "documentation.read", f"summary:{sid}")
            return {"procedure": summary.get("procedure"), "said": summary.get("said") or [],
                    "concern": summary.get("concern"), "escalations": escalations, "signoff": self._signoff(sid)}

    def sign_off_documentation(self, access: Access, sid: int, by: str, workflow: str | None) -> Row:
        """Staff sign the call's checklist off (once; ConflictError if it already is)."""
        with transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM call_summaries WHERE call_id = ?", (sid,)).fetchone() is None:
                raise NotFoundError(f"no summary {sid}")
            done = self._signoff(sid)
            if done is not None:
                raise ConflictError(f"the documentation of call {sid} was signed off by {done['signed_by']}")
            self.conn.execute("INSERT INTO documentation_signoffs (call_id, workflow, signed_by, signed_at) "
                              "VALUES (?, ?, ?, ?)", (sid, workflow, by, iso()))
            self.store.audit(access, "documentation.sign_off", f"summary:{sid}")
            return self._signoff(sid) or {}
