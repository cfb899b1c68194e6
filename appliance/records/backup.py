"""Encrypted, integrity-checked backups: `appliance backup FILE` / `appliance restore FILE`.

A backup file is:
    b"APPLIANCE-BACKUP-1\\n"  +  manifest (one JSON line)  +  payload  +  32-byte HMAC-SHA256
The payload is a SQLCipher export of the database under a per-backup key derived from the
database key and a random salt; the HMAC (another derived key) covers everything before it.
The manifest holds no PHI: sizes, row counts, digests, the schema version, a key id.
Restoring needs the database key that was current when the backup was made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.logs import get_logger
from appliance.records import audit
from appliance.records.audit import Access
from appliance.records.db import (
    StoreLock,
    check_integrity,
    connect,
    content_digest,
    export_encrypted,
    transaction,
)
from appliance.records.errors import BackupError, WrongKeyError
from appliance.records.keys import derive_key, fsync_dir
from appliance.records.migrations import current_version
from appliance.records.rotate import release_sidecars
from appliance.records.store import Records, audit_key

log = get_logger(__name__)

MAGIC = b"APPLIANCE-BACKUP-1\n"
MAC_BYTES = 32
_CHUNK = 1 << 20


def key_id(key: bytes) -> str:
    """A short, one-way fingerprint of a database key (to tell keys apart, never to recover one)."""
    return derive_key(key, "key-id").hex()[:16]


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    manifest: dict[str, Any]


def _keys(key: bytes, salt: str) -> tuple[bytes, bytes]:
    return derive_key(key, f"backup:{salt}"), derive_key(key, f"backup-mac:{salt}")


def create_backup(db_path: Path, key: bytes, out: Path, actor: str = "staff:admin") -> BackupInfo:
    """Write an encrypted backup of the database to `out` (works while the service runs)."""
    if out.exists():
        raise BackupError(f"{out} exists already", fix="choose a new file name; backups are never overwritten")
    salt = secrets.token_hex(16)
    payload_key, mac_key = _keys(key, salt)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=out.parent) as tmpdir:
        tmp = Path(tmpdir) / "payload.db"
        conn = connect(db_path, key, create=False)
        try:
            with transaction(conn):
                audit.append(conn, audit_key(conn), Access(actor, "backup"), "db.backup", f"file:{out.name}")
            version = current_version(conn)
            export_encrypted(conn, tmp, payload_key)
        finally:
            conn.close()
        check = connect(tmp, payload_key, create=False)
        try:
            check_integrity(check, tmp)
            check.execute("PRAGMA journal_mode = DELETE")
            digest, rows = content_digest(check)
        finally:
            check.close()
        manifest = {"format": 1, "created_at": datetime.now(UTC).isoformat(), "schema_version": version,
                    "salt": salt, "key_id": key_id(key), "payload_bytes": tmp.stat().st_size,
                    "payload_sha256": _sha256_file(tmp), "content_sha256": digest, "rows": rows}
        partial = out.with_name(f".{out.name}.partial")
        mac = hmac.new(mac_key, digestmod=hashlib.sha256)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f, tmp.open("rb") as src:
                head = MAGIC + json.dumps(manifest, sort_keys=True).encode() + b"\n"
                f.write(head)
                mac.update(head)
                while chunk := src.read(_CHUNK):
                    f.write(chunk)
                    mac.update(chunk)
                f.write(mac.digest())
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        fsync_dir(out.parent)
    log.info("db.backup_written", bytes=out.stat().st_size, schema_version=version)
    return BackupInfo(out, manifest)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_backup(path: Path, key: bytes, payload_out: Path) -> dict[str, Any]:
    """Check a backup file's HMAC and digests, write its payload to `payload_out`, return the manifest."""
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except OSError as e:
        raise BackupError(f"{path}: cannot read the backup: {e.strerror}") from e
    with f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{path}: not an appliance backup file")
        line = f.readline(1 << 20)
        try:
            manifest: dict[str, Any] = json.loads(line)
            salt = str(manifest["salt"])
            payload_bytes = int(manifest["payload_bytes"])
        except (ValueError, KeyError, TypeError):
            raise BackupError(f"{path}: the backup's manifest is damaged") from None
        if len(MAGIC) + len(line) + payload_bytes + MAC_BYTES != size:
            raise BackupError(f"{path}: the backup is truncated or damaged (size does not match its manifest)")
        payload_key, mac_key = _keys(key, salt)
        mac = hmac.new(mac_key, MAGIC + line, hashlib.sha256)
        h = hashlib.sha256()
        remaining = payload_bytes
        with payload_out.open("wb") as out:
            while remaining:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    raise BackupError(f"{path}: the backup is truncated")
                out.write(chunk)
                mac.update(chunk)
                h.update(chunk)
                remaining -= len(chunk)
        if not hmac.compare_digest(mac.digest(), f.read(MAC_BYTES)):
            if manifest.get("key_id") != key_id(key):
                raise WrongKeyError(f"{path}: this backup was made under another database key "
                                    f"(key id {manifest.get('key_id')}, this key is {key_id(key)})",
                                    fix="pass the key file that was current when the backup was made: --key-file")
            raise BackupError(f"{path}: the backup fails its integrity check (altered or damaged)",
                              fix="use another backup copy")
        if h.hexdigest() != manifest.get("payload_sha256"):
            raise BackupError(f"{path}: the backup payload does not match its manifest")
    return manifest


