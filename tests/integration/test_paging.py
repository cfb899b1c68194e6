"""Escalations reach the on-call clinicians' desk phones: kamailio as the clinic PBX, the
appliance's SIP edge registered as extension 2100 with the real call runner (the clinic
conversation on the real models) and the pager; baresip softphones as the desk phones and
the patient.

1. A patient is on the line (baresip dialling 2100, playing a 400 Hz tone) when an urgent
   escalation is raised on their call: the NP's phone (201) rings, hears the brief (Whisper
   transcribes it), presses 1, and is connected to the patient: each hears the other's tone.
2. Nobody is on the line and 201 does not answer: after the ring period 202 is paged, gets
   the text page, presses 1, and the escalation is acknowledged; the console shows both pages.
3. 201 rings unanswered when the NP acknowledges the escalation in the console (HTTPS, sign-in,
   CSRF token): the ringing page is cancelled and nobody further in the chain is paged.
4. An acknowledgement while the NP is listening to the brief does not cut the NP off: pressing 1
   still connects the patient.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.calls import SAMPLE_RATE
from appliance.config import Settings
from appliance.conversation import Escalation
from appliance.records.audit import Access
from appliance.records.store import Records
from appliance.staff.auth import hash_password
from appliance.staff.paging import ENDPOINT
from appliance.staff.repo import StaffRepo
from tests.integration.test_phone_call import transcribe
from tests.staff.conftest import PASSWORD, add, client_for, csrf_of, login, open_test_repo
from tests.telephony.audio import dominant_hz, read_wav, recordings, tone, write_wav
from tests.telephony.conftest import free_udp_port
from tests.telephony.peers import Baresip, baresip, kamailio, registered_phone

pytestmark = [pytest.mark.models, pytest.mark.slow]

PATIENT_HZ, NURSE_HZ = 400.0, 700.0


def near(hz: float | None, want: float) -> bool:
    return hz is not None and abs(hz - want) < 30


@pytest.fixture(scope="module")
def engines() -> Any:
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import load_engines

    settings = Settings()
    return load_engines(resolve_all(settings), settings)


@dataclass
class Box:
    settings: Settings
    repo: StaffRepo
    edge: Any
    runner: Any
    pager: Any
    kport: int


@asynccontextmanager
async def paging_box(tmp_path: Path, engines: Any, settings: Settings) -> AsyncIterator[Box]:
    """The appliance's call runner, SIP edge (registered as 2100 at a fresh kamailio) and pager on the
    real record store, with clinicians nina (201) and morgan (202)."""
    from appliance.callflow import CallRunner
    from appliance.clinic.schedule import InMemoryBookingStore, Scheduler
    from appliance.clinic.service import pack_for_calls
    from appliance.config import SipSettings
    from appliance.staff.pager import Pager
    from appliance.telephony.edge import SipEdge

    pack = pack_for_calls(settings)
    repo = await open_test_repo(tmp_path / "var")
    await repo.set_endpoints(["console", ENDPOINT])
    pw = hash_password(PASSWORD)
    for name, ext in (("nina", "201"), ("morgan", "202")):
        await repo.add_user(username=name, display_name=name.title(), role="clinician", pw_hash=pw, extension=ext,
                            actor="system:test")
    async with kamailio(tmp_path) as kport:
        runner = CallRunner(settings, engines, pack, repo.records, scheduler=Scheduler(pack.clinic, InMemoryBookingStore()),
                            llm=engines.llm)
        edge = SipEdge(SipSettings(mode="register", registrar=f"127.0.0.1:{kport}", username="2100", extension="2100",
                                   bind_port=free_udp_port(), rtp_port_min=30000, rtp_port_max=39999,
                                   register_expires=300), runner)
        await edge.start()
        pager = Pager(settings.paging, repo, edge, runner.live, pack, engines.tts, poll_s=0.2)
        try:
            assert edge.registration is not None
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
            await pager.start()
            yield Box(settings, repo, edge, runner, pager, kport)
        finally:
            await pager.stop()
            await asyncio.wait_for(edge.stop(), 10)
            await repo.close()


@pytest.fixture
async def box(tmp_path: Path, engines: Any, request: pytest.FixtureRequest) -> AsyncIterator[Box]:
    ring_s = getattr(request, "param", 30)
    settings = Settings.model_validate({
        "paths": {"data_dir": str(tmp_path / "var")}, "paging": {"ring_seconds": ring_s},
    })
    async with paging_box(tmp_path, engines, settings) as b:
        yield b


async def until(check: Any, limit_s: float, what: str) -> Any:
    """Poll `check()` (plain or async) until it returns something truthy; bounded."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def answer_page_and_press_1(phone: Baresip, start: int, brief_s: float = 7.0) -> float:
    """The desk phone answers (auto), listens to the brief once, presses 1; returns when it pressed,
    in seconds after the call was established."""
    await phone.wait_for("Call established", limit_s=60, start=start)
    t0 = time.monotonic()
    await asyncio.sleep(brief_s)
    phone.command("/sndcode 1")
    return time.monotonic() - t0


