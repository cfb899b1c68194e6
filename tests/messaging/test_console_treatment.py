"""In headless Chromium over the console's HTTPS: the front desk records a treatment with the
patient's consent to written instructions by email; the aftercare plan has its day-1 call, the
approved instructions arrive at the clinic's SMTP relay, and the day-1 call will ask whether they
arrived. A deposit with the default provider is a staff task on the Tasks page; staff mark it paid."""

from __future__ import annotations

import asyncio
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.config import Settings
from appliance.messaging.component import Messaging, open_pack
from appliance.messaging.store import written_sent
from appliance.staff.auth import hash_password
from appliance.staff.console import Console, endpoints
from tests.browser import chromium_page, needs_chromium, sign_in
from tests.messaging.peers import SmtpPeer, config
from tests.messaging.seed import book, row
from tests.staff.conftest import PASSWORD, open_test_repo

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium


@pytest.mark.timeout(120)
async def test_front_desk_records_a_treatment_and_the_instructions_go_by_email(tmp_path: Path) -> None:
    smtp = SmtpPeer(tmp_path)
    raw = tomllib.loads(config(tmp_path, None, smtp))
    settings = Settings.model_validate({**raw, "paths": {"data_dir": str(tmp_path / "var")}})
    repo = await open_test_repo(tmp_path)
    await repo.set_endpoints(endpoints(settings))
    await repo.add_user(username="fred", display_name="Fred", role="front-desk", pw_hash=hash_password(PASSWORD),
                        extension=None, actor="system:test")
    pack = await open_pack(settings)
    console, messaging = Console(settings, repo=repo, port=0), Messaging(settings, repo.records, pack, poll_s=0.05)
    await console.start()
    await messaging.start()
    base, expect = f"https://127.0.0.1:{console.port}", playwright_api.expect
    today = datetime.now(UTC).astimezone(ZoneInfo(pack.clinic.timezone)).date()
    try:
        async with chromium_page(tmp_path / "chromium-profile") as page:
            await sign_in(page, base, "fred", PASSWORD)
            await page.goto(f"{base}/treatments/new")
            await page.fill("input[name=name]", "Avery Quinn")
            await page.fill("input[name=phone]", "+1 415 555 0177")
            await page.fill("input[name=dob]", "1988-02-29")
            await page.fill("input[name=email]", "avery@example.test")
            await page.select_option("select[name=procedure]", "botox")
            await page.fill("input[name=product]", "Botox")
            await page.check("input[name=areas][value=glabella]")
            await page.select_option("select[name=provider]", "np-rivera")
            await page.check("input[name=written][value=email]")
            await page.click("#treatment-form button[type=submit]")
            await expect(page.get_by_role("alert")).to_contain_text("Recorded: aftercare plan 1")

            await _until(lambda: asyncio.sleep(0, len(smtp.mail)), 1)
            (mail,) = smtp.mail.values()
            assert mail["To"] == "avery@example.test"
            assert mail["Subject"] == "Harbor Light Aesthetics: your aftercare instructions"
            text = mail.get_payload(decode=True).decode()
            assert "stay upright and don't lie down flat" in text and "Avery Quinn" in text and "Botox" in text

            records = repo.records
            day1 = await records.run(lambda r: row(r, "SELECT kind, state FROM aftercare_contacts WHERE plan_id = 1 "
                                                      "AND day = 1"))
            assert day1 == ("check-in", "due")
            plan = await records.run(lambda r: row(r, "SELECT provider, area, treated_at FROM aftercare_plans WHERE id = 1"))
            assert plan[:2] == ("np-rivera", "glabella") and plan[2].startswith(today.isoformat()[:4])
            await _until(lambda: records.run(lambda r: written_sent(r, 1)), "email")
            consents = await records.run(lambda r: r.conn.execute(
                "SELECT kind, granted FROM consents WHERE patient_id = 1 ORDER BY id").fetchall())
            assert ("email", 1) in consents and ("sms", 0) in consents and ("aftercare-calls", 1) in consents

            await page.goto(f"{base}/messages")
            await expect(page.locator("#messages-body")).to_contain_text("aftercare-instructions")
            await expect(page.locator("#messages-body tr[data-status=sent]")).to_have_count(1)

            # the default payment provider: a staff task the console shows and staff complete
            did = await records.run(lambda r: book(r, "call-9", name="Robin Hale", phone="+1 415 555 0190"))
            await _until(lambda: records.run(lambda r: row(r, "SELECT count(*) FROM staff_tasks WHERE deposit_id = ?",
                                                           did)[0]), 1)
            await page.goto(f"{base}/tasks")
            task = page.locator("tr[data-kind=send-payment-link]")
            await expect(task).to_contain_text("Robin Hale")
            await expect(task).to_contain_text("$50")
            await task.get_by_role("button", name="Link sent").click()
            await expect(page.get_by_role("alert")).to_contain_text("Marked sent")
            assert await records.run(lambda r: row(r, "SELECT status FROM deposits WHERE id = ?", did)) == ("sent",)
            await expect(page.locator("#tasks-body")).to_contain_text("No open tasks")
            assert await records.run(lambda r: r.verify_audit().ok)
    finally:
        await messaging.stop()
        await console.stop()
        await repo.close()
        smtp.close()


async def _until(read, want, within: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while (got := await read()) != want:
        assert time.monotonic() < deadline, f"{got!r} != {want!r}"
        await asyncio.sleep(0.05)
