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
from dataclasses import dataclass

from deliver.config import Config, Environment
from deliver.errors import NodeError
from deliver.hooks import StartHooks
from deliver.host_releases import record
from deliver.hosts import connect_all, fan_out, select_hosts
from deliver.output import Output
from deliver.remote import Remote
from deliver.shell import join, parse_key_values, quote, quote_path, tail
from deliver.tools import node_commands

ENV_FILE = "deliver.env"


@dataclass(frozen=True)
class HostState:
    """What is deployed on a host; versions are None where nothing is."""

    name: str
    root: str
    current: str | None
    running: str | None
    tool: str


@dataclass(frozen=True)
class NodeStatus:
    host: str
    version: str | None
    detail: str


def read_state(remote: Remote, deliver_to: str, app: str) -> HostState:
    """Find the release root, the current and the running release; refuses a bare host."""
    script = join(
        f"cd {quote_path(deliver_to)} 2>/dev/null || exit 0",
        "echo ROOT=$(pwd -P)",
        'echo CURRENT=$(basename "$(readlink current)" 2>/dev/null)',
        '[ ! -e running ] || echo RUNNING=$(basename "$(readlink running)")',
        "t=current; [ ! -e running ] || t=running",
        'echo TOOL=$(cat "$t/.deliver-tool" 2>/dev/null)',
    )
    values = parse_key_values(remote.run(script, step="reading the deployed releases").stdout)
    if not values.get("ROOT") or not values.get("CURRENT"):
        raise NodeError(remote.name, f"no release of {app} is deployed in {deliver_to}")
    return HostState(
        remote.name,
        values["ROOT"],
        values["CURRENT"],
        values.get("RUNNING") or None,
        values.get("TOOL") or "mix",
    )


def _in_root(state: HostState, body: str) -> str:
    """Run `body` in the release root with the host's env file loaded."""
    load_env = f"if [ -f {ENV_FILE} ]; then set -a; . ./{ENV_FILE}; set +a; fi"
    return f"cd {quote(state.root)} || exit 1\n{load_env}\n{body}"


def start_node(remote: Remote, state: HostState, app: str, timeout: float) -> NodeStatus:
    """Start `current` as a daemon and wait until the node answers; NodeError with the log
    tail if it does not within `timeout` seconds. A node already running is left alone."""
    node = node_commands(state.tool)
    body = f"""if [ -e running ] && (cd running && {node.alive(app)}) >/dev/null 2>&1; then
  echo STATE=already; exit 0
fi
(cd current && {node.daemon(app)}) || exit 1
ln -sfn "releases/$(basename "$(cd current && pwd -P)")" .running.new && mv -T .running.new running
started_version=$(basename "$(readlink current)")
cd running
end=$(( $(date +%s) + {int(timeout)} ))
state=timeout
while [ "$(date +%s)" -le "$end" ]; do
  if pid=$({node.alive(app)} 2>/dev/null); then
    {record(state.root, "started", "$started_version")}; echo STATE=started; echo PID=$pid; exit 0
  fi
  if grep -qs -e 'Kernel pid terminated' -e 'Crash dump is being written' {node.log_files()}
  then state=crashed; break; fi
  sleep 0.2
done
{record(state.root, "failed", "$started_version")}
echo STATE=$state
echo LOG-FOLLOWS
tail -n 30 {node.log_files()} 2>/dev/null
"""
    result = remote.run(_in_root(state, body), step="starting the node")
    values = parse_key_values(result.stdout)
    if values.get("STATE") == "already":
        return NodeStatus(remote.name, state.running, f"already running {state.running}")
    if values.get("STATE") == "started":
        return NodeStatus(
            remote.name, state.current, f"started {state.current} (pid {values.get('PID', '?')})"
        )
    log = result.stdout.partition("LOG-FOLLOWS\n")[2]
    why = (
        "crashed while starting"
        if values.get("STATE") == "crashed"
        else f"did not answer within {timeout:g}s"
    )
    raise NodeError(remote.name, f"{state.current} {why}; last lines of its log:", tail(log))


