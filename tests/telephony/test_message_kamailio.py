"""SIP MESSAGE text pages through kamailio to a desk phone (baresip registered as 201)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telephony.conftest import Recorder, free_udp_port
from tests.telephony.peers import kamailio, registered_phone


async def test_page_reaches_the_phone(make_edge, tmp_path: Path) -> None:
    text = "Patient waiting in room 3 – callback requested"
    async with kamailio(tmp_path) as kport:
        phone = await registered_phone(tmp_path / "p201", kport, "201")
        try:
            edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{kport}", extension="250")
            status = await edge.send_message("201", text)
            line = await phone.wait_for("room 3", limit_s=5)
        finally:
            await phone.stop()
    assert status == 200, phone.tail()
    assert text in line and "250" in line, line  # the whole text, from the appliance's extension


async def test_page_to_an_unknown_extension_reports_the_status(make_edge, tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{kport}")
        assert await edge.send_message("209", "hello") == 404


async def test_no_answer_is_408(make_edge) -> None:
    from appliance.telephony import message

    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{free_udp_port()}")
    assert await message.send_message(edge, "201", "hello", wait_s=1.0) == 408


@pytest.mark.parametrize("text", ["", "   ", "x" * 1301, "é" * 651])
async def test_bad_text_is_refused(make_edge, text: str) -> None:
    edge = await make_edge(Recorder(), outbound_proxy="127.0.0.1:5")
    with pytest.raises(ValueError, match="empty|bytes"):
        await edge.send_message("201", text)
