"""`appliance provision`: turn validated answers into the config file and the secrets.

Everything is written under a root (`/` on a box, a temporary folder in tests): the config at
`<root>/etc/appliance/appliance.toml` (0640, group of the service user) and the secrets under
`<root><data_dir>/secrets/` (0600, owned by the service user): the SIP password, the database
key, the console's TLS key and the first admin's argon2 hash. The console certificate goes
to `<root>/etc/appliance/console.crt` (0644). Every step first says what it would do; a run
with the same answers changes nothing and keeps every secret. No secret is ever printed.

SIP over TLS (`pbx.transport: tls`): the CA file that signed the PBX's certificate is copied to
`/etc/appliance/pbx-ca.pem` (the service user cannot read the installer's copy), a SIP certificate
the clinic provides to `/etc/appliance/sip.crt` and its key to the secrets; without one, SIP uses
the console's certificate, and a generated one then names the SIP address too.
"""

from __future__ import annotations

import datetime as dt
import socket
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from appliance.config import Settings
from appliance.errors import ApplianceError
from appliance.records.keys import ensure_key, read_key
from appliance.setup import admin, files, tls
from appliance.setup.answers import DEFAULT_HOURS, Answers, AnswersError
from appliance.setup.files import Owner
from appliance.setup.tomlout import dumps

CONFIG_REL = Path("etc/appliance/appliance.toml")
CERT_REL = Path("etc/appliance/console.crt")
PBX_CA_REL = Path("etc/appliance/pbx-ca.pem")
SIP_CERT_REL = Path("etc/appliance/sip.crt")
SERVICE_USER = "appliance"
HEADER = ("# Written by `appliance provision` from the installer's answers.\n"
          "# Change the answers and run it again rather than editing this file by hand.\n")


class ProvisionError(ApplianceError):
    code = "provision-failed"


@dataclass(frozen=True)
class Layout:
    root: Path
    data_dir: Path  # as written in the config: already under root

    @classmethod
    def of(cls, root: Path, answers: Answers) -> Layout:
        return cls(root, under(root, answers.data_dir))

    @property
    def etc(self) -> Path:
        return self.root / CONFIG_REL.parent

    @property
    def config(self) -> Path:
        return self.root / CONFIG_REL

    @property
    def cert(self) -> Path:
        return self.root / CERT_REL

    @property
    def pbx_ca(self) -> Path:
        return self.root / PBX_CA_REL

    @property
    def sip_cert(self) -> Path:
        return self.root / SIP_CERT_REL

    @property
    def sip_key(self) -> Path:
        return self.secrets / "sip.key"

    @property
    def secrets(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def sip_password(self) -> Path:
        return self.secrets / "sip.password"

    @property
    def db_key(self) -> Path:
        return self.secrets / "db.key"

    @property
    def tls_key(self) -> Path:
        return self.secrets / "console.key"

    @property
    def admin(self) -> Path:
        return admin.admin_file(self.data_dir)


def under(root: Path, path: Path) -> Path:
    """`path` as seen on the box, placed under `root`."""
    return root / str(path).lstrip("/") if path.is_absolute() else root / path


@dataclass
class Step:
    verb: str  # create | update | keep
    what: str
    path: Path
    apply: Callable[[], object] | None = None  # None: nothing to do (a result is ignored)

    def line(self) -> str:
        return f"{self.verb:<7} {self.what:<26} {self.path}"


@dataclass
class Plan:
    layout: Layout
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.verb != "keep"]

    def apply(self) -> None:
        for step in self.steps:
            if step.apply is not None:
                step.apply()


