"""Export for the practice-management system, started by a member of staff and audited:
CSV (one row per record) or a FHIR-style JSON Bundle (Appointment, Task for escalations,
Communication for reviewed call summaries). Patients are named by the clinic's own reference."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from appliance.staff.repo import StaffRepo

CSV_FIELDS = ("record_type", "id", "patient_ref", "patient_label", "created_at", "status", "kind", "severity", "text")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(data: dict[str, list[dict[str, Any]]]) -> str:
    rows: list[dict[str, Any]] = []
    for a in data["appointments"]:
        rows.append({"record_type": "appointment", "id": a["id"], "patient_ref": a["patient_ref"],
                     "patient_label": a["patient_label"], "created_at": _iso(a["starts_at"]), "status": a["status"],
                     "kind": a["kind"], "severity": "", "text": a["procedure"]})
    for x in data["escalations"]:
        rows.append({"record_type": "escalation", "id": x["id"], "patient_ref": x["patient_ref"],
                     "patient_label": x["patient_label"], "created_at": _iso(x["created_at"]), "status": x["status"],
                     "kind": x["category"], "severity": x["severity"], "text": x["resolution_note"] or x["detail"]})
    for s in data["summaries"]:
        rows.append({"record_type": "summary", "id": s["id"], "patient_ref": s["patient_ref"],
                     "patient_label": s["patient_label"], "created_at": _iso(s["created_at"]), "status": s["status"],
                     "kind": s["procedure"], "severity": "", "text": s["text"]})
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _safe_cell(v) for k, v in row.items()})
    return out.getvalue()


def _patient(ref: str | None) -> dict[str, Any] | None:
    return {"identifier": {"system": "urn:clinic:patient", "value": ref}} if ref else None


def to_fhir(data: dict[str, list[dict[str, Any]]], now: float) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for a in data["appointments"]:
        res = {"resourceType": "Appointment", "id": f"appt-{a['id']}",
               "status": {"booked": "booked", "cancelled": "cancelled", "completed": "fulfilled"}.get(a["status"], "proposed"),
               "serviceType": [{"text": a["procedure"]}], "appointmentType": {"text": a["kind"]},
               "start": _iso(a["starts_at"])}
        if _patient(a["patient_ref"]):
            res["participant"] = [{"actor": _patient(a["patient_ref"]), "status": "accepted"}]
        entries.append({"fullUrl": f"urn:clinic:appointment:{a['id']}", "resource": res})
    for x in data["escalations"]:
        res = {"resourceType": "Task", "id": f"esc-{x['id']}", "intent": "order",
               "status": {"open": "requested", "acknowledged": "accepted", "resolved": "completed"}[x["status"]],
               "priority": {"emergency": "stat", "urgent": "urgent", "routine": "routine"}[x["severity"]],
               "code": {"text": x["category"]}, "description": x["detail"], "authoredOn": _iso(x["created_at"]),
               "restriction": {"period": {"end": _iso(x["deadline_at"])}}}
        if x["resolution_note"]:
            res["note"] = [{"text": x["resolution_note"], "authorString": x["resolved_by"]}]
        if _patient(x["patient_ref"]):
            res["for"] = _patient(x["patient_ref"])
        entries.append({"fullUrl": f"urn:clinic:escalation:{x['id']}", "resource": res})
    for s in data["summaries"]:
        res = {"resourceType": "Communication", "id": f"sum-{s['id']}", "status": "completed",
               "category": [{"text": "call-summary"}], "topic": {"text": s["procedure"]},
               "sent": _iso(s["created_at"]), "payload": [{"contentString": s["text"]}]}
        if _patient(s["patient_ref"]):
            res["subject"] = _patient(s["patient_ref"])
        entries.append({"fullUrl": f"urn:clinic:summary:{s['id']}", "resource": res})
    return {"resourceType": "Bundle", "type": "collection", "timestamp": _iso(now), "total": len(entries),
            "entry": entries}


class Exporter:
    """Both formats from the record store's export rows; the record store audits each export."""

    def __init__(self, repo: StaffRepo) -> None:
        self.repo = repo

    async def csv(self, actor: str) -> str:
        return to_csv(await self.repo.export_data(actor, "csv"))

    async def fhir(self, actor: str) -> str:
        return json.dumps(to_fhir(await self.repo.export_data(actor, "fhir"), self.repo.clock()), indent=1)
