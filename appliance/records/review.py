"""Staff review of post-call summaries: the AI draft, corrections (counted), approval.

A summary is a draft until a clinician approves it; a saved text that differs from the
current one is one correction (kept with its before and after text). The summary id staff
see is the call's row id. Reads and changes are audited; changes are announced in the outbox.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, rows_of
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError


def summary_text(summary: dict[str, Any]) -> str:
    """The structured summary as the draft text staff review."""
    slots = summary.get("slots") or {}
    lines = [f"Intent: {summary.get('intent')}; urgency: {summary.get('urgency')}; "
             f"sentiment: {summary.get('sentiment')}; lead score: {summary.get('lead_score')}."]
    if summary.get("procedure"):
        lines.append(f"Procedure: {summary['procedure']}.")
    who = ", ".join(f"{k.replace('_', ' ')}: {slots[k]}" for k in ("name", "callback_number") if slots.get(k))
    if who:
        lines.append(f"Caller: {who}.")
    if slots.get("reason"):
        lines.append(f"Reason: {slots['reason']}.")
    for esc in summary.get("escalations") or []:
        lines.append(f"Escalated ({esc.get('severity')}): {esc.get('category')}"
                     + (f", {esc['detail']}" if esc.get("detail") else "") + ".")
    lines.append(f"Outcome: {summary.get('outcome')}. Next step: {summary.get('next_step')}.")
    return "\n".join(lines)


_SELECT = (
    "SELECT s.call_id AS id, c.pbx_call_id AS call_id, p.ref AS patient_ref, p.name AS patient_name, "
    "c.caller_number, s.summary, s.draft_text, s.final_text, s.status, s.created_at, s.reviewed_by, s.reviewed_at, "
    "s.corrections FROM call_summaries s JOIN calls c ON c.id = s.call_id LEFT JOIN patients p ON p.id = c.patient_id")


def _shape(r: dict[str, Any]) -> Row:
    data = json.loads(r.pop("summary"))
    name, number = r.pop("patient_name"), r.pop("caller_number")
    r["patient_label"] = name or (data.get("slots") or {}).get("name") or number or ""
    r["procedure"] = data.get("procedure") or ""
    r["ai_text"] = r.pop("draft_text") or summary_text(data)
    r["text"] = r["final_text"] if r["final_text"] is not None else r["ai_text"]
    r["summary"] = data
    return r


class SummaryReview:
    """Post-call summaries as staff review them: the list, one with its transcript, a saved
    (and possibly approved) text."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def _review_row(self, sid: int) -> Row:
        rows = rows_of(self.conn.execute(_SELECT + " WHERE s.call_id = ?", (sid,)))  # noqa: S608 (constant)
        if not rows:
            raise NotFoundError(f"no summary {sid}")
        return _shape(rows[0])

    def summaries_for_review(self, access: Access, limit: int = 500) -> list[Row]:
        """Summaries, drafts awaiting review first, newest first."""
        with transaction(self.conn):
            rows = [_shape(r) for r in rows_of(self.conn.execute(
                _SELECT + " ORDER BY s.status = 'final', s.created_at DESC LIMIT ?", (limit,)))]  # noqa: S608
            self.store.audit(access, "view.summaries", "summaries:" + ",".join(str(r["id"]) for r in rows))
        return rows

    def summary_for_review(self, access: Access, sid: int) -> Row:
        """One summary with its transcript."""
        with transaction(self.conn):
            row = self._review_row(sid)
            row["transcript"] = rows_of(self.conn.execute(
                "SELECT speaker, text FROM turns WHERE call_id = ? ORDER BY idx", (sid,)))
            self.store.audit(access, "view.summary", f"summary:{sid}")
        return row

    def review_summary(self, access: Access, sid: int, by: str, text: str, *, finalize: bool) -> Row:
        """Save a reviewed text (a changed text counts one correction); `finalize` approves it."""
        with transaction(self.conn):
            row = self._review_row(sid)
            if row["status"] == "final":
                raise ConflictError(f"summary {sid} is already final")
            now = iso()
            changed = text.strip() != row["text"].strip()
            if changed:
                self.conn.execute("INSERT INTO summary_corrections (call_id, by_user, at, before_text, after_text) "
                                  "VALUES (?, ?, ?, ?, ?)", (sid, by, now, row["text"], text))
            self.conn.execute(
                "UPDATE call_summaries SET final_text = ?, corrections = corrections + ?, status = ?, reviewed_by = ?, "
                "reviewed_at = coalesce(reviewed_at, ?) WHERE call_id = ?",
                (text, int(changed), "final" if finalize else "draft", by, now, sid))
            self.store.audit(access, "summary.correct" if changed else "summary.review",
                        f"summary:{sid}:{'final' if finalize else 'draft'}")
            outbox.enqueue(self.conn, "summary.reviewed", {"id": sid, "corrected": changed, "final": finalize, "by": by})
            return self._review_row(sid)
