"""The front desk's outbound runner: the aftercare scheduler's sibling, started beside it.

Every tick it plans the reminders of booked appointments (`DeskStore.plan_reminders`, idempotent:
moved and cancelled appointments are caught up there too), then claims due desk contacts within
the outbound capacity it shares with the aftercare scheduler and dials them through the same
SIP edge. Missed calls arrive from the SIP edge (`busy`, a 486 at capacity) and the call runner
(`call_ended`): each is one store call on the runner's own database thread, never on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from appliance.clinic.pack import Pack
from appliance.config import OutboundSettings, Settings
from appliance.logs import get_logger
from appliance.records.audit import Access
from appliance.records.db import connect
from appliance.records.migrations import migrate
from appliance.records.service import AsyncRecords
from appliance.scheduler.desk_plan import (
    DeskRules,
    FollowUpRule,
    before_hours_of,
    callback_number,
    plan_follow_up,
    said_something,
)
from appliance.scheduler.desk_store import DeskClaim, DeskResult, DeskStore
from appliance.scheduler.policy import outbound_capacity
from appliance.scheduler.runner import Dialer, Scheduler
from appliance.scheduler.setup import policy_from

log = get_logger(__name__)
ACCESS = Access("system:desk", "front-desk-call")


def rules_from(pack: Pack, o: OutboundSettings) -> DeskRules:
    return DeskRules(before_hours=before_hours_of(pack) if o.reminders else (),
                     callback_delay=timedelta(minutes=o.callback_delay_minutes),
                     callback_window=timedelta(hours=o.callback_hours))


def follow_up_rule_of(pack: Pack) -> FollowUpRule | None:
    """The pack's concern follow-up (`outbound.yaml` concern_follow_up), or None without one."""
    fu = pack.outbound.concern_follow_up if pack.outbound is not None else None
    return None if fu is None else FollowUpRule(timedelta(hours=fu.after_hours), timedelta(hours=fu.within_hours))


def follow_up_plan(pack: Pack, o: OutboundSettings) -> Any:
    """What resolving a concern's escalation schedules (`appliance.records.concern.FollowUpPlan`),
    or None when the pack has no concern follow-up."""
    from appliance.records.concern import FollowUpPlan

    rule = follow_up_rule_of(pack)
    if rule is None:
        return None
    policy, rules = policy_from(pack, o), rules_from(pack, o)

    def times(resolved_at: Any) -> Any:
        t = plan_follow_up(resolved_at, rule, policy)
        return None if t is None else (t.due_at, t.next_at, t.expires_at)

    return FollowUpPlan(flags=frozenset(f.id for f, _ in pack.all_red_flags()), times=times,
                        number=lambda n: callback_number(n, rules.min_digits))


def open_desk_store(db_path: Path, key: bytes, pack: Pack, o: OutboundSettings) -> DeskStore:
    """A connection of its own (one thread uses it), migrated to the latest schema."""
    conn = connect(db_path, key)
    try:
        migrate(conn)
        return DeskStore(conn, policy_from(pack, o), rules_from(pack, o))
    except BaseException:
        conn.close()
        raise


def desk_store_for(settings: Settings, pack: Pack) -> DeskStore:
    from appliance.golive.gate import is_demo
    from appliance.golive.outbound import OutboundGate
    from appliance.records.rotate import resolve_key

    store = open_desk_store(settings.db_path, resolve_key(settings.db_path, settings.db_key_file), pack,
                            settings.outbound)
    store.gate = OutboundGate.of(settings, is_demo(pack))
    return store


