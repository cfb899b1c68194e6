"""`Pager`: delivers emergency and urgent escalations to the on-call clinicians' desk phones.

It is an outbox consumer of the record store (endpoint `pager.desk-phones`): every
`escalation.raised` message starts paging that escalation; the message counts as delivered
once paging has settled (acknowledged, connected, the chain exhausted, or routine: left in
the queue), so a restart resumes paging what was still open. The decisions are the pure
policy of `appliance.staff.paging`; this component only carries them out:

- page: call the extension through the PBX, speak the PHI-minimal brief ("urgent filler
  concern, patient on line 2, press 1 to connect"), and send the same as a SIP MESSAGE text
  where `[paging] sip_message` is on;
- pressing 1 acknowledges the escalation (as the staff account with that extension) and,
  when the patient's call is still up and its own, connects the two calls (warm transfer by
  bridging); the console shows every page (`escalations.paged`) live;
- the conversation's own warm transfer (a red flag that transfers to the on-call clinician)
  is the first page: the pager waits for its result instead of ringing the same phone twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from appliance.clinic import after_hours
from appliance.config import PagingSettings
from appliance.live.registry import LiveCall, LiveCalls
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.errors import ConflictError
from appliance.staff.pagecall import Dialer, TextSender, ring_and_brief
from appliance.staff.paging import (
    ENDPOINT,
    Attempt,
    PageOutcome,
    acknowledge_brief,
    brief,
    callback_brief,
    decide,
    exhausted_note,
    text_page,
)
from appliance.staff.repo import Row, StaffRepo
from appliance.voice.briefing import duration_s, speak

log = get_logger(__name__)
RANK = {"emergency": 0, "urgent": 1}

CONVERSATION_TRANSFER_S = 180.0  # longest the pager leaves a planned warm transfer to the conversation
GONE_LINE = "The patient has hung up. The escalation is acknowledged; please call the patient back."
BUSY_LINE = "The patient is being connected to a colleague. The escalation is acknowledged."
NO_TRANSFER_LINE = "The escalation is acknowledged. Please call the patient back."


def chain_of(pack: Any) -> tuple[str, ...]:
    return tuple(oc.extension for oc in pack.clinic.on_call)


class Pager:
    name = "pager"

    def __init__(self, settings: PagingSettings, repo: StaffRepo, sip: Any, live: LiveCalls, pack: Any, voice: Any,
                 *, clock: Callable[[], float] = time.time, poll_s: float = 0.5,
                 local_now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.sip: Dialer = sip
        self.live = live
        self.pack = pack
        self.voice = voice
        self.clock = clock
        self.poll_s = poll_s
        self.local_now = local_now or self._clinic_now  # the clinic's wall clock: who is on call (after hours)
        self.chain = chain_of(pack)
        self._task: asyncio.Task[None] | None = None
        self._active: dict[int, asyncio.Task[None]] = {}  # outbox seq -> paging of one escalation
        self._nudges: dict[int, asyncio.Event] = {}  # escalation id -> "its status changed"
        self._wake = asyncio.Event()
        self._texts: set[asyncio.Task[None]] = set()  # text pages on their way
        self._finishing: set[asyncio.Task[Any]] = set()  # answered page calls left to end on their own
        self._calls: dict[str, tuple[str, asyncio.Future[Row]]] = {}  # call key -> paging under way for it

    # -- component ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pager")
        log.info("pager.started", chain=len(self.chain), sip_message=self.settings.sip_message)

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._active.values(), *self._texts, *self._finishing) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(t, 1.5)
        self._task = None
        self._active.clear()

    def _clinic_now(self) -> datetime:
        from appliance.clinic.clinic_clock import clinic_now  # the one clinic clock of the box (and its test hook)

        return clinic_now(self.pack)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # noqa: BLE001  (a database hiccup must not end paging)
                log.exception("pager.poll_failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def poll(self) -> None:
        """Take up new escalations; pass status changes on to the paging under way."""
        for msg in await self.repo.outbox_due(ENDPOINT, self.clock(), 200):
            if msg.seq in self._active:
                continue
            eid = msg.payload.get("id")
            if msg.topic == "escalation.raised" and isinstance(eid, int):
                self._active[msg.seq] = asyncio.create_task(self._run(msg.seq, eid), name=f"page-{eid}")
                continue
            if msg.topic in ("escalation.acknowledged", "escalation.resolved") and eid in self._nudges:
                self._nudges[eid].set()
            await self.repo.outbox_delivered(ENDPOINT, msg.seq, self.clock())

    async def _run(self, seq: int, eid: int) -> None:
        try:
            await self.page_escalation(eid)
        except asyncio.CancelledError:
            raise  # stopping: the message stays due, paging resumes after a restart
        except Exception:  # noqa: BLE001
            log.exception("pager.failed", escalation=eid)
        finally:
            self._active.pop(seq, None)
            self._nudges.pop(eid, None)
        await self.repo.outbox_delivered(ENDPOINT, seq, self.clock())

    # -- one escalation -------------------------------------------------------------------------
    def topic_of(self, row: Row) -> str:
        """The procedure family of the red flag's workflow ("filler"), else the category."""
        for flag, wf in self.pack.all_red_flags():
            if wf and flag.id == row.get("detail"):
                return str(self.pack.workflows[wf].family)
        return str(row.get("category") or "patient")

    async def page_escalation(self, eid: int) -> str:
        """Run the policy for one escalation to its end; returns the final decision.

        A further escalation on a call whose paging is under way (a failed warm transfer, a
        second red flag) is not paged again: it follows that paging's result (acknowledged by
        the same clinician), unless it is more severe."""
        row = await self.repo.escalation(eid, None)
        if row["status"] != "open":
            return "done"
        severity = row["severity"]
        cid = row.get("call_key")  # the appliance's own key: two calls may share a PBX Call-ID
        lead = self._calls.get(cid) if cid and severity in RANK else None
        if lead is not None and RANK[severity] >= RANK[lead[0]]:
            final = await asyncio.shield(lead[1])
            if final.get("acknowledged_by"):
                await self._acknowledge_as(eid, str(final["acknowledged_by"]), "same-call")
                log.info("page.joined", escalation=eid)
                return "done"
        if not cid or severity not in ("emergency", "urgent") or cid in self._calls:
            return await self._page_policy(eid, row)
        settled: asyncio.Future[Row] = asyncio.get_running_loop().create_future()
        self._calls[cid] = (severity, settled)
        try:
            return await self._page_policy(eid, row)
        finally:
            del self._calls[cid]
            try:
                settled.set_result(await self.repo.escalation(eid, None))
            except BaseException:
                settled.set_result(row)
                raise

    async def _page_policy(self, eid: int, row: Row) -> str:
        severity = row["severity"]
        response_s = max(0.0, float(row["deadline_at"]) - float(row["created_at"]))
        local = self.local_now()  # who is on call: the daytime chain, or the after-hours list at this time
        targets = {t.dial: t for t in after_hours.paging_chain(self.pack.clinic, local)}
        chain = tuple(targets)
        nudge = self._nudges.setdefault(eid, asyncio.Event())
        attempts: list[Attempt] = []
        running: dict[int, asyncio.Task[PageOutcome]] = {}
        calls: set[int] = set()  # attempts that are page calls (not the conversation's own transfer)
        live = self.live.get(row.get("call_key"))
        if live is not None and live.busy and severity in ("emergency", "urgent"):
            target = live.transferring or live.planned or ""
            attempts.append(Attempt(0, target, self.clock()))
            await self._paged(eid, target, 0, row, live)
            running[0] = asyncio.create_task(self._conversation_transfer(eid, target, live))
        action = "queue"
        ended_by = "stopped"  # why the page calls still under way are cancelled (the service stopping)
        try:
            while True:
                nudge.clear()
                for i, task in list(running.items()):
                    if task.done():
                        attempts[i] = replace(attempts[i], outcome=_outcome(task))
                        del running[i]
                status = (await self.repo.escalation(eid, None))["status"]
                now = self.clock()
                d = decide(severity=severity, created_at=float(row["created_at"]), response_s=response_s,
                           chain=chain, attempts=tuple(attempts), acknowledged=status != "open", now=now,
                           ring_s=float(self.settings.ring_seconds), max_rounds=self.settings.max_rounds)
                if d.action == "page" and d.target is not None and d.level is not None:
                    attempts.append(Attempt(d.level, d.target, now))
                    live = self.live.get(row.get("call_key"))
                    external = d.target in targets and targets[d.target].external
                    await self._paged(eid, d.target, d.level, row, live, text=not external)
                    idx = len(attempts) - 1

                    def answered(i: int = idx) -> None:  # listening to the brief: wait for the call's end
                        attempts[i] = replace(attempts[i], outcome="answered")
                        nudge.set()

                    transfers = d.target not in targets or targets[d.target].transfers
                    running[idx] = asyncio.create_task(self._page(eid, row, d.target, answered, transfers))
                    calls.add(idx)
                    continue
                if d.action != "wait":
                    action = d.action
                    ended_by = status if status != "open" else d.action  # e.g. acknowledged in the console
                    break
                waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(nudge.wait()), *running.values()}
                timeout = None if d.wake_at is None else max(0.05, d.wake_at - now)
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for w in waits - set(running.values()):
                    w.cancel()
        finally:
            for i, task in list(running.items()):
                if i in calls and attempts[i].outcome == "answered" and ended_by in ("acknowledged", "resolved"):
                    # A clinician listening to the brief may still press 1 for the patient on the line:
                    # their call ends on its own, not because someone acknowledged in the console.
                    self._finishing.add(task)
                    task.add_done_callback(self._finishing.discard)
                    del running[i]
                    continue
                if i in calls and not task.done():  # no phone rings on once paging is over
                    log.info("page.cancelled", escalation=eid, target=hostile(attempts[i].target), reason=ended_by)
                task.cancel()
            for task in running.values():
                with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                    await asyncio.wait_for(task, 2.0)
        if action == "exhausted":
            level = max((a.level for a in attempts), default=0)
            closed = self.pack.clinic.after_hours is not None and not after_hours.is_open(self.pack.clinic, local)
            promised = after_hours.promise(self.pack.clinic, local, urgent=True, minutes=round(response_s / 60),
                                           hours=24).when if severity != "emergency" else None
            note = exhausted_note(promised, nobody=not chain) if closed else "chain exhausted"
            await self.repo.mark_paged(eid, note, level)
            log.warning("page.chain_exhausted", escalation=eid, pages=len(attempts), after_hours=closed)
        log.info("page.settled", escalation=eid, action=action, pages=len(attempts))
        return action

    async def _paged(self, eid: int, target: str, level: int, row: Row, live: LiveCall | None,
                     text: bool = True) -> None:
        """Show the page in the console; send the text page (`text`: not to an external number)."""
        await self.repo.mark_paged(eid, target, level)
        log.info("page.started", escalation=eid, target=hostile(target), level=level, severity=row["severity"])
        if text and self.settings.sip_message and isinstance(self.sip, TextSender):
            line = live.line if live is not None and not live.ended else None
            task = asyncio.create_task(self._text(self.sip, target,
                                                  text_page(row["severity"], self.topic_of(row), line)))
            self._texts.add(task)
            task.add_done_callback(self._texts.discard)

    async def _text(self, sender: TextSender, target: str, text: str) -> None:
        try:
            status = await sender.send_message(target, text)
        except Exception as exc:  # noqa: BLE001  (a phone that takes no texts still gets the call)
            log.warning("page.text_failed", target=hostile(target), error=type(exc).__name__)
            return
        log.info("page.text_sent", target=hostile(target), status=status)

    async def _acknowledge(self, eid: int, extension: str, reason: str) -> str:
        """Pressing 1 (or taking the transfer) acknowledges, as the account with that extension."""
        users = [u for u in await self.repo.users() if u.get("extension") == extension and u.get("active", 1)]
        by = users[0]["username"] if users else f"ext:{extension}"
        await self._acknowledge_as(eid, by, reason)
        return by

    async def _acknowledge_as(self, eid: int, by: str, reason: str) -> None:
        actor = f"system:desk-phone-{by[4:]}" if by.startswith("ext:") else f"staff:{by}"
        try:
            await self.repo.records.invoke(lambda r: r.queue.acknowledge_escalation, Access(actor, reason), eid, by)
        except ConflictError:
            pass  # acknowledged meanwhile (the console, another phone): nothing more to record

    async def _conversation_transfer(self, eid: int, target: str, live: LiveCall) -> PageOutcome:
        """Wait for the conversation's own warm transfer to the on-call clinician; connected counts."""
        deadline = time.monotonic() + CONVERSATION_TRANSFER_S
        while True:
            live.arm()
            result = live.transfer_result
            connected = live.ended and live.end_reason == "transfer"  # handed over (its result may come later)
            if result is not None and not (result.ok or result.detail.startswith("bridged")):
                return "no-answer"
            if result is not None or connected:
                await self._acknowledge(eid, result.target if result else target, "warm-transfer")
                return "connected"
            if live.ended:
                return "failed"  # the caller hung up before the transfer: page on
            left = deadline - time.monotonic()
            if left <= 0:
                return "failed"
            await live.wait_change(left)

    async def _page(self, eid: int, row: Row, target: str, answered: Callable[[], None],
                    transfers: bool = True) -> PageOutcome:
        """`transfers`: False for an on-call entry that takes pages but no patient (pressing 1 acknowledges)."""
        severity, topic = row["severity"], self.topic_of(row)
        live = self.live.get(row.get("call_key"))
        text = brief(severity, topic, live.line) if live is not None else callback_brief(severity, topic)
        if not transfers and live is not None:
            text = acknowledge_brief(severity, topic)
        pcm = await speak(self.voice, text)
        result = await ring_and_brief(self.sip, target, pcm, ring_s=float(self.settings.ring_seconds),
                                      answered=answered)
        if result.outcome is not None or result.call is None:
            return result.outcome or "failed"
        call = result.call
        try:
            await self._acknowledge(eid, target, "page-acknowledged")
            live = self.live.get(row.get("call_key"))
            if transfers and live is not None and _connectable(live) and call.state == "confirmed":
                from appliance.telephony.bridge import bridge

                bridge(live.media, call)  # type: ignore[arg-type]  # a SIP edge call (a SipCall): `_connectable` read its state
                log.info("page.connected", escalation=eid, target=hostile(target))
                return "connected"
            gone = await speak(self.voice, GONE_LINE if live is None or live.ended
                               else BUSY_LINE if transfers else NO_TRANSFER_LINE)
            call.send_audio(gone)
            for _ in range(int(duration_s(gone) / 0.05) + 40):  # bounded: the line plus 2 s
                if call.pending_audio_ms() == 0 or call.state == "ended":
                    break
                await asyncio.sleep(0.05)
            await call.release("page-acknowledged")
            return "acknowledged"
        except BaseException:
            if call.bridged_to is None:
                await asyncio.shield(call.release("page-failed"))
            raise


def _connectable(live: LiveCall) -> bool:
    media = live.media
    return (not live.ended and not live.busy and getattr(media, "state", None) == "confirmed"
            and getattr(media, "bridged_to", "none") is None)


def _outcome(task: asyncio.Task[PageOutcome]) -> PageOutcome:
    if task.cancelled():
        return "failed"
    exc = task.exception()
    if exc is not None:
        log.error("page.attempt_failed", error=type(exc).__name__)
        return "failed"
    return task.result()
