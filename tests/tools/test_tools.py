"""The build-tool family and build hygiene: a custom build command (with a git submodule and a
set version), Distillery missing on the build host, and builds on localhost without SSH."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from deliver.config import BuildConfig, HostSpec
from deliver.sandbox import Sandbox
from deliver.tools import available_tools, build_tool, detect_tool
from tests.conftest import git, make_app_repo, run_cli, write_config

BUILD_SH = """#!/bin/sh
set -e
echo "custom build of version ${DELIVER_VERSION:-as in mix.exs}"
mix deps.get
mix release hello --overwrite
"""


def test_tools_are_modules_and_detected_by_project_files(tmp_path: Path) -> None:
    assert {"custom", "distillery", "mix"} <= set(available_tools())
    build = BuildConfig(HostSpec.parse("b"), "~/b")
    (tmp_path / "mix.exs").write_text("")
    assert detect_tool(tmp_path, build, ".deliver") == "mix"
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "config.exs").write_text("")
    assert detect_tool(tmp_path, build, ".deliver") == "distillery"
    assert build_tool("distillery").release_tarball("shop", build) == (
        "_build/prod/rel/shop/releases/*/shop.tar.gz"
    )
    umbrella = BuildConfig(HostSpec.parse("b"), "~/b", release="shop_web")
    steps = build_tool("mix").build_steps("shop_web", umbrella)
    assert steps[-1].command == "mix release shop_web --overwrite"


@pytest.mark.slow
def test_custom_tool_builds_an_app_with_a_submodule_at_a_set_version(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    greeting = tmp_path / "greeting"
    greeting.mkdir()
    (greeting / "greeting.ex").write_text(
        'defmodule Greeting do\n  def hello, do: "hi from a submodule"\nend\n'
    )
    git(greeting, "init", "-q", "-b", "main")
    git(greeting, "add", "-A")
    git(greeting, "commit", "-qm", "greeting")
    repo = make_app_repo(tmp_path / "hello")
    git(
        repo,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        str(greeting),
        "lib/greeting",
    )
    (repo / "build.sh").write_text(BUILD_SH)
    (repo / "build.sh").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "custom build, greeting submodule")
    # the build host fetches submodules from their URLs: here a path on the shared disk
    subprocess.run(
        [
            "ssh",
            "-F",
            str(sandbox.ssh_config),
            "build",
            "git config --global protocol.file.allow always",
        ],
        check=True,
    )
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")
    config.write_text(
        config.read_text().replace(
            "  at: ~/build/hello\n",
            "  at: ~/build/custom\n  tool: custom\n"
            "  custom: {command: ./build.sh, tarball: '_build/{mix_env}/{app}-*.tar.gz'}\n",
        )
    )

    result = run_cli("--config", config, "--verbose", "build", "release", "--set-version=0.3.0")
    assert result.exit_code == 0, result.output
    assert "build | custom build of version 0.3.0" in result.stdout
    store = repo / ".deliver-releases"
    manifest = json.loads((store / "hello_0.3.0.release.json").read_text())
    assert (manifest["version"], manifest["tool"]) == ("0.3.0", "mix")
    with tarfile.open(store / "hello_0.3.0.release.tar.gz") as tar:
        names = tar.getnames()  # mix's own tarball: entries without ./
    assert "lib/hello-0.3.0/ebin/Elixir.Greeting.beam" in names and "bin/hello" in names

    # a build that makes no new tarball is refused, not shipped with the old one
    config.write_text(config.read_text().replace("./build.sh", "mix compile"))
    stale = run_cli("--config", config, "build", "release", "--set-version=0.3.1")
    assert stale.exit_code == 1
    assert (
        "expected this build to make one tarball matching _build/prod/hello-*.tar.gz, found 0"
        in (stale.stderr)
    )


@pytest.mark.slow
def test_distillery_project_without_distillery_on_the_build_host(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    (repo / "rel").mkdir()
    (repo / "rel" / "config.exs").write_text(
        "use Distillery.Releases.Config, default_release: :default, default_environment: :prod\n"
        "environment :prod do\n  set include_erts: true\nend\n"
        "release :hello do\n  set version: current_version(:hello)\nend\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "distillery config")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")
    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 1
    assert "error: Checking for Distillery failed on build (exit status 1)" in result.stderr
    assert (
        "this project uses Distillery (rel/config.exs), but `mix distillery.release` is not "
        "available on the build host" in result.stderr
    )
    assert "Generating release" not in result.stdout


def run_release(archive: Path, directory: Path, expression: str) -> str:
    directory.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="tar")
    return subprocess.run(
        [str(directory / "bin" / "hello"), "eval", expression],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@pytest.mark.slow
def test_localhost_builds_without_ssh_incrementally_and_cleanly(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    build_dir = tmp_path / "build"
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")
    config.write_text(
        config.read_text()
        .replace("  host: build\n", "  host: localhost\n")
        .replace("  at: ~/build/hello\n", f"  at: {build_dir}\n")
        .replace("ssh:\n", "ssh:\n  connect_timeout: 1\n")  # an SSH attempt would fail fast
    )
    first = run_cli("--config", config, "build", "release", "--auto-version=revision")
    assert first.exit_code == 0, first.output
    assert "Preparing build directory" in first.stdout and "on localhost" in first.stdout
    (build_dir / "_build" / "kept-unless-clean").write_text("")
    (build_dir / "_build/prod/rel/kept-with-skip-mix-clean").write_text("")
    (build_dir / "untracked.txt").write_text("")

    counter = repo / "lib/hello/counter.ex"
    counter.write_text(counter.read_text().replace("{:ok, count}", "{:ok, count + 100}"))
    git(repo, "commit", "-qam", "start counting at 100")
    commit = git(repo, "rev-parse", "HEAD")
    second = run_cli(
        "--config",
        config,
        "build",
        "release",
        "--auto-version=revision",
        "--skip-git-clean",
        "--skip-mix-clean",
    )
    assert second.exit_code == 0, second.output
    archive = repo / f".deliver-releases/hello_0.1.0+{commit[:7]}.release.tar.gz"
    assert (
        run_release(archive, tmp_path / "run", "IO.inspect(Hello.Counter.init(1))") == "{:ok, 101}"
    )
    assert (build_dir / "untracked.txt").exists()
    assert (build_dir / "_build" / "kept-unless-clean").exists()
    assert (build_dir / "_build/prod/rel/kept-with-skip-mix-clean").exists()

    # the second build kept an untracked file: a dirty build, which a clean one only replaces
    # with --force (build/identity.py)
    refused = run_cli("--config", config, "build", "release", "--auto-version=revision", "--clean")
    assert refused.exit_code == 2 and "--force" in refused.stderr, refused.output
    third = run_cli(
        "--config", config, "build", "release", "--auto-version=revision", "--clean", "--force"
    )
    assert third.exit_code == 0, third.output
    assert not (build_dir / "untracked.txt").exists()
    assert not (build_dir / "_build" / "kept-unless-clean").exists()
    assert not (build_dir / "_build/prod/rel/kept-with-skip-mix-clean").exists()
