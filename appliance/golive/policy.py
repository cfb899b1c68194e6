"""Pure go-live decisions: is this call a test call, may a demo pack answer it, which workflows
and call types are live in the pilot, and is a call supervised. No clock, no I/O."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from appliance.config import CALL_TYPES, CallType, GoLiveSettings

Decision = Literal["answer", "not-in-service"]


def _digits(number: str | None) -> str:
    return "".join(ch for ch in (number or "") if ch.isdigit() or ch in "*#+")


def in_networks(address: str | None, networks: Iterable[str]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    for net in networks:
        network = ipaddress.ip_network(net, strict=False)
        if ip.version == network.version and ip in network:
            return True
    return False


def is_test_call(golive: GoLiveSettings, *, source: str | None, number: str | None, direction: str,
                 own_address: str | None = None) -> bool:
    """A test call: from a listed test source (loopback by default), from the box itself (the
    doctor's voice-path call), or an inbound caller ID listed as a test phone behind the PBX."""
    if in_networks(source, golive.test_sources):
        return True
    if own_address and not ipaddress.ip_address(own_address).is_unspecified and source == own_address:
        return True
    if direction == "inbound" and golive.test_numbers:
        caller = _digits(number)
        return bool(caller) and caller in {_digits(n) for n in golive.test_numbers}
    return False


def gate(demo: bool, test_call: bool) -> Decision:
    """Demo content never reaches a patient: a demo pack answers test calls only."""
    return "answer" if test_call or not demo else "not-in-service"


@dataclass(frozen=True)
class Pilot:
    """Which workflows and call types are live. `enabled` holds those an admin turned on."""

    active: bool
    workflows: frozenset[str]
    call_types: frozenset[CallType]

    @classmethod
    def of(cls, golive: GoLiveSettings, enabled: Iterable[str] = ()) -> Pilot:
        if not golive.pilot:
            return cls(False, frozenset(), frozenset(CALL_TYPES))
        return cls(True, frozenset(golive.live_workflows) | frozenset(enabled), frozenset(golive.live_call_types))

    def workflow_live(self, workflow: str | None) -> bool:
        return not self.active or workflow is None or workflow in self.workflows

    def call_type_live(self, call_type: CallType | None) -> bool:
        return not self.active or call_type is None or call_type in self.call_types

    def live(self, call_type: CallType | None, workflow: str | None) -> bool:
        return self.call_type_live(call_type) and self.workflow_live(workflow)


@dataclass(frozen=True)
class Supervision:
    """The supervised period: on from the first start with `supervised = true` until an admin
    ends it; it may be ended once its days have passed or every live workflow has had its calls."""

    on: bool
    started_at: datetime | None
    ended_at: datetime | None

    def active(self) -> bool:
        return self.on and self.ended_at is None

    def may_end(self, golive: GoLiveSettings, now: datetime, calls_per_workflow: Mapping[str, int],
                workflows: Iterable[str]) -> tuple[bool, str]:
        """(may the admin end it now, why or why not)."""
        if not self.active():
            return False, "the supervised period is not running"
        if golive.supervised_days and self.started_at is not None:
            due = self.started_at + timedelta(days=golive.supervised_days)
            if now >= due:
                return True, f"{golive.supervised_days} days have passed"
            if not golive.supervised_calls:
                return False, f"the period runs until {due:%Y-%m-%d %H:%M}"
        if golive.supervised_calls:
            short = sorted(w for w in workflows if calls_per_workflow.get(w, 0) < golive.supervised_calls)
            if not short:
                return True, f"every live workflow has had {golive.supervised_calls} supervised calls"
            return False, f"{len(short)} live workflow(s) below {golive.supervised_calls} calls: {', '.join(short)}"
        return True, "no minimum period is configured"


def outbound_call_type(kind: str) -> CallType:
    """The pilot's call type of a scheduled contact (`appliance.scheduler.plan.KINDS`)."""
    return "recall" if kind == "recall" else "outbound-aftercare"


def pbx_host(sip_target: str | None) -> str | None:
    """The host of a `host:port` (or `[v6]:port`) PBX address from the settings."""
    if not sip_target:
        return None
    host = sip_target.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_test_outbound(golive: GoLiveSettings, *, number: str | None, pbx: str | None) -> bool:
    """An outbound test call: to a listed test phone, or through a PBX at a test source address
    (loopback by default: the lab's kamailio, `make run`); a clinic's PBX on the LAN is not one."""
    if golive.test_numbers and _digits(number) and _digits(number) in {_digits(n) for n in golive.test_numbers}:
        return True
    return in_networks(pbx, golive.test_sources)


def outbound_hold(*, demo: bool, test_call: bool, pilot: Pilot, kind: str, workflow: str | None) -> str | None:
    """Why a scheduled outbound call must not be placed (None: place it). A held contact goes to
    staff as a task: an aftercare check-in the appliance may not make is still owed to the patient."""
    if demo and not test_call:
        return "the loaded pack is demo content, which calls test phones only"
    call_type = outbound_call_type(kind)
    if not pilot.call_type_live(call_type):
        return f"{call_type} calls are not live in the pilot"
    if not pilot.workflow_live(workflow):
        return f"the {workflow} workflow is not live in the pilot"
    return None
