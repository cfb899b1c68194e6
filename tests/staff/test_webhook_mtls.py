"""Webhooks over mutual TLS against a real HTTPS receiver on loopback that requires a client
certificate from its own CA: a certificate from that CA is accepted (with or without HMAC), no
certificate or one from another CA is refused during the handshake (the delivery raises, so the
relay retries, and the receiver never sees the message), and bad client certificate settings are
refused when the configuration is loaded or the sinks are built, naming the key or file and the fix."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.config import load_settings
from appliance.errors import ConfigError
from appliance.records.outbox import OutboxMessage
from appliance.records.relay import Relay
from appliance.staff.console import open_repo, webhook_sinks
from appliance.staff.webhooks import WebhookSink, verify
from tests.staff import seed

SECRET = b"0123456789abcdef0123456789abcdef"
CLIENT_CN = "appliance webhook client"


# --- a throwaway PKI -------------------------------------------------------------------------

Issued = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(cn: str, issuer: Issued | None, *, names: list[x509.GeneralName] | None = None,
           usage: x509.ObjectIdentifier | None = None) -> Issued:
    """A P-256 certificate for `cn` signed by `issuer` (a CA when `issuer` is None: self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(signer_cert.subject if signer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if signer_cert is None:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_cert.public_key()), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer_key, hashes.SHA256()), key


def _write(folder: Path, stem: str, pair: Issued) -> tuple[Path, Path]:
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert.write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pair[1].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    return cert, key


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    foreign_cert: Path  # a client certificate from another CA
    foreign_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue("clinic test CA", None)
    (folder / "ca.crt").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    loopback = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = _write(folder, "server", _issue("test receiver", ca, names=loopback, usage=ExtendedKeyUsageOID.SERVER_AUTH))
    client = _write(folder, "client", _issue(CLIENT_CN, ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH))
    other_ca = _issue("some other CA", None)
    foreign = _write(folder, "foreign", _issue(CLIENT_CN, other_ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH))
    return Pki(folder / "ca.crt", *server, *client, *foreign)


# --- the receiver ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Seen:
    body: dict
    headers: dict[str, str]
    peer_cn: str


