"""Writing provisioned files: atomically, with exact modes, only when something changed."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Owner:
    """Who the service runs as; `None` fields leave ownership alone (not root, or no such user)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def lookup(cls, user: str | None) -> Owner:
        if not user or os.geteuid() != 0:
            return cls()
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            return cls()
        return cls(pw.pw_uid, pw.pw_gid)

    @classmethod
    def group_of(cls, group: str | None) -> int | None:
        try:
            return grp.getgrnam(group).gr_gid if group else None
        except KeyError:
            return None

    def apply(self, path: Path, *, group_only: bool = False) -> None:
        if self.uid is None and self.gid is None:
            return
        uid = -1 if group_only or self.uid is None else self.uid
        gid = -1 if self.gid is None else self.gid
        os.chown(path, uid, gid)

    def owns(self, path: Path, *, group_only: bool = False) -> bool:
        st = path.stat()
        if self.gid is not None and st.st_gid != self.gid:
            return False
        return group_only or self.uid is None or st.st_uid == self.uid


def state(path: Path, content: bytes, mode: int, owner: Owner, *, group_only: bool = False) -> str:
    """"create", "update" or "keep" for writing `content` with `mode` at `path`."""
    if not path.exists():
        return "create"
    same = (path.read_bytes() == content and stat.S_IMODE(path.stat().st_mode) == mode
            and owner.owns(path, group_only=group_only))
    return "keep" if same else "update"


def write(path: Path, content: bytes, mode: int, owner: Owner, *, group_only: bool = False) -> None:
    """Replace `path` atomically; the new file has `mode` from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        owner.apply(tmp, group_only=group_only)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def make_dir(path: Path, mode: int, owner: Owner, *, group_only: bool = False) -> str:
    verb = "keep" if path.is_dir() and stat.S_IMODE(path.stat().st_mode) == mode else (
        "update" if path.is_dir() else "create")
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    owner.apply(path, group_only=group_only)
    return verb
