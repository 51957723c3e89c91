"""One host's node and the release handler: what runs there (OS pid, version), whether it can
switch, switching it to another version, and recording that version in the host's layout.

After a switch the node's root (the real directory `running` points at, e.g. releases/0.1.0)
boots the new version: `releases/<new>` becomes an alias of it and `current` points at the
alias (see hot_upgrade.py for the whole picture, control.py for the layout).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from deliver.config import Environment, RuntimeLinks
from deliver.errors import NodeError
from deliver.host.layout import (
    FREE_SPACE,
    check_free_space,
    in_root,
    read_state,
    record,
    replace_file,
    replace_link,
)
from deliver.host.links import link_script
from deliver.host.node import NodeStatus
from deliver.host.unpack import SPACE_FACTOR, host_archive
from deliver.release import Release, version_problem
from deliver.shell import join, parse_key_values, quote, tail
from deliver.tools import hot_upgrades, node_commands
from deliver.transport.remote import Remote

#: In the node's root: one line `<version> <sha256>` per upgrade archive staged there.
STAGED_FILE = ".deliver-upgrades"


@dataclass(frozen=True)
class NodeCheck:
    """What preflight found on a host."""

    host: str
    root: str  # deliver_to, resolved
    node_root: str  # the real directory the running node was started from
    tool: str
    version: str  # what the node runs
    pid: str
    has_archive: bool


@dataclass(frozen=True)
class Switch:
    """One hot install: the node runs `from_version`, goes to `to_version`."""

    app: str
    from_version: str
    to_version: str
    upgrade: Release | None  # the archive to stage; None for a downgrade

    @property
    def verb(self) -> str:
        return "upgrade" if self.upgrade is not None else "downgrade"


def check_upgrade(remote: Remote, env: Environment, upgrade: Release) -> NodeCheck:
    """Read-only: is this host's node ready for `upgrade`? NodeError says why not."""
    version = quote(upgrade.version)
    extra = join(
        f"[ ! -d releases/{version} ] || echo HAS_TARGET=yes",
        f"echo STAGED=$(awk -v v={version} '$1 == v {{print $2}}' {STAGED_FILE} 2>/dev/null)",
        f'echo ARCHIVE=$(cat "$root"/releases/{quote(host_archive(upgrade))}.sha256 2>/dev/null)',
        FREE_SPACE,
    )
    found = _inspect(remote, env.deliver_to, upgrade.app, upgrade.tool, extra)
    values = found.answers
    check = replace(found.node, has_archive=values.get("ARCHIVE") == upgrade.sha256)
    if check.version == upgrade.version:
        return check
    if check.version != upgrade.from_version:
        raise NodeError(
            remote.name,
            f"runs {check.version}, but the upgrade is from {upgrade.from_version} to "
            f"{upgrade.version}",
        )
    if values.get("HAS_TARGET") and values.get("STAGED") != upgrade.sha256:
        raise NodeError(
            remote.name,
            f"another build of {upgrade.version} was installed into this node before: "
            "give the new build a new version",
        )
    needed = (0 if check.has_archive else upgrade.size) + upgrade.size * SPACE_FACTOR
    check_free_space(remote.name, check.root, values, needed)
    return check


def check_downgrade(remote: Remote, env: Environment, app: str, version: str) -> NodeCheck:
    """Read-only: can this host's node go back to `version`? NodeError says why not."""
    extra = join(
        f"[ ! -d releases/{quote(version)} ] || echo HAS_TARGET=yes",
        "echo INSTALLED=$(cd releases && for d in */; do printf '%s ' \"${d%/}\"; done)",
    )
    found = _inspect(remote, env.deliver_to, app, None, extra)
    values, check = found.answers, found.node
    if check.version != version and not values.get("HAS_TARGET"):
        raise NodeError(
            remote.name,
            f"{version} is not installed in the running node (it has: "
            f"{values.get('INSTALLED', '').strip() or 'nothing'})",
        )
    return check


def running_node(remote: Remote, env: Environment, app: str) -> NodeCheck:
    """Read-only: the running node of this host, its version and pid."""
    return _inspect(remote, env.deliver_to, app, None, "").node


@dataclass(frozen=True)
class _Inspection:
    """The running node, and what the caller's own `extra` lines answered (KEY=value)."""

    node: NodeCheck
    answers: dict[str, str]


def _inspect(
    remote: Remote, deliver_to: str, app: str, tool: str | None, extra: str
) -> _Inspection:
    """Find the running node, ask it its OS pid and version, then run `extra` in its root."""
    state = read_state(remote, deliver_to, app)
    if tool is not None and state.tool != tool:
        raise NodeError(remote.name, f"runs a release built with {state.tool}, not {tool}")
    node = node_commands(state.tool)
    body = f"""[ -e running ] || {{ echo STATE=stopped; exit 0; }}
cd running || exit 1
echo NODE_ROOT=$(pwd -P)
echo TOOL={quote(state.tool)}
pid=$({node.alive(app)} 2>/dev/null) || {{ echo STATE=stopped; exit 0; }}
echo PID=$pid
echo VERSION=$({node.running_version(app)} 2>/dev/null | tail -n 1)
[ ! -f releases/RELEASES ] || echo RELEASES=yes
{extra}
"""
    values = parse_key_values(remote.run(in_root(state.root, body), step="preflight").stdout)
    values["ROOT"] = state.root
    if values.get("STATE") == "stopped":
        raise NodeError(
            remote.name,
            f"the node is not running ({state.current} is deployed): a hot upgrade needs a "
            "running node",
        )
    return _Inspection(_node_check(remote, values), values)


