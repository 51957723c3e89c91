"""Putting a release on one deploy host: the read-only preflight, the upload (or the host's own
fetch from the store) verified by sha256, and extraction into a fresh directory renamed into
place, with the host's env file. The layout itself is host/layout.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from deliver.config import Environment
from deliver.errors import DeliverError, UsageError
from deliver.host.layout import ENV_FILE, FREE_SPACE, check_free_space, switch_current
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.shell import check_sha256, join, parse_key_values, quote, quote_path
from deliver.transport.remote import Progress, Remote

#: An extracted release takes about three times its compressed archive.
SPACE_FACTOR = 4


@dataclass(frozen=True)
class Preflight:
    root: str
    current: str | None
    has_archive: bool
    has_release: bool
    running: str | None = None  # what the node was started from (None: no node started)


def preflight(remote: Remote, env: Environment, release: Release) -> Preflight:
    """Create the release root if needed and report what the host already has."""
    version = quote(release.version)
    script = join(
        f"mkdir -p {quote_path(env.deliver_to)}/releases",
        f"cd {quote_path(env.deliver_to)}",
        "echo ROOT=$(pwd -P)",
        'echo CURRENT=$(basename "$(readlink current)" 2>/dev/null)',
        '[ ! -e running ] || echo RUNNING=$(basename "$(readlink running)")',
        f"echo ARCHIVE=$(cat releases/{version}.tar.gz.sha256 2>/dev/null)",
        f"echo RELEASE=$(cat releases/{version}/.deliver-sha256 2>/dev/null)",
        # a hot upgrade leaves an alias releases/<new> -> <old>, and <old> booting <new>
        f"{{ [ ! -L releases/{version} ] || echo ALIAS=yes; }}",
        f"echo BOOTS=$(cut -d' ' -f2 releases/{version}/releases/start_erl.data 2>/dev/null)",
        f'for l in running current releases/*; do [ "$(readlink "$l")" != {version} ] && '
        f'[ "$(readlink "$l")" != releases/{version} ] || echo IN_USE="$l"; done',
        FREE_SPACE,
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
        values.get("RUNNING") or None,
    )
    if check.current == release.version and not check.has_release and not alias:
        raise UsageError(
            f"{remote.name} runs a different build of {release.version}",
            hint="give the new build a new version",
        )
    needed = (0 if check.has_archive else release.size) + (
        0 if check.has_release else release.size * SPACE_FACTOR
    )
    check_free_space(remote.name, check.root, values, needed)
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
            check_sha256(quote(partial), release.sha256, remove=True),
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
