"""The team's own tasks: Python functions in the app repo (`deliver_tasks.py`, or `tasks:` in
.deliver) decorated with invoke's or fabric's `@task`, run once per host with a
`fabric.Connection` to it.

That Connection is deliver's own connection to the host, already open and strictly
host-key-checked (transport/connect.py): fabric never opens one of its own (its default
policy trusts unknown host keys on first use), and `c.run`/`c.put`/`c.get` are channels on the
one SSH connection deliver holds to each host. `c.close()` in a task leaves it open for deliver.
What runs through `c.run` gets `umask 077` as every deliver command does (host/private.py), its
output goes through deliver's output prefixed by the host (transport/shared.py), and
`c.deliver` tells the task where it is (DeliverInfo).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from deliver.errors import DeliverError, UsageError
from deliver.output import Output
from deliver.shell import Secret, tail
from deliver.transport.remote import Remote
from deliver.transport.shared import fabric_connection
from deliver.transport.ssh import ssh_client_of

if TYPE_CHECKING:
    from invoke.tasks import Task

DEFAULT_FILE = "deliver_tasks.py"
#: The same umask as every command deliver runs on a deploy host (host/private.py).
UMASK = "umask 077"


class TaskFailed(DeliverError):
    """A task raised or a command it ran failed; names the task and the host."""

    def __init__(self, task: str, host: str, why: str) -> None:
        self.task, self.host = task, host
        super().__init__(f"{host}: task {task}: {why}")


@dataclass(frozen=True)
class DeliverInfo:
    """`c.deliver` in a task: the app, the environment and host it runs for, `deliver_to`
    on the host (an absolute path, also before the first deploy), the release `current`
    points at (None before the first deploy), the host's env from .deliver (secrets as their
    values), the task's arguments and deliver's output (`c.deliver.out.info("...")`)."""

    app: str
    environment: str
    host: str
    deliver_to: str
    current: str | None
    env: Mapping[str, str]
    out: Output
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFile:
    """The tasks of one file, by name as written in Python (`warm_cache`)."""

    path: Path
    tasks: Mapping[str, Task[Any]]

    @classmethod
    def load(cls, path: Path) -> TaskFile:
        """Import the file (its top level runs here, as fabric's fabfile does); UsageError
        when it is missing, does not import or holds no task."""
        from invoke.collection import Collection

        module = _import(path)
        collection = Collection.from_module(module, auto_dash_names=False)
        tasks = {name: collection[name] for name in collection.task_names}
        if not tasks:
            raise UsageError(f"{path} has no @task functions", hint="see README: custom tasks")
        return cls(path, tasks)

    def task(self, name: str) -> Task[Any]:
        if name not in self.tasks:
            from deliver.errors import did_you_mean

            raise UsageError(
                f"no task {name!r} in {self.path} (tasks: {', '.join(sorted(self.tasks))})",
                hint=did_you_mean(name, self.tasks),
            )
        return self.tasks[name]

    def listing(self) -> list[tuple[str, str]]:
        """(name, the first line of its docstring) for every task, by name."""
        return [
            (name, ((task.__doc__ or "").strip().splitlines() or [""])[0])
            for name, task in sorted(self.tasks.items())
        ]

    def arguments(self, name: str, argv: Sequence[str]) -> dict[str, Any]:
        """`--size=10 --force` -> the task's keyword arguments, parsed as invoke parses them
        (`--help` is not a task flag here); UsageError naming the task."""
        from invoke.collection import Collection
        from invoke.exceptions import ParseError
        from invoke.parser import Parser

        task = self.task(name)
        context = Collection(task).to_contexts()[0]
        try:
            parsed = Parser(contexts=[context]).parse_argv([str(context.name), *argv])
        except ParseError as error:
            raise UsageError(f"task {name}: {error}") from None
        return parsed[0].as_kwargs if parsed else {}


def run_task(
    tasks: TaskFile, name: str, remote: Remote, info: DeliverInfo, debug: bool = False
) -> Any:
    """Run task `name` with a Connection sharing `remote`'s SSH connection; TaskFailed
    (with the task's traceback printed first when `debug`) if it fails."""
    from invoke.exceptions import Failure

    task = tasks.task(name)
    connection = shared_connection(remote, info)
    try:
        return task(connection, **info.args)
    except DeliverError:
        raise
    except Failure as failure:  # a command it ran failed: say which, with its output
        result = failure.result
        why = f"`{result.command}` exited with status {result.exited}"
        output = tail(result.stdout + result.stderr)
        raise TaskFailed(name, remote.name, f"{why}\n{output}".rstrip()) from None
    except Exception as error:
        if debug:
            info.out.traceback("".join(traceback.format_exception(error)))
        where = _where(error, tasks.path)
        raise TaskFailed(name, remote.name, f"{type(error).__name__}: {error}{where}") from None


def shared_connection(remote: Remote, info: DeliverInfo) -> Any:
    """A fabric Connection over `remote`'s open paramiko client (no second connection)."""
    client = ssh_client_of(remote)
    if client is None:
        raise UsageError(
            f"{remote.name}: custom tasks need an SSH host (fabric has no Connection for "
            "`localhost`): write user@localhost or localhost:22 to go through sshd"
        )
    return fabric_connection(client, remote.name, info.out, {"deliver": info}, UMASK)


def plain_env(env: Mapping[str, str | Secret]) -> dict[str, str]:
    return {name: v.value if isinstance(v, Secret) else v for name, v in env.items()}


def _import(path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"no task file {path}", hint="set tasks: in .deliver (see README)")
    spec = importlib.util.spec_from_file_location(f"deliver_tasks_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # a task file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise UsageError(
            f"{path} does not import: {type(error).__name__}: {error}{_where(error, path)}"
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _where(error: BaseException, path: Path) -> str:
    """` (deliver_tasks.py, line 12)`: the last frame of the error in the task file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    return f" ({path.name}, line {frames[-1].lineno})" if frames else ""
