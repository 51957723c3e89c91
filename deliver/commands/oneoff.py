"""`deliver rpc`, `eval` and `exec`: one expression or command on every host of an environment
(or those named), in parallel, each host's output printed as one block of `host | line`s as it
finishes. Hosts that fail (the code raised, the command exited non-zero, the host could not be
reached) are named together at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deliver.commands.targets import reachable, targets
from deliver.config import Config
from deliver.errors import HostsFailed, NodeError
from deliver.host import oneoff
from deliver.host.dist import read_node_state
from deliver.host.layout import HostState, read_state
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote, Result

HostWork = Callable[[Remote, HostState], Result]


@dataclass(frozen=True)
class HostOutput:
    """What one host printed, and how the work ended there."""

    host: str
    stdout: str
    stderr: str
    exit_status: int


def rpc(
    config: Config, out: Output, environment: str, expression: str, hosts: Sequence[str] = ()
) -> dict[str, HostOutput]:
    """Evaluate `expression` inside each host's running node; prints its value per host."""
    oneoff.check_expression(expression)
    return _on_every_host(
        config,
        out,
        environment,
        hosts,
        "rpc",
        lambda r, s: oneoff.rpc(r, s, config.app, expression),
        read=read_node_state,  # with the node's address: one command before its channel
    )


def evaluate(
    config: Config, out: Output, environment: str, expression: str, hosts: Sequence[str] = ()
) -> dict[str, HostOutput]:
    """Evaluate `expression` in a fresh VM of each host's current release (no running node
    needed: its code is loaded, its applications are not started)."""
    oneoff.check_expression(expression)
    return _on_every_host(
        config,
        out,
        environment,
        hosts,
        "eval",
        lambda r, s: oneoff.evaluate(r, s, config.app, expression),
    )


def execute(
    config: Config, out: Output, environment: str, argv: Sequence[str], hosts: Sequence[str] = ()
) -> dict[str, HostOutput]:
    """Run the command `argv` in `deliver_to/current` of each host, with the host's env."""
    return _on_every_host(
        config,
        out,
        environment,
        hosts,
        "exec",
        lambda r, s: oneoff.execute(r, s, argv),
    )


def _on_every_host(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str],
    name: str,
    work: HostWork,
    read: Callable[[Remote, str, str], HostState] = read_state,
) -> dict[str, HostOutput]:
    chosen = targets(config, environment, hosts)
    out.detail(f"{name} on {environment}: {chosen.names}")
    printed = threading.Lock()  # one host's block at a time, never interleaved lines

    def on_host(remote: Remote) -> HostOutput:
        result = work(remote, read(remote, chosen.env.deliver_to, config.app))
        with printed:
            for line in result.output.rstrip("\n").split("\n") if result.output.strip() else []:
                out.remote_output(remote.name, line)
        if not result.ok:  # its output, the why, is printed above
            said = "its output is above" if result.output.strip() else "no output"
            raise NodeError(remote.name, f"exit status {result.exit_status} ({said})")
        return HostOutput(remote.name, result.stdout, result.stderr, result.exit_status)

    with reachable(config, out, chosen.hosts) as (remotes, unreachable):
        try:
            answers = fan_out(name, remotes, on_host)
        except HostsFailed as failed:
            raise HostsFailed(name, {**unreachable, **failed.errors}, failed.succeeded) from None
    if unreachable:
        raise HostsFailed(name, unreachable, list(answers))
    return answers