def stop_node(remote: Remote, state: HostState, app: str, timeout: float) -> NodeStatus:
    """Stop the running node and wait until its OS process is gone."""
    node = node_commands(state.tool)
    # `..` inside the linked directory is releases/, not the root: remember the root
    body = f"""root=$PWD
d=running; [ -e running ] || d=current
cd "$d" || exit 1
if ! ospid=$({node.alive(app)} 2>/dev/null); then rm -f "$root/running"; echo STATE=down; exit 0; fi
{node.stop(app)} >/dev/null 2>&1
end=$(( $(date +%s) + {int(timeout)} ))
while [ "$(date +%s)" -le "$end" ]; do
  if [ ! -d /proc/$ospid ] || [ "$(cut -d' ' -f3 /proc/$ospid/stat 2>/dev/null)" = Z ]; then
    rm -f "$root/running"; echo STATE=stopped; exit 0
  fi
  sleep 0.1
done
echo STATE=timeout
"""
    values = parse_key_values(remote.run(_in_root(state, body), step="stopping the node").stdout)
    version = state.running or state.current
    if values.get("STATE") == "timeout":
        raise NodeError(
            remote.name, f"the node ({version}) is still running {timeout:g}s after stop"
        )
    if values.get("STATE") == "down":
        return NodeStatus(remote.name, None, "was not running")
    return NodeStatus(remote.name, None, f"stopped {version}")


def ping_node(remote: Remote, state: HostState, app: str) -> NodeStatus:
    node = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {node.alive(app)}'
    result = remote.run(_in_root(state, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    return NodeStatus(remote.name, state.running, f"pong (pid {result.stdout.strip()})")


def node_version(remote: Remote, state: HostState, app: str) -> NodeStatus:
    node = node_commands(state.tool)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {node.running_version(app)}'
    result = remote.run(_in_root(state, body), check=False)
    if not result.ok:
        raise NodeError(remote.name, f"not running ({state.current} is deployed)")
    version = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "?"
    return NodeStatus(remote.name, version, version)


def restart_node(remote: Remote, state: HostState, app: str, config: Config) -> NodeStatus:
    stop_node(remote, state, app, config.stop_timeout)
    stopped = HostState(state.name, state.root, state.current, None, state.tool)
    return start_node(remote, stopped, app, config.start_timeout)


Action = Callable[[Remote, HostState], NodeStatus]


def run_on_nodes(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str],
    title: str,
    action: Action,
    phase: str | None = None,
) -> dict[str, NodeStatus]:
    """Connect to the environment's hosts, run `action` on each in parallel, report per host.

    `phase` names the work in errors ("<phase> failed on ..."); default: `title` in lower case.
    """
    env: Environment = config.environment(environment)
    targets = select_hosts(env, hosts)
    out.step(f"{title} {config.app} on {environment}: {', '.join(h.name for h in targets)}")

    def on_host(remote: Remote) -> NodeStatus:
        status = action(remote, read_state(remote, env.deliver_to, config.app))
        out.host_status(remote.name, True, status.detail)
        return status

    with connect_all(targets, config.ssh, out, verbose=out.verbose, debug=out.debug) as remotes:
        return fan_out(phase or title.lower(), remotes, on_host)


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
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Starting",
        with_start_hooks(
            config,
            out,
            environment,
            lambda r, s: start_node(r, s, config.app, config.start_timeout),
        ),
    )


def stop(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Stopping",
        lambda r, s: stop_node(r, s, config.app, config.stop_timeout),
    )


def restart(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    return run_on_nodes(
        config,
        out,
        environment,
        hosts,
        "Restarting",
        with_start_hooks(
            config, out, environment, lambda r, s: restart_node(r, s, config.app, config)
        ),
    )


def ping(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    return run_on_nodes(
        config, out, environment, hosts, "Pinging", lambda r, s: ping_node(r, s, config.app)
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
    )
