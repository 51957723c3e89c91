"""Hook points and running the user's hook scripts.

A hook is a script in the app's repository, `hooks/<point>` or `hooks/<point>.d/*` (run in
name order), and/or an entry under `hooks:` in the .deliver file (run after the files). The
points are edeliver's, each with a short alias (`hooks/pre_compile` works too):

    point                                 alias            runs on (default)
    pre/post_init_app_remotely            pre/post_init    build host
    pre/post_git_push                     pre/post_push    build host
    pre/post_erlang_get_and_update_deps   pre/post_deps    build host
    pre/post_erlang_clean_compile         pre/post_compile build host
    pre/post_erlang_generate_release      pre/post_release build host
    pre/post_extract_release_archive      pre/post_extract each deploy host
    pre/post_start_deployed_release       pre/post_start   each deploy host
    pre/post_upgrade_release              pre/post_upgrade each deploy host

A hook runs where its point happens, or on this machine with `runs_on: local` (in .deliver,
or as a `# runs_on: local` line near the top of a hook file); deploy hooks run once per host
either way. The script travels over the command's existing connection (no copy is left
behind); a `#!` line picks its interpreter, `sh` otherwise. Its environment is documented in
HookEnv. Output is shown with --verbose; a failing hook stops the command, and the error
names the hook, the host and the tail of its output.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from deliver.config.grammar import POINTS, canonical_point, default_runs_on, point_names
from deliver.errors import CommandFailed, ConfigError, DeliverError
from deliver.shell import Script, Secret, join, quote, quote_path, script_env, tail
from deliver.tasks import DEFAULT_FILE, DeliverInfo, TaskFile, plain_env, run_task

if TYPE_CHECKING:
    from deliver.config import Config, Environment
    from deliver.output import Output
    from deliver.transport.remote import Remote

T = TypeVar("T")

HOOKS_DIR = "hooks"
#: The script goes inside one command line: stay well below Linux's 128 KiB per argument.
MAX_SCRIPT = 100_000
_RUNS_ON_LINE = re.compile(r"^#\s*runs_on:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Hook:
    point: str
    name: str  # for people: `hooks/pre_compile.d/10-secrets`, `.deliver: hooks.pre_start[0]`
    body: str
    runs_on: str
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    #: a custom task (deliver/tasks.py) run with a Connection to the host, instead of `body`
    task: str | None = None

    def interpreter(self) -> list[str]:
        """The `#!` line's command (run on the file, so noexec /tmp does not matter)."""
        first = self.body.split("\n", 1)[0]
        return shlex.split(first[2:]) if first.startswith("#!") else ["sh"]


@dataclass(frozen=True)
class HookEnv:
    """What every hook finds in its environment:

    APP, VERSION (empty until known), REVISION (the commit), BRANCH, MIX_ENV, BUILD_AT (build
    hooks: the build directory) or DELIVER_TO (deploy hooks: the release root on the host),
    DELIVER_ENV (deploy hooks: the environment's name), DELIVER_HOST (the build or deploy host
    the hook is about, also for local hooks), HOOK (the point's full name); then build.env
    (build hooks) or the host's env (deploy hooks); then the hook's own `env:`.
    """

    app: str
    host: str
    cwd: str  # where a remote hook runs; `~` while there is no directory yet
    revision: str = ""
    branch: str = ""
    version: str = ""
    mix_env: str = ""
    build_at: str = ""
    deliver_to: str = ""
    deliver_env: str = ""
    extra: Mapping[str, str | Secret] = field(default_factory=dict)

    def variables(self, hook: Hook) -> dict[str, str | Secret]:
        where = {"BUILD_AT": self.build_at} if self.build_at else {"DELIVER_TO": self.deliver_to}
        return {
            "APP": self.app,
            "VERSION": self.version,
            "REVISION": self.revision,
            "BRANCH": self.branch,
            "MIX_ENV": self.mix_env,
            **where,
            "DELIVER_ENV": self.deliver_env,
            "DELIVER_HOST": self.host,
            "HOOK": hook.point,
            **self.extra,
            **hook.env,
        }


