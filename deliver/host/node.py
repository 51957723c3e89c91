"""The node of one deploy host: start, stop, ping and version. Remote scripts run in the
release root with the host's env file loaded (see host/layout.py for the layout); questions go
to the node over its Erlang distribution (host/dist.py), or through its start script where the
distribution cannot be reached.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass

from deliver.config import Config
from deliver.errors import NodeError
from deliver.host.dist import DistAddress, Unavailable, node_session, read_address
from deliver.host.layout import HostState, in_root, record, replace_link
from deliver.shell import parse_key_values, quote, tail
from deliver.tools import NodeCommands, node_commands
from deliver.transport.remote import NodeLink, Remote

#: Seconds between two questions to a starting node (each one channel on the connection).
START_POLL = 0.05
#: Seconds between two looks at a starting node's log for a crash (each one remote command).
CRASH_CHECK_EVERY = 1.0


@dataclass(frozen=True)
class NodeStatus:
    host: str
    version: str | None
    detail: str


def start_node(remote: Remote, state: HostState, app: str, timeout: float) -> NodeStatus:
    """Start `current` as a daemon and wait until the node answers that the app is started,
    asking it (over its distribution where it can) which version it runs; NodeError with the
    log tail if it does not within `timeout` seconds. A node already running is left alone."""
    try:
        address = read_address(remote, state.root, state.tool, app, "current")
    except Unavailable as why:
        _fallback(remote, app, why)
        return _start_by_script(remote, state, app, timeout)
    return _start_over_dist(remote, state, app, timeout, address)


def _boot_log(node: NodeCommands, logs_before: str | None = None) -> str:
    """Shell: the sizes of the node's log files now, or as `logs_before` (printed by an earlier
    script) gives them, and `this_boot`/`crashed`, which read what was appended since: the
    log keeps every past boot, only this one tells whether it crashed."""
    sizes = (
        f"logs_before={quote(logs_before)}"
        if logs_before is not None
        else f"""logs_before=$(cd current && for f in {node.log_files()}; do
  [ -f "$f" ] && printf '%s %s\\n' "$f" "$(wc -c < "$f")"; done)"""
    )
    return f"""{sizes}
this_boot() {{
  (cd current && for f in {node.log_files()}; do
    [ -f "$f" ] || continue
    n=$(printf '%s\\n' "$logs_before" | awk -v f="$f" '$1 == f {{print $2}}')
    [ "$(wc -c < "$f")" -ge "${{n:-0}}" ] || n=0  # run_erl wrapped around and rewrote it
    tail -c +$(( ${{n:-0}} + 1 )) "$f"
  done)
}}
crashed() {{ this_boot | grep -qs -e 'Kernel pid terminated' -e 'Crash dump is being written'; }}
"""


_STARTED_VERSION = '"$(basename "$(readlink current)")"'


def _launch(node: NodeCommands, app: str) -> str:
    return f"""(cd current && {node.daemon(app)}) || exit 1
{replace_link(".", "running", '"releases/$(basename "$(cd current && pwd -P)")"')}"""


def _start_by_script(remote: Remote, state: HostState, app: str, timeout: float) -> NodeStatus:
    """The wait in one remote script, polling the start script's `pid`/`rpc` (a VM each)."""
    node = node_commands(state.tool)
    body = f"""if [ -e running ] && (cd running && {node.alive(app)}) >/dev/null 2>&1; then
  echo STATE=already; exit 0
fi
{_boot_log(node)}
{_launch(node, app)}
end=$(( $(date +%s) + {int(timeout)} ))
state=timeout
while [ "$(date +%s)" -le "$end" ]; do
  if pid=$(cd running && {node.alive(app)} 2>/dev/null); then
    {record(state.root, "started", _STARTED_VERSION)}; echo STATE=started; echo PID=$pid; exit 0
  fi
  if crashed; then state=crashed; break; fi
  sleep 0.2
done
{record(state.root, "failed", _STARTED_VERSION)}
echo STATE=$state
echo LOG-FOLLOWS
this_boot | tail -n 30
"""
    result = remote.run(in_root(state.root, body), step="starting the node")
    values = parse_key_values(result.stdout)
    if values.get("STATE") == "already":
        return NodeStatus(remote.name, state.running, f"already running {state.running}")
    if values.get("STATE") == "started":
        return NodeStatus(
            remote.name, state.current, f"started {state.current} (pid {values.get('PID', '?')})"
        )
    raise _failed_start(remote.name, state, values.get("STATE"), timeout, result.stdout)


def _failed_start(
    host: str, state: HostState, outcome: str | None, timeout: float, output: str
) -> NodeError:
    log = output.partition("LOG-FOLLOWS\n")[2]
    why = (
        "crashed while starting" if outcome == "crashed" else f"did not answer within {timeout:g}s"
    )
    return NodeError(host, f"{state.current} {why}; last lines of its log:", tail(log))


