"""Checking raw YAML values one by one, each error naming where the value came from, its key
path and what was expected:

    .deliver: environments.production.hosts[1]: expected "[user@]host[:port]", got 42
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deliver.config.model import HostSpec
from deliver.errors import ConfigError, did_you_mean
from deliver.shell import Secret

Key = tuple[str | int, ...]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: MIX_ENV (rebar3: the profile): it becomes `_build/<mix_env>/` and an argument of rebar3.
MIX_ENV = re.compile(r"[a-z][a-z0-9_]*")
#: C0 and C1 control characters (newlines, terminal escapes): never in a path deliver uses.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class ValueReader:
    """Validates values of the merged raw data; knows where each came from for error messages."""

    source: str
    project_dir: Path
    origins: dict[tuple[str, ...], str]
    environ: Mapping[str, str]
    #: `${VAR}` references whose variable is not set, each as the error it will be
    unset: list[ConfigError] = field(default_factory=list)

    def fail(self, key: Key, problem: str) -> ConfigError:
        origin = self.origins.get(tuple(str(k) for k in key), self.source)
        return ConfigError(origin, key_text(key), problem)

    def reject_unknown(self, data: dict[str, Any], key: Key, known: set[str]) -> None:
        for name in data:
            if name not in known:
                error = self.fail(
                    (*key, str(name)), f"unknown key (expected one of: {', '.join(sorted(known))})"
                )
                error.hint = did_you_mean(str(name), known)
                raise error

    def mapping(self, value: Any, key: Key) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {kind(value)}")
        return value

    def string(self, value: Any, key: Key) -> str:
        """A non-empty string, as written: a number or boolean where a name, path, URL or
        command is expected is a mistake (`at: 2024` is no path), refused naming the key."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {kind(value)}")
        return value.strip()

    def name(self, value: Any, key: Key) -> str:
        """A string that may be written as a bare number in YAML (a branch named 2024)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return self.string(value, key)

    def number(self, value: Any, key: Key) -> float:
        # the file has YAML numbers; only DELIVER_* variables and flags arrive as text
        text_allowed = tuple(str(k) for k in key) in self.origins
        if isinstance(value, bool) or (isinstance(value, str) and not text_allowed):
            raise self.fail(key, f"expected a positive number, got {kind(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(key, f"expected a positive number, got {kind(value)}") from None
        if number <= 0 or number != number or number == float("inf"):
            raise self.fail(key, f"expected a positive number, got {kind(value)}")
        return number

    def seconds(self, value: Any, key: Key) -> float:
        """A duration that may be 0 (a number of seconds, or `0`)."""
        if value in (0, "0") and not isinstance(value, bool):
            return 0.0
        return self.number(value, key)

    def boolean(self, value: Any, key: Key) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {kind(value)}")
        return value

    def count(self, value: Any, key: Key) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"expected a whole number of at least 1, got {kind(value)}")
        return value

    def path(self, value: Any, key: Key) -> Path:
        path = Path(self.string(value, key)).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    def mix_env(self, value: Any, key: Key) -> str:
        text = self.string(value, key)
        if not MIX_ENV.fullmatch(text):
            raise self.fail(
                key,
                "expected a MIX_ENV name (lowercase letters, digits and _, starting with a "
                f"letter, like prod), got {text!r}",
            )
        return text

    def text(self, value: Any, key: Key) -> str:
        """A non-empty string without control characters (it reaches paths and messages)."""
        text = self.string(value, key)
        if _CONTROL.search(text):
            raise self.fail(key, f"control characters are not allowed, got {text!r}")
        return text

    def remote_dir(self, value: Any, key: Key) -> str:
        """A directory on a host (build.at, deliver_to): absolute, `~/...` (the login home) or
        relative to the login home. deliver removes things under it, so no `..` component."""
        text = self.text(value, key)
        if ".." in text.split("/") or (text.startswith("~") and text[:2] not in ("~", "~/")):
            raise self.fail(
                key,
                "expected an absolute path, ~/path or a path relative to the login home, "
                f"without .. (and ~ only as ~/), got {text!r}",
            )
        return text

    def relative_paths(self, value: Any, key: Key, inside: str = "the release") -> tuple[str, ...]:
        """Paths inside a directory deliver replaces or removes things in: no absolute path, no
        `~`, no `.`/`..`/empty components, no control characters."""
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of paths, got {kind(value)}")
        paths = []
        for index, raw in enumerate(value):
            text = self.text(raw, (*key, index))
            path = text.rstrip("/")
            parts = path.split("/")
            if text.startswith(("/", "~")) or {"", ".", ".."} & set(parts):
                raise self.fail(
                    (*key, index),
                    f"expected a path inside {inside} (relative, without ., .. or empty "
                    f"parts), got {raw!r}",
                )
            paths.append(path)
        return tuple(paths)

    def env(self, value: Any, key: Key) -> dict[str, str | Secret]:
        env: dict[str, str | Secret] = {}
        for name, raw in self.mapping(value, key).items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise self.fail((*key, str(name)), "expected an environment variable name")
            if isinstance(raw, dict):
                env[name] = self.secret_file(raw, (*key, name))
                continue
            if raw is None or isinstance(raw, list | bool):
                # YAML's `true` would reach the node as "True": say which text is meant
                quote_it = ' (quote it: "true")' if isinstance(raw, bool) else ""
                raise self.fail((*key, name), f"expected a string value{quote_it}, got {kind(raw)}")
            env[name] = self.expand(str(raw), (*key, name))
        return env

    def secret_file(self, value: dict[str, Any], key: Key) -> Secret:
        """`{file: path}`: the content of a local file (without its final newline), a Secret."""
        self.reject_unknown(value, key, {"file"})
        path = self.path(value.get("file"), (*key, "file"))
        try:
            return Secret(path.read_text().rstrip("\n"))
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise self.fail((*key, "file"), f"cannot read {path}: {reason}") from None

    def expand(self, value: str, key: Key) -> str | Secret:
        """`${VAR}` takes VAR from the local environment and makes the value a Secret."""
        names = _REFERENCE.findall(value)
        if not names:
            return value
        missing = [name for name in names if name not in self.environ]
        if missing:
            # refused only by a command that needs this value (Config.require_set): ping
            # production must not need the staging database password
            self.unset.append(
                self.fail(key, f"${{{missing[0]}}} is not set in the local environment")
            )
            return Secret("")
        return Secret(_REFERENCE.sub(lambda m: self.environ[m.group(1)], value))

    def host(self, value: Any, key: Key) -> HostSpec:
        env: dict[str, str | Secret] = {}
        primary = False
        if isinstance(value, dict):
            # `node` is read over the environment's by NodeReader (config/node.py)
            self.reject_unknown(value, key, {"host", "env", "primary", "node"})
            env = self.env(value.get("env", {}), (*key, "env"))
            primary = self.boolean(value.get("primary", False), (*key, "primary"))
            value = value.get("host")
        try:
            spec = HostSpec.parse(value if isinstance(value, str) else "", env)
            return replace(spec, primary=True) if primary else spec
        except ValueError:
            shown = kind(value)
            raise self.fail(
                key, f'expected "[user@]host[:port]" or an ssh_config alias, got {shown}'
            ) from None


def key_text(key: Key) -> str:
    """("hooks", "pre_compile", 1) -> hooks.pre_compile[1]"""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")


def kind(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return {dict: "a mapping", list: "a list", bool: "a boolean", type(None): "nothing"}.get(
        type(value), repr(value)
    )
