"""The escalation journal: where an escalation goes when the record store cannot take it.

An append-only file beside the database (`appliance.db.escalations`), mode 0600. Each record
is one escalation with its call (`CallRef`), as JSON encrypted with AES-256-GCM under a key
derived (HKDF-SHA256) from the database key, with a fresh 96-bit nonce: it holds PHI, like the
database. Every append is fsync'd before it returns (and the folder, when the file is new).
At the next start the record store replays it (idempotent, by escalation id) and removes it
once every record is in the store. Appends and the removal take an exclusive lock on the file.

Format: records of `len (4 bytes, big-endian) | nonce (12) | ciphertext+tag`. A record cut off
by a crash at the end is ignored; one that fails authentication is reported and skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_AAD = b"appliance escalation journal v1"
_HEADER = struct.Struct(">I")
_MAX_RECORD = 1 << 20


def journal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".escalations")


def journal_key(db_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AAD).derive(db_key)


@dataclass(frozen=True)
class JournalRead:
    entries: list[dict[str, Any]]
    size: int  # bytes read: the removal checks nothing was appended since
    corrupt: int  # records that failed authentication


class EscalationJournal:
    def __init__(self, path: Path, db_key: bytes) -> None:
        self.path = path
        self._aead = AESGCM(journal_key(db_key))

    @contextlib.contextmanager
    def _locked(self, flags: int) -> Iterator[int]:
        fd = os.open(self.path, flags | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    def append(self, entry: dict[str, Any]) -> None:
        """Add one entry, on disk when this returns (blocking: call it off the event loop)."""
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, json.dumps(entry, sort_keys=True).encode(), _AAD)
        record = _HEADER.pack(len(sealed)) + sealed
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked(os.O_WRONLY | os.O_APPEND | os.O_CREAT) as fd:
            os.fchmod(fd, 0o600)
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        if new:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def read(self) -> JournalRead:
        if not self.path.exists():
            return JournalRead([], 0, 0)
        data = self.path.read_bytes()
        entries: list[dict[str, Any]] = []
        corrupt, pos = 0, 0
        while pos + _HEADER.size <= len(data):
            (n,) = _HEADER.unpack_from(data, pos)
            if n < 28 or n > _MAX_RECORD or pos + _HEADER.size + n > len(data):
                break  # cut off by a crash mid-append (or garbage): nothing after it is whole
            sealed = data[pos + _HEADER.size:pos + _HEADER.size + n]
            pos += _HEADER.size + n
            try:
                entries.append(json.loads(self._aead.decrypt(sealed[:12], sealed[12:], _AAD)))
            except (InvalidTag, ValueError):
                corrupt += 1
        return JournalRead(entries, len(data), corrupt)

    def remove_if_unchanged(self, size: int) -> bool:
        """Delete the journal if it still holds exactly the `size` bytes replayed."""
        if not self.path.exists():
            return True
        with self._locked(os.O_RDONLY):
            if self.path.stat().st_size != size:
                return False
            self.path.unlink()
        return True
