"""Payment links after the call: the provider for calls, and a payment provider's HTTPS API.

`PaymentApi.create_link` asks the provider for a link for one deposit, with an idempotency
key that stays the same across retries (the deposit's outbox message id), so a retry after a
crash gets the same link rather than a second one. The provider's answer is JSON; the link
and its reference are read from the configured (dotted) fields. The provider tells the
appliance the deposit was paid with a signed callback (`appliance.messaging.hooks`).
"""

from __future__ import annotations

from typing import Any

from appliance.config.messages import PaymentApiSettings
from appliance.messaging.https import SendError, SignedClient


def _dotted(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


class PaymentApi:
    def __init__(self, cfg: PaymentApiSettings) -> None:
        self.cfg = cfg
        self.client = SignedClient(cfg, "payment provider")

    async def create_link(self, deposit: dict[str, Any], key: str) -> tuple[str, str]:
        """(link, provider reference) for the deposit row `deposit`."""
        cents = int(deposit["amount_cents"])
        values = {"amount": str(cents), "amount_major": f"{cents / 100:.2f}", "currency": str(deposit["currency"]),
                  "reference": f"deposit-{deposit['id']}", "key": key}
        answer = await self.client.send(values, key)
        data = answer.json()
        link, ref = _dotted(data, self.cfg.link_field), _dotted(data, self.cfg.reference_field)
        if not isinstance(link, str) or not link.startswith("https://"):
            raise SendError("payment provider: the answer has no https:// link", permanent=True)
        return link[:500], str(ref or values["reference"])[:200]
