"""Database migrations: the app's own release tasks, run on one host per environment.

The tasks are expressions in the app's language (`migrations.up/down/status`, by default
Phoenix's `<App>.Release.migrate()` convention), evaluated by the release's start script, so
nothing has to be added to the release:

- inside the running node, when the node runs the current release: over its Erlang
  distribution (host/dist.py), else by `bin/<app> rpc`;
- `bin/<app> eval` in a fresh VM of the current release otherwise (node down, or `current`
  switched but not restarted yet: the running node has the old code);
- during a deploy (`--run-migrations`), `eval` in the new release after it is extracted and
  before any host is switched to it, so a failing migration leaves every host as it was.

They run on the environment's primary host (`primary: true`, or its first host).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deliver.commands.report import Recovery, in_flight, reporting, watch
from deliver.commands.targets import Targets, connected_and_locked
from deliver.config import Config, Environment
from deliver.errors import CommandFailed, InvalidArgument, UsageError
from deliver.host.dist import TASK_TIMEOUT, Unavailable, node_session, read_address
from deliver.host.layout import HostState, in_root, read_state
from deliver.output import Output
from deliver.release import Release
from deliver.shell import quote, tail
from deliver.tools import node_commands
from deliver.transport.remote import NodeLink, Remote

DIRECTIONS = ("up", "down")
#: Ecto's (and most tools') migration ids: a number, usually a UTC timestamp.
_VERSION = re.compile(r"[0-9]{1,32}")
_MODE = "DELIVER_MIGRATE_MODE="
DOWN_HINT = (
    "give the version to roll back to, e.g. deliver migrate production down "
    "--version=20240101120000"
)


@dataclass(frozen=True)
class TaskResult:
    host: str
    mode: str  # "node" (over its distribution), "rpc" or "eval" (the start script)
    output: str


def task_expression(config: Config, direction: str, version: str | None) -> str:
    """The expression for `migrate <direction> [--version]`; UsageError for what cannot run."""
    tasks = config.migration_tasks()
    if direction not in DIRECTIONS:
        raise UsageError(f"expected up or down, got {direction!r}")
    template = tasks.up if direction == "up" else tasks.down
    if direction == "down" and version is None:
        raise InvalidArgument(
            "version",
            "required to migrate down: without one it would roll back every migration",
            hint=DOWN_HINT,
        )
    if version is None:
        if "{version}" in template:
            raise InvalidArgument("version", f"required by migrations.{direction} ({template})")
        return template
    number = migration_version(version)
    if "{version}" not in template:
        raise InvalidArgument("version", f"not taken by migrations.{direction} ({template})")
    # the expression is code run on the primary host: the version goes in as an integer
    # literal that Python wrote, never as the text that was given
    return template.replace("{version}", str(number))


def migration_version(version: str) -> int:
    """`--version` of migrate: a migration id, digits only; InvalidArgument otherwise."""
    if not _VERSION.fullmatch(version):
        raise InvalidArgument(
            "version",
            f"expected a migration version (digits only, like 20240101120000), got {version!r}",
        )
    return int(version)


def migrate(
    config: Config,
    out: Output,
    environment: str,
    direction: str = "up",
    version: str | None = None,
) -> TaskResult:
    """`deliver migrate [env] [up|down] [--version]` on the environment's primary host.

    Raises UsageError (bare down, bad version), NodeError (nothing deployed), CommandFailed
    with the task's output when it exits non-zero."""
    expression = task_expression(config, direction, version)
    title = migrate_title(direction, version)
    again = f"deliver migrate {environment} {direction}"
    again += f" --version={version}" if version else ""
    host = config.environment(environment).primary.name
    recovery = Recovery(
        environment,
        again,
        fixed=f"the migrations ran on {host} only (the primary host; no other host runs them): "
        f"deliver show migrations {environment} says which are applied; {again} runs them again",
    )
    return _run_on_primary(config, out, environment, title, expression, recovery)


def migrate_title(direction: str, version: str | None) -> str:
    """The step `migrate` runs its task under (lower-cased), and its title."""
    return f"Migrating {direction}" + (f" to {version}" if version else "")


def show_migrations(config: Config, out: Output, environment: str) -> TaskResult:
    """`deliver show migrations [env]`: the status task's output."""
    expression = config.migration_tasks().status
    return _run_on_primary(config, out, environment, "Migration status", expression)


def migrate_new_release(
    config: Config, out: Output, remote: Remote, root: str, release: Release
) -> TaskResult:
    """Deploy's --run-migrations: `up` with the code of the extracted, not yet current,
    release on `remote` (the primary host among the deploy's targets)."""
    out.step(f"Running the migrations of {release.version} on {remote.name}")
    node = node_commands(release.tool)
    state = HostState(remote.name, root, release.version, None, release.tool)
    body = (
        f"cd releases/{quote(release.version)} || exit 1\necho {_MODE}eval\n"
        f"{node.eval(config.app, config.migration_tasks().up)} 2>&1"
    )
    # with the env this release was deployed with: it is not current yet
    result = _run(remote, state, body, "running the migrations", env_of=release.version)
    return _report(out, config.app, result)


