"""`deliver run TASK [ENV] [--host=H] [-- ARGS]` and `deliver run --list`: the team's own tasks
(deliver/tasks.py) once per host of an environment, in parallel, each with a fabric Connection
on deliver's one connection to that host.

It takes no deploy lock: a task that changes what a host runs should be run inside
`deliver lock acquire ENV` / `deliver lock release ENV`, or be a hook of the command it
belongs to (`hooks: {post_start: {task: warm_cache}}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deliver.commands.targets import connected, targets
from deliver.config import Config
from deliver.errors import NodeError
from deliver.host.layout import read_state
from deliver.output import Output
from deliver.shell import quote_path
from deliver.tasks import DeliverInfo, TaskFile, plain_env, run_task
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


def list_tasks(config: Config) -> list[tuple[str, str]]:
    """Every task of the task file with the first line of its docstring."""
    return TaskFile.load(config.tasks_file).listing()


def run(
    config: Config,
    out: Output,
    name: str,
    environment: str,
    hosts: Sequence[str] = (),
    argv: Sequence[str] = (),
) -> dict[str, Any]:
    """Run task `name` with `argv` (its flags, parsed as invoke does) on every chosen host;
    returns what it returned, by host. UsageError for an unknown task or flag, HostsFailed
    naming each host where the task failed and why."""
    tasks = TaskFile.load(config.tasks_file)
    args = tasks.arguments(name, argv)
    chosen = targets(config, environment, hosts)
    out.step(f"Running task {name} on {environment}: {chosen.names}")

    def on_host(remote: Remote) -> Any:
        root, current = _deployed(remote, chosen.env.deliver_to, config.app)
        info = DeliverInfo(
            app=config.app,
            environment=environment,
            host=remote.name,
            deliver_to=root,
            current=current,
            env=plain_env(chosen.env.host_env(remote.host)),
            out=out,
            args=args,
        )
        result = run_task(tasks, name, remote, info, out.debug)
        out.host_status(remote.name, True, f"task {name} done")
        return result

    with connected(config, out, chosen.hosts) as remotes:
        return fan_out(f"task {name}", remotes, on_host)


def _deployed(remote: Remote, deliver_to: str, app: str) -> tuple[str, str | None]:
    """deliver_to as an absolute path (what c.put needs: SFTP expands no `~`), also before
    the first deploy, and the release `current` points at (None before the first deploy)."""
    try:
        state = read_state(remote, deliver_to, app)
    except NodeError:  # nothing deployed yet: a task may be what prepares the host
        where = remote.run(f"printf '%s' {quote_path(deliver_to)}", step="finding deliver_to")
        return where.stdout, None
    return state.root, state.current
