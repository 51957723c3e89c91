"""`deliver build release`: build on the build host, then store the archive (a remote or S3
store receives it from the build host directly).

Every step runs over the one SSH connection to the build host. The build tree is reset to the
exact commit pushed, the assembled release is removed before the build (a stale release is never
shipped), and the version comes from the release the tool just built (`start_erl.data`).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

from deliver import git
from deliver.config import BuildConfig, Config
from deliver.errors import CommandFailed, DeliverError
from deliver.hosts import connect_all
from deliver.output import Output
from deliver.release import Release, archive_name, now
from deliver.release_store import open_store
from deliver.remote import Remote
from deliver.shell import exports, join, parse_key_values, quote, quote_path
from deliver.tools import build_tool, detect_tool

_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")


def build_release(
    config: Config,
    out: Output,
    *,
    revision: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
) -> Release:
    """Build the release of `revision`/`tag`/`branch` (default: current branch) into the store.

    Raises UsageError for unknown refs, ConnectionFailed for the build host, CommandFailed with
    the failing step and its output tail, DeliverError when the archive arrives corrupted.
    """
    build = config.require_build()
    tool_name = detect_tool(config.project_dir, build, config.source)
    tool = build_tool(tool_name)
    target = git.resolve_revision(
        config.project_dir, revision=revision, tag=tag, branch=branch or build.branch
    )
    if git.working_tree_dirty(config.project_dir):
        out.warning(f"uncommitted changes are not built: building commit {target.commit[:10]}")
    host = build.host.name
    with ExitStack() as opened:
        store = opened.enter_context(open_store(config, out, verbose=out.verbose, debug=out.debug))
        # a store that cannot take the release fails now, not after the build
        store.check()
        (remote,) = opened.enter_context(
            connect_all([build.host], config.ssh, out, verbose=out.verbose, debug=out.debug)
        )
        store.check_host(remote)
        out.step(f"Preparing build directory {build.at} on {host}")
        build_dir = prepare_build_dir(remote, build.at)
        out.step(f"Pushing {target.description} ({target.commit[:10]}) to {host}")
        pushed = git.push(config.project_dir, target.commit, build.host, build_dir, config.ssh)
        out.detail(pushed)
        out.step(f"Resetting build tree to {target.commit[:10]}")
        remote.run(reset_command(build_dir, target.commit, build), step="reset")
        for step in tool.build_steps(config.app, build):
            out.step(f"{step.title} ({tool_name}, MIX_ENV={build.mix_env})")
            remote.run(in_build_dir(build_dir, build, step.command), step=step.title)
        out.step("Packing release archive")
        packed = pack(remote, build_dir, config.app, tool.release_root(config.app, build))
        release = Release(
            app=config.app,
            version=packed["VERSION"],
            commit=target.commit,
            branch=target.branch,
            tool=tool_name,
            built_at=now(),
            sha256=packed["SHA256"],
            size=int(packed["SIZE"]),
        )
        out.step(f"Storing {release.archive_name} ({_megabytes(release.size)}) in {store.location}")
        totals = {host: release.size} if store.is_local else {}
        with out.progress("fetching from", totals) as advance_for:
            store.receive_from_host(release, remote, packed["ARCHIVE"], advance_for(host))
        out.step(f"Built {config.app} {release.version} -> {store.where(release)}")
    return release


def prepare_build_dir(remote: Remote, at: str) -> str:
    """Make sure a git repository exists at `at` on the build host; returns its absolute path."""
    path = quote_path(at)
    script = join(
        f"mkdir -p {path}",
        f"cd {path}",
        "{ git rev-parse --git-dir >/dev/null 2>&1 || git init -q; }",
        "command -v git >/dev/null",
        "pwd -P",
    )
    return remote.run(script, step="preparing the build directory").stdout.strip()


def reset_command(build_dir: str, commit: str, build: BuildConfig) -> str:
    """Check out exactly `commit`, drop untracked files (deps and _build are git-ignored and
    kept for incremental builds), and remove the configured generated paths."""
    paths = [p.format(mix_env=build.mix_env) for p in build.clean_paths]
    remove = f"rm -rf -- {' '.join(quote(p) for p in paths)}" if paths else ""
    return join(
        f"cd {quote(build_dir)}",
        f"git reset -q --hard {quote(commit)}",
        "git clean -q -ffd",
        remove,
    )


def in_build_dir(build_dir: str, build: BuildConfig, command: str) -> str:
    env = exports({"MIX_ENV": build.mix_env, **build.env})
    return join(f"cd {quote(build_dir)}", env, f"{command} 2>&1")


def pack(remote: Remote, build_dir: str, app: str, release_root: str) -> dict[str, str]:
    """Tar the assembled release on the build host; returns VERSION, ARCHIVE, SHA256, SIZE."""
    root = quote(release_root)
    script = f"""set -e
cd {quote(build_dir)}
if [ ! -f {root}/releases/start_erl.data ]; then
  echo "no release was assembled at {release_root}"; exit 1
fi
version=$(cut -d' ' -f2 {root}/releases/start_erl.data)
mkdir -p _build/deliver && rm -f _build/deliver/*.tar.gz
archive="$PWD/_build/deliver/{app}_$version.release.tar.gz"
tar -czf "$archive" -C {root} .
echo VERSION="$version"
echo ARCHIVE="$archive"
echo SHA256="$(sha256sum "$archive" | cut -d' ' -f1)"
echo SIZE="$(stat -c %s "$archive")"
"""
    values = parse_key_values(remote.run(script, step="packing the release").stdout)
    if not _VERSION.match(values.get("VERSION", "")):
        raise CommandFailed(
            remote.name,
            "pack",
            1,
            f"unusable version {values.get('VERSION')!r} in start_erl.data",
            "packing the release",
        )
    expected = archive_name(app, values["VERSION"])
    if Path(values["ARCHIVE"]).name != expected:
        raise DeliverError(f"unexpected archive name {values['ARCHIVE']} (wanted {expected})")
    return values


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
