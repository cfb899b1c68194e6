"""Real peers for SIP over TLS: a test CA and its certificates, kamailio with its TLS module as
the PBX, baresip over TLS (with SRTP when asked). Loopback only."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.telephony.conftest import free_udp_port
from tests.telephony.peers import DEBIAN_CFG, Baresip, _wait_ready, run_kamailio


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path

    @property
    def sha256(self) -> str:
        der = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Certs:
    ca: Path  # the test CA's certificate (PEM)
    pbx: Pair  # kamailio's, signed by the CA, for 127.0.0.1
    box: Pair  # the appliance's, signed by the CA
    phone: Pair  # the softphones' (a PBX opens TLS connections to them), signed by the CA
    rogue: Pair  # a self-signed certificate for 127.0.0.1 that no one trusts


def _write(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
    pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
          signer: ec.EllipticCurvePrivateKey | None, *, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer or key, hashes.SHA256())


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test clinic CA", ca_key, None, None, ca=True)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pairs = {}
    for name in ("pbx", "box", "phone"):
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[name] = _write(folder, name, _cert(f"test {name}", key, ca.subject, ca_key, ca=False), key)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _write(folder, "rogue", _cert("rogue pbx", rogue_key, None, None, ca=False), rogue_key)
    return Certs(folder / "ca.crt", pairs["pbx"], pairs["box"], pairs["phone"], rogue)


@dataclass(frozen=True)
class TlsPbx:
    udp_port: int  # kamailio's UDP port (readiness probe, plain-UDP peers)
    tls_port: int


def _write_tls_config(tmp_path: Path, udp: int, tls: int, server: Pair, ca: Path) -> tuple[Path, Path]:
    run = tmp_path / f"kamailio-tls-{tls}"
    run.mkdir(exist_ok=True)
    (run / "tls.cfg").write_text(
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
        f"private_key = {server.key}\ncertificate = {server.cert}\n\n"
        # kamailio opening connections to the appliance checks the appliance's certificate
        f"[client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nca_list = {ca}\n")
    text = DEBIAN_CFG.read_text().replace("children=8", "children=2")
    text = text.replace('"/etc/kamailio/tls.cfg"', f'"{run / "tls.cfg"}"')
    text = text.replace("#!KAMAILIO", f"#!KAMAILIO\n#!define WITH_TLS\nlisten=udp:127.0.0.1:{udp}\n"
                        f"listen=tls:127.0.0.1:{tls}", 1)
    cfg = run / "kamailio.cfg"
    cfg.write_text(text)
    return run, cfg


@asynccontextmanager
async def kamailio_tls(tmp_path: Path, certs: Certs, server: Pair | None = None) -> AsyncIterator[TlsPbx]:
    """kamailio as the PBX on UDP and TLS (its certificate: `server`, default the CA-signed one)."""
    udp, tls = free_udp_port(), free_udp_port()
    run, cfg = await asyncio.to_thread(_write_tls_config, tmp_path, udp, tls, server or certs.pbx, certs.ca)
    async with run_kamailio(run, cfg):
        await _wait_ready(udp)
        yield TlsPbx(udp, tls)


def tls_phone(home: Path, pbx: TlsPbx, certs: Certs, user: str, *, srtp: bool = True, answer: str = "auto",
              source: Path | None = None) -> Baresip:
    """A baresip registered over TLS at kamailio (SRTP with SDES mandatory when `srtp`)."""
    enc = ";mediaenc=srtp-mand" if srtp else ""
    account = (f"<sip:{user}@127.0.0.1:{pbx.tls_port};transport=tls>;auth_pass=x;answermode={answer};"
               f"regint=300{enc}")
    home.mkdir(parents=True, exist_ok=True)
    combined = home / "tls.pem"  # baresip takes its certificate and key in one file
    combined.write_bytes(certs.phone.cert.read_bytes() + certs.phone.key.read_bytes())
    extra = f"sip_cafile {certs.ca}\nsip_certificate {combined}\n" + ("module srtp.so\n" if srtp else "")
    return Baresip(home, account, source, extra)
