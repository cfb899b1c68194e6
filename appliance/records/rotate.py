"""Key rotation (`appliance db rekey`) and finishing a rotation a crash interrupted.

Rotation never leaves the database without its key on disk:
1. the new key is written to `KEY.new` (atomic, 0600);
2. the database is exported to `DB.rekey` under the new key, which is then reopened and
   checked (page HMACs, structure, the same content digest, the audit chain);
3. `DB.rekey` replaces the database (atomic rename), then `KEY.new` replaces the key file.
A crash before step 3 leaves the old database and key in place; a crash between the two
renames is finished on the next open (`resolve_key` finds the database opens with `KEY.new`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
from appliance.records.errors import DatabaseInUseError, IntegrityError_, WrongKeyError
from appliance.records.keys import KEY_BYTES, ensure_key, fsync_dir, pending_key_path, read_key, write_key
from appliance.records.store import audit_key

log = get_logger(__name__)


def _opens(db_path: Path, key: bytes) -> bool:
    try:
        connect(db_path, key, create=False).close()
    except WrongKeyError:
        return False
    return True


def resolve_key(db_path: Path, key_file: Path) -> bytes:
    """The key for the database: the key file's, or, after an interrupted rotation, the pending one."""
    pending = pending_key_path(key_file)
    has_db = db_path.exists() and db_path.stat().st_size > 0
    if not pending.exists():
        return read_key(key_file) if has_db else ensure_key(key_file)  # never a new key for an existing database
    new = read_key(pending)
    current = read_key(key_file) if key_file.exists() else None
    if not has_db:
        return current if current is not None else ensure_key(key_file)
    if current is not None and _opens(db_path, current):
        pending.unlink()  # the rotation stopped before the database switched: drop it
        log.warning("db.rekey_abandoned")
        return current
    if _opens(db_path, new):
        os.replace(pending, key_file)  # the database switched; finish the rotation
        fsync_dir(key_file.parent)
        log.warning("db.rekey_completed_after_crash")
        return new
    return current if current is not None else new


def _remove_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def release_sidecars(path: Path) -> None:
    """After the last connection closed, the WAL is empty; a non-empty one means another reader."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise DatabaseInUseError(f"{path} is still open in another process (its WAL is not empty)",
                                 fix="stop every `appliance` command and the service, then retry")
    _remove_sidecars(path)


def rekey(db_path: Path, key_file: Path, actor: str = "staff:admin") -> None:
    """Rotate the database key (the appliance must be stopped: this takes the store lock)."""
    with StoreLock(db_path):
        old = resolve_key(db_path, key_file)
        new = secrets.token_bytes(KEY_BYTES)
        tmp = db_path.with_name(db_path.name + ".rekey")
        tmp.unlink(missing_ok=True)
        _remove_sidecars(tmp)
        conn = connect(db_path, old, create=False)
        try:
            check_integrity(conn, db_path)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            digest, _ = content_digest(conn)
            write_key(pending_key_path(key_file), new)
            export_encrypted(conn, tmp, new)
        finally:
            conn.close()
        try:
            check = connect(tmp, new, create=False)
            try:
                check_integrity(check, tmp)
                if content_digest(check)[0] != digest:
                    raise IntegrityError_("the rekeyed copy differs from the database; nothing was changed")
                report = audit.verify(check, audit_key(check))
                if not report.ok:
                    raise IntegrityError_(f"audit trail does not verify before rekey: {report.problem}",
                                          fix="run `appliance audit verify`; nothing was changed")
                check.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                check.close()
            os.chmod(tmp, 0o600)
        except BaseException:
            tmp.unlink(missing_ok=True)
            _remove_sidecars(tmp)
            pending_key_path(key_file).unlink(missing_ok=True)
            raise
        release_sidecars(db_path)
        os.replace(tmp, db_path)
        fsync_dir(db_path.parent)
        os.replace(pending_key_path(key_file), key_file)
        fsync_dir(key_file.parent)
        conn = connect(db_path, read_key(key_file), create=False)
        try:
            with transaction(conn):
                audit.append(conn, audit_key(conn), Access(actor, "key-rotation"), "db.rekey", "database")
        finally:
            conn.close()
    log.info("db.rekeyed")
