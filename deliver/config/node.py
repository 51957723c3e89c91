"""`node:` of an environment, and of one host over it: who starts and stops the node (the
service manager) and where it keeps its logs.

    environments:
      production:
        node: {manager: systemd, unit: my_app}               # every host of production
        hosts:
          - host: web3
            node: {manager: command, start: "sv start ~/service/{app}", ...}   # key by key
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from deliver.config.model import MANAGER_PLACEHOLDERS, MANAGERS, HostSpec, NodeManager
from deliver.config.values import Key, ValueReader

NODE_KEYS = {"manager", "unit", "user_unit", "start", "stop", "status", "log_dir"}
#: the `command` manager's commands, all required. There is no `restart`: a restart is a stop
#: then a start, each confirmed by asking the node, under every manager.
COMMAND_KEYS = ("start", "stop", "status")

#: a systemd unit name: what systemd itself accepts, never starting with `-` (an option)
_UNIT = re.compile(r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*")
#: `{name}`, but not the shell's own `${name}`
_PLACEHOLDER = re.compile(r"(?<!\$)\{([^{}]*)\}")


class NodeReader(ValueReader):
    """The node part of the reader."""

    def node(self, value: Any, key: Key, base: dict[str, Any] | None = None) -> NodeManager:
        """`node:` at `key`; a host's `value` is read over its environment's raw `base`, key
        by key (a host that names another manager starts from that manager's defaults)."""
        data = dict(self.mapping(value, key)) if value is not None else {}
        self.reject_unknown(data, key, NODE_KEYS)
        if base and data.get("manager", base.get("manager")) == base.get("manager"):
            data = {**base, **data}
        elif base and "log_dir" in base:
            data = {"log_dir": base["log_dir"], **data}
        manager = self.string(data.get("manager", "daemon"), (*key, "manager"))
        if manager not in MANAGERS:
            raise self.fail(
                (*key, "manager"), f"expected one of {', '.join(MANAGERS)}, got {manager!r}"
            )
        settings = NodeManager(manager=manager, log_dir=self.log_dir(data, key))
        if manager == "systemd":
            return self.systemd(settings, data, key)
        if manager == "command":
            return self.commands(settings, data, key)
        self.only(data, key, manager, {"manager", "log_dir"})
        return settings

    def host_nodes(
        self, specs: tuple[HostSpec, ...], raw: list[Any], node: Any, key: Key
    ) -> tuple[HostSpec, ...]:
        """Each host with a `node:` of its own gets it, read over the environment's."""
        base = node if isinstance(node, dict) else None
        return tuple(
            replace(spec, node=self.node(entry["node"], (*key, "hosts", i, "node"), base))
            if isinstance(entry, dict) and "node" in entry
            else spec
            for i, (spec, entry) in enumerate(zip(specs, raw, strict=True))
        )

    def systemd(self, settings: NodeManager, data: dict[str, Any], key: Key) -> NodeManager:
        self.only(data, key, "systemd", {"manager", "log_dir", "unit", "user_unit"})
        unit = None
        if "unit" in data:
            unit = self.text(data["unit"], (*key, "unit"))
            if not _UNIT.fullmatch(unit) or len(unit) > 255:
                raise self.fail(
                    (*key, "unit"),
                    "expected a systemd unit name (letters, digits and :_.\\@-, not starting "
                    f"with -), got {unit!r}",
                )
        user = self.boolean(data.get("user_unit", False), (*key, "user_unit"))
        return replace(settings, unit=unit, user_unit=user)

    def commands(self, settings: NodeManager, data: dict[str, Any], key: Key) -> NodeManager:
        self.only(data, key, "command", {"manager", "log_dir", *COMMAND_KEYS})
        for name in COMMAND_KEYS:
            if name not in data:
                raise self.fail(
                    (*key, name), f"required with manager: command (the command that does {name})"
                )
        start, stop, status = (self.command(data[name], (*key, name)) for name in COMMAND_KEYS)
        return replace(settings, start=start, stop=stop, status=status)

    def command(self, value: Any, key: Key) -> str:
        """A shell command whose placeholders are all known ones."""
        text = self.text(value, key)
        for name in _PLACEHOLDER.findall(text):
            if name not in MANAGER_PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in MANAGER_PLACEHOLDERS)
                raise self.fail(key, f"unknown placeholder {{{name}}} (known: {known})")
        return text

    def log_dir(self, data: dict[str, Any], key: Key) -> str:
        """Relative to deliver_to, or absolute; never `..` or `~` (it is not expanded)."""
        text = self.text(data.get("log_dir", "log"), (*key, "log_dir")).rstrip("/") or "/"
        parts = text.split("/")
        if text == "/" or text.startswith("~") or {".", ".."} & set(parts):
            raise self.fail(
                (*key, "log_dir"),
                "expected a directory relative to deliver_to or an absolute one, without "
                f". or .. (and no ~), got {text!r}",
            )
        return text

    def only(self, data: dict[str, Any], key: Key, manager: str, allowed: set[str]) -> None:
        for name in data:
            if name not in allowed:
                raise self.fail((*key, name), f"not a setting of manager: {manager}")


def expand_command(command: str, values: dict[str, str]) -> str:
    """`command` with each `{name}` replaced by `values[name]` (already shell-quoted)."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], command)
