"""Building shell commands: every interpolated value is quoted here, secrets are masked.

Remote commands are POSIX `sh` strings. Paths written as `~/x` in the .deliver file are expanded
by the remote shell from `$HOME`, so they mean the login user's home on each host.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Secret:
    """A value that must reach a command but never a log: str() shows `****`."""

    value: str

    def __str__(self) -> str:
        return "****"

    def __repr__(self) -> str:
        return "Secret(****)"


def quote(value: str) -> str:
    """One shell word. Not for a Secret: a command line is an argv, which `ps` shows every
    user of the machine; secrets reach commands on stdin (`script_env`) or in 0600 files."""
    return shlex.quote(value)


def quote_path(path: str) -> str:
    """Quote a remote path, leaving a leading `~/` for the remote shell to expand."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def join(*parts: str) -> str:
    """Join already-quoted fragments with `&&` so the first failure stops the chain."""
    return " && ".join(part for part in parts if part)


def exports(env: Mapping[str, str]) -> str:
    """`export A='1' B='2'`, or nothing for an empty mapping (plain values: see `script_env`)."""
    if not env:
        return ""
    return "export " + " ".join(f"{name}={quote(value)}" for name, value in env.items())


def env_file_text(env: Mapping[str, str | Secret]) -> str:
    """The content of a host's env file: one `export NAME='value'` line per variable."""
    return "".join(f"export {name}={shlex.quote(_reveal(value))}\n" for name, value in env.items())


@dataclass(frozen=True)
class Script:
    """A command for `Remote.run` and what it reads on stdin: the secrets it needs."""

    command: str
    stdin: bytes | None = None


#: Shell that exports the `export NAME='value'` lines the command gets on stdin. eval and
#: export are builtins and cat gets no arguments, so no process's argv ever holds a value;
#: every value in those lines is one quoted word, so eval runs nothing else.
READ_STDIN_EXPORTS = 'eval "$(cat)"'


@dataclass(frozen=True)
class ScriptEnv:
    """An environment for one remote command, split so that no secret is on its command line:
    `exports` sets the plain values there (--debug shows them), `read_secrets` (empty without
    secrets) takes the secret ones from stdin, and `stdin` holds them."""

    exports: str
    read_secrets: str
    stdin: bytes | None


def script_env(env: Mapping[str, str | Secret]) -> ScriptEnv:
    plain = {name: value for name, value in env.items() if not isinstance(value, Secret)}
    hidden = {name: value for name, value in env.items() if isinstance(value, Secret)}
    if not hidden:
        return ScriptEnv(exports(plain), "", None)
    return ScriptEnv(exports(plain), READ_STDIN_EXPORTS, env_file_text(hidden).encode())


def curl_config_value(value: str) -> str:
    """A double-quoted value for a curl config file (`curl -K`), which reads backslash escapes
    in it: a newline in `value` stays inside the value instead of starting a new option."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    for char, escape in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\v", "\\v")):
        escaped = escaped.replace(char, escape)
    return f'"{escaped}"'


def _reveal(value: str | Secret) -> str:
    return value.value if isinstance(value, Secret) else value


#: Lines of a multi-line secret (a secrets file) at least this long are masked on their own.
MASKED_LINE = 8


def mask(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every secret value in `text` (e.g. a command echoed by --debug) with `****`: in
    every form a secret takes when it is written inside something larger (a quoted shell word,
    a URL, a Python repr in a traceback, JSON), and each longer line of a multi-line one
    (output comes line by line)."""
    for secret in secrets:
        short = len(secret.value) < SHORT_SECRET
        for form in _forms(secret.value):
            text = _whole_tokens(form).sub("****", text) if short else text.replace(form, "****")
    return text


#: A secret shorter than this is masked only where it stands alone: `1` inside `0.2.1` or
#: `prod` inside `production` is the text, not the secret (the CLI warns such a secret may
#: show where it does stand inside a word).
SHORT_SECRET = 6


@functools.lru_cache(maxsize=256)
def _whole_tokens(form: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_.\-]){re.escape(form)}(?![A-Za-z0-9_.\-])")


@functools.lru_cache(maxsize=1024)  # every printed line is masked: work out the forms once
def _forms(value: str) -> tuple[str, ...]:
    if not value:
        return ()
    lines = [line.strip() for line in value.splitlines() if len(line.strip()) >= MASKED_LINE]
    forms = {shlex.quote(value)}
    for piece in {value, *lines}:
        forms.update(_written_inside(piece))
    return tuple(sorted((form for form in forms if form), key=len, reverse=True))


def _written_inside(piece: str) -> set[str]:
    """How `piece` reads inside a larger quoted or encoded string."""
    python = repr(piece + "'\"")[1:-4]  # single-quoted repr, as when the text has both quotes
    return {
        piece,
        piece.replace("'", "'\"'\"'"),  # a '...' shell word (shlex.quote of the larger text)
        re.sub(r'([\\"$`])', r"\\\1", piece),  # a "..." shell word
        repr(piece)[1:-1],
        python,
        json.dumps(piece)[1:-1],
        json.dumps(piece, ensure_ascii=False)[1:-1],
        curl_config_value(piece)[1:-1],
        urllib.parse.quote(piece),  # a URL's path
        urllib.parse.quote(piece, safe=""),  # a URL's query
        urllib.parse.quote_plus(piece),  # a form-encoded query
    }


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def values_of(text: str, key: str) -> list[str]:
    """Every value of `KEY=value` lines of `key`, in order (a key our scripts print once per
    item, where parse_key_values keeps only the last)."""
    return [line.partition("=")[2] for line in text.splitlines() if line.startswith(f"{key}=")]


def parse_key_values(text: str) -> dict[str, str]:
    """Parse `KEY=value` lines printed by our remote scripts; other lines are ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_VALUE.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def check_sha256(path: str, sha256: str, *, remove: bool = False) -> str:
    """Shell: exit 1, saying the archive arrived corrupted, unless the file at `path` (already a
    quoted shell word) has `sha256`; with `remove`, a corrupted file is deleted first."""
    cleanup = f"rm -f {path}; " if remove else ""
    return (
        f"if ! printf '%s  %s\\n' {quote(sha256)} {path} | sha256sum -c --status; then "
        f"{cleanup}echo 'the archive arrived corrupted (sha256 mismatch)'; exit 1; fi"
    )


def erlang_string(value: str) -> str:
    """`value` as an Erlang string literal (data, never code); ValueError for control
    characters, as elixir_string."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"control character in {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def elixir_string(value: str) -> str:
    """`value` as an Elixir string literal (data, never code: no interpolation, no escapes
    left open); ValueError for control characters, which no value deliver passes may hold."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"control character in {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("#", "\\#")
    return f'"{escaped}"'
