"""`deliver systemd unit ENV [--install]`: the systemd unit of each host's node, printed, or
written where systemd reads it (with its env file), then systemd reloaded and the unit enabled.

The unit names the host's real deliver_to and login user, so it is asked of each host; hosts
whose units are the same are printed once.
"""

from __future__ import annotations

from collections.abc import Sequence

from deliver.commands.targets import connected, targets
from deliver.config import Config
from deliver.errors import UsageError
from deliver.host.systemd import (
    install_unit,
    unit_host,
    unit_text,
    write_systemd_env,
)
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


def systemd_unit(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str] = (),
    install: bool = False,
) -> dict[str, str]:
    """The unit text of each host (by host name); with `install`, written on each host."""
    chosen = targets(config, environment, hosts)
    env = chosen.env
    tool = config.build.tool if config.build and config.build.tool != "auto" else "mix"
    others = [h.name for h in chosen.hosts if env.manager(h.name).manager != "systemd"]
    if install and others:
        raise UsageError(
            f"{', '.join(others)} of {environment} do not use node.manager: systemd",
            hint="set node: {manager: systemd} for the environment or those hosts first",
        )

    def on_host(remote: Remote) -> str:
        manager = env.manager(remote.name)
        about = unit_host(remote, env.deliver_to, tool)
        text = unit_text(config.app, about, manager, config.stop_timeout)
        if install:
            write_systemd_env(remote, about.root)
            where = install_unit(remote, config.app, manager, text, about.root)
            out.host_status(remote.name, True, f"installed {where}, enabled")
        return text

    with connected(config, out, chosen.hosts) as remotes:
        units = fan_out("writing the unit" if install else "making the unit", remotes, on_host)
    if not install:
        _print_units(out, units)
    return units


def _print_units(out: Output, units: dict[str, str]) -> None:
    """One unit when every host's is the same, else each under its host's name."""
    texts = list(dict.fromkeys(units.values()))
    for text in texts:
        if len(texts) > 1:
            names = ", ".join(name for name, unit in units.items() if unit == text)
            out.info(f"# on {names}")
        for line in text.rstrip("\n").split("\n"):
            out.info(line)
