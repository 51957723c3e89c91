"""`build upgrade --from-env=ENV`: the releases an environment's hosts run, so one relup can
take every host, whichever version it is on (UpFrom/DownTo hold each of them).

Each host is asked over one connection, in parallel: its running node's version (after a hot
upgrade, the version the node runs, not its directory's name), or when the node does not
answer (stopped, or without a RELEASES file) the version its `current` names. Each version
found must be in the store: it is taken from there, as `--with` would take it.
"""

from __future__ import annotations

from deliver.commands.targets import connected, targets
from deliver.config import Config, Environment
from deliver.errors import NodeError, ReleaseNotFound, UsageError
from deliver.host.layout import read_state
from deliver.host.release_handler import running_node
from deliver.output import Output
from deliver.release import Release, version_key
from deliver.release_store import ReleaseStore
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


def deployed_releases(
    config: Config, out: Output, store: ReleaseStore, environment: str
) -> list[Release]:
    """The stored release of every version the hosts of `environment` run, oldest first.
    Raises ConfigError for an unknown environment, HostsFailed for hosts that cannot be
    reached or have nothing deployed, UsageError for a version the store does not hold."""
    chosen = targets(config, environment)
    out.step(f"Asking the hosts of {environment} which version they run")
    with connected(config, out, chosen.hosts) as remotes:
        versions = fan_out("detect", remotes, lambda r: _version(r, chosen.env, config.app))
    out.step(
        f"{environment} runs "
        + ", ".join(f"{host} {version}" for host, version in sorted(versions.items()))
    )
    releases = []
    for version in sorted(set(versions.values()), key=version_key):
        try:
            releases.append(store.find(config.app, version))
        except ReleaseNotFound:
            hosts = ", ".join(h for h, v in sorted(versions.items()) if v == version)
            raise UsageError(
                f"{hosts} run(s) {config.app} {version}, which {store.location} does not hold",
                hint=f"give its git ref instead: --from=<the ref {version} was built from>",
            ) from None
    return releases


def _version(remote: Remote, env: Environment, app: str) -> str:
    """What this host runs: its node's version, else what its `current` names."""
    try:
        return running_node(remote, env, app).version
    except NodeError:
        current = read_state(remote, env.deliver_to, app).current
        if current is None:
            raise NodeError(remote.name, f"no release of {app} is deployed") from None
        return current
