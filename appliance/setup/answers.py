"""The installer's answers: what `appliance provision` asks, as a validated schema.

An answer file is YAML with the sections below; every field is checked on load, and every
error names the field, the line in the file and the problem. The same validators check each
answer typed at an interactive prompt, on the spot. Secrets (`pbx.password`,
`admin.password`) are held as `SecretStr`, so they never appear in a repr or an error.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from appliance.config import ModelOverride, Role, SipSettings, SiteSettings
from appliance.errors import ApplianceError


class AnswersError(ApplianceError):
    code = "answers-invalid"


def _site_field(name: str) -> Any:
    """A validator that checks one value with the config's own `[site]` rules."""

    def check(value: Any) -> Any:
        try:
            return getattr(SiteSettings.model_validate({name: value}), name)
        except ValidationError as e:
            raise ValueError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None

    return check


_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_USER = re.compile(r"[a-z][a-z0-9._-]{1,31}")


def _host(v: str) -> str:
    try:
        ipaddress.ip_address(v)
        return v
    except ValueError:
        pass
    if not _HOST.fullmatch(v):
        raise ValueError(f"{v!r} is neither an IP address nor a host name")
    return v


def _host_port(v: str) -> str:
    """`host` or `host:port` (an IPv6 address in brackets: `[fd00::5]:5060`)."""
    v = v.strip()
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", v) or re.fullmatch(r"([^:\[\]]+)(?::(\d+))?", v)
    if not m:
        raise ValueError(f"{v!r} is not host or host:port")
    _host(m.group(1))
    if m.group(2) is not None and not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"port {m.group(2)} is outside 1-65535")
    return v


def _network(v: str) -> str:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise ValueError(f"{v!r} is not an IP address or network (e.g. 192.168.1.10 or 192.168.1.0/24)") from None
    return v


def _ip(v: str) -> str:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        raise ValueError(f"{v!r} is not an IP address (0.0.0.0 listens on every interface)") from None
    return v


def _username(v: str) -> str:
    if not _USER.fullmatch(v):
        raise ValueError("use 2-32 characters: a lowercase letter, then lowercase letters, digits, . _ -")
    return v


def _strong(v: SecretStr) -> SecretStr:
    if len(v.get_secret_value()) < 12:
        raise ValueError("the password must be at least 12 characters long")
    return v


def _fingerprint(v: str) -> str:
    """A SHA-256 fingerprint, checked (and normalised: lowercase, no colons) by the config's own rule."""
    try:
        pin = SipSettings.model_validate({"tls_pbx_sha256": v}).tls_pbx_sha256
    except ValidationError as e:
        raise ValueError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None
    assert pin is not None
    return pin


Extension = Annotated[str, AfterValidator(_site_field("np_extension"))]
TimeZone = Annotated[str, AfterValidator(_site_field("time_zone"))]
Hours = Annotated[dict[str, str], AfterValidator(_site_field("hours"))]


def _day(v: str) -> str:
    try:
        day: str = _site_field("hours")({"mon": v})["mon"]  # the validator returns the field's value
        return day
    except ValueError as e:
        raise ValueError(str(e).removeprefix("mon: ")) from None


DayHours = Annotated[str, AfterValidator(_day)]
HostPort = Annotated[str, AfterValidator(_host_port)]
Host = Annotated[str, AfterValidator(_host)]
Network = Annotated[str, AfterValidator(_network)]
BindHost = Annotated[str, AfterValidator(_ip)]
Port = Annotated[int, Field(ge=1, le=65535)]
AdminName = Annotated[str, AfterValidator(_username)]
AdminPassword = Annotated[SecretStr, AfterValidator(_strong)]
Fingerprint = Annotated[str, AfterValidator(_fingerprint)]
Transport = Literal["udp", "tls"]
Srtp = Literal["required", "optional", "off"]
FINGERPRINT_HOW = "on the PBX: openssl x509 -noout -fingerprint -sha256 -in pbx.pem"

DEFAULT_HOURS = {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00",
                 "fri": "09:00-17:00", "sat": "closed", "sun": "closed"}


