"""`GoLive`: the go-live state the console shows and changes: the protocol pack's status (also
the banner on every page), the pilot per workflow (calls handled and reviewed; the next one turned
on), and the supervised period (ended once its days or calls are done). Every change is audited
and kept in the record store (`appliance.golive.store`); who may make it is the console's concern."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.golive import store
from appliance.golive.packstatus import PackStatus, pack_status
from appliance.golive.policy import Pilot, Supervision
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.errors import NotFoundError

log = get_logger(__name__)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class GoLive:
    def __init__(self, settings: Settings, records: Any, status: PackStatus, workflows: tuple[str, ...]) -> None:
        self.settings = settings
        self.records = records
        self.status = status
        self.workflows = workflows  # the pack's workflow ids, in order

    @classmethod
    async def open(cls, settings: Settings, records: Any) -> GoLive:
        status = await asyncio.to_thread(pack_status, settings, datetime.now(UTC))
        workflows: tuple[str, ...] = ()
        if status.ref is not None:
            from appliance.clinic.pack import load_pack

            pack = await asyncio.to_thread(load_pack, Path(status.path))
            workflows = tuple(pack.workflows)
        g = cls(settings, records, status, workflows)
        if settings.golive.supervised and records is not None:
            state = await records.run(store.load_state)
            if not state.get("supervised_started_at"):
                await records.run(lambda r: store.change_state(
                    r, Access("system:golive", "supervised period"), "golive.supervised.start", "golive",
                    supervised_started_at=datetime.now(UTC).isoformat()))
        return g

    async def overview(self) -> dict[str, Any]:
        state = await self.records.run(store.load_state)
        counts = await self.records.run(store.workflow_counts)
        held = await self.records.run(store.held_count)
        pilot = Pilot.of(self.settings.golive, state.get("enabled_workflows") or ())
        sup = Supervision(self.settings.golive.supervised, _dt(state.get("supervised_started_at")),
                          _dt(state.get("supervised_ended_at")))
        live = [w for w in self.workflows if pilot.workflow_live(w)]
        supervised_calls = {w: c["supervised"] for w, c in counts.items()}
        may_end, why = sup.may_end(self.settings.golive, datetime.now(UTC), supervised_calls, live)
        return {"state": state, "counts": counts, "held": held, "pilot": pilot, "supervision": sup,
                "may_end": may_end, "why": why}

    async def enable_workflow(self, workflow: str, by: str) -> None:
        if workflow not in self.workflows:
            raise NotFoundError(f"no workflow {workflow}")
        state = await self.records.run(store.load_state)
        enabled = sorted({*(state.get("enabled_workflows") or ()), workflow})
        await self.records.run(lambda r: store.change_state(r, Access(f"staff:{by}", "pilot"), "golive.workflow.enable",
                                                            f"workflow:{workflow}", enabled_workflows=enabled))
        log.info("golive.workflow_enabled", workflow=workflow, by=hostile(by))

    async def end_supervised(self, by: str) -> tuple[bool, str]:
        o = await self.overview()
        if not o["may_end"]:
            return False, o["why"]
        await self.records.run(lambda r: store.change_state(
            r, Access(f"staff:{by}", "supervised period"), "golive.supervised.end", "golive",
            supervised_ended_at=datetime.now(UTC).isoformat(), supervised_ended_by=by))
        log.info("golive.supervised_ended", by=hostile(by))
        return True, o["why"]
