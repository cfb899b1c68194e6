"""The database key: 256 random bits in a file only the service user can read.

The key never appears in the config, in logs or in backups in clear. On a provisioned box
the key file is written by `appliance provision`; in development it is created on first run.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from appliance.errors import ApplianceError

KEY_BYTES = 32


class KeyError_(ApplianceError):
    code = "db-key"


def ensure_key(path: Path) -> bytes:
    """Return the key stored at `path`, creating a new random one (mode 0600) if absent."""
    if path.exists():
        return read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def read_key(path: Path) -> bytes:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as e:
        raise KeyError_(f"{path}: cannot read the database key: {e.strerror}",
                        fix="check the file exists and belongs to the service user") from e
    if mode & 0o077:
        raise KeyError_(f"{path}: the database key is readable by others (mode {mode:o})",
                        fix=f"chmod 600 {path}")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyError_(f"{path}: not a database key (expected {KEY_BYTES * 2} hex characters)",
                        fix="restore the key file from the installer's secure copy")
    return key


def derive_key(key: bytes, purpose: str) -> bytes:
    """A 256-bit subkey for one purpose (audit chain, backups, recordings), from the database key.

    HMAC-SHA256 keyed with the database key over a fixed label: one-way, so a subkey reveals
    nothing about the database key or the other subkeys."""
    return hmac.new(key, b"appliance-subkey-v1:" + purpose.encode(), hashlib.sha256).digest()


def sql_key(key: bytes) -> str:
    """The `PRAGMA key` / `ATTACH ... KEY` literal for a raw 256-bit key (no PBKDF2)."""
    if len(key) != KEY_BYTES:
        raise KeyError_(f"a database key has {KEY_BYTES} bytes, got {len(key)}")
    return f"\"x'{key.hex()}'\""


def pending_key_path(path: Path) -> Path:
    """Where a key being rotated in is written before the database switches to it."""
    return path.with_name(path.name + ".new")


def write_key(path: Path, key: bytes) -> None:
    """Write `key` to `path` atomically (temporary file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
