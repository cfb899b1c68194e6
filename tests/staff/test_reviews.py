"""Review completion through the console (POST /api/reviews/{plan_id}/completed and the Messages
page's button: a session, its CSRF token, the aftercare roles; audited), and the dashboard's
satisfaction and review-completion figures from a real last check-in call and that route, on the
real record store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.calls import CallInfo
from appliance.clinic.outbound_lines import load_lines
from appliance.config import OutboundSettings
from appliance.records.audit import Access
from appliance.records.keys import ensure_key
from appliance.scheduler.calls import OutboundCallHandler
from appliance.scheduler.setup import open_store
from appliance.staff.metrics import Families
from appliance.staff.review_pages import register_reviews
from tests.scheduler.conftest import treatment
from tests.staff.calls import PACK
from tests.staff.conftest import client_for, csrf_of, login

STAFF = Access("staff:nina", "console:aftercare")
SYSTEM = Access("system:scheduler", "outbound-call")


@pytest.fixture
def dash(ctx, repo, app):  # noqa: ANN001, ANN201
    ctx.pack = PACK
    repo.families = Families.of(PACK)
    register_reviews(app, repo.records)
    return ctx


@pytest.fixture
def plans(tmp_path):  # noqa: ANN001, ANN201
    store = open_store(tmp_path / "appliance.db", ensure_key(tmp_path / "secrets" / "db.key"), PACK, OutboundSettings())
    yield store
    store.conn.close()


def record(plans: Any, days_ago: int, **kw: Any) -> int:
    now = datetime.now(ZoneInfo(PACK.clinic.timezone))
    kw.setdefault("written", ("sms",))  # consented to texts at the visit (a review request may be sent)
    return plans.record_treatment(STAFF, treatment(treated_on=now.date() - timedelta(days=days_ago), **kw),
                                  now - timedelta(days=days_ago))


async def last_check_in(plans: Any, repo: Any, plan: int, turns: tuple[str, ...]) -> None:
    """The plan's day-14 check-in, answered with `turns`, through the production handler."""
    (contact,) = [c for c in plans.contacts(STAFF, plan_id=plan) if c["kind"] == "check-in" and c["day"] == 14]
    now = plans.policy.next_allowed(datetime.now(ZoneInfo("UTC")), PACK.clinic.timezone)
    plans.conn.execute("UPDATE aftercare_contacts SET state = 'due', next_at = ?, expires_at = ? WHERE id = ?",
                       (now.isoformat(), (now + timedelta(days=1)).isoformat(), contact["id"]))
    (claim,) = [c for c in plans.claim_due(SYSTEM, now, "w1", timedelta(minutes=5), 20) if c.contact_id == contact["id"]]

    async def patient(media, conv):  # noqa: ANN001, ANN202
        conv.start()
        for said in turns:
            await conv.caller_said(said)
        return conv.ended("remote-bye"), "remote-bye"

    class Media:
        info = CallInfo(call_id=f"out-{plan}", direction="outbound", remote_number="5550102233")

    result = await OutboundCallHandler(PACK, load_lines(PACK), patient, records=repo.records, channels=("sms",))(
        claim, Media())
    plans.finish(SYSTEM, claim, result, now)


def figure(page: str, key: str, family: str) -> str:
    start = page.index(f'id="metric-{key}"')
    body = page[start:page.index("</table>", start)]
    return re.search(rf'data-family="{family}"><th scope="row">{family}</th><td>([^<]*)</td>', body).group(1)


async def test_the_callback_route_marks_the_review_done_audited(dash, np_client, repo, plans):  # noqa: ANN001
    plan = record(plans, 20)
    refused = await np_client.post(f"/api/reviews/{plan}/completed")  # no CSRF token
    assert refused.status_code == 403
    r = await np_client.post(f"/api/reviews/{plan}/completed", headers={"X-CSRF-Token": await csrf_of(np_client)})
    assert r.status_code == 200 and r.json() == {"plan_id": plan, "review_done": True, "newly_recorded": True}
    again = await np_client.post(f"/api/reviews/{plan}/completed", headers={"X-CSRF-Token": await csrf_of(np_client)})
    assert again.json()["newly_recorded"] is False
    assert plans.conn.execute("SELECT review_done FROM aftercare_plans WHERE id = ?", (plan,)).fetchone()[0] == 1
    audited = plans.conn.execute("SELECT actor, action, subject FROM audit_events WHERE action = 'aftercare.update'"
                                 ).fetchall()
    assert tuple(audited[0]) == ("staff:nina", "aftercare.update", f"aftercare_plan:{plan}:review_done:staff:nina")
    assert plans.conn.execute("SELECT count(*) FROM outbox WHERE topic = 'review.completed'").fetchone()[0] == 1
    missing = await np_client.post("/api/reviews/999/completed", headers={"X-CSRF-Token": await csrf_of(np_client)})
    assert missing.status_code == 404


async def test_the_admin_and_an_anonymous_caller_are_refused(dash, app, anon, plans):  # noqa: ANN001
    plan = record(plans, 20)
    assert (await anon.post(f"/api/reviews/{plan}/completed")).status_code == 401
    async with client_for(app) as admin:
        await login(admin, "ada")
        r = await admin.post(f"/api/reviews/{plan}/completed", headers={"X-CSRF-Token": await csrf_of(admin)})
    assert r.status_code == 403
    assert plans.conn.execute("SELECT review_done FROM aftercare_plans WHERE id = ?", (plan,)).fetchone()[0] == 0


async def test_the_dashboard_shows_stored_satisfaction_and_review_completion(dash, np_client, repo, plans):  # noqa: ANN001
    satisfied = record(plans, 15)
    other = record(plans, 15, name="Ed Other", phone="5550109999", dob="1970-01-01")
    page = (await np_client.get("/dashboard")).text
    assert figure(page, "satisfaction", "neuromodulator") == "no data"
    assert figure(page, "review_completion", "neuromodulator") == "no data"  # no review requested yet
    await last_check_in(plans, repo, satisfied, ("Dana Lee", "April 12th 1985", "the forehead", "no", "four",
                                                 "no thanks"))
    await last_check_in(plans, repo, other, ("Ed Other", "January 1st 1970", "the forehead", "no", "two",
                                             "no thanks"))
    stored = plans.conn.execute("SELECT satisfaction FROM aftercare_plans ORDER BY id").fetchall()
    assert [s[0] for s in stored] == [4, 2]
    page = (await np_client.get("/dashboard")).text
    assert figure(page, "satisfaction", "neuromodulator") == "3.0/5"
    # the 4 was asked for a review, the 2 was not: one request, not yet left
    assert figure(page, "review_completion", "neuromodulator") == "0%"
    r = await np_client.post(f"/reviews/{satisfied}/completed", data={"csrf_token": await csrf_of(np_client)})
    assert r.status_code == 303  # the Messages page's Review left button
    page = (await np_client.get("/dashboard")).text
    assert figure(page, "review_completion", "neuromodulator") == "100%"
