"""start, stop, restart, ping and version of the node on each host.

Layout on a host, under the environment's `deliver_to`:

    releases/<version>/   an extracted release (with .deliver-tool, .deliver-sha256 and
                          .deliver-revision: its commit and branch)
    current -> releases/<version>    what the next start boots (switched atomically)
    running -> releases/<version>    what the node was started from: stop, ping and version
                                     talk to it, so a switch never strands the running node;
                                     always the real directory, never an alias
    deliver.env           the host's environment (0600), loaded by every node command

A hot upgrade (hot_upgrade.py) installs the new version into the directory the node runs from,
whose releases/start_erl.data then names it: `releases/<new>` becomes an alias (symlink) of
that directory and `current` points at the alias, while `running` still names the directory
(so after a hot upgrade from 0.1.0 to 0.2.0, current is 0.2.0 and running is 0.1.0; `version`
asks the node itself).

Each action is one remote script per host, run on the connection the command already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from deliver.commands.report import Recovery, reporting, watch
from deliver.commands.targets import connected_and_locked, reachable, targets
from deliver.config import Config, HostSpec
from deliver.errors import HostsFailed, NodeError
from deliver.hooks import StartHooks
from deliver.host.dist import read_node_state
from deliver.host.health import check_health, health_urls
from deliver.host.layout import HostState, record
from deliver.host.node import (
    NodeStatus,
    node_version,
    ping_node,
    start_node,
    stop_node,
)
from deliver.output import Output
from deliver.shell import quote
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote

Action = Callable[[Remote, HostState], NodeStatus]


def run_on_nodes(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str],
    title: str,
    action: Action,
    phase: str | None = None,
    read_only: bool = False,
    recovery: Recovery | None = None,
) -> dict[str, NodeStatus]:
    """Connect to the environment's hosts, run `action` on each in parallel, report per host.

    `phase` names the work in errors ("<phase> failed on ..."); default: `title` in lower case.
    A `read_only` action also runs where other hosts cannot be reached; any other holds the
    deploy lock, follows the Ctrl-C contract and ends a failure with every host's state and
    `recovery`'s advice (report.py).
    """
    chosen = targets(config, environment, hosts)
    out.step(f"{title} {config.app} on {environment}: {chosen.names}")

    def on_host(remote: Remote) -> NodeStatus:
        state = read_node_state(remote, chosen.env.deliver_to, config.app)
        if recovery is not None:
            recovery.before[remote.name] = state.current
        status = action(remote, state)
        out.host_status(remote.name, True, status.detail, version=status.version)
        return status

    if read_only:
        return _ask_every_host(config, out, chosen.hosts, phase or title.lower(), on_host)
    assert recovery is not None, "a command that changes hosts says how to recover"
    with (
        reporting(config, out, chosen, recovery) as watches,
        connected_and_locked(config, out, chosen, title.lower()) as remotes,
        watch(out, watches),
    ):
        return fan_out(phase or title.lower(), remotes, on_host)


def recovery_of(command: str, environment: str, hosts: Sequence[str]) -> Recovery:
    """After a failure or a Ctrl-C of `start` or `stop`: the same command finishes it (a
    started node is left alone, a stopped one too), and `start` undoes a stop."""
    flags = "".join(f" --host {host}" for host in hosts)
    again = f"deliver {command} {environment}{flags}"
    if command == "stop":
        return Recovery(environment, again, down=True, back=f"deliver start {environment}{flags}")
    return Recovery(environment, again)


def _ask_every_host(
    config: Config,
    out: Output,
    hosts: Sequence[HostSpec],
    phase: str,
    on_host: Callable[[Remote], NodeStatus],
) -> dict[str, NodeStatus]:
    """A question: every host that answers is reported, then those that could not be asked."""
    with reachable(config, out, hosts) as (remotes, unreachable):
        try:
            answers = fan_out(phase, remotes, on_host)
        except HostsFailed as failed:
            errors = {**unreachable, **failed.errors}
            raise HostsFailed(phase, errors, failed.succeeded) from None
    if unreachable:
        raise HostsFailed(phase, unreachable, list(answers))
    return answers


def with_start_hooks(config: Config, out: Output, environment: str, action: Action) -> Action:
    """`action` between the pre_ and post_start_deployed_release hooks of each host."""
    hooks = StartHooks(config, out, config.environment(environment))

    def hooked(remote: Remote, state: HostState) -> NodeStatus:
        version = state.current or ""
        return hooks.around(remote, state.root, version, lambda: action(remote, state))

    return hooked


def start(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    """Start the deployed release where it is not running; a node that starts must pass the
    health check as after a restart (the node answers, then health_check.url if set)."""
    env = config.environment(environment)
    urls = health_urls(config.health_check, env, env.hosts)

    def start_checked(remote: Remote, state: HostState) -> NodeStatus:
        manager = env.manager(remote.name)
        status = start_node(remote, state, config.app, config.start_timeout, manager)
        url = urls.get(remote.name)
        if url is None or status.detail.startswith("already"):
            return status
        try:
            code = check_health(remote, url, config.health_check)
        except NodeError:  # it started, but is not healthy: never rollback's choice
            remote.run(record(state.root, "failed", quote(state.current or "")), check=False)
            raise
        return replace(status, detail=f"{status.detail}, {url.shown} answered {code}")

    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Starting",
        with_start_hooks(config, out, environment, start_checked),
        phase="start",
        recovery=recovery_of("start", environment, hosts),
    )


def stop(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    env = config.environment(environment)
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Stopping",
        lambda r, s: stop_node(r, s, config.app, config.stop_timeout, env.manager(r.name)),
        phase="stop",
        recovery=recovery_of("stop", environment, hosts),
    )


def ping(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Pinging",
        lambda r, s: ping_node(r, s, config.app),
        read_only=True,
    )


def version(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Asking the version of",
        lambda r, s: node_version(r, s, config.app),
        phase="asking the version",
        read_only=True,
    )
