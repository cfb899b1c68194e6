from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings, locate_key


def test_embedded_defaults_are_loopback_and_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(None)
    assert s.source == "embedded defaults"
    assert s.sip.bind_host == "127.0.0.1"
    assert s.console.bind_host == "127.0.0.1"
    assert s.data_dir == tmp_path / "var"
    assert s.db_key_file == tmp_path / "var" / "secrets" / "db.key"


def test_file_values_and_relative_paths(write_config) -> None:
    path = write_config('[sip]\nbind_port = 5099\nmax_calls = 4\n\n[clinic]\npack = "packs/ours"\n')
    s = load_settings(path)
    assert s.sip.bind_port == 5099 and s.sip.max_calls == 4
    assert s.clinic.pack == path.parent / "packs" / "ours"
    assert s.source == str(path)


def test_env_variable_selects_the_file(write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config("[sip]\nbind_port = 5111\n")
    monkeypatch.setenv("APPLIANCE_CONFIG", str(path))
    assert load_settings(None).sip.bind_port == 5111


def test_unknown_key_names_file_line_key_and_fix(write_config) -> None:
    path = write_config("[sip]\nbind_port = 5099\nbind_prot = 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert str(path) in text
    assert "sip.bind_prot" in text
    assert "line 6" in text  # two [paths] lines, a blank, [sip], bind_port, then the typo
    assert "fix: remove `bind_prot`" in text


def test_bad_value_names_the_key_and_the_value(write_config) -> None:
    path = write_config('[sip]\nbind_port = "five thousand"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "sip.bind_port" in str(err.value) and "five thousand" in str(err.value)


def test_register_mode_requires_registrar(write_config) -> None:
    path = write_config('[sip]\nmode = "register"\n')
    with pytest.raises(ConfigError, match="needs registrar and username"):
        load_settings(path)


def test_bad_model_override_checksum(write_config) -> None:
    path = write_config('[models.overrides.llm]\npath = "big.gguf"\nsha256 = "abc"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "models.overrides.llm.sha256" in str(err.value) and "64 hexadecimal" in str(err.value)


def test_toml_syntax_error_is_reported(write_config) -> None:
    path = write_config("[sip\nbind_port = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_locate_key_in_tables_and_inline() -> None:
    text = "[a]\nx = 1\n[b.c]\ny = 2\n[b]\nz = 3\n"
    assert locate_key(text, ("a", "x")) == 2
    assert locate_key(text, ("b", "c", "y")) == 4
    assert locate_key(text, ("b", "z")) == 6
    assert locate_key(text, ("q",)) is None
