"""Deposits: a provider interface, and the LAN default that hands the job to staff.

The appliance takes no card data by voice. The default provider creates a staff task "send
payment link" (the front desk sends the clinic's own link); a site can plug in a provider that
creates the link itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    kind: str  # "send-payment-link", "provider-review", "call-back", "message"
    detail: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    async def request_deposit(self, request: PaymentRequest) -> StaffTask: ...


class StaffTaskPayments:
    """Default: record a staff task to text the caller the clinic's payment link."""

    def __init__(self) -> None:
        self.tasks: list[StaffTask] = []

    async def request_deposit(self, request: PaymentRequest) -> StaffTask:
        task = StaffTask("send-payment-link", {
            "booking": request.booking_id, "amount": request.amount, "currency": request.currency,
            "policy": request.policy_id, "policy_kind": request.policy_kind, "phone": request.phone})
        self.tasks.append(task)
        return task
