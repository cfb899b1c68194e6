"""After hours, on the wire: kamailio as the clinic PBX, the appliance registered as 2100 with the
real call runner (the clinic conversation on the real models) and the pager; baresip softphones
as the patient, the daytime NP desk phone (201), the MD's desk phone (202) and the on-call NP's
mobile, reached through the PBX by its number (+1 555 0199 in the demo pack: a phone registered
at kamailio as user +15550199, as a trunk would route it).

The box's clock is 2 a.m. on a Wednesday (Tuesday night), set with the demo pack's clock hook
(APPLIANCE_DEMO_CLINIC_TIME, appliance/clinic/clinic_clock.py): the conversation's `now` and the
pager's "who is on call" both read it.

1. An urgent concern raised on the patient's call pages the on-call NP's number (not the empty
   clinic's desk phone 201), who hears the brief, presses 1 and is connected to the patient;
   the patient heard the after-hours greeting.
2. The same concern when nobody answers: the number, then 202 (page only), and the chain is
   exhausted; the escalation's page record says so with the call-back time promised, and the
   console's escalation table shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from appliance.calls import SAMPLE_RATE
from appliance.clinic.clinic_clock import ENV
from appliance.config import Settings
from tests.integration.test_paging import (
    NURSE_HZ,
    PATIENT_HZ,
    Box,
    _console,
    answer_page_and_press_1,
    escalated_on_the_line,
    near,
    paging_box,
    until,
)
from tests.staff.conftest import client_for, login
from tests.telephony.audio import dominant_hz, read_wav, recordings, tone, write_wav
from tests.telephony.peers import baresip, registered_phone

pytestmark = [pytest.mark.models, pytest.mark.slow]

TWO_AM = datetime(2025, 3, 12, 2, 0)  # Wednesday 2 a.m., clinic local time: Tuesday night
NP_NUMBER = "+15550199"  # the demo pack's "+1 555 0199", as the PBX is asked to dial it


@pytest.fixture(scope="module")
def engines() -> Any:
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import load_engines

    settings = Settings()
    return load_engines(resolve_all(settings), settings)


@pytest.fixture
async def night_box(tmp_path: Path, engines: Any, request: pytest.FixtureRequest,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Box]:
    from appliance.clinic import service

    monkeypatch.setenv(ENV, TWO_AM.isoformat(timespec="minutes"))  # the box's clinic clock (a demo pack's test hook)
    ring_s, rounds = getattr(request, "param", (30, 2))
    settings = Settings.model_validate({
        "paths": {"data_dir": str(tmp_path / "var")}, "paging": {"ring_seconds": ring_s, "max_rounds": rounds},
    })
    assert service.pack_for_calls(settings).clinic.after_hours is not None
    async with paging_box(tmp_path, engines, settings) as box:
        yield box


async def first_agent_turn(box: Box) -> tuple[str, str] | None:
    """The greeting as the call's record keeps it (turns are written as they are said)."""
    def q(r: Any) -> Any:
        return r.conn.execute("SELECT provenance, text FROM turns WHERE speaker = 'agent' ORDER BY call_id, idx "
                              "LIMIT 1").fetchone()

    row = await box.repo.records.run(q)
    return (row[0], row[1]) if row else None


async def test_concern_at_2am_pages_the_on_call_number_through_the_pbx(night_box: Box, tmp_path: Path) -> None:
    box = night_box
    nurse_src = write_wav(tmp_path / "nurse.wav", tone(NURSE_HZ, 120))
    patient_src = write_wav(tmp_path / "patient.wav", tone(PATIENT_HZ, 120))
    mobile = await registered_phone(tmp_path / "np-mobile", box.kport, NP_NUMBER, source=nurse_src)
    desk = await registered_phone(tmp_path / "np201", box.kport, "201", answer="manual")
    try:
        async with baresip(tmp_path / "patient", "<sip:5550104321@127.0.0.1>;regint=0", patient_src) as patient:
            await patient.wait_for("baresip is ready")
            call, eid = await escalated_on_the_line(box, patient)
            greeting = await until(lambda: first_agent_turn(box), 20, "the greeting in the call's record")
            await answer_page_and_press_1(mobile, 0)

            async def acknowledged() -> Any:
                row = await box.repo.escalation(eid, None)
                return row if row["status"] == "acknowledged" else None

            row = await until(acknowledged, 30, "the acknowledgement")
            await until(lambda: call.ended, 15, "the patient's call handed over")
            await asyncio.sleep(3.0)
            assert call.end_reason == "transfer"
    finally:
        await mobile.stop()
        await desk.stop()
    assert greeting[0].endswith("#dialogue.greeting_after_hours"), greeting
    assert "closed right now and open again this morning at 9 AM" in greeting[1], greeting
    assert row["paged"] == NP_NUMBER and row["acknowledged_by"] == f"ext:{NP_NUMBER}", row
    assert not any("Incoming call" in line for line in desk.out), desk.tail()  # the empty clinic's desk: silent
    assert not any("URGENT" in line for line in mobile.out), mobile.tail()  # no SIP MESSAGE to a number
    heard = recordings(mobile.rec)
    assert len(heard) == 1, (heard, mobile.tail())
    assert near(dominant_hz(read_wav(heard[0])[-2 * SAMPLE_RATE:]), PATIENT_HZ)  # the on-call NP hears the patient
    patient_heard = recordings(patient.rec)
    assert patient_heard and near(dominant_hz(read_wav(patient_heard[-1])[-2 * SAMPLE_RATE:]), NURSE_HZ), patient.tail()


@pytest.mark.parametrize("night_box", [(6, 1)], indirect=True)
async def test_nobody_answers_at_2am_the_chain_is_exhausted_and_recorded(night_box: Box, tmp_path: Path) -> None:
    box = night_box
    patient_src = write_wav(tmp_path / "patient.wav", tone(PATIENT_HZ, 120))
    mobile = await registered_phone(tmp_path / "np-mobile", box.kport, NP_NUMBER, answer="manual")
    md = await registered_phone(tmp_path / "md202", box.kport, "202", answer="manual")
    try:
        async with baresip(tmp_path / "patient", "<sip:5550104322@127.0.0.1>;regint=0", patient_src) as patient:
            await patient.wait_for("baresip is ready")
            _, eid = await escalated_on_the_line(box, patient)
            await mobile.wait_for("Incoming call", limit_s=30)
            await md.wait_for("Incoming call", limit_s=30)

            async def exhausted() -> Any:
                row = await box.repo.escalation(eid, None)
                return row if "exhausted" in (row["paged"] or "") else None

            row = await until(exhausted, 40, "the chain exhausted")
            text = await md.wait_for("URGENT", limit_s=10)  # the MD's desk phone gets the text page
            async with client_for(_console(box)) as c:
                assert (await login(c, "morgan")).status_code == 303
                table = (await c.get("/escalations/table")).text
    finally:
        await mobile.stop()
        await md.stop()
    note = "after-hours chain exhausted; call-back promised within 15 minutes"
    assert row["paged"] == f"{NP_NUMBER},202,{note}" and row["status"] == "open", row
    assert "patient on line" in text, text
    assert not any("URGENT" in line for line in mobile.out), mobile.tail()
    assert note in table and NP_NUMBER in table, table
