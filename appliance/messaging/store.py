"""Messages, staff tasks, deposits and per-channel rights in the encrypted record store (schema 10).

Every function runs on the record store's writer thread (`AsyncRecords.run(lambda r: ...)`),
takes `r` (a `Records`), and is one transaction with its audit events, or runs inside the
caller's (the `_in` functions). A message is queued with its outbox message in one
transaction; the outbox message id is its idempotency key.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.messaging.compose import Rights
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import iso, row_of, rows_of
from appliance.records.db import DatabaseError, transaction
from appliance.records.errors import ConflictError, NotFoundError
from appliance.records.phones import normalize_phone, opted_out
from appliance.records.store import Records

DEPOSIT_NEXT = {"requested": ("sent", "paid"), "sent": ("paid",), "paid": ("refunded",)}


def address_key(channel: str, address: str) -> str:
    return normalize_phone(address) if channel == "sms" else address.strip().lower()


# -- rights ---------------------------------------------------------------------------------------
def rights_in(r: Records, patient_id: int | None, channel: str, address: str) -> Rights:
    """Consent and opt-out for one patient and channel (inside the caller's transaction)."""
    def latest(kind: str) -> bool | None:
        if patient_id is None:
            return None
        row = r.conn.execute("SELECT granted FROM consents WHERE patient_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                             (patient_id, kind)).fetchone()
        return None if row is None else bool(row[0])

    if channel == "sms":
        out = opted_out(r.conn, address, "sms")
    else:
        out = r.conn.execute("SELECT 1 FROM opt_outs WHERE phone = ? AND channel IN ('email', 'all')",
                             (address_key("email", address),)).fetchone() is not None
    return Rights(consent=latest(channel), opted_out=out, details=bool(latest("sms-details")))


def set_opt_out(r: Records, access: Access, channel: str, address: str, out: bool) -> bool:
    """Record (or lift, with START) a patient's opt-out of one channel; True when it changed."""
    key = address_key(channel, address)
    if not key:
        return False
    with transaction(r.conn):
        if out:
            cur = r.conn.execute("INSERT OR IGNORE INTO opt_outs (phone, channel, created_at) VALUES (?, ?, ?)",
                                 (key, channel, iso()))
        else:
            cur = r.conn.execute("DELETE FROM opt_outs WHERE phone = ? AND channel = ?", (key, channel))
        r.store.audit(access, "opt_out.create" if out else "opt_out.delete", f"{channel}-opt-out")
    return bool(cur.rowcount)


def record_written_consents(conn: Any, audit: Any, patient_id: int, *, email: str | None, written: tuple[str, ...],
                            sms_details: bool, source: str, stamp: str) -> None:
    """A treatment's written-aftercare consents (sms, email, details in texts) and the email
    address, inside the caller's transaction (`audit(action, subject)` appends the audit event)."""
    if email:
        conn.execute("UPDATE patients SET email = ?, updated_at = ? WHERE id = ?", (email.strip(), stamp, patient_id))
        audit("patient.update", f"patient:{patient_id}")
    for kind, granted in (("sms", "sms" in written), ("email", "email" in written), ("sms-details", sms_details)):
        conn.execute("INSERT INTO consents (patient_id, kind, granted, source, created_at) VALUES (?, ?, ?, ?, ?)",
                     (patient_id, kind, int(granted), source, stamp))
    audit("consent.create", f"patient:{patient_id}")


# -- messages -------------------------------------------------------------------------------------
def queue_in(r: Records, access: Access, *, purpose: str, subject_ref: str, channel: str, patient_id: int | None,
             recipient: str, subject: str, body: str, template: str, deposit_id: int | None = None,
             plan_id: int | None = None) -> int | None:
    """Queue one message (inside the caller's transaction); None when it was queued before."""
    key = outbox.new_id()
    dedupe = f"{purpose}:{subject_ref}:{channel}"
    try:
        cur = r.conn.execute(
            "INSERT INTO messages (msg_key, purpose, dedupe, channel, patient_id, recipient, subject, body, template, "
            "status, deposit_id, plan_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
            (key, purpose, dedupe, channel, patient_id, recipient, subject, body, template, deposit_id, plan_id, iso()))
    except DatabaseError as e:
        if "UNIQUE" in str(e):
            return None
        raise
    mid = int(cur.lastrowid or 0)
    outbox.enqueue(r.conn, f"message.{channel}", {"message_id": mid}, key)
    r.store.audit(access, "message.create", f"message:{mid}")
    return mid


def message(r: Records, access: Access, mid: int) -> dict[str, Any]:
    with transaction(r.conn):
        cur = r.conn.execute("SELECT * FROM messages WHERE id = ?", (mid,))
        row = row_of(cur, cur.fetchone())
        if row is None:
            raise NotFoundError(f"no message {mid}")
        row["rights"] = rights_in(r, row["patient_id"], row["channel"], row["recipient"])
        r.store.audit(access, "message.read", f"message:{mid}")
    return row


def mark(r: Records, access: Access, mid: int, status: str, *, error: str = "", max_attempts: int = 0) -> str:
    """A send attempt's result: 'sent', 'suppressed', or 'failed' (queued again, or 'dead' after
    `max_attempts`). A sent payment link moves its deposit from requested to sent."""
    now = iso()
    with transaction(r.conn):
        row = r.conn.execute("SELECT status, attempts, deposit_id FROM messages WHERE id = ?", (mid,)).fetchone()
        if row is None or row[0] != "queued":
            return row[0] if row else "missing"
        attempts = int(row[1]) + (status != "suppressed")
        if status == "failed":
            status = "dead" if attempts >= max_attempts else "queued"
        r.conn.execute("UPDATE messages SET status = ?, attempts = ?, last_error = ?, sent_at = ? WHERE id = ?",
                       (status, attempts, error[:200], now if status == "sent" else None, mid))
        if status == "sent" and row[2] is not None:
            r.conn.execute("UPDATE deposits SET status = 'sent', sent_at = ? WHERE id = ? AND status = 'requested'",
                           (now, row[2]))
        r.store.audit(access, "message.update", f"message:{mid}:{status}")
    return status


def retry(r: Records, access: Access, mid: int) -> None:
    """Staff send a dead letter again: queued with a fresh outbox message (the same idempotency key)."""
    with transaction(r.conn):
        row = r.conn.execute("SELECT status, channel, msg_key, recipient FROM messages WHERE id = ?", (mid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no message {mid}")
        if row[0] != "dead":
            raise ConflictError("only a dead letter can be sent again")
        if not row[3]:
            raise ConflictError("this message is past its retention (its text and address were deleted); "
                                "send the patient a new one")
        r.conn.execute("UPDATE messages SET status = 'queued', attempts = 0, last_error = '' WHERE id = ?", (mid,))
        outbox.enqueue(r.conn, f"message.{row[1]}", {"message_id": mid, "retry": True})
        r.store.audit(access, "message.update", f"message:{mid}:retry")


def recent(r: Records, access: Access, limit: int = 200) -> list[dict[str, Any]]:
    """The latest messages for the console (no bodies), dead letters first."""
    with transaction(r.conn):
        cur = r.conn.execute(
            "SELECT m.id, m.purpose, m.channel, m.status, m.attempts, m.last_error, m.created_at, m.sent_at, "
            "m.plan_id, a.review_done, coalesce(p.name, 'patient #' || m.patient_id) AS patient_label FROM messages m "
            "LEFT JOIN patients p ON p.id = m.patient_id LEFT JOIN aftercare_plans a ON a.id = m.plan_id "
            "ORDER BY (m.status = 'dead') DESC, m.id DESC LIMIT ?", (limit,))
        rows = rows_of(cur)
        r.store.audit(access, "message.read", f"messages:{len(rows)}")
    return rows


def written_sent(r: Records, plan_id: int) -> str | None:
    """The channel the plan's written instructions went out on ('sms' or 'email'), if any."""
    row = r.conn.execute("SELECT channel FROM messages WHERE plan_id = ? AND purpose = 'aftercare-instructions' "
                         "AND status = 'sent' ORDER BY channel = 'email' DESC LIMIT 1", (plan_id,)).fetchone()
    return None if row is None else str(row[0])


# -- staff tasks ----------------------------------------------------------------------------------
def add_task_in(r: Records, access: Access, kind: str, dedupe: str, *, patient_id: int | None = None,
                deposit_id: int | None = None, plan_id: int | None = None, detail: dict[str, Any] | None = None) -> int | None:
    cur = r.conn.execute(
        "INSERT OR IGNORE INTO staff_tasks (kind, dedupe, patient_id, deposit_id, plan_id, detail, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
        (kind, dedupe, patient_id, deposit_id, plan_id, json.dumps(detail or {}, sort_keys=True), iso()))
    if not cur.rowcount:
        return None
    tid = int(cur.lastrowid or 0)
    outbox.enqueue(r.conn, "task.created", {"id": tid, "category": kind})
    r.store.audit(access, "task.create", f"task:{tid}")
    return tid


def tasks(r: Records, access: Access, include_done: bool = False) -> list[dict[str, Any]]:
    with transaction(r.conn):
        cur = r.conn.execute(
            "SELECT t.id, t.kind, t.status, t.detail, t.created_at, t.done_at, t.done_by, t.deposit_id, t.plan_id, "
            "coalesce(p.name, 'patient #' || t.patient_id) AS patient_label, p.phone, d.amount_cents, d.currency, "
            "d.status AS deposit_status, d.link FROM staff_tasks t LEFT JOIN patients p ON p.id = t.patient_id "
            "LEFT JOIN deposits d ON d.id = t.deposit_id WHERE (? OR t.status = 'open') ORDER BY t.id DESC LIMIT 200",
            (int(include_done),))
        rows = rows_of(cur)
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
        r.store.audit(access, "task.read", f"tasks:{len(rows)}")
    return rows


def finish_task(r: Records, access: Access, tid: int, by: str) -> None:
    with transaction(r.conn):
        cur = r.conn.execute("UPDATE staff_tasks SET status = 'done', done_at = ?, done_by = ? WHERE id = ? "
                             "AND status = 'open'", (iso(), by, tid))
        if not cur.rowcount:
            raise ConflictError("the task is done already, or does not exist")
        outbox.enqueue(r.conn, "task.done", {"id": tid, "by": by})
        r.store.audit(access, "task.update", f"task:{tid}")


# -- deposits -------------------------------------------------------------------------------------
def deposit_in(r: Records, did: int) -> dict[str, Any] | None:
    cur = r.conn.execute("SELECT d.*, a.slot_start, p.name, p.phone, p.email FROM deposits d "
                         "LEFT JOIN appointments a ON a.id = d.appointment_id JOIN patients p ON p.id = d.patient_id "
                         "WHERE d.id = ?", (did,))
    return row_of(cur, cur.fetchone())


def move_deposit_in(r: Records, access: Access, did: int, status: str, by: str) -> bool:
    """requested -> sent -> paid (and paid -> refunded); False when the move is not allowed
    (already there: a repeated callback changes nothing)."""
    row = r.conn.execute("SELECT status FROM deposits WHERE id = ?", (did,)).fetchone()
    if row is None:
        raise NotFoundError(f"no deposit {did}")
    if status not in DEPOSIT_NEXT.get(str(row[0]), ()):
        return False
    stamp = iso()
    column = {"sent": "sent_at", "paid": "paid_at"}.get(status)
    extra = f", {column} = coalesce({column}, ?)" if column else ""
    r.conn.execute(f"UPDATE deposits SET status = ?, updated_by = ?{extra} WHERE id = ?",  # noqa: S608 (fixed names)
                   (status, by, *((stamp,) if column else ()), did))
    outbox.enqueue(r.conn, "deposit.updated", {"id": did, "level": status, "by": by})
    r.store.audit(access, "deposit.update", f"deposit:{did}:{status}")
    return True


def move_deposit(r: Records, access: Access, did: int, status: str, by: str) -> bool:
    with transaction(r.conn):
        return move_deposit_in(r, access, did, status, by)


def deposit_by_reference(r: Records, reference: str) -> int | None:
    row = r.conn.execute("SELECT id FROM deposits WHERE reference = ?", (reference,)).fetchone()
    return None if row is None else int(row[0])


def callback_fresh(r: Records, digest: str, cutoff: str) -> bool:
    """True the first time a signed callback is seen (its signature's digest is kept for a day)."""
    with transaction(r.conn):
        r.conn.execute("DELETE FROM callbacks_seen WHERE seen_at < ?", (cutoff,))
        cur = r.conn.execute("INSERT OR IGNORE INTO callbacks_seen (digest, seen_at) VALUES (?, ?)", (digest, iso()))
    return bool(cur.rowcount)
