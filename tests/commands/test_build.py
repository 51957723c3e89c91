"""`deliver build release` against a real sandbox build host and a real mix build."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config

pytestmark = pytest.mark.slow


def test_build_stores_archive_and_manifest(built_app: BuiltApp) -> None:
    manifest = json.loads((built_app.store / "hello_0.1.0.release.json").read_text())
    archive = built_app.store / "hello_0.1.0.release.tar.gz"
    assert manifest["commit"] == git(built_app.repo, "rev-parse", "HEAD")
    assert manifest["branch"] == "main"
    assert manifest["tool"] == "mix"
    assert manifest["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["size"] == archive.stat().st_size
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "./bin/hello" in names and "./releases/0.1.0/start.boot" in names


def remote_object_count(sandbox: Sandbox, build_dir: str) -> int:
    output = subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), "build", f"git -C {build_dir} count-objects -v"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    values = dict(line.split(": ") for line in output.splitlines())
    return int(values["count"]) + int(values["in-pack"])


def test_second_build_pushes_only_the_new_commit_and_ships_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused").read_text()
    (repo / ".deliver").write_text(config.replace("~/build/hello", "~/build/incremental"))
    git(repo, "tag", "v0.1.0")
    assert run_cli("--config", repo / ".deliver", "build", "release").exit_code == 0
    before = remote_object_count(sandbox, "~/build/incremental")

    mix = repo / "mix.exs"
    mix.write_text(mix.read_text().replace('version: "0.1.0"', 'version: "0.1.1"'))
    git(repo, "commit", "-qam", "0.1.1")
    result = run_cli("--config", repo / ".deliver", "build", "release")
    assert result.exit_code == 0, result.output

    new_objects = git(repo, "rev-list", "--objects", "HEAD~1..HEAD").splitlines()
    assert remote_object_count(sandbox, "~/build/incremental") - before == len(new_objects)
    manifest = json.loads((repo / ".deliver-releases/hello_0.1.1.release.json").read_text())
    assert manifest["commit"] == git(repo, "rev-parse", "HEAD")
    with tarfile.open(repo / ".deliver-releases/hello_0.1.1.release.tar.gz") as tar:
        assert "./lib/hello-0.1.1/ebin/hello.app" in tar.getnames()

    result = run_cli("--config", repo / ".deliver", "build", "release", "--tag", "v0.1.0")
    assert result.exit_code == 0, result.output
    manifest = json.loads((repo / ".deliver-releases/hello_0.1.0.release.json").read_text())
    assert manifest["commit"] == git(repo, "rev-parse", "v0.1.0")
    shown = run_cli("--config", repo / ".deliver", "show", "releases")
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.1.0", "0.1.1"]


def test_failing_build_step_reports_the_step_and_its_output(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused").read_text()
    (repo / ".deliver").write_text(config.replace("~/build/hello", "~/build/broken"))
    counter = repo / "lib/hello/counter.ex"
    counter.write_text(counter.read_text() + "\ndefmodule Broken do\n  def oops(, do: 1\nend\n")
    git(repo, "commit", "-qam", "break it")
    result = run_cli("--config", repo / ".deliver", "build", "release")
    assert result.exit_code == 1
    assert "error: Compiling failed on build (exit status 1)" in result.stderr
    assert "lib/hello/counter.ex" in result.stderr and "Traceback" not in result.output
    assert not (repo / ".deliver-releases").exists()


def test_unknown_revision_is_a_usage_error(built_app: BuiltApp) -> None:
    result = run_cli("--config", built_app.config, "build", "release", "--tag", "v9.9.9")
    assert result.exit_code == 2
    assert "tag v9.9.9 not found" in result.stderr


def test_two_builds_of_one_commit_are_the_same_archive_and_skip_deps_get(
    built_app: BuiltApp, tmp_path: Path
) -> None:
    shas = []
    outputs = []
    for n in range(2):
        # the config's directory is the project (git-ignored: make_app_repo)
        config = built_app.repo / f".deliver-repro-{n}.yml"
        store = tmp_path / f"store-{n}"
        config.write_text(built_app.config.read_text().replace(str(built_app.store), str(store)))
        result = run_cli("--config", config, "--verbose", "build", "release")
        config.unlink()
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
        manifest = json.loads((store / "hello_0.1.0.release.json").read_text())
        shas.append(manifest["sha256"])
    # sorted entries, the commit's time as every mtime, gzip -n, the cookie kept: equal bytes
    assert shas[0] == shas[1]
    # the steps between hook points run as one script, and the second build finds nothing
    # for deps.get to do
    assert (
        "Fetching dependencies, compiling, generating release (mix, MIX_ENV=prod)" in (outputs[1])
    )
    assert "mix deps.get skipped" in outputs[1]
