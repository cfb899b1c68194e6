"""`appliance messages ...`: the messaging relay as a process of its own, and opt-outs per channel.

`appliance run` delivers messages itself; `appliance messages run` is for a separate delivery
process beside it (SMS through the PBX needs the service's SIP edge: only `appliance run`)."""

from __future__ import annotations

import asyncio

import typer

from appliance.cli.common import settings_from
from appliance.cli.root import app
from appliance.errors import ConfigError

messages_app = typer.Typer(help="Messages to patients (SMS, email) and payment links.", no_args_is_help=True)
app.add_typer(messages_app, name="messages")


@messages_app.command("run")
def run(ctx: typer.Context) -> None:
    """Deliver queued messages and make payment links until stopped (SIGINT/SIGTERM)."""
    import signal

    from appliance.messaging.component import Messaging, open_pack
    from appliance.staff.console import open_repo

    settings = settings_from(ctx)
    if settings.messages.sms == "pbx":
        raise ConfigError("SMS through the PBX is sent by the service's SIP edge",
                          fix="let `appliance run` deliver messages, or use an HTTPS gateway ([messages] sms)")

    async def main() -> None:
        repo = await open_repo(settings)
        component = Messaging(settings, repo.records, await open_pack(settings))
        try:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await component.start()
            await stop.wait()
        finally:
            await component.stop()
            await repo.close()

    asyncio.run(main())


@messages_app.command("opt-out")
def opt_out(ctx: typer.Context, address: str = typer.Argument(..., help="Phone number, or email address."),
            channel: str = typer.Option("sms", "--channel", help="sms or email."),
            undo: bool = typer.Option(False, "--undo", help="Lift the opt-out (the patient asked again)."),
            actor: str = typer.Option("staff:admin", "--actor")) -> None:
    """Record that a patient asked for no more texts (or emails)."""
    from appliance.messaging import store
    from appliance.records.audit import Access
    from appliance.staff.console import open_repo

    if channel not in ("sms", "email"):
        raise typer.BadParameter("use sms or email", param_hint="--channel")
    settings = settings_from(ctx)

    async def main() -> bool:
        repo = await open_repo(settings)
        try:
            return bool(await repo.records.run(lambda r: store.set_opt_out(r, Access(actor, "console:opt-out"), channel,
                                                                            address, not undo)))
        finally:
            await repo.close()

    changed = asyncio.run(main())
    typer.echo(("opt-out lifted" if undo else "opted out") + ("" if changed else " (no change)"))
