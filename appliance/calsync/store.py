"""Calendar sync in the encrypted record store (schema 9): the calendars as last read (times
only), each appointment's place in its provider's calendar, and the changes sync makes to
appointments (cancelled or moved in the calendar, refused at write time).

Every function runs on the record store's writer thread (`AsyncRecords.run(lambda r: ...)`);
each change is one transaction with its audit event and outbox message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.calsync.client import Pulled, PullState
from appliance.calsync.decide import Appointment
from appliance.calsync.ical import Interval, RemoteEvent
from appliance.conversation import Escalation
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.base import OnStore, iso
from appliance.records.db import DatabaseError, transaction
from appliance.records.queue import insert_escalation

ACCESS = Access(actor="system:calendar", reason="clinic calendar sync")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- the calendars ---------------------------------------------------------------------------
def register(r: OnStore, collections: dict[str, str], now: datetime) -> None:
    """Record each provider's calendar; a provider whose calendar moved is read afresh. `since`
    is set once: appointments made before sync was turned on are never written."""
    with transaction(r.conn):
        for provider, url in collections.items():
            row = r.conn.execute("SELECT url FROM calendar_collections WHERE provider = ?", (provider,)).fetchone()
            if row is None:
                r.conn.execute("INSERT INTO calendar_collections (provider, url, since) VALUES (?, ?, ?)",
                               (provider, url, iso(now)))
            elif row[0] != url:
                r.conn.execute("UPDATE calendar_collections SET url = ?, sync_token = NULL, ctag = NULL, "
                               "mode = 'sync-token', full_at = NULL WHERE provider = ?", (url, provider))
                r.conn.execute("DELETE FROM calendar_events WHERE provider = ?", (provider,))
                r.conn.execute("DELETE FROM calendar_busy WHERE provider = ?", (provider,))


def pull_state(r: OnStore, provider: str, full: bool) -> PullState:
    """What was known of the provider's calendar; `full`: forget the token (read everything again)."""
    token, ctag, mode = r.conn.execute("SELECT sync_token, ctag, mode FROM calendar_collections WHERE provider = ?",
                                       (provider,)).fetchone()
    etags = dict(r.conn.execute("SELECT href, etag FROM calendar_events WHERE provider = ?", (provider,)).fetchall())
    if full:
        return PullState(None, None, mode, {})
    return PullState(token, ctag, mode, etags)


def full_read_due(r: OnStore, provider: str, before: datetime) -> bool:
    row = r.conn.execute("SELECT full_at FROM calendar_collections WHERE provider = ?", (provider,)).fetchone()
    return row is None or row[0] is None or row[0] < iso(before)


def apply_pull(r: OnStore, provider: str, pulled: Pulled, events: list[RemoteEvent], now: datetime) -> None:
    """Store what was read: changed resources replace their rows, removed ones go; a full read
    also drops every resource it did not list."""
    with transaction(r.conn):
        gone = set(pulled.removed)
        if pulled.listed is not None:
            known = {h for (h,) in r.conn.execute("SELECT href FROM calendar_events WHERE provider = ?", (provider,))}
            gone |= known - pulled.listed
        for href in gone | {ev.href for ev in events}:
            r.conn.execute("DELETE FROM calendar_events WHERE provider = ? AND href = ?", (provider, href))
            r.conn.execute("DELETE FROM calendar_busy WHERE provider = ? AND href = ?", (provider, href))
        for ev in events:
            first = ev.first or (None, None)
            r.conn.execute("INSERT INTO calendar_events (provider, href, uid, etag, cancelled, first_start, first_end) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (provider, ev.href, ev.uid, ev.etag, int(ev.cancelled),
                            iso(first[0]) if first[0] else None, iso(first[1]) if first[1] else None))
            r.conn.executemany("INSERT INTO calendar_busy (provider, href, starts_at, ends_at) VALUES (?, ?, ?, ?)",
                               [(provider, ev.href, iso(a), iso(b)) for a, b in ev.busy])
        full = ", full_at = ?" if pulled.listed is not None else ""
        args = (pulled.token, pulled.ctag, pulled.mode, iso(now)) + ((iso(now),) if full else ()) + (provider,)
        r.conn.execute(f"UPDATE calendar_collections SET sync_token = ?, ctag = ?, mode = ?, synced_at = ?{full} "  # noqa: S608
                       "WHERE provider = ?", args)


