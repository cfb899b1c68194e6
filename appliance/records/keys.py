"""The database key: 256 random bits in a file only the service user can read.

The key never appears in the config, in logs or in backups in clear. On a provisioned box
the key file is written by `appliance provision`; in development it is created on first run.
"""

from __future__ import annotations

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
