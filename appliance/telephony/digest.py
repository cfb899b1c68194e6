"""HTTP digest authentication for SIP (RFC 2617 / RFC 3261 §22), MD5, qop=auth or none."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PARAM = re.compile(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {k.lower(): v[1:-1] if v.startswith('"') else v for k, v in _PARAM.findall(rest)}
    if "realm" not in params or "nonce" not in params:
        return None
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        return None  # MD5 is what PBXs offer on a LAN; nothing else is supported
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(params["realm"], params["nonce"], "MD5", qop, params.get("opaque"),
                     params.get("stale", "").lower() == "true")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(*, username: str, password: str, realm: str, nonce: str, method: str, uri: str,
                    qop: str | None = None, nc: str = "00000001", cnonce: str = "") -> str:
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def authorization(ch: Challenge, *, username: str, password: str, method: str, uri: str,
                  cnonce: str, nc: int = 1) -> str:
    """The Authorization / Proxy-Authorization header value answering `ch`."""
    qop = "auth" if "auth" in ch.qop else None
    ncs = f"{nc:08x}"
    resp = digest_response(username=username, password=password, realm=ch.realm, nonce=ch.nonce,
                           method=method, uri=uri, qop=qop, nc=ncs, cnonce=cnonce)
    parts = [f'username="{username}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"', f'uri="{uri}"',
             f'response="{resp}"', "algorithm=MD5"]
    if qop:
        parts += [f"qop={qop}", f"nc={ncs}", f'cnonce="{cnonce}"']
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