def deploy_env(
    config: Config,
    environment: Environment,
    remote: Remote,
    root: str,
    version: str,
    revision: str | None = None,
    branch: str | None = None,
) -> HookEnv:
    """The environment of a deploy-side hook on `remote` (release root `root`)."""
    return HookEnv(
        app=config.app,
        host=remote.name,
        cwd=root,
        revision=revision or "",
        branch=branch or "",
        version=version,
        mix_env=config.build.mix_env if config.build else "",
        deliver_to=root,
        deliver_env=environment.name,
        extra=environment.host_env(remote.host),
    )


class Hooks:
    """The hooks of one command, by point; `run` fires a point's hooks in order."""

    def __init__(
        self, hooks: list[Hook], out: Output, project_dir: Path, tasks_file: Path | None = None
    ) -> None:
        self.out, self.project_dir, self.tasks_file = out, project_dir, tasks_file
        self._tasks: TaskFile | None = None
        self.by_point: dict[str, list[Hook]] = {}
        for hook in hooks:
            self.by_point.setdefault(hook.point, []).append(hook)

    @classmethod
    def load(cls, config: Config, out: Output) -> Hooks:
        """The app's hooks/ files, then the .deliver file's hooks. Raises ConfigError."""
        config.require_set("hooks.")
        hooks = find_hook_files(config.project_dir / HOOKS_DIR, out)
        for spec in config.hooks:
            body, name = spec.run or "", spec.source
            if spec.script is not None:
                body, name = _read(spec.script, spec.source), f"{spec.script.name}, {spec.source}"
            if spec.task is not None:
                body, name = "", f"task {spec.task}, {spec.source}"
            hooks.append(Hook(spec.point, name, body, spec.runs_on, spec.env, spec.task))
        return cls(hooks, out, config.project_dir, config.tasks_file)

    def has(self, point: str) -> bool:
        return bool(self.by_point.get(point))

    def run(self, point: str, remote: Remote, env: HookEnv) -> None:
        """Run `point`'s hooks for `remote` (on it, or here for local ones); the first failure
        raises CommandFailed naming the hook and where it ran."""
        for hook in self.by_point.get(point, []):
            local = hook.runs_on == "local"
            where = f"localhost (for {remote.name})" if local else remote.name
            self.out.step(f"Hook {point}: {hook.name} on {where}")
            if hook.task is not None:
                self._run_task(hook, hook.task, remote, env)
            elif local:
                self._run_local(hook, env)
            else:
                script = remote_command(hook, env)
                remote.run(script.command, stdin=script.stdin, step=f"hook {point} ({hook.name})")

    def around(self, base: str, remote: Remote, env: HookEnv, action: Callable[[], T]) -> T:
        """pre_<base> hooks, then `action`, then post_<base> hooks."""
        self.run(f"pre_{base}", remote, env)
        result = action()
        self.run(f"post_{base}", remote, env)
        return result

    def _run_task(self, hook: Hook, name: str, remote: Remote, env: HookEnv) -> None:
        """The task, with a Connection on the command's own connection to `remote`."""
        if self._tasks is None:
            self._tasks = TaskFile.load(self.tasks_file or self.project_dir / DEFAULT_FILE)
        info = DeliverInfo(
            app=env.app,
            environment=env.deliver_env,
            host=remote.name,
            deliver_to=env.deliver_to or env.cwd,
            current=env.version or None,
            env=plain_env({**env.extra, **hook.env}),
            out=self.out,
            args={},
        )
        run_task(self._tasks, name, remote, info, self.out.debug)

    def _run_local(self, hook: Hook, env: HookEnv) -> None:
        variables = {name: _plain(value) for name, value in env.variables(hook).items()}
        with tempfile.NamedTemporaryFile("w", prefix="deliver-hook.", delete=False) as script:
            script.write(hook.body)
        output: list[str] = []
        try:
            with subprocess.Popen(
                [*hook.interpreter(), script.name],
                cwd=self.project_dir,
                env={**os.environ, **variables},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            ) as process:
                assert process.stdout is not None
                for line in process.stdout:
                    output.append(line)
                    if self.out.verbose:
                        self.out.remote_output("localhost", line.rstrip("\n"))
                status = process.wait()
        except OSError as error:
            raise DeliverError(f"hook {hook.point} ({hook.name}): {error.strerror}") from None
        finally:
            os.unlink(script.name)
        if status != 0:
            raise CommandFailed(
                "localhost",
                hook.name,
                status,
                tail("".join(output)),
                f"hook {hook.point} ({hook.name})",
            )


