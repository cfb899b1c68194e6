"""A booking with a deposit: the payment provider makes the link (HTTPS), the patient gets it by
SMS (HTTPS gateway) and by email (SMTP with STARTTLS). The delivery process is killed with
SIGKILL while the gateway holds the SMS it has already applied; restarted, it sends the same
message again with the same idempotency key, and each receiver applies every message once."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.records.rotate import resolve_key
from appliance.records.store import Records
from appliance.staff.console import endpoints
from tests.foundation.helpers import ApplianceProcess
from tests.messaging.peers import HttpsPeer, SmtpPeer, config, wait_for
from tests.messaging.seed import book, row


@pytest.mark.timeout(120)
def test_payment_link_sms_and_email_exactly_once_across_a_sigkill(tmp_path: Path, write_config) -> None:
    https, smtp = HttpsPeer(tmp_path, hold_sms_at=1), SmtpPeer(tmp_path)
    cfg = write_config(config(tmp_path, https, smtp))
    settings = load_settings(cfg)
    records = Records.open(settings.db_path, resolve_key(settings.db_path, settings.db_key_file))
    records.outbox_set_endpoints(endpoints(settings), time.time())
    did = book(records, "call-1", name="Dana Lee", phone="+1 (415) 555-0100", email="dana@example.test")
    records.close()

    first = ApplianceProcess(cfg, "messages", "run")
    second = None
    try:
        assert https.holding.wait(60), "".join(first.raw)
        first.kill()  # SIGKILL: the SMS was applied by the gateway, the appliance never heard back
        https.release.set()
        second = ApplianceProcess(cfg, "messages", "run")
        wait_for(lambda: https.duplicates >= 1 and len(smtp.mail) == 1, timeout=60)
        wait_for(lambda: _statuses(settings) == ["sent", "sent"], timeout=30)
        code, _ = second.stop(signal.SIGTERM)
    finally:
        first.kill()
        if second is not None:
            second.kill()
        https.close()
        smtp.close()
    assert code == 0

    # the provider made one link; the gateway and the relay each applied every message once
    assert len(https.links) == 1 and https.refused == 0
    assert len(https.sms) == 1 and https.sms_requests == 2
    (key, sms), = https.sms.items()
    assert sms["to"] == "+14155550100" and sms["ref"] == key
    assert "https://pay.example/ref-1" in sms["text"] and "$50" in sms["text"]
    assert "Botox" not in sms["text"] and "Dana" not in sms["text"]  # PHI-minimal text
    assert smtp.received == 1
    (mid, mail), = smtp.mail.items()
    assert mail["To"] == "dana@example.test" and mail["Subject"] == "Harbor Light Aesthetics: your deposit"
    assert mid.startswith("<") and mail["X-Idempotency-Key"] in mid
    assert "https://pay.example/ref-1" in mail.get_payload(decode=True).decode()

    records = Records.open(settings.db_path, resolve_key(settings.db_path, settings.db_key_file))
    try:
        assert row(records, "SELECT status, link, reference FROM deposits WHERE id = ?", did) == (
            "sent", "https://pay.example/ref-1", "ref-1")
        keys = {r[0] for r in records.conn.execute("SELECT msg_key FROM messages")}
        assert key in keys and mail["X-Idempotency-Key"] in keys
        assert records.verify_audit().ok
    finally:
        records.close()
    logs = "".join(first.raw + second.raw)
    # the patient's number in any form (not any "555": a timestamp's microseconds may hold one)
    phone = re.compile(r"555\D{0,2}0100|415\D{0,2}555")
    assert not phone.search(logs) and "dana" not in logs.lower() and "pay.example" not in logs, phone.search(logs)


def _statuses(settings) -> list[str]:  # noqa: ANN001
    records = Records.open(settings.db_path, resolve_key(settings.db_path, settings.db_key_file))
    try:
        return [r[0] for r in records.conn.execute("SELECT status FROM messages ORDER BY id")]
    finally:
        records.close()
