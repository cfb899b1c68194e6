"""Staff accounts (console sign-in, paging extensions): one table for the whole appliance.

Roles: `clinician` (injector / NP), `front-desk`, `admin`. Password hashes are argon2 strings
made by the console; this layer only stores them.
"""

from __future__ import annotations

from appliance.records.audit import Access
from appliance.records.base import Row, Store, iso, row_of, rows_of
from appliance.records.db import transaction
from appliance.records.errors import ConflictError, NotFoundError, RecordsError

ROLES = ("clinician", "front-desk", "admin")


class StaffUsers:
    """Staff accounts: add, set a password, read for sign-in, list."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def add_staff_user(self, access: Access, username: str, display_name: str, role: str,
                       password_hash: str | None = None, extension: str | None = None) -> int:
        if role not in ROLES:
            raise RecordsError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
        with transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM staff_users WHERE username = ?", (username,)).fetchone():
                raise ConflictError(f"user {username!r} already exists", fix="pick another user name or use set-password")
            cur = self.conn.execute(
                "INSERT INTO staff_users (username, display_name, role, password_hash, extension, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (username, display_name, role, password_hash, extension, iso()))
            uid = int(cur.lastrowid or 0)
            self.store.audit(access, "user.add", f"staff_user:{uid}:{role}")
        return uid

    def set_staff_password(self, access: Access, username: str, password_hash: str) -> None:
        with transaction(self.conn):
            row = self.conn.execute("SELECT id FROM staff_users WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise NotFoundError(f"no user {username!r}", fix="list users with `appliance staff users`")
            self.conn.execute("UPDATE staff_users SET password_hash = ? WHERE id = ?", (password_hash, row[0]))
            self.store.audit(access, "user.password", f"staff_user:{row[0]}")

    def staff_user(self, username: str) -> Row | None:
        """An active account with its password hash (for sign-in; no PHI, not audited)."""
        cur = self.conn.execute("SELECT id, username, display_name, role, password_hash, extension FROM staff_users "
                                "WHERE username = ? AND active = 1", (username,))
        return row_of(cur, cur.fetchone())

    def staff_users(self) -> list[Row]:
        return rows_of(self.conn.execute("SELECT id, username, display_name, role, extension, active FROM staff_users "
                                         "ORDER BY username"))

    def has_staff_users(self) -> bool:
        return self.conn.execute("SELECT 1 FROM staff_users LIMIT 1").fetchone() is not None
