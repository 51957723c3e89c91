"""`deliver env show|diff|push ENV`: the env each node booted with, the env `.deliver` gives
each host against the env file the host has (host/env.py), and rewriting it without a deploy.

`push` writes the env `.deliver` gives each host as the env of its current release and as its
deliver.env, holding the deploy lock; the nodes keep the env they started with until they
restart, which `--restart` does batch by batch (rollout.py), as `deliver restart` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deliver.commands.rollout import HostPlan, roll_out
from deliver.commands.schedule import Rollout
from deliver.commands.targets import connected, connected_and_locked, reachable, targets
from deliver.config import Config
from deliver.errors import HostsFailed, UsageError
from deliver.hooks import StartHooks
from deliver.host.env import (
    BootedEnv,
    EnvChange,
    booted_env,
    differs,
    env_changes,
    push_env,
    read_env,
    shown_env,
    wanted_text,
)
from deliver.host.health import health_urls
from deliver.host.layout import HostReleases, read_host_releases, read_state
from deliver.host.systemd import write_systemd_env
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


@dataclass(frozen=True)
class HostEnv:
    """How one host's deliver.env compares with what `.deliver` gives it."""

    host: str
    has_file: bool
    changes: list[EnvChange]

    @property
    def in_sync(self) -> bool:
        return self.has_file and not self.changes


def env_diff(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> dict[str, HostEnv]:
    """Per host, the variables that differ between `.deliver` and its deliver.env
    (read-only; secret values are never shown, only that they differ)."""
    chosen = targets(config, environment, hosts)
    env = chosen.env

    def compare(remote: Remote) -> HostEnv:
        state = read_state(remote, env.deliver_to, config.app)
        text = read_env(remote, state.root)
        wanted = wanted_text(env, remote.host)
        changes = env_changes(env.host_env(remote.host), wanted, text or "")
        return HostEnv(remote.name, text is not None, changes)

    with connected(config, out, chosen.hosts) as remotes:
        return fan_out("reading the env", remotes, compare)


@dataclass(frozen=True)
class NodeEnv:
    """What `env show` found on one host: the release its node runs (None: no node was
    started) and current, the env file that node booted with, what may be printed of it, and
    how it compares with what `.deliver` would write now (`changes`: variable by variable)."""

    host: str
    running: str | None
    current: str | None
    booted: BootedEnv
    variables: list[tuple[str, str]]
    differs: bool
    changes: list[EnvChange]


def env_show(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> tuple[dict[str, NodeEnv], HostsFailed | None]:
    """Per host, the env file the running release booted with (secret values masked) and
    whether it differs from what `.deliver` would write now. Read-only and partial: returns
    every host that answered, in the environment's order, and the failure of the others
    (a host that cannot be reached: exit 3), for the caller to print after them."""
    chosen = targets(config, environment, hosts)
    env = chosen.env
    found: dict[str, NodeEnv] = {}

    def ask(remote: Remote) -> None:
        state = read_state(remote, env.deliver_to, config.app)
        booted = booted_env(remote, state.root, state.running)
        known = env.host_env(remote.host)
        wanted = wanted_text(env, remote.host)
        found[remote.name] = NodeEnv(
            remote.name,
            state.running,
            state.current,
            booted,
            shown_env(booted.text, known),
            differs(env, remote.host, booted.sha256),
            env_changes(known, wanted, booted.text) if booted.file else [],
        )

    out.step(f"The env each node of {environment} booted with: {chosen.names}")
    errors: dict[str, BaseException] = {}
    with reachable(config, out, chosen.hosts) as (remotes, unreachable):
        errors |= unreachable
        try:
            fan_out("reading the env", remotes, ask)
        except HostsFailed as failed:
            errors |= failed.errors
    answered = {h.name: found[h.name] for h in chosen.hosts if h.name in found}
    failure = HostsFailed("reading the env", errors, list(answered)) if errors else None
    return answered, failure


def env_push(
    config: Config,
    out: Output,
    environment: str,
    *,
    hosts: Sequence[str] = (),
    restart: bool = False,
    rollout: Rollout | None = None,
) -> list[str]:
    """Write `.deliver`'s env to every host whose deliver.env differs (as the env of its
    current release too, so a later rollback to it brings it back); with `restart`, restart
    every host batch by batch. Returns the hosts whose env was written."""
    if rollout and not restart:
        raise UsageError("a rollout (batches, rollback on failure) needs --restart")
    chosen = targets(config, environment, hosts)
    env = chosen.env
    urls = health_urls(config.health_check, env, chosen.hosts) if restart else {}
    command = "env push" + (" --restart" if restart else "")
    with connected_and_locked(config, out, chosen, command) as remotes:
        found = fan_out(
            "reading releases", remotes, lambda r: read_host_releases(r, env.deliver_to, config.app)
        )
        stale = [r for r in remotes if differs(env, r.host, found[r.name].env_sha256)]

        def push(remote: Remote) -> None:
            releases = found[remote.name]
            assert releases.current is not None
            push_env(remote, releases.root, releases.current, wanted_text(env, remote.host))
            if env.manager(remote.name).manager == "systemd":  # its unit reads its own file
                write_systemd_env(remote, releases.root)  # (a start through deliver does too)
            out.host_status(remote.name, True, f"env of {releases.current} written")

        out.step(f"Writing the env of .deliver to {len(stale)} of {len(remotes)} host(s)")
        fan_out("env push", stale, push)
        for remote in remotes:
            if remote not in stale:
                out.host_status(remote.name, True, "env already as in .deliver")
        if restart:
            plans = {name: _restart_plan(releases) for name, releases in found.items()}
            hooks = StartHooks(config, out, env)
            roll_out(config, out, env, remotes, plans, rollout or Rollout(), urls, hooks)
        elif stale:
            out.info(
                "the nodes keep the env they started with until they restart: "
                f"deliver restart {environment} (or env push --restart)"
            )
    return [r.name for r in stale]


def _restart_plan(releases: HostReleases) -> HostPlan:
    """Restart what is current; there is no release to go back to on failure (the env is
    what changed: deliver rollback boots the previous release with its own env)."""
    assert releases.current is not None
    return HostPlan(
        releases.root,
        releases.tool,
        releases.running,
        releases.current,
        switch=False,
        fallback=None,
    )
