"""Go-live state in the encrypted record store, in its `meta` table (no schema change): the
pilot's workflows an admin turned on and the supervised period (`golive:state`), which
workflow each call used (`golive:call:<call key>`), and the actions held for staff review in
the supervised period (`golive:hold:<id>`, they may carry patient data: encrypted like the rest).

Every function runs on the record store's writer thread (`AsyncRecords.run(lambda r: ...)`);
each change is one transaction with its audit event.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from appliance.records.audit import Access
from appliance.records.base import OnStore, iso
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError

STATE = "golive:state"
CALL = "golive:call:"
HOLD = "golive:hold:"


def _get(r: OnStore, name: str) -> dict[str, Any] | None:
    row = r.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else json.loads(bytes(row[0]).decode("utf-8"))


def _put(r: OnStore, name: str, value: dict[str, Any]) -> None:
    r.conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   (name, json.dumps(value, sort_keys=True).encode("utf-8")))


def load_state(r: OnStore) -> dict[str, Any]:
    return _get(r, STATE) or {"enabled_workflows": [], "supervised_started_at": None, "supervised_ended_at": None,
                              "supervised_ended_by": None}


def change_state(r: OnStore, access: Access, action: str, subject: str, **changes: Any) -> dict[str, Any]:
    with transaction(r.conn):
        state = load_state(r)
        state.update(changes)
        _put(r, STATE, state)
        r.store.audit(access, action, subject)
    return state


def note_call(r: OnStore, access: Access, call_key: str, workflow: str | None, call_type: str | None,
              supervised: bool) -> None:
    with transaction(r.conn):
        _put(r, CALL + call_key, {"workflow": workflow, "call_type": call_type, "supervised": supervised, "at": iso()})
        r.store.audit(access, "golive.call", f"call:{call_key}")


def workflow_counts(r: OnStore) -> dict[str, dict[str, int]]:
    """Per workflow: calls handled, of those reviewed (summary approved as final), and supervised."""
    out: dict[str, dict[str, int]] = {}
    for name, value in r.conn.execute("SELECT name, value FROM meta WHERE name LIKE 'golive:call:%'").fetchall():
        data = json.loads(bytes(value).decode("utf-8"))
        wf = data.get("workflow") or "(none)"
        row = r.conn.execute("SELECT s.status FROM calls c JOIN call_summaries s ON s.call_id = c.id "
                             "WHERE c.call_key = ?", (name[len(CALL):],)).fetchone()
        counts = out.setdefault(wf, {"handled": 0, "reviewed": 0, "supervised": 0})
        counts["handled"] += 1
        counts["reviewed"] += int(row is not None and row[0] == "final")
        counts["supervised"] += int(bool(data.get("supervised")))
    return out


def add_hold(r: OnStore, access: Access, call_key: str, workflow: str | None, kind: str, payload: dict[str, Any]) -> str:
    hid = secrets.token_hex(6)
    with transaction(r.conn):
        _put(r, HOLD + hid, {"id": hid, "call_key": call_key, "workflow": workflow, "kind": kind, "payload": payload,
                             "created_at": iso(), "status": "held", "reviewed_by": None, "reviewed_at": None})
        r.store.audit(access, "golive.hold", f"hold:{hid}")
    return hid


def holds(r: OnStore, access: Access, status: str | None = "held") -> list[dict[str, Any]]:
    """Held actions (audited: they carry patient data), oldest first."""
    rows = [json.loads(bytes(v).decode("utf-8"))
            for _, v in r.conn.execute("SELECT name, value FROM meta WHERE name LIKE 'golive:hold:%'").fetchall()]
    rows = [h for h in rows if status is None or h["status"] == status]
    rows.sort(key=lambda h: h["created_at"])
    with transaction(r.conn):
        r.store.audit(access, "golive.holds.view", f"holds:{len(rows)}")
    return rows


def held_count(r: OnStore) -> int:
    return sum(1 for (v,) in r.conn.execute("SELECT value FROM meta WHERE name LIKE 'golive:hold:%'").fetchall()
               if json.loads(bytes(v).decode("utf-8"))["status"] == "held")


def claim_hold(r: OnStore, access: Access, hid: str, status: str, by: str) -> dict[str, Any]:
    """Mark a held action released or discarded (once); returns it."""
    with transaction(r.conn):
        hold = _get(r, HOLD + hid)
        if hold is None:
            raise NotFoundError(f"no held action {hid}")
        if hold["status"] != "held":
            raise ConflictError(f"held action {hid} is already {hold['status']}")
        hold.update(status=status, reviewed_by=by, reviewed_at=iso())
        _put(r, HOLD + hid, hold)
        r.store.audit(access, f"golive.hold.{status}", f"hold:{hid}")
    return hold
