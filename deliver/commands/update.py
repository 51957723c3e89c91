"""`deliver update`: build a release, deploy it, and (with --start-deploy) make sure every
host ends up running exactly that version."""

from __future__ import annotations

from collections.abc import Sequence

from deliver.build.tree import BuildOptions
from deliver.commands.build import build_release
from deliver.commands.control import version as node_versions
from deliver.commands.deploy import deploy_release
from deliver.commands.schedule import Rollout
from deliver.config import Config
from deliver.errors import HostsFailed, NodeError, UsageError
from deliver.output import Output
from deliver.release import Release


def update(
    config: Config,
    out: Output,
    environment: str,
    *,
    revision: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
    hosts: Sequence[str] = (),
    start: bool = False,
    run_migrations: bool = False,
    rollout: Rollout | None = None,
    options: BuildOptions | None = None,
) -> Release:
    """Build `revision`/`tag`/`branch`, deploy it to `environment`; with `start`, restart
    and verify the version every node reports.

    Raises what build_release and deploy_release raise, and HostsFailed naming each host
    that runs another version after the restart."""
    config.environment(environment)  # an unknown environment fails before the build
    if rollout and not start:
        raise UsageError("a rollout (batches, rollback on failure) needs start")
    release = build_release(config, out, revision=revision, tag=tag, branch=branch, options=options)
    deploy_release(
        config,
        out,
        environment,
        version=release.version,
        hosts=hosts,
        start=start,
        run_migrations=run_migrations,
        rollout=rollout,
        force=bool(options and options.force),  # the build it replaced replaces the hosts' too
    )
    if start:
        running = node_versions(config, out, environment, hosts)
        wrong = {
            name: NodeError(name, f"runs {status.version}, not {release.version}")
            for name, status in running.items()
            if status.version != release.version
        }
        if wrong:
            raise HostsFailed("verify", wrong, [n for n in running if n not in wrong])
        out.step(f"Every host runs {release.app} {release.version}")
    return release
