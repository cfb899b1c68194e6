"""`appliance aftercare ...`: record treatments (one, or a CSV), show a patient's plan, opt a number
out, list the calls that are due. The outbound call lines (PACK/outbound.yaml) are approved with
the rest of the pack: `appliance protocol approve`."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app
from appliance.errors import ApplianceError

if TYPE_CHECKING:  # the scheduler, the record store and the clinic packs load when a command runs
    from appliance.clinic.pack import Pack
    from appliance.config import Settings
    from appliance.scheduler.store import ScheduleStore, Treatment

aftercare_app = typer.Typer(help="Aftercare and recall calls: plans, opt-outs, the outbound queue.",
                            no_args_is_help=True)
app.add_typer(aftercare_app, name="aftercare")

CSV_COLUMNS = ("name", "phone", "dob", "procedure", "date", "product", "area", "session", "time_zone", "consent")
_ACTOR = typer.Option("staff:admin", "--actor", help="Who does this (recorded in the audit trail).")


class AftercareError(ApplianceError):
    code = "aftercare-invalid"


def _pack(settings: Settings) -> Pack:
    from appliance.clinic.pack import DEMO_PACK, load_pack

    return load_pack(settings.clinic.pack or DEMO_PACK)


def _store(ctx: typer.Context) -> ScheduleStore:
    from appliance.scheduler.setup import store_for

    settings = settings_from(ctx)
    return store_for(settings, _pack(settings))


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise AftercareError(f"--now {value!r} needs a time zone offset", fix="e.g. 2025-03-08T10:00-08:00")
    return t


@aftercare_app.command("record-treatment")
def record_treatment(ctx: typer.Context, name: str = typer.Option(..., "--name"), phone: str = typer.Option(..., "--phone"),
                     dob: str = typer.Option(..., "--dob", help="YYYY-MM-DD"),
                     procedure: str = typer.Option(..., "--procedure", help="Treatment or workflow id from the pack."),
                     treated: str = typer.Option(..., "--date", help="Treatment date YYYY-MM-DD."),
                     product: str = typer.Option(None, "--product"), area: str = typer.Option(None, "--area"),
                     session: int = typer.Option(None, "--session", min=1, max=20),
                     time_zone: str = typer.Option(None, "--time-zone", help="The patient's IANA zone."),
                     consent: bool = typer.Option(True, "--consent/--no-consent", help="Aftercare-call consent."),
                     email: str = typer.Option(None, "--email", help="The patient's email address."),
                     written: str = typer.Option(None, "--written", help="Consent to written aftercare: sms, email "
                                                 "or sms,email (default: not asked; a printable sheet)."),
                     provider: str = typer.Option(None, "--provider", help="The pack's provider id."),
                     now: str = typer.Option(None, "--now", hidden=True), actor: str = _ACTOR) -> None:
    """Record a treatment and create its aftercare plan from the protocol pack."""
    from appliance.records.audit import Access
    from appliance.scheduler.store import ScheduleError, Treatment

    try:
        when = date.fromisoformat(treated)
    except ValueError as e:
        raise AftercareError(f"--date {treated!r} is not a date", fix="use YYYY-MM-DD") from e
    store = _store(ctx)
    try:
        plan = store.record_treatment(Access(actor, "console:aftercare"), Treatment(
            name=name, phone=phone, dob=dob, procedure=procedure, treated_on=when, product=product, area=area,
            session=session, time_zone=time_zone, consent=consent, source="console", email=email,
            written=tuple(w.strip() for w in written.split(",") if w.strip() in ("sms", "email")) if written else None,
            provider=provider), _now(now))
        rows = store.contacts(Access(actor, "console:aftercare"), plan_id=plan)
    except ScheduleError as e:
        raise AftercareError(str(e), fix="correct the value; nothing was recorded") from e
    finally:
        store.conn.close()
    typer.echo(f"plan {plan}: {len(rows)} contacts")
    for r in rows:
        typer.echo(f"  day {r['day']:>3}  {r['kind']:<9} {r['next_at']}  {r['state']}")


def _rows(path: Path) -> list[tuple[int, Treatment]]:
    from appliance.scheduler.store import Treatment

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise AftercareError(f"{path}: cannot read: {e.strerror}", fix="check the path") from e
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in ("name", "phone", "dob", "procedure", "date") if c not in (reader.fieldnames or [])]
    if missing:
        raise AftercareError(f"{path}: missing columns {missing}", fix=f"the header row names: {', '.join(CSV_COLUMNS)}")
    out, problems = [], []
    for line, row in enumerate(reader, start=2):
        try:
            out.append((line, Treatment(
                name=row["name"] or "", phone=row["phone"] or "", dob=(row["dob"] or "").strip(),
                procedure=(row["procedure"] or "").strip(), treated_on=date.fromisoformat((row["date"] or "").strip()),
                product=row.get("product") or None, area=row.get("area") or None,
                session=int(row["session"]) if (row.get("session") or "").strip() else None,
                time_zone=(row.get("time_zone") or "").strip() or None,
                consent=(row.get("consent") or "yes").strip().lower() not in ("no", "false", "0", "n"),
                source="csv")))
        except (ValueError, TypeError) as e:
            problems.append(f"{path}:{line}: {e}")
    if problems:
        raise AftercareError(f"{path}: {len(problems)} bad row(s); nothing was imported:\n  " + "\n  ".join(problems),
                             fix="correct the rows shown and import again")
    return out


@aftercare_app.command("import")
def import_csv(ctx: typer.Context, path: Path = typer.Argument(..., help="CSV with a header row."),
               now: str = typer.Option(None, "--now", hidden=True), actor: str = _ACTOR) -> None:
    """Import treatments from a CSV (name, phone, dob, procedure, date[, product, area, session, time_zone, consent]).
    Every row is checked first: one bad row imports nothing."""
    from appliance.records.audit import Access
    from appliance.scheduler.store import ScheduleError

    rows = _rows(path)
    store = _store(ctx)
    try:
        problems = []
        for line, t in rows:
            try:
                store._validate(t)  # noqa: SLF001 - check all rows before writing any
            except ScheduleError as e:
                problems.append(f"{path}:{line}: {e}")
        if problems:
            raise AftercareError(f"{path}: {len(problems)} bad row(s); nothing was imported:\n  " + "\n  ".join(problems),
                                 fix="correct the rows shown and import again")
        plans = [store.record_treatment(Access(actor, "console:aftercare-import"), t, _now(now)) for _, t in rows]
    finally:
        store.conn.close()
    typer.echo(f"imported {len(plans)} treatment(s): plans {', '.join(map(str, plans)) or '-'}")


@aftercare_app.command("plan")
def plan(ctx: typer.Context, patient: int = typer.Argument(..., help="Patient id."),
         as_json: bool = typer.Option(False, "--json"), actor: str = _ACTOR) -> None:
    """A patient's planned aftercare and recall contacts, with their state and outcomes."""
    from appliance.records.audit import Access

    store = _store(ctx)
    try:
        rows = store.contacts(Access(actor, "console:aftercare"), patient_id=patient)
    finally:
        store.conn.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo(f"patient {patient}: no aftercare plan")
    for r in rows:
        flags = ",".join(k for k in ("reached", "delivered", "concern", "escalated", "booked", "opted_out") if r[k])
        typer.echo(f"plan {r['plan_id']} day {r['day']:>3} {r['kind']:<9} {r['state']:<9} next {r['next_at']} "
                   f"attempts {r['attempts']} {r['disposition'] or ''} {flags}")


