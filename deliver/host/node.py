"""The node of one deploy host: start, stop, ping and version. Remote scripts run in the
release root with the host's env file loaded (see host/layout.py for the layout); questions go
to the node over its Erlang distribution (host/dist.py), or through its start script where the
distribution cannot be reached.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

from deliver.config import Config, NodeManager
from deliver.errors import NodeError
from deliver.host import manager as managers
from deliver.host.dist import DistAddress, Unavailable, address_for, node_session
from deliver.host.layout import HostState, in_root, record, replace_link
from deliver.shell import parse_key_values, quote, tail
from deliver.tools import NodeCommands, node_commands
from deliver.transport.remote import NodeLink, Remote, Result

#: Seconds between two questions to a starting node (each one channel on the connection).
START_POLL = 0.05
#: Seconds between two looks at a starting node's log for a crash (each one remote command).
CRASH_CHECK_EVERY = 1.0


@dataclass(frozen=True)
class NodeStatus:
    host: str
    version: str | None
    detail: str


def start_node(
    remote: Remote,
    state: HostState,
    app: str,
    timeout: float,
    manager: NodeManager | None = None,
) -> NodeStatus:
    """Start `current` through its service manager (default: as a daemon) and wait until the
    node answers that the app is started, asking it (over its distribution where it can)
    which version it runs; NodeError with the log tail if it does not within `timeout`
    seconds. A node already running is left alone."""
    start = _Start(remote, state, app, timeout, manager or NodeManager())
    try:
        address = address_for(remote, state, app, "current")
    except Unavailable as why:
        _fallback(remote, app, why)
        return _start_by_script(start)
    return _start_over_dist(start, address)


@dataclass(frozen=True)
class _Start:
    remote: Remote
    state: HostState
    app: str
    timeout: float
    manager: NodeManager

    @property
    def node(self) -> NodeCommands:
        return node_commands(self.state.tool)

    def boot_log(self, logs_before: str | None = None) -> str:
        """Shell defining `this_boot` (host/manager.py) and `crashed`; with `logs_before` (the
        sizes an earlier script printed), what was appended since that script."""
        sizes = "" if logs_before is None else f"\nlogs_before={quote(logs_before)}"
        return f"""{managers.boot_log(self.manager, self.node)}{sizes}
crashed() {{ this_boot | grep -qs -e 'Kernel pid terminated' -e 'Crash dump is being written'; }}"""

    def launch(self) -> str:
        """Shell: start the node of `current` and point `running` at it."""
        release = self.state.current or ""
        command = managers.start_command(
            self.manager, self.node, self.app, self.state.root, release
        )
        refused = "{ echo STATE=refused; exit 0; }"
        return f"{command} || {refused}\n{self.relink()}"

    def relink(self) -> str:
        """Shell: point `running` at the started directory (again, once the node answers:
        a stop cut off from deliver by a lost connection may remove it late)."""
        link = replace_link(".", "running", '"$started_dir"')
        return f'{_STARTED_DIR}\n(cd "$root" && {link})'

    def refused(self, result: Result) -> NodeError | None:
        """The error when the manager's start command failed (launch's STATE=refused)."""
        if parse_key_values(result.stdout).get("STATE") != "refused":
            return None
        release = self.state.current or ""
        command = managers.described(self.manager, self.app, "start", self.state.root, release)
        said = result.stdout.partition("STATE=refused")[0] + result.stderr
        return NodeError(self.remote.name, f"`{command}` failed, the node is not started:", said)

    def failure_report(self) -> str:
        release = self.state.current or ""
        return managers.failure_report(self.manager, self.app, self.state.root, release)

    def failed(self, outcome: str | None, output: str, said: str = "") -> NodeError:
        log = managers.failure_log(self.manager, output)
        why = (
            "crashed while starting"
            if outcome == "crashed"
            else f"did not answer within {self.timeout:g}s"
        )
        if said and outcome != "crashed":
            why += f" (last: {said})"
        current = self.state.current
        return NodeError(self.remote.name, f"{current} {why}; last lines of its log:", tail(log))


_STARTED_VERSION = '"$(basename "$(readlink current)")"'
#: Shell: the directory the node of `current` runs from (never an alias: see host/layout.py).
_STARTED_DIR = 'started_dir=releases/$(basename "$(cd "$root/current" && pwd -P)")'


def _start_by_script(start: _Start) -> NodeStatus:
    """The wait in one remote script, polling the start script's `pid`/`rpc` (a VM each)."""
    remote, state, app, node = start.remote, start.state, start.app, start.node
    body = f"""if [ -e running ] && (cd running && {node.alive(app)}) >/dev/null 2>&1; then
  echo STATE=already; exit 0
fi
{start.boot_log()}
{start.launch()}
end=$(( $(date +%s) + {int(start.timeout)} ))
state=timeout
while [ "$(date +%s)" -le "$end" ]; do
  if pid=$(cd "$started_dir" && {node.alive(app)} 2>/dev/null); then
    {start.relink()}
    {record(state.root, "started", _STARTED_VERSION)}; echo STATE=started; echo PID=$pid; exit 0
  fi
  if crashed; then state=crashed; break; fi
  sleep 0.2
done
{record(state.root, "failed", _STARTED_VERSION)}
echo STATE=$state
{start.failure_report()}
"""
    result = remote.run(in_root(state.root, body), step="starting the node")
    values = parse_key_values(result.stdout)
    refused = start.refused(result)
    if refused is not None:
        raise refused
    if values.get("STATE") == "already":
        return NodeStatus(remote.name, state.running, f"already running {state.running}")
    if values.get("STATE") == "started":
        return NodeStatus(
            remote.name, state.current, f"started {state.current} (pid {values.get('PID', '?')})"
        )
    raise start.failed(values.get("STATE"), result.stdout)


