"""The console's certificate at start-up (appliance.setup.tls, the one certificate module):
generated once and reused, made again near expiry, an installer's pair checked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.errors import ConfigError
from appliance.setup import tls


def _settings(tmp_path: Path, **console: object) -> Settings:
    return Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}, "console": console})


def test_generated_once_then_reused(tmp_path: Path) -> None:
    s = _settings(tmp_path, bind_host="192.0.2.7")
    cert, key = tls.console_tls(s)
    info = tls.read_pair(cert, key)
    assert info.self_signed and set(info.names) == {"localhost", "127.0.0.1", "192.0.2.7"}
    assert key.stat().st_mode & 0o777 == 0o600
    first = cert.read_bytes()
    assert tls.console_tls(s) == (cert, key) and cert.read_bytes() == first


def test_made_again_when_about_to_expire(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    cert, key = s.data_dir / "console" / "tls.crt", s.data_dir / "console" / "tls.key"
    tls.write_self_signed(cert, key, ["localhost"], "old", days=5)
    tls.console_tls(s)
    assert tls.read_pair(cert, key).not_after > dt.datetime.now(dt.UTC) + dt.timedelta(days=800)


def test_installer_pair_is_checked(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    tls.write_self_signed(cert, key, ["clinic.example"], "Glow")
    assert tls.console_tls(_settings(tmp_path, tls_cert=str(cert), tls_key=str(key))) == (cert, key)
    other_cert, other_key = tmp_path / "o.pem", tmp_path / "ok.pem"
    tls.write_self_signed(other_cert, other_key, ["other.example"], "Other")
    with pytest.raises(tls.TlsError, match="does not belong"):
        tls.console_tls(_settings(tmp_path, tls_cert=str(cert), tls_key=str(other_key)))
    with pytest.raises(ConfigError, match="together"):
        tls.console_tls(_settings(tmp_path, tls_cert=str(cert)))
