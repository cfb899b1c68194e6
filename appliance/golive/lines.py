"""Built-in operational lines of the go-live gates. They carry no clinical content, depend on no
protocol pack, and are synthesised once at start-up (pinned) so they play whatever the pack is."""

from __future__ import annotations

NOT_IN_SERVICE = "This line is not in service yet. Please call the clinic's front desk."
NOT_IN_SERVICE_PROVENANCE = "system#golive.not-in-service"

PILOT_MESSAGE = ("I can't help with that by phone yet, so I'll take a message for the clinic team, "
                 "and someone will call you back.")
PILOT_MESSAGE_PROVENANCE = "system#golive.pilot-message"

PINNED = (NOT_IN_SERVICE, PILOT_MESSAGE)
