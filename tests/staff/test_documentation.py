"""The documentation checklist on a call's summary: a real inbound aftercare call (the demo pack's
engine through the call runner) that hears its Botox instructions read and reports a drooping
eyelid fills the items the call can fill; the product, lot and injector are left to document;
the acknowledgement fills the response time; a clinician signs it off (CSRF, audited)."""

from __future__ import annotations

import html

import pytest

from tests.staff.calls import PACK, inbound_call
from tests.staff.conftest import csrf_of

AFTERCARE = ["I had Botox yesterday and I'm calling about it", "can you remind me of the aftercare instructions?",
             "my eyelid is drooping since this morning", "no, bye"]


@pytest.fixture
def with_pack(ctx):  # noqa: ANN201
    ctx.pack = PACK
    return ctx


def _row(html: str, item: str) -> str:
    start = html.index(f'data-item="{item}"')
    return html[start:html.index("</tr>", start)]


async def test_the_checklist_is_filled_from_the_call_and_signed_off(with_pack, np_client, repo, monkeypatch):
    sid = await inbound_call(repo.records, monkeypatch, AFTERCARE)
    (eid, detail), = await repo.records.run(lambda r: r.conn.execute(
        "SELECT id, detail FROM escalations WHERE call_id = ?", (sid,)).fetchall())
    assert detail == "bx-rf-eyelid-vision"
    page = (await np_client.get(f"/summaries/{sid}")).text
    assert "Documentation (neuromodulator-botox)" in page
    delivered = _row(page, "aftercare instructions delivered")
    assert 'data-source="call"' in delivered and 'data-filled="1"' in delivered
    assert "bx-ii-upright, bx-ii-rub, bx-ii-exercise" in delivered
    concern = _row(page, "concerns raised and escalations")
    assert "reported: drooping" in concern and f"escalation #{eid} (urgent, eyelid-or-vision, bx-rf-eyelid-vision)" in concern
    assert f"#{eid} not acknowledged yet" in concern and 'data-filled="0"' in concern
    for staff_item in ("product and lot number", "units per area", "injector"):
        assert 'data-source="staff"' in _row(page, staff_item) and "to document" in _row(page, staff_item)
    assert html.escape(PACK.workflows["neuromodulator-botox"].documentation.note) in page

    token = await csrf_of(np_client)
    assert (await np_client.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": token})).status_code == 200
    concern = _row((await np_client.get(f"/summaries/{sid}")).text, "concerns raised and escalations")
    assert f"#{eid} acknowledged after 0 min by nina" in concern and 'data-filled="1"' in concern

    assert (await np_client.post(f"/summaries/{sid}/documentation", data={})).status_code == 403
    assert (await np_client.post(f"/summaries/{sid}/documentation", data={"csrf_token": "x" * 43})).status_code == 403
    r = await np_client.post(f"/summaries/{sid}/documentation", data={"csrf_token": token})
    assert r.status_code == 303
    signed = await repo.records.run(lambda r: r.conn.execute(
        "SELECT workflow, signed_by, signed_at IS NOT NULL FROM documentation_signoffs WHERE call_id = ?",
        (sid,)).fetchall())
    assert signed == [("neuromodulator-botox", "nina", 1)]
    assert "Signed off by <b>nina</b>" in (await np_client.get(f"/summaries/{sid}")).text
    events = [(x["actor"], x["action"], x["subject"]) for x in await repo.audit_events()]
    assert ("staff:nina", "documentation.sign_off", f"summary:{sid}") in events
    assert ("staff:nina", "documentation.read", f"summary:{sid}") in events


async def test_a_call_without_instructions_leaves_them_to_document(with_pack, np_client, repo, monkeypatch):
    sid = await inbound_call(repo.records, monkeypatch, ["I had lip filler on Monday and my lips look lopsided", "no, bye"])
    page = (await np_client.get(f"/summaries/{sid}")).text
    assert "Documentation (dermal-filler-ha)" in page
    contact = _row(page, "urgent contact path delivered")
    assert "not delivered on this call" in contact and 'data-filled="0"' in contact
    assert "to document" in _row(page, "lot number and syringe count")


async def test_front_desk_may_not_sign_off(with_pack, app, repo, monkeypatch):
    from tests.staff.conftest import client_for, login

    sid = await inbound_call(repo.records, monkeypatch, AFTERCARE)
    async with client_for(app) as desk:
        await login(desk, "fred")
        r = await desk.post(f"/summaries/{sid}/documentation", data={"csrf_token": await csrf_of(desk)})
    assert r.status_code == 403
    assert await repo.records.run(lambda r: r.conn.execute("SELECT count(*) FROM documentation_signoffs").fetchone()[0]) == 0
