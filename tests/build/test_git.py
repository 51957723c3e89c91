"""The app's git repository: what a build would leave out."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deliver.build.git import untracked_sources


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_untracked_sources_lists_new_files_a_build_would_miss(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    (repo / "apps" / "web" / "lib").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("/_build/\n")
    (repo / "mix.exs").write_text("# mix\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    (repo / "apps" / "web" / "lib" / "new_page.ex").write_text("# forgotten\n")
    (repo / "NOTES.txt").write_text("not a source\n")
    (repo / "_build").mkdir()
    (repo / "_build" / "x.beam").write_text("ignored\n")
    assert untracked_sources(repo) == ["apps/web/lib/new_page.ex"]
    # from a project inside a bigger repository, paths are the project's own
    assert untracked_sources(repo / "apps" / "web") == ["lib/new_page.ex"]
