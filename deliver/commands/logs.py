"""`deliver logs [ENV] [--host=H] [-n N] [-f] [--since=...] [--grep=RE]`: the node's logs from
every host in parallel, each line prefixed with its host (`web1 | ...`).

Without -f, each host's last lines are gathered, then printed host by host. With -f they are
printed as they come until Ctrl-C, which closes the connections (the remote followers end with
them, see host/logs.py) and is a normal end: exit status 0.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from deliver.commands.targets import Targets, reachable, targets
from deliver.config import Config
from deliver.errors import DeliverError, HostsFailed, InvalidArgument, NodeError
from deliver.host.layout import in_root, read_state
from deliver.host.logs import LogQuery, log_script
from deliver.output import Output
from deliver.shell import tail
from deliver.tools import node_commands
from deliver.transport.fanout import connect_each, fan_out
from deliver.transport.remote import Remote

PHASE = "reading the logs"


def logs(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str] = (),
    query: LogQuery | None = None,
) -> None:
    """Print the node's logs of `environment`'s hosts (or `hosts`) as `query` asks; raises
    HostsFailed naming the hosts whose logs could not be read, after printing the others."""
    query = query or LogQuery()
    chosen = targets(config, environment, hosts)
    files = [h.name for h in chosen.hosts if chosen.env.manager(h.name).manager != "systemd"]
    if query.since is not None and files:
        raise InvalidArgument(
            "since",
            f"works with the journal only (node.manager: systemd), and {', '.join(files)} "
            "log to files, whose lines have no dates",
            query.since,
        )
    if query.follow:
        _follow(config, out, chosen, query)
        return

    def last_lines(remote: Remote) -> str | DeliverError:
        try:
            return _read(remote, _script(config, chosen, remote, query), check=True)
        except DeliverError as error:  # reported after the other hosts' lines
            return error

    with reachable(config, out, chosen.hosts) as (remotes, unreachable):
        answers = fan_out(PHASE, remotes, last_lines)
    errors: dict[str, DeliverError] = dict(unreachable)
    for host in chosen.hosts:
        answer = answers.get(host.name)
        if isinstance(answer, DeliverError):
            errors[host.name] = answer
        for line in (answer if isinstance(answer, str) else "").splitlines():
            out.remote_output(host.name, line)
    _raise(errors, [name for name, a in answers.items() if isinstance(a, str)])


def _script(config: Config, chosen: Targets, remote: Remote, query: LogQuery) -> str:
    state = read_state(remote, chosen.env.deliver_to, config.app)
    manager = chosen.env.manager(remote.name)
    script = log_script(manager, node_commands(state.tool), config.app, query)
    return in_root(state.root, script)


def _read(remote: Remote, script: str, check: bool) -> str:
    result = remote.run(script, check=False)
    if check and not result.ok:
        raise NodeError(remote.name, f"{PHASE} failed: {tail(result.stderr, 5) or 'no output'}")
    return result.stdout


def _raise(errors: dict[str, DeliverError], succeeded: list[str]) -> None:
    if errors:
        raise HostsFailed(PHASE, errors, succeeded)


@dataclass
class _Tap:
    """The connections' output sink while following: a host's lines are printed once its
    follower runs (the state read before it stays quiet unless --verbose)."""

    out: Output
    live: set[str] = field(default_factory=set)

    def remote_output(self, host: str, text: str) -> None:
        if host in self.live or self.out.verbose:
            self.out.remote_output(host, text)

    def remote_command(self, host: str, command: str) -> None:
        self.out.remote_command(host, command)

    def warning(self, text: str) -> None:
        self.out.warning(text)


def _follow(config: Config, out: Output, chosen: Targets, query: LogQuery) -> None:
    tap = _Tap(out)
    errors: dict[str, DeliverError] = {}
    with connect_each(chosen.hosts, config.ssh, tap, verbose=True, debug=out.debug) as (
        remotes,
        unreachable,
    ):
        errors.update(unreachable)
        for name, error in unreachable.items():
            out.host_status(name, False, f"not followed: {error}")
        try:
            scripts = fan_out(PHASE, remotes, lambda r: _script(config, chosen, r, query))
        except HostsFailed as failed:
            raise HostsFailed(PHASE, {**errors, **failed.errors}, failed.succeeded) from None
        stopping = threading.Event()

        def follow(remote: Remote) -> None:
            tap.live.add(remote.name)
            try:
                _read(remote, scripts[remote.name], check=False)
            except DeliverError as error:
                if not stopping.is_set():
                    errors[remote.name] = error

        # daemon threads: after Ctrl-C the connections close under them, nothing waits
        threads = [threading.Thread(target=follow, args=(r,), daemon=True) for r in remotes]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            stopping.set()
            out.info("stopped following")
            return
    _raise(errors, [r.name for r in remotes if r.name not in errors])