def _start_over_dist(
    remote: Remote, state: HostState, app: str, timeout: float, address: DistAddress
) -> NodeStatus:
    """Launch the daemon, then ask the node itself until the app is started: no VM is booted
    on the host to wait, and the version reported is the one the new node says it runs. A
    node that already answers is not launched again: it runs, or is still booting."""
    deadline = time.monotonic() + timeout
    answer = _ask_started(remote, address, app)
    if answer.version is not None:
        return NodeStatus(
            remote.name, answer.version, f"already running {answer.version} (pid {answer.pid})"
        )
    node = node_commands(state.tool)
    launch = "" if answer.answers else _launch(node, app)
    logs = f"{_boot_log(node)}\n{launch}\nprintf '%s' \"$logs_before\""
    logs_before = remote.run(in_root(state.root, logs), step="starting the node").stdout
    checked = time.monotonic()
    while answer.version is None:
        time.sleep(START_POLL)
        answer = _ask_started(remote, address, app)
        if answer.version is None and time.monotonic() - checked >= CRASH_CHECK_EVERY:
            checked = time.monotonic()
            if _boot_crashed(remote, state, node, logs_before):
                raise _give_up(remote, state, node, logs_before, "crashed", timeout)
        if answer.version is None and time.monotonic() > deadline:
            raise _give_up(remote, state, node, logs_before, "timeout", timeout)
    if answer.version != state.current:
        raise NodeError(
            remote.name, f"started, but the node says it runs {answer.version}, not {state.current}"
        )
    started = record(state.root, "started", quote(answer.version))
    remote.run(in_root(state.root, started), step="starting the node")
    return NodeStatus(remote.name, answer.version, f"started {answer.version} (pid {answer.pid})")


@dataclass(frozen=True)
class _Answer:
    """What a starting node said: nothing (not up yet), or once its app is started, its
    version and OS pid."""

    answers: bool
    version: str | None = None
    pid: int | None = None


def _ask_started(remote: Remote, address: DistAddress, app: str) -> _Answer:
    try:
        with node_session(remote, address) as node:
            if node.started(app):
                return _Answer(True, node.running_version(app), node.os_pid())
            return _Answer(True)
    except Unavailable:
        return _Answer(False)


def _boot_crashed(remote: Remote, state: HostState, node: NodeCommands, logs_before: str) -> bool:
    body = f"{_boot_log(node, logs_before)}\nif crashed; then echo STATE=crashed; fi"
    result = remote.run(in_root(state.root, body), step="starting the node", check=False)
    return parse_key_values(result.stdout).get("STATE") == "crashed"


def _give_up(
    remote: Remote,
    state: HostState,
    node: NodeCommands,
    logs_before: str,
    outcome: str,
    timeout: float,
) -> NodeError:
    """Record the failed start; the error to raise, with this boot's log tail."""
    body = f"""{_boot_log(node, logs_before)}
{record(state.root, "failed", _STARTED_VERSION)}
echo LOG-FOLLOWS
this_boot | tail -n 30"""
    result = remote.run(in_root(state.root, body), step="starting the node", check=False)
    return _failed_start(remote.name, state, outcome, timeout, result.stdout)


def stop_node(remote: Remote, state: HostState, app: str, timeout: float) -> NodeStatus:
    """Stop the running node and wait until its OS process is gone: the node is asked for
    its OS pid and to stop (init:stop/0) over its distribution, else by its start script."""
    try:
        address = read_address(remote, state.root, state.tool, app, "running")
        with node_session(remote, address) as node:
            ospid = node.os_pid()
            with suppress(Unavailable):  # it may hang up before it answers: that is stopping
                node.rpc("init", "stop", [])
    except Unavailable as why:
        _fallback(remote, app, why)
        script = node_commands(state.tool)
        stop = f"""if ! ospid=$({script.alive(app)} 2>/dev/null); then
  rm -f "$root/running"; echo STATE=down; exit 0
fi
{script.stop(app)} >/dev/null 2>&1"""
    else:
        stop = f"ospid={ospid}"
    # `..` inside the linked directory is releases/, not the root: remember the root
    body = f"""root=$PWD
d=running; [ -e running ] || d=current
cd "$d" || exit 1
# what this root boots is what its node runs, also after a hot upgrade installed another version
echo BOOTS=$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)
{stop}
end=$(( $(date +%s) + {int(timeout)} ))
while [ "$(date +%s)" -le "$end" ]; do
  if [ ! -d /proc/$ospid ] || [ "$(cut -d' ' -f3 /proc/$ospid/stat 2>/dev/null)" = Z ]; then
    rm -f "$root/running"; echo STATE=stopped; exit 0
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
        raise NodeError(
            remote.name, f"the node ({version}) is still running {timeout:g}s after stop"
        )
    if values.get("STATE") == "down":
        return NodeStatus(remote.name, None, "was not running")
    return NodeStatus(remote.name, None, f"stopped {version}")


def ping_node(remote: Remote, state: HostState, app: str) -> NodeStatus:
    """Does the node answer, with its app started? Asked over its distribution, else through
    the start script (`pid`)."""
    try:
        address = read_address(remote, state.root, state.tool, app, "running")
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
        address = read_address(remote, state.root, state.tool, app, "running")
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


def restart_node(remote: Remote, state: HostState, app: str, config: Config) -> NodeStatus:
    stop_node(remote, state, app, config.stop_timeout)
    stopped = HostState(state.name, state.root, state.current, None, state.tool)
    return start_node(remote, stopped, app, config.start_timeout)
