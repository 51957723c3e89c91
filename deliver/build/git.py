"""The app's git repository: which commit to build, and pushing it to the build host.

Pushing is plain `git push` over the system `ssh` with the same known_hosts, identity and
ssh_config as every other connection, so git's negotiation sends only the objects the build
host lacks.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from deliver.config import HostSpec, SshSettings
from deliver.errors import DeliverError, UsageError

BUILD_REF = "refs/deliver/build"


@dataclass(frozen=True)
class Revision:
    commit: str
    branch: str | None
    description: str


def resolve_revision(
    project_dir: Path,
    *,
    revision: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
) -> Revision:
    """The commit to build: --revision, --tag, --branch's head, or the current branch's head."""
    import git

    try:
        repo = git.Repo(project_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(
            f"{project_dir} is not inside a git repository",
            hint="deliver builds committed code: run it in your app's repo",
        ) from None
    chosen = [v for v in (revision, tag) if v]
    if len(chosen) > 1:
        raise UsageError("give only one of a revision and a tag")
    if branch is None and not repo.head.is_detached:
        branch = repo.active_branch.name
    ref = revision or (f"refs/tags/{tag}" if tag else None) or branch or "HEAD"
    try:
        commit = repo.commit(ref).hexsha
    except (git.BadName, ValueError):
        kind = "tag" if tag else "revision" if revision else "branch"
        raise UsageError(
            f"{kind} {tag or revision or branch} not found in {repo.working_dir}"
        ) from None
    return Revision(commit, branch, tag or revision or branch or commit[:10])


def working_tree_dirty(project_dir: Path) -> bool:
    import git

    return git.Repo(project_dir, search_parent_directories=True).is_dirty(untracked_files=False)


#: Where an Elixir or Erlang project keeps what a release is built from: a new file here
#: that git does not know is as surely missing from the build as an uncommitted change.
SOURCE_PATHS = ("lib/", "src/", "config/", "apps/", "priv/", "rel/", "include/", "assets/")


def untracked_sources(project_dir: Path) -> list[str]:
    """Untracked (and not ignored) files under the project's source paths, relative to it."""
    import git

    repo = git.Repo(project_dir, search_parent_directories=True)
    top = Path(repo.working_tree_dir or project_dir).resolve()
    inside = project_dir.resolve().relative_to(top).as_posix()
    prefix = "" if inside == "." else inside + "/"
    return sorted(
        path.removeprefix(prefix)
        for path in repo.untracked_files
        if path.startswith(prefix) and path.removeprefix(prefix).startswith(SOURCE_PATHS)
    )


def ssh_command(settings: SshSettings, connect_timeout: float | None = None) -> str:
    """The `ssh` command line git uses, with our strict host key settings."""
    options = [
        "ssh",
        "-F",
        str(settings.config_file or "/dev/null"),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={settings.known_hosts}",
        "-o",
        f"ConnectTimeout={int(connect_timeout or settings.connect_timeout)}",
    ]
    if settings.identity is not None:
        options += ["-i", str(settings.identity), "-o", "IdentitiesOnly=yes"]
    return shlex.join(options)


def ssh_url(host: HostSpec, path: str) -> str:
    user = f"{host.user}@" if host.user else ""
    port = f":{host.port}" if host.port else ""
    hostname = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
    return f"ssh://{user}{hostname}{port}{path}"


def push(project_dir: Path, commit: str, host: HostSpec, path: str, settings: SshSettings) -> str:
    """Push `commit` to the repository at absolute `path` on `host` (a plain path for
    localhost); returns git's output."""
    import git

    repo = git.Repo(project_dir, search_parent_directories=True)
    try:
        return str(
            repo.git.push(
                "--force",
                "--porcelain",
                path if host.is_local else ssh_url(host, path),
                f"{commit}:{BUILD_REF}",
                env={"GIT_SSH_COMMAND": ssh_command(settings)},
                with_extended_output=False,
            )
        )
    except git.GitCommandError as error:
        stderr = (error.stderr or "").strip().removeprefix("stderr:").strip(" '\n")
        raise DeliverError(f"git push to {host.name} failed: {stderr or error}") from None
