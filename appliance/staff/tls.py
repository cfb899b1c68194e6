"""The console's TLS certificate: the installer's (console.tls_cert / tls_key), or a
self-signed one generated once into the data directory (ECDSA P-256, 825 days)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.config import Settings
from appliance.errors import ConfigError


def _names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) != "127.0.0.1":
            names.append(x509.IPAddress(ip))
    except ValueError:
        names.append(x509.DNSName(host))
    return names


def generate_self_signed(cert_path: Path, key_path: Path, host: str, common_name: str = "clinic appliance console") -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def console_tls(settings: Settings) -> tuple[Path, Path]:
    """(cert, key) for the console: the configured pair, else the generated one."""
    c = settings.console
    if c.tls_cert or c.tls_key:
        if not (c.tls_cert and c.tls_key):
            raise ConfigError("console: tls_cert and tls_key must be given together",
                              fix="set both, or neither to use a generated self-signed certificate")
        for p in (c.tls_cert, c.tls_key):
            if not p.is_file():
                raise ConfigError(f"console: {p} not found", fix="point console.tls_cert/tls_key at existing PEM files")
        return c.tls_cert, c.tls_key
    cert, key = settings.data_dir / "console" / "tls.crt", settings.data_dir / "console" / "tls.key"
    if not (cert.is_file() and key.is_file()):
        generate_self_signed(cert, key, c.bind_host)
    return cert, key
