"""`deliver deploy release`: put a stored release on every host of an environment.

Phases, each run on all hosts in parallel over the command's one connection per host:

1. preflight: find the release root, what is current, whether the archive is already there,
   and whether there is room for it; nothing is changed on any host before all pass;
2. prepare (free-running per host): upload the archive unless the host already holds it,
   verify its sha256, extract it into a fresh directory, write the host's env file,
   and link shared files and host-local config into the release (links.py);
3. with --run-migrations: the new release's migrations, on the primary host (migrate.py);
4. switch, only once every host is prepared: rename a new `current` link over the old one,
   an atomic step per host that Ctrl-C cannot interrupt half-way;
5. with --start-deploy, switch and restart batch by batch instead, each batch healthy
   before the next (rollout.py);
6. prune each host to `keep_releases` (host_releases.py).

Hooks: pre/post_extract_release_archive around each host's extraction (phase 2), and
pre/post_start_deployed_release around each host's restart (phase 5, in rollout.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from deliver.config import Config, Environment
from deliver.control import ENV_FILE
from deliver.errors import DeliverError, UsageError
from deliver.health import health_urls
from deliver.hooks import Hooks, StartHooks, deploy_env
from deliver.host_releases import (
    interrupts_deferred,
    partial_switch_explained,
    prune_hosts,
    switch_current,
)
from deliver.hosts import connect_all, fan_out, select_hosts
from deliver.links import link_release
from deliver.migrate import migrate_new_release, primary_remote
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import ReleaseStore, open_store
from deliver.remote import Progress, Remote
from deliver.rollout import HostPlan, Rollout, roll_out
from deliver.shell import env_file_text, join, parse_key_values, quote, quote_path

#: An extracted release takes about three times its compressed archive.
SPACE_FACTOR = 4


@dataclass(frozen=True)
class Preflight:
    root: str
    current: str | None
    has_archive: bool
    has_release: bool


def deploy_release(
    config: Config,
    out: Output,
    environment: str,
    *,
    version: str | None = None,
    hosts: Sequence[str] = (),
    start: bool = False,
    run_migrations: bool = False,
    rollout: Rollout | None = None,
) -> Release:
    """Deploy `version` (default: the newest in the store) to the environment's hosts.

    With `run_migrations`, the new release's migrations run on the primary host before any
    host is switched; with `start`, hosts are switched and restarted batch by batch (rollout.py).
    Afterwards each host is pruned to `keep_releases`.

    Raises ReleaseNotFound, HostsFailed naming each host that failed a phase (no host is
    switched unless all were prepared), RolloutStopped, UsageError for a bad --host.
    """
    env = config.environment(environment)
    targets = select_hosts(env, hosts)
    if rollout and not start:
        raise UsageError("--batch and --rollback-on-failure need --start-deploy")
    urls = health_urls(config.health_check, env, targets) if start else {}
    with ExitStack() as opened:
        store = opened.enter_context(open_store(config, out, verbose=out.verbose, debug=out.debug))
        release = store.find(config.app, version)
        hooks = Hooks.load(config, out)
        names = ", ".join(h.name for h in targets)
        out.step(
            f"Deploying {release.app} {release.version} ({release.commit[:10]}) to "
            f"{environment}: {names}"
        )
        remotes = opened.enter_context(
            connect_all(targets, config.ssh, out, verbose=out.verbose, debug=out.debug)
        )

        def check_host(remote: Remote) -> Preflight:
            check = preflight(remote, env, release)
            if not check.has_archive:
                store.check_host(remote)
            return check

        checks = fan_out("preflight", remotes, check_host)
        uploads = [r for r in remotes if not checks[r.name].has_archive]
        skipped = len(remotes) - len(uploads)
        transfer = "Uploading to" if store.is_local else f"Fetching from {store.location} onto"
        out.step(
            f"{transfer} {len(uploads)} host(s) and extracting"
            + (f" ({skipped} already had the archive)" if skipped else "")
        )
        totals = {r.name: release.size for r in uploads} if store.is_local else {}
        with out.progress("uploading to", totals) as advance:

            def prepare_host(remote: Remote) -> None:
                check = checks[remote.name]
                if not check.has_archive:
                    upload(remote, check.root, release, store, advance(remote.name))
                hook_env = deploy_env(
                    config, env, remote, check.root, release.version, release.commit, release.branch
                )

                def unpack() -> None:
                    extract(remote, check, release, env_file_text(env.host_env(remote.host)))
                    link_release(remote, check.root, release.version, config.links)

                hooks.around("extract_release_archive", remote, hook_env, unpack)
                out.host_status(remote.name, True, f"{release.version} ready")

            fan_out("prepare", remotes, prepare_host)
        if run_migrations:
            primary = primary_remote(env, remotes)
            migrate_new_release(config, out, primary, checks[primary.name].root, release)
        if start:
            plans = {
                name: HostPlan(
                    check.root,
                    release.tool,
                    check.current,
                    release.version,
                    switch=True,
                    fallback=check.current if check.current != release.version else None,
                )
                for name, check in checks.items()
            }
            roll_out(
                config,
                out,
                remotes,
                plans,
                rollout or Rollout(),
                urls,
                StartHooks(config, out, env),
            )
        else:
            out.step(f"Switching to {release.version}")
            with interrupts_deferred(), partial_switch_explained():
                fan_out(
                    "switch", remotes, lambda r: switch(r, checks[r.name].root, release.version)
                )
        prune_hosts(out, remotes, env.deliver_to, config.app, config.keep_releases)
    out.step(f"Deployed {release.app} {release.version} to {environment}")
    return release


def preflight(remote: Remote, env: Environment, release: Release) -> Preflight:
    """Create the release root if needed and report what the host already has."""
    version = quote(release.version)
    script = join(
        f"mkdir -p {quote_path(env.deliver_to)}/releases",
        f"cd {quote_path(env.deliver_to)}",
        "echo ROOT=$(pwd -P)",
        'echo CURRENT=$(basename "$(readlink current)" 2>/dev/null)',
        f"echo ARCHIVE=$(cat releases/{version}.tar.gz.sha256 2>/dev/null)",
        f"echo RELEASE=$(cat releases/{version}/.deliver-sha256 2>/dev/null)",
        # a hot upgrade leaves an alias releases/<new> -> <old>, and <old> booting <new>
        f"{{ [ ! -L releases/{version} ] || echo ALIAS=yes; }}",
        f"echo BOOTS=$(cut -d' ' -f2 releases/{version}/releases/start_erl.data 2>/dev/null)",
        f'for l in running current releases/*; do [ "$(readlink "$l")" != {version} ] && '
        f'[ "$(readlink "$l")" != releases/{version} ] || echo IN_USE="$l"; done',
        "echo FREE_KB=$(df -Pk . | awk 'NR==2 {print $4}')",
    )
    values = parse_key_values(remote.run(script, step="preflight").stdout)
    alias = values.get("ALIAS") == "yes"
    boots = values.get("BOOTS")
    # a directory hot-upgraded to another version is extracted afresh, unless a node or a
    # link still uses it: then only the release handler can take it back
    hot = not alias and bool(boots) and boots != release.version
    if hot and values.get("IN_USE"):
        raise UsageError(
            f"releases/{release.version} was hot-upgraded in place to {boots} and is in use "
            f"({values['IN_USE']}): go back to {release.version} with "
            f"`deliver downgrade {env.name} --version={release.version}`"
        )
    check = Preflight(
        values["ROOT"],
        values.get("CURRENT") or None,
        values.get("ARCHIVE") == release.sha256,
        values.get("RELEASE") == release.sha256 and not hot,
    )
    if check.current == release.version and not check.has_release and not alias:
        raise UsageError(
            f"{remote.name} runs a different build of {release.version}",
            hint="give the new build a new version",
        )
    needed = (0 if check.has_archive else release.size) + (
        0 if check.has_release else release.size * SPACE_FACTOR
    )
    free = int(values.get("FREE_KB") or 0) * 1024
    if free < needed:
        raise DeliverError(
            f"not enough disk space in {values['ROOT']}: {free // 2**20} MiB "
            f"free, about {needed // 2**20 + 1} MiB needed"
        )
    return check


def upload(
    remote: Remote, root: str, release: Release, store: ReleaseStore, progress: Progress | None
) -> None:
    """Bring the archive to a temporary name (uploaded, or fetched by the host from the store),
    verify its sha256, and only then give it its name."""
    final = f"{root}/releases/{host_archive(release)}"
    partial = f"{root}/releases/.{host_archive(release)}.part"
    try:
        store.send_to_host(release, remote, partial, progress)
    except DeliverError:
        remote.run(f"rm -f {quote(partial)}", check=False)
        raise
    remote.run(
        join(
            f'echo "{release.sha256}  "{quote(partial)} | sha256sum -c --status '
            f'|| {{ rm -f {quote(partial)}; echo "the archive arrived corrupted (sha256 mismatch)";'
            " exit 1; }",
            f"mv {quote(partial)} {quote(final)}",
            f"echo {release.sha256} > {quote(final + '.sha256')}",
        ),
        step="verifying the upload",
    )


def host_archive(release: Release) -> str:
    """The archive's name in a host's releases/: `<version>.tar.gz`, `<version>.upgrade.tar.gz`."""
    kind = "" if release.kind == "release" else f".{release.kind}"
    return f"{release.version}{kind}.tar.gz"


def extract(remote: Remote, check: Preflight, release: Release, env_text: str) -> None:
    """Extract into a fresh directory renamed into place; write the host's env file."""
    version = quote(release.version)
    fresh = f"releases/.{release.version}.new"
    extract_release = (
        ""
        if check.has_release
        else f"""rm -rf {quote(fresh)}
mkdir {quote(fresh)}
if ! tar -xzf releases/{version}.tar.gz -C {quote(fresh)}; then
  rm -rf {quote(fresh)}; echo "extracting the release failed"; exit 1
fi
echo {quote(release.tool)} > {quote(fresh)}/.deliver-tool
echo {release.sha256} > {quote(fresh)}/.deliver-sha256
printf '%s\\n' {quote(release.commit)} {quote(release.branch or "")} \\
  > {quote(fresh)}/.deliver-revision
rm -rf releases/{version} && mv {quote(fresh)} releases/{version}
"""
    )
    remote.run(f"set -e\ncd {quote(check.root)}\n{extract_release}", step="extracting")
    remote.upload(env_text.encode(), f"{check.root}/.{ENV_FILE}.new", mode=0o600)
    remote.run(f"cd {quote(check.root)} && mv .{ENV_FILE}.new {ENV_FILE}", step="env file")


def switch(remote: Remote, root: str, version: str) -> None:
    """Point `current` at the release with one rename: there is no moment without it."""
    switch_current(remote, root, version)
