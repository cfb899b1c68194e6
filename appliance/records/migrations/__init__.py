"""Versioned schema migrations: `NNNN_name.sql` files applied in order at start-up.

`schema_version` holds one row per applied migration. Each migration runs in its own
transaction with its version row, so a crash leaves the database at a whole version. Numbers
are unique and increasing; a gap (a number taken by a migration still in review) is
tolerated, and a migration whose number is below the database's version but was never
applied is applied when it arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from appliance.logs import get_logger
from appliance.records.db import Connection
from appliance.records.errors import SchemaError

log = get_logger(__name__)

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        m = _NAME.fullmatch(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda x: x.version)
    versions = [m.version for m in found]
    if not versions or versions[0] != 1 or len(set(versions)) != len(versions):
        raise SchemaError("schema migrations are not numbered 0001, 0002, ... (each number once)")
    return found


LATEST = max(m.version for m in migrations())


def _applied(conn: Connection) -> set[int]:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has:
        return set()
    return {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}


def current_version(conn: Connection) -> int:
    return max(_applied(conn), default=0)


def migrate(conn: Connection, target: int | None = None) -> int:
    """Apply every migration above the database's version, up to `target` (default: latest)."""
    target = LATEST if target is None else target
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                 "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    applied = _applied(conn)
    version = max(applied, default=0)
    unknown = applied - {m.version for m in migrations()}
    if version > LATEST or unknown:
        raise SchemaError(f"the database is at schema version {version}, newer than this software ({LATEST})",
                          fix="install the appliance release that wrote this database, or restore an older backup")
    pending = [m for m in migrations() if m.version not in applied and m.version <= target]
    if not pending:
        return version
    # Foreign keys are off while a migration rebuilds a table (SQLite's documented procedure:
    # dropping the old table must not cascade), and checked before the migration commits.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for m in pending:
            now = datetime.now(UTC).isoformat()
            try:
                # Names and times come from the packaged migration files, not from input.
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{m.sql}\n;INSERT INTO schema_version VALUES "  # noqa: S608
                    f"({m.version}, '{m.name}', '{now}');\n")
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise SchemaError(f"{len(broken)} rows would break foreign keys (first: {broken[0]})")
                conn.execute("COMMIT")
            except Exception as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise SchemaError(f"schema migration {m.version:04d}_{m.name} failed: {e}",
                                  fix="restore the latest backup and report this error") from e
            log.info("db.migrated", version=m.version, name=m.name)
            version = max(version, m.version)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return version
