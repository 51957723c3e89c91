"""Reading a known_hosts file as OpenSSH does, markers included, with paramiko's line parser.

paramiko's HostKeys.load() knows no markers: it reads `@revoked * ssh-ed25519 AAAA...` as
host "@revoked", key type "*" and the key type as base64, whose decoding raises InvalidHostKey
(not an SSHException, so load() lets it out and every command crashed). Here:

- `@revoked <patterns> <key>`: a host matching the patterns that offers that key is refused,
  whatever else the file says about it (connect.py asks `revoked`);
- `@cert-authority <patterns> <key>`: deliver does not check host certificates, so these
  lines trust nothing; a host they cover and no plain line does is refused with that reason
  (connect.py asks `authority_only`) rather than as an unknown key;
- a plain line: paramiko's own parser and host matching (names as written, or hashed by
  `ssh-keygen -H`); a line it cannot read is skipped, as ssh skips it.

Marker patterns are matched as OpenSSH matches them (`*`, `?`, `!negated`), because they are
usually written with wildcards (`@revoked * ...`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko

REVOKED, CERT_AUTHORITY = "@revoked", "@cert-authority"


@dataclass(frozen=True)
class MarkedKey:
    """A `@revoked` or `@cert-authority` line: whom it is about, and the key's blob."""

    patterns: tuple[str, ...]
    blob: bytes

    def covers(self, host: str) -> bool:
        return matches_patterns(host, self.patterns)


@dataclass(frozen=True)
class KnownHosts:
    entries: tuple[paramiko.hostkeys.HostKeyEntry, ...] = ()
    revoked: tuple[MarkedKey, ...] = ()
    authorities: tuple[MarkedKey, ...] = ()

    @classmethod
    def load(cls, path: Path) -> KnownHosts:
        """The file at `path` (none: nothing is known). Never raises for its content."""
        if not path.exists():
            return cls()
        entries: list[paramiko.hostkeys.HostKeyEntry] = []
        marked: dict[str, list[MarkedKey]] = {REVOKED: [], CERT_AUTHORITY: []}
        for number, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                marker, _, rest = line.partition(" ")
                key = _marked_key(rest.strip())
                if key is not None and marker in marked:
                    marked[marker].append(key)
                continue
            entry = _entry(line, number)
            if entry is not None:
                entries.append(entry)
        return cls(tuple(entries), tuple(marked[REVOKED]), tuple(marked[CERT_AUTHORITY]))

    def trusted(self, host: str) -> dict[str, paramiko.PKey]:
        """The keys the file trusts for `host` (as known_hosts names it: `[host]:port` off
        port 22), by key type, the first line winning as in paramiko; revoked keys never."""
        keys: dict[str, paramiko.PKey] = {}
        for entry in self.entries:
            name = entry.key.get_name()
            if (
                name not in keys
                and _names_host(entry.hostnames, host)
                and not self.is_revoked(host, entry.key)
            ):
                keys[name] = entry.key
        return keys

    def is_revoked(self, host: str, key: paramiko.PKey) -> bool:
        blob = key.asbytes()
        return any(mark.blob == blob and mark.covers(host) for mark in self.revoked)

    def authority_only(self, host: str) -> bool:
        """True when only `@cert-authority` lines speak of `host`: it would have to show a
        certificate, which deliver does not check."""
        return not self.trusted(host) and any(ca.covers(host) for ca in self.authorities)


def matches_patterns(host: str, patterns: tuple[str, ...]) -> bool:
    """OpenSSH's host pattern lists: any pattern matches and no `!pattern` does; hashed
    names (`|1|salt|hash`) match the host they were made from."""
    host = host.lower()
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(host, pattern.removeprefix("!")):
            if negated:
                return False
            matched = True
    return matched


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("|1|"):
        return _hashed_matches(host, pattern)
    # only * and ? are special: "[127.0.0.1]:2222" is a name, not a character class
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, host, re.IGNORECASE | re.DOTALL) is not None


def _hashed_matches(host: str, hashed: str) -> bool:
    import paramiko

    try:
        made = paramiko.HostKeys.hash_host(host, hashed)
        return hmac.compare_digest(made.encode(), hashed.encode())
    except (binascii.Error, AssertionError, IndexError):  # not a hash ssh-keygen made
        return False


def _names_host(hostnames: list[str], host: str) -> bool:
    """paramiko's matching for plain lines: the name as written, or hashed."""
    return any(
        name == host or (name.startswith("|1|") and _hashed_matches(host, name))
        for name in hostnames
    )


def _marked_key(rest: str) -> MarkedKey | None:
    """`<patterns> <key type> <base64> [comment]` after a marker; None when unreadable."""
    fields = rest.split()
    if len(fields) < 3:
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except binascii.Error:
        return None
    return MarkedKey(tuple(fields[0].split(",")), blob)


def _entry(line: str, number: int) -> paramiko.hostkeys.HostKeyEntry | None:
    from paramiko import SSHException
    from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

    try:
        return HostKeyEntry.from_line(line, number)
    except (SSHException, InvalidHostKey, ValueError):
        return None
