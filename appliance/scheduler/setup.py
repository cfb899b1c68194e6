"""Building the policy and the store from the pack and the settings; opening the database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from appliance.clinic.pack import Pack
from appliance.config import OutboundSettings, Settings
from appliance.records.db import Connection, connect
from appliance.records.migrations import migrate
from appliance.scheduler.plan import PlanRules
from appliance.scheduler.policy import CallPolicy, hhmm
from appliance.scheduler.store import ScheduleStore


def policy_from(pack: Pack, o: OutboundSettings) -> CallPolicy:
    retry = timedelta(minutes=o.retry_minutes)
    return CallPolicy(
        clinic_tz=pack.clinic.timezone, clinic_hours={day: spec for day, spec in pack.clinic.hours.items()},
        quiet_start=hhmm(o.quiet_start), quiet_end=hhmm(o.quiet_end), closing_margin=timedelta(minutes=o.closing_margin_minutes),
        max_attempts=o.max_attempts,
        retry_after={"no-answer": retry, "voicemail": retry, "hung-up": retry, "rejected": retry * 2,
                     "busy": timedelta(minutes=o.busy_retry_minutes), "failed": timedelta(minutes=60),
                     "lease-expired": timedelta(minutes=5)})


def rules_from(o: OutboundSettings) -> PlanRules:
    return PlanRules(call_from=hhmm(o.call_from))


def open_store(db_path: Path, key: bytes, pack: Pack, o: OutboundSettings) -> ScheduleStore:
    """A connection of its own (to be used from one thread only), migrated to the latest schema."""
    conn: Connection = connect(db_path, key)
    try:
        migrate(conn)
        return ScheduleStore(conn, pack, policy_from(pack, o), rules=rules_from(o), require_consent=o.require_consent)
    except BaseException:
        conn.close()
        raise


def store_for(settings: Settings, pack: Pack) -> ScheduleStore:
    """The appliance's store, with the go-live gate: a demo pack dials test phones only, the pilot's
    workflows and call types, and the supervised period's review (`appliance.golive.outbound`)."""
    from appliance.golive.gate import is_demo
    from appliance.golive.outbound import OutboundGate
    from appliance.records.rotate import resolve_key

    store = open_store(settings.db_path, resolve_key(settings.db_path, settings.db_key_file), pack, settings.outbound)
    store.gate = OutboundGate.of(settings, is_demo(pack))
    return store
