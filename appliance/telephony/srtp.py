"""SRTP (RFC 3711) for one call's RTP, keyed by SDES `a=crypto:` lines (RFC 4568); libsrtp does the crypto.

What a `a=crypto:` line must be for us to take it (anything else is refused: `Crypto.parse` gives None):

- `<tag> <suite> inline:<key>[|<lifetime>]` with one key, a tag of 1 to 9 digits, a suite of `SUITES`;
- the key: strict base64 of exactly 30 bytes (16-byte master key then 14-byte master salt);
- a lifetime (`2^31` or a number) is accepted and ignored: a call never gets near 2^31 packets;
- refused: an MKI (`|1:4`: every packet would carry one, libsrtp here is keyed without), several keys
  (`inline:..;inline:..`, which need an MKI), and every session parameter (`UNENCRYPTED_SRTP`,
  `UNAUTHENTICATED_SRTP`, `KDR=`, `FEC_ORDER=` ...) except the advisory window size hint `WSH=`.
  RFC 4568 §6.3: a session parameter the answerer does not support makes the line unusable.

The answer to a chosen offer line carries the same tag and suite with our own fresh key:
`Crypto.new(remote.tag, remote.suite)`. A local key must never be reused with a new `SrtpContext`
(a fresh context restarts the packet index: the same key and index twice is a reused keystream),
so a re-offer that keeps the keys keeps the context too.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

from pylibsrtp import Error, Policy, Session

# Supported suites, preferred first, with their libsrtp profile.
SUITES: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
DEFAULT_SUITE = "AES_CM_128_HMAC_SHA1_80"
KEY_BYTES = 30  # master key (16) || master salt (14) for both AES_CM_128 suites
POLICIES = ("required", "optional", "off")

_LINE = re.compile(r"([0-9]{1,9})[ \t]+([A-Za-z0-9_]+)[ \t]+inline:([^ \t]+)((?:[ \t]+[^ \t]+)*)[ \t]*")
_LIFETIME = re.compile(r"(?:2\^)?[0-9]{1,20}")
_WSH = re.compile(r"WSH=[0-9]{1,20}")


@dataclass(frozen=True)
class Crypto:
    """One SDES crypto attribute: tag, suite and the 30-byte master key||salt (kept out of repr and logs)."""

    tag: int
    suite: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"unsupported SRTP suite {self.suite!r}")
        if len(self.key) != KEY_BYTES:
            raise ValueError("an SRTP master key and salt is 30 bytes")
        if not 0 <= self.tag <= 999_999_999:
            raise ValueError("crypto tag out of range")

    @classmethod
    def new(cls, tag: int = 1, suite: str = DEFAULT_SUITE) -> Crypto:
        """A fresh random master key and salt (one per call and direction, never reused)."""
        return cls(tag, suite, secrets.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, value: str) -> Crypto | None:
        """The value of an `a=crypto:` attribute, or None when we cannot use it (see the module doc)."""
        m = _LINE.fullmatch(value.strip())
        if m is None or m.group(2) not in SUITES:
            return None
        key_info, *extras = m.group(3).split("|")
        if ";" in m.group(3) or len(extras) > 1 or (extras and not _LIFETIME.fullmatch(extras[0])):
            return None  # several keys, an MKI, or garbage after the key
        if any(not _WSH.fullmatch(p) for p in m.group(4).split()):
            return None  # a session parameter we do not implement
        if len(key_info) != 40:  # base64 of 30 bytes: 40 characters, no padding
            return None
        try:
            key = base64.b64decode(key_info, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(key) != KEY_BYTES:  # padding inside the 40 characters
            return None
        return cls(int(m.group(1)), m.group(2), key)

    def line(self) -> str:
        """The `a=crypto:` attribute value (after the colon)."""
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode('ascii')}"


def choose(offered: list[Crypto]) -> Crypto | None:
    """The first offered crypto line with a suite we support: the offerer's preference (RFC 4568 §7.1.2)."""
    return next((c for c in offered if c.suite in SUITES), None)


def is_secure_proto(proto: str) -> bool:
    """RTP/SAVP and RTP/SAVPF are SRTP; RTP/AVP and RTP/AVPF are plain RTP."""
    return proto.upper() in ("RTP/SAVP", "RTP/SAVPF")


def media_security(offer_proto: str, offered: list[Crypto], policy: str) -> tuple[Crypto | None, str | None]:
    """Decide an incoming offer's media security under the configured policy.

    (crypto, None): answer RTP/SAVP, the peer sends with `crypto`; (None, None): answer plain RTP/AVP;
    (None, reason): refuse the offer (488). Only an RTP/SAVP(F) m-line is SRTP: crypto lines on an
    RTP/AVP offer ("best effort" SRTP, not in RFC 4568) are ignored. An RTP/SAVP offer with no usable
    crypto line is refused under every policy: its answer must be RTP/SAVP too, and we have no key.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown SRTP policy {policy!r}")
    if not is_secure_proto(offer_proto):
        if policy == "required":
            return None, "SRTP required, the offer is plain RTP"
        return None, None
    if policy == "off":
        return None, "SRTP offered, SRTP is off"
    chosen = choose(offered)
    if chosen is None:
        return None, "SRTP offered without a supported crypto suite"
    return chosen, None


class SrtpContext:
    """One call's SRTP: protects what we send with our key, checks what we receive with the peer's.

    A context per call (and per new key pair): libsrtp keeps the packet index and replay window.
    """

    def __init__(self, local: Crypto, remote: Crypto) -> None:
        self.local = local
        self.remote = remote
        self._tx = Session(Policy(key=local.key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=SUITES[local.suite]))
        self._rx = Session(Policy(key=remote.key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=SUITES[remote.suite]))
        self.protected = 0
        self.unprotected = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"SrtpContext(local={self.local!r}, remote={self.remote!r})"

    def set_remote(self, remote: Crypto) -> None:
        """The peer changed its key (a re-offer or re-answer): only the inbound side is keyed anew;
        what we send keeps its key and packet index (no keystream is reused)."""
        if remote != self.remote:
            self._rx = Session(Policy(key=remote.key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                      srtp_profile=SUITES[remote.suite]))
            self.remote = remote

    def protect(self, rtp: bytes) -> bytes:
        """An RTP packet we built, encrypted and authenticated; pylibsrtp.Error if it is not RTP."""
        out = self._tx.protect(rtp)
        self.protected += 1
        return out

    def unprotect(self, srtp: bytes) -> bytes | None:
        """The RTP packet inside, or None (counted in `failed`) for a forged, replayed or malformed one."""
        try:
            out = self._rx.unprotect(srtp)
        except (Error, ValueError, TypeError):
            self.failed += 1
            return None
        self.unprotected += 1
        return out
