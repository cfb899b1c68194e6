"""Satisfaction and review requests after a follow-up call, and review completion (writer thread).

The rule (docs/protocols.md#satisfaction-and-review-requests):

  - the satisfaction answer (1 to 5) of a treatment's last check-in is kept on its aftercare plan;
  - a review request is queued only when that answer is 4 or 5, nothing was raised on the call
    (no concern, complaint, red flag or escalation) nor earlier in the treatment's follow-up,
    the clinic has a message channel, the pack has an approved `review_request` text, and the
    patient consented to the channel and has not opted out of it (checked again before it is
    sent). One message, on the first channel that can carry it (text, else email);
  - a review is recorded as left when the patient says so on a follow-up call, or when staff
    or the clinic's review system call `POST /api/reviews/{plan_id}/completed`.

Every function takes `r` (a `Records`), is one transaction with its audit events, and logs no PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.messaging import store
from appliance.messaging.compose import may_send, render
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.db import transaction
from appliance.records.errors import NotFoundError
from appliance.records.store import Records

PURPOSE = "review-request"
REVIEW_SCORES = (4, 5)  # a review is asked for only after one of these answers


@dataclass(frozen=True)
class FollowupResult:
    satisfaction: int | None = None  # stored on the plan
    review_requested: int | None = None  # the queued message's id
    review_done: bool = False  # newly recorded from the patient's words


def may_request_review(score: int | None, raised_now: bool, raised_before: bool) -> bool:
    """Pure: a review is asked for only after a 4 or a 5, and never after a concern, a complaint,
    a red flag or an escalation on the call or earlier in the treatment's follow-up."""
    return score in REVIEW_SCORES and not raised_now and not raised_before


def _raised_in(r: Records, plan_id: int) -> bool:
    """A concern, complaint or escalation in the plan's follow-up so far (True for an unknown plan)."""
    plan = r.conn.execute("SELECT patient_id, coalesce(treated_at, created_at) FROM aftercare_plans WHERE id = ?",
                          (plan_id,)).fetchone()
    if plan is None:
        return True
    contact = r.conn.execute("SELECT 1 FROM aftercare_contacts WHERE plan_id = ? AND (concern = 1 OR escalated = 1) "
                             "LIMIT 1", (plan_id,)).fetchone()
    escalation = r.conn.execute("SELECT 1 FROM escalations e JOIN calls c ON c.id = e.call_id WHERE c.patient_id = ? "
                                "AND e.created_at >= ? LIMIT 1", (plan[0], plan[1])).fetchone()
    return contact is not None or escalation is not None


def followup_raised(r: Records, access: Access, plan_id: int) -> bool:
    """Whether anything was raised earlier in this treatment's follow-up: its aftercare calls, and
    escalations (complaints included) on any call of the patient since the treatment."""
    with transaction(r.conn):
        raised = _raised_in(r, plan_id)
        r.store.audit(access, "aftercare_plan.read", f"plan:{plan_id}:raised")
    return raised


def _queue_request(r: Records, access: Access, pack: Any, plan_id: int, channels: tuple[str, ...]) -> int | None:
    template = getattr(getattr(pack, "messages", None), "review_request", None)
    if template is None or not channels:
        return None
    row = r.conn.execute("SELECT p.id, p.name, p.phone, p.email FROM aftercare_plans a JOIN patients p "
                         "ON p.id = a.patient_id WHERE a.id = ?", (plan_id,)).fetchone()
    if row is None:
        return None
    patient_id, name, phone, email = row
    for channel, address in (("sms", phone), ("email", email)):
        if channel not in channels or not address:
            continue
        ok, _why = may_send(PURPOSE, store.rights_in(r, patient_id, channel, address))
        text = render(pack, PURPOSE, channel, {"link": template.link, "name": name}) if ok else None
        if text is None:
            continue
        return store.queue_in(r, access, purpose=PURPOSE, subject_ref=f"plan-{plan_id}", channel=channel,
                              patient_id=patient_id, recipient=address, subject=text.subject, body=text.body,
                              template=text.template, plan_id=plan_id)
    return None


def _mark_done_in(r: Records, access: Access, plan_id: int, via: str) -> bool:
    cur = r.conn.execute("UPDATE aftercare_plans SET review_done = 1 WHERE id = ? AND review_done = 0", (plan_id,))
    r.store.audit(access, "aftercare.update", f"aftercare_plan:{plan_id}:review_done:{via}")
    if cur.rowcount:
        outbox.enqueue(r.conn, "review.completed", {"id": plan_id, "via": via})
    return bool(cur.rowcount)


def record_followup(r: Records, access: Access, pack: Any, plan_id: int, slots: dict[str, Any], *, raised: bool,
                    channels: tuple[str, ...]) -> FollowupResult:
    """What a follow-up call said about satisfaction and reviews, kept on the plan; the review
    request queued when the rule allows it. `raised`: a concern, complaint, red flag or escalation
    came up on this call."""
    score = slots.get("satisfaction")
    score = score if isinstance(score, int) and 1 <= score <= 5 else None
    with transaction(r.conn):
        if r.conn.execute("SELECT 1 FROM aftercare_plans WHERE id = ?", (plan_id,)).fetchone() is None:
            raise NotFoundError(f"no aftercare plan {plan_id}")
        before = _raised_in(r, plan_id)
        if score is not None:
            r.conn.execute("UPDATE aftercare_plans SET satisfaction = ? WHERE id = ?", (score, plan_id))
            r.store.audit(access, "aftercare.update", f"aftercare_plan:{plan_id}:satisfaction")
        done = bool(slots.get("review_done")) and _mark_done_in(r, access, plan_id, "patient")
        requested = (_queue_request(r, access, pack, plan_id, channels)
                     if may_request_review(score, raised, before) else None)
    return FollowupResult(score, requested, done)


def mark_review_done(r: Records, access: Access, plan_id: int, via: str) -> bool:
    """The review of a plan was left (staff, or the clinic's review system): True when newly recorded."""
    with transaction(r.conn):
        if r.conn.execute("SELECT 1 FROM aftercare_plans WHERE id = ?", (plan_id,)).fetchone() is None:
            raise NotFoundError(f"no aftercare plan {plan_id}")
        return _mark_done_in(r, access, plan_id, via)
