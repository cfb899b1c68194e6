"""Appointments and the aftercare pipeline as staff see them, the rows behind the quality
dashboard (aggregated by the console, no PHI leaves), and the practice-management export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, rows_of
from appliance.records.db import transaction
from appliance.records.errors import NotFoundError, RecordsError
from appliance.records.queue import _SELECT as _ESCALATIONS
from appliance.records.queue import _shape as _escalation
from appliance.records.review import _SELECT as _SUMMARIES
from appliance.records.review import _shape as _summary

PROGRESS = ("stage", "instructions_delivered", "patient_responded", "series_total", "series_done", "review_due_at",
            "review_done", "rebooked", "satisfaction")

CHECK_IN_OPEN = timedelta(days=2)  # how long a check-in stays callable after its due time

_AFTERCARE = (
    "SELECT a.id, p.ref AS patient_ref, coalesce(p.name, '') AS patient_label, a.procedure, "
    "coalesce(a.treated_at, a.created_at) AS treated_at, a.stage, a.instructions_delivered, a.patient_responded, "
    "a.series_total, a.series_done, a.review_due_at, a.review_done, a.rebooked, a.satisfaction, "
    "(SELECT count(*) FROM aftercare_contacts k WHERE k.plan_id = a.id AND k.state = 'completed') AS contacts, "
    "(SELECT min(k.next_at) FROM aftercare_contacts k WHERE k.plan_id = a.id AND k.state = 'due') "
    "AS next_contact_at FROM aftercare_plans a JOIN patients p ON p.id = a.patient_id")

_APPOINTMENTS = (
    "SELECT a.id, p.ref AS patient_ref, coalesce(p.name, '') AS patient_label, coalesce(a.procedure, '') AS procedure, "
    "a.kind, a.provider, a.slot_start AS starts_at, a.status, a.cal_state AS calendar "
    "FROM appointments a JOIN patients p ON p.id = a.patient_id")


def _progress(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(PROGRESS)
    if unknown:
        raise RecordsError(f"unknown aftercare fields {sorted(unknown)}", fix=f"use: {', '.join(PROGRESS)}")
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}


class FollowUps:
    """Aftercare plans and their progress, the aftercare and appointment lists staff see, and
    the practice-management export."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def add_aftercare_plan(self, access: Access, patient_id: int, procedure: str, treated_at: datetime, *,
                           appointment_id: int | None = None, pack: str | None = None,
                           contact_days: dict[int, datetime] | None = None, **progress: Any) -> int:
        """An aftercare plan for a treatment, its scheduled check-in contacts (day -> due time)
        and any progress already known."""
        fields = _progress(progress)
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO aftercare_plans (patient_id, appointment_id, procedure, pack, treated_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (patient_id, appointment_id, procedure, pack, iso(treated_at), iso()))
            pid = int(cur.lastrowid or 0)
            self._set_progress(pid, fields)
            now = iso()
            self.conn.executemany(  # day-N check-ins, open for two days like the scheduler's (appliance.scheduler.plan)
                "INSERT INTO aftercare_contacts (plan_id, kind, day, due_at, expires_at, next_at, created_at, updated_at) "
                "VALUES (?, 'check-in', ?, ?, ?, ?, ?, ?)",
                [(pid, day, iso(due), iso(due + CHECK_IN_OPEN), iso(due), now, now)
                 for day, due in sorted((contact_days or {}).items())])
            self.store.audit(access, "aftercare.create", f"aftercare_plan:{pid}")
        return pid

    def update_aftercare(self, access: Access, plan_id: int, **progress: Any) -> None:
        fields = _progress(progress)
        with transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM aftercare_plans WHERE id = ?", (plan_id,)).fetchone() is None:
                raise NotFoundError(f"no aftercare plan {plan_id}")
            self._set_progress(plan_id, fields)
            self.store.audit(access, "aftercare.update", f"aftercare_plan:{plan_id}:" + ",".join(sorted(fields)))

    def _set_progress(self, plan_id: int, fields: dict[str, Any]) -> None:
        for name, value in fields.items():  # names checked against PROGRESS
            self.conn.execute(f"UPDATE aftercare_plans SET {name} = ? WHERE id = ?", (value, plan_id))  # noqa: S608

    def aftercare_pipeline(self, access: Access, limit: int = 500) -> list[Row]:
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(_AFTERCARE + " ORDER BY treated_at DESC LIMIT ?", (limit,)))  # noqa: S608
            self.store.audit(access, "view.aftercare", "aftercare_plans:" + ",".join(str(r["id"]) for r in rows))
        return rows

    def appointment_list(self, access: Access, limit: int = 500) -> list[Row]:
        with transaction(self.conn):
            rows = rows_of(self.conn.execute(_APPOINTMENTS + " ORDER BY a.slot_start LIMIT ?", (limit,)))  # noqa: S608
            self.store.audit(access, "view.appointments", "appointments:" + ",".join(str(r["id"]) for r in rows))
        return rows

    def export_rows(self, access: Access, fmt: str) -> dict[str, list[Row]]:
        """Appointments, escalations and final summaries for the practice-management system."""
        with transaction(self.conn):
            data = {
                "appointments": rows_of(self.conn.execute(_APPOINTMENTS + " ORDER BY a.id")),  # noqa: S608
                "escalations": [_escalation(r) for r in rows_of(self.conn.execute(_ESCALATIONS + " ORDER BY e.id"))],  # noqa: S608
                "summaries": [_summary(r) for r in rows_of(self.conn.execute(
                    _SUMMARIES + " WHERE s.status = 'final' ORDER BY s.call_id"))],  # noqa: S608
            }
            self.store.audit(access, f"export.{fmt}", "export:" + ",".join(f"{k}={len(v)}" for k, v in data.items()))
        return data
