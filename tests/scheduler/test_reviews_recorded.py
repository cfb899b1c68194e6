"""Satisfaction and review requests on the real encrypted store: the production handler runs the
real outbound conversation (text turns and key presses) on a treatment's check-in contacts, the
scheduler store records each attempt, and appliance/messaging/reviews.py keeps the answer on the
aftercare plan and queues the approved review request in the message outbox only when allowed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.calls import CallInfo
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import Pack
from appliance.conversation import Conversation, ConversationOutcome
from appliance.messaging.compose import render
from appliance.records.service import AsyncRecords
from appliance.scheduler.calls import OutboundCallHandler
from appliance.scheduler.store import ScheduleStore
from tests.scheduler.conftest import STAFF, SYSTEM, treatment

ID = ("Dana Lee", "April 12th 1985", "the forehead")  # identity, then the day-14 area question


def plan_of(store: ScheduleStore, pack: Pack, **kw: Any) -> int:
    tz = ZoneInfo(pack.clinic.timezone)
    now = datetime.now(tz)
    kw.setdefault("written", ("sms",))  # consented to texts at the visit
    return store.record_treatment(STAFF, treatment(treated_on=now.date() - timedelta(days=14), **kw), now - timedelta(days=14))


async def call(store: ScheduleStore, records: AsyncRecords, pack: Pack, plan: int, day: int, turns: tuple[Any, ...],
               channels: tuple[str, ...] = ("sms",)) -> ConversationOutcome:
    """Dial the plan's day-N check-in (its due time made now) and play the patient's turns ("dtmf:4" presses 4)."""
    (contact,) = [c for c in store.contacts(STAFF, plan_id=plan) if c["kind"] == "check-in" and c["day"] == day]
    now = store.policy.next_allowed(datetime.now(ZoneInfo("UTC")), pack.clinic.timezone)  # a time calls may be made
    assert now is not None
    store.conn.execute("UPDATE aftercare_contacts SET state = 'due', next_at = ?, expires_at = ? WHERE id = ?",
                       (now.isoformat(), (now + timedelta(days=1)).isoformat(), contact["id"]))
    claims = [c for c in store.claim_due(SYSTEM, now, "w1", timedelta(minutes=5), 20) if c.contact_id == contact["id"]]
    assert claims, "the contact was not dialled"
    outcomes: list[ConversationOutcome] = []

    async def patient(media: Any, conv: Conversation) -> tuple[ConversationOutcome, str]:
        conv.start()
        for said in turns:
            if said.startswith("dtmf:"):
                await conv.caller_pressed(said[5:])
            else:
                await conv.caller_said(said)
        outcomes.append(conv.ended("remote-bye"))
        return outcomes[0], "remote-bye"

    class Media:
        info = CallInfo(call_id=f"out-{plan}-{day}", direction="outbound", remote_number="15550102233")

    result = await OutboundCallHandler(pack, load_lines(pack), patient, records=records, channels=channels)(
        claims[0], Media())
    store.finish(SYSTEM, claims[0], result, now)
    return outcomes[0]


def plan_row(store: ScheduleStore, plan: int) -> tuple[Any, ...]:
    return tuple(store.conn.execute("SELECT satisfaction, review_done FROM aftercare_plans WHERE id = ?",
                                    (plan,)).fetchone())


def review_messages(store: ScheduleStore) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT plan_id, channel, recipient, body, template, status FROM messages WHERE purpose = 'review-request'")]


def audit_actions(store: ScheduleStore) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT action || ' ' || subject FROM audit_events ORDER BY seq")]


async def test_a_five_by_voice_is_stored_and_queues_the_approved_review_request(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    out = await call(store, records, pack, plan, 14, (*ID, "no", "a five", "no thanks", "no, that's all"))
    assert out.slots["satisfaction"] == 5
    assert plan_row(store, plan) == (5, 0)
    expected = render(pack, "review-request", "sms", {"link": pack.messages.review_request.link})
    assert review_messages(store) == [(plan, "sms", "+1 555 010 2233", expected.body, pack.prov("msg-review-request"),
                                       "queued")]
    assert "https://reviews.example.test/demo-clinic" in expected.body
    assert store.conn.execute("SELECT count(*) FROM outbox WHERE topic = 'message.sms'").fetchone()[0] == 1
    assert f"aftercare.update aftercare_plan:{plan}:satisfaction" in audit_actions(store)


async def test_a_four_by_keypad_is_stored(store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    await call(store, records, pack, plan, 14, (*ID, "no", "dtmf:4", "no thanks"))
    assert plan_row(store, plan) == (4, 0) and len(review_messages(store)) == 1


@pytest.mark.parametrize("score", ["three", "dtmf:1"])
async def test_below_four_no_review_request(store: ScheduleStore, records: AsyncRecords, pack: Pack, score: str) -> None:
    plan = plan_of(store, pack)
    await call(store, records, pack, plan, 14, (*ID, "no", score, "no thanks"))
    assert plan_row(store, plan)[0] in (1, 3) and review_messages(store) == []


async def test_no_message_channel_no_review_request(store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks"), channels=())
    assert plan_row(store, plan) == (5, 0) and review_messages(store) == []


async def test_no_consent_to_texts_no_review_request(store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack, written=())
    await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks"))
    assert plan_row(store, plan) == (5, 0) and review_messages(store) == []


async def test_a_concern_earlier_in_the_follow_up_blocks_the_question_and_the_request(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    await call(store, records, pack, plan, 3, ("Dana Lee", "April 12th 1985", "yes, I'm a bit worried, it feels uneven"))
    out = await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks"))
    assert "satisfaction_asked" not in out.slots
    assert pack.prov("outbound.satisfaction.ask") not in [t.provenance for t in out.turns]
    assert plan_row(store, plan) == (None, 0) and review_messages(store) == []


async def test_an_escalation_earlier_in_the_follow_up_blocks_the_question_and_the_request(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    first = await call(store, records, pack, plan, 3, ("Dana Lee", "April 12th 1985", "my eyelid is drooping"))
    assert [e.severity for e in first.escalations] == ["urgent"]
    out = await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks"))
    assert "satisfaction_asked" not in out.slots
    assert plan_row(store, plan) == (None, 0) and review_messages(store) == []


async def test_a_concern_on_the_last_check_in_blocks_the_question_and_the_request(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    out = await call(store, records, pack, plan, 14, (*ID, "yes, I have a small bump on my forehead", "five"))
    assert "satisfaction_asked" not in out.slots and out.escalations
    assert plan_row(store, plan) == (None, 0) and review_messages(store) == []


async def test_a_complaint_after_a_five_blocks_the_review_request(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    out = await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks",
                                                      "actually I'm really unhappy with how my forehead looks"))
    assert out.slots["complaint"] and [e.category for e in out.escalations] == ["result-complaint"]
    assert plan_row(store, plan) == (5, 0)  # the answer is kept as given
    assert review_messages(store) == []


async def test_the_patient_says_they_left_the_review_on_a_later_call(
        store: ScheduleStore, records: AsyncRecords, pack: Pack) -> None:
    plan = plan_of(store, pack)
    await call(store, records, pack, plan, 14, (*ID, "no", "five", "no thanks"))
    assert plan_row(store, plan) == (5, 0)
    store.conn.execute("UPDATE aftercare_contacts SET state = 'failed' WHERE plan_id = ? AND state = 'due'", (plan,))
    stamp = datetime.now(ZoneInfo("UTC")).isoformat()
    store.conn.execute("INSERT INTO aftercare_contacts (plan_id, kind, day, due_at, expires_at, next_at, state, "
                       "created_at, updated_at) VALUES (?, 'check-in', 21, ?, ?, ?, 'due', ?, ?)",
                       (plan, *(stamp,) * 5))  # a later call of the same treatment (bare: its concern question)
    out = await call(store, records, pack, plan, 21, ("Dana Lee", "April 12th 1985", "I already did the review",
                                                      "no"))
    assert out.slots["review_done"] is True
    assert plan_row(store, plan) == (5, 1)
    assert f"aftercare.update aftercare_plan:{plan}:review_done:patient" in audit_actions(store)
    assert store.conn.execute("SELECT count(*) FROM outbox WHERE topic = 'review.completed'").fetchone()[0] == 1