async def escalated_on_the_line(box: Box, patient: Baresip) -> tuple[Any, int]:
    """The patient dials the clinic; an urgent escalation is raised on their call while it goes on."""
    patient.command(f"/dial sip:2100@127.0.0.1:{box.kport}")
    call = await until(lambda: next(iter(box.runner.live.calls.values()), None), 30, "the patient's call")
    await box.repo.records.run(Records.record_escalation, Access("system:call", "call", call.call_id), call.call_id,
                               Escalation("urgent", "severe-or-worsening-pain", 1, "fi-rf-pain"), 15.0)
    eid = await box.repo.records.run(lambda r: r.conn.execute("SELECT max(id) FROM escalations").fetchone()[0])
    return call, int(eid)


def head(path: Path, seconds: float, tmp: Path) -> Path:
    pcm = read_wav(path)[: int(seconds * SAMPLE_RATE)]
    return write_wav(tmp, pcm.tobytes())


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


async def test_page_brief_press_1_connects_the_patient(box: Box, tmp_path: Path) -> None:
    nurse_src = write_wav(tmp_path / "nurse.wav", tone(NURSE_HZ, 120))
    patient_src = write_wav(tmp_path / "patient.wav", tone(PATIENT_HZ, 120))
    nurse = await registered_phone(tmp_path / "np201", box.kport, "201", source=nurse_src)
    try:
        async with baresip(tmp_path / "patient", "<sip:5550104321@127.0.0.1>;regint=0", patient_src) as patient:
            await patient.wait_for("baresip is ready")
            call, eid = await escalated_on_the_line(box, patient)
            assert call.line == "1"
            pressed_at = await answer_page_and_press_1(nurse, 0)

            async def acknowledged() -> Any:
                row = await box.repo.escalation(eid, None)
                return row if row["status"] == "acknowledged" else None

            row = await until(acknowledged, 30, "the acknowledgement")
            await until(lambda: call.ended, 15, "the patient's call handed over")
            await asyncio.sleep(3.0)  # both talk for a while, through the appliance's bridge
            assert call.end_reason == "transfer"
    finally:
        await nurse.stop()
    assert row["acknowledged_by"] == "nina" and row["paged"] == "201", row
    heard = recordings(nurse.rec)
    assert len(heard) == 1, (heard, nurse.tail())
    brief = await asyncio.to_thread(transcribe, head(heard[0], pressed_at, tmp_path / "brief.wav"))
    got = words(brief)
    assert {"urgent", "concern", "press", "connect"} <= got, brief
    # Whisper tiny hears "patient on line 1" as "patient online 1" or "patient on mine one" at times.
    assert got & {"line", "online", "mine"} and got & {"1", "one"}, brief
    assert got & {"filler", "filter", "fuller", "full"}, brief  # as Whisper tiny spells it ("full of concern")
    assert near(dominant_hz(read_wav(heard[0])[-2 * SAMPLE_RATE:]), PATIENT_HZ)  # then the patient
    patient_heard = recordings(patient.rec)
    assert patient_heard, patient.tail()
    assert near(dominant_hz(read_wav(patient_heard[-1])[-2 * SAMPLE_RATE:]), NURSE_HZ)  # and the patient the NP