@aftercare_app.command("opt-out")
def opt_out(ctx: typer.Context, phone: str = typer.Argument(...), actor: str = _ACTOR) -> None:
    """Record that this number asked not to be called; cancel every future contact to it."""
    from appliance.records.audit import Access

    store = _store(ctx)
    try:
        n = store.opt_out(Access(actor, "console:opt-out"), phone, datetime.now(UTC))
    finally:
        store.conn.close()
    typer.echo(f"opted out; {n} future contact(s) cancelled")


@aftercare_app.command("run-due")
def run_due(ctx: typer.Context, dry_run: bool = typer.Option(False, "--dry-run", help="List, place nothing."),
            now: str = typer.Option(None, "--now", help="ISO time with offset (default: now).")) -> None:
    """The contacts due now (ids and kinds, no PHI). Without --dry-run, the running service places
    them ([outbound] enabled = true); this command only wakes nothing and lists."""
    store = _store(ctx)
    try:
        rows = store.due_now(_now(now))
    finally:
        store.conn.close()
    for r in rows:
        typer.echo(f"contact {r['id']} plan {r['plan_id']} day {r['day']} {r['kind']} due {r['next_at']} "
                   f"attempts {r['attempts']}")
    typer.echo(f"{len(rows)} contact(s) due" + (" (dry run)" if dry_run else
                                                 "; the appliance service places them when [outbound] enabled = true"))
