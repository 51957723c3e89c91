"""Putting a release on one deploy host: the read-only preflight, the upload (or the host's own
fetch from the store) verified by sha256, and extraction into a fresh directory renamed into
place, with the host's env file. The layout itself is host/layout.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deliver.config import Environment, HostSpec, RuntimeLinks
from deliver.errors import DeliverError, NodeError, UsageError
from deliver.host.layout import (
    ENV_SHA256,
    FREE_SPACE,
    RELEASE_ENV_FILE,
    check_free_space,
    replace_file,
    switch_current,
)
from deliver.host.links import link_script, refuse_symlinks
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.shell import (
    check_sha256,
    env_file_text,
    join,
    parse_key_values,
    quote,
    quote_path,
)
from deliver.transport.remote import Progress, Remote

#: What `dist: {interface: loopback}` adds to ERL_AFLAGS in the env file: the distribution
#: port listens on 127.0.0.1 only, so nothing off the host reaches the node.
DIST_LOOPBACK_FLAGS = "-kernel inet_dist_use_interface {127,0,0,1}"
#: Shell: the first tool missing of those receiving an archive needs.
_HAS_TOOLS = (
    "for t in tar gzip sha256sum mkfifo tee dd; do "
    'command -v "$t" >/dev/null 2>&1 || { echo MISSING="$t"; break; }; done'
)
#: An extracted release takes about three times its compressed archive.
SPACE_FACTOR = 4


@dataclass(frozen=True)
class Preflight:
    root: str
    current: str | None
    has_archive: bool
    has_release: bool
    running: str | None = None  # what the node was started from (None: no node started)
    env_sha256: str | None = None  # of the host's deliver.env (None: it has none)


def preflight(
    remote: Remote, env: Environment, release: Release, *, force: bool = False
) -> Preflight:
    """Create the release root if needed (its releases/ private) and report what the host
    already has. A different build of the version on the host is refused (DifferentBuild on
    the host, naming both), unless `force` replaces it; never the directory a node runs from."""
    version = quote(release.version)
    script = join(
        f"mkdir -p {quote_path(env.deliver_to)}/releases",
        f"cd {quote_path(env.deliver_to)}",
        # releases/ is deliver's own: private also where an older deliver left it 0755 around
        # releases whose cookie (the same in every build) is world-readable
        "chmod 0700 releases",
        "echo ROOT=$(pwd -P)",
        'echo CURRENT=$(basename "$(readlink current)" 2>/dev/null)',
        '[ ! -e running ] || echo RUNNING=$(basename "$(readlink running)")',
        f"echo ARCHIVE=$(cat releases/{version}.tar.gz.sha256 2>/dev/null)",
        f"echo RELEASE=$(cat releases/{version}/.deliver-sha256 2>/dev/null)",
        ENV_SHA256,
        f"echo COMMIT=$(head -n 1 releases/{version}/.deliver-revision 2>/dev/null)",
        # a hot upgrade leaves an alias releases/<new> -> <old>, and <old> booting <new>
        f"{{ [ ! -L releases/{version} ] || echo ALIAS=yes; }}",
        f"echo BOOTS=$(cut -d' ' -f2 releases/{version}/releases/start_erl.data 2>/dev/null)",
        f'for l in running current releases/*; do [ "$(readlink "$l")" != {version} ] && '
        f'[ "$(readlink "$l")" != releases/{version} ] || echo IN_USE="$l"; done',
        FREE_SPACE,
        _HAS_TOOLS,
    )
    values = parse_key_values(remote.run(script, step="preflight").stdout)
    _require_tools(remote.name, values)
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
        values.get("ENV_SHA256") or None,
    )
    # a build of the version is there already (or current names one deliver cannot identify)
    held = values.get("RELEASE") or check.current == release.version
    if held and not check.has_release and not alias and not hot:
        _replaceable(remote.name, env.name, release, values, check, force)
    # nothing is sent to a host that has the release, even without its archive
    needed = (0 if check.has_archive or check.has_release else release.size) + (
        0 if check.has_release else release.size * SPACE_FACTOR
    )
    check_free_space(remote.name, check.root, values, needed)
    return check


def _require_tools(host: str, values: Mapping[str, str]) -> None:
    if values.get("MISSING"):
        raise NodeError(
            host,
            f"has no {values['MISSING']}, which deploys need (with tar, gzip, sha256sum, "
            "mkfifo, tee, dd: coreutils)",
        )


def _replaceable(
    host: str,
    environment: str,
    release: Release,
    values: Mapping[str, str],
    check: Preflight,
    force: bool,
) -> None:
    """The host holds another build of `release.version`: refused unless `force`, and even
    then while a node runs from its directory (it is never removed under a running node)."""
    held = f"commit {_hex(values.get('COMMIT'), 10)} (sha256 {_hex(values.get('RELEASE'), 16)})"
    store = f"commit {release.commit[:10]} (sha256 {release.sha256[:16]})"
    if not force:
        refused = NodeError(
            host,
            f"holds a different build of {release.app} {release.version}: {held} on the "
            f"host, {store} in the store",
        )
        refused.hint = (
            "give the new build a new version (deliver build release --increment-version"
            "=patch), or replace the hosts' build with deliver deploy release --force"
        )
        raise refused
    if check.running == release.version:
        running = NodeError(
            host,
            f"its node runs from releases/{release.version}, {held}: deliver never "
            f"replaces the directory a running node runs from",
        )
        running.hint = (
            f"give the new build a new version; or stop the nodes that run it first (deliver "
            f"stop {environment}, --host for some), deploy with --force, then deliver start "
            f"{environment}"
        )
        raise running


def _hex(value: str | None, length: int) -> str:
    """A hex id a host reported (hostile text), shortened; `?` when it is not one."""
    text = (value or "")[:length]
    return text if text and all(c in "0123456789abcdef" for c in text) else "?"


def upload(
    remote: Remote, root: str, release: Release, store: ReleaseStore, progress: Progress | None
) -> None:
    """Bring the archive to a fresh temporary name (uploaded, or fetched by the host from the
    store), verify its sha256, and only then give it its name."""
    releases = f"{root}/releases"
    name = host_archive(release)
    # mktemp makes the name (exclusively, 0600): what is at a fixed name would be written through
    partial = remote.run(
        f"mktemp {quote(f'{releases}/.{name}.part.')}XXXXXX", step="uploading"
    ).stdout.strip()
    try:
        store.send_to_host(release, remote, partial, progress)
    except DeliverError:
        remote.run(f"rm -f {quote(partial)}", check=False)
        raise
    remote.run(
        join(
            check_sha256(quote(partial), release.sha256, remove=True),
            f"mv -T {quote(partial)} {quote(f'{releases}/{name}')}",
            replace_file(quote(releases), f"{name}.sha256", f"echo {quote(release.sha256)}"),
        ),
        step="verifying the upload",
    )


def node_env_text(env: Environment, host: HostSpec) -> str:
    """The host's env file: the environment's env, then the host's; with `dist: {interface:
    loopback}`, ERL_AFLAGS then binds the node's distribution to 127.0.0.1, added to whatever
    ERL_AFLAGS holds (from the env above or the host's own environment)."""
    text = env_file_text(env.host_env(host))
    if env.dist_interface == "loopback":
        text += f'export ERL_AFLAGS="${{ERL_AFLAGS:+$ERL_AFLAGS }}{DIST_LOOPBACK_FLAGS}"\n'
    return text


def host_archive(release: Release) -> str:
    """The archive's name in a host's releases/: `<version>.tar.gz`, `<version>.upgrade.tar.gz`."""
    kind = "" if release.kind == "release" else f".{release.kind}"
    return f"{release.version}{kind}.tar.gz"


def extract(
    remote: Remote,
    check: Preflight,
    release: Release,
    env_text: str,
    links: RuntimeLinks | None = None,
) -> None:
    """Extract the archive the host holds (hashed again in the same pass) into a fresh
    directory renamed into place, unless the host has the release already; keep the host's
    env file with the release. One script; see `receive` for what is refused."""
    source = "" if check.has_release else f"releases/{quote(host_archive(release))}"
    script = prepare_script(check.root, release, links or RuntimeLinks(), source, env_text)
    remote.run(script, step="extracting", stdin=env_text.encode())


def receive(
    remote: Remote,
    check: Preflight,
    release: Release,
    env_text: str,
    links: RuntimeLinks,
    archive: Path | None,
    progress: Progress | None = None,
) -> None:
    """The prepare phase on one host, in one script: the archive (`archive`, streamed from
    here and kept beside the release; or the one the host holds; or none when the host has
    the release) goes straight into extraction into a fresh directory while the host computes
    its sha256 in the same pass; only a matching hash, an archive that holds none of
    deliver's own `.deliver-*` names, no device, fifo or socket and no symlink on the way to
    one of `links` is renamed into place. Then the env file kept with the release and the
    links. Any failure removes the fresh directory: CommandFailed naming the host and why
    (both hashes for a mismatch)."""
    env = env_text.encode()
    if archive is None:
        source = "" if check.has_release else f"releases/{quote(host_archive(release))}"
        script = prepare_script(check.root, release, links, source, env_text, link=True)
        remote.run(script, step="extracting", stdin=env)
        return
    script = prepare_script(check.root, release, links, "-", env_text, link=True)
    remote.feed(script, archive, head=env, step="uploading and extracting", progress=progress)


def prepare_script(
    root: str,
    release: Release,
    links: RuntimeLinks,
    source: str,
    env_text: str,
    *,
    link: bool = False,
) -> str:
    """Shell, one script: in a fresh work directory (mktemp -d: 0700, a name nobody could
    have planted; removed on any exit), the env file read from the first bytes of stdin,
    the release unpacked from `source` (`-`: the rest of stdin, kept as the host's archive;
    a quoted path: a held archive; empty: nothing to unpack), then the env file and (with
    `link`) the links put in place."""
    lines = [
        "set -e",
        f"cd {quote(root)}",
        f"work=$(mktemp -d releases/{quote(f'.{release.version}.new.')}XXXXXX)",
        """trap 'rm -rf "$work"' EXIT""",
        "trap 'exit 1' HUP INT TERM",
        # dd with bs=1 never reads past the env file's bytes: the archive follows them; the
        # env file holds secrets, 0600 whatever the umask; status=none keeps its errors (a full
        # disk) and drops only its statistics
        f'(umask 077 && dd bs=1 count={len(env_text.encode())} of="$work/env" status=none)',
    ]
    if source:
        lines.append(_unpack_script(release, links, source))
    # the env travels with the release (0600): deliver.env once `current` is switched to it
    lines += [
        f'mv -T "$work/env" releases/{quote(release.version)}/{RELEASE_ENV_FILE}',
        link_script(root, release.version, links) if link and links else "",
        'rm -rf "$work"',
        "trap - EXIT",
    ]
    return "\n".join(line for line in lines if line)


#: Shell: refuse an archive ("$fresh") holding a top-level `.deliver-*` entry of any kind:
#: deliver writes those names (through a planted link: outside deliver_to).
_REFUSE_MARKS = """for f in "$fresh"/.deliver-*; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    echo "refusing the archive: it holds ${f##*/} ($(stat -c %F "$f")), a name deliver writes"
    exit 1
  fi
done"""

#: Shell: refuse devices, fifos and sockets anywhere in it (as root, tar would make a device).
_REFUSE_SPECIAL = """odd=$(find "$fresh" \\( -type b -o -type c -o -type p -o -type s \\) -print |
  head -n 1)
if [ -n "$odd" ]; then
  echo "refusing the archive: it holds ${odd#"$fresh"/} ($(stat -c %F "$odd")), no release does"
  exit 1
fi"""

#: Shell: the Erlang cookie is the key to the node (whoever reads it runs code as the deploy
#: user): mix's releases/COOKIE read-only for its owner, relx's vm.args (-setcookie) 0600.
#: find -P neither follows a symlink nor changes the file one points at.
_PRIVATE_COOKIE = """if [ -d "$fresh/releases" ]; then
  find "$fresh/releases" -maxdepth 1 -name COOKIE -type f -exec chmod 0400 {} +
  find "$fresh/releases" -mindepth 2 -maxdepth 2 -name vm.args -type f -exec chmod 0600 {} +
fi"""


def _unpack_script(release: Release, links: RuntimeLinks, source: str) -> str:
    """Shell, in the release root with "$work" made: one pass over the archive's bytes from
    `source` (`-`: stdin, also written to the host's archive) through tee into tar and
    sha256sum at once; the hash, the entries and the cookie checked; then renamed over
    releases/<version> (and the archive over releases/<version>.tar.gz)."""
    version = quote(release.version)
    fresh = '"$work/tree"'
    revision = f"printf '%s\\n' {quote(release.commit)} {quote(release.branch or '')}"
    marks = "\n".join(
        [
            replace_file(fresh, ".deliver-tool", f"echo {quote(release.tool)}"),
            replace_file(fresh, ".deliver-sha256", f"echo {quote(release.sha256)}"),
            replace_file(fresh, ".deliver-revision", revision),
        ]
    )
    symlinks = refuse_symlinks(
        fresh, release.version, links, "a symlink in the archive: refusing it", leaves=True
    )
    keep = source == "-"
    expected = quote(release.sha256)
    kept = (
        f'mv -T "$work/archive" releases/{quote(host_archive(release))}\n'
        + replace_file("releases", f"{host_archive(release)}.sha256", f"echo {expected}")
        if keep
        else ""
    )
    return f"""{_stream_script(source, release.sha256)}
fresh={fresh}
{_REFUSE_MARKS}
{_REFUSE_SPECIAL}
{symlinks}
{_PRIVATE_COOKIE}
{marks}
if [ "$(readlink running)" = releases/{version} ]; then
  echo "refusing to replace releases/{release.version}: the running node runs from it"; exit 1
fi
{kept}
rm -rf releases/{version}
mv -T "$work/tree" releases/{version}
"""


def _stream_script(source: str, sha256: str) -> str:
    """Shell: the archive from `source` (`-`: stdin, written to "$work/archive" too) through
    tee into tar (into "$work/tree") and into sha256sum (over a fifo) in one pass; exit 1
    unless tar, tee and the hash all succeed."""
    keep = source == "-"
    tee = 'tee "$work/fifo" "$work/archive"' if keep else f'tee "$work/fifo" < {source}'
    # a held archive that fails its hash is no use to anyone: it goes too
    drop = "" if keep else f"rm -f {source}; "
    mismatch = f"sha256 mismatch: expected {sha256}, got $got"
    # GNU tar refuses `..`, absolute names and writing through links it extracted, and takes
    # neither owners nor modes. tee's status goes to a file (sh has no pipefail): a short write
    # (disk full) fails the deploy. A failing tar drains its input, so the hash covers every
    # byte; when tee failed, sha256sum may never see its fifo opened: it is killed
    return f"""mkdir -m 0700 "$work/tree"
mkfifo "$work/fifo"
sha256sum < "$work/fifo" > "$work/sum" &
sum_pid=$!
if ! {{ {tee}; echo $? > "$work/tee"; }} |
  {{ tar -xzf - -C "$work/tree" --no-same-owner --no-same-permissions ||
    {{ s=$?; cat > /dev/null; exit $s; }}; }}; then
  if [ "$(cat "$work/tee" 2>/dev/null)" != 0 ]; then
    kill "$sum_pid" 2>/dev/null || :; echo "writing the archive failed"; exit 1
  fi
  wait "$sum_pid" || :
  got=$(cut -d' ' -f1 "$work/sum")
  if [ "$got" != {quote(sha256)} ]; then
    {drop}echo "the archive arrived corrupted ({mismatch})"; exit 1
  fi
  echo "extracting the release failed"; exit 1
fi
wait "$sum_pid"
got=$(cut -d' ' -f1 "$work/sum")
if [ "$(cat "$work/tee")" != 0 ]; then echo "writing the archive failed"; exit 1; fi
if [ "$got" != {quote(sha256)} ]; then
  {drop}echo "the archive arrived corrupted ({mismatch})"
  exit 1
fi"""


def switch(remote: Remote, root: str, version: str) -> None:
    """Point `current` at the release with one rename: there is no moment without it."""
    switch_current(remote, root, version)
