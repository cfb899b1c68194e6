"""Fixtures: the demo pack, a policy, and a real SQCipher database in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import pytest

from appliance.clinic.pack import DEMO_PACK, Pack, load_pack
from appliance.config import OutboundSettings
from appliance.records.audit import Access
from appliance.records.keys import ensure_key
from appliance.records.service import AsyncRecords
from appliance.scheduler.setup import open_store
from appliance.scheduler.store import ScheduleStore, Treatment

STAFF = Access("staff:test", "console:aftercare")
SYSTEM = Access("system:scheduler", "outbound-call")


@pytest.fixture(scope="session")
def pack() -> Pack:
    return load_pack(DEMO_PACK)


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, bytes]:
    return tmp_path / "appliance.db", ensure_key(tmp_path / "secrets" / "db.key")


@pytest.fixture
def store(db: tuple[Path, bytes], pack: Pack) -> Iterator[ScheduleStore]:
    s = open_store(db[0], db[1], pack, OutboundSettings())
    yield s
    s.conn.close()


@pytest.fixture
async def records(db: tuple[Path, bytes]) -> AsyncIterator[AsyncRecords]:
    """The async record store on the test's database (the one `store` opens)."""
    r = AsyncRecords(db[0], db[1])
    await r.open()
    yield r
    await r.close()


def treatment(**kw: object) -> Treatment:
    base: dict[str, object] = {"name": "Dana Lee", "phone": "+1 555 010 2233", "dob": "1985-04-12",
                               "procedure": "neuromodulator-botox", "treated_on": date(2025, 3, 7),
                               "product": "Botox", "area": "forehead", "source": "api"}
    base.update(kw)
    return Treatment(**base)  # type: ignore[arg-type]


from tests.telephony.conftest import make_edge  # noqa: E402,F401 - the real SIP edge fixture, reused
