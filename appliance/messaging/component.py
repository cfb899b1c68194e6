"""`Messaging`: the service component that delivers messages to patients and makes payment links.

It runs its own outbox relay (`appliance.records.relay.Relay`, over the record store's outbox)
for the messaging endpoints (`worker.endpoints`), beside the console's, so a slow SMTP relay
never holds the console's live updates. The endpoints are registered with the console's (one
list, `staff.console.endpoints`). `open_pack` loads the clinic's pack for it (and the console).
"""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.logs import get_logger
from appliance.records.service import AsyncRecords

log = get_logger(__name__)


async def open_pack(settings: Any) -> Any:
    """The configured protocol pack (the demo pack when none is), loaded off the event loop."""
    from appliance.clinic.pack import DEMO_PACK, load_pack

    return await asyncio.to_thread(load_pack, settings.clinic.pack or DEMO_PACK)


async def build_sinks(settings: Any, records: AsyncRecords, pack: Any, edge: Any = None) -> list[Any]:
    """The messaging relay's sinks; secrets and TLS contexts are loaded now (a bad file stops the start)."""
    from appliance.messaging.payments import PaymentApi
    from appliance.messaging.transports import transports
    from appliance.messaging.worker import MessageSink, WorkSink

    adapters = await asyncio.to_thread(transports, settings.messages, edge)
    api = None
    if settings.payments.provider == "https" and settings.payments.https is not None:
        api = await asyncio.to_thread(PaymentApi, settings.payments.https)
    sinks: list[Any] = [WorkSink(records, settings, pack, api)]
    sinks += [MessageSink(records, t, settings.messages.max_attempts) for t in adapters.values()]
    return sinks


class Messaging:
    name = "messaging"

    def __init__(self, settings: Any, records: AsyncRecords | None, pack: Any, edge: Any = None, *,
                 poll_s: float = 0.25) -> None:
        self.settings, self.records, self.pack, self.edge, self.poll_s = settings, records, pack, edge, poll_s
        self.relay: Any = None

    async def start(self) -> None:
        from appliance.records.relay import RecordsOutbox, Relay

        if self.records is None:
            raise RuntimeError("start the record store before messaging")
        sinks = await build_sinks(self.settings, self.records, self.pack, self.edge)
        self.relay = Relay(RecordsOutbox(self.records), sinks, poll_s=self.poll_s)
        await self.relay.start()
        log.info("messaging.started", channels=list(self.settings.messages.channels()),
                 payments=self.settings.payments.provider)

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
