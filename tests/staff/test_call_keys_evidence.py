"""Calls in progress are named by the appliance's own call key, never by the PBX's Call-ID; an
escalation's evidence (why its red flag fired) is stored in the encrypted record store and shown
in the console, and never logged.

Real SQLCipher store throughout; the console test signs in over real HTTPS on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.calls import CallInfo
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.config import PagingSettings, Settings
from appliance.conversation import Escalation
from appliance.live.registry import LiveCall, LiveCalls
from appliance.records.audit import Access
from appliance.records.callwriter import CallWriter
from appliance.records.ids import CallRef
from appliance.staff import pager as pager_module
from appliance.staff.console import Console
from appliance.staff.pagecall import PageResult
from appliance.staff.pager import Pager
from appliance.staff.repo import StaffRepo
from tests.staff.conftest import login

SAME_CALL_ID = "reused-1@pbx.clinic.lan"
EVIDENCE = 'fl-rf-vision: lexicon match of "blurry vision"; heard "my vision is blurry & <dim>"'


class FakeSipCall:
    """What the pager needs of a call: its info, SIP state and bridge."""

    def __init__(self, number: str) -> None:
        self.info = CallInfo(call_id=SAME_CALL_ID, direction="inbound", remote_number=number)
        self.state = "confirmed"
        self.bridged_to: Any = None


async def record_call(repo: StaffRepo, entry: LiveCall, number: str) -> CallWriter:
    """The call's record under the live entry's key, as the call runner stores it."""
    ref = CallRef.of(entry.call_id, "inbound", number, key=entry.key, line=entry.line)
    writer = CallWriter(repo.records, ref, Access("system:call", "call", entry.call_id))
    assert await writer.start() is not None
    return writer


def test_two_live_calls_with_the_same_call_id_keep_their_own_entries() -> None:
    live = LiveCalls()
    a = live.open(FakeSipCall("4155550101"))  # type: ignore[arg-type]
    b = live.open(FakeSipCall("4155550102"))  # type: ignore[arg-type]
    assert a.key != b.key and (a.line, b.line) == ("1", "2")
    assert live.get(a.key) is a and live.get(b.key) is b
    assert live.with_call_id(SAME_CALL_ID) == [a, b]
    live.close(a, "remote-bye")
    assert live.get(a.key) is None and live.get(b.key) is b and not b.ended  # closing one leaves the other
    c = live.open(FakeSipCall("4155550103"))  # type: ignore[arg-type]
    assert c.line == "1" and live.active == 2  # the freed line is reused
    with pytest.raises(ValueError):
        live.open(FakeSipCall("4155550104"), key=b.key)  # type: ignore[arg-type]


async def test_a_page_for_one_of_two_calls_with_the_same_call_id_connects_that_call(
        repo: StaffRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    live = LiveCalls()
    first = live.open(FakeSipCall("4155550101"))  # type: ignore[arg-type]
    second = live.open(FakeSipCall("4155550102"))  # type: ignore[arg-type]
    await record_call(repo, first, "4155550101")
    writer = await record_call(repo, second, "4155550102")
    assert await writer.escalation(Escalation("urgent", "vision", 1, "fl-rf-vision", EVIDENCE), 15.0)

    (row,) = await repo.escalations("nina")
    assert (row["call_id"], row["call_key"], row["line"]) == (SAME_CALL_ID, second.key, "2")
    calls = await repo.live_calls("nina")
    assert sorted(c["call_key"] for c in calls) == sorted([first.key, second.key])

    spoken: list[str] = []
    bridged: list[tuple[Any, Any]] = []
    page_call = FakeSipCall("201")

    async def speak(voice: Any, text: str) -> bytes:
        spoken.append(text)
        return bytes(320)

    async def ring_and_brief(dialer: Any, target: str, pcm: bytes, **kw: Any) -> PageResult:
        return PageResult(None, page_call)  # type: ignore[arg-type]  (the clinician pressed 1)

    monkeypatch.setattr(pager_module, "speak", speak)
    monkeypatch.setattr(pager_module, "ring_and_brief", ring_and_brief)
    monkeypatch.setattr("appliance.telephony.bridge.bridge", lambda a, b: bridged.append((a, b)))
    pager = Pager(PagingSettings(sip_message=False), repo, object(), live, load_pack(DEMO_PACK), voice=None)
    outcome = await pager._page(row["id"], await repo.escalation(row["id"], None), "201", lambda: None)  # noqa: SLF001

    assert outcome == "connected"
    assert bridged == [(second.media, page_call)]  # the patient who raised it, not the other call with that Call-ID
    assert "line 2" in spoken[0]
    assert (await repo.escalation(row["id"], None))["status"] == "acknowledged"


@pytest.fixture
async def console(tmp_path: Path, repo: StaffRepo) -> AsyncIterator[Console]:
    settings = Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}})
    c = Console(settings, repo=repo, port=0, relay_webhooks=False)
    await c.start()
    yield c
    await c.stop()


async def test_escalation_evidence_is_stored_and_shown_in_the_console_over_https(
        console: Console, repo: StaffRepo, capfd: pytest.CaptureFixture[str]) -> None:
    live = LiveCalls()
    entry = live.open(FakeSipCall("4155550101"))  # type: ignore[arg-type]
    writer = await record_call(repo, entry, "4155550101")
    assert await writer.escalation(Escalation("urgent", "vision", 1, "fl-rf-vision", EVIDENCE), 15.0)
    plain = Escalation("routine", "callback", 2, "")  # an escalation with no evidence shows no "why"
    assert await writer.escalation(plain, None)

    stored = await repo.records.run(lambda r: r.conn.execute(
        "SELECT detail, evidence FROM escalations ORDER BY id").fetchall())
    assert [tuple(x) for x in stored] == [("fl-rf-vision", EVIDENCE), ("", "")]
    raised = [m for m in await repo.outbox_due("console", repo.clock() + 1, 50) if m.topic == "escalation.raised"]
    assert raised[0].payload["evidence"] == EVIDENCE  # webhooks get the whole message

    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{console.port}", verify=False,
                                 follow_redirects=False, timeout=60) as client:
        assert (await login(client, "nina")).status_code == 303
        queue = (await client.get("/api/escalations")).json()
        by_detail = {e["detail"]: e for e in queue}
        assert by_detail["fl-rf-vision"]["evidence"] == EVIDENCE
        assert by_detail["fl-rf-vision"]["call_key"] == entry.key
        assert by_detail[""]["evidence"] == ""
        one = (await client.get(f"/api/escalations/{by_detail['fl-rf-vision']['id']}")).json()
        assert (one["evidence"], one["line"]) == (EVIDENCE, "1")
        page = (await client.get("/escalations")).text
        assert "Why escalated" in page and page.count("data-evidence=") == 1
        assert "heard &quot;my vision is blurry &amp; &lt;dim&gt;&quot;" in page  # escaped, never raw HTML
        assert "<dim>" not in page
        front_desk = httpx.AsyncClient(base_url=f"https://127.0.0.1:{console.port}", verify=False, timeout=60)
        async with front_desk:
            assert (await login(front_desk, "fred")).status_code == 303
            assert (await front_desk.get("/api/escalations")).json()[0]["evidence"] == EVIDENCE
    out, err = capfd.readouterr()
    assert "blurry" not in out + err and "lexicon match" not in out + err  # evidence is never logged
