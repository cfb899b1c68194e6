"""Test data for the console, written the way the call pipeline writes it: through the record
store's own API (calls, escalations, post-call outcomes, bookings, aftercare plans)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.conversation import ConversationOutcome, Escalation, Turn
from appliance.records.audit import Access
from appliance.records.store import Records
from appliance.records.summary import build_summary

PIPELINE = Access("system:call", "call")
_calls = itertools.count(1)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def patient(r: Records, *, label: str | None = None, ref: str | None = None) -> int | None:
    """The patient with clinic reference `ref` (made on first use), or a new one named `label`."""
    if ref is not None:
        row = r.conn.execute("SELECT id FROM patients WHERE ref = ?", (ref,)).fetchone()
        if row:
            return int(row[0])
    if label is None and ref is None:
        return None
    return r.add_patient(PIPELINE, label, ref=ref)


def call(r: Records, call_id: str | None = None, *, patient_ref: str | None = None, patient_label: str | None = None,
         line: str | None = None) -> str:
    call_id = call_id or f"pbx-seed-{next(_calls)}"
    if r.conn.execute("SELECT 1 FROM calls WHERE pbx_call_id = ?", (call_id,)).fetchone() is None:
        r.start_call(PIPELINE, call_id, "inbound", None, patient_id=patient(r, label=patient_label, ref=patient_ref),
                     line=line)
    return call_id


def escalation(r: Records, *, severity: str, category: str, detail: str = "", call_id: str | None = None,
               patient_label: str | None = None, patient_ref: str | None = None,
               response_minutes: float | None = None) -> int:
    """An escalation raised on a call (a new call unless `call_id` names one); returns its id."""
    cid = call(r, call_id, patient_label=patient_label, patient_ref=patient_ref)
    r.record_escalation(PIPELINE, cid, Escalation(severity, category, 0, detail),  # type: ignore[arg-type]
                        response_minutes=response_minutes)
    return int(r.conn.execute("SELECT max(id) FROM escalations").fetchone()[0])


def summary(r: Records, *, ai_text: str, transcript: list[dict[str, Any]], procedure: str = "",
            patient_label: str | None = None) -> int:
    """A finished call with its transcript and post-call summary (AI draft `ai_text`); returns the summary id."""
    cid = call(r, patient_label=patient_label)
    outcome = ConversationOutcome(turns=[Turn(t["speaker"], t["text"]) for t in transcript],
                                  slots={"procedure": procedure} if procedure else {}, outcome="answered")
    r.save_outcome(PIPELINE, cid, outcome, build_summary(outcome), end_reason="caller-hangup")
    sid = r.store.call_row_id(cid)
    r.conn.execute("UPDATE call_summaries SET draft_text = ? WHERE call_id = ?", (ai_text, sid))
    return sid


def appointment(r: Records, *, procedure: str, starts_at: float, kind: str = "treatment",
                patient_label: str | None = None, patient_ref: str | None = None) -> int:
    pid = patient(r, label=patient_label or "", ref=patient_ref)
    start = _at(starts_at)
    return r.book_appointment(PIPELINE, int(pid or 0), "np-1", start, start + timedelta(minutes=30), procedure, kind=kind)


def aftercare(r: Records, *, procedure: str, treated_at: float, patient_ref: str | None = None,
              patient_label: str | None = None, **progress: Any) -> int:
    pid = patient(r, label=patient_label, ref=patient_ref)
    fields = {k: _at(v) if k == "review_due_at" else v for k, v in progress.items()}
    return r.followups.add_aftercare_plan(PIPELINE, int(pid or 0), procedure, _at(treated_at), **fields)
