"""`appliance db|audit|records|backup|restore`: the encrypted record store's maintenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app

if TYPE_CHECKING:  # the record store (SQLCipher) is imported by the commands, so `--help` stays fast
    from appliance.records.audit import AuditReport

db_app = typer.Typer(help="The encrypted database: check it, rotate its key.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
records_app = typer.Typer(help="Stored records: retention.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(records_app, name="records")

_ACTOR = typer.Option("staff:admin", "--actor", help="Who runs this (recorded in the audit trail).")


def _require_db(path: Path) -> None:
    from appliance.records.errors import RecordsError

    if not path.exists():
        raise RecordsError(f"{path}: no database yet", fix="start the appliance once, or restore a backup")


def _audit_report(db_path: Path, key: bytes, anchor: str | None = None) -> AuditReport:
    from appliance.records import audit
    from appliance.records.db import connect
    from appliance.records.store import audit_key

    conn: Any = connect(db_path, key, create=False)  # sqlcipher3 is untyped: its Connection is Any
    try:
        return audit.verify(conn, audit_key(conn), anchor)
    finally:
        conn.close()


@db_app.command("check")
def db_check(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Verify every page's HMAC (cipher_integrity_check), the structure, and the audit chain."""
    from appliance.records.audit import AuditReport
    from appliance.records.db import DatabaseError, connect, integrity_problems
    from appliance.records.migrations import LATEST, current_version
    from appliance.records.rotate import resolve_key

    s = settings_from(ctx)
    _require_db(s.db_path)
    key = resolve_key(s.db_path, s.db_key_file)
    conn: Any = connect(s.db_path, key, create=False)  # sqlcipher3 is untyped: its Connection is Any
    try:
        problems = integrity_problems(conn)
        try:
            version = current_version(conn)
        except DatabaseError:
            version = -1
    finally:
        conn.close()
    report = _audit_report(s.db_path, key) if not problems else AuditReport(False, 0, None, "not checked")
    ok = not problems and report.ok
    if as_json:
        typer.echo(json.dumps({"ok": ok, "integrity_problems": problems, "schema_version": version,
                               "schema_latest": LATEST, "audit": report.__dict__}))
    else:
        for p in problems[:20]:
            typer.echo(f"FAIL integrity: {p}")
        if not problems:
            typer.echo("ok   page HMACs and structure")
        typer.echo(f"{'ok  ' if report.ok else 'FAIL'} audit trail: " +
                   (f"{report.events} events chain correctly" if report.ok else report.problem))
        typer.echo(f"info schema version {version} (software {LATEST})")
    raise typer.Exit(0 if ok else 1)


@db_app.command("rekey")
def db_rekey(ctx: typer.Context, actor: str = _ACTOR) -> None:
    """Rotate the database key (stop the service first). Backups made before need the old key."""
    from appliance.records.rotate import rekey

    s = settings_from(ctx)
    _require_db(s.db_path)
    rekey(s.db_path, s.db_key_file, actor)
    typer.echo(f"ok   database re-encrypted under a new key; {s.db_key_file} replaced")
    typer.echo("note keep the previous key's secure copy as long as you keep backups made with it")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
                 anchor: str = typer.Option(None, "--anchor", help="SEQ:HASH printed by an earlier verify: "
                                            "also detects events removed from the end.")) -> None:
    """Walk the audit hash chain; name the first altered, deleted or reordered event."""
    from appliance.records.rotate import resolve_key

    s = settings_from(ctx)
    _require_db(s.db_path)
    report = _audit_report(s.db_path, resolve_key(s.db_path, s.db_key_file), anchor)
    if as_json:
        typer.echo(json.dumps(report.__dict__))
    elif report.ok:
        typer.echo(f"ok   {report.events} audit events, chain intact")
        if report.head:
            typer.echo(f"info anchor {report.head} (keep it; `--anchor` it later to detect removed events)")
    else:
        typer.echo(f"FAIL first bad event: seq {report.first_bad_seq}: {report.problem} "
                   f"({report.events} events before it check)")
    raise typer.Exit(0 if report.ok else 1)


@app.command("backup")
def backup(ctx: typer.Context, file: Path = typer.Argument(..., help="The backup file to write (must not exist)."),
           actor: str = _ACTOR) -> None:
    """Write an encrypted, integrity-checked backup (safe while the service runs)."""
    from appliance.records.backup import create_backup, verify_backup
    from appliance.records.rotate import resolve_key

    s = settings_from(ctx)
    _require_db(s.db_path)
    key = resolve_key(s.db_path, s.db_key_file)
    info = create_backup(s.db_path, key, file, actor)
    verify_backup(file, key)
    rows = sum(info.manifest["rows"].values())
    typer.echo(f"ok   {file}: {file.stat().st_size} bytes, {rows} rows, schema {info.manifest['schema_version']}, "
               f"key id {info.manifest['key_id']} (verified)")


@app.command("restore")
def restore(ctx: typer.Context, file: Path = typer.Argument(..., help="The backup file."),
            key_file: Path = typer.Option(None, "--key-file", help="Key current when the backup was made "
                                          "(default: the database key file)."),
            yes: bool = typer.Option(False, "--yes", help="Replace the current database without asking."),
            actor: str = _ACTOR) -> None:
    """Replace the database with a backup (stop the service first); the current one is kept aside."""
    from appliance.records.backup import restore_backup
    from appliance.records.keys import read_key
    from appliance.records.rotate import resolve_key

    s = settings_from(ctx)
    live_key = resolve_key(s.db_path, s.db_key_file)
    backup_key = read_key(key_file) if key_file else live_key
    if s.db_path.exists() and not yes:
        typer.confirm(f"Replace {s.db_path} with the content of {file}?", abort=True)
    kept = restore_backup(file, backup_key, s.db_path, live_key, actor)
    typer.echo(f"ok   restored {file} into {s.db_path} (verified round trip)")
    if kept:
        typer.echo(f"note the replaced database is kept at {kept}; delete it once you are satisfied")


@records_app.command("purge")
def purge(ctx: typer.Context, actor: str = typer.Option("system:retention", "--actor")) -> None:
    """Delete data past its retention ([database.retention]); every purge is audited."""
    from appliance.records.audit import Access
    from appliance.records.db import StoreLock
    from appliance.records.rotate import resolve_key
    from appliance.records.service import retention_of
    from appliance.records.store import Records

    s = settings_from(ctx)
    _require_db(s.db_path)
    key = resolve_key(s.db_path, s.db_key_file)
    with StoreLock(s.db_path):
        records = Records.open(s.db_path, key, recording_enabled=s.database.recording)
        try:
            done = records.purge(Access(actor, "retention"), retention_of(s))
        finally:
            records.close()
    for kind, n in done.items():
        typer.echo(f"ok   {kind}: {n} rows purged")
    if not done:
        typer.echo("ok   nothing to purge: every retention is 0 (keep)")