class MtlsReceiver:
    """HTTPS on 127.0.0.1 that requires a client certificate issued by the test CA; records each POST."""

    def __init__(self, pki: Pki) -> None:
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer = self.connection.getpeercert()
                cn = next(v for rdn in peer["subject"] for k, v in rdn if k == "commonName")
                outer.seen.append(Seen(json.loads(body), dict(self.headers.items()), cn))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        ctx.load_verify_locations(pki.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@pytest.fixture
def receiver(pki: Pki) -> Iterator[MtlsReceiver]:
    r = MtlsReceiver(pki)
    yield r
    r.close()


def _message(n: int = 1) -> OutboxMessage:
    return OutboxMessage(n, f"msg-{n}", "escalation.raised", {"id": n, "severity": "urgent"},
                         "2026-01-01T00:00:00+00:00", 0)


# --- delivery --------------------------------------------------------------------------------

async def test_client_certificate_from_the_receivers_ca_delivers(pki: Pki, receiver: MtlsReceiver):
    sink = WebhookSink("pms", receiver.url, SECRET, ca_file=pki.ca, client_cert=pki.client_cert,
                       client_key=pki.client_key, timeout_s=5)
    await sink.deliver(_message(1))
    assert len(receiver.seen) == 1
    seen = receiver.seen[0]
    assert seen.body["id"] == "msg-1" and seen.body["data"] == {"id": 1, "severity": "urgent"}
    assert seen.peer_cn == CLIENT_CN
    assert seen.headers["Idempotency-Key"] == "msg-1"
    body = json.dumps(seen.body, separators=(",", ":")).encode()
    assert verify(SECRET, seen.headers["X-Appliance-Timestamp"], body, seen.headers["X-Appliance-Signature"])


async def test_mutual_tls_only_endpoint_sends_no_signature(pki: Pki, receiver: MtlsReceiver):
    sink = WebhookSink("pms", receiver.url, None, ca_file=pki.ca, client_cert=pki.client_cert,
                       client_key=pki.client_key, timeout_s=5)
    await sink.deliver(_message(2))
    assert [s.body["id"] for s in receiver.seen] == ["msg-2"]
    assert "X-Appliance-Signature" not in receiver.seen[0].headers
    assert receiver.seen[0].headers["Idempotency-Key"] == "msg-2"


async def test_without_a_client_certificate_the_receiver_refuses(pki: Pki, receiver: MtlsReceiver):
    sink = WebhookSink("pms", receiver.url, SECRET, ca_file=pki.ca, timeout_s=5)
    with pytest.raises(Exception):  # noqa: B017  (TLS alert or reset: any failure means the relay retries)
        await sink.deliver(_message(3))
    assert receiver.seen == []


async def test_client_certificate_from_another_ca_is_refused(pki: Pki, receiver: MtlsReceiver):
    sink = WebhookSink("pms", receiver.url, SECRET, ca_file=pki.ca, client_cert=pki.foreign_cert,
                       client_key=pki.foreign_key, timeout_s=5)
    with pytest.raises(Exception):  # noqa: B017
        await sink.deliver(_message(4))
    assert receiver.seen == []
    # The same receiver still accepts its own CA's client: the refusal was about the certificate.
    good = WebhookSink("pms", receiver.url, SECRET, ca_file=pki.ca, client_cert=pki.client_cert,
                       client_key=pki.client_key, timeout_s=5)
    await good.deliver(_message(5))
    assert [s.body["id"] for s in receiver.seen] == ["msg-5"]


# --- bad certificate files: refused when the sink is built -----------------------------------

def test_key_of_another_certificate_is_refused_at_startup(pki: Pki):
    with pytest.raises(ConfigError) as err:
        WebhookSink("pms", "https://127.0.0.1:9/", None, ca_file=pki.ca, client_cert=pki.client_cert,
                    client_key=pki.foreign_key)
    text = str(err.value)
    assert str(pki.client_cert) in text and str(pki.foreign_key) in text
    assert "does not belong" in text and "fix: provide the matching key file" in text


def test_unreadable_client_certificate_is_refused_at_startup(pki: Pki, tmp_path: Path):
    missing = tmp_path / "nowhere.crt"
    with pytest.raises(ConfigError) as err:
        WebhookSink("pms", "https://127.0.0.1:9/", None, client_cert=missing, client_key=pki.client_key)
    assert str(missing) in str(err.value) and "fix:" in str(err.value)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="not a PEM certificate") as err:
        WebhookSink("pms", "https://127.0.0.1:9/", None, client_cert=garbage, client_key=pki.client_key)
    assert str(garbage) in str(err.value)


def test_sink_needs_a_secret_or_a_client_certificate():
    with pytest.raises(ConfigError, match="neither a shared secret nor a client certificate"):
        WebhookSink("pms", "https://127.0.0.1:9/", None)


def test_sink_context_requires_tls_1_2(pki: Pki):
    sink = WebhookSink("pms", "https://127.0.0.1:9/", None, client_cert=pki.client_cert, client_key=pki.client_key)
    assert sink._ssl.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert sink._ssl.verify_mode == ssl.CERT_REQUIRED and sink._ssl.check_hostname


# --- configuration ---------------------------------------------------------------------------

def _config(tmp: Path, endpoint: str) -> Path:
    cfg = tmp / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp / "var"}"\n\n[[webhooks.endpoints]]\nname = "pms"\n{endpoint}')
    return cfg


