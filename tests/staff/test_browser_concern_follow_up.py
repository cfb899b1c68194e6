"""A resolved concern's follow-up call in headless Chromium over real HTTPS: a clinician resolves
an escalation on the Escalations page; the follow-up call is planned in the store (the pack's
after_hours later, once, with the patient's number) and shown on the resolved escalation, in
the page and the API; when it is due the desk runner places it and the page shows its result;
a concern raised from a withheld number with no patient record gets none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.conversation import Escalation
from appliance.records.audit import Access
from appliance.records.keys import ensure_key
from appliance.records.store import Records
from tests.browser import needs_chromium, sign_in
from tests.scheduler.test_concern_follow_up import IDENTITY
from tests.scheduler.test_desk_calls import run_once, settle
from tests.staff.calls import PACK
from tests.staff.conftest import PASSWORD

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

PIPELINE = Access("system:test", "seed")


def _concern(r: Records, key: str, caller: str, patient_phone: str | None) -> int:
    pid = r.add_patient(PIPELINE, "Dana Lee", patient_phone, dob="1985-04-12") if patient_phone else None
    r.start_call(PIPELINE, key, "inbound", caller, patient_id=pid, key=key)
    r.record_escalation(PIPELINE, key, Escalation("urgent", "vascular-compromise", 1, "fi-rf-blanching", "heard: white"))
    return int(r.conn.execute("SELECT max(id) FROM escalations").fetchone()[0])


def _follow_ups(r: Records) -> list[tuple[object, ...]]:
    return [tuple(x) for x in r.conn.execute(
        "SELECT escalation_id, kind, state, phone, due_at, next_at FROM desk_contacts ORDER BY id")]


@pytest.mark.slow
async def test_a_clinician_resolves_a_concern_and_its_follow_up_call_is_planned_run_and_shown(console, page, repo,
                                                                                              tmp_path):
    base = f"https://127.0.0.1:{console.port}"
    expect = playwright_api.expect
    eid = await repo.records.run(lambda r: _concern(r, "in-1", "+1 555 010 2233", "+1 555 010 2233"))
    withheld = await repo.records.run(lambda r: _concern(r, "in-2", "anonymous", None))

    await sign_in(page, base, "nina", PASSWORD)
    await page.wait_for_url(f"{base}/escalations")
    before = datetime.now(UTC)
    for e in (eid, withheld):
        row = page.locator(f"#esc-{e}")
        await row.get_by_label("Resolution note").fill("Saw the patient; settled")
        await row.get_by_role("button", name="Resolve").click()
        await expect(page.locator(f"#resolved-{e}")).to_contain_text("Saw the patient; settled")

    rows = await repo.records.run(_follow_ups)
    assert len(rows) == 1, rows  # none for the withheld number
    esc_id, kind, state, phone, due_at, next_at = rows[0]
    assert (esc_id, kind, state, phone) == (eid, "concern_follow_up", "due", "+1 555 010 2233")
    assert abs((datetime.fromisoformat(due_at) - before).total_seconds() - 24 * 3600) < 120  # demo: after_hours 24
    assert datetime.fromisoformat(next_at) >= datetime.fromisoformat(due_at)

    shown = page.locator(f'[data-follow-up="{eid}"]')
    await expect(shown).to_have_attribute("data-state", "due")
    await expect(shown).to_contain_text("Follow-up call planned for")
    assert await page.locator(f'[data-follow-up="{withheld}"]').count() == 0

    api = await (await page.request.get(f"{base}/api/escalations/{eid}")).json()
    assert api["status"] == "resolved" and api["follow_up"]["state"] == "due"
    assert api["follow_up"]["call_at"] == datetime.fromisoformat(next_at).timestamp()
    assert (await (await page.request.get(f"{base}/api/escalations/{withheld}")).json())["follow_up"] is None

    # Resolving again (the API, with the session's CSRF token) changes nothing and plans nothing more.
    token = (await (await page.request.get(f"{base}/api/me")).json())["csrf_token"]
    again = await page.request.post(f"{base}/api/escalations/{eid}/resolve", data={"note": "again"},
                                    headers={"X-CSRF-Token": token})
    assert again.status == 409
    assert len(await repo.records.run(_follow_ups)) == 1

    # The follow-up call runs when it is due (the desk runner on a fake clock with the production
    # handler and the demo pack's conversation; the patient's side as text turns), and the page
    # shows what it found.
    clock = [datetime.fromisoformat(next_at)]
    db = (tmp_path / "appliance.db", ensure_key(tmp_path / "secrets" / "db.key"))
    runner, dialer = await run_once(db, PACK, repo.records, (*IDENTITY, "It's a lot better now, thanks"), clock)
    try:
        assert await runner.tick() == 1
        await settle(runner)
    finally:
        await runner.stop()
    assert dialer.dialled == ["+15550102233"]
    await page.reload()
    done = page.locator(f'[data-follow-up="{eid}"]')
    await expect(done).to_have_attribute("data-state", "completed")
    await expect(done).to_have_attribute("data-outcome", "better")
    await expect(done).to_contain_text(": better")
    api = await (await page.request.get(f"{base}/api/escalations/{eid}")).json()
    assert (api["follow_up"]["state"], api["follow_up"]["outcome"]) == ("completed", "better")
