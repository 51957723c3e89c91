"""Every failure deliver reports to a user.

    DeliverError                  base: str(error) is the one line the CLI prints
    ├── ConfigError               the .deliver file or a flag is wrong (file, key path, problem)
    ├── UsageError                a command was asked for something it cannot do
    │   └── InvalidArgument       one argument of a command is wrong (the CLI names its flag)
    ├── ConnectionFailed          a host could not be reached or refused us
    │   └── HostKeyError          unknown or changed host key (never trusted silently)
    ├── CommandFailed             a remote or local command exited non-zero
    ├── ReleaseNotFound           the store has no release matching the request
    ├── StoreError                the release store refused or failed (bucket, permission, sha)
    │   └── ManifestInvalid       a release manifest (a Release from outside) broke a grammar
    ├── NodeError                 a node did not start, stop or answer as expected
    ├── Interrupted               Ctrl-C stopped a command before it did all it was asked
    └── HostsFailed               one phase failed on some hosts: maps each host to its error
        └── RolloutStopped        a batch failed: also says which hosts were left alone

Messages are written for the person at the terminal: they say what failed, where, and when it
helps, what to do next (`hint`). A command that changes hosts adds `state`: a table of what
each host runs after the failure, printed between the message and the hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class DeliverError(Exception):
    """Base of every error deliver expects; the CLI prints these without a traceback."""

    hint: str | None = None
    #: what each host runs afterwards (commands/report.py), printed after the message
    state: str | None = None


class ConfigError(DeliverError):
    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem)


class UsageError(DeliverError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidArgument(UsageError):
    """`argument` is the library's name for it (`host`, `version`); the CLI names the flag."""

    def __init__(
        self, argument: str, problem: str, value: str | None = None, hint: str | None = None
    ) -> None:
        self.argument, self.problem, self.value = argument, problem, value
        subject = argument if value is None else f"{argument} {value}"
        super().__init__(f"{subject}: {problem}", hint)


class ConnectionFailed(DeliverError):
    def __init__(self, host: str, reason: str, hint: str | None = None) -> None:
        self.host, self.reason = host, reason
        super().__init__(f"cannot connect to {host}: {reason}")
        self.hint = hint


class HostKeyError(ConnectionFailed):
    pass


@dataclass
class CommandFailed(DeliverError):
    host: str
    command: str
    exit_status: int
    output_tail: str
    step: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        what = self.step or f"`{_shorten(self.command)}`"
        text = f"{what} failed on {self.host} (exit status {self.exit_status})"
        if self.output_tail.strip():
            text += "\n" + _indent(self.output_tail.rstrip())
        return text


class ReleaseNotFound(DeliverError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class StoreError(DeliverError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ManifestInvalid(StoreError):
    """A field of a release manifest is not what deliver writes: `field` names it, `problem`
    shows the bad value (see `shown`), `source` (when known) is the file it came from.

    Whoever can write to a store controls every field, and the fields become file names, shell
    words and Erlang terms on every host: so a manifest is checked before anything uses it.
    """

    def __init__(self, field: str, problem: str, source: str | None = None) -> None:
        self.field, self.problem, self.source = field, problem, source
        if source is None:  # made in code, e.g. by a build: nothing was read
            super().__init__(f"{field}: {problem}")
        else:
            super().__init__(
                f"{source}: {field}: {problem}",
                hint="deliver did not write this manifest as it is (was the store tampered "
                "with?): remove it from the store, or build that version again",
            )

    def read_from(self, source: str) -> ManifestInvalid:
        """The same error, naming the file the manifest was read from."""
        return ManifestInvalid(self.field, self.problem, source)


class NodeError(DeliverError):
    def __init__(self, host: str, message: str, log_tail: str = "") -> None:
        self.host, self.log_tail = host, log_tail
        text = f"{host}: {message}"
        if log_tail.strip():
            text += "\n" + _indent(log_tail.rstrip())
        super().__init__(text)


class Interrupted(DeliverError):
    """Ctrl-C stopped a command before it had done everything it was asked (exit status
    130); what was done stays done, and `hint` says how to finish or undo it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class HostsFailed(DeliverError):
    def __init__(self, phase: str, errors: Mapping[str, BaseException], succeeded: list[str]):
        self.phase, self.errors, self.succeeded = phase, dict(errors), succeeded
        lines = [f"{phase} failed on {len(errors)} host(s): {', '.join(errors)}"]
        lines += [f"  {host}: {_without_host_prefix(err)}" for host, err in errors.items()]
        if succeeded:
            lines.append(f"  succeeded on: {', '.join(succeeded)}")
        super().__init__("\n".join(lines))
        # one piece of advice shared by every failed host is worth printing once
        hints = {getattr(error, "hint", None) for error in errors.values()}
        self.hint = hints.pop() if len(hints) == 1 else None


class RolloutStopped(HostsFailed):
    """A batch of a rolling restart failed; `notes` say what happened to the other hosts."""

    def __init__(
        self,
        phase: str,
        errors: Mapping[str, BaseException],
        succeeded: list[str],
        notes: list[str],
    ) -> None:
        super().__init__(phase, errors, succeeded)
        self.notes = notes
        self.args = ("\n".join([str(self.args[0]), *(f"  {note}" for note in notes)]),)


def shown(value: object, limit: int = 60) -> str:
    """`value` as it may safely be printed in a message: repr (control characters, newlines
    and terminal escapes come out as escapes) and at most `limit` characters long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shorten(command: str, limit: int = 80) -> str:
    command = " ".join(command.split())
    return command if len(command) <= limit else command[: limit - 3] + "..."


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _without_host_prefix(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    prefix = f"{getattr(error, 'host', '')}: "
    return text[len(prefix) :] if prefix != ": " and text.startswith(prefix) else text


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """A hint for a typo of a known name (delivr_to, biuld, prod): the one it most likely meant."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    if not close and len(name) >= 3:  # a prefix is a likely short form: prod -> production
        close = [known_name for known_name in sorted(known) if known_name.startswith(name)][:1]
    return f"did you mean {close[0]}?" if close else None