async def test_an_acknowledgement_during_the_brief_leaves_the_clinician_able_to_connect(box: Box,
                                                                                       tmp_path: Path) -> None:
    """Front desk acknowledges in the console while the NP is listening to the brief: the NP's
    call is not cut off, and pressing 1 still connects the patient on the line."""
    nurse_src = write_wav(tmp_path / "nurse.wav", tone(NURSE_HZ, 120))
    patient_src = write_wav(tmp_path / "patient.wav", tone(PATIENT_HZ, 120))
    nurse = await registered_phone(tmp_path / "np201", box.kport, "201", source=nurse_src)
    try:
        async with baresip(tmp_path / "patient", "<sip:5550104322@127.0.0.1>;regint=0", patient_src) as patient:
            await patient.wait_for("baresip is ready")
            call, eid = await escalated_on_the_line(box, patient)
            await nurse.wait_for("Call established", limit_s=60)
            await asyncio.sleep(2.0)  # the brief is playing
            await box.repo.acknowledge(eid, "morgan")  # what the console's Acknowledge button calls
            await asyncio.sleep(5.0)
            nurse.command("/sndcode 1")
            await until(lambda: call.ended, 20, "the patient's call handed over")
            await asyncio.sleep(3.0)
            assert call.end_reason == "transfer"
    finally:
        await nurse.stop()
    heard = recordings(nurse.rec)
    assert len(heard) == 1, (heard, nurse.tail())
    assert near(dominant_hz(read_wav(heard[0])[-2 * SAMPLE_RATE:]), PATIENT_HZ)  # the NP hears the patient
    row = await box.repo.escalation(eid, None)
    assert row["acknowledged_by"] == "morgan" and row["paged"] == "201", row


@pytest.mark.parametrize("box", [6], indirect=True)
async def test_no_answer_pages_the_next_on_call(box: Box, tmp_path: Path) -> None:
    first = await registered_phone(tmp_path / "np201", box.kport, "201", answer="manual")
    second = await registered_phone(tmp_path / "md202", box.kport, "202")
    try:
        eid = await add(box.repo, "escalation", severity="emergency", category="vision-change", detail="fi-rf-vision",
                        response_minutes=0)
        await first.wait_for("Incoming call", limit_s=30)
        await answer_page_and_press_1(second, 0)

        async def acknowledged() -> Any:
            row = await box.repo.escalation(eid, None)
            return row if row["status"] == "acknowledged" else None

        row = await until(acknowledged, 40, "the acknowledgement")
        text = await second.wait_for("EMERGENCY", limit_s=10)
        async with client_for(_console(box)) as c:
            assert (await login(c, "morgan")).status_code == 303
            table = (await c.get("/escalations/table")).text
    finally:
        await first.stop()
        await second.stop()
    assert row["acknowledged_by"] == "morgan" and row["paged"] == "201,202", row
    assert "filler concern" in text and "hung up" in text, text  # the text page: no name, no number
    assert "paged: 201,202" in table, table


def _console(box: Box) -> Any:
    from appliance.staff.app import create_app
    from appliance.staff.auth import RateLimiter, Sessions
    from appliance.staff.events import EventBus
    from appliance.staff.web import ConsoleContext

    return create_app(ConsoleContext(repo=box.repo, sessions=Sessions(900, time.time), limiter=RateLimiter(),
                                     bus=EventBus(), clock=time.time))


ACK_RING_S = 15  # the ring period; with a zero response target also the window before 202 is paged


def log_events(err: str, name: str) -> list[dict[str, Any]]:
    """The appliance's JSON log lines named `name` in captured stderr."""
    found = []
    for line in err.splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


