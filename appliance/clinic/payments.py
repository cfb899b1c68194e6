"""Deposits: a provider interface, the LAN default that hands the job to staff, and a provider
whose link the appliance makes and texts itself.

The appliance takes no card data by voice. During the call a provider only says what will
happen (a `StaffTask` in the call's outcome); nothing is sent while the caller is on the line.
Once the booking is stored with its requested deposit, `appliance.messaging` does the work:
the default stores a "send payment link" staff task that the console shows and staff complete
(the deposit moves requested -> sent -> paid); a configured provider (`[payments] provider =
"https"`) makes the link through its API and the message channel texts it.

`texts_link`: the clinic has an SMS channel, so the caller may be told a text will follow
(the pack's `payment_link` line); otherwise the engine says `payment_link_staff`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from appliance.config import Settings


@dataclass(frozen=True)
class PaymentRequest:
    booking_id: str
    amount: int
    currency: str
    policy_id: str
    policy_kind: str
    phone: str | None


@dataclass(frozen=True)
class StaffTask:
    kind: str  # "send-payment-link", "payment-link", "provider-review", "call-back", "message"
    detail: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    texts_link: bool

    async def request_deposit(self, request: PaymentRequest) -> StaffTask: ...


def _detail(request: PaymentRequest) -> dict[str, Any]:
    return {"booking": request.booking_id, "amount": request.amount, "currency": request.currency,
            "policy": request.policy_id, "policy_kind": request.policy_kind, "phone": request.phone}


class StaffTaskPayments:
    """Default: the front desk sends the clinic's payment link (a staff task in the console)."""

    def __init__(self, *, texts_link: bool = False) -> None:
        self.texts_link = texts_link

    async def request_deposit(self, request: PaymentRequest) -> StaffTask:
        return StaffTask("send-payment-link", _detail(request))


class ProviderPayments:
    """A payment provider's API makes the link after the call; the appliance sends it."""

    def __init__(self, *, texts_link: bool) -> None:
        self.texts_link = texts_link

    async def request_deposit(self, request: PaymentRequest) -> StaffTask:
        return StaffTask("payment-link", {**_detail(request), "via": "provider"})


def provider_for_calls(settings: Settings) -> PaymentProvider:
    """What a call's conversation is told about deposits: who makes the link, and whether the
    clinic has an SMS channel (then the caller hears that a text will follow)."""
    texts = settings.messages.sms != "none"
    if settings.payments.provider == "https":
        return ProviderPayments(texts_link=texts)
    return StaffTaskPayments(texts_link=texts)
