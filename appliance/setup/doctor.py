"""`appliance doctor`: the installer's self-test, one line per check with a fix hint.

A check is a small function `(Settings) -> list[Result]`. `CHECKS` holds them in the order
they run. Parts of the appliance that own a deeper check (the SIP edge: "registration
accepted", "end-to-end test call") contribute it through `register_check(name, fn, after=...)`
from a module listed in `PROVIDERS`: such a module is imported when it exists and its
`doctor_checks()` returns `[(name, fn, after), ...]`. A check that cannot be run here
reports "unknown" (not a failure) and says why; it never reports a pass it did not observe.

With `[sip] transport = "tls"` the checks that talk to the PBX do it the way the SIP edge does:
over a TLS connection with the PBX's certificate checked (`sip_client_policy`), never plain UDP
to a TLS port. "encryption" says whether calls to and from the PBX are encrypted, and what an
eavesdropper on the LAN gets when they are not.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import ipaddress
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from appliance.config import Settings
from appliance.errors import ApplianceError
from appliance.models.resolver import ROLES, ChecksumCache, default_manifest_path, load_manifest, resolve_model
from appliance.records.keys import read_key
from appliance.setup import tls
from appliance.setup.answers import split_host_port
from appliance.setup.sipprobe import probe, probe_tls

if TYPE_CHECKING:
    from appliance.telephony.siptls import TlsPolicy

Status = Literal["pass", "fail", "unknown", "skip"]
MIN_FREE_BYTES = 2 * 1024**3
PBX_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        hint = f"  fix: {self.fix}" if self.fix and self.status in ("fail", "unknown") else ""
        return f"{self.status.upper():<7} {self.check:<14} {self.detail}{hint}"


Check = Callable[[Settings], list[Result]]


def check_models(s: Settings) -> list[Result]:
    try:
        specs = load_manifest(s.models.manifest or default_manifest_path())
    except ApplianceError as e:
        return [Result("models", "fail", e.message, e.fix)]
    cache = ChecksumCache(None)  # hash every file for real: the service's size/mtime cache would hide bit rot
    out = []
    for role in ROLES:
        try:
            m = resolve_model(specs[role], s.models.overrides.get(role), cache)
            out.append(Result(f"model.{role}", "pass", f"{m.spec.name}: sha256 verified"))
        except ApplianceError as e:
            out.append(Result(f"model.{role}", "fail", e.message.splitlines()[0], e.fix))
    return out


def check_selftest(s: Settings) -> list[Result]:
    """Every model exercised in its worker process the way calls use it (appliance.inference):
    a native crash is reported here, naming the model, instead of killing a live service."""
    from appliance.inference.client import cpu_features
    from appliance.inference.workers import start_worker
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import WORKER_GROUPS

    try:
        models = resolve_all(s)
    except ApplianceError as e:
        return [Result("selftest", "unknown", "the models did not verify, so they were not run", e.fix)]
    out = []
    for group, roles in WORKER_GROUPS.items():
        try:
            worker, _ = start_worker(group, models, s.model_copy(update={"models": s.models.model_copy(
                update={"selftest": True})}))
        except ApplianceError as e:
            out.append(Result(f"selftest.{group}", "fail", e.message, e.fix))
            continue
        info = f" (llama.cpp build: {worker.system_info.split('|', 1)[-1].strip(' |')[:120]})" if worker.system_info else ""
        worker.close()
        out.append(Result(f"selftest.{group}", "pass", f"{', '.join(roles)} ran in a worker process{info}"))
    out.append(Result("cpu", "pass", f"features seen: {cpu_features()}"))
    return out


def check_database(s: Settings) -> list[Result]:
    try:
        key = read_key(s.db_key_file)
    except ApplianceError as e:
        return [Result("database", "fail", e.message, e.fix)]
    if not s.db_path.exists():
        return [Result("database", "pass", f"key readable; {s.db_path} is created on first start")]
    from appliance.records.db import connect

    try:
        conn: Any = connect(s.db_path, key, create=False)  # sqlcipher3 is untyped: its Connection is Any
    except ApplianceError as e:
        return [Result("database", "fail", e.message, e.fix)]
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    finally:
        conn.close()
    return [Result("database", "pass", f"{s.db_path} opens with the key ({tables} tables)")]


def check_disk(s: Settings) -> list[Result]:
    where = s.data_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    detail = f"{free / 1024**3:.1f} GiB free at {where}"
    if free < MIN_FREE_BYTES:
        return [Result("disk", "fail", detail, f"free space: at least {MIN_FREE_BYTES // 1024**3} GiB is needed "
                                                "for models, recordings and backups")]
    return [Result("disk", "pass", detail)]


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def check_clock(s: Settings) -> list[Result]:
    fix = "enable time sync: `timedatectl set-ntp true`, or point chrony at the clinic's NTP server"
    synced = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if synced is not None:
        if synced.strip() == "yes":
            return [Result("clock", "pass", "synchronised (timedatectl)")]
        return [Result("clock", "fail", "not synchronised (timedatectl)", fix)]
    tracking = _run(["chronyc", "tracking"])
    if tracking is not None:
        if "Leap status     : Normal" in tracking:
            return [Result("clock", "pass", "synchronised (chrony)")]
        return [Result("clock", "fail", "chrony is not synchronised", fix)]
    return [Result("clock", "unknown", "neither timedatectl nor chrony could report the clock's state",
                   "check the time by hand; install chrony for appointment and audit timestamps you can trust")]


def pbx_target(s: Settings) -> tuple[str, int] | None:
    if s.sip.registrar:
        return split_host_port(s.sip.registrar, s.sip.default_port)
    for source in s.sip.allowed_sources:
        net = ipaddress.ip_network(source, strict=False)
        if net.num_addresses == 1:
            return str(net.network_address), s.sip.default_port
    return None


def sip_client_policy(s: Settings) -> tuple[TlsPolicy, str]:
    """The SIP edge's TLS checks of the PBX (`tls_ca`, `tls_pbx_sha256`) with this box's pair, and
    a note for the doctor's line. The doctor writes no certificate: before the service's first
    start has generated the console's pair, a temporary one is offered (and the note says so).
    ApplianceError (TlsError, ConfigError) names an unusable certificate, key or CA file."""
    from appliance.telephony.siptls import TlsPolicy

    sip = s.sip
    pair = tls.sip_pair(s, generate=False)
    if pair is not None:
        return TlsPolicy.build(pair[0], pair[1], sip.tls_ca, sip.tls_pbx_sha256), ""
    with tempfile.TemporaryDirectory(prefix="appliance-doctor-") as folder:
        cert, key = Path(folder) / "tls.crt", Path(folder) / "tls.key"
        tls.write_self_signed(cert, key, ["localhost"], "clinic appliance doctor", days=1)
        policy = TlsPolicy.build(cert, key, sip.tls_ca, sip.tls_pbx_sha256)
    return policy, (" (this box's own certificate is made at the service's first start: a temporary one "
                    "was offered)")


def check_pbx(s: Settings) -> list[Result]:
    target = pbx_target(s)
    if target is None:
        return [Result("pbx", "unknown", "no single PBX address: sip.registrar is unset and sip.allowed_sources "
                       "holds only networks", "set sip.registrar, or list the PBX's own address in allowed_sources")]
    host, port = target
    if s.sip.transport == "tls":
        return _check_pbx_tls(s, host, port)
    r = probe(host, port, PBX_TIMEOUT_S)
    if r.answered:
        return [Result("pbx", "pass", f"{host}:{port} answered OPTIONS: {r.status}")]
    return [Result("pbx", "fail", f"PBX {host}:{port}: {r.status}",
                   "check the PBX is up and its address in sip.registrar / sip.allowed_sources, and that the "
                   f"LAN firewall passes UDP {port} between the PBX and this box")]


def _check_pbx_tls(s: Settings, host: str, port: int) -> list[Result]:
    try:
        policy, note = sip_client_policy(s)
    except ApplianceError as e:
        return [Result("pbx", "fail", e.message, e.fix)]
    r = probe_tls(host, port, policy, s.sip.tls_ca, PBX_TIMEOUT_S)
    if r.answered and r.tls is not None:
        return [Result("pbx", "pass", f"{host}:{port} over {r.tls.describe()}; answered OPTIONS: {r.status}{note}")]
    return [Result("pbx", "fail", f"PBX {host}:{port} over TLS: {r.status}{note}", r.fix)]


ENCRYPTION_DOC = 'docs/installers.md, "Encrypted calls: SIP over TLS and SRTP"'
EAVESDROPPER = "anyone on the clinic LAN who can capture its traffic (a mirrored switch port, a compromised PC)"


def check_encryption(s: Settings) -> list[Result]:
    """Are calls to and from the PBX encrypted, as configured? A pass needs SIP over TLS with the
    PBX's certificate checked and SRTP required; anything less fails, naming what an eavesdropper
    on the LAN gets and the keys that fix it. (The pbx and registration lines show the TLS
    connection itself: the PBX's certificate as checked.)"""
    sip = s.sip
    if sip.transport != "tls" and ipaddress.ip_address(sip.bind_host).is_loopback:
        return [Result("encryption", "skip", "SIP and RTP are on loopback only (the embedded defaults): no call "
                       "crosses the LAN")]
    if sip.transport != "tls":
        return [Result("encryption", "fail",
                       "calls to and from the PBX are not encrypted (SIP over UDP, plain RTP): "
                       f"{EAVESDROPPER} sees every caller's number and name, who calls are transferred to and "
                       "the SIP login exchange, and can record both sides of every call: patients' voices and "
                       "what they say about their health",
                       'turn on SIP over TLS and SRTP at the PBX, then set [sip] transport = "tls", tls_ca (the CA '
                       'that signed the PBX certificate) or tls_pbx_sha256 (its fingerprint), and srtp = '
                       f'"required" ({ENCRYPTION_DOC})')]
    checked = " and ".join(([f"checked against {sip.tls_ca}"] if sip.tls_ca else [])
                           + (["pinned by SHA-256"] if sip.tls_pbx_sha256 else []))
    signalling = f"SIP is encrypted (TLS 1.2 or later, the PBX certificate {checked})"
    if sip.srtp == "off":
        return [Result("encryption", "fail",
                       f"{signalling}, but call audio is plain RTP: {EAVESDROPPER} can record both sides of every "
                       "call, patients' voices and what they say about their health (numbers and names stay "
                       "protected)",
                       'turn on SRTP (SDES) at the PBX (Asterisk: media_encryption=sdes), then set [sip] srtp = '
                       f'"required" ({ENCRYPTION_DOC})')]
    if sip.srtp == "optional":
        return [Result("encryption", "fail",
                       f"{signalling}; call audio is SRTP when the PBX uses it, but srtp = \"optional\" also takes "
                       f"calls with plain RTP, whose audio {EAVESDROPPER} can record (the log's call.answered "
                       "lines say srtp=false for those)",
                       'make the PBX use SRTP on every call to and from this box (Asterisk: media_encryption=sdes, '
                       f'media_encryption_optimistic=no), then set [sip] srtp = "required" ({ENCRYPTION_DOC})')]
    return [Result("encryption", "pass",
                   f"{signalling}; call audio SRTP (SDES keys inside the TLS-protected SIP), required: a plain "
                   "RTP offer is refused with 488 and an outbound call answered in the clear is ended")]


def _bind(kind: int, host: str, port: int) -> OSError | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError as e:
            return e
    return None


def service_running(s: Settings) -> bool:
    """Is this configuration's appliance service running? It holds the record store's lock."""
    from appliance.records.db import StoreLock
    from appliance.records.errors import DatabaseInUseError

    if not s.db_path.exists():
        return False
    lock = StoreLock(s.db_path)
    try:
        lock.acquire()
    except DatabaseInUseError:
        return True
    except OSError:
        return False
    lock.release()
    return False


def check_ports(s: Settings) -> list[Result]:
    out = []
    running: bool | None = None
    sip_kind, sip_proto = ((socket.SOCK_STREAM, "TCP (SIP over TLS)") if s.sip.transport == "tls"
                           else (socket.SOCK_DGRAM, "UDP"))
    for name, kind, proto, host, port in (
        ("port.sip", sip_kind, sip_proto, s.sip.bind_host, s.sip.bind_port),
        ("port.console", socket.SOCK_STREAM, "TCP", s.console.bind_host, s.console.port),
    ):
        err = _bind(kind, host, port)
        where = f"{proto} {host}:{port}"
        if err is None:
            out.append(Result(name, "pass", f"{where} is free"))
        elif err.errno == errno.EADDRINUSE and (running := service_running(s) if running is None else running):
            out.append(Result(name, "pass", f"{where} is in use by the running appliance service"))
        elif err.errno == errno.EADDRINUSE:
            out.append(Result(name, "fail", f"{where} is in use",
                              f"if the appliance is running this is expected (stop it: systemctl stop appliance); "
                              f"else find the owner: ss -lnp 'sport = :{port}'"))
        elif err.errno == errno.EACCES:
            out.append(Result(name, "fail", f"{where}: permission denied (a port below 1024)",
                              "use a port of 1024 or above, or grant CAP_NET_BIND_SERVICE in the unit"))
        else:
            out.append(Result(name, "fail", f"{where}: {err.strerror}", f"check the address {host} is on this box"))
    return out


def check_certificate(s: Settings) -> list[Result]:
    """The console's certificate, and the one SIP over TLS shows when it is its own pair:
    readable, matching its key, not expired nor expiring within 30 days."""
    c = s.console
    out: list[Result] = []
    if c.tls_cert is None or c.tls_key is None:
        if c.bind_host.startswith("127.") or c.bind_host == "::1":
            out.append(Result("certificate", "skip", "no console certificate: the console is on loopback only"))
        else:
            out.append(Result("certificate", "fail", "the console listens on the LAN without a TLS certificate",
                              "run `appliance provision` (it generates one) or set console.tls_cert and tls_key"))
    else:
        out.append(_pair_result("certificate", c.tls_cert, c.tls_key))
    sip = s.sip
    if sip.transport == "tls" and sip.tls_cert is not None and sip.tls_key is not None:
        out.append(_pair_result("certificate.sip", sip.tls_cert, sip.tls_key))
    return out


def _pair_result(name: str, cert: Path, key: Path) -> Result:
    try:
        info = tls.read_pair(cert, key)
    except ApplianceError as e:
        return Result(name, "fail", e.message, e.fix)
    when = f"{info.not_after:%Y-%m-%d}"
    renew = ("run `appliance provision` again (it renews a generated certificate); "
             "a certificate the clinic provided must be renewed by its IT")
    if info.expires_within(timedelta(0)):
        return Result(name, "fail", f"{cert} expired on {when}", renew)
    if info.expires_within():
        return Result(name, "fail", f"{cert} expires on {when} (within 30 days)", renew)
    return Result(name, "pass", f"valid until {when} for {', '.join(info.names) or info.subject}")


def check_pack(s: Settings) -> list[Result]:
    """The protocol pack for calls: who approved what and when; fails on a demo pack, an
    unapproved or changed pack, and an approval older than [golive] approval_max_months."""
    from datetime import UTC, datetime

    from appliance.golive.packstatus import pack_status

    st = pack_status(s, datetime.now(UTC))
    head = f"{st.ref or st.path}: {st.approval_line()}"
    if st.ok:
        return [Result("pack", "pass", f"{head}; approved for patient calls")]
    return [Result("pack", "fail", f"{head}: {p.detail}", p.fix) for p in st.problems]


CHECKS: list[tuple[str, Check]] = [
    ("pack", check_pack),
    ("models", check_models),
    ("selftest", check_selftest),
    ("database", check_database),
    ("disk", check_disk),
    ("clock", check_clock),
    ("pbx", check_pbx),
    ("encryption", check_encryption),
    ("ports", check_ports),
    ("certificate", check_certificate),
]

# Modules that contribute checks when present (the SIP edge: registration accepted, test call).
PROVIDERS: tuple[str, ...] = ("appliance.setup.sip_checks",)


def register_check(name: str, check: Check, after: str | None = None) -> None:
    """Add a check (once) after the named one, or at the end."""
    if any(n == name for n, _ in CHECKS):
        return
    names = [n for n, _ in CHECKS]
    at = names.index(after) + 1 if after in names else len(CHECKS)
    CHECKS.insert(at, (name, check))


def load_providers() -> None:
    for module in PROVIDERS:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            for name, check, after in importlib.import_module(module).doctor_checks():
                register_check(name, check, after)


def run_checks(s: Settings, only: set[str] | None = None) -> list[Result]:
    load_providers()
    results: list[Result] = []
    for name, check in list(CHECKS):
        if only and name not in only:
            continue
        try:
            results.extend(check(s))
        except Exception as e:  # noqa: BLE001  (a crashing check is reported as a failure, the rest still run)
            results.append(Result(name, "fail", f"the check itself failed: {type(e).__name__}: {e}",
                                  "report this with the output of `appliance doctor`"))
    return results


def as_dicts(results: list[Result]) -> list[dict[str, object]]:
    return [asdict(r) for r in results]


def failed(results: list[Result]) -> bool:
    return any(r.status == "fail" for r in results)

