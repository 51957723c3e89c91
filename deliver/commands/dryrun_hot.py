"""`deploy upgrade --dry-run` and `downgrade --dry-run`: the hot upgrade's own preflight,
run for real (it only reads: the node's version, pid and build, the ERTS, the room), then per
host what the release handler would be asked to do; with `--debug` the commands of those
steps (dryrun_steps.show_hot). Nothing is uploaded, staged or installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from deliver.commands.dryrun_steps import show_hot
from deliver.commands.hot_policy import NotHot, reasons_not_hot
from deliver.config import Config, Environment
from deliver.errors import DeliverError, HostsFailed, NodeError
from deliver.hooks import Hooks
from deliver.host.emulator_restart import check_heart
from deliver.host.release_handler import NodeCheck, check_downgrade, check_upgrade
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.transport.dryrun import DryRunRemote
from deliver.transport.fanout import fan_out

UPGRADE_POINTS = ("pre_upgrade_release", "post_upgrade_release")


def hot_plans(
    config: Config,
    env: Environment,
    remotes: Sequence[DryRunRemote],
    version: str,
    upgrade: Release | None,
    store: ReleaseStore | None,
    hooks: Hooks | None,
) -> tuple[dict[str, list[str]], dict[str, DeliverError]]:
    """Each host's plan lines (the first item: the version it would run) and the hosts the
    preflight refuses, with why. NotHot when the upgrade must not be hot at all (policy,
    changes), as the real command says before touching a host."""
    if upgrade is not None:
        reasons = reasons_not_hot(upgrade, config.hot_upgrade)
        if reasons:
            raise NotHot(upgrade, reasons, env.name)

    def verdict(remote: DryRunRemote) -> NodeCheck | DeliverError:
        real = remote.remote  # the preflight only reads: it runs as in the real command
        try:
            if upgrade is not None:
                check = check_upgrade(real, env, upgrade)
                if upgrade.restarts_emulator and check.version != upgrade.version:
                    manager = env.manager(real.name).manager  # the heart check only reads
                    check_heart(real, check.root, upgrade.tool, upgrade.app, manager)
                return check
            return check_downgrade(real, env, config.app, version)
        except NodeError as error:  # a verdict, said per host; not a failed probe
            return error

    verdicts = fan_out("dry run preflight", remotes, verdict)
    plans: dict[str, list[str]] = {}
    refused: dict[str, DeliverError] = {}
    for remote in remotes:
        found = verdicts[remote.name]
        if isinstance(found, DeliverError):
            refused[remote.name] = found
            plans[remote.name] = ["", f"preflight refuses it: {_reason(remote.name, found)}"]
            continue
        plans[remote.name] = [version, *_lines(found, version, upgrade, hooks)]
        if found.version != version:
            show_hot(config, remote, found, upgrade, version, store)
    return plans, refused


def _reason(host: str, error: DeliverError) -> str:
    return str(error).removeprefix(f"{host}: ")


def _lines(
    check: NodeCheck, version: str, upgrade: Release | None, hooks: Hooks | None
) -> Iterator[str]:
    if check.version == version:
        yield f"already running {version} (pid {check.pid}): left alone"
        return
    verb = "upgrade" if upgrade is not None else "downgrade"
    yield f"preflight passes: the node runs {check.version} (pid {check.pid}), ready to {verb}"
    if upgrade is not None:
        size = f"{upgrade.size / 1e6:.1f} MB"
        if check.has_archive:
            yield f"skip the upload: {upgrade.archive_name} is there with the same sha256"
        else:
            yield f"upload {upgrade.archive_name} ({size}) and verify its sha256"
        yield (
            f"stage {version} in {check.node_root} and have the release handler check it "
            f"(its relup from {check.version}, check_install_release)"
        )
    for point in UPGRADE_POINTS if upgrade is not None else ():
        for hook in hooks.by_point.get(point, []) if hooks else []:
            yield f"hook {point}: {hook.name} (on {hook.runs_on})"
    yield (
        f"install {version} through the release handler and make it permanent: "
        f"{check.version} -> {version} in the same OS process (pid {check.pid})"
    )
    yield f"record it: current -> releases/{version}"


def refused_error(refused: dict[str, DeliverError], hosts: Sequence[str]) -> HostsFailed:
    """The real command would stop at its preflight: nothing would be installed anywhere."""
    failed = HostsFailed("preflight", refused, [h for h in hosts if h not in refused])
    failed.hint = "the real command would install nothing anywhere: every host must pass"
    return failed
