"""The systemd unit of one host's node (`deliver systemd unit ENV [--install]`) and the env file
it reads.

The unit runs the release in the foreground (`bin/<app> start`, relx: `foreground`) from
`<deliver_to>/current`, and reads `deliver.systemd.env`: deliver.env as systemd can read it,
made on the host before every start (host/manager.py SYSTEMD_ENV).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deliver.config import NodeManager
from deliver.errors import NodeError
from deliver.host.layout import replace_file
from deliver.host.manager import SUDO, SYSTEMD_ENV, SYSTEMD_ENV_FILE, USER_BUS
from deliver.shell import join, parse_key_values, quote, quote_path
from deliver.tools import node_commands
from deliver.transport.remote import Remote

#: paths written into a unit as they are: systemd would read `%`, `$`, quotes, spaces
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/@+-]*")
_USER = re.compile(r"[a-z_][a-z0-9_.-]*\$?")


@dataclass(frozen=True)
class UnitHost:
    """What a unit names on one host: the real deliver_to, the login user, the tool."""

    name: str
    root: str
    user: str
    tool: str


def unit_text(app: str, host: UnitHost, manager: NodeManager, stop_timeout: float) -> str:
    """The unit file of `app` on `host`; NodeError for a path the unit cannot name plainly."""
    if not _PLAIN_PATH.fullmatch(host.root) or "//" in host.root:
        raise NodeError(
            host.name,
            f"deliver_to is {host.root} there: a unit file names it as it is, so it may hold "
            "only letters, digits and ._/@+- (choose a plainer deliver_to)",
        )
    if not _USER.fullmatch(host.user):
        raise NodeError(host.name, f"the login user {host.user!r} is not a plain user name")
    node = node_commands(host.tool)
    current = f"{host.root}/current"
    user = "" if manager.user_unit else f"User={host.user}\n"
    return f"""# {manager.unit_name(app)}: written by `deliver systemd unit`; start and stop it with
# deliver (or systemctl), never with bin/{app} start|stop: systemd would mark the unit failed.
[Unit]
Description={app} (Erlang/Elixir release deployed by deliver)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
{user}WorkingDirectory={host.root}
EnvironmentFile=-{host.root}/{SYSTEMD_ENV_FILE}
ExecStart={current}/{node.foreground(app)}
ExecStop={current}/{node.stop(app)}
Restart=on-failure
RestartSec=5
# the BEAM stops cleanly on SIGTERM (init:stop): the stop command first, then SIGTERM to it
# alone, SIGKILL for what is left (epmd) only after the timeout
KillMode=mixed
TimeoutStopSec={int(stop_timeout) + 5}
SuccessExitStatus=143
SyslogIdentifier={app}
LimitNOFILE=65536

[Install]
WantedBy={"default.target" if manager.user_unit else "multi-user.target"}
"""


#: Shell run in `deliver_to`: the real root, the login user and the deployed release's tool.
_ABOUT = (
    "echo ROOT=$(pwd -P)",
    "echo USER=$(id -un)",
    "t=current; [ ! -e running ] || t=running",
    'echo TOOL=$(cat "$t/.deliver-tool" 2>/dev/null)',
)


def unit_host(remote: Remote, deliver_to: str, default_tool: str) -> UnitHost:
    """Ask the host where deliver_to really is (made if missing), its user and tool."""
    script = join(f"mkdir -p {quote_path(deliver_to)}", f"cd {quote_path(deliver_to)}", *_ABOUT)
    values = parse_key_values(remote.run(script, step="reading the host").stdout)
    return UnitHost(remote.name, values["ROOT"], values["USER"], values.get("TOOL") or default_tool)


def write_systemd_env(remote: Remote, root: str) -> None:
    """deliver.systemd.env in `root`, made from its deliver.env (the start does it too)."""
    remote.run(f"cd {quote(root)}\n{SYSTEMD_ENV}", step="writing deliver.systemd.env")


def install_unit(remote: Remote, app: str, manager: NodeManager, unit: str, root: str) -> str:
    """Write the unit where systemd reads it, reload systemd and enable the unit; returns
    where it went. CommandFailed (naming the command) where systemd refuses."""
    name = manager.unit_name(app)
    if manager.user_unit:
        directory = '"$HOME"/.config/systemd/user'
        place = join(f"mkdir -p {directory}", replace_file(directory, name, 'cat "$_du"'))
        systemctl = f"{USER_BUS} systemctl --user"
    else:
        directory = "/etc/systemd/system"
        place = f'{SUDO} install -m 0644 "$_du" {directory}/{quote(name)}'
        systemctl = f"{SUDO} systemctl"
    temp = f"{root}/.{name}.new"
    remote.upload(unit.encode(), temp, mode=0o600)
    placed = join(f"_du={quote(temp)}", f'{{ {place}; }} || {{ rm -f "$_du"; exit 1; }}')
    remote.run(f'{placed}\nrm -f "$_du"', step=f"writing {name}")
    where = f"~/.config/systemd/user/{name}" if manager.user_unit else f"{directory}/{name}"
    reload = f"{systemctl} daemon-reload && {systemctl} enable {quote(name)}"
    done = remote.run(reload, check=False)
    if not done.ok:
        typed = "systemctl --user" if manager.user_unit else "sudo systemctl"
        raise NodeError(
            remote.name,
            f"wrote {where}, but `{typed} daemon-reload` and `{typed} enable {name}` "
            "failed: run them there once systemd runs",
            done.output,
        )
    return where
