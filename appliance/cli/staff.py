"""`appliance staff ...`: console accounts, the practice-management export, the outbox relay.

Accounts, exports and the relay use the shared record store beside a running service (SQLite
serialises the writers); heavy imports happen inside the commands, so `--help` stays fast."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app
from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.staff.repo import StaffRepo

T = TypeVar("T")

ROLES = ("clinician", "front-desk", "admin")  # appliance.records.users.ROLES (checked in tests)

staff = typer.Typer(help="Staff console: accounts, exports, the outbox relay.", no_args_is_help=True)
app.add_typer(staff, name="staff")


def _password(prompt: bool) -> str:
    import getpass

    from appliance.staff.auth import hash_password

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


def _with_repo(ctx: typer.Context, work: Callable[[StaffRepo], Awaitable[T]]) -> T:
    """Open the record store, run `work(repo)`, close it."""
    from appliance.staff.console import open_repo

    settings = settings_from(ctx)

    async def main() -> T:
        repo = await open_repo(settings)
        try:
            return await work(repo)
        finally:
            await repo.close()

    return asyncio.run(main())


@staff.command("add-user")
def add_user(ctx: typer.Context, username: str = typer.Argument(..., help="Sign-in name (letters, digits, . _ -)."),
             role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
             name: str = typer.Option(None, "--name", help="Display name (default: the user name)."),
             extension: str = typer.Option(None, "--extension", help="Desk-phone extension (for paging)."),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin.")) -> None:
    """Add a console account; the password is asked for (or read from stdin) and stored as an argon2 hash."""
    import re

    if role not in ROLES:
        raise ApplianceError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", username):
        raise ApplianceError(f"{username!r} is not a valid user name", fix="use letters, digits, dot, underscore, hyphen")
    pw_hash = _password(not password_stdin)
    _with_repo(ctx, lambda repo: repo.add_user(username=username, display_name=name or username, role=role,
                                               pw_hash=pw_hash, extension=extension, actor="system:cli"))
    typer.echo(f"added {username} ({role})")


@staff.command("set-password")
def set_password(ctx: typer.Context, username: str,
                 password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin.")) -> None:
    """Set a new password for a console account."""
    pw_hash = _password(not password_stdin)
    _with_repo(ctx, lambda repo: repo.set_password(username, pw_hash, actor="system:cli"))
    typer.echo(f"password set for {username}")


@staff.command("users")
def users(ctx: typer.Context) -> None:
    """List console accounts."""
    for u in _with_repo(ctx, lambda repo: repo.users()):
        typer.echo(f"{u['username']:<20} {u['role']:<11} {u['extension'] or '-':<8} {u['display_name']}")


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (0600 from the moment it exists; an
    existing file is narrowed to 0600 before it is truncated)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


@staff.command("export")
def export(ctx: typer.Context, csv: bool = typer.Option(False, "--csv", help="CSV, one row per record."),
           fhir: bool = typer.Option(False, "--fhir", help="FHIR-style JSON bundle."),
           out: Path = typer.Option(None, "--out", "-o", help="File to write (default: standard output)."),
           actor: str = typer.Option(..., "--as", help="The staff member exporting (recorded in the audit log).")) -> None:
    """Export appointments, escalations and final summaries for the practice-management system."""
    from appliance.staff.export import Exporter

    if csv == fhir:
        raise ApplianceError("choose one format", fix="pass --csv or --fhir")
    text = _with_repo(ctx, lambda repo: Exporter(repo).csv(actor) if csv else Exporter(repo).fhir(actor))
    if out:
        write_private(out, text)
        typer.echo(f"wrote {out} (mode 0600: it holds patient data)", err=True)
    else:
        sys.stdout.write(text)


@staff.command("relay")
def relay(ctx: typer.Context) -> None:
    """Deliver pending outbox messages to the configured webhooks until stopped (SIGINT/SIGTERM).
    The console in `appliance run` does this itself; this command is for a separate relay process."""
    import signal

    from appliance.records.relay import Relay
    from appliance.staff.console import webhook_sinks

    settings = settings_from(ctx)

    async def work(repo: StaffRepo) -> None:
        sinks = await asyncio.to_thread(webhook_sinks, settings)
        r = Relay(repo, sinks)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await r.start()
        typer.echo(f"relay: {len(sinks)} endpoint(s)", err=True)
        await stop.wait()
        await r.stop()

    _with_repo(ctx, work)