class _A(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClinicAnswers(_A):
    name: str = Field(min_length=1, max_length=120)
    time_zone: TimeZone = "UTC"
    hours: Hours = Field(default_factory=lambda: dict(DEFAULT_HOURS))


class PackAnswers(_A):
    path: Path | None = None  # the clinic's protocol pack folder; none: the demo pack
    approved_by: str | None = Field(None, min_length=1, max_length=120)  # the approving clinician ...
    credential: str | None = Field(None, min_length=1, max_length=120)  # ... and their licence or title

    @model_validator(mode="after")
    def _approval(self) -> PackAnswers:
        if (self.approved_by is None) != (self.credential is None):
            raise ValueError("an approval needs both approved_by (the clinician) and credential (licence or title)")
        if self.approved_by and self.path is None:
            raise ValueError("approved_by needs path: only a clinic's own pack is approved at provisioning")
        return self


def split_host_port(v: str, default_port: int = 5060) -> tuple[str, int]:
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", v) or re.fullmatch(r"([^:\[\]]+)(?::(\d+))?", v)
    if not m:
        raise ValueError(f"{v!r} is not host or host:port")
    return m.group(1), int(m.group(2) or default_port)


class PbxAnswers(_A):
    mode: Literal["register", "trunk"]
    address: HostPort  # the PBX: its registrar in register mode, its trunk peer in trunk mode
    username: str | None = Field(None, min_length=1, max_length=64)
    password: SecretStr | None = None
    extension: Extension | None = None
    allowed: list[Network] = Field(default_factory=list)  # who may send calls; default: the PBX address
    bind_host: BindHost = "0.0.0.0"  # noqa: S104  (the box answers on the clinic LAN)
    bind_port: Port | None = None  # default: 5060, or 5061 for SIP over TLS (`port`)
    advertised_host: Host | None = None
    rtp_port_min: int = Field(20000, ge=1024, le=65535)
    rtp_port_max: int = Field(20999, ge=1024, le=65535)
    # Encrypted calls (docs/installers.md, "Encrypted calls: SIP over TLS and SRTP"):
    transport: Transport = "udp"  # tls: SIP over TLS 1.2+ to and from the PBX
    tls_ca: Path | None = None  # the CA file (PEM) that signed the PBX's certificate; copied to /etc/appliance
    tls_pbx_sha256: Fingerprint | None = None  # or the PBX certificate's pinned SHA-256 fingerprint
    tls_cert: Path | None = None  # this box's SIP certificate (PEM) if the clinic provides one ...
    tls_key: Path | None = None  # ... and its key; neither: the console's certificate, naming the SIP address
    srtp: Srtp | None = None  # call audio: default "required" with tls, "off" with udp

    @model_validator(mode="after")
    def _consistent(self) -> PbxAnswers:
        if self.rtp_port_min > self.rtp_port_max:
            raise ValueError("rtp_port_min must not exceed rtp_port_max")
        if self.mode == "register" and not self.username:
            raise ValueError('mode "register" needs the username (and password) of the appliance extension')
        tls_fields = [f for f in ("tls_ca", "tls_pbx_sha256", "tls_cert", "tls_key") if getattr(self, f) is not None]
        if self.transport == "udp" and tls_fields:
            raise ValueError(f"{', '.join('pbx.' + f for f in tls_fields)} set but pbx.transport is udp: add "
                             "`transport: tls` to use SIP over TLS, or leave those fields out")
        if self.transport == "tls" and not (self.tls_ca or self.tls_pbx_sha256):
            raise ValueError("transport tls needs the PBX certificate checked: set pbx.tls_ca to the CA file (PEM) "
                             f"that signed it, or pbx.tls_pbx_sha256 to its fingerprint ({FINGERPRINT_HOW})")
        if self.srtp in ("required", "optional") and self.transport != "tls":
            raise ValueError(f'srtp "{self.srtp}" needs transport: tls (the SRTP keys travel in the SIP messages, '
                             "which plain UDP shows to anyone on the LAN): add `transport: tls` to pbx, or set "
                             "srtp: off")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both pbx.tls_cert and pbx.tls_key (a SIP certificate the clinic provides), or "
                             "neither (the console's certificate, which then names the SIP address)")
        if not self.allowed:
            host, _ = split_host_port(self.address)
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"the PBX address {host!r} is a name: list its IP address(es) in pbx.allowed, "
                                 "the only sources calls are accepted from") from None
        return self

    @property
    def port(self) -> int:
        """This box's SIP port: bind_port, else 5061 for SIP over TLS and 5060 over UDP."""
        return self.bind_port or (5061 if self.transport == "tls" else 5060)

    @property
    def media(self) -> Srtp:
        """The SRTP policy: srtp, else "required" with SIP over TLS and "off" over UDP."""
        return self.srtp or ("required" if self.transport == "tls" else "off")

    def sip_host(self) -> str | None:
        """The address the PBX reaches this box's SIP at, when known (not a wildcard bind)."""
        if self.advertised_host:
            return self.advertised_host
        return None if self.bind_host in ("0.0.0.0", "::") else self.bind_host  # noqa: S104 (a name to leave out)

    def sources(self) -> list[str]:
        if self.allowed:
            return list(self.allowed)
        host, _ = split_host_port(self.address)
        return [str(ipaddress.ip_network(host))]


