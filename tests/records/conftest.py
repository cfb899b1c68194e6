"""Fixtures for the record store: a real SQLCipher database in a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.records.audit import Access
from appliance.records.keys import ensure_key
from appliance.records.store import Records

SYSTEM = Access("system:test", "call", "pbx-call-1")

# PHI written by the tests; none of it may appear in any file's bytes.
PHI = {
    "name": "Zanzibarella Quixotic",
    "phone": "4155550199",
    "dob": "1985-03-14",
    "email": "zanzibarella@example.org",
    "address": "742 Evergreen Terrace",
    "said": "my lips are swelling badly since the filler yesterday",
}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "db.key"


@pytest.fixture
def key(key_file: Path) -> bytes:
    return ensure_key(key_file)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "appliance.db"


@pytest.fixture
def records(db_path: Path, key: bytes) -> Iterator[Records]:
    r = Records.open(db_path, key, recording_enabled=True)
    yield r
    r.close()


def files_bytes(*paths: Path) -> bytes:
    """Every byte of the given files and their WAL/SHM sidecars that exist."""
    out = b""
    for p in paths:
        for candidate in (p, p.with_name(p.name + "-wal"), p.with_name(p.name + "-shm")):
            if candidate.exists():
                out += candidate.read_bytes()
    return out


def phi_leaks(data: bytes) -> list[str]:
    """PHI strings found in `data` (UTF-8 and UTF-16, any case)."""
    low = data.lower()
    found = []
    for value in PHI.values():
        for enc in ("utf-8", "utf-16-le", "utf-16-be"):
            if value.lower().encode(enc) in low:
                found.append(f"{value!r} ({enc})")
    return found


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())
