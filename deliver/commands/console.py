"""`deliver remote_console ENV [--host=H]`: an interactive shell inside the running node of one
host (the environment's primary host by default), over deliver's own SSH connection to it.
"""

from __future__ import annotations

import subprocess

from deliver.commands.targets import connected, select_hosts
from deliver.config import Config
from deliver.host.layout import read_state
from deliver.host.node import ping_node
from deliver.host.oneoff import console_command
from deliver.host.private import UMASK
from deliver.output import Output
from deliver.transport.ssh import ssh_client_of
from deliver.transport.terminal import interact

#: What the step line tells, before the terminal belongs to the node's shell.
QUIT = "quit with Ctrl-\\ (or Ctrl-G then q): the node keeps running"


def remote_console(config: Config, out: Output, environment: str, host: str | None = None) -> int:
    """Attach this terminal to a remote shell of the node on `host` until it is quit; returns
    the exit status of the remote shell's program. NodeError when the node is not running
    there (nothing to attach to), HostsFailed when the host cannot be reached."""
    env = config.environment(environment)
    target = select_hosts(env, [host])[0] if host else env.primary
    with connected(config, out, [target]) as (remote,):
        state = read_state(remote, env.deliver_to, config.app)
        ping_node(remote, state, config.app)
        out.step(f"Remote console of {config.app} on {remote.name} ({QUIT})")
        command = f"{UMASK}\n{console_command(state, config.app)}"
        client = ssh_client_of(remote)
        if client is None:  # `localhost`: this machine, this terminal
            return subprocess.call(["/bin/sh", "-c", command])
        transport = client.get_transport()
        assert transport is not None, "an open client has a transport"
        return interact(transport, remote.name, command)
