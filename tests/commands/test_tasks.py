"""Custom tasks (deliver_tasks.py) run on real sandbox hosts over deliver's own connection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deliver.cli import ExitCode
from deliver.sandbox import Sandbox
from tests.conftest import edit_config, run_cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "tasks" / "deliver_tasks.py"

TASKS = '''
import io
from invoke import task


@task
def seed(c, size=1, label="none"):
    """Upload a seed file and read it back with c.run.

    More text that --list does not show."""
    target = f"{c.deliver.deliver_to}/seed.txt"
    c.run(f"mkdir -p {c.deliver.deliver_to}")
    c.put(io.BytesIO(f"seed {size} {label} {c.deliver.env['PORT']}\\n".encode()), target)
    c.run(f"cat {target}; umask")
    return c.run(f"cat {target}", hide=True).stdout.strip()


@task
def boom(c):
    """Fails on purpose."""
    c.run("true")
    raise RuntimeError("the cache is cold")


@task
def closes(c):
    c.close()
    c.run("echo still open")


@task
def exits(c):
    c.run("echo about to fail; exit 7")
'''


def logins(sandbox: Sandbox, host: str) -> int:
    """How many SSH connections the host's sshd has accepted so far."""
    log = sandbox.root / "hosts" / host / "sshd.log"
    return len(re.findall(r"Accepted publickey", log.read_text()))


@pytest.fixture
def with_tasks(deployment: Path, tmp_path: Path) -> Path:
    (tmp_path / "team_tasks.py").write_text(TASKS)
    edit_config(deployment, lambda data: data.update(tasks="team_tasks.py"))
    return deployment


@pytest.mark.slow
def test_a_task_runs_on_every_host_on_the_one_connection(
    with_tasks: Path, sandbox: Sandbox
) -> None:
    config = ("--config", with_tasks)  # nothing deployed: deliver_to is absolute all the same
    before = {host: logins(sandbox, host) for host in ("web1", "web2")}
    result = run_cli(*config, "run", "seed", "production", "--", "--size=42", "--label", "a b")
    assert result.exit_code == 0, result.output
    for host in ("web1", "web2"):
        port = sandbox.host(host).app_port
        assert f"{host} | seed 42 a b {port}" in result.stdout  # c.put, then c.run
        assert f"{host} | 0077" in result.stdout  # private, as every deliver command
        assert f"ok   {host}: task seed done" in result.stdout
        assert logins(sandbox, host) == before[host] + 1  # deliver's connection, no other

    only = run_cli(*config, "run", "seed", "production", "--host", "web2")
    assert only.exit_code == 0, only.output
    assert "web2 | seed 1 none" in only.stdout and "web1 |" not in only.stdout

    closed = run_cli(*config, "run", "closes", "production")
    assert closed.exit_code == 0, closed.output  # c.close() leaves deliver's connection open
    assert "web1 | still open" in closed.stdout


@pytest.mark.slow
def test_task_failures_name_the_task_and_the_host(with_tasks: Path) -> None:
    config = ("--config", with_tasks)
    failed = run_cli(*config, "run", "boom", "production")
    assert failed.exit_code == ExitCode.FAILED
    assert "task boom failed on 2 host(s): web1, web2" in failed.stderr
    line = TASKS.splitlines().index('    raise RuntimeError("the cache is cold")') + 1
    assert f"web1: task boom: RuntimeError: the cache is cold (team_tasks.py, line {line})" in (
        failed.stderr
    )
    assert "Traceback" not in failed.output
    debug = run_cli(*config, "--debug", "run", "boom", "production", "--host", "web1")
    assert "Traceback" in debug.stderr and 'raise RuntimeError("the cache is cold")' in debug.stderr

    exits = run_cli(*config, "run", "exits", "production", "--host", "web1")
    assert exits.exit_code == ExitCode.FAILED
    assert "web1: task exits: `umask 077 && echo about to fail; exit 7` exited with status 7" in (
        exits.stderr
    )
    assert "web1 | about to fail" in exits.stdout


def offline_config(tmp_path: Path, tasks: str) -> Path:
    """A .deliver naming hosts that are never reached: these mistakes are found before."""
    config = tmp_path / "deliver.yml"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    deliver_to: ~/app\n"
        f"    hosts: [web1]\ntasks: {tasks}\n"
    )
    return config


def test_listing_and_mistakes_in_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "team_tasks.py").write_text(TASKS)
    config = ("--config", offline_config(tmp_path, "team_tasks.py"))
    listed = run_cli(*config, "run", "--list")
    assert listed.exit_code == 0, listed.output
    assert "seed    Upload a seed file and read it back with c.run." in listed.stdout
    assert "boom    Fails on purpose." in listed.stdout and "More text" not in listed.stdout

    unknown = run_cli(*config, "run", "sed", "production")
    assert unknown.exit_code == ExitCode.USAGE
    assert "no task 'sed'" in unknown.stderr and "did you mean seed?" in unknown.stderr
    flag = run_cli(*config, "run", "seed", "production", "--", "--colour=red")
    assert flag.exit_code == ExitCode.USAGE and "task seed:" in flag.stderr
    assert "Traceback" not in unknown.output + flag.output
    # without an environment, the words after -- are still the task's (the only environment)
    bare = run_cli(*config, "run", "seed", "--", "--colour=red")
    assert bare.exit_code == ExitCode.USAGE and "task seed:" in bare.stderr
    nameless = run_cli(*config, "run")
    assert nameless.exit_code == ExitCode.USAGE and "deliver run --list" in nameless.stderr


def test_a_task_file_that_does_not_import_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("from fabric import task\n\nimport no_such_module\n")
    result = run_cli("--config", offline_config(tmp_path, "broken.py"), "run", "--list")
    assert result.exit_code == ExitCode.USAGE
    assert "does not import: ModuleNotFoundError" in result.stderr and "line 3" in result.stderr
    missing = run_cli("--config", offline_config(tmp_path, "missing.py"), "run", "--list")
    assert missing.exit_code == ExitCode.USAGE and "no task file" in missing.stderr


@pytest.mark.slow
def test_the_example_tasks_warm_the_cache_from_a_post_start_hook(
    deployment: Path, sandbox: Sandbox
) -> None:
    def hook(data: dict[str, object]) -> None:
        data.update(tasks=str(EXAMPLE), hooks={"post_start": {"task": "warm_cache"}})

    edit_config(deployment, hook)
    started = run_cli("--config", deployment, "deploy", "release", "production", "--start-deploy")
    assert started.exit_code == 0, started.output
    assert "Hook post_start_deployed_release: task warm_cache" in started.stdout
    assert "web1: warmed 1 path(s) of 0.1.0" in started.stdout
    warmed = run_cli(
        "--config", deployment, "run", "warm_cache", "production", "--", "--paths=/,/nothing-here"
    )
    assert warmed.exit_code == ExitCode.FAILED  # the app answers 404 for /nothing-here
    assert "web1 | 200 http://127.0.0.1:" in warmed.stdout
    assert "web1: task warm_cache: `umask 077 && while read" in warmed.stderr
    usage = run_cli("--config", deployment, "run", "disk_usage", "production", "--host", "web2")
    assert usage.exit_code == 0, usage.output
    assert re.search(r"web2 \| \S+\s+releases", usage.stdout), usage.stdout
