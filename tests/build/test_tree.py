"""Build steps in the build tree: their environment, and no secret of build.env on their
command line (a build step runs for seconds, visible to `ps`)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from deliver.build.tree import (
    BuildTree,
    _restore_cookie,
    in_build_dir,
    pack,
    reset_command,
)
from deliver.config import BuildConfig, HostSpec
from deliver.errors import CommandFailed
from deliver.hooks import HookEnv
from deliver.output import Output
from deliver.shell import Secret
from deliver.tools import BuildStep, build_tool
from deliver.transport.local import LocalRemote
from tests.conftest import git

PRINT_ENV = 'printf "%s|%s|%s|%s\\n" "$MIX_ENV" "$DELIVER_VERSION" "$PLAIN" "$TOKEN"; pwd -P'


def test_a_build_step_gets_plain_values_on_its_command_line_and_secrets_on_stdin(
    tmp_path: Path,
) -> None:
    token = "s3cr3t 'quoted' $HOME\nsecond line"
    build = BuildConfig(
        HostSpec.parse("localhost"), "~/b", env={"PLAIN": "p v", "TOKEN": Secret(token)}
    )
    script = in_build_dir(str(tmp_path), build, PRINT_ENV, {"DELIVER_VERSION": "1.2.3"})
    assert "s3cr3t" not in script.command and "second line" not in script.command
    assert "export MIX_ENV=prod DELIVER_VERSION=1.2.3 PLAIN='p v'" in script.command
    assert script.stdin is not None and b"s3cr3t" in script.stdin
    result = LocalRemote(HostSpec.parse("localhost")).run(script.command, stdin=script.stdin)
    assert result.stdout == f"prod|1.2.3|p v|{token}\n{tmp_path.resolve()}\n"


def test_without_secrets_a_build_step_reads_no_stdin(tmp_path: Path) -> None:
    build = BuildConfig(HostSpec.parse("localhost"), "~/b", env={"PLAIN": "x"})
    script = in_build_dir(str(tmp_path), build, "mix compile")
    assert script.stdin is None
    assert script.command == f"cd {tmp_path} && export MIX_ENV=prod PLAIN=x && mix compile 2>&1"


def tree_in(path: Path, stdout: io.StringIO | None = None) -> BuildTree:
    build = BuildConfig(HostSpec.parse("localhost"), str(path))
    out = Output(stdout or io.StringIO(), io.StringIO(), color=False)
    remote = LocalRemote(HostSpec.parse("localhost"))
    return BuildTree(remote, out, str(path), build, HookEnv("a", "localhost", str(path)))


def test_steps_between_hooks_run_as_one_script_and_a_failure_names_its_step(
    tmp_path: Path,
) -> None:
    shown = io.StringIO()
    tree = tree_in(tmp_path, shown)
    steps = [
        BuildStep("Fetching dependencies", "cd /; echo one >> " + str(tmp_path / "log")),
        BuildStep("Compiling", "pwd -P >> log; echo broken; exit 3  # a comment"),
        BuildStep("Generating release", "echo three >> log"),
    ]
    with pytest.raises(CommandFailed) as failed:
        tree.run(steps, "mix", {})
    assert failed.value.step == "Compiling"  # not the first step of the script
    assert (failed.value.exit_status, failed.value.output_tail) == (3, "broken")
    # each step in its own subshell (the first one's cd stays its own), none after the failure
    assert (tmp_path / "log").read_text() == f"one\n{tmp_path.resolve()}\n"
    assert "Fetching dependencies, compiling, generating release (mix" in shown.getvalue()

    tree.run(steps[2:], "mix", {})
    assert (tmp_path / "log").read_text().endswith("three\n")


def fake_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `mix` on PATH that counts its runs of deps.get and makes a deps/ entry."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mix").write_text('#!/bin/sh\necho "$@" >> "$MIX_LOG"\nmkdir -p deps/dep_a\n')
    (bin_dir / "mix").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("MIX_LOG", str(tmp_path / "mix.log"))
    return tmp_path / "mix.log"


def test_mix_deps_get_is_skipped_while_mix_lock_and_deps_are_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_mix(tmp_path, monkeypatch)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mix.exs").write_text("defmodule A.MixProject do end\n")
    (project / "mix.lock").write_text("%{}\n")
    deps = build_tool("mix").build_steps("a", BuildConfig(HostSpec.parse("localhost"), "~/b"))[0]
    tree = tree_in(project)

    def runs() -> int:
        tree.run([deps], "mix", {})
        return log.read_text().count("deps.get")

    assert runs() == 1  # the first build
    assert runs() == 1  # nothing changed: skipped
    (project / "mix.lock").write_text('%{"x": 1}\n')
    assert runs() == 2  # the lock changed
    assert runs() == 2
    shutil.rmtree(project / "deps")  # deps/ gone (e.g. --clean)
    assert runs() == 3
    (project / "deps" / "dep_b").mkdir()  # a dependency appeared under deps/
    assert runs() == 4
    (project / "mix.exs").write_text("defmodule A.MixProject do @deps [] end\n")
    assert runs() == 5


def release_dir(build_dir: Path, cookie: str) -> Path:
    root = build_dir / "_build" / "prod" / "rel" / "a"
    (root / "releases").mkdir(parents=True)
    (root / "releases" / "start_erl.data").write_text("13.2.2 0.1.0\n")
    (root / "releases" / "COOKIE").write_text(cookie)
    (root / "bin").mkdir()
    (root / "bin" / "a").write_text("#!/bin/sh\n")
    return root


def test_two_packs_of_one_commit_are_the_same_bytes_and_the_cookie_is_kept(
    tmp_path: Path,
) -> None:
    build_dir = tmp_path / "build"
    build_dir.mkdir()
    git(build_dir, "init", "-q")
    (build_dir / "mix.exs").write_text("")
    (build_dir / ".gitignore").write_text("/_build/\n")  # as every mix project has it
    git(build_dir, "add", "-A")
    git(build_dir, "commit", "-qm", "one")
    remote = LocalRemote(HostSpec.parse("localhost"))
    root = "_build/prod/rel/a"
    shas = []
    for build in range(2):
        config = BuildConfig(HostSpec.parse("localhost"), "~/b")
        remote.run(reset_command(str(build_dir), "HEAD", config))
        tree = tree_in(build_dir)
        # what run_steps puts in front of the first step: the last build's cookie
        tree.run([BuildStep("Generating release", "true")], "mix", {}, _restore_cookie(root))
        cookie = build_dir / root / "releases" / "COOKIE"
        if build == 0:
            assert not cookie.exists()
            release_dir(build_dir, "RANDOM-1")
        else:
            assert cookie.read_text() == "RANDOM-1"  # mix keeps a cookie it finds
            (build_dir / root / "bin").mkdir()
            (build_dir / root / "bin" / "a").write_text("#!/bin/sh\n")
            (build_dir / root / "releases" / "start_erl.data").write_text("13.2.2 0.1.0\n")
        packed = pack(remote, str(build_dir), "a", root)
        shas.append(packed.sha256)
        with tarfile.open(packed.archive) as archive:
            members = archive.getmembers()
        assert [m.name for m in members] == sorted(m.name for m in members)
        assert {m.mtime for m in members} == {int(git(build_dir, "log", "-1", "--format=%ct"))}
        time.sleep(1.1)  # the second build's files are a second newer
    assert shas[0] == shas[1]
