"""The first console administrator: a user name and an argon2id hash, in a 0600 secrets file.

The staff console imports this account on its first start into the record store's staff
accounts (`staff_users`, role `admin`). The password itself is never stored or printed.
"""

from __future__ import annotations

import json
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import ApplianceError

ROLE = "admin"  # the role of the imported account (appliance.records.users.ROLES)
_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters


class AdminError(ApplianceError):
    code = "admin-invalid"


def admin_file(data_dir: Path) -> Path:
    """Where the first admin's hash lives: `<data_dir>/secrets/admin.json`."""
    return data_dir / "secrets" / "admin.json"


def render(username: str, password: str) -> bytes:
    return (json.dumps({"username": username, "argon2": _HASHER.hash(password)}, indent=1) + "\n").encode()


def read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise AdminError(f"{path}: cannot read the admin account: {e}",
                         fix="run `appliance provision` again with admin.password") from None
    if not isinstance(data, dict) or not isinstance(data.get("username"), str) \
            or not str(data.get("argon2", "")).startswith("$argon2"):
        raise AdminError(f"{path}: not an admin account file", fix="run `appliance provision` with admin.password")
    return data


def matches(path: Path, username: str, password: str | None) -> bool:
    """True when the stored account is `username` and (if given) `password` verifies."""
    data = read(path)
    if data["username"] != username:
        return False
    if password is None:
        return True
    try:
        return _HASHER.verify(data["argon2"], password)
    except (VerificationError, InvalidHashError):
        return False
