"""Hook scripts on real sandbox hosts: every point in order with its environment, local hooks,
failures that name the hook and the host."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from deliver.config import HostSpec, SshSettings
from deliver.config.grammar import POINTS, canonical_point
from deliver.hooks import Hook, HookEnv, Hooks, remote_command
from deliver.output import Output
from deliver.sandbox import Sandbox
from deliver.shell import Secret
from deliver.transport.local import LocalRemote
from deliver.transport.ssh import SshRemote
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config

#: Appends one line per run: what the hook saw of its documented environment.
LOG_LINE = (
    'echo "$HOOK|$APP|$VERSION|$REVISION|$BRANCH|$MIX_ENV|${BUILD_AT:-}|${DELIVER_TO:-}'
    '|$DELIVER_ENV|$DELIVER_HOST|$(pwd -P)|${EXTRA:-}|{name}" >> "$HOME/{log}"\n'
)


def on_host(sandbox: Sandbox, host: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), host, command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def log_of(sandbox: Sandbox, host: str, log: str) -> list[list[str]]:
    return [line.split("|") for line in on_host(sandbox, host, f"cat ~/{log}").splitlines()]


def test_aliases_and_points() -> None:
    assert canonical_point("pre_compile") == "pre_erlang_clean_compile"
    assert canonical_point("post_erlang_clean_compile") == "post_erlang_clean_compile"
    assert canonical_point("pre_upgrade") == "pre_upgrade_release"
    assert canonical_point("pre_compil") is None and canonical_point("compile") is None
    assert len(POINTS) == 16


def test_a_remote_hook_gets_secrets_on_stdin_not_on_its_command_line(tmp_path: Path) -> None:
    token = "t0ken with 'quotes', \"double\" and $(id)\n"
    hook = Hook("pre_start_deployed_release", "h", 'echo "$APP|$TOKEN|$OWN"; pwd -P', "deploy")
    hook = replace(hook, env={"OWN": Secret("own-secret")})
    env = HookEnv("hello", "web1", str(tmp_path), extra={"TOKEN": Secret(token)})
    script = remote_command(hook, env)
    assert "t0ken" not in script.command and "own-secret" not in script.command
    assert "APP=hello" in script.command  # plain values stay visible to --debug
    assert script.stdin is not None and b"own-secret" in script.stdin
    result = LocalRemote(HostSpec.parse("localhost")).run(script.command, stdin=script.stdin)
    assert result.stdout == f"hello|{token}|own-secret\n{tmp_path.resolve()}\n"
    # without any secret, the command reads no stdin
    assert remote_command(replace(hook, env={}), replace(env, extra={})).stdin is None


def test_hook_files_are_found_by_point_and_say_where_they_run(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    (hooks / "pre_start.d").mkdir(parents=True)
    (hooks / "pre_start.d" / "10-drain").write_text("#!/bin/bash\n# runs_on: local\necho\n")
    (hooks / "pre_start.d" / ".hidden").write_text("echo\n")
    (hooks / "pre_start_deployed_release").write_text("echo\n")
    (hooks / "pre_compil").write_text("echo\n")  # a typo: warned about, not run
    (hooks / "pre-commit").write_text("echo\n")  # a git hook, say: not ours, no warning
    (tmp_path / ".deliver").write_text(
        "app: hello\nhooks:\n  pre_start: {run: echo, runs_on: local}\n"
    )
    result = run_cli("--config", tmp_path / ".deliver", "check", "config")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-3:] == [
        "hook pre_start_deployed_release: hooks/pre_start_deployed_release (runs on deploy)",
        "hook pre_start_deployed_release: hooks/pre_start.d/10-drain (runs on local)",
        "hook pre_start_deployed_release: .deliver: hooks.pre_start (runs on local)",
    ]
    assert result.stderr == "warning: hooks/pre_compil is not named after a hook point: not run\n"
    (hooks / "pre_compile").write_text("# runs_on: deploy\n")
    wrong = run_cli("--config", tmp_path / ".deliver", "check", "config")
    assert wrong.exit_code == 2
    assert "hooks/pre_compile: runs_on: expected build or local for pre_erlang_clean_compile" in (
        wrong.stderr
    )


@pytest.mark.slow
def test_every_hook_point_fires_in_order_with_its_environment(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    log = f"hooks-{tmp_path.name}.log"
    repo = make_app_repo(tmp_path / "hello")
    hooks = repo / "hooks"
    names = [
        "pre_init_app_remotely",
        "post_init",  # aliases work as file names too
        "pre_git_push",
        "post_git_push",
        "pre_deps",
        "post_erlang_get_and_update_deps",
        "pre_erlang_clean_compile",
        "pre_compile.d/10-first",  # after the full name's file, by name in the .d directory
        "pre_compile.d/20-second",
        "post_compile",
        "pre_release",
        "post_erlang_generate_release",
        "pre_extract_release_archive",
        "post_extract",
        "pre_start",
        "post_start_deployed_release",
    ]
    for name in reversed(names):  # creation order does not matter
        path = hooks / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # no #! line: sh runs it; one hook is bash to show that the #! line is honoured
        shebang = "#!/usr/bin/env bash\n" if name == "post_compile" else ""
        path.write_text(shebang + LOG_LINE.replace("{log}", log).replace("{name}", name))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hooks")
    commit = git(repo, "rev-parse", "HEAD")
    local_log = tmp_path / "local.log"
    extra = (
        "hooks:\n"
        "  post_push:\n"
        f'    - run: echo "$HOOK $DELIVER_HOST $APP" >> {local_log}\n'
        "      runs_on: local\n"
        "  pre_start:\n"
        f'    run: echo "$HOOK $DELIVER_HOST $VERSION $PORT" >> {local_log}\n'
        "    runs_on: local\n"
    )
    config = write_config(repo / ".deliver", sandbox, deliver_to=f"~/{tmp_path.name}", extra=extra)
    text = config.read_text().replace(
        "  at: ~/build/hello\n", "  at: ~/build/hello\n  env: {EXTRA: x1}\n"
    )
    config.write_text(text)

    built = run_cli("--config", config, "build", "release")
    assert built.exit_code == 0, built.output
    assert "Hook pre_erlang_clean_compile: hooks/pre_compile.d/10-first on build" in built.stdout

    lines = log_of(sandbox, "build", log)
    assert [line[-1] for line in lines] == names[:12]
    home = sandbox.build_host.home
    build_dir = f"{home}/build/hello"
    for line in lines:
        hook, app, version, revision, branch, mix_env, build_at, deliver_to = line[:8]
        assert (app, version, revision, branch, mix_env) == (
            "hello",
            "0.1.0",
            commit,
            "main",
            "prod",
        )
        assert (deliver_to, line[8], line[9], line[11]) == ("", "", "build", "x1")
        first = hook == "pre_init_app_remotely"
        assert (build_at, line[10]) == (
            ("~/build/hello", home) if first else (build_dir, build_dir)
        )
    assert lines[7][0] == "pre_erlang_clean_compile"

    deployed = run_cli(
        "--config", config, "deploy", "release", "production", "--start-deploy", "--host", "web1"
    )
    try:
        assert deployed.exit_code == 0, deployed.output
        started = run_cli("--config", config, "start", "production", "--host", "web1")
        assert started.exit_code == 0 and "already running 0.1.0" in started.stdout
    finally:
        run_cli("--config", config, "stop", "production")
    lines = log_of(sandbox, "web1", log)
    assert [line[-1] for line in lines] == [*names[12:], *names[14:]]
    root = f"{sandbox.host('web1').home}/{tmp_path.name}"
    for line in lines:
        assert line[1:6] == ["hello", "0.1.0", commit, "main", "prod"]
        assert line[6:11] == ["", root, "production", "web1", root]
    assert local_log.read_text().splitlines() == [
        "post_git_push build hello",
        f"pre_start_deployed_release web1 0.1.0 {sandbox.host('web1').app_port}",
        f"pre_start_deployed_release web1 0.1.0 {sandbox.host('web1').app_port}",
    ]


@pytest.mark.slow
def test_failing_build_hook_names_the_hook_and_the_host(sandbox: Sandbox, tmp_path: Path) -> None:
    repo = make_app_repo(tmp_path / "hello")
    (repo / "hooks").mkdir()
    (repo / "hooks" / "pre_init").write_text(
        "echo checking the build host\necho 'disk almost full' >&2\nexit 3\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "failing hook")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")

    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 1
    assert (
        "error: hook pre_init_app_remotely (hooks/pre_init) failed on build (exit status 3)"
        in result.stderr
    )
    assert "checking the build host" in result.stderr and "disk almost full" in result.stderr
    assert "Preparing build directory" not in result.stdout  # it stopped the build

    verbose = run_cli("--config", config, "build", "release", "--verbose")
    assert "build | checking the build host" in verbose.stdout


@pytest.mark.slow
def test_failing_deploy_hook_names_each_host_and_switches_none(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    deliver_to = f"~/{tmp_path.name}"
    extra = "hooks:\n  post_extract: 'echo \"refusing $VERSION on $DELIVER_HOST\"; exit 4'\n"
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to=deliver_to, store=built_app.store, extra=extra
    )
    result = run_cli("--config", config, "deploy", "release", "production")
    assert result.exit_code == 1
    assert "prepare failed on 2 host(s): web1, web2" in result.stderr
    assert (
        "web2: hook post_extract_release_archive (deliver.yml: hooks.post_extract) failed on web2"
        " (exit status 4)" in result.stderr
    )
    assert "refusing 0.1.0 on web1" in result.stderr
    assert "Switching" not in result.stdout
    assert "current" not in on_host(sandbox, "web1", f"ls {deliver_to}").split()


def test_upgrade_hook_points_for_hot_upgrades(sandbox: Sandbox, tmp_path: Path) -> None:
    """The upgrade code calls Hooks.around("upgrade_release", ...): both points run there."""
    log = f"upgrade-{tmp_path.name}.log"
    body = LOG_LINE.replace("{log}", log).replace("{name}", "x")
    hooks = Hooks(
        [
            Hook("pre_upgrade_release", "a", body, "deploy"),
            Hook("post_upgrade_release", "b", body, "deploy"),
        ],
        Output(io.StringIO(), io.StringIO()),
        tmp_path,
    )
    settings = SshSettings(config_file=sandbox.ssh_config, known_hosts=sandbox.known_hosts)
    remote = SshRemote(HostSpec.parse("web2"), settings).open()
    try:
        env = HookEnv("hello", "web2", "~", version="0.2.0", deliver_to="/srv/hello")
        assert hooks.around("upgrade_release", remote, env, lambda: "upgraded") == "upgraded"
    finally:
        remote.close()
    assert [line[0] for line in log_of(sandbox, "web2", log)] == [
        "pre_upgrade_release",
        "post_upgrade_release",
    ]