def config_document(a: Answers, lay: Layout) -> dict[str, object]:
    p = a.pbx
    sip: dict[str, object] = {
        "mode": p.mode, "bind_host": p.bind_host, "bind_port": p.port, "advertised_host": p.advertised_host,
        "allowed_sources": p.sources(), "rtp_port_min": p.rtp_port_min, "rtp_port_max": p.rtp_port_max,
    }
    if p.mode == "register":
        sip |= {"registrar": p.address, "username": p.username, "password_file": lay.sip_password,
                "extension": p.extension or p.username}
    sip |= {"transport": p.transport, "srtp": p.media}
    if p.transport == "tls":
        sip |= {"tls_ca": lay.pbx_ca if p.tls_ca else None, "tls_pbx_sha256": p.tls_pbx_sha256,
                "tls_cert": lay.sip_cert if p.tls_cert else None, "tls_key": lay.sip_key if p.tls_key else None}
    doc: dict[str, object] = {
        "paths": {"data_dir": lay.data_dir},
        "sip": sip,
        "console": {"bind_host": a.console.bind_host, "port": a.console.port, "tls_cert": lay.cert,
                    "tls_key": lay.tls_key},
        "database": {"key_file": lay.db_key},
        "clinic": {"pack": under(lay.root, a.protocol_pack.path) if a.protocol_pack.path else None},
        "site": {"clinic_name": a.clinic.name, "time_zone": a.clinic.time_zone,
                 "np_extension": a.staff.np, "front_desk_extension": a.staff.front_desk,
                 "on_call_chain": list(a.staff.on_call),
                 "hours": {d: a.clinic.hours.get(d, "closed") for d in DEFAULT_HOURS}},
        "logging": {"level": "info", "format": "json"},
    }
    if a.models:
        doc["models"] = {"overrides": {role: o.model_dump(exclude_none=True) for role, o in a.models.items()}}
    return doc


def render_config(a: Answers, lay: Layout) -> bytes:
    text = dumps(config_document(a, lay), HEADER)
    try:
        Settings.model_validate(tomllib.loads(text))
    except ValidationError as e:  # the answers schema should have caught it: say so plainly
        raise ProvisionError(f"the config built from the answers is not valid: {e}",
                             fix="report this; meanwhile correct the answer named above") from None
    return text.encode()


def _file_step(what: str, path: Path, content: bytes, mode: int, owner: Owner, group_only: bool = False) -> Step:
    verb = files.state(path, content, mode, owner, group_only=group_only)
    act = None if verb == "keep" else (lambda: files.write(path, content, mode, owner, group_only=group_only))
    return Step(verb, what, path, act)


def _dir_step(what: str, path: Path, mode: int, owner: Owner, group_only: bool = False) -> Step:
    ok = path.is_dir() and stat.S_IMODE(path.stat().st_mode) == mode and owner.owns(path, group_only=group_only)
    verb = "keep" if ok else ("update" if path.is_dir() else "create")
    act = None if ok else (lambda: files.make_dir(path, mode, owner, group_only=group_only))
    return Step(verb, what, path, act)


def _db_key_step(lay: Layout, owner: Owner) -> Step:
    if lay.db_key.exists():
        read_key(lay.db_key)  # an unreadable or malformed key stops provisioning here
        return Step("keep", "database key", lay.db_key)

    def create() -> None:
        ensure_key(lay.db_key)
        owner.apply(lay.db_key)

    return Step("create", "database key", lay.db_key, create)


def _tls_steps(a: Answers, lay: Layout, owner: Owner, public: Owner) -> list[Step]:
    c = a.console
    if c.tls_cert is not None and c.tls_key is not None:
        src_cert, src_key = under(lay.root, c.tls_cert), under(lay.root, c.tls_key)
        info = tls.read_pair(src_cert, src_key)
        if info.expires_within(dt.timedelta(0)):
            raise ProvisionError(f"{src_cert}: the certificate expired on {info.not_after:%Y-%m-%d}",
                                 fix="provide a current certificate, or leave console.tls_cert out to generate one")
        return [_file_step("console certificate", lay.cert, src_cert.read_bytes(), 0o644, public, True),
                _file_step("console TLS key", lay.tls_key, src_key.read_bytes(), 0o600, owner)]
    names = sorted(set(c.hostnames or [socket.gethostname()]) | set(_sip_names(a)))
    if lay.cert.exists() and lay.tls_key.exists():
        try:
            info = tls.read_pair(lay.cert, lay.tls_key)
            if info.self_signed and info.names == tuple(sorted(names)) and not info.expires_within():
                return [Step("keep", "console certificate", lay.cert), Step("keep", "console TLS key", lay.tls_key)]
        except tls.TlsError:
            pass  # unreadable or mismatched: generate a new pair below
    verb = "update" if lay.cert.exists() else "create"

    def generate() -> None:
        cert_pem, key_pem = tls.generate(names, a.clinic.name)
        files.write(lay.tls_key, key_pem, 0o600, owner)
        files.write(lay.cert, cert_pem, 0o644, public, group_only=True)

    return [Step(verb, "console certificate", lay.cert, generate),
            Step(verb, "console TLS key", lay.tls_key)]