def verify_backup(path: Path, key: bytes) -> dict[str, Any]:
    """Full check of a backup without restoring it: HMAC, page HMACs, content digest, audit chain."""
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=path.parent) as tmpdir:
        payload = Path(tmpdir) / "payload.db"
        manifest = read_backup(path, key, payload)
        _check_payload(payload, _keys(key, manifest["salt"])[0], manifest)
    return manifest


def _check_payload(payload: Path, payload_key: bytes, manifest: dict[str, Any]) -> None:
    conn = connect(payload, payload_key, create=False)
    try:
        check_integrity(conn, payload)
        if content_digest(conn)[0] != manifest.get("content_sha256"):
            raise BackupError("the backup's content does not match its manifest")
        report = audit.verify(conn, audit_key(conn))
        if not report.ok:
            raise BackupError(f"the audit trail inside the backup does not verify: {report.problem}")
    finally:
        conn.close()


def restore_backup(backup: Path, backup_key: bytes, db_path: Path, live_key: bytes,
                   actor: str = "staff:admin") -> Path | None:
    """Replace the database with the backup's content, re-encrypted under `live_key`.

    Verified before the swap: the file's HMAC, the payload's page HMACs, its digest against the
    manifest, the audit chain, and the digest of the re-encrypted copy (the round trip). The
    replaced database is kept beside it; its path is returned."""
    with StoreLock(db_path), tempfile.TemporaryDirectory(prefix=".restore-", dir=db_path.parent) as tmpdir:
        payload = Path(tmpdir) / "payload.db"
        manifest = read_backup(backup, backup_key, payload)
        payload_key = _keys(backup_key, manifest["salt"])[0]
        _check_payload(payload, payload_key, manifest)
        fresh = Path(tmpdir) / "restored.db"
        conn = connect(payload, payload_key, create=False)
        try:
            export_encrypted(conn, fresh, live_key)
        finally:
            conn.close()
        check = connect(fresh, live_key, create=False)
        try:
            check_integrity(check, fresh)
            if content_digest(check)[0] != manifest["content_sha256"]:
                raise BackupError("the restored copy differs from the backup; nothing was changed")
            check.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            check.close()
        release_sidecars(fresh)
        os.chmod(fresh, 0o600)
        kept: Path | None = None
        if db_path.exists():
            kept = db_path.with_name(f"{db_path.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            for suffix in ("", "-wal", "-shm"):
                src = db_path.with_name(db_path.name + suffix)
                if src.exists():
                    os.replace(src, kept.with_name(kept.name + suffix))
        shutil.move(str(fresh), str(db_path))
        fsync_dir(db_path.parent)
    records = Records.open(db_path, live_key)  # applies migrations if the backup is older
    try:
        records.record_event(Access(actor, "restore"), "db.restore", f"file:{backup.name}")
    finally:
        records.close()
    log.info("db.restored", schema_version=manifest.get("schema_version"), kept_previous=kept is not None)
    return kept
