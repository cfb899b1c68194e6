"""Calendar sync against a real Radicale on 127.0.0.1: the demo pack's two prescribers each have a
calendar; the appliance's record store is the real encrypted one; calls are driven through the
clinic engine and the records API (no audio)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.calsync.runner import CalendarSync
from appliance.calsync.view import CalendarView
from appliance.clinic.pack import Pack, load_pack
from appliance.clinic.service import DEMO_PACK
from appliance.config import Settings
from appliance.records.callstart import booking_calendar
from tests.calsync.radicale import PASSWORD, USER, Radicale

PROVIDERS = ("np-rivera", "md-chen")


@dataclass
class Harness:
    radicale: Radicale
    records: Any
    pack: Pack
    view: CalendarView
    sync: CalendarSync

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.pack.clinic.timezone)

    def calendar_url(self, provider: str) -> str:
        return f"{self.radicale.url}{USER}/{provider}/"

    def events(self, provider: str) -> list[Any]:
        """The provider's calendar as any CalDAV client sees it: (UID, DTSTART UTC, SUMMARY, raw text)."""
        with self.radicale.client() as c:
            out = []
            for ev in c.calendar(url=self.calendar_url(provider)).events():
                comp = ev.icalendar_component
                out.append((str(comp["UID"]), comp["DTSTART"].dt.astimezone(UTC), str(comp.get("SUMMARY", "")), ev.data))
            return sorted(out, key=lambda e: e[1])

    def add_event(self, provider: str, start: datetime, minutes: int, uid: str, summary: str = "Lunch") -> None:
        """An event made directly in the clinic's calendar (as staff would in their calendar app)."""
        local = start.astimezone(self.tz)
        text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//front desk//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n"
                f"DTSTART;TZID={self.tz.key}:{local:%Y%m%dT%H%M%S}\r\n"
                f"DTEND;TZID={self.tz.key}:{local + timedelta(minutes=minutes):%Y%m%dT%H%M%S}\r\n"
                f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        with self.radicale.client() as c:
            c.calendar(url=self.calendar_url(provider)).save_event(text)

    def edit_event(self, provider: str, uid: str, start: datetime | None = None, delete: bool = False) -> None:
        with self.radicale.client() as c:
            ev = c.calendar(url=self.calendar_url(provider)).event_by_uid(uid)
            if delete:
                ev.delete()
                return
            assert start is not None
            comp = ev.icalendar_component
            length = comp["DTEND"].dt - comp["DTSTART"].dt
            for name, value in (("DTSTART", start), ("DTEND", start + length)):
                comp.pop(name)
                comp.add(name, value)
            ev.save()

    async def appointment(self, aid: int) -> dict[str, Any]:
        def read(r: Any) -> dict[str, Any]:
            cur = r.conn.execute("SELECT * FROM appointments WHERE id = ?", (aid,))
            names = [d[0] for d in cur.description]
            return dict(zip(names, cur.fetchone(), strict=True))
        return await self.records.run(read)

    async def escalations(self) -> list[tuple[str, str, str]]:
        return await self.records.run(lambda r: r.conn.execute(
            "SELECT severity, category, detail FROM escalations ORDER BY id").fetchall())


def calendar_settings(radicale: Radicale, tmp_path: Path, **extra: Any) -> Settings:
    secret = tmp_path / "calendar.password"
    secret.write_text(PASSWORD + "\n")
    section = {"backend": "caldav", "url": f"{radicale.url}{USER}/", "username": USER, "password_file": str(secret),
               "providers": {p: f"{p}/" for p in PROVIDERS}, "sync_interval_s": 0.3, "backoff_max_s": 0.4,
               "timeout_s": 3, **extra}
    return Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}, "calendar": section})


@pytest.fixture
def radicale(tmp_path: Path):  # noqa: ANN201
    server = Radicale(tmp_path / "radicale")
    server.start()
    for provider in PROVIDERS:
        server.make_calendar(provider)
    yield server
    server.stop()


@pytest.fixture
async def harness(radicale: Radicale, async_records: Any, tmp_path: Path):  # noqa: ANN201
    pack = load_pack(DEMO_PACK)
    view = CalendarView((await booking_calendar(async_records, pack)).all(), pack.clinic.timezone)
    sync = CalendarSync(calendar_settings(radicale, tmp_path), pack, async_records, view)
    await sync.prepare()
    assert await sync.sync_now()
    yield Harness(radicale, async_records, pack, view, sync)
    await sync.stop()


def next_week(hour_utc: int = 17) -> datetime:
    """A whole-hour time a week ahead (inside the booking horizon), UTC."""
    day = (datetime.now(UTC) + timedelta(days=7)).replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    return day
