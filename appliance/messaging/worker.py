"""The messaging relay's endpoints (outbox consumers), at least once, in order per endpoint.

  messaging       `deposit.requested`: a staff task (default), or the provider's link and the
                  payment-link messages; `aftercare.recorded`: the written instructions on the
                  channels the patient consented to, else a printable sheet for staff.
  messages-sms    `message.sms`: one text, through the gateway or the PBX.
  messages-email  `message.email`: one email, through the SMTP relay.

A message is checked against the patient's opt-out and consent right before every attempt.
A failed attempt is retried with the outbox's back-off; after `[messages] max_attempts` (or
at once when the receiver refused it for good) it is a dead letter, shown in the console.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.logs import get_logger
from appliance.messaging import store
from appliance.messaging.compose import may_send
from appliance.messaging.https import SendError
from appliance.messaging.plans import queue_payment_link, queue_written
from appliance.messaging.transports import Outgoing, Transport
from appliance.records.audit import Access
from appliance.records.db import transaction
from appliance.records.errors import NotFoundError
from appliance.records.outbox import OutboxMessage
from appliance.records.service import AsyncRecords
from appliance.records.store import Records

log = get_logger(__name__)
ACCESS = Access("system:messaging", "patient-messages")
WORK = "messaging"


def endpoints(settings: Any) -> list[str]:
    """The messaging relay's outbox endpoints (registered with the console's)."""
    return [WORK, *(f"messages-{ch}" for ch in settings.messages.channels())]


def _staff_task(r: Records, did: int, reason: str, link: str | None = None) -> None:
    with transaction(r.conn):
        dep = store.deposit_in(r, did)
        if dep is None:
            return
        store.add_task_in(r, ACCESS, "send-payment-link", f"deposit:{did}", patient_id=dep["patient_id"],
                          deposit_id=did, detail={"reason": reason, **({"link": link} if link else {})})


class WorkSink:
    name = WORK

    def __init__(self, records: AsyncRecords, settings: Any, pack: Any, api: Any = None,
                 today: Any = None) -> None:
        self.records, self.settings, self.pack, self.api = records, settings, pack, api
        self.channels = settings.messages.channels()
        self.today = today or (lambda: datetime.now(ZoneInfo(pack.clinic.timezone)).date())

    async def deliver(self, msg: OutboxMessage) -> None:
        if msg.topic == "deposit.requested":
            await self._deposit(msg, int(msg.payload["deposit_id"]))
        elif msg.topic == "aftercare.recorded":
            plan, today = int(msg.payload["plan_id"]), self.today()
            done = await self.records.run(lambda r: queue_written(r, ACCESS, self.pack, plan, self.channels, today))
            log.info("messaging.aftercare_written", plan=plan, result=done)

    async def _deposit(self, msg: OutboxMessage, did: int) -> None:
        if self.api is None:  # the default: the front desk sends the clinic's link
            await self.records.run(lambda r: _staff_task(r, did, "staff-sends-link"))
            log.info("messaging.payment_task", deposit=did)
            return
        dep = await self.records.run(lambda r: store.deposit_in(r, did))
        if dep is None or dep["status"] != "requested":
            return
        link, ref = dep["link"], dep["reference"]
        if not link:
            try:
                link, ref = await self.api.create_link(dep, msg.msg_id)  # the same key on every retry
            except SendError as e:
                if e.permanent or msg.attempts + 1 >= self.settings.messages.max_attempts:
                    log.warning("messaging.payment_link_failed", deposit=did, error=str(e), handed_to="staff")
                    await self.records.run(lambda r: _staff_task(r, did, "provider-failed"))
                    return
                raise
        tz = self.pack.clinic.timezone
        queued = await self.records.run(lambda r: queue_payment_link(r, ACCESS, self.pack, did, link, ref,
                                                                      self.channels, tz))
        if not queued:  # no channel can reach the patient: staff send the provider's link
            await self.records.run(lambda r: _staff_task(r, did, "no-channel", link))
        log.info("messaging.payment_link", deposit=did, messages=queued)


class MessageSink:
    """One channel's sends."""

    def __init__(self, records: AsyncRecords, transport: Transport, max_attempts: int) -> None:
        self.records = records
        self.transport = transport
        self.channel = transport.channel
        self.name = f"messages-{self.channel}"
        self.max_attempts = max_attempts

    async def _mark(self, mid: int, status: str, error: str = "", max_attempts: int = 0) -> str:
        return await self.records.run(lambda r: store.mark(r, ACCESS, mid, status, error=error,
                                                           max_attempts=max_attempts))

    async def deliver(self, msg: OutboxMessage) -> None:
        if msg.topic != f"message.{self.channel}":
            return  # not for this endpoint
        mid = int(msg.payload["message_id"])
        try:
            row = await self.records.run(lambda r: store.message(r, ACCESS, mid))
        except NotFoundError:
            return
        if row["status"] != "queued":
            return  # sent, suppressed or dead already: a repeated outbox delivery changes nothing
        ok, why = may_send(row["purpose"], row["rights"])  # honoured before every attempt
        if not ok:
            await self._mark(mid, "suppressed", why)
            log.info("message.suppressed", message=mid, channel=self.channel, reason=why)
            return
        out = Outgoing(row["msg_key"], self.channel, row["recipient"], row["subject"], row["body"])
        try:
            await self.transport.send(out)
        except SendError as e:
            status = await self._mark(mid, "failed", str(e), 1 if e.permanent else self.max_attempts)
            log.warning("message.send_failed", message=mid, channel=self.channel, status=status,
                        attempts=row["attempts"] + 1, error=str(e))
            if status == "queued":
                raise
            return
        await self._mark(mid, "sent")
        log.info("message.sent", message=mid, channel=self.channel, purpose=row["purpose"])

