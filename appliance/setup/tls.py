"""TLS certificates, one module for the whole appliance: check a provided certificate and
key, generate a self-signed pair (ECDSA P-256, 825 days), and pick the console's pair at
start-up (the installer's from `[console] tls_cert/tls_key`, else one generated once into
`<data_dir>/console/`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.errors import ApplianceError, ConfigError

if TYPE_CHECKING:
    from appliance.config import Settings
    from appliance.telephony.siptls import TlsPolicy

VALID_DAYS = 825  # the longest validity browsers accept for a certificate they are told to trust
EXPIRY_MARGIN = dt.timedelta(days=30)


class TlsError(ApplianceError):
    code = "tls-invalid"


@dataclass(frozen=True)
class CertInfo:
    subject: str
    names: tuple[str, ...]
    not_after: dt.datetime
    self_signed: bool

    def expires_within(self, margin: dt.timedelta = EXPIRY_MARGIN, now: dt.datetime | None = None) -> bool:
        return self.not_after - (now or dt.datetime.now(dt.UTC)) < margin


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    return tuple(sorted([*dns, *ips]))


def inspect(cert_pem: bytes, key_pem: bytes | None = None, source: str = "certificate") -> CertInfo:
    """Parse a PEM certificate (and check the key belongs to it); TlsError says what is wrong."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise TlsError(f"{source}: not a PEM certificate", fix="provide the certificate in PEM format") from None
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            raise TlsError(f"{source}: the private key is not an unencrypted PEM key",
                           fix="provide the key in PEM without a passphrase (openssl pkey -in KEY -out KEY.pem)") \
                from None
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.PEM, pub) != \
                cert.public_key().public_bytes(serialization.Encoding.PEM, pub):
            raise TlsError(f"{source}: the private key does not belong to the certificate",
                           fix="provide the matching key file")
    return CertInfo(subject=cert.subject.rfc4514_string(), names=_names(cert),
                    not_after=cert.not_valid_after_utc, self_signed=cert.issuer == cert.subject)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def generate(names: list[str], common_name: str, days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A new P-256 key and a self-signed certificate for `names`, valid `days`: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def read_pair(cert: Path, key: Path) -> CertInfo:
    try:
        cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
    except OSError as e:
        raise TlsError(f"{e.filename}: cannot read: {e.strerror}",
                       fix="check the path and that the service user may read it") from None
    return inspect(cert_pem, key_pem, str(cert))


def write_self_signed(cert_path: Path, key_path: Path, names: list[str], common_name: str,
                      days: int = VALID_DAYS) -> None:
    """Generate a pair for `names` and write it: the key 0600 (written first), the certificate 0644."""
    cert_pem, key_pem = generate(names, common_name, days)
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert_pem)


def console_names(host: str) -> list[str]:
    """localhost, 127.0.0.1 and the address the console listens on (unless a wildcard)."""
    names = ["localhost", "127.0.0.1"]
    if host not in ("0.0.0.0", "::", "", *names):  # noqa: S104 (a name to leave out, not a bind)
        names.append(host)
    return names


def console_tls(settings: Settings) -> tuple[Path, Path]:
    """(cert, key) for the console: the configured pair (checked), else the generated one,
    made again when missing, unreadable, mismatched or within 30 days of expiry."""
    c = settings.console
    if c.tls_cert or c.tls_key:
        if not (c.tls_cert and c.tls_key):
            raise ConfigError("console: tls_cert and tls_key must be given together",
                              fix="set both, or neither to use a generated self-signed certificate")
        for p in (c.tls_cert, c.tls_key):
            if not p.is_file():
                raise ConfigError(f"console: {p} not found", fix="point console.tls_cert/tls_key at existing PEM files")
        read_pair(c.tls_cert, c.tls_key)  # TlsError names a key that does not belong to the certificate
        return c.tls_cert, c.tls_key
    cert, key = _generated_pair(settings)
    names = console_names(c.bind_host)
    sip_host = _sip_host(settings)  # the same pair serves SIP over TLS
    if sip_host is not None and sip_host not in names:
        names.append(sip_host)
    if cert.is_file() and key.is_file():
        try:
            info = read_pair(cert, key)
            if not info.expires_within() and set(names) <= set(info.names):
                return cert, key
        except TlsError:
            pass  # generate a new pair below
    write_self_signed(cert, key, names, "clinic appliance")
    return cert, key


def _sip_host(settings: Settings) -> str | None:
    """The address the PBX reaches SIP at (as the edge advertises it), None when none is known."""
    from appliance.telephony.localaddr import advertised_host

    try:
        return advertised_host(settings.sip)
    except ConfigError:
        return None


def sip_tls(settings: Settings) -> TlsPolicy:
    """The SIP edge's TLS contexts: `[sip] tls_cert/tls_key` (checked), else the console's pair
    (generated once, naming the SIP address too); the PBX checked by tls_ca and/or tls_pbx_sha256."""
    from appliance.telephony.siptls import TlsPolicy

    s = settings.sip
    pair = sip_pair(settings)
    assert pair is not None  # generated when missing
    return TlsPolicy.build(pair[0], pair[1], s.tls_ca, s.tls_pbx_sha256)


def sip_pair(settings: Settings, *, generate: bool = True) -> tuple[Path, Path] | None:
    """(cert, key) this box shows on SIP over TLS: `[sip] tls_cert/tls_key` (checked), else the
    console's pair. `generate=False` (the doctor, which may run as another user than the service)
    never writes one: None when the console's pair is to be generated at the service's first start."""
    s = settings.sip
    if s.tls_cert is not None and s.tls_key is not None:
        read_pair(s.tls_cert, s.tls_key)  # TlsError names an unreadable file or a key of another certificate
        return s.tls_cert, s.tls_key
    if generate:
        return console_tls(settings)
    c = settings.console
    if c.tls_cert is not None and c.tls_key is not None:
        return c.tls_cert, c.tls_key
    cert, key = _generated_pair(settings)
    return (cert, key) if cert.is_file() and key.is_file() else None


def _generated_pair(settings: Settings) -> tuple[Path, Path]:
    """Where the appliance keeps the pair it generates for the console (and SIP over TLS)."""
    return settings.data_dir / "console" / "tls.crt", settings.data_dir / "console" / "tls.key"
