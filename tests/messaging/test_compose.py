"""The pure rules: texts from the approved pack only, PHI-minimal SMS, consent and opt-out, the
carriers' keywords, which provider a call is told about, and the day-1 call's question about
written instructions (asked only when something was sent)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from appliance.clinic.messages_schema import Messages
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.payments import provider_for_calls
from appliance.config import Settings
from appliance.messaging.compose import Rights, may_send, money, render, reply_keyword, written_due

PACK = load_pack(DEMO_PACK)
VALUES = {"procedure": "Botox", "instructions": "- stay upright", "date": "March 7", "name": "Dana Lee"}


def test_a_text_message_never_names_the_procedure_unless_the_pack_allows_it() -> None:
    sms = render(PACK, "aftercare-instructions", "sms", VALUES, details=True)  # the demo pack does not allow it
    assert sms is not None and "Botox" not in sms.body and "Dana" not in sms.body and "upright" not in sms.body
    assert "instructions" not in sms.carries and sms.template == "demo-clinic@2025.1#msg-aftercare-instructions"
    email = render(PACK, "aftercare-instructions", "email", VALUES)
    assert email is not None and "Botox" in email.body and "stay upright" in email.body and "Botox" not in email.subject
    base = {"payment_link": {"id": "p", "sms": "pay {link}"}}
    with pytest.raises(ValidationError, match="must not name"):
        Messages.model_validate({**base, "aftercare_instructions": {"id": "a", "sms": "after your {procedure}"}})
    with pytest.raises(ValidationError, match="sms_procedure_names"):
        Messages.model_validate({**base, "aftercare_instructions": {"id": "a", "sms": "hi",
                                                                     "sms_detailed": "after your {procedure}"}})
    with pytest.raises(ValidationError, match="unknown placeholder"):
        Messages.model_validate({**base, "aftercare_instructions": {"id": "a", "sms": "hi {dob}"}})
    allowed = Messages.model_validate({**base, "sms_procedure_names": True, "aftercare_instructions": {
        "id": "a", "sms": "hi", "sms_detailed": "after your {procedure}: {instructions}"}})
    assert allowed.aftercare_instructions.sms_detailed


def test_consent_and_opt_out_per_purpose() -> None:
    assert may_send("payment-link", Rights(consent=None, opted_out=False)) == (True, "")  # asked for on the call
    assert may_send("payment-link", Rights(consent=None, opted_out=True)) == (False, "opted-out")
    assert may_send("payment-link", Rights(consent=False, opted_out=False)) == (False, "no-consent")
    assert may_send("aftercare-instructions", Rights(consent=None, opted_out=False)) == (False, "no-consent")
    assert may_send("aftercare-instructions", Rights(consent=True, opted_out=False)) == (True, "")
    assert [reply_keyword(t) for t in ("STOP", " stop. ", "Unsubscribe", "START", "stop calling me", "yes")] == [
        "stop", "stop", "stop", "start", None, None]
    assert written_due(date(2026, 3, 7), date(2026, 3, 8)) and not written_due(date(2026, 3, 1), date(2026, 3, 8))
    assert money(5000, "USD") == "$50" and money(1250, "EUR") == "€12.50"


def test_the_call_says_a_text_will_follow_only_with_an_sms_channel(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "s").write_text("x" * 32)
    plain = Settings()
    gateway = Settings.model_validate({"messages": {"sms": "gateway", "gateway": {
        "url": "https://gw.test/sms", "auth": "hmac", "secret_file": str(tmp_path / "s")}}})
    assert provider_for_calls(plain).texts_link is False
    assert provider_for_calls(gateway).texts_link is True
    assert PACK.dialogue.payment_link_staff and "text" not in PACK.dialogue.payment_link_staff


@pytest.mark.parametrize("written", [None, "email"])
async def test_the_day_1_call_asks_about_written_instructions_only_when_sent(written: str | None) -> None:
    contact = OutboundContext(kind="check-in", day=1, name="Dana Lee", dob=date(1985, 4, 12),
                              workflow="neuromodulator-botox", treated_on=date(2026, 3, 7), written=written)
    call = OutboundAftercareCall(PACK, load_lines(PACK), contact, now=datetime(2026, 3, 8, 10, 30))
    call.start()
    await call.caller_said("Dana Lee")
    reply = await call.caller_said("April 12 1985")
    said = " ".join(s.text for s in reply.says)
    assert ("Did they reach you?" in said) is (written is not None)
    if written:
        assert "stay upright" not in said
        reply = await call.caller_said("yes I got them")
        said = " ".join(s.text for s in reply.says)
        assert call.out.slots["written_received"] == "yes"
    assert "stay upright" in said and said.endswith("can you open them?")  # the day-1 check-in's question
    reply = await call.caller_said("yes")
    assert "concern" in " ".join(s.text for s in reply.says)  # then the concern question
