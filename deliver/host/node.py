"""The node of one deploy host: start, stop, ping and version, each one remote script run in the
release root with the host's env file loaded (see host/layout.py for the layout).
"""

from __future__ import annotations

from dataclasses import dataclass

from deliver.config import Config, NodeManager
from deliver.errors import NodeError
from deliver.host import manager as managers
from deliver.host.layout import HostState, in_root, record, replace_link
from deliver.shell import parse_key_values, tail
from deliver.tools import node_commands
from deliver.transport.remote import Remote


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
    node answers; NodeError with the log tail if it does not within `timeout` seconds. A node
    already running is left alone."""
    node = node_commands(state.tool)
    manager = manager or NodeManager()
    release = state.current or ""
    start = managers.start_command(manager, node, app, state.root, release)
    body = f"""if [ -e running ] && (cd running && {node.alive(app)}) >/dev/null 2>&1; then
  echo STATE=already; exit 0
fi
{managers.boot_log(manager, node)}
{start} || {{ echo STATE=refused; exit 0; }}
{replace_link(".", "running", '"releases/$(basename "$(cd current && pwd -P)")"')}
started_version=$(basename "$(readlink current)")
cd running
end=$(( $(date +%s) + {int(timeout)} ))
state=timeout
while [ "$(date +%s)" -le "$end" ]; do
  if pid=$({node.alive(app)} 2>/dev/null); then
    {record(state.root, "started", '"$started_version"')}; echo STATE=started; echo PID=$pid; exit 0
  fi
  if this_boot | grep -qs -e 'Kernel pid terminated' -e 'Crash dump is being written'
  then state=crashed; break; fi
  sleep 0.2
done
{record(state.root, "failed", '"$started_version"')}
echo STATE=$state
{managers.failure_report(manager, app, state.root, release)}
"""
    result = remote.run(in_root(state.root, body), step="starting the node")
    values = parse_key_values(result.stdout)
    if values.get("STATE") == "refused":
        command = managers.described(manager, app, "start", state.root, release)
        said = result.stdout.partition("STATE=refused")[0] + result.stderr
        raise NodeError(remote.name, f"`{command}` failed, the node is not started:", said)
    if values.get("STATE") == "already":
        return NodeStatus(remote.name, state.running, f"already running {state.running}")
    if values.get("STATE") == "started":
        return NodeStatus(
            remote.name, state.current, f"started {state.current} (pid {values.get('PID', '?')})"
        )
    log = managers.failure_log(manager, result.stdout)
    why = (
        "crashed while starting"
        if values.get("STATE") == "crashed"
        else f"did not answer within {timeout:g}s"
    )
    raise NodeError(remote.name, f"{state.current} {why}; last lines of its log:", tail(log))


def stop_node(
    remote: Remote,
    state: HostState,
    app: str,
    timeout: float,
    manager: NodeManager | None = None,
) -> NodeStatus:
    """Stop the running node through its service manager and wait until its OS process is
    gone."""
    node = node_commands(state.tool)
    release = state.running or state.current or ""
    stop = managers.stop_command(manager or NodeManager(), node, app, state.root, release)
    # `..` inside the linked directory is releases/, not the root: remember the root
    body = f"""root=$PWD
d=running; [ -e running ] || d=current
cd "$d" || exit 1
# what this root boots is what its node runs, also after a hot upgrade installed another version
echo BOOTS=$(cut -d' ' -f2 releases/start_erl.data 2>/dev/null)
if ! ospid=$({node.alive(app)} 2>/dev/null); then rm -f "$root/running"; echo STATE=down; exit 0; fi
{stop} >/dev/null 2>&1 || echo STOP=failed
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
        command = managers.described(manager or NodeManager(), app, "stop", state.root, release)
        failed = f" (`{command}` failed)" if values.get("STOP") else ""
        raise NodeError(
            remote.name, f"the node ({version}) is still running {timeout:g}s after stop{failed}"
        )
    if values.get("STATE") == "down":
        return NodeStatus(remote.name, None, "was not running")
    return NodeStatus(remote.name, None, f"stopped {version}")


def ping_node(remote: Remote, state: HostState, app: str) -> NodeStatus:
    node = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {node.alive(app)}'
    result = remote.run(in_root(state.root, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    return NodeStatus(remote.name, state.running, f"pong (pid {result.stdout.strip()})")


def node_version(remote: Remote, state: HostState, app: str) -> NodeStatus:
    node = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {node.running_version(app)}'
    result = remote.run(in_root(state.root, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    version = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "?"
    return NodeStatus(remote.name, version, version)


def restart_node(
    remote: Remote, state: HostState, app: str, config: Config, manager: NodeManager | None = None
) -> NodeStatus:
    stop_node(remote, state, app, config.stop_timeout, manager)
    stopped = HostState(state.name, state.root, state.current, None, state.tool)
    return start_node(remote, stopped, app, config.start_timeout, manager)
