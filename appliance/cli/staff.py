"""`appliance staff ...`: console accounts, the practice-management export, the outbox relay."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from pathlib import Path

import typer

from appliance.cli import app
from appliance.cli.common import settings_from
from appliance.errors import ApplianceError
from appliance.staff.auth import ROLES, hash_password

staff = typer.Typer(help="Staff console: accounts, exports, the outbox relay.", no_args_is_help=True)
app.add_typer(staff, name="staff")


def _password(prompt: bool) -> str:
    if not prompt or not sys.stdin.isatty():
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass("Password (at least 10 characters): ")
        if getpass.getpass("Again: ") != pw:
            raise ApplianceError("the passwords differ", fix="type the same password twice")
    try:
        return hash_password(pw)
    except ValueError as e:
        raise ApplianceError(str(e), fix="choose a longer password") from None


@staff.command("add-user")
def add_user(ctx: typer.Context, username: str = typer.Argument(..., help="Sign-in name (letters, digits, . _ -)."),
             role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
             name: str = typer.Option(None, "--name", help="Display name (default: the user name)."),
             extension: str = typer.Option(None, "--extension", help="Desk-phone extension (for paging)."),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin.")) -> None:
    """Add a console account; the password is asked for (or read from stdin) and stored as an argon2 hash."""
    import re

    from appliance.staff.console import open_repo

    if role not in ROLES:
        raise ApplianceError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", username):
        raise ApplianceError(f"{username!r} is not a valid user name", fix="use letters, digits, dot, underscore, hyphen")
    settings = settings_from(ctx)
    pw_hash = _password(not password_stdin)
    repo = open_repo(settings)
    try:
        asyncio.run(repo.add_user(username=username, display_name=name or username, role=role, pw_hash=pw_hash,
                                  extension=extension, actor="cli"))
    finally:
        repo.db.close()
    typer.echo(f"added {username} ({role})")


@staff.command("set-password")
def set_password(ctx: typer.Context, username: str,
                 password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin.")) -> None:
    """Set a new password for a console account."""
    from appliance.staff.console import open_repo

    settings = settings_from(ctx)
    pw_hash = _password(not password_stdin)
    repo = open_repo(settings)
    try:
        asyncio.run(repo.set_password(username, pw_hash, actor="cli"))
    finally:
        repo.db.close()
    typer.echo(f"password set for {username}")


@staff.command("users")
def users(ctx: typer.Context) -> None:
    """List console accounts."""
    from appliance.staff.console import open_repo

    repo = open_repo(settings_from(ctx))
    try:
        for u in asyncio.run(repo.users()):
            typer.echo(f"{u['username']:<20} {u['role']:<11} {u['extension'] or '-':<8} {u['display_name']}")
    finally:
        repo.db.close()


@staff.command("export")
def export(ctx: typer.Context, csv: bool = typer.Option(False, "--csv", help="CSV, one row per record."),
           fhir: bool = typer.Option(False, "--fhir", help="FHIR-style JSON bundle."),
           out: Path = typer.Option(None, "--out", "-o", help="File to write (default: standard output)."),
           actor: str = typer.Option(..., "--as", help="The staff member exporting (recorded in the audit log).")) -> None:
    """Export appointments, escalations and final summaries for the practice-management system."""
    from appliance.staff.console import open_repo
    from appliance.staff.export import Exporter

    if csv == fhir:
        raise ApplianceError("choose one format", fix="pass --csv or --fhir")
    repo = open_repo(settings_from(ctx))
    try:
        exporter = Exporter(repo)
        text = asyncio.run(exporter.csv(actor) if csv else exporter.fhir(actor))
    finally:
        repo.db.close()
    if out:
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(text)


@staff.command("relay")
def relay(ctx: typer.Context) -> None:
    """Deliver pending outbox messages to the configured webhooks until stopped (SIGINT/SIGTERM).
    `appliance run` does this itself; this command is for a separate relay process."""
    from appliance.staff.console import open_repo, webhook_sinks
    from appliance.staff.relay import Relay

    settings = settings_from(ctx)

    async def main() -> None:
        repo = await asyncio.to_thread(open_repo, settings)
        sinks = await asyncio.to_thread(webhook_sinks, settings)
        r = Relay(repo.db, sinks)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await r.start()
        typer.echo(f"relay: {len(sinks)} endpoint(s)", err=True)
        await stop.wait()
        await r.stop()
        repo.db.close()

    asyncio.run(main())
