"""SMS through the PBX: the messaging adapter sends a patient's text as a SIP MESSAGE to the PBX's
SMS gateway URI (kamailio, with baresip registered as the gateway's number), over the SIP edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config.messages import PbxSmsSettings
from appliance.messaging.https import SendError
from appliance.messaging.transports import Outgoing, PbxSms
from tests.telephony.conftest import Recorder
from tests.telephony.peers import kamailio, registered_phone


async def test_a_text_reaches_the_pbx_sms_gateway_and_a_refusal_is_permanent(make_edge, tmp_path: Path) -> None:
    text = "Harbor Light Aesthetics: please pay the $50 deposit here: https://pay.example/ref-1"
    async with kamailio(tmp_path) as kport:
        gateway = await registered_phone(tmp_path / "sms", kport, "14155550100")
        try:
            edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{kport}", extension="250")
            sms = PbxSms(PbxSmsSettings(uri=f"sip:{{number}}@127.0.0.1:{kport}"), edge)
            await sms.send(Outgoing("key-1", "sms", "+1 (415) 555-0100", "", text))
            line = await gateway.wait_for("pay.example", limit_s=5)
            with pytest.raises(SendError) as refused:
                await sms.send(Outgoing("key-2", "sms", "+1 415 555 0199", "", "hello"))  # nobody has this number
        finally:
            await gateway.stop()
    assert text in line
    assert refused.value.permanent and "404" in str(refused.value)
