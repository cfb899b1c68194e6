"""The rows behind the workflow-quality dashboard, read from what the store keeps: aftercare
plans (with the patient's first booking made after the treatment, by any path), calls,
escalations and reviewed summaries, each with the procedure it was about. The console turns
them into aggregates per procedure family (appliance.staff.metrics); no row leaves the console.

A booking counts whatever made it: a phone call (inbound, aftercare, front desk), the console,
the practice-management import or the clinic's calendar. All of them are `appointments` rows;
cancelled ones and the appointment the plan was made for do not count.
"""

from __future__ import annotations

from appliance.records.audit import Access
from appliance.records.base import Row, Store, rows_of
from appliance.records.db import transaction

_PLANS = (  # treated_at: coalesce(a.treated_at, a.created_at)
    "SELECT a.id, 'p' || a.patient_id AS patient_ref, a.procedure, a.workflow, "
    "coalesce(a.treated_at, a.created_at) AS treated_at, a.instructions_delivered, a.patient_responded, "
    "a.series_total, a.series_done, a.review_due_at, a.review_done, a.satisfaction, "
    "EXISTS (SELECT 1 FROM messages m WHERE m.plan_id = a.id AND m.purpose = 'review-request') AS review_requested, "
    "(SELECT min(ap.created_at) FROM appointments ap WHERE ap.patient_id = a.patient_id AND ap.status != 'cancelled' "
    "AND ap.created_at > coalesce(a.treated_at, a.created_at) AND ap.slot_start > coalesce(a.treated_at, a.created_at) "
    "AND ap.id IS NOT a.appointment_id) AS next_booking_at "
    "FROM aftercare_plans a WHERE coalesce(a.treated_at, a.created_at) >= ?")
_CALLS = ("SELECT coalesce('p' || c.patient_id, 'n' || c.caller_number) AS patient_ref, c.started_at, "
          "json_extract(s.summary, '$.procedure') AS procedure FROM calls c "
          "LEFT JOIN call_summaries s ON s.call_id = c.id WHERE c.started_at >= ?")
_ESCALATIONS = ("SELECT e.created_at, e.acknowledged_at, json_extract(s.summary, '$.procedure') AS procedure "
                "FROM escalations e LEFT JOIN call_summaries s ON s.call_id = e.call_id WHERE e.created_at >= ?")
_SUMMARIES = ("SELECT s.created_at, s.reviewed_at, s.corrections, json_extract(s.summary, '$.procedure') AS procedure "
              "FROM call_summaries s WHERE s.created_at >= ? AND s.reviewed_at IS NOT NULL")


class Quality:
    """The rows behind the workflow-quality dashboard."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def workflow_quality_rows(self, access: Access, since: str) -> dict[str, list[Row]]:
        """Rows since `since` (ISO UTC) for the dashboard's measures; ids are internal references
        (`p12`), no names. Audited (`view.quality`): they are built from patients' records."""
        q = self.conn.execute
        with transaction(self.conn):
            rows = {"aftercare": rows_of(q(_PLANS, (since,))), "calls": rows_of(q(_CALLS, (since,))),
                    "escalations": rows_of(q(_ESCALATIONS, (since,))), "summaries": rows_of(q(_SUMMARIES, (since,)))}
            self.store.audit(access, "view.quality", "quality:" + ",".join(f"{k}={len(v)}" for k, v in rows.items()))
        return rows