def _sip_names(a: Answers) -> list[str]:
    """The SIP address, for the console's generated certificate when SIP over TLS shows it."""
    p = a.pbx
    host = p.sip_host()
    return [host] if p.transport == "tls" and p.tls_cert is None and host else []


def _pbx_ca_step(a: Answers, lay: Layout, public: Owner) -> Step | None:
    """Copy the CA file that signed the PBX's certificate where the service can read it."""
    if a.pbx.tls_ca is None:
        return None
    src = under(lay.root, a.pbx.tls_ca)
    try:
        pem = src.read_bytes()
    except OSError as e:
        raise AnswersError(f"pbx.tls_ca: cannot read {a.pbx.tls_ca}: {e.strerror}",
                           fix="copy the CA certificate (PEM) that signed the PBX's certificate to the box and give "
                               "its path, or pin the PBX's certificate with pbx.tls_pbx_sha256 instead") from None
    from cryptography import x509

    try:
        found = x509.load_pem_x509_certificates(pem)
    except ValueError:
        found = []
    if not found:
        raise AnswersError(f"pbx.tls_ca: {a.pbx.tls_ca} holds no PEM certificate",
                           fix="give the CA certificate in PEM (-----BEGIN CERTIFICATE-----); a DER file converts "
                               "with: openssl x509 -inform der -in ca.cer -out ca.pem")
    return _file_step("PBX CA certificate", lay.pbx_ca, pem, 0o644, public, True)


def _sip_cert_steps(a: Answers, lay: Layout, owner: Owner, public: Owner) -> list[Step]:
    """A SIP certificate the clinic provides: checked (its key, its expiry) and copied."""
    p = a.pbx
    if p.tls_cert is None or p.tls_key is None:
        return []
    src_cert, src_key = under(lay.root, p.tls_cert), under(lay.root, p.tls_key)
    try:
        info = tls.read_pair(src_cert, src_key)
    except tls.TlsError as e:
        raise AnswersError(f"pbx.tls_cert: {e.message}", fix=e.fix) from None
    if info.expires_within(dt.timedelta(0)):
        raise AnswersError(f"pbx.tls_cert: {p.tls_cert} expired on {info.not_after:%Y-%m-%d}",
                           fix="provide a current certificate, or leave pbx.tls_cert and tls_key out to use the "
                               "console's")
    return [_file_step("SIP certificate", lay.sip_cert, src_cert.read_bytes(), 0o644, public, True),
            _file_step("SIP TLS key", lay.sip_key, src_key.read_bytes(), 0o600, owner)]


def _sip_notes(a: Answers, lay: Layout) -> list[str]:
    p = a.pbx
    if p.transport != "tls":
        return ["SIP and call audio are not encrypted (pbx.transport: udp): see docs/installers.md, "
                "\"Encrypted calls: SIP over TLS and SRTP\""]
    notes = []
    if p.tls_cert is None and p.sip_host() is None:
        notes.append("SIP over TLS shows the console's certificate: a PBX that checks it needs the address it "
                     "connects to among its names: set pbx.advertised_host, or add the address to console.hostnames")
    elif p.tls_cert is None and a.console.tls_cert is not None:
        host = p.sip_host()
        try:  # read and checked by the console's step already
            names = tls.inspect(under(lay.root, a.console.tls_cert).read_bytes()).names
        except (OSError, tls.TlsError):
            names = ()
        if host not in names:
            notes.append(f"SIP over TLS shows the console's certificate, which does not name the SIP address {host}: "
                         "a PBX that checks it will refuse it; provide one that does (pbx.tls_cert and tls_key)")
    if p.media != "required":
        notes.append(f'SRTP is "{p.media}": calls with plain RTP audio are accepted (pbx.srtp: required refuses them)')
    return notes


