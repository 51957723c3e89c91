"""Builds identified by commit, and the build lock, on the real sandbox build host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import on_host
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config

pytestmark = pytest.mark.slow


def test_a_stored_commit_is_reused_by_anyone_and_only_force_replaces_it(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(built_app.store, store)
    manifest = store / "hello_0.1.0.release.json"
    stored = json.loads(manifest.read_text())
    assert (stored["mix_env"], stored["dirty"]) == ("prod", False)
    # .deliver*.yml is git-ignored in the sample repo: the config is no change to the tree
    config = write_config(
        built_app.repo / ".deliver-identity.yml", sandbox, deliver_to="~/unused", store=store
    )

    reused = run_cli("--config", config, "build", "release")
    assert reused.exit_code == 0, reused.output
    assert f"Reusing hello 0.1.0: {store} holds the build of this commit" in reused.stdout
    assert "(--force rebuilds it)" in reused.stdout
    assert "Preparing build directory" not in reused.stdout  # the build host is not even asked
    assert json.loads(manifest.read_text()) == stored

    # a teammate's clone of the same commit, with changes it has not committed: the same build
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(built_app.repo), str(mate))
    counter = mate / "lib/hello/counter.ex"
    counter.write_text(counter.read_text() + "\n# not committed\n")
    mate_config = write_config(
        mate / ".deliver-identity.yml", sandbox, deliver_to="~/unused", store=store
    )
    theirs = run_cli("--config", mate_config, "build", "release")
    assert theirs.exit_code == 0, theirs.output
    assert "Reusing hello 0.1.0" in theirs.stdout
    assert "uncommitted changes are not built" in theirs.stderr

    # a build tree that holds more than the commit (--skip-git-clean keeps a stray file) makes
    # a dirty build: not the commit's, so it may not take the version's place
    # (a module: an empty file compiles to nothing, and the reproducible archive would then
    # be the stored one, byte for byte, which is kept)
    on_host(sandbox, "build", "echo 'defmodule Stray, do: nil' > ~/build/hello/lib/stray.ex")
    dirty = run_cli("--config", config, "build", "release", "--skip-git-clean")
    assert dirty.exit_code == 2, dirty.output
    assert "the build tree on build differs from commit" in dirty.stderr
    assert "(lib/stray.ex): the release is recorded as a dirty build" in dirty.stderr
    commit = stored["commit"][:10]
    assert (
        f"error: hello 0.1.0 is already in {store} as a different build: stored commit "
        f"{commit} (sha256 {stored['sha256'][:16]}, mix, MIX_ENV=prod), this build commit "
        f"{commit}, dirty tree (sha256 "
    ) in dirty.stderr
    assert "deliver deploy release --force" in dirty.stderr
    assert json.loads(manifest.read_text()) == stored

    rebuilt = run_cli("--config", config, "build", "release", "--force")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Storing hello_0.1.0.release.tar.gz" in rebuilt.stdout
    replaced = json.loads(manifest.read_text())
    assert replaced["commit"] == stored["commit"] and replaced["dirty"] is False
    assert replaced["built_at"] >= stored["built_at"]


def lock_held(sandbox: Sandbox, build_dir: str) -> bool:
    found = on_host(sandbox, "build", f"test -d {build_dir}/.git/.deliver.lock && echo held")
    return found == "held"


def test_two_concurrent_builds_take_turns_in_one_build_directory(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(repo / ".deliver-lock.yml", sandbox, deliver_to="~/unused")
    config.write_text(config.read_text().replace("~/build/hello", "~/build/locked"))
    deliver = Path(sys.executable).parent / "deliver"
    first = subprocess.Popen(
        [str(deliver), "--config", str(config), "build", "release"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while not lock_held(sandbox, "~/build/locked"):
            assert first.poll() is None and time.monotonic() < deadline, "no lock was taken"
            time.sleep(0.1)

        refused = run_cli("--config", config, "build", "release")
        assert refused.exit_code == 1, refused.output
        assert "error: the build directory ~/build/locked on build is locked by " in (
            refused.stderr
        )
        assert "(build release 0.1.0)" in refused.stderr
        assert "wait for that build (--lock-wait=SECONDS)" in refused.stderr

        waited = run_cli("--lock-wait", "300", "--config", config, "build", "release")
        assert waited.exit_code == 0, waited.output
        assert "is locked by" in waited.stdout and ": waiting" in waited.stdout
        # by then the first build stored this very build: nothing to build again
        assert "Reusing hello 0.1.0" in waited.stdout
        assert "Packing release archive" not in waited.stdout
    finally:
        output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert "Built hello 0.1.0" in output
    assert not lock_held(sandbox, "~/build/locked")  # given back