def _start_over_dist(start: _Start, address: DistAddress) -> NodeStatus:
    """Launch the node, then ask the node itself until the app is started: no VM is booted
    on the host to wait, and the version reported is the one the new node says it runs. A
    node that already answers is not launched again: it runs, or is still booting."""
    remote, state, app = start.remote, start.state, start.app
    deadline = time.monotonic() + start.timeout
    answer = _ask_started(remote, address, app)
    if answer.version is not None:
        return NodeStatus(
            remote.name, answer.version, f"already running {answer.version} (pid {answer.pid})"
        )
    launched = not answer.answers
    logs_before = _launch(start, f"{start.boot_log()}\n{start.launch() if launched else ''}")
    checked = time.monotonic()
    while answer.version is None:
        time.sleep(START_POLL)
        answer = _ask_started(remote, address, app)
        if not launched and not answer.answers:  # the node that answered went (it was stopping)
            _launch(start, start.launch())
            launched = True
        if answer.version is None and time.monotonic() - checked >= CRASH_CHECK_EVERY:
            checked = time.monotonic()
            if _boot_crashed(start, logs_before):
                raise _give_up(start, logs_before, "crashed", answer.said)
        if answer.version is None and time.monotonic() > deadline:
            raise _give_up(start, logs_before, "timeout", answer.said)
    if answer.version != state.current:
        raise NodeError(
            remote.name, f"started, but the node says it runs {answer.version}, not {state.current}"
        )
    started = start.relink() + "\n" + record(state.root, "started", quote(answer.version))
    remote.run(in_root(state.root, started), step="starting the node")
    return NodeStatus(remote.name, answer.version, f"started {answer.version} (pid {answer.pid})")


def _launch(start: _Start, script: str) -> str:
    """Run `script` (which starts the node) in the root; what it printed. NodeError when the
    manager refused to start the node."""
    script += "\nprintf '%s' \"$logs_before\""
    launched = start.remote.run(in_root(start.state.root, script), step="starting the node")
    refused = start.refused(launched)
    if refused is not None:
        raise refused
    return launched.stdout


@dataclass(frozen=True)
class _Answer:
    """What a starting node said: nothing (not up yet: `said` tells why), or once its app is
    started, its version and OS pid."""

    answers: bool
    said: str
    version: str | None = None
    pid: int | None = None


def _ask_started(remote: Remote, address: DistAddress, app: str) -> _Answer:
    try:
        with node_session(remote, address) as node:
            if node.started(app):
                return _Answer(True, "", node.running_version(app), node.os_pid())
            return _Answer(True, f"the node answers, but {app} is not started")
    except Unavailable as why:
        return _Answer(False, str(why))


def _boot_crashed(start: _Start, logs_before: str) -> bool:
    body = f"{start.boot_log(logs_before)}\nif crashed; then echo STATE=crashed; fi"
    result = start.remote.run(
        in_root(start.state.root, body), step="starting the node", check=False
    )
    return parse_key_values(result.stdout).get("STATE") == "crashed"


def _give_up(start: _Start, logs_before: str, outcome: str, said: str) -> NodeError:
    """Record the failed start; the error to raise, with what the node said last and this
    boot's log tail."""
    body = f"""{start.boot_log(logs_before)}
{record(start.state.root, "failed", _STARTED_VERSION)}
{start.failure_report()}"""
    result = start.remote.run(
        in_root(start.state.root, body), step="starting the node", check=False
    )
    return start.failed(outcome, result.stdout, said)


