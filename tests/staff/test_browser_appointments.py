"""Appointment outcomes in headless Chromium over real HTTPS: the front desk marks one patient a
no-show and another arrived on the Appointments page; the store records who and what; a form
posted without the session's CSRF token is refused; the dashboard's confirmation, cancellation
and no-show rates are computed from those same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.records.audit import Access
from appliance.records.store import Records
from tests.browser import needs_chromium, sign_in
from tests.staff.conftest import PASSWORD

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

DESK = Access("system:test", "seed")


def _seed(r: Records, now: datetime) -> dict[str, int]:
    """Four appointments of the last hours and one tomorrow: the no-show-to-be (confirmed), the
    arrival-to-be (not confirmed), a late cancellation (deposit kept), a confirmed one left open."""
    ids = {}
    for hours, name in ((1, "Noah Noshow"), (2, "Ana Arrival"), (3, "Cara Cancel"), (4, "Dee Open"), (-26, "Finn Future")):
        start = now - timedelta(hours=hours)
        pid = r.add_patient(DESK, name, dob="1990-01-02")
        ids[name.split()[1].lower()] = r.book_appointment(DESK, pid, "np-rivera", start, start + timedelta(minutes=30),
                                                          "lip filler")
    r.appointments.confirm_appointment(DESK, ids["noshow"], "phone")
    r.appointments.confirm_appointment(DESK, ids["open"], "reminder")
    r.appointments.confirm_appointment(DESK, ids["future"], "phone")
    r.appointments.cancel_appointment(DESK, ids["cancel"], late=True, deposit="kept", via="phone")
    return ids


def _state(r: Records, aid: int) -> tuple[str, str | None]:
    status, by = r.conn.execute("SELECT status, marked_by FROM appointments WHERE id = ?", (aid,)).fetchone()
    return status, by


@pytest.mark.slow
async def test_front_desk_marks_arrivals_and_no_shows_and_the_dashboard_counts_them(console, page, repo, clock):
    base = f"https://127.0.0.1:{console.port}"
    expect = playwright_api.expect
    now = datetime.fromtimestamp(clock(), UTC)
    ids = await repo.records.run(lambda r: _seed(r, now))

    await sign_in(page, base, "nina", PASSWORD)
    await page.wait_for_url(f"{base}/escalations")
    await page.goto(f"{base}/appointments")
    rows = {k: page.locator(f"#appt-{v}") for k, v in ids.items()}
    await expect(rows["noshow"]).to_contain_text("Noah Noshow")
    await expect(rows["noshow"].locator(".confirmed")).to_have_text("yes (phone)")
    await expect(rows["arrival"].locator(".confirmed")).to_have_text("no")
    await expect(rows["cancel"].locator(".cancellation")).to_have_text("late · deposit kept")
    await expect(rows["future"]).to_contain_text("Finn Future")
    assert await rows["future"].get_by_role("button").count() == 0  # tomorrow: nothing to mark yet
    assert await rows["cancel"].get_by_role("button").count() == 0

    # The same form without the session's CSRF token (or with another) is refused; nothing changes.
    url = f"{base}/appointments/{ids['noshow']}/mark"
    assert (await page.request.get(f"{base}/appointments", max_redirects=0)).status == 200  # the session goes along
    assert (await page.request.post(url, form={"status": "no-show"}, max_redirects=0)).status == 403
    assert (await page.request.post(url, form={"status": "no-show", "csrf_token": "x" * 43},
                                    max_redirects=0)).status == 403
    assert await repo.records.run(lambda r: _state(r, ids["noshow"])) == ("booked", None)

    await rows["noshow"].get_by_role("button", name="No-show").click()
    await expect(page.locator(f"#appt-{ids['noshow']}")).to_have_attribute("data-status", "no-show")
    await expect(page.locator(f"#appt-{ids['noshow']} .status")).to_contain_text("marked by nina")
    await page.locator(f"#appt-{ids['arrival']}").get_by_role("button", name="Arrived").click()
    await expect(page.locator(f"#appt-{ids['arrival']}")).to_have_attribute("data-status", "completed")
    await expect(page.locator(f"#appt-{ids['arrival']} .status")).to_contain_text("arrived")
    assert await page.locator(f"#appt-{ids['arrival']}").get_by_role("button").count() == 0

    assert await repo.records.run(lambda r: _state(r, ids["noshow"])) == ("no-show", "nina")
    assert await repo.records.run(lambda r: _state(r, ids["arrival"])) == ("completed", "nina")
    assert await repo.records.run(lambda r: _state(r, ids["open"])) == ("booked", None)
    events = [(ev["actor"], ev["action"], ev["subject"]) for ev in await repo.audit_events(50)]
    assert ("staff:nina", "appointment.update", f"appointment:{ids['noshow']}:no-show") in events
    assert ("staff:nina", "appointment.update", f"appointment:{ids['arrival']}:completed") in events

    # Last 30 days: 4 appointments (tomorrow's is not in it); 1 cancelled (late); of the 3 others
    # 2 confirmed; 1 no-show against 1 arrival.
    await page.goto(f"{base}/dashboard")
    await expect(page.locator("#metric-confirmation_rate .big")).to_have_text("67%")
    await expect(page.locator("#metric-cancellation_rate .big")).to_have_text("25%")
    await expect(page.locator("#metric-cancellation_rate")).to_contain_text("1 of 4 appointments cancelled, 1 late")
    await expect(page.locator("#metric-no_show_rate .big")).to_have_text("50%")