def events_of(r: OnStore, provider: str) -> list[RemoteEvent]:
    rows = r.conn.execute("SELECT href, etag, uid, cancelled, first_start, first_end FROM calendar_events "
                          "WHERE provider = ?", (provider,)).fetchall()
    busy: dict[str, list[Interval]] = {}
    for href, a, b in r.conn.execute("SELECT href, starts_at, ends_at FROM calendar_busy WHERE provider = ?",
                                      (provider,)):
        busy.setdefault(href, []).append((datetime.fromisoformat(a), datetime.fromisoformat(b)))
    out = []
    for href, etag, uid, cancelled, fs, fe in rows:
        first = (datetime.fromisoformat(fs), datetime.fromisoformat(fe)) if fs and fe else None
        out.append(RemoteEvent(href, etag, uid, tuple(busy.get(href, [])), bool(cancelled), first))
    return out


def busy_spans(r: OnStore, since: datetime) -> list[tuple[str, datetime, datetime]]:
    """(provider, start, end) of every busy time in the calendars ending after `since` (UTC)."""
    rows = r.conn.execute("SELECT provider, starts_at, ends_at FROM calendar_busy WHERE ends_at > ? "
                          "ORDER BY starts_at", (iso(since),)).fetchall()
    return [(str(p), datetime.fromisoformat(a), datetime.fromisoformat(b)) for p, a, b in rows]


# -- appointments ----------------------------------------------------------------------------
def appointments(r: OnStore, providers: list[str], since: datetime) -> list[Appointment]:
    """The appointments sync looks after: those it has written or must write (booked on a
    mapped provider after sync was turned on for them), ending after `since`."""
    rows = r.conn.execute(
        "SELECT a.id, a.provider, a.slot_start, a.slot_end, a.status, a.cal_state, a.cal_uid, a.cal_href, a.cal_etag, "
        "a.cal_start, a.cal_end FROM appointments a JOIN calendar_collections k ON k.provider = a.provider "
        "WHERE a.slot_end > ? AND (a.cal_state IN ('unconfirmed', 'confirmed') OR "
        "(a.cal_state IS NULL AND a.created_at >= k.since)) ORDER BY a.slot_start", (iso(since),)).fetchall()
    return [Appointment(int(i), str(p), datetime.fromisoformat(s), datetime.fromisoformat(e), str(st), cs, uid, href,
                        etag, _dt(c0), _dt(c1)) for i, p, s, e, st, cs, uid, href, etag, c0, c1 in rows
            if p in providers]


def own_uids(r: OnStore) -> set[str]:
    return {u for (u,) in r.conn.execute("SELECT cal_uid FROM appointments WHERE cal_uid IS NOT NULL")}


def claim_uid(r: OnStore, aid: int, uid: str, href: str) -> tuple[str, str]:
    """The appointment's event UID and resource, chosen once (before the first write)."""
    with transaction(r.conn):
        r.conn.execute("UPDATE appointments SET cal_uid = ?, cal_href = ? WHERE id = ? AND cal_uid IS NULL",
                       (uid, href, aid))
        row = r.conn.execute("SELECT cal_uid, cal_href FROM appointments WHERE id = ?", (aid,)).fetchone()
    return str(row[0]), str(row[1])


def event_facts(r: OnStore, aid: int, details: bool) -> dict[str, Any]:
    """What the appointment's event says: the patient's reference (the practice-management id,
    else the appliance's patient number); name and procedure only with `details`. Audited:
    this is what leaves the box."""
    with transaction(r.conn):
        row = r.conn.execute("SELECT a.patient_id, p.ref, p.name, a.procedure, a.call_id FROM appointments a "
                             "JOIN patients p ON p.id = a.patient_id WHERE a.id = ?", (aid,)).fetchone()
        r.store.audit(ACCESS, "appointment.calendar_write", f"appointment:{aid}")
    pid, ref, name, procedure, call_id = row
    return {"patient_ref": ref or f"#{pid}", "name": name if details else None,
            "procedure": procedure if details else None, "phone": call_id is not None}


def mark(r: OnStore, aid: int, state: str, *, etag: str | None = None, span: Interval | None = None,
         href: str | None = None) -> None:
    """Set the appointment's calendar state (and, when given, the event's ETag, times, resource)."""
    sets = ["cal_state = ?"]
    args: list[str | None] = [state]
    if state == "confirmed":
        sets.append("cal_etag = ?")
        args.append(etag)
    if span is not None:
        sets += ["cal_start = ?", "cal_end = ?"]
        args += [iso(span[0]), iso(span[1])]
    if href is not None:
        sets.append("cal_href = ?")
        args.append(href)
    with transaction(r.conn):
        r.conn.execute(f"UPDATE appointments SET {', '.join(sets)} WHERE id = ?", (*args, aid))  # noqa: S608