def _node_check(remote: Remote, values: dict[str, str]) -> NodeCheck:
    if not values.get("VERSION"):
        raise NodeError(remote.name, "the node did not say which version it runs")
    # it becomes a directory name and a shell word in the switch: the version grammar first
    problem = version_problem(values["VERSION"])
    if problem is not None:
        raise NodeError(remote.name, f"the version the node runs: {problem}")
    if not values.get("RELEASES"):
        raise NodeError(
            remote.name,
            f"{values['NODE_ROOT']}/releases/RELEASES is missing, so the release handler "
            "cannot install releases: restart the node with `deliver restart` once",
        )
    return NodeCheck(
        remote.name,
        values["ROOT"],
        values["NODE_ROOT"],
        values.get("TOOL", ""),
        values["VERSION"],
        values.get("PID", "?"),
        has_archive=False,
    )


def install(
    remote: Remote, check: NodeCheck, switch: Switch, links: RuntimeLinks | None = None
) -> NodeStatus:
    """Stage (for an upgrade, with the host's `links` made in the new version's files),
    install and make permanent, verify, then record the version in the layout. NodeError with
    the release handler's output when the node refuses."""
    hot = hot_upgrades(check.tool)
    node = node_commands(check.tool)
    app, version = switch.app, switch.to_version
    stage = ""
    if switch.upgrade is not None:
        archive = f"{check.root}/releases/{host_archive(switch.upgrade)}"
        directory = check.node_root.rstrip("/").rsplit("/", 1)[-1]
        linked = link_script(check.root, version, links, directory) if links else ""
        # recorded first, so a retry after a failed install knows this build was staged
        staged = (
            f"awk -v v={quote(version)} '$1 != v' {STAGED_FILE} 2>/dev/null; "
            f"echo {quote(f'{version} {switch.upgrade.sha256}')}"
        )
        stage = join(
            replace_file(".", STAGED_FILE, staged),
            hot.stage_upgrade(app, archive, version),
            f"( {linked}\n)" if linked else "",
        )
    body = f"""cd {quote(check.node_root)} || exit 1
if ! out=$({{ {stage or ":"}; }} 2>&1); then
  printf '%s\\n' "$out" | sed 's/^/| /'; echo STATE=stage-failed; exit 0
fi
out=$({hot.install(app, version, switch.upgrade is not None)} 2>&1); status=$?
printf '%s\\n' "$out" | grep -v '^INSTALLED=' | sed 's/^/| /'
case "$out" in *"INSTALLED={version}"*) [ $status -eq 0 ] && echo STATE=installed ;; esac
echo PID=$({node.alive(app)} 2>/dev/null)
echo VERSION=$({node.running_version(app)} 2>/dev/null | tail -n 1)
"""
    result = remote.run(in_root(check.root, body), step=f"{switch.verb} to {version}")
    values = parse_key_values(result.stdout)
    log = "\n".join(line[2:] for line in result.stdout.splitlines() if line.startswith("| "))
    if values.get("VERSION") == version:
        relink(remote, check, version)
    if values.get("STATE") != "installed" or values.get("VERSION") != version:
        what = (
            "staging the upgrade failed"
            if values.get("STATE") == "stage-failed"
            else (
                f"the release handler did not switch to {version} "
                f"(the node runs {values.get('VERSION') or 'nothing'})"
            )
        )
        raise NodeError(remote.name, what, tail(log))
    if values.get("PID") != check.pid:
        raise NodeError(
            remote.name,
            f"the node now runs {version}, but it restarted (pid {check.pid}, now "
            f"{values.get('PID') or 'none'}): its state was not kept",
        )
    return NodeStatus(
        remote.name, version, f"{switch.from_version} -> {version}, hot (pid {check.pid} kept)"
    )


def relink(remote: Remote, check: NodeCheck, version: str) -> None:
    """Record that the node's root boots `version` now: alias releases/<version> to it (unless
    that is its own name, or a real directory of that version exists), point `current` at it,
    and drop the root's other aliases."""
    name = check.node_root.rstrip("/").rsplit("/", 1)[-1]
    target = f"releases/{version}"
    script = f"""set -e
cd {quote(check.root)}
if [ {quote(version)} != {quote(name)} ] && {{ [ -L {target} ] || [ ! -e {target} ]; }}; then
  {replace_link("releases", version, quote(name))}
fi
{replace_link(".", "current", quote(target))}
{record(check.root, "deployed", quote(version))}
for link in releases/*; do
  if [ -L "$link" ] && [ "$link" != {quote(target)} ] && [ "$(readlink "$link")" = {quote(name)} ]
  then rm -f "$link"; fi
done
"""
    remote.run(script, step="recording the new version")