class StartHooks:
    """pre/post_start_deployed_release around each host's (re)start in one environment, for
    `start`, `restart`, `deploy --start-deploy`, `rollback` alike. REVISION and BRANCH come
    from the started release's `.deliver-revision` (written at extraction), read only when
    there are start hooks."""

    POINT = "start_deployed_release"

    def __init__(self, config: Config, out: Output, environment: Environment) -> None:
        self.config, self.environment = config, environment
        self.hooks = Hooks.load(config, out)

    def around(self, remote: Remote, root: str, version: str, action: Callable[[], T]) -> T:
        if not (self.hooks.has(f"pre_{self.POINT}") or self.hooks.has(f"post_{self.POINT}")):
            return action()
        revision_file = f"{quote(root)}/releases/{quote(version)}/.deliver-revision"
        found = remote.run(f"cat {revision_file} 2>/dev/null", check=False).stdout.splitlines()
        revision, branch = [*found, "", ""][:2]
        env = deploy_env(self.config, self.environment, remote, root, version, revision, branch)
        return self.hooks.around(self.POINT, remote, env, action)


def remote_command(hook: Hook, env: HookEnv) -> Script:
    """One shell command that writes the script to a private temp file, runs it in `env.cwd`
    with the hook's environment (its secrets read from stdin), removes it, and exits with the
    script's status."""
    interpreter = " ".join(quote(word) for word in hook.interpreter())
    variables = script_env(env.variables(hook))
    run = join(
        f"cd {quote_path(env.cwd)}",
        variables.exports,
        variables.read_secrets,
        f'exec {interpreter} "$f"',
    )
    command = f"""f=$(mktemp "${{TMPDIR:-/tmp}}/deliver-hook.XXXXXX") || exit 1
printf '%s' {quote(hook.body)} > "$f"
({run}) 2>&1
s=$?
rm -f "$f"
exit $s
"""
    return Script(command, variables.stdin)


def find_hook_files(directory: Path, out: Output) -> list[Hook]:
    """`hooks/<point>` then `hooks/<point>.d/*` (by name), for the full name then the alias."""
    if not directory.is_dir():
        return []
    for entry in sorted(directory.iterdir()):
        name = entry.name.removesuffix(".d")
        if name.startswith(("pre_", "post_")) and canonical_point(name) is None:
            out.warning(f"{HOOKS_DIR}/{entry.name} is not named after a hook point: not run")
    hooks = []
    for point in POINTS:
        for name in point_names(point):
            files = [directory / name] if (directory / name).is_file() else []
            if (directory / f"{name}.d").is_dir():
                files += sorted(
                    f
                    for f in (directory / f"{name}.d").iterdir()
                    if f.is_file() and not f.name.startswith(".") and not f.name.endswith("~")
                )
            hooks += [_hook_file(point, path, directory.parent) for path in files]
    return hooks


def _hook_file(point: str, path: Path, project_dir: Path) -> Hook:
    name = str(path.relative_to(project_dir))
    body = _read(path, name)
    marker = _RUNS_ON_LINE.search("\n".join(body.splitlines()[:10]))
    runs_on = marker.group(1) if marker else default_runs_on(point)
    if runs_on not in (default_runs_on(point), "local"):
        raise ConfigError(
            name,
            "runs_on",
            f"expected {default_runs_on(point)} or local for {point}, got {runs_on!r}",
        )
    return Hook(point, name, body, runs_on)


def _read(path: Path, name: str) -> str:
    try:
        body = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise ConfigError(name, "", f"cannot read hook {path}: {reason}") from None
    if len(body.encode()) > MAX_SCRIPT:
        raise ConfigError(name, "", f"hook script larger than {MAX_SCRIPT // 1000} kB")
    return body


def _plain(value: str | Secret) -> str:
    return value.value if isinstance(value, Secret) else value