def _config_error(cfg: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = str(err.value)
    assert str(cfg) in text  # the file is named
    return text


def test_mutual_tls_only_endpoint_loads(tmp_path: Path, pki: Pki):
    cfg = _config(tmp_path, f'url = "https://127.0.0.1:9/"\nclient_cert_file = "{pki.client_cert}"\n'
                            f'client_key_file = "{pki.client_key}"\n')
    ep = load_settings(cfg).webhooks.endpoints[0]
    assert ep.secret_file is None and ep.client_cert_file == pki.client_cert and ep.client_key_file == pki.client_key


def test_certificate_without_key_names_the_missing_key(tmp_path: Path, pki: Pki):
    text = _config_error(_config(tmp_path, f'url = "https://127.0.0.1:9/"\nsecret_file = "/etc/x.secret"\n'
                                           f'client_cert_file = "{pki.client_cert}"\n'))
    assert "webhooks.endpoints.0.client_key_file" in text and "fix: add `client_key_file`" in text


def test_key_without_certificate_is_refused(tmp_path: Path, pki: Pki):
    text = _config_error(_config(tmp_path, f'url = "https://127.0.0.1:9/"\nsecret_file = "/etc/x.secret"\n'
                                           f'client_key_file = "{pki.client_key}"\n'))
    assert "webhooks.endpoints.0.client_key_file" in text and "without client_cert_file" in text


def test_relative_certificate_paths_are_refused(tmp_path: Path):
    text = _config_error(_config(tmp_path, 'url = "https://127.0.0.1:9/"\nclient_cert_file = "certs/client.crt"\n'
                                           'client_key_file = "certs/client.key"\n'))
    assert "webhooks.endpoints.0.client_cert_file" in text and "webhooks.endpoints.0.client_key_file" in text
    assert "give an absolute path" in text and "certs/client.crt" in text
    assert "secret_file" not in text  # a mis-written certificate is not also reported as "no secret"


def test_endpoint_without_secret_or_certificate_is_refused(tmp_path: Path):
    text = _config_error(_config(tmp_path, 'url = "https://127.0.0.1:9/"\n'))
    assert "webhooks.endpoints.0.secret_file" in text and "mutual TLS" in text and "fix: add `secret_file`" in text


def test_unreadable_certificate_stops_the_start(tmp_path: Path, pki: Pki):
    missing = tmp_path / "gone.key"
    settings = load_settings(_config(tmp_path, f'url = "https://127.0.0.1:9/"\nclient_cert_file = "{pki.client_cert}"\n'
                                               f'client_key_file = "{missing}"\n'))
    with pytest.raises(ConfigError) as err:
        webhook_sinks(settings)
    assert str(missing) in str(err.value) and "fix:" in str(err.value)


# --- through the outbox relay ----------------------------------------------------------------

async def test_relay_delivers_over_mutual_tls_and_retries_a_refused_endpoint(tmp_path: Path, pki: Pki,
                                                                             receiver: MtlsReceiver):
    secret = tmp_path / "hook.secret"
    secret.write_bytes(SECRET)
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n'
                   f'[[webhooks.endpoints]]\nname = "pms"\nurl = "{receiver.url}"\nca_file = "{pki.ca}"\n'
                   f'client_cert_file = "{pki.client_cert}"\nclient_key_file = "{pki.client_key}"\n\n'
                   f'[[webhooks.endpoints]]\nname = "nocert"\nurl = "{receiver.url}"\nca_file = "{pki.ca}"\n'
                   f'secret_file = "{secret}"\n')
    settings = load_settings(cfg)
    now = [1000.0]
    repo = await open_repo(settings, lambda: now[0])
    try:
        await repo.records.run(lambda r: seed.escalation(r, severity="urgent", category="swelling"))
        sinks = webhook_sinks(settings)
        assert [s.name for s in sinks] == ["pms", "nocert"]
        relay = Relay(repo, sinks, clock=lambda: now[0])
        assert await relay.run_once() == 1  # pms delivered; nocert refused in the handshake
        assert await repo.outbox_undelivered("pms") == 0
        assert await repo.outbox_undelivered("nocert") == 1  # kept, to be retried
        (msg_id,) = [r[0] for r in await repo.records.run(lambda r: r.conn.execute("SELECT msg_id FROM outbox").fetchall())]
        assert [(s.headers["Idempotency-Key"], s.peer_cn) for s in receiver.seen] == [(msg_id, CLIENT_CN)]
        assert "X-Appliance-Signature" not in receiver.seen[0].headers
        assert receiver.seen[0].body["topic"] == "escalation.raised"
        assert await relay.run_once() == 0  # nocert waits its back-off; pms has nothing left
    finally:
        await repo.close()
