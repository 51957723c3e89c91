"""The deploy lock of one host: `deliver_to/.deliver.lock/`, made with `mkdir` (atomic: of
two deploys, exactly one gets it) and holding one `info` file that says who holds it, for
what, since when, until when, and the token only its holder knows; and the audit log,
`deliver_to/deliver.audit`, one line per mutating command: time, who, command, outcome.

An environment is locked by locking every one of its hosts (commands/lock.py does that,
all or nothing); this module is one host's part, one round trip per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deliver.host.layout import AUDIT_FILE, LOCK_DIR
from deliver.shell import join, parse_key_values, quote, quote_path
from deliver.transport.remote import Remote

#: What a holder may be called in messages (remote text is hostile: nothing else is shown).
_SAFE = re.compile(r"[^A-Za-z0-9@._:+/ ()=-]")


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock: `holder` user@machine, its `pid` there, the `command`, and the
    times (seconds since the epoch) it was taken and expires."""

    holder: str
    pid: int
    command: str
    since: int
    expires: int
    token: str = ""

    def lines(self) -> str:
        fields = {
            "HOLDER": self.holder,
            "PID": str(self.pid),
            "COMMAND": self.command,
            "SINCE": str(self.since),
            "EXPIRES": str(self.expires),
            "TOKEN": self.token,
        }
        # one line per field: a newline in a message (`lock acquire -m`) must not add a field
        return "".join(f"{name}={' '.join(value.split())}\n" for name, value in fields.items())

    @classmethod
    def parse(cls, text: str) -> LockInfo:
        """From a lock's info file, as another deliver wrote it (or anyone: cleaned)."""
        values = parse_key_values(text)

        def number(name: str) -> int:
            digits = values.get(name, "")
            return int(digits) if digits.isdigit() else 0

        return cls(
            holder=_SAFE.sub("?", values.get("HOLDER", "someone"))[:100],
            pid=number("PID"),
            command=_SAFE.sub("?", values.get("COMMAND", "?"))[:200],
            since=number("SINCE"),
            expires=number("EXPIRES"),
        )


def acquire(remote: Remote, deliver_to: str, info: LockInfo) -> LockInfo | None:
    """Take this host's lock for `info`; None when taken, else who holds it."""
    lock = _lock_path(deliver_to)
    script = join(
        f"mkdir -p {quote_path(deliver_to)}",
        f"if mkdir {lock} 2>/dev/null; then "
        f"printf '%s' {quote(info.lines())} > {lock}/info && echo LOCK=taken; "
        f"else echo LOCK=held; cat {lock}/info 2>/dev/null; fi",
    )
    output = remote.run(script, step="taking the deploy lock").stdout
    head, _, rest = output.partition("\n")
    return None if head == "LOCK=taken" else LockInfo.parse(rest)


def release(remote: Remote, deliver_to: str, owner: str | None) -> bool:
    """Remove this host's lock if `owner` matches it: `TOKEN=<token>` (the command that took
    it) or `HOLDER=<user@machine>` (`deliver lock release`); None: whoever holds it
    (--force). True when a lock was removed."""
    lock = _lock_path(deliver_to)
    mine = "true" if owner is None else f"grep -qx {quote(owner)} {lock}/info"
    script = f"if [ -d {lock} ] && {mine}; then rm -rf {lock} && echo LOCK=released; fi"
    return "LOCK=released" in remote.run(script, step="releasing the deploy lock").stdout


def read(remote: Remote, deliver_to: str) -> LockInfo | None:
    """Who holds this host's lock, if anyone."""
    lock = _lock_path(deliver_to)
    script = f"[ ! -d {lock} ] || {{ echo LOCK=held; cat {lock}/info 2>/dev/null; }}"
    output = remote.run(script, step="reading the deploy lock").stdout
    head, _, rest = output.partition("\n")
    return LockInfo.parse(rest) if head == "LOCK=held" else None


def audit(remote: Remote, deliver_to: str, line: str) -> None:
    """Append one line to the host's audit log (never fails the command: it is a record)."""
    target = f"{quote_path(deliver_to)}/{AUDIT_FILE}"
    # appended, not rewritten (two commands' lines both stay); a link or fifo at the name is
    # not deliver's: it goes, and is never written through
    not_a_file = f"{{ [ -L {target} ] || {{ [ -e {target} ] && [ ! -f {target} ]; }}; }}"
    remote.run(
        f"[ -d {quote_path(deliver_to)} ] || exit 0\n"
        f"if {not_a_file}; then rm -f {target}; fi\n"
        f"printf '%s\\n' {quote(line)} >> {target}",
        check=False,
    )


def audit_tail(remote: Remote, deliver_to: str, lines: int) -> list[str]:
    target = f"{quote_path(deliver_to)}/{AUDIT_FILE}"
    output = remote.run(f"tail -n {lines} {target} 2>/dev/null", check=False).stdout
    return [_SAFE.sub("?", line) for line in output.splitlines()]


def _lock_path(deliver_to: str) -> str:
    """The lock directory, as a shell word."""
    return f"{quote_path(deliver_to)}/{LOCK_DIR}"
