"""`deliver deploy upgrade` and `deliver downgrade`: switch running nodes to another version
through the release handler, without restarting them.

Phases, each on all hosts in parallel over the command's one connection per host:

1. preflight (changes nothing): the node is running, runs the upgrade's from-version (a host
   already on the target version is reported and left alone), was built with the same tool,
   has a RELEASES file, and has room for the archive;
2. upload of the upgrade archive where the host lacks it, verified by sha256;
3. install, per host: stage the new files into the root the node runs from, install and make
   permanent through the release handler, then check that the same OS process runs the new
   version, and record it in the layout (below).

Layout after a hot upgrade (see control.py for the rest). The release handler installs into the
root the node was started from, say `releases/0.1.0/`, whose `releases/start_erl.data` now names
0.2.0, so a restart boots 0.2.0. Then:

    releases/0.2.0 -> 0.1.0      an alias: the version that root boots now
    current -> releases/0.2.0    so `current` names what the next start boots
    running -> releases/0.1.0    unchanged: the real directory the node runs from

`releases/0.1.0` itself boots 0.2.0 now, so a cold deploy of 0.1.0 onto it is refused: go back
with `deliver downgrade` (which removes the alias and points `current` at `releases/0.1.0`
again). A later cold deploy of 0.2.0 replaces the alias with a fresh directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from deliver.config import Config, Environment
from deliver.control import ENV_FILE, NodeStatus, read_state
from deliver.deploy import SPACE_FACTOR, host_archive, upload
from deliver.errors import HostsFailed, NodeError, UsageError
from deliver.hosts import connect_all, fan_out, select_hosts
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import ReleaseStore, open_store
from deliver.remote import Remote
from deliver.shell import join, parse_key_values, quote, tail
from deliver.tools import hot_upgrades, node_commands

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


def deploy_upgrade(
    config: Config,
    out: Output,
    environment: str,
    *,
    version: str | None = None,
    hosts: Sequence[str] = (),
) -> dict[str, NodeStatus]:
    """Hot-upgrade the environment's nodes with the stored upgrade to `version` (default: the
    newest). Raises ReleaseNotFound, HostsFailed naming every host that failed a phase (no
    host is touched unless all passed preflight)."""
    env = config.environment(environment)
    targets = select_hosts(env, hosts)
    with ExitStack() as opened:
        store = opened.enter_context(open_store(config, out, verbose=out.verbose, debug=out.debug))
        upgrade = store.find(config.app, version, kind="upgrade")
        out.step(
            f"Hot-upgrading {config.app} {upgrade.from_version} -> {upgrade.version} on "
            f"{environment}: {', '.join(h.name for h in targets)}"
        )
        remotes = opened.enter_context(
            connect_all(targets, config.ssh, out, verbose=out.verbose, debug=out.debug)
        )
        return install_upgrade(out, env, remotes, store, upgrade)


def install_upgrade(
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    store: ReleaseStore,
    upgrade: Release,
) -> dict[str, NodeStatus]:
    """Preflight, upload and install `upgrade` on hosts already connected."""
    if upgrade.kind != "upgrade" or upgrade.from_version is None:
        raise UsageError(f"{upgrade.archive_name} is not an upgrade")
    hot_upgrades(upgrade.tool)  # a tool without hot upgrades is refused before any host

    def preflight(remote: Remote) -> NodeCheck:
        check = check_upgrade(remote, env, upgrade)
        if not check.has_archive and check.version != upgrade.version:
            store.check_host(remote)
        return check

    checks = fan_out("preflight", remotes, preflight)
    pending = _skip_done(out, remotes, checks, upgrade.version)
    uploads = [r for r in pending if not checks[r.name].has_archive]
    if uploads:
        transfer = "Uploading" if store.is_local else f"Fetching from {store.location}"
        out.step(f"{transfer} {upgrade.archive_name} to {len(uploads)} host(s)")
    totals = {r.name: upgrade.size for r in uploads} if store.is_local else {}
    with out.progress("uploading to", totals) as advance:
        fan_out(
            "upload",
            uploads,
            lambda r: upload(r, checks[r.name].root, upgrade, store, advance(r.name)),
        )
    if upgrade.changed_protocols and pending:
        out.warning(
            f"consolidated protocols changed; the nodes keep those of {upgrade.from_version} "
            f"until they restart: {', '.join(upgrade.changed_protocols)}"
        )

    def on_host(remote: Remote) -> NodeStatus:
        check = checks[remote.name]
        switch = Switch(upgrade.app, check.version, upgrade.version, upgrade)
        return _install_and_report(remote, out, check, switch)

    return _run_install(out, env.name, pending, on_host, upgrade.from_version)


def downgrade(
    config: Config, out: Output, environment: str, *, version: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    """Hot-downgrade the environment's nodes to `version`, a release installed in them before
    a hot upgrade. Raises HostsFailed as deploy_upgrade does."""
    env = config.environment(environment)
    targets = select_hosts(env, hosts)
    out.step(
        f"Hot-downgrading {config.app} to {version} on {environment}: "
        f"{', '.join(h.name for h in targets)}"
    )
    with connect_all(targets, config.ssh, out, verbose=out.verbose, debug=out.debug) as remotes:
        checks = fan_out(
            "preflight", remotes, lambda r: check_downgrade(r, env, config.app, version)
        )
        pending = _skip_done(out, remotes, checks, version)

        def on_host(remote: Remote) -> NodeStatus:
            check = checks[remote.name]
            switch = Switch(config.app, check.version, version, None)
            return _install_and_report(remote, out, check, switch)

        return _run_install(out, environment, pending, on_host, None)


def check_upgrade(remote: Remote, env: Environment, upgrade: Release) -> NodeCheck:
    """Read-only: is this host's node ready for `upgrade`? NodeError says why not."""
    version = quote(upgrade.version)
    extra = join(
        f"[ ! -d releases/{version} ] || echo HAS_TARGET=yes",
        f"echo STAGED=$(sed -n 's/^{upgrade.version} //p' {STAGED_FILE} 2>/dev/null)",
        f'echo ARCHIVE=$(cat "$root"/releases/{quote(host_archive(upgrade))}.sha256 2>/dev/null)',
        "echo FREE_KB=$(df -Pk . | awk 'NR==2 {print $4}')",
    )
    values = _inspect(remote, env.deliver_to, upgrade.app, upgrade.tool, extra)
    check = _node_check(remote, values, values.get("ARCHIVE") == upgrade.sha256)
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
    free = int(values.get("FREE_KB") or 0) * 1024
    if free < needed:
        raise NodeError(
            remote.name,
            f"not enough disk space: {free // 2**20} MiB free, about "
            f"{needed // 2**20 + 1} MiB needed",
        )
    return check


