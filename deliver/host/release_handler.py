"""One host's node and the release handler: what runs there (OS pid, version), whether it can
switch, switching it to another version, and recording that version in the host's layout.

After a switch the node's root (the real directory `running` points at, e.g. releases/0.1.0)
boots the new version: `releases/<new>` becomes an alias of it and `current` points at the
alias (see commands/hot.py for the whole picture).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from deliver.config import Environment, RuntimeLinks
from deliver.errors import NodeError
from deliver.host.dist import pid_and_version
from deliver.host.handler_calls import (
    by_script,
    check_by_node,
    check_lines,
    install_by_node,
    install_lines,
)
from deliver.host.layout import (
    FREE_SPACE,
    check_free_space,
    in_root,
    read_host_releases,
    read_state,
    record,
    replace_file,
    replace_link,
)
from deliver.host.links import link_script
from deliver.host.node import NodeStatus
from deliver.host.running_build import build_problem, check_done
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
    """Read-only: is this host's node ready for `upgrade`? It must run the very build the
    upgrade is from (version, commit and archive sha256), on the ERTS the upgrade was built
    with, and have room for it. NodeError says why not."""
    version = quote(upgrade.version)
    extra = join(
        f"[ ! -d releases/{version} ] || echo HAS_TARGET=yes",
        f"echo STAGED=$(awk -v v={version} '$1 == v {{print $2}}' {STAGED_FILE} 2>/dev/null)",
        f'echo ARCHIVE=$(cat "$root"/releases/{quote(host_archive(upgrade))}.sha256 2>/dev/null)',
        # the build the node runs: its directory's, or the upgrade staged into it (hot steps)
        "echo DIR_SHA256=$(cat .deliver-sha256 2>/dev/null)",
        "echo DIR_COMMIT=$(head -n 1 .deliver-revision 2>/dev/null)",
        f"echo RUN_COMMIT=$(awk -v v=\"$vsn\" '$1 == v {{print $3}}' {STAGED_FILE} 2>/dev/null)",
        "echo NODE_ERTS=$(cut -d' ' -f1 releases/start_erl.data 2>/dev/null)",
        FREE_SPACE,
    )
    found = _inspect(remote, env.deliver_to, upgrade.app, upgrade.tool, extra)
    values = found.answers
    check = replace(found.node, has_archive=values.get("ARCHIVE") == upgrade.sha256)
    if check.version == upgrade.version:
        check_done(remote.name, upgrade, check.node_root, values)
        return check
    if check.version not in upgrade.from_versions:
        raise NodeError(
            remote.name,
            f"runs {check.version}, but the upgrade is from {', '.join(upgrade.from_versions)} "
            f"to {upgrade.version}",
        )
    problem = build_problem(upgrade, check.version, check.node_root, values)
    if problem is not None:
        raise NodeError(remote.name, problem)
    erts = values.get("NODE_ERTS", "")
    if upgrade.erts and erts and erts != upgrade.erts:
        raise ErtsDiffers(
            remote.name,
            f"runs ERTS {erts}, but the upgrade was built with ERTS {upgrade.erts}: a hot "
            "upgrade onto another ERTS (another OTP) is refused",
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


class ErtsDiffers(NodeError):
    """The node runs another ERTS than the upgrade was built with: never hot."""


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
    asked = pid_and_version(remote, state.root, state.tool, app)
    ask = (
        f"pid={asked[0]}\nvsn={quote(asked[1])}"
        if asked is not None
        else f"""pid=$({node.alive(app)} 2>/dev/null) || {{ echo STATE=stopped; exit 0; }}
vsn=$({node.running_version(app)} 2>/dev/null | tail -n 1)"""
    )
    body = f"""[ -e running ] || {{ echo STATE=stopped; exit 0; }}
cd running || exit 1
echo NODE_ROOT=$(pwd -P)
echo TOOL={quote(state.tool)}
{ask}
echo PID=$pid
echo VERSION=$vsn
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


def stage(
    remote: Remote, check: NodeCheck, switch: Switch, links: RuntimeLinks | None = None
) -> None:
    """Put the upgrade's files into the node's root (with the host's `links` made in the new
    version's files) and have the release handler check it can install it: the relup has an
    entry for the running version and check_install_release passes. The node keeps running
    what it ran; NodeError with the release handler's words when it cannot."""
    upgrade = switch.upgrade
    assert upgrade is not None, "only an upgrade is staged"
    hot = hot_upgrades(check.tool)
    app, version = switch.app, switch.to_version
    archive = f"{check.root}/releases/{host_archive(upgrade)}"
    directory = check.node_root.rstrip("/").rsplit("/", 1)[-1]
    linked = link_script(check.root, version, links, directory) if links else ""
    # recorded first, so a retry after a failed install knows this build was staged; the
    # commit says which build the node runs once it is installed (the next step's preflight)
    staged = (
        f"awk -v v={quote(version)} '$1 != v' {STAGED_FILE} 2>/dev/null; "
        f"echo {quote(f'{version} {upgrade.sha256} {upgrade.commit}')}"
    )
    files = join(
        replace_file(".", STAGED_FILE, staged),
        hot.stage_upgrade(app, archive, version),
        f"( {linked}\n)" if linked else "",
    )
    # the check over the node's distribution where the tool gives it as code, else by the
    # start script in the same script as the files
    by_node = hot.check_code(app, version) is not None
    lines = f"""if ! out=$({{ {files}; }} 2>&1); then
  printf '%s\\n' "$out" | sed 's/^/| /'; echo STATE=stage-failed; exit 0
fi
{"" if by_node else check_lines(check.tool, app, version)}"""
    step = f"checking the upgrade to {version}"
    values, log = by_script(remote, check.root, check.node_root, lines, step)
    if by_node and values.get("STATE") != "stage-failed":
        values, log = check_by_node(remote, check.root, check.tool, app, version) or by_script(
            remote, check.root, check.node_root, check_lines(check.tool, app, version), step
        )
    if values.get("STATE") == "checked":
        return
    what = (
        "staging the upgrade failed"
        if values.get("STATE") == "stage-failed"
        else f"the release handler cannot install {version} (the node runs {check.version})"
    )
    raise NodeError(remote.name, what, tail(log))


