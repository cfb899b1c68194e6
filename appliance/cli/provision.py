"""`appliance provision`: set the box up from an answer file or by answering prompts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from appliance.cli.root import app

if TYPE_CHECKING:  # provisioning (pydantic, cryptography, argon2) is imported when the command runs
    from appliance.setup.answers import Answers


def _ask(label: str, annotation: Any, default: str | None = None, *, optional: bool = False,
         secret: bool = False, confirm: bool = False, many: bool = False) -> Any:
    """Prompt until the answer passes the same validation as the answer file."""
    from appliance.setup.answers import check_value

    def proc(text: str) -> Any:
        text = text.strip()
        if optional and not text:
            return None
        value: Any = [t.strip() for t in text.split(",") if t.strip()] if many else text
        try:
            return check_value(list[annotation] if many else annotation, value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None

    if optional and default is None:
        default = ""
    return typer.prompt(label, default=default, value_proc=proc, hide_input=secret,
                        confirmation_prompt=confirm, show_default=bool(default) and not secret)


def _interactive(root: Path) -> Answers:
    from pydantic import ValidationError

    from appliance.setup.answers import (
        DEFAULT_HOURS,
        AdminName,
        AdminPassword,
        Answers,
        AnswersError,
        BindHost,
        DayHours,
        Extension,
        Fingerprint,
        Host,
        HostPort,
        Network,
        Port,
        Srtp,
        TimeZone,
        Transport,
        describe,
    )
    from appliance.setup.provision import Layout, under

    typer.echo("Answer each question; press Enter to take the default shown in brackets.")
    a: dict[str, Any] = {"clinic": {}, "pbx": {}, "staff": {}, "protocol_pack": {}, "console": {}, "admin": {}}
    a["data_dir"] = _ask("Data folder", Path, "/var/lib/appliance")
    c = a["clinic"]
    c["name"] = _ask("Clinic name", str)
    c["time_zone"] = _ask("Time zone (IANA name)", TimeZone, "America/New_York")
    c["hours"] = {day: _ask(f"Hours on {day} (HH:MM-HH:MM or closed)", DayHours, span)
                  for day, span in DEFAULT_HOURS.items()}
    p = a["pbx"]
    p["mode"] = _ask("PBX mode: register (as an extension) or trunk", Literal["register", "trunk"], "register")
    p["address"] = _ask("PBX address (host or host:port)", HostPort)
    data_dir = under(root, a["data_dir"])
    if p["mode"] == "register":
        p["username"] = _ask("Extension user name on the PBX", str)
        have = Layout(root, data_dir).sip_password.exists()
        p["password"] = _ask("Extension password" + (" (Enter keeps the stored one)" if have else ""), str,
                             optional=have, secret=True)
        p["extension"] = _ask("Extension number", Extension, p["username"] if p["username"].isdigit() else None)
    p["allowed"] = _ask("Addresses calls may come from (comma-separated; Enter: the PBX address)", Network,
                        optional=True, many=True) or []
    p["transport"] = _ask("SIP to the PBX: udp (not encrypted) or tls (encrypted; TLS must be on at the PBX)",
                          Transport, "udp")
    if p["transport"] == "tls":
        p["tls_ca"] = _ask("CA file (PEM) that signed the PBX's certificate (Enter: pin its fingerprint instead)",
                           Path, optional=True)
        if not p["tls_ca"]:
            p["tls_pbx_sha256"] = _ask("SHA-256 fingerprint of the PBX's certificate (on the PBX: openssl x509 "
                                       "-noout -fingerprint -sha256 -in pbx.pem)", Fingerprint)
        p["srtp"] = _ask("SRTP for call audio: required, optional or off", Srtp, "required")
        p["advertised_host"] = _ask("This box's address as the PBX reaches it (named in its certificate; Enter: "
                                    "none)", Host, optional=True)
    p["bind_port"] = _ask("SIP port on this box", Port, "5061" if p["transport"] == "tls" else "5060")
    s = a["staff"]
    s["np"] = _ask("Extension of the nurse practitioner / injector", Extension)
    s["front_desk"] = _ask("Extension of the front desk", Extension)
    s["on_call"] = _ask("On-call chain, in order (comma-separated extensions)", Extension, many=True)
    k = a["protocol_pack"]
    k["path"] = _ask("Protocol pack folder (Enter: the demo pack)", Path, optional=True)
    if k["path"]:
        k["approved_by"] = _ask("Approving clinician (Enter: approve later in the console)", str, optional=True)
    cs = a["console"]
    cs["bind_host"] = _ask("Console listens on (IP; 0.0.0.0 = every interface)", BindHost, "0.0.0.0")  # noqa: S104
    cs["port"] = _ask("Console HTTPS port", Port, "8443")
    cs["tls_cert"] = _ask("Console certificate file, PEM (Enter: generate a self-signed one)", Path, optional=True)
    if cs["tls_cert"]:
        cs["tls_key"] = _ask("Its private key file, PEM", Path)
    else:
        cs["hostnames"] = _ask("Names and addresses for the certificate (comma-separated)", Host,
                               socket.gethostname(), many=True)
    ad = a["admin"]
    ad["username"] = _ask("First console admin user name", AdminName, "admin")
    have = Layout(root, data_dir).admin.exists()
    ad["password"] = _ask("Admin password (12+ characters)" + (" (Enter keeps the stored one)" if have else ""),
                          AdminPassword, optional=have, secret=True, confirm=True)
    for section in ("pbx", "protocol_pack", "console", "admin"):
        a[section] = {key: v for key, v in a[section].items() if v is not None}
    try:
        return Answers.model_validate(a)
    except ValidationError as e:
        raise AnswersError(describe(e, "answers", None), fix="run provision again") from None


@app.command()
def provision(
    answers: Path = typer.Option(None, "--answers", "-a", help="YAML answer file (otherwise: interactive prompts)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    root: Path = typer.Option(Path("/"), "--root", help="Install under this folder instead of /."),
    user: str = typer.Option("appliance", "--user", help="Service user that owns data and secrets (when root)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking (interactive mode)."),
) -> None:
    """Write the config (0640) and the secrets (0600): idempotent, never prints a secret."""
    from appliance.setup.answers import load_answers
    from appliance.setup.provision import plan

    root = root.resolve()
    given = load_answers(answers) if answers else _interactive(root)
    result = plan(given, root, user)
    for step in result.steps:
        typer.echo(step.line())
    for note in result.notes:
        typer.echo(f"note: {note}")
    if dry_run:
        typer.echo(f"dry run: {len(result.changes)} change(s) would be made; nothing written")
        return
    if not result.changes:
        typer.echo("nothing to change")
        return
    if answers is None and not yes and not typer.confirm("Apply these changes?", default=True):
        raise typer.Exit(1)
    result.apply()
    typer.echo(f"done: {len(result.changes)} change(s); next: appliance --config {result.layout.config} doctor")