def stop_node(
    remote: Remote,
    state: HostState,
    app: str,
    timeout: float,
    manager: NodeManager | None = None,
) -> NodeStatus:
    """Stop the running node through its service manager and wait until its OS process is
    gone. Its OS pid comes from the node itself over its distribution (which also stops a
    daemon: init:stop/0, what its start script's `stop` does), else from its start script."""
    manager = manager or NodeManager()
    release = state.running or state.current or ""
    stop = _stop_step(remote, state, app, manager, release)
    # `..` inside the linked directory is releases/, not the root: remember the root
    body = f"""root=$PWD
d=running; [ -e running ] || d=current
# `running` goes only if it is still the link this stop found: a stop cut off from deliver
# (a lost connection) that finishes late must not remove the link of a node started since
link=$(stat -c %i running 2>/dev/null)
forget() {{ [ "$(stat -c %i "$root/running" 2>/dev/null)" != "$link" ] || rm -f "$root/running"; }}
cd "$d" || exit 1
# what this root boots is what its node runs, also after a hot upgrade installed another version
echo BOOTS=$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)
{stop}
end=$(( $(date +%s) + {int(timeout)} ))
while [ "$(date +%s)" -le "$end" ]; do
  if [ ! -d /proc/$ospid ] || [ "$(cut -d' ' -f3 /proc/$ospid/stat 2>/dev/null)" = Z ]; then
    forget; echo STATE=stopped; exit 0
  fi
  sleep 0.1
done
echo STATE=timeout
"""
    values = parse_key_values(
        remote.run(in_root(state.root, body), step="stopping the node").stdout
    )
    version = values.get("BOOTS") or state.running or state.current
    if values.get("STATE") == "timeout":
        command = managers.described(manager, app, "stop", state.root, release)
        failed = f" (`{command}` failed)" if values.get("STOP") else ""
        raise NodeError(
            remote.name, f"the node ({version}) is still running {timeout:g}s after stop{failed}"
        )
    if values.get("STATE") == "down":
        return NodeStatus(remote.name, None, "was not running")
    return NodeStatus(remote.name, None, f"stopped {version}")


def _stop_step(
    remote: Remote, state: HostState, app: str, manager: NodeManager, release: str
) -> str:
    """Shell that sets `$ospid` and asks the node to stop (or says STATE=down)."""
    script = node_commands(state.tool)
    by_manager = managers.stop_command(manager, script, app, state.root, release)
    try:
        address = address_for(remote, state, app, "running")
        with node_session(remote, address) as node:
            ospid = node.os_pid()
            if manager.manager == "daemon":
                with suppress(Unavailable):  # it may hang up before it answers: it stops
                    node.rpc("init", "stop", [])
    except Unavailable as why:
        _fallback(remote, app, why)
        return f"""if ! ospid=$({script.alive(app)} 2>/dev/null); then
  forget; echo STATE=down; exit 0
fi
{by_manager} >/dev/null 2>&1 || echo STOP=failed"""
    if manager.manager == "daemon":
        return f"ospid={ospid}"
    # a supervisor stops what it supervises, or it would start it again
    return f"ospid={ospid}\n{by_manager} >/dev/null 2>&1 || echo STOP=failed"


def ping_node(remote: Remote, state: HostState, app: str) -> NodeStatus:
    """Does the node answer, with its app started? Asked over its distribution, else through
    the start script (`pid`)."""
    try:
        address = address_for(remote, state, app, "running")
        with node_session(remote, address) as node:
            if not node.started(app):
                raise NodeError(remote.name, f"the node answers, but {app} is not started (yet)")
            return NodeStatus(remote.name, state.running, f"pong (pid {node.os_pid()})")
    except Unavailable as why:
        _fallback(remote, app, why)
    node_script = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {node_script.alive(app)}'
    result = remote.run(in_root(state.root, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    return NodeStatus(remote.name, state.running, f"pong (pid {result.stdout.strip()})")


def node_version(remote: Remote, state: HostState, app: str) -> NodeStatus:
    """The version the node says it runs: over its distribution, else the start script."""
    try:
        address = address_for(remote, state, app, "running")
        with node_session(remote, address) as node:
            version = node.running_version(app)
            return NodeStatus(remote.name, version, version)
    except Unavailable as why:
        _fallback(remote, app, why)
    script = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {script.running_version(app)}'
    result = remote.run(in_root(state.root, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    version = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "?"
    return NodeStatus(remote.name, version, version)


def _fallback(remote: Remote, app: str, why: Unavailable) -> None:
    """Say once per host, with --verbose, that the start script answers instead, and why."""
    if isinstance(remote, NodeLink):
        remote.note(f"asking bin/{app} (a VM on the host) instead of the node itself: {why}")


def restart_node(
    remote: Remote, state: HostState, app: str, config: Config, manager: NodeManager | None = None
) -> NodeStatus:
    stop_node(remote, state, app, config.stop_timeout, manager)
    stopped = HostState(state.name, state.root, state.current, None, state.tool)
    return start_node(remote, stopped, app, config.start_timeout, manager)