class DeskRunner(Scheduler):
    name = "desk"

    def __init__(self, open_store: Callable[[], DeskStore], dialer: Dialer, handler: Any, settings: OutboundSettings,
                 *, other_outbound: Callable[[], int] = lambda: 0, **kw: Any) -> None:
        super().__init__(open_store, dialer, handler, settings, **kw)  # type: ignore[arg-type]
        self.other_outbound = other_outbound  # the aftercare scheduler's calls in progress
        self._pending: set[asyncio.Task[Any]] = set()

    @property
    def desk(self) -> DeskStore:
        return self.store  # type: ignore[return-value]

    async def start(self) -> None:
        await super().start()
        log.info("desk.started", reminders=bool(self.desk.rules.before_hours), callbacks=self.settings.callbacks)

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await super().stop()

    async def tick(self) -> int:
        await self._db(self.desk.plan_reminders, ACCESS, self.clock())
        room = outbound_capacity(active_outbound=len(self._calls) + self.other_outbound(),
                                 active_inbound=self.active_inbound(), max_calls=self.max_calls,
                                 max_outbound=self.settings.max_outbound, reserve_inbound=self.settings.reserve_inbound)
        claims = await self._db(self.desk.claim_due, ACCESS, self.clock(), self.worker,
                                timedelta(seconds=self.settings.lease_seconds), room)
        for claim in claims:
            task = asyncio.create_task(self._place(claim), name=f"desk-{claim.contact_id}")
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        return len(claims)

    async def _place(self, claim: DeskClaim) -> None:  # type: ignore[override]
        result = await self._dial(claim, DeskResult, "desk")
        state = await self._db(self.desk.finish, ACCESS, claim, result, self.clock())
        log.info("desk.call_done", contact=claim.contact_id, kind=claim.kind, result=result.result,
                 disposition=result.disposition, state=state)

    # ---- missed calls (from the SIP edge and the call runner) ------------------------------

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._store is None:
            return
        task = asyncio.get_running_loop().create_task(self._guarded(fn, *args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            if await self._db(fn, *args):
                self.wake()
        except Exception:  # noqa: BLE001 - a lost call-back is logged; the call itself went on
            log.exception("desk.missed_call_failed")

    def busy(self, number: str) -> None:
        """The SIP edge turned a caller away (486 at capacity): call them back (sync: from the edge)."""
        if self.settings.callbacks:
            self._spawn(self.desk.record_missed, ACCESS, number, "busy", self.clock())

    async def call_ended(self, info: Any, outcome: Any) -> None:
        """An inbound call ended: nothing said earns a call-back; talking cancels a pending one."""
        if getattr(info, "direction", "inbound") != "inbound" or self._store is None:
            return
        number = getattr(info, "remote_number", "") or ""
        if said_something(getattr(outcome, "turns", ())):
            self._spawn(self.desk.caller_talked, ACCESS, number, self.clock())
        elif self.settings.callbacks:
            self._spawn(self.desk.record_missed, ACCESS, number, "silent", self.clock())


class DeskComponent:
    """The desk runner the service starts (None when there is no record store, or reminders and
    call-backs are both off and the pack has no concern follow-up), and how many calls it has going."""

    def __init__(self, runner: DeskRunner | None) -> None:
        self.runner = runner

    def active(self) -> int:
        return len(self.runner._calls) if self.runner is not None else 0  # noqa: SLF001


def desk_component(settings: Settings, pack: Pack, engines: Any, records: AsyncRecords | None, calls: Any, shadow: Any,
                   dialer: Dialer) -> DeskComponent:
    """The production desk runner: the SIP edge dials, the voice pipeline speaks, `calls` (the
    inbound call runner) lends its slot calendar, live calls and language model."""
    o = settings.outbound
    if records is None or not (o.callbacks or (o.reminders and before_hours_of(pack)) or follow_up_rule_of(pack)):
        return DeskComponent(None)
    from appliance.clinic.outbound_lines import load_lines
    from appliance.scheduler.desk_calls import desk_voice_handler

    handler = desk_voice_handler(pack, load_lines(pack), engines, settings, records=records, scheduler=calls.scheduler,
                                 live=calls.live, llm=calls.llm)
    return DeskComponent(DeskRunner(
        lambda: desk_store_for(settings, pack), dialer, handler, o, max_calls=settings.sip.max_calls,
        active_inbound=lambda: calls.active + (shadow.active if shadow else 0)))
