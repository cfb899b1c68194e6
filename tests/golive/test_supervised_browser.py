"""The supervised period, end to end through the real record store and the console in Debian's
Chromium: an aftercare call's booking (and its confirmation message, `appointment.booked`)
waits for staff review; a clinician's approval releases it. The admin sees the pilot per
workflow, turns the next workflow on, and the banner says the pack is demo content."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import load_pack
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
from appliance.clinic.service import DEMO_PACK
from appliance.config import GoLiveSettings, Settings
from appliance.golive import store
from appliance.golive.calls import CallPolicy, after_call
from appliance.golive.policy import Pilot
from appliance.records.audit import Access
from appliance.records.callwriter import CallWriter
from appliance.records.ids import CallRef
from appliance.staff.console import Console
from tests.browser import chromium_page, needs_chromium, sign_in
from tests.staff.conftest import PASSWORD, clock, repo  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [needs_chromium, pytest.mark.slow]

GOLIVE = GoLiveSettings(pilot=True, live_workflows=("neuromodulator-botox", "neuromodulator-dysport",
                                                    "neuromodulator-xeomin"), supervised=True, supervised_calls=5)


async def aftercare_call_with_a_booking(records) -> str:  # noqa: ANN001
    """A returning Botox patient books a touch-up on the phone; the call is stored as a call is."""
    pack = load_pack(DEMO_PACK)
    engine = ClinicConversation(pack, now=datetime(2025, 3, 12, 10, 0), scheduler=Scheduler(
        pack.clinic, InMemoryBookingStore()), caller=CallerContext(phone="5550107777", known_patient=True,
                                                                   name="Kim Wu", procedure="botox",
                                                                   treated_on=date(2025, 2, 24)))
    engine.start()
    for turn in ("I'd like to book a touch-up please", "yes", "yes", "no, that's all"):
        await engine.caller_said(turn)
    outcome = engine.ended("completed")
    assert outcome.booking and outcome.booking["kind"] == "touch-up"
    access = Access("system:call", "call", call_id="sup-1")
    writer = CallWriter(records, CallRef.of("sup-1", "inbound", "5550107777"), access)
    await writer.start()
    post = Access("system:post-call", "post-call", call_id="sup-1")
    await writer.finish(post, outcome, "remote-bye")
    held = await after_call(records, post, writer.ref.key, engine, outcome,
                            CallPolicy(Pilot.of(GOLIVE), supervised=True), pack.clinic.timezone)
    assert held
    return writer.ref.key


def _count(records, sql: str):  # noqa: ANN001, ANN202
    return records.run(lambda r: r.conn.execute(sql).fetchone()[0])


async def test_a_held_booking_is_released_by_a_clinician(tmp_path: Path, repo, clock) -> None:  # noqa: F811
    records = repo.records
    settings = Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}}).model_copy(
        update={"golive": GOLIVE})
    console = Console(settings, repo=repo, clock=clock, port=0)
    await console.start()
    try:
        await aftercare_call_with_a_booking(records)
        assert await _count(records, "SELECT count(*) FROM appointments") == 0  # waits for review
        assert await _count(records, "SELECT count(*) FROM outbox WHERE topic = 'appointment.booked'") == 0
        base = f"https://127.0.0.1:{console.port}"
        expect = playwright_api.expect
        async with chromium_page(tmp_path / "profile") as page:
            await sign_in(page, base, "ada", PASSWORD)  # the admin
            await page.goto(f"{base}/golive")
            await expect(page.locator("#pack-banner")).to_contain_text("demo-clinic@")
            await expect(page.locator("#pack-demo")).to_have_text("DEMO \u2014 test calls only")
            botox = page.locator('[data-workflow="neuromodulator-botox"]')
            await expect(botox).to_contain_text("live")
            await expect(botox.locator("td").nth(2)).to_have_text("1")  # handled
            await expect(botox.locator("td").nth(3)).to_have_text("0")  # reviewed
            await expect(page.locator("#held-count")).to_have_text("1")
            await expect(page.locator("#end-supervised")).to_be_disabled()  # 5 calls per workflow first
            filler = page.locator('[data-workflow="dermal-filler-ha"]')
            await expect(filler).to_contain_text("not live")
            await page.click("#enable-dermal-filler-ha")
            await expect(filler.locator("td").nth(1)).to_have_text("live")
            state = await records.run(store.load_state)
            assert state["enabled_workflows"] == ["dermal-filler-ha"]
            await page.goto(f"{base}/dashboard")  # the banner is on every page
            await expect(page.locator("#pack-demo")).to_be_visible()

        async with chromium_page(tmp_path / "profile2") as page:
            await sign_in(page, base, "nina", PASSWORD)  # a clinician reviews
            await page.goto(f"{base}/golive/holds")
            row = page.locator("#holds-body tr[data-hold]").filter(has_text="touch-up")
            await expect(row).to_contain_text("neuromodulator-botox")
            await row.get_by_role("button", name="Approve and release").click()
            await expect(page.locator("#holds-body")).not_to_contain_text("touch-up")
        assert await _count(records, "SELECT count(*) FROM appointments WHERE kind = 'touch-up'") == 1
        assert await _count(records, "SELECT count(*) FROM outbox WHERE topic = 'appointment.booked'") == 1
        actions = await records.run(lambda r: [a for (a,) in r.conn.execute(
            "SELECT action FROM audit_events WHERE action LIKE 'golive.%' ORDER BY seq").fetchall()])
        assert {"golive.supervised.start", "golive.call", "golive.hold", "golive.workflow.enable",
                "golive.holds.view", "golive.hold.released"} <= set(actions)
    finally:
        await console.stop()