def primary_remote(env: Environment, remotes: Sequence[Remote]) -> Remote:
    """The environment's primary host if it is among `remotes`, else the first of them."""
    return next((r for r in remotes if r.name == env.primary.name), remotes[0])


def _run_on_primary(
    config: Config,
    out: Output,
    environment: str,
    title: str,
    expression: str,
    recovery: Recovery | None = None,
) -> TaskResult:
    """The task on the primary host; with a `recovery` (a migration, which changes the
    database), under the Ctrl-C contract, a failure ending with the host's state and it."""
    env = config.environment(environment)
    host = env.primary
    out.step(f"{title} ({config.app} on {environment}, host {host.name})")
    on_primary = Targets(env, (host,))
    if recovery is None:
        with connected_and_locked(config, out, on_primary, title.lower()) as (remote,):
            return _task(config, out, remote, env.deliver_to, expression, title.lower())
    with (
        reporting(config, out, on_primary, recovery) as watches,
        connected_and_locked(config, out, on_primary, title.lower()) as remotes,
        watch(out, watches),
    ):
        # a phase of one host: a first Ctrl-C finds it in flight and lets it finish
        step = title.lower()

        def work(remote: Remote) -> TaskResult:
            return _task(config, out, remote, env.deliver_to, expression, step)

        return in_flight("migration", remotes[0], work)


def _task(
    config: Config, out: Output, remote: Remote, deliver_to: str, expression: str, step: str
) -> TaskResult:
    """`expression` on `remote`, after reading its state."""
    state = read_state(remote, deliver_to, config.app)
    return run_task(config, out, remote, state, expression, step)


def run_task(
    config: Config, out: Output, remote: Remote, state: HostState, expression: str, step: str
) -> TaskResult:
    """Run the task `expression` on the host of `state`: in its running node (when that runs
    the current release), else by its start script's rpc or eval (also `--dry-run`'s way of
    printing the commands)."""
    asked = _in_running_node(remote, state, config.app, expression, step)
    if asked is not None:
        return _report(out, config.app, asked)
    node = node_commands(state.tool)
    # rpc only into a node that runs the current release: an older node has older code
    body = f"""if [ -e running ] && [ "$(readlink running)" = "$(readlink current)" ] \\
   && (cd running && {node.alive(config.app)}) >/dev/null 2>&1; then
  cd running && echo {_MODE}rpc && {node.rpc(config.app, expression)} 2>&1
else
  cd current && echo {_MODE}eval && {node.eval(config.app, expression)} 2>&1
fi"""
    return _report(out, config.app, _run(remote, state, body, step))


def _in_running_node(
    remote: Remote, state: HostState, app: str, expression: str, step: str
) -> TaskResult | None:
    """The task evaluated inside the running node over its distribution, when it runs the
    current release (an older node has older code); None when it cannot be asked so (then
    `bin/<app> rpc` or `eval` runs it)."""
    if state.running is None or state.running != state.current:
        return None
    try:
        address = read_address(remote, state.root, state.tool, app, "running")
        with node_session(remote, address) as node:
            if not node.started(app):
                return None
            ok, output = node.evaluate(state.tool, expression, TASK_TIMEOUT)
    except Unavailable as why:
        if isinstance(remote, NodeLink):
            remote.note(f"running the task with bin/{app} instead of in the node: {why}")
        return None
    if not ok:
        raise CommandFailed(remote.name, step, 1, tail(output, 40), step)
    return TaskResult(remote.name, "node", output)


def _run(
    remote: Remote, state: HostState, body: str, step: str, env_of: str | None = None
) -> TaskResult:
    result = remote.run(in_root(state.root, body, env_of), step=step, check=False)
    head, _, output = result.stdout.partition("\n")
    mode = head.removeprefix(_MODE) if head.startswith(_MODE) else "?"
    if not result.ok:
        raise CommandFailed(
            remote.name, step, result.exit_status, tail(output + result.stderr, 40), step
        )
    return TaskResult(remote.name, mode, output)


def _report(out: Output, app: str, result: TaskResult) -> TaskResult:
    # --verbose has shown a script's output already, as it came; never what the node answered
    if not out.verbose or result.mode == "node":
        for line in result.output.rstrip("\n").splitlines():
            out.remote_output(result.host, line)
    how = "inside the running node" if result.mode == "node" else f"bin/{app} {result.mode}"
    out.host_status(result.host, True, f"done ({how})")
    return result