#: How long a node may take to answer again after install_release (an upgrade that restarts
#: the emulator answers, then reboots).
SETTLE_SECONDS = 60.0


def install(
    remote: Remote, check: NodeCheck, switch: Switch, settle: float = SETTLE_SECONDS
) -> NodeStatus:
    """Install `switch.to_version` (staged and checked, for an upgrade) and make it
    permanent, then ask the node which version it runs, until it answers (`settle` seconds
    at most): a failed command is no verdict, the node's version is. Records the version in
    the layout. NodeError saying what the node runs when it did not switch."""
    app, version = switch.app, switch.to_version
    started = time.monotonic()
    # over the node's distribution, else through its start script (a VM on the host)
    values, log = install_by_node(remote, check.root, check.tool, app, version) or by_script(
        remote,
        check.root,
        check.node_root,
        install_lines(check.tool, app, version, switch.upgrade is not None),
        f"{switch.verb} to {version}",
    )
    values |= _ask(remote, check, app)
    if values.get("VERSION") != version:
        values |= _settle(remote, check, app, version, started + settle)
    if values.get("VERSION") == version:
        relink(remote, check, version, downgrade=switch.upgrade is None)
    now_runs = values.get("VERSION") or "nothing that answers"
    if values.get("VERSION") != version:
        kept = "as before" if values.get("VERSION") == check.version else "now"
        raise NodeError(
            remote.name,
            f"the release handler did not switch to {version}: the node runs {now_runs} "
            f"{kept} (pid {values.get('PID') or 'none'})",
            tail(log),
        )
    if values.get("PID") != check.pid:
        raise NodeError(
            remote.name,
            f"the node now runs {version}, but it restarted (pid {check.pid}, now "
            f"{values.get('PID') or 'none'}): its state was not kept",
        )
    seconds = int(values.get("MS") or 0) / 1000
    return NodeStatus(
        remote.name,
        version,
        f"{switch.from_version} -> {version}, hot (pid {check.pid} kept, {seconds:.1f} s)",
    )


def _ask(remote: Remote, check: NodeCheck, app: str) -> dict[str, str]:
    """The node's OS pid and version (PID=, VERSION=; empty while it does not answer):
    asked over its distribution, else by its start script in its root."""
    asked = pid_and_version(remote, check.root, check.tool, app)
    if asked is not None:
        return {"PID": str(asked[0]), "VERSION": asked[1]}
    node = node_commands(check.tool)
    ask = (
        f"cd {quote(check.node_root)} || exit 1\n"
        f"echo PID=$({node.alive(app)} 2>/dev/null)\n"
        f"echo VERSION=$({node.running_version(app)} 2>/dev/null | tail -n 1)"
    )
    return parse_key_values(remote.run(in_root(check.root, ask), check=False).stdout)


def _settle(
    remote: Remote, check: NodeCheck, app: str, version: str, deadline: float
) -> dict[str, str]:
    """Ask the node its pid and version until it runs `version`, or `deadline` passes;
    returns the last answers (an empty version while the node does not answer)."""
    values: dict[str, str] = {}
    while time.monotonic() < deadline:
        time.sleep(1)
        values = _ask(remote, check, app)
        if values.get("VERSION") == version:
            break
    return values


def relink(remote: Remote, check: NodeCheck, version: str, downgrade: bool = False) -> None:
    """Record that the node's root boots `version` now: alias releases/<version> to it
    (unless that is its own name, or a real directory of that version exists) and point
    `current` at it. An upgrade keeps the aliases of the versions before it (each hot step
    stays one a rollback can go back to, one step at a time); a downgrade drops the root's
    other aliases (the versions it went back from)."""
    name = check.node_root.rstrip("/").rsplit("/", 1)[-1]
    target = f"releases/{version}"
    # `|| exit 1`: set -e ignores a failure inside replace_link's && chain, and current must
    # never name an alias that was not made
    script = f"""set -e
cd {quote(check.root)}
if [ {quote(version)} != {quote(name)} ] && {{ [ -L {target} ] || [ ! -e {target} ]; }}; then
  {replace_link("releases", version, quote(name))} || exit 1
fi
{replace_link(".", "current", quote(target))} || exit 1
{record(check.root, "deployed", quote(version))}
"""
    if downgrade:
        script += f"""for link in releases/*; do
  if [ -L "$link" ] && [ "$link" != {quote(target)} ] && [ "$(readlink "$link")" = {quote(name)} ]
  then rm -f "$link"; fi
done
"""
    remote.run(script, step="recording the new version")


def record_switched(
    remote: Remote, check: NodeCheck, app: str, version: str, downgrade: bool = False
) -> None:
    """A node that runs `version` while `current` still names the directory it runs from
    under another version: its install was cut off (a second Ctrl-C, a lost connection)
    after the release handler switched and before deliver recorded it. Record it now (relink),
    so that rerunning the command finishes the job; a host whose layout agrees is left as is."""
    found = read_host_releases(remote, check.root, app)
    directory = check.node_root.rstrip("/").rsplit("/", 1)[-1]
    current = found.current or ""
    if current != version and found.aliases.get(current, current) == directory:
        relink(remote, check, version, downgrade)