def _admin_step(a: Answers, lay: Layout, owner: Owner) -> Step:
    password = a.admin.password.get_secret_value() if a.admin.password else None
    if lay.admin.exists() and admin.matches(lay.admin, a.admin.username, password):
        return Step("keep", "first admin (argon2 hash)", lay.admin)
    if password is None:
        raise AnswersError("admin.password: missing: the first admin needs a password the first time",
                           fix="add admin.password (at least 12 characters) to the answers")
    content = admin.render(a.admin.username, password)
    return Step("update" if lay.admin.exists() else "create", "first admin (argon2 hash)", lay.admin,
                lambda: files.write(lay.admin, content, 0o600, owner))


def _sip_password_step(a: Answers, lay: Layout, owner: Owner) -> Step | None:
    if a.pbx.mode != "register":
        return None
    if a.pbx.password is None:
        if lay.sip_password.exists():
            return Step("keep", "SIP password", lay.sip_password)
        raise AnswersError("pbx.password: missing: register mode needs the extension's password",
                           fix="add pbx.password to the answers (it is stored 0600, never printed)")
    content = (a.pbx.password.get_secret_value() + "\n").encode()
    return _file_step("SIP password", lay.sip_password, content, 0o600, owner)


def plan(a: Answers, root: Path, user: str | None = SERVICE_USER) -> Plan:
    """Work out every step; raise on bad input before anything is written."""
    lay = Layout.of(root, a)
    owner = Owner.lookup(user)
    public = Owner(None, owner.gid)  # root-owned, readable by the service user's group
    result = Plan(lay)
    if a.protocol_pack.path is not None and not under(root, a.protocol_pack.path).is_dir():
        raise AnswersError(f"protocol_pack.path: folder {a.protocol_pack.path} not found",
                           fix="copy the clinic's protocol pack there first, or leave the path out for the demo pack")
    steps = result.steps
    steps.append(_dir_step("config folder", lay.etc, 0o750, public, True))
    steps.append(_dir_step("data folder", lay.data_dir, 0o750, owner))
    steps.append(_dir_step("secrets folder", lay.secrets, 0o700, owner))
    steps.append(_file_step("config", lay.config, render_config(a, lay), 0o640, public, True))
    sip = _sip_password_step(a, lay, owner)
    if sip:
        steps.append(sip)
    steps.append(_db_key_step(lay, owner))
    steps.extend(_tls_steps(a, lay, owner, public))
    ca = _pbx_ca_step(a, lay, public)
    if ca:
        steps.append(ca)
    steps.extend(_sip_cert_steps(a, lay, owner, public))
    steps.append(_admin_step(a, lay, owner))
    pack = _pack_step(a, root)
    if pack:
        steps.append(pack)
    if user and owner.uid is None:
        result.notes.append(f"files are left owned by the current user: no user {user!r} here, or not root")
    result.notes.extend(_sip_notes(a, lay))
    result.notes.extend(_pack_notes(a))
    return result


def _pack_step(a: Answers, root: Path) -> Step | None:
    """Record the clinician's approval of the pack (through the clinic layer) unless it stands."""
    pack = a.protocol_pack
    if pack.path is None or pack.approved_by is None or pack.credential is None:
        return None
    from appliance.clinic.approval import approve, content_hash, read_approval
    from appliance.clinic.pack import APPROVAL_FILE, load_pack

    folder = under(root, pack.path)
    current = content_hash(load_pack(folder))  # an invalid pack stops provisioning here, naming the problem
    try:
        existing = read_approval(folder)
    except ApplianceError:
        existing = None
    if existing and existing.sha256 == current and existing.approver == pack.approved_by.strip() \
            and existing.credential == pack.credential.strip():
        return Step("keep", "protocol pack approval", folder / APPROVAL_FILE)
    clinician, credential = pack.approved_by, pack.credential
    return Step("update" if existing else "create", "protocol pack approval", folder / APPROVAL_FILE,
                lambda: approve(folder, clinician, credential, dt.datetime.now(dt.UTC)) and None)


def _pack_notes(a: Answers) -> list[str]:
    pack = a.protocol_pack
    if pack.path is None:
        return ["protocol pack: the bundled demo pack (for demonstration; install the clinic's own pack)"]
    if pack.approved_by is None:
        return [f"protocol pack: {pack.path}; a clinician must approve it before it is used on calls "
                "(`appliance protocol approve`, or approved_by and credential in the answers)"]
    return []