@pytest.mark.parametrize("box", [ACK_RING_S], indirect=True)
async def test_console_acknowledgement_cancels_the_ringing_page(box: Box, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.staff.console import Console

    first = await registered_phone(tmp_path / "np201", box.kport, "201", answer="manual")
    second = await registered_phone(tmp_path / "md202", box.kport, "202")
    console = Console(box.settings, repo=box.repo, port=0, relay_webhooks=False)
    await console.start()
    err = ""
    try:
        eid = await add(box.repo, "escalation", severity="urgent", category="filler-vascular", detail="fi-rf-pain",
                        response_minutes=0)
        await first.wait_for("Incoming call", limit_s=30)
        tls = ssl.create_default_context(cafile=str(box.settings.data_dir / "console" / "tls.crt"))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{console.port}", verify=tls) as c:
            assert (await login(c, "nina")).status_code == 303
            token = await csrf_of(c)
            assert not any("session closed" in line for line in first.out), first.tail()  # 201 still rings
            rang = len(first.out)
            acked = await c.post(f"/api/escalations/{eid}/acknowledge", headers={"X-CSRF-Token": token})
        assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "nina", acked.text
        # Closed by the CANCEL well inside the ring period (the ring timeout would end it only
        # ACK_RING_S after the INVITE).
        try:
            closed = await first.wait_for("session closed", limit_s=ACK_RING_S / 2, start=rang)
        except TimeoutError:
            raise AssertionError(f"201 still rings after the acknowledgement:\n{first.tail()}") from None

        async def settled() -> bool:
            nonlocal err
            err += capsys.readouterr().err
            return any(e.get("escalation") == eid for e in log_events(err, "page.settled"))

        await until(settled, 10, "the paging settled")
        row = await box.repo.escalation(eid, None)
        # Past the window after which 202 would have been paged (and its text page sent).
        await asyncio.sleep(max(0.0, float(row["created_at"]) + ACK_RING_S + 5.0 - time.time()))
        err += capsys.readouterr().err
        row = await box.repo.escalation(eid, None)
    finally:
        await console.stop()
        await first.stop()
        await second.stop()
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "nina" and row["paged"] == "201", row
    assert "Connection reset by peer" in closed, first.tail()  # how baresip reports a CANCEL while it rings
    cancelled = [e for e in log_events(err, "page.cancelled") if e.get("escalation") == eid]
    assert [(e["target"], e["reason"]) for e in cancelled] == [("201", "acknowledged")], cancelled
    assert [e["action"] for e in log_events(err, "page.settled") if e.get("escalation") == eid] == ["done"]
    assert not log_events(err, "page.unanswered"), err  # not ended by the ring timeout
    assert [e["target"] for e in log_events(err, "page.started") if e.get("escalation") == eid] == ["201"]
    assert not any("Incoming call" in line or "URGENT" in line for line in second.out), second.tail()


async def test_red_flag_warm_transfer_briefs_the_np_and_counts_as_the_page(box: Box, tmp_path: Path) -> None:
    """The patient says a red flag; the conversation speaks the emergency line and warm-transfers
    them to the NP (201), who first hears the PHI-minimal brief; the pager takes that transfer as
    the page (no second call to 201) and the escalation as acknowledged by the NP."""
    from tests.integration.test_phone_call import caller_wav

    nurse_src = write_wav(tmp_path / "nurse.wav", tone(NURSE_HZ, 120))
    said = await asyncio.to_thread(
        caller_wav, tmp_path, "Hi, it's probably nothing, but my vision is blurry since the filler yesterday.", 14.0, 60.0)
    nurse = await registered_phone(tmp_path / "np201", box.kport, "201", source=nurse_src)
    try:
        async with baresip(tmp_path / "patient", "<sip:5550104321@127.0.0.1>;regint=0", said) as patient:
            await patient.wait_for("baresip is ready")
            patient.command(f"/dial sip:2100@127.0.0.1:{box.kport}")
            call = await until(lambda: next(iter(box.runner.live.calls.values()), None), 30, "the patient's call")

            async def vision() -> Any:
                rows = await box.repo.escalations("nina")
                return next((r for r in rows if r["category"] == "vision-change" and r["status"] != "open"), None)

            row = await until(vision, 120, "the warm transfer acknowledged")
            await until(lambda: call.ended, 30, "the patient's call handed over")
            await asyncio.sleep(3.0)
    finally:
        await nurse.stop()
    assert call.end_reason == "transfer"  # the patient's call was handed over to the NP
    assert row["acknowledged_by"] == "nina" and row["paged"] == "201", row
    heard = recordings(nurse.rec)
    assert len(heard) == 2, (heard, nurse.tail())  # the consultation with the brief, then the patient: no second page
    brief = await asyncio.to_thread(transcribe, heard[0])
    got = words(brief)
    assert {"emergency", "concern", "connecting", "patient"} <= got, brief
    patient_heard = recordings(patient.rec)
    assert near(dominant_hz(read_wav(patient_heard[-1])[-2 * SAMPLE_RATE:]), NURSE_HZ), patient.tail()
