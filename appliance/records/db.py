"""Opening the SQLCipher database: key check first, then WAL and durable settings.

The key is a raw 256-bit key (`PRAGMA key = "x'..'"`, no PBKDF2). It is checked before
anything is written, so a wrong key leaves the file and its folder exactly as they were.
Journal: WAL with `synchronous=FULL` on every connection: each commit is on disk before
`COMMIT` returns (escalations, audit events and outbox messages must survive power loss,
and the write volume of a clinic makes the cost negligible; see docs/records.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlcipher3

from appliance.records.errors import DatabaseInUseError, IntegrityError_, RecordsError, WrongKeyError
from appliance.records.keys import sql_key

if TYPE_CHECKING:
    # sqlcipher3 publishes no types; it is a build of the standard library's sqlite3 module
    # (the same Connection, Cursor and exception API), so the checker reads it as that.
    from sqlite3 import Connection as Connection
    from sqlite3 import DatabaseError as DatabaseError
else:
    Connection = sqlcipher3.Connection
    DatabaseError = sqlcipher3.DatabaseError

_quiet = False


def _quiet_library(conn: Connection) -> None:
    """SQLCipher prints its own errors on stderr; the appliance reports typed errors instead."""
    global _quiet
    if not _quiet:
        conn.execute("PRAGMA cipher_log_level = NONE")
        _quiet = True


def connect(path: Path, key: bytes, *, create: bool = True) -> Connection:
    """Open (or create) the encrypted database at `path` with `key`; raise WrongKeyError if it does not open."""
    exists = path.exists() and path.stat().st_size > 0
    if not exists and not create:
        raise RecordsError(f"{path}: no database here", fix="check [database] path in the configuration")
    if not exists:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn: Connection = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=True, timeout=30)
    try:
        _quiet_library(conn)
        conn.execute(f"PRAGMA key = {sql_key(key)}")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except DatabaseError as e:
            raise WrongKeyError(
                f"{path}: the database key does not open this database (wrong key, or not an appliance database)",
                fix="use the key file that belongs to this database (see [database] key_file); nothing was changed",
            ) from e
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
    except BaseException:
        conn.close()
        raise
    if not exists:
        os.chmod(path, 0o600)
    return conn


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def export_encrypted(conn: Connection, target: Path, key: bytes) -> None:
    """Copy every table of `conn`'s database into a new file encrypted with `key`, from one
    snapshot (sqlcipher_export inside a transaction)."""
    conn.execute(f"ATTACH DATABASE ? AS export KEY {sql_key(key)}", (str(target),))
    conn.execute("BEGIN")
    conn.execute("SELECT sqlcipher_export('export')")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE export")


def integrity_problems(conn: Connection) -> list[str]:
    """Page HMAC failures (`cipher_integrity_check`) and SQLite structure problems; empty if sound."""
    problems: list[str] = []
    for pragma in ("cipher_integrity_check", "integrity_check"):
        try:
            problems += [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}") if r[0] != "ok"]
        except DatabaseError as e:
            problems.append(f"{pragma}: {e}")
    return problems


def check_integrity(conn: Connection, path: Path) -> None:
    problems = integrity_problems(conn)
    if problems:
        raise IntegrityError_(f"{path}: integrity check failed: {problems[0]}" +
                              (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                              fix="restore the latest good backup with `appliance restore FILE`")


def user_tables(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def content_digest(conn: Connection) -> tuple[str, dict[str, int]]:
    """sha256 over every row of every table, in a fixed order, and the row count per table."""
    h = hashlib.sha256()
    counts: dict[str, int] = {}
    conn.execute("BEGIN")
    try:
        for table in user_tables(conn):
            h.update(f"\0table:{table}\0".encode())
            n = 0
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):  # noqa: S608 (names from sqlite_master)
                h.update(repr(tuple(row)).encode())
                n += 1
            counts[table] = n
    finally:
        conn.execute("COMMIT")
    return h.hexdigest(), counts


class StoreLock:
    """An exclusive lock beside the database: one writer (the service) or one maintenance command."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, what: str = "the database") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseInUseError(f"{what} is in use by another process (lock {self.path})",
                                     fix="stop the appliance service first (systemctl stop appliance)") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
