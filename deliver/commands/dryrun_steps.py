"""`--dry-run --debug`: the exact commands of every step a command would run on a host,
made by the very functions a real run calls, on the recording remote (transport/dryrun.py).

Nothing here builds a command of its own: each step is the real one (unpack.preflight,
unpack.receive or the store's fetch, the migrations, the switch, the node's stop and start,
the pruning, the release handler's stage and install), called with what the probe read, so
what is printed is what the real run would send. A recorded command answers as one that
printed nothing: where a step needs an answer to go on, its later commands depend on that
answer and the step ends there (the error that follows is not the host's, and is dropped).
Hooks are named in the plan; their commands are not printed (a hook can run on this machine).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from deliver.commands.migrate import migrate_new_release, migrate_title, run_task, task_expression
from deliver.config import Config, Environment
from deliver.errors import DeliverError
from deliver.host.layout import HostReleases, HostState, prune, switch_current
from deliver.host.node import start_node, stop_node
from deliver.host.release_handler import NodeCheck, Switch, install, relink, stage
from deliver.host.unpack import Preflight, node_env_text, preflight, receive, upload
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import LocalStore, ReleaseStore
from deliver.transport.dryrun import DryRunRemote


@dataclass(frozen=True)
class HostSteps:
    """What a dry run knows of one host when it prints its commands."""

    env: Environment
    root: str  # deliver_to as the host resolves it (pwd -P), also before it exists
    releases: HostReleases | None  # None: nothing deployed
    has_archive: bool
    target: str  # the version the host would switch to ("" when none)
    primary: bool


def _quietly(step: Callable[[], object]) -> None:
    """Run one real step on the recording remote. An empty answer ends it: a KeyError for a
    value it printed none of, or the DeliverError it makes of the silence."""
    with suppress(DeliverError, KeyError, ValueError):
        step()


def _silent() -> Output:
    """The Output real steps report to in a dry run: what they say would be a lie here."""
    return Output(io.StringIO(), io.StringIO(), color=False)


def show_deploy(
    config: Config,
    remote: DryRunRemote,
    host: HostSteps,
    release: Release,
    store: ReleaseStore,
    *,
    run_migrations: bool,
) -> None:
    """`deploy release`: the preflight, the transfer and extraction (streamed from a local
    store, else fetched by the host), the migrations on the primary host; the switch and
    the rest are `show_switch_and_restart`'s."""
    env = host.env
    _quietly(lambda: preflight(remote, env, release))
    state = host.releases
    check = Preflight(
        host.root,
        state.current if state else None,
        host.has_archive,
        state is not None and release.version in state.present,
        state.running if state else None,
    )
    env_text, links = node_env_text(env, remote.host), config.links
    archive = None
    if not check.has_release and not check.has_archive:
        if isinstance(store, LocalStore):
            archive = store.archive(release)
        else:
            _quietly(lambda: upload(remote, check.root, release, store, None))
            check = Preflight(check.root, check.current, True, False, check.running)
    _quietly(lambda: receive(remote, check, release, env_text, links, archive))
    if run_migrations and host.primary:
        _quietly(lambda: migrate_new_release(config, _silent(), remote, host.root, release))


def show_switch_and_restart(
    config: Config,
    remote: DryRunRemote,
    host: HostSteps,
    *,
    switch: bool,
    stop: bool,
    start: bool,
    prune_after: HostReleases | None,
) -> None:
    """The switch of `current` to `host.target`, the node's stop and start (as a rollout
    restarts it: the stop of what runs, the start of the target), and the pruning."""
    state = host.releases
    tool = state.tool if state else "mix"
    running = state.running if state else None
    target = host.target or (state.current if state else None)
    manager = host.env.manager(remote.name)
    if switch and host.target:
        _quietly(lambda: switch_current(remote, host.root, host.target))
    if stop:
        now = HostState(remote.name, host.root, target, running, tool)
        _quietly(lambda: stop_node(remote, now, config.app, config.stop_timeout, manager))
    if start and target:
        down = HostState(remote.name, host.root, target, None, tool)
        _quietly(lambda: start_node(remote, down, config.app, config.start_timeout, manager))
    if prune_after is not None:
        _quietly(lambda: prune(remote, prune_after, config.keep_releases))


def show_hot(
    config: Config,
    remote: DryRunRemote,
    check: NodeCheck,
    upgrade: Release | None,
    version: str,
    store: ReleaseStore | None,
) -> None:
    """`deploy upgrade` (an `upgrade`) and `downgrade` (None): the upload of the upgrade
    where the host lacks it, the release handler's staging and check, the install and the
    record of the new version."""
    switch = Switch(config.app, check.version, version, upgrade)
    if upgrade is not None and store is not None:
        if not check.has_archive:
            _quietly(lambda: upload(remote, check.root, upgrade, store, None))
        _quietly(lambda: stage(remote, check, switch, config.links))
    _quietly(lambda: install(remote, check, switch, settle=0))
    _quietly(lambda: relink(remote, check, version, downgrade=upgrade is None))


def show_migrate(
    config: Config, remote: DryRunRemote, host: HostSteps, direction: str, version: str | None
) -> None:
    """`migrate`: the task's command on the primary host, as `deliver migrate` runs it when
    the node cannot be asked over its distribution (the task expression is checked first:
    what migrate refuses, the dry run refuses)."""
    expression = task_expression(config, direction, version)
    state = host.releases
    if state is None:
        return
    step = migrate_title(direction, version).lower()
    _quietly(lambda: run_task(config, _silent(), remote, state, expression, step))
