"""The console's own outbox endpoint: open pages learn of each change over SSE (the relay
itself is the record store's, `appliance.records.relay.Relay`)."""

from __future__ import annotations

from appliance.records.outbox import OutboxMessage
from appliance.staff.events import EventBus

# What open pages may learn from an event: ids, severity, category, who acted; never PHI
# (message payloads can carry a whole summary; every signed-in role sees the stream).
BUS_FIELDS = ("id", "call_id", "severity", "category", "deadline_at", "by", "corrected", "final", "level",
              "appointment_id")


class BusSink:
    """The console's own endpoint: open pages learn of the change over SSE."""

    name = "console"

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def deliver(self, msg: OutboxMessage) -> None:
        event = {k: msg.payload[k] for k in BUS_FIELDS if k in msg.payload}
        self.bus.publish({**event, "topic": msg.topic, "msg_id": msg.msg_id})
