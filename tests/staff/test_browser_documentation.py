"""The documentation checklist in headless Chromium over real HTTPS: a real inbound aftercare call
(the call runner and the demo pack's engine) with instructions read and an escalation; the
clinician sees the checklist on the call's summary, acknowledges the escalation, signs the
checklist off; the store records who and when, and the audit trail the sign-off."""

from __future__ import annotations

import pytest

from tests.browser import needs_chromium, sign_in
from tests.staff.calls import inbound_call
from tests.staff.conftest import PASSWORD
from tests.staff.test_documentation import AFTERCARE

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium


@pytest.mark.slow
async def test_a_clinician_signs_off_the_checklist_of_a_call(console, page, repo, monkeypatch):
    base = f"https://127.0.0.1:{console.port}"
    expect = playwright_api.expect
    sid = await inbound_call(repo.records, monkeypatch, AFTERCARE)
    (eid,) = await repo.records.run(lambda r: r.conn.execute("SELECT id FROM escalations WHERE call_id = ?",
                                                               (sid,)).fetchone())
    await sign_in(page, base, "nina", PASSWORD)
    await page.wait_for_url(f"{base}/escalations")
    await page.locator(f"#esc-{eid}").get_by_role("button", name="Acknowledge").click()
    await expect(page.locator(f"#esc-{eid}")).to_have_attribute("data-status", "acknowledged")

    await page.goto(f"{base}/summaries/{sid}")
    table = page.locator("#documentation")
    await expect(table.locator('[data-item="aftercare instructions delivered"] .value')).to_have_text(
        "delivered: bx-ii-upright, bx-ii-rub, bx-ii-exercise")
    await expect(table.locator('[data-item="concerns raised and escalations"] .value')).to_contain_text(
        f"escalation #{eid} (urgent, eyelid-or-vision, bx-rf-eyelid-vision)")
    await expect(table.locator('[data-item="concerns raised and escalations"] .value')).to_contain_text(
        f"#{eid} acknowledged after")
    await expect(table.locator('[data-item="injector"] .value')).to_have_text("to document")
    await page.locator("#documentation-sign").click()
    await expect(page.locator("#documentation-signoff")).to_contain_text("Signed off by nina")
    assert await page.locator("#documentation-sign").count() == 0

    signed = await repo.records.run(lambda r: r.conn.execute(
        "SELECT signed_by FROM documentation_signoffs WHERE call_id = ?", (sid,)).fetchall())
    assert signed == [("nina",)]
    events = [(x["actor"], x["action"], x["subject"]) for x in await repo.audit_events(50)]
    assert ("staff:nina", "documentation.sign_off", f"summary:{sid}") in events
