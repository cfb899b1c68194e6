"""The record store for asyncio code: one dedicated writer thread owns the connection.

Every database call runs on that thread (never on the event loop), in submission order, so
transactions never interleave. `RecordStore` is the service component: it takes the store
lock, opens the database (creating the key on first run), applies migrations, and closes
it on stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from appliance.config import Settings
from appliance.conversation import ConversationOutcome, Escalation, LanguageModel
from appliance.logs import get_logger, use_install_key
from appliance.records.audit import Access
from appliance.records.db import StoreLock
from appliance.records.errors import RecordsError
from appliance.records.ids import CallRef
from appliance.records.journal import EscalationJournal, journal_path
from appliance.records.rotate import resolve_key
from appliance.records.store import Records
from appliance.records.summary import CallSummary, build_summary, refine_summary

log = get_logger(__name__)
T = TypeVar("T")
P = ParamSpec("P")


def replay(records: Records, journal: EscalationJournal, access: Access) -> tuple[int, int]:
    """Every journal entry into the store (on the writer thread); the journal goes once all are in."""
    read = journal.read()
    stored = known = failed = 0
    for entry in read.entries:
        try:
            esc = Escalation(**entry["escalation"])
            if records.calls.record_escalation_for(access, CallRef.from_dict(entry["call"]), esc,
                                                   entry.get("response_minutes"), str(entry["id"])):
                stored += 1
            else:
                known += 1
        except Exception:  # noqa: BLE001 - keep the journal; the next start tries again
            failed += 1
            log.exception("records.journal_entry_failed")
    if read.corrupt:
        log.error("records.journal_corrupt", records=read.corrupt, path=str(journal.path))
    if failed == 0 and read.corrupt == 0:
        journal.remove_if_unchanged(read.size)
    return stored, known


def retention_of(settings: Settings) -> dict[str, int | None]:
    r = settings.database.retention
    return {"recordings": r.recordings_days or None, "transcripts": r.transcripts_days or None,
            "summaries": r.summaries_days or None, "outbox": r.outbox_days or None}


class AsyncRecords:
    """`Records` for asyncio code: everything runs on the single writer thread, through `run`
    (one typed way in; `invoke` picks a repository's method for it; `finish_call` and the
    journal add what is more than one store call)."""

    def __init__(self, path: Path, key: bytes, *, recording_enabled: bool = False) -> None:
        self._path, self._key, self._recording = path, key, recording_enabled
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-writer")
        self._records: Records | None = None
        self.journal = EscalationJournal(journal_path(path), key)  # escalations the store could not take

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _r(self) -> Records:
        if self._records is None:
            raise RecordsError("the record store is not open")
        return self._records

    async def open(self) -> None:
        def _open() -> None:
            self._records = Records.open(self._path, self._key, recording_enabled=self._recording)
        await self._on_writer(_open)

    async def close(self) -> None:
        def _close() -> None:
            if self._records is not None:
                self._records.close()
                self._records = None
        try:
            await self._on_writer(_close)
        finally:
            self._executor.shutdown(wait=True)

    async def run(self, fn: Callable[Concatenate[Records, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(records, *args, **kwargs)` on the writer thread: a `Records` method named on the
        class (`await records.run(Records.save_outcome, access, key, outcome, summary)`), or a
        function of the store (`await records.run(lambda r: ...)`, several calls that belong
        together). mypy checks the arguments against `fn` and types the result."""
        return await self._on_writer(lambda: fn(self._r(), *args, **kwargs))

    async def invoke(self, method: Callable[[Records], Callable[P, T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A repository's method on the writer thread (through `run`), picked from the store and
        called with the arguments as they are now (`await records.invoke(lambda r:
        r.queue.escalation, access, eid)`). mypy checks the arguments against the picked method
        and types the result."""
        return await self.run(lambda r: method(r)(*args, **kwargs))

    async def finish_call(self, access: Access, pbx_call_id: str, outcome: ConversationOutcome, end_reason: str,
                          llm: LanguageModel | None = None) -> CallSummary:
        """The post-call pipeline: summary (rules, then the model if given), store it with the
        transcript, escalations and redacted copy, queue it for staff, close the call."""
        summary = await refine_summary(build_summary(outcome), outcome, llm)

        await self.run(Records.save_outcome, access, pbx_call_id, outcome, summary, end_reason)
        log.info("call.summary_stored", intent=summary.intent, urgency=summary.urgency, escalated=summary.escalated,
                 lead_score=summary.lead_score)
        return summary

    async def journal_escalation(self, entry: dict[str, Any]) -> None:
        """Keep an escalation the store could not take in the encrypted journal (fsync'd; on a
        thread of its own, never the writer thread, which may be the one that is stuck)."""
        await asyncio.to_thread(self.journal.append, entry)

    async def replay_journal(self, access: Access) -> tuple[int, int]:
        """Move the journal's escalations into the store (idempotent, by escalation id); the
        journal is removed once all of them are in. Returns (stored now, already there)."""
        return await self.run(replay, self.journal, access)


class RecordStore:
    """Service component: the encrypted record store, open while the appliance runs."""

    name = "records"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = StoreLock(settings.db_path)
        self.records: AsyncRecords | None = None

    async def start(self) -> None:
        s = self.settings
        await asyncio.to_thread(self._lock.acquire, str(s.db_path))
        await asyncio.to_thread(use_install_key, s.data_dir / "secrets")  # phone numbers in logs: keyed tags
        try:
            key = await asyncio.to_thread(resolve_key, s.db_path, s.db_key_file)  # finishes an interrupted rekey
        except BaseException:
            self._lock.release()
            raise
        records = AsyncRecords(s.db_path, key, recording_enabled=s.database.recording)
        try:
            await records.open()
        except BaseException:
            await records.close()
            self._lock.release()
            raise
        self.records = records
        log.info("records.open", recording=s.database.recording)
        access = Access("system:recovery", "start-up recovery")
        stored, known = await records.replay_journal(access)
        if stored or known:
            log.warning("records.journal_replayed", stored=stored, already_stored=known)
        recovered = await records.invoke(lambda r: r.calls.recover_open_calls, access)
        if recovered:
            log.warning("records.calls_recovered", calls=len(recovered), reason="crash")

    async def stop(self) -> None:
        if self.records is not None:
            await self.records.close()
            self.records = None
        self._lock.release()

    async def purge(self) -> dict[str, int]:
        """The retention job (the scheduler runs it daily); audited as actor system:retention."""
        if self.records is None:
            raise RecordsError("the record store is not open")
        access = Access("system:retention", "retention")
        days = retention_of(self.settings)
        done = await self.records.run(Records.purge, access, days)  # shadow calls go with transcripts
        log.info("records.purged", **done)
        return done