class StaffAnswers(_A):
    np: Extension
    front_desk: Extension
    on_call: list[Extension] = Field(min_length=1, max_length=10)


class ConsoleAnswers(_A):
    bind_host: BindHost = "0.0.0.0"  # noqa: S104
    port: Port = 8443
    hostnames: list[Host] = Field(default_factory=list)  # names in a generated certificate
    tls_cert: Path | None = None  # a certificate the clinic provides (PEM) ...
    tls_key: Path | None = None  # ... and its private key (PEM); neither: generate one

    @model_validator(mode="after")
    def _pair(self) -> ConsoleAnswers:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key (a provided certificate), or neither (generate one)")
        return self


class AdminAnswers(_A):
    username: AdminName = "admin"
    password: AdminPassword | None = None  # needed the first time; omitted later: the stored hash is kept


class Answers(_A):
    clinic: ClinicAnswers
    pbx: PbxAnswers
    staff: StaffAnswers
    protocol_pack: PackAnswers = PackAnswers()
    console: ConsoleAnswers = ConsoleAnswers()
    admin: AdminAnswers = AdminAnswers()
    data_dir: Path = Path("/var/lib/appliance")
    models: dict[Role, ModelOverride] = Field(default_factory=dict)  # site models (path + sha256)


def check_value(annotation: Any, value: Any) -> Any:
    """Validate one interactive answer; raise ValueError with the reason."""
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as e:
        raise ValueError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the key path `loc` in a composed YAML document."""
    best = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    best, node = k.start_mark.line + 1, v
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def describe(err: ValidationError, source: str, node: yaml.Node | None) -> str:
    lines = [f"{source}: the answers are not valid"]
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line(node, loc)
        where = f" (line {line})" if line else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field `{loc[-1]}`: remove it or check its spelling"
        elif e["type"] == "missing":
            msg = f"missing: add `{loc[-1]}`"
        secret = any(isinstance(p, str) and "password" in p for p in loc)
        got = e.get("input")
        shown = "" if secret or got is None or isinstance(got, dict | list) or e["type"] == "missing" \
            else f" (got {got!r})"
        lines.append(f"  {key}{where}: {msg}{shown}")
    return "\n".join(lines)


def parse_answers(text: str, source: str = "answers") -> Answers:
    """Parse and validate an answer file's text; AnswersError names each bad field and why."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise AnswersError(f"{source}: not valid YAML: {e}", fix="correct the syntax at that line") from None
    if not isinstance(raw, dict):
        raise AnswersError(f"{source}: expected a mapping with clinic, pbx, staff, ... at the top",
                           fix="see the example answer file in docs/installers.md")
    try:
        return Answers.model_validate(raw)
    except ValidationError as e:
        raise AnswersError(describe(e, source, node),
                           fix="correct the fields named above and run again") from None


def load_answers(path: Path) -> Answers:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AnswersError(f"{path}: cannot read the answer file: {e.strerror}", fix="check the path") from None
    return parse_answers(text, str(path))
