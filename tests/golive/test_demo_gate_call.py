"""Demo content never reaches a patient: `appliance run` with the demo pack answers a SIP call
from an address that is not a test source with the built-in not-in-service line (provenance in
the log), REFERs it to the front desk and hangs up; a call from a test source gets the pack."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess
from tests.telephony.conftest import free_udp_port, sipp

pytestmark = [pytest.mark.models, pytest.mark.slow]

DATA = Path(__file__).resolve().parent / "data"
SIP_DATA = Path(__file__).resolve().parents[1] / "data" / "sip"
NOT_TEST = "127.0.0.2"  # allowed by the SIP edge, not a test source


def _config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n'
        f'[sip]\nbind_port = {port}\nallowed_sources = ["127.0.0.0/8"]\nrtp_port_min = 32000\nrtp_port_max = 32999\n'
        f'outbound_proxy = "127.0.0.1:{free_udp_port()}"\n\n'
        f'[console]\nport = {free_port(socket.SOCK_STREAM)}\n\n'
        '[site]\nfront_desk_extension = "200"\n\n'
        '[golive]\ntest_sources = ["127.0.0.1/32"]\n\n'
        '[paging]\nenabled = false\n')
    return cfg


async def test_demo_pack_answers_a_non_test_caller_with_the_not_in_service_line(tmp_path: Path) -> None:
    port = free_udp_port()
    app = ApplianceProcess(_config(tmp_path, port))
    try:
        app.wait_event("appliance.ready", 300)
        code, out = await sipp(f"127.0.0.1:{port}", "-sf", str(DATA / "uac_refer_accepted.xml"), "-s", "2100",
                               "-m", "1", "-i", NOT_TEST, "-p", str(free_udp_port(NOT_TEST)),
                               "-mp", str(free_udp_port(NOT_TEST)), "-rtp_echo",
                               limit_s=90)
        assert code == 0, out
        gated = app.wait_event("golive.not_in_service", 30)
        assert gated["provenance"] == "system#golive.not-in-service"
        assert gated["transferred"] is True and gated["target"] == "200"
        assert gated["source"] == NOT_TEST
        assert gated["audio_ms"] > 2000  # the line itself was played into the call
        transfer = app.wait_event("call.transfer", 5)
        assert transfer["ok"] is True and transfer["kind"] == "blind"
        # The pack never spoke: the conversation did not start for that call.
        assert not [e for e in app.events if e.get("event") == "call.started"]

        # A test source (127.0.0.1) reaches the demo pack's conversation.
        code, out = await sipp(f"127.0.0.1:{port}", "-sf", str(SIP_DATA / "uac_call.xml"), "-s", "2100", "-m", "1",
                               "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
                               "-rtp_echo", "-d", "3000", limit_s=60)
        assert code == 0, out
        app.wait_event("call.started", 30)
    finally:
        app.stop()