def check_downgrade(remote: Remote, env: Environment, app: str, version: str) -> NodeCheck:
    """Read-only: can this host's node go back to `version`? NodeError says why not."""
    extra = join(
        f"[ ! -d releases/{quote(version)} ] || echo HAS_TARGET=yes",
        "echo INSTALLED=$(cd releases && for d in */; do printf '%s ' \"${d%/}\"; done)",
    )
    values = _inspect(remote, env.deliver_to, app, None, extra)
    check = _node_check(remote, values, False)
    if check.version != version and not values.get("HAS_TARGET"):
        raise NodeError(
            remote.name,
            f"{version} is not installed in the running node (it has: "
            f"{values.get('INSTALLED', '').strip() or 'nothing'})",
        )
    return check


def running_node(remote: Remote, env: Environment, app: str) -> NodeCheck:
    """Read-only: the running node of this host, its version and pid."""
    return _node_check(remote, _inspect(remote, env.deliver_to, app, None, ""), False)


def _inspect(
    remote: Remote, deliver_to: str, app: str, tool: str | None, extra: str
) -> dict[str, str]:
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
    values = parse_key_values(remote.run(_with_env(state.root, body), step="preflight").stdout)
    values["ROOT"] = state.root
    if values.get("STATE") == "stopped":
        raise NodeError(
            remote.name,
            f"the node is not running ({state.current} is deployed): a hot upgrade needs a "
            "running node",
        )
    return values


def _node_check(remote: Remote, values: dict[str, str], has_archive: bool) -> NodeCheck:
    if not values.get("VERSION"):
        raise NodeError(remote.name, "the node did not say which version it runs")
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
        has_archive,
    )


def _skip_done(
    out: Output, remotes: Sequence[Remote], checks: dict[str, NodeCheck], version: str
) -> list[Remote]:
    """The hosts still to do; those already running `version` are reported and left alone."""
    pending = []
    for remote in remotes:
        if checks[remote.name].version == version:
            out.host_status(remote.name, True, f"already running {version}")
        else:
            pending.append(remote)
    return pending


def _run_install(
    out: Output,
    environment: str,
    remotes: Sequence[Remote],
    on_host: Callable[[Remote], NodeStatus],
    back_to: str | None,
) -> dict[str, NodeStatus]:
    """Install on every host; a failure names the hosts that did switch and how to go back."""
    if not remotes:
        return {}
    out.step(f"Installing through the release handler on {len(remotes)} host(s)")
    try:
        return fan_out("install", remotes, on_host)
    except HostsFailed as error:
        if error.succeeded and back_to is not None:
            hosts = " ".join(f"--host {name}" for name in error.succeeded)
            error.hint = (
                f"the other hosts switched; to bring them back: "
                f"deliver downgrade {environment} --version={back_to} {hosts}"
            )
        raise


def _install_and_report(
    remote: Remote, out: Output, check: NodeCheck, switch: Switch
) -> NodeStatus:
    status = install(remote, check, switch)
    out.host_status(remote.name, True, status.detail)
    return status


def install(remote: Remote, check: NodeCheck, switch: Switch) -> NodeStatus:
    """Stage (for an upgrade), install and make permanent, verify, then record the version in
    the layout. NodeError with the release handler's output when the node refuses."""
    hot = hot_upgrades(check.tool)
    node = node_commands(check.tool)
    app, version = switch.app, switch.to_version
    stage = ""
    if switch.upgrade is not None:
        archive = f"{check.root}/releases/{host_archive(switch.upgrade)}"
        # recorded first, so a retry after a failed install knows this build was staged
        stage = join(
            f"{{ grep -v '^{version} ' {STAGED_FILE} 2>/dev/null; "
            f"echo {quote(f'{version} {switch.upgrade.sha256}')}; }} > {STAGED_FILE}.new",
            f"mv {STAGED_FILE}.new {STAGED_FILE}",
            hot.stage_upgrade(app, archive, version),
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
    result = remote.run(_with_env(check.root, body), step=f"{switch.verb} to {version}")
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
  ln -sfn {quote(name)} releases/.alias.new && mv -T releases/.alias.new {quote(target)}
fi
ln -sfn {quote(target)} .current.new && mv -T .current.new current
for link in releases/*; do
  if [ -L "$link" ] && [ "$link" != {quote(target)} ] && [ "$(readlink "$link")" = {quote(name)} ]
  then rm -f "$link"; fi
done
"""
    remote.run(script, step="recording the new version")


def _with_env(root: str, body: str) -> str:
    """`body` run in the node's environment: the host's env file loaded from `root`."""
    load = f"if [ -f {ENV_FILE} ]; then set -a; . ./{ENV_FILE}; set +a; fi"
    return f'root={quote(root)}\ncd "$root" || exit 1\n{load}\n{body}'
