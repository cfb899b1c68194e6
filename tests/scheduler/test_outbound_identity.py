"""Identity on an outbound call with dates of birth written the way speech recognition writes them."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import Pack


def call(pack: Pack) -> OutboundAftercareCall:
    contact = OutboundContext(kind="check-in", day=1, name="Emily Johnson", dob=date(1980, 3, 3),
                              workflow="neuromodulator-botox", treated_on=date(2025, 3, 7))
    return OutboundAftercareCall(pack, load_lines(pack), contact, now=datetime(2025, 3, 8, 10, 30))


@pytest.mark.parametrize("said", ["March 3, 1980.", "It's March 3rd, 1980.", "3/3/1980", "March third 1980",
                                  "It's marks third 1980."])
async def test_date_of_birth_as_transcribed_verifies(pack: Pack, said: str) -> None:
    c = call(pack)
    c.start()
    await c.caller_said(" This is Emily Johnson.")
    reply = await c.caller_said(said)
    assert c.verified, said
    assert reply.says[0].provenance == "demo-clinic@2025.1#outbound.intro_check_in"


async def test_wrong_year_is_not_verified(pack: Pack) -> None:
    c = call(pack)
    c.start()
    await c.caller_said("Emily Johnson")
    reply = await c.caller_said("March 3, 1981.")
    assert not c.verified
    assert reply.says[0].provenance == "demo-clinic@2025.1#outbound.identity_retry"


async def test_a_failed_transfer_is_told_to_the_patient(pack: Pack) -> None:
    c = call(pack)
    c.start()
    await c.caller_said("This is Emily Johnson.")
    await c.caller_said("March 3, 1980.")
    reply = await c.caller_said("My eyelid is drooping since yesterday.")
    assert any(a.kind == "transfer" for a in reply.actions)
    told = c.transfer_failed("201", "rejected (404)")
    assert told.says[0].provenance == "demo-clinic@2025.1#dialogue.transfer_failed"
    assert told.says[0].interruptible is False and "30 minutes" in told.says[0].text  # the Botox urgent target
    assert [e.category for e in c.ended("remote-bye").escalations] == ["eyelid-or-vision", "transfer-failed"]
