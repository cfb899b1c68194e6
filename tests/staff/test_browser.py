"""The console in headless Chromium over real HTTPS (self-signed certificate): sign in, see an
escalation arrive live, acknowledge it, correct a summary; a wrong password and an expired
session are refused."""

from __future__ import annotations

import pytest

from tests.browser import needs_chromium, sign_in
from tests.staff.conftest import IDLE_S, PASSWORD, add

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium


_sign_in = sign_in


@pytest.mark.slow
async def test_console_in_browser(console, page, repo, clock):
    base = f"https://127.0.0.1:{console.port}"
    expect = playwright_api.expect

    await _sign_in(page, base, "nina", "wrong password!")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    assert "/login" in page.url

    await _sign_in(page, base, "nina", PASSWORD)
    await page.wait_for_url(f"{base}/escalations")
    await expect(page.locator("#esc-body")).to_contain_text("No open escalations")

    # A new escalation written through the store arrives on the open page without a reload.
    await page.evaluate("window.__marker = 1")
    eid = await add(repo, "escalation", severity="urgent", category="filler-vascular", patient_label="Pat Q.",
                                    detail="blanching near the lip", response_minutes=15)
    row = page.locator(f"#esc-{eid}")
    await expect(row).to_contain_text("filler-vascular", timeout=30_000)
    await expect(page.locator("#live-banner")).to_contain_text("New urgent escalation")
    await expect(row.locator("[data-deadline]")).to_contain_text("due in")
    assert await page.evaluate("window.__marker") == 1  # same page: it arrived live

    await row.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator(f"#esc-{eid}")).to_have_attribute("data-status", "acknowledged")
    assert (await repo.escalation(eid, None))["acknowledged_by"] == "nina"

    sid = await add(repo, "summary", ai_text="Bruising at the left cheek on day 3.", procedure="filler",
                                 transcript=[{"speaker": "caller", "text": "I have a bruise on my cheek"}])
    await page.goto(f"{base}/summaries/{sid}")
    await expect(page.locator("body")).to_contain_text("I have a bruise on my cheek")
    await page.fill("#summary-text", "Bruising at the right cheek on day 3.")
    await page.get_by_role("button", name="Save correction").click()
    await expect(page.locator("#summary-corrections")).to_have_text("1")
    stored = await repo.summary(sid, "test")
    assert stored["final_text"] == "Bruising at the right cheek on day 3." and stored["corrections"] == 1

    clock.advance(IDLE_S + 1)
    await page.goto(f"{base}/escalations")
    await page.wait_for_url(f"{base}/login?expired=1")
    await expect(page.get_by_role("alert")).to_contain_text("session ended")
