"""Each workflow-quality measure on the dashboard, per procedure family, with its definition
beside it, from data made the appliance's own way: inbound calls through the call runner and
the demo pack's engine, an aftercare call through the outbound call handler and the scheduler
store, treatments recorded by the scheduler store (the console's Record treatment), reviews,
acknowledgements and corrections through the console's API."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.clinic.outbound_lines import load_lines
from appliance.config import OutboundSettings
from appliance.records.audit import Access
from appliance.records.keys import ensure_key
from appliance.records.store import Records
from appliance.scheduler.calls import OutboundCallHandler
from appliance.scheduler.setup import open_store
from appliance.staff.metrics import DEFINITIONS, Families
from tests.scheduler.conftest import treatment
from tests.staff.calls import BOOKING, PACK, inbound_call
from tests.staff.conftest import csrf_of

STAFF = Access("staff:nina", "console:aftercare")
ESCALATING = ["I had Botox yesterday and I'm calling about it", "my eyelid is drooping since this morning", "no, bye"]
QUIET = ["I had Botox yesterday and I'm calling about it", "can I go to the gym tonight?", "no", "no, bye"]
PHONE = "5550102233"


@pytest.fixture
def dash(ctx, repo):  # noqa: ANN201
    ctx.pack = PACK
    repo.families = Families.of(PACK)
    return ctx


@pytest.fixture
def plans(tmp_path):  # noqa: ANN201
    store = open_store(tmp_path / "appliance.db", ensure_key(tmp_path / "secrets" / "db.key"), PACK, OutboundSettings())
    yield store
    store.conn.close()


def record(plans, days_ago: int = 3, **kw: Any) -> int:
    now = datetime.now(ZoneInfo(PACK.clinic.timezone))
    kw.setdefault("phone", PHONE)
    return plans.record_treatment(STAFF, treatment(treated_on=now.date() - timedelta(days=days_ago), **kw),
                                  now - timedelta(days=days_ago))


async def card(client, key: str) -> str:
    page = (await client.get("/dashboard")).text
    start = page.index(f'id="metric-{key}"')
    body = page[start:page.index("</table>", start)]
    assert html.escape(DEFINITIONS[key]) in body  # the definition beside the figure
    return body


def family(body: str, name: str) -> str:
    return re.search(rf'data-family="{name}"><th scope="row">{name}</th><td>([^<]*)</td>', body).group(1)


async def test_escalation_rate_per_family(dash, np_client, repo, monkeypatch):
    await inbound_call(repo.records, monkeypatch, ESCALATING, "4155550111")
    await inbound_call(repo.records, monkeypatch, QUIET, "4155550112")
    body = await card(np_client, "escalation_rate")
    assert family(body, "neuromodulator") == "50%" and family(body, "filler") == "no data"


async def test_time_to_staff_review_per_family(dash, np_client, repo, monkeypatch):
    sid = await inbound_call(repo.records, monkeypatch, ESCALATING)
    (eid,) = await repo.records.run(lambda r: r.conn.execute("SELECT id FROM escalations WHERE call_id = ?",
                                                               (sid,)).fetchone())
    assert family(await card(np_client, "time_to_staff_review"), "neuromodulator") == "no data"
    await np_client.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": await csrf_of(np_client)})
    assert family(await card(np_client, "time_to_staff_review"), "neuromodulator") == "0 min"


async def test_repeat_contacts_per_family(dash, np_client, repo, monkeypatch):
    await inbound_call(repo.records, monkeypatch, QUIET, "4155550121")
    await inbound_call(repo.records, monkeypatch, QUIET, "4155550121")
    await inbound_call(repo.records, monkeypatch, ["I had lip filler on Monday, can I work out?", "no", "no, bye"],
                       "4155550122")
    body = await card(np_client, "repeat_contacts")
    assert family(body, "neuromodulator") == "100%" and family(body, "filler") == "0%"


async def test_staff_correction_rate_per_family(dash, np_client, repo, monkeypatch):
    sid = await inbound_call(repo.records, monkeypatch, QUIET)
    await np_client.post(f"/api/summaries/{sid}/review", json={"text": "Gym question answered.", "finalize": True},
                         headers={"X-CSRF-Token": await csrf_of(np_client)})
    assert family(await card(np_client, "staff_correction_rate"), "neuromodulator") == "100%"


async def test_rebooking_counts_an_inbound_booking_and_a_console_booking(dash, np_client, repo, plans, monkeypatch):
    record(plans, name="Dana Lee", phone=PHONE)
    record(plans, name="Ed Other", phone="5550109999", dob="1970-01-01")
    record(plans, name="Flo Filler", phone="5550108888", dob="1971-01-01", procedure="dermal-filler-ha")
    assert family(await card(np_client, "rebooking"), "neuromodulator") == "0%"
    await inbound_call(repo.records, monkeypatch, BOOKING, PHONE)  # Dana books Botox again by phone
    booked = await repo.records.run(lambda r: r.conn.execute(
        "SELECT p.name FROM appointments a JOIN patients p ON p.id = a.patient_id").fetchall())
    assert booked == [("Dana Lee",)]
    assert family(await card(np_client, "rebooking"), "neuromodulator") == "50%"
    flo = await repo.records.run(lambda r: r.conn.execute("SELECT id FROM patients WHERE name = 'Flo Filler'").fetchone()[0])
    start = datetime.now(ZoneInfo("UTC")) + timedelta(days=20)
    await repo.records.run(Records.book_appointment, STAFF, flo, "np-rivera", start, start + timedelta(minutes=30),
                           "ha-filler")  # booked at the front desk (console)
    body = await card(np_client, "rebooking")
    assert family(body, "filler") == "100%" and family(body, "neuromodulator") == "50%"


async def test_instruction_delivery_and_patient_response_from_an_aftercare_call(dash, np_client, repo, plans):
    plan = record(plans, days_ago=1)
    record(plans, days_ago=1, name="Ed Other", phone="5550109999", dob="1970-01-01")
    first = plans.contacts(STAFF, plan_id=plan)[0]
    (claim,) = [c for c in plans.claim_due(Access("system:scheduler", "outbound-call"),
                                           datetime.fromisoformat(first["next_at"]), "w1", timedelta(minutes=5), 5)
                if c.plan_id == plan]

    async def patient(media, conv):  # noqa: ANN001, ANN202
        conv.start()
        for said in ("This is Dana Lee", "April 12th 1985", "no"):
            await conv.caller_said(said)
        return conv.ended("remote-bye"), "remote-bye"

    class Media:
        from appliance.calls import CallInfo

        info = CallInfo(call_id="out-1", direction="outbound", remote_number=PHONE)

    result = await OutboundCallHandler(PACK, load_lines(PACK), patient, records=repo.records)(claim, Media())
    lease = plans.conn.execute("SELECT lease_until FROM aftercare_contacts WHERE id = ?", (claim.contact_id,)).fetchone()[0]
    plans.finish(Access("system:scheduler", "outbound-call"), claim, result, datetime.fromisoformat(lease))
    assert family(await card(np_client, "instruction_delivery"), "neuromodulator") == "50%"
    assert family(await card(np_client, "patient_response"), "neuromodulator") == "100%"


async def test_series_and_satisfaction_from_the_plans(dash, np_client, repo, plans):
    """(Review completion, over review requests made, is measured from real last check-in calls in
    test_reviews.py.)"""
    botox = record(plans, days_ago=20)
    record(plans, days_ago=20, name="Ed Other", phone="5550109999", dob="1970-01-01")
    laser = record(plans, days_ago=2, name="Lu Laser", phone="5550107777", dob="1980-01-01",
                   procedure="laser-diode-hair", session=6, product=None, area="legs")
    record(plans, days_ago=2, name="Mo Laser", phone="5550106666", dob="1981-01-01", procedure="laser-diode-hair",
           session=2, product=None, area="legs")
    await repo.records.invoke(lambda r: r.followups.update_aftercare, STAFF, botox, satisfaction=4)
    await repo.records.invoke(lambda r: r.followups.update_aftercare, STAFF, laser, satisfaction=5)
    assert family(await card(np_client, "review_completion"), "neuromodulator") == "no data"  # none requested
    assert family(await card(np_client, "series_completion"), "laser") == "50%"
    body = await card(np_client, "satisfaction")
    assert family(body, "neuromodulator") == "4.0/5" and family(body, "laser") == "5.0/5"
    assert family(body, "peel") == "no data"
