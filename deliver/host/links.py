"""Linking what lives outside a release into it, at deploy time, on each host.

    <deliver_to>/shared/<path>           Capistrano's linked_dirs / linked_files: kept across
                                         releases, symlinked into every release as <path>
    releases/<v>/releases/<v>/vm.args    edeliver's LINK_VM_ARGS / LINK_SYS_CONFIG: a host-local
             .../sys.config, runtime.exs file symlinked over the one the release was built with

Linked dirs are created on first use; linked files and override files must already exist on
the host (they usually hold secrets nobody wants in git), and a missing one fails the deploy
before any host is switched.

Making a link removes what the release has at that path (`rm -rf`), so no directory on the way
to it may be a symlink: the release comes from an archive, and a symlinked parent would make
that removal happen outside deliver_to. Such a release is refused, naming the entry.
"""

from __future__ import annotations

import posixpath

from deliver.config import LINKABLE, RuntimeLinks
from deliver.shell import quote, quote_path
from deliver.transport.remote import Remote

SHARED_DIR = "shared"
_KEYS = {file: key for key, file in LINKABLE.items()}


def link_script(root: str, version: str, links: RuntimeLinks, directory: str | None = None) -> str:
    """Shell run on the host: every link of `links` made in releases/<version> (or, for a hot
    upgrade to `version`, in the directory the node runs from, releases/<directory>)."""
    release = f"{root}/releases/{directory or version}"
    where = f"releases/{directory or version}"
    lines = ["set -e", refuse_symlinks(quote(release), version, links, f"a symlink in {where}")]
    for path in links.linked_dirs:
        shared = f"{root}/{SHARED_DIR}/{path}"
        lines += [f"mkdir -p {quote(shared)}", _replace_with_link(release, path, quote(shared))]
    for path in links.linked_files:
        shared = f"{root}/{SHARED_DIR}/{path}"
        lines += [
            _require_file(quote(shared), f"linked_files: {SHARED_DIR}/{path} is missing in {root}"),
            _replace_with_link(release, path, quote(shared)),
        ]
    for file, source in links.overrides.items():
        key = f"link.{_KEYS[file]}"
        lines += [
            f"src={quote_path(source)}",
            f'case "$src" in /*) ;; *) src={quote(root)}/"$src" ;; esac',
            _require_file('"$src"', f"{key}: {source} does not exist"),
            _replace_with_link(release, f"releases/{version}/{file}", '"$src"'),
        ]
    return "\n".join(lines)


def linked_paths(version: str, links: RuntimeLinks) -> list[tuple[str, str]]:
    """(key, path inside the release) of every link `links` makes in a release of `version`."""
    paths = [("linked_dirs", path) for path in links.linked_dirs]
    paths += [("linked_files", path) for path in links.linked_files]
    paths += [(f"link.{_KEYS[file]}", f"releases/{version}/{file}") for file in links.overrides]
    return paths


def refuse_symlinks(
    release: str, version: str, links: RuntimeLinks, problem: str, *, leaves: bool = False
) -> str:
    """Shell: exit 1 when a directory on the way to a link of `links` inside `release` (a
    quoted shell word) is a symlink, and with `leaves` when the link's own path is one too
    (in a freshly extracted archive, where deliver made no link yet). The message names the
    key, the path and the entry, then `problem`."""
    lines = []
    for key, path in linked_paths(version, links):
        parts = path.split("/")
        for depth in range(1, len(parts) + (1 if leaves else 0)):
            entry = "/".join(parts[:depth])
            message = f"{key}: {path}: {entry} is {problem}"
            lines.append(
                f"[ ! -L {release}/{quote(entry)} ] || {{ echo {quote(message)}; exit 1; }}"
            )
    return "\n".join(lines)


def link_release(remote: Remote, root: str, version: str, links: RuntimeLinks) -> None:
    """Make the links on one host; CommandFailed naming what is missing."""
    if links:
        remote.run(link_script(root, version, links), step="linking shared and host files")


def _replace_with_link(release: str, path: str, target: str) -> str:
    # no directory on the way is a symlink (refuse_symlinks ran first), and `ln -s` without -f
    # creates the link or fails: it never follows what is at the name
    inside = f"{release}/{path}"
    parent = posixpath.dirname(inside)
    return f"mkdir -p {quote(parent)} && rm -rf {quote(inside)} && ln -s {target} {quote(inside)}"


def _require_file(path: str, problem: str) -> str:
    return f"[ -f {path} ] || {{ echo {quote(problem)}; exit 1; }}"
