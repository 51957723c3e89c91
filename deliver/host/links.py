"""Linking what lives outside a release into it, at deploy time, on each host.

    <deliver_to>/shared/<path>           Capistrano's linked_dirs / linked_files: kept across
                                         releases, symlinked into every release as <path>
    releases/<v>/releases/<v>/vm.args    edeliver's LINK_VM_ARGS / LINK_SYS_CONFIG: a host-local
             .../sys.config, runtime.exs file symlinked over the one the release was built with

Linked dirs are created on first use; linked files and override files must already exist on
the host (they usually hold secrets nobody wants in git), and a missing one fails the deploy
before any host is switched.
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
    lines = ["set -e"]
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


def link_release(remote: Remote, root: str, version: str, links: RuntimeLinks) -> None:
    """Make the links on one host; CommandFailed naming what is missing."""
    if links:
        remote.run(link_script(root, version, links), step="linking shared and host files")


def _replace_with_link(release: str, path: str, target: str) -> str:
    inside = f"{release}/{path}"
    parent = posixpath.dirname(inside)
    return f"mkdir -p {quote(parent)} && rm -rf {quote(inside)} && ln -s {target} {quote(inside)}"


def _require_file(path: str, problem: str) -> str:
    return f"[ -f {path} ] || {{ echo {quote(problem)}; exit 1; }}"