def mark_unconfirmed(r: OnStore, ids: list[int]) -> None:
    with transaction(r.conn):
        r.conn.executemany("UPDATE appointments SET cal_state = 'unconfirmed' WHERE id = ? AND cal_state IS NULL",
                           [(i,) for i in ids])


def cancel_local(r: OnStore, aid: int) -> None:
    """The appointment's event was deleted (or cancelled) in the clinic's calendar."""
    with transaction(r.conn):
        # when and how, as a cancellation on the box records it; lateness and the deposit are left
        # undecided (NULL): the calendar does not say, staff decide
        r.conn.execute("UPDATE appointments SET status = 'cancelled', cal_state = 'removed', cancelled_at = ?, "
                       "changed_via = 'calendar' WHERE id = ? AND status = 'booked'", (iso(), aid))
        outbox.enqueue(r.conn, "appointment.cancelled", {"appointment_id": aid, "source": "calendar"})
        r.store.audit(ACCESS, "appointment.update", f"appointment:{aid}:cancelled in calendar")


def move_local(r: OnStore, aid: int, remote: RemoteEvent) -> bool:
    """The appointment's event was moved in the clinic's calendar: the appointment follows.
    False (and a staff escalation) when the new time is another appointment's slot."""
    assert remote.first is not None
    start, end = remote.first
    with transaction(r.conn):
        r.conn.execute("SAVEPOINT cal_move")
        try:
            r.conn.execute("UPDATE appointments SET slot_start = ?, slot_end = ?, cal_start = ?, cal_end = ?, "
                           "cal_etag = ?, confirmed_at = NULL, changed_via = 'calendar' WHERE id = ?",
                           (iso(start), iso(end), iso(start), iso(end), remote.etag, aid))
        except DatabaseError as e:
            r.conn.execute("ROLLBACK TO cal_move")
            if "UNIQUE" not in str(e):
                raise
            _escalate(r, aid, f"appointment #{aid} was moved in the clinic calendar onto another appointment's "
                              "slot: check both with the patients")
            r.conn.execute("UPDATE appointments SET cal_state = 'conflict' WHERE id = ?", (aid,))
            return False
        r.conn.execute("RELEASE cal_move")
        outbox.enqueue(r.conn, "appointment.moved", {"appointment_id": aid, "slot_start": iso(start), "source": "calendar"})
        r.store.audit(ACCESS, "appointment.update", f"appointment:{aid}:moved in calendar")
    return True


def refuse(r: OnStore, aid: int) -> None:
    """A booking whose slot was taken in the calendar before it could be written: cancelled, and
    the existing booking-conflict escalation (staff call the patient back to rebook)."""
    with transaction(r.conn):
        r.conn.execute("UPDATE appointments SET status = 'cancelled', cal_state = 'conflict' WHERE id = ?", (aid,))
        _escalate(r, aid, f"appointment #{aid}: the slot the caller accepted was taken in the clinic calendar "
                          "meanwhile: call back to rebook")
        outbox.enqueue(r.conn, "appointment.cancelled", {"appointment_id": aid, "source": "calendar-conflict"})
        r.store.audit(ACCESS, "appointment.update", f"appointment:{aid}:calendar conflict")


def revert(r: OnStore, aid: int) -> None:
    """A move made on the box whose new slot was taken in the calendar: the appointment keeps the
    time it holds in the calendar, and staff are asked to call the patient."""
    with transaction(r.conn):
        r.conn.execute("UPDATE appointments SET slot_start = cal_start, slot_end = cal_end WHERE id = ?", (aid,))
        _escalate(r, aid, f"appointment #{aid} could not be moved: the new slot was taken in the clinic calendar; "
                          "it stays at its earlier time: call the patient")
        outbox.enqueue(r.conn, "appointment.moved", {"appointment_id": aid, "source": "calendar-conflict"})
        r.store.audit(ACCESS, "appointment.update", f"appointment:{aid}:move refused by calendar")


def _escalate(r: OnStore, aid: int, detail: str) -> None:
    row = r.conn.execute("SELECT call_id FROM appointments WHERE id = ?", (aid,)).fetchone()
    cid = row[0] if row else None
    turn = r.conn.execute("SELECT coalesce(max(idx), 0) FROM turns WHERE call_id = ?", (cid,)).fetchone() if cid else (0,)
    insert_escalation(r.conn, cid, Escalation("routine", "booking-conflict", int(turn[0]), detail))
    r.store.audit(ACCESS, "escalation.create", f"call:{cid}" if cid else f"appointment:{aid}")
