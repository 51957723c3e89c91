"""`deliver import edeliver [PATH]`: evaluate an edeliver `.deliver/config` (bash) in an
isolated shell and convert what it defines into deliver's config (config/edeliver.py).

The isolation: `bash --noprofile --norc` with an empty environment (unless `with_env`), PATH
pointing nowhere, HOME a placeholder, in a temporary directory, in restricted mode (`set -r`:
no command names with `/`, no output redirection, no `cd`, no `exec`) and, where `unshare`
can make one, in a network namespace of its own. edeliver's helpers (`__sync_remote`,
`status`, ...) and every other command (bash's `command_not_found_handle`) are recorders:
what the file and its hook functions would run is printed as records, never run. The file
is sourced once per edeliver environment (DEPLOY_ENVIRONMENT staging, production), then each
hook function is run once per mix env it compares `$TARGET_MIX_ENV` against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path, PurePosixPath

from deliver.config.edeliver import (
    ENVIRONMENTS,
    HOME,
    Call,
    Conversion,
    Evaluation,
    HookRun,
    Sourced,
)
from deliver.config.edeliver_hooks import RENAMED, convert, mix_envs
from deliver.config.find import EDELIVER_CONFIG, find_edeliver_config, project_dir
from deliver.config.grammar import POINTS, example_hook
from deliver.config.load import load_config
from deliver.errors import ConfigError, UsageError
from deliver.output import Output

WRITTEN_NAME = ".deliver.yml"
#: Seconds one evaluation may take (a file that loops forever is stopped).
TIMEOUT = 20
_START, _FIELD, _END = "\x1e", "\x1f", "\x1d"
_HELPERS = (
    "__sync_remote", "__remote", "status", "error", "error_message", "warning",
    "hint_message", "success_message", "echo_message", "__exec_if_defined",
)  # fmt: skip
_DRIVER = f"""\
__deliver_rec() {{ local IFS=; printf '{_START}%s' "$#"; printf '{_FIELD}%s' "$@"; \
printf '{_END}'; }}
command_not_found_handle() {{ __deliver_rec exec "$@"; return 0; }}
{"".join(f'{h}() {{ __deliver_rec {h} "$@"; }}{chr(10)}' for h in _HELPERS)}\
__deliver_dump() {{
  [ -n "${{__deliver_dumped:-}}" ] && return
  __deliver_dumped=1
  for __deliver_n in $(compgen -v); do __deliver_rec var "$__deliver_n" "${{!__deliver_n}}"; done
  for __deliver_f in $(compgen -A function); do
    [[ $__deliver_f == __deliver* ]] && continue
    __deliver_rec function "$__deliver_f" "$(declare -f "$__deliver_f")"
  done
}}
# a file that runs `exit` still shows what it had set by then
trap __deliver_dump EXIT
PATH=/nonexistent-deliver-import
set -r
. config  # restricted: no / in the name; found in the working directory
__deliver_rec @sourced
__deliver_dump
for __deliver_p in $__DELIVER_PLAN; do
  (
    TARGET_MIX_ENV=${{__deliver_p#*:}} MIX_ENV=${{__deliver_p#*:}} MIX_CMD=mix SILENCE=
    VERSION='$VERSION'
    __deliver_rec @hook "${{__deliver_p%%:*}}" "$TARGET_MIX_ENV"
    "${{__deliver_p%%:*}}"
  )
done
"""


@dataclass(frozen=True)
class ImportOptions:
    path: Path | None = None  # default: .deliver/config here or above, up to the git root
    write: bool = False
    force: bool = False
    with_env: bool = False


def import_edeliver(options: ImportOptions, out: Output) -> Conversion:
    """Convert the edeliver config at `options.path`: print the deliver config on stdout and
    the notes on stderr, or with `write`, write `.deliver.yml` beside `.deliver/` (refused if
    it exists, unless `force`) and check it as `deliver check config` would."""
    path = options.path or find_edeliver_config(Path.cwd())
    if path is None:
        raise UsageError(
            f"no {EDELIVER_CONFIG} in {Path.cwd()} or above it",
            hint="give the path of edeliver's config: deliver import edeliver path/to/config",
        )
    options = replace(options, path=path)
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageError(
            f"{path}: cannot read: {error.strerror or error}",
            hint="give the path of edeliver's config: deliver import edeliver .deliver/config",
        ) from None
    evaluation = evaluate(str(path), text, with_env=options.with_env)
    conversion = convert(evaluation)
    if evaluation.isolation:
        conversion.note("isolation", evaluation.isolation)
    target = project_dir(path) / WRITTEN_NAME
    if not options.write:
        out.info(conversion.yaml(str(path)).rstrip("\n"))
        for script in sorted(conversion.scripts):
            if not (target.parent / script).exists():
                conversion.note(
                    script,
                    f"the config runs deliver's example hook {script}: --write copies it into "
                    f"{target.parent / script}",
                )
    else:
        _write(conversion, path, options.force, target, out)
    for note in conversion.notes:
        out.warning(f"{note.subject}: {note.text}")
    return conversion


def evaluate(source: str, text: str, *, with_env: bool = False) -> Evaluation:
    """Source `text` in the isolated shell as each edeliver environment, then dry-run its
    hook functions (see the module docstring)."""
    sourced = {env: _source(text, env, with_env) for env in ENVIRONMENTS}
    production = sourced["production"]
    default = production.variables.get("TARGET_MIX_ENV") or "prod"
    plan = [
        f"{name}:{env}"
        for name, body in production.functions.items()
        if name in POINTS or name in RENAMED
        for env in mix_envs(body, default)
    ]
    runs = _hook_runs(_bash(text, "production", with_env, plan)[0]) if plan else ()
    isolation = (
        ""
        if _network_namespace()
        else (
            "no network namespace could be made (unshare): the file ran without network "
            "isolation, restricted and with every command recorded instead of run"
        )
    )
    return Evaluation(source, text, sourced, runs, isolation, with_env)


def _source(text: str, environment: str, with_env: bool) -> Sourced:
    records, errors = _bash(text, environment, with_env, [])
    variables: dict[str, str] = {}
    functions: dict[str, str] = {}
    calls: list[Call] = []
    substituted: dict[str, tuple[Call, ...]] = {}
    pending: list[Call] = []  # commands inside the value of the variable dumped next
    complete = False
    for record in records:
        kind, args = record[0], record[1:]
        complete = complete or kind == "@sourced"
        if kind == "var" and len(args) == 2:
            variables[args[0]] = args[1]
            if pending:
                substituted[args[0]], pending = tuple(pending), []
        elif kind == "function" and len(args) == 2 and not args[0].startswith("__deliver"):
            if args[0] not in _HELPERS and args[0] != "command_not_found_handle":
                functions[args[0]] = args[1]
        elif kind != "@sourced":
            # before @sourced: run while sourcing; after it, right before a variable's
            # record: a command in `$(...)` whose recorded output was the value
            (pending if complete else calls).append(Call(kind, args))
    return Sourced(environment, variables, functions, tuple(calls), errors, complete, substituted)


def _hook_runs(records: list[tuple[str, ...]]) -> tuple[HookRun, ...]:
    runs: list[HookRun] = []
    current: tuple[str, str] | None = None
    calls: list[Call] = []
    for record in records:
        if record[0] == "@hook" and len(record) == 3:
            if current:
                runs.append(HookRun(current[0], current[1], tuple(calls)))
            current, calls = (record[1], record[2]), []
        elif current and record[0] not in ("var", "function", "@sourced"):
            calls.append(Call(record[0], record[1:]))
    if current:
        runs.append(HookRun(current[0], current[1], tuple(calls)))
    return tuple(runs)


def _bash(
    text: str, environment: str, with_env: bool, plan: list[str]
) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """Run the driver on `text`; the records it printed and bash's complaints."""
    env = {k: v for k, v in os.environ.items() if _passable(k)} if with_env else {}
    env.update(HOME=HOME, LC_ALL="C", DEPLOY_ENVIRONMENT=environment, __DELIVER_PLAN=" ".join(plan))
    bash = shutil.which("bash") or "/bin/bash"
    # a file, not -c: BASH_EXECUTION_STRING would hold the driver's framing characters
    command = [bash, "--noprofile", "--norc", "driver"]
    if _network_namespace():
        command = ["unshare", "-rn", *command]
    with tempfile.TemporaryDirectory(prefix="deliver-import-") as work:
        Path(work, "config").write_text(text)
        Path(work, "driver").write_text(_DRIVER)
        try:
            done = subprocess.run(
                command, cwd=work, env=env, capture_output=True, timeout=TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise UsageError(
                f"sourcing the file took longer than {TIMEOUT} s (a loop?): nothing converted"
            ) from None
    stdout = done.stdout.decode(errors="replace").replace(HOME, "~")
    stderr = done.stderr.decode(errors="replace").replace(f"{work}/", "")
    errors = tuple(line.replace("bash: ", "") for line in stderr.splitlines() if line.strip())
    return parse_records(stdout), errors


def _passable(name: str) -> bool:
    """The caller's variables that --with-env passes: not those that make bash run code or
    find commands."""
    blocked = {"PATH", "HOME", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "CDPATH"}
    return name not in blocked and not name.startswith("BASH_FUNC_")


@cache
def _network_namespace() -> bool:
    """Whether `unshare -rn` works here (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def parse_records(text: str) -> list[tuple[str, ...]]:
    """The records in the driver's output, in the order their commands ran: a record inside a
    field (a command in `$(...)`) comes before the one that holds it, and leaves the field."""
    records: list[tuple[str, ...]] = []
    index = 0
    while (index := text.find(_START, index)) != -1:
        index = _record(text, index, records)
    return records


def _record(text: str, index: int, records: list[tuple[str, ...]]) -> int:
    index += 1
    fields: list[str] = []
    buffer: list[str] = []
    while index < len(text) and text[index] not in (_FIELD, _END):
        index += 1  # the field count: the framing says the same
    while index < len(text):
        char = text[index]
        if char == _START:
            index = _record(text, index, records)
            continue
        if char in (_FIELD, _END):
            if fields or buffer or char == _FIELD:
                fields.append("".join(buffer))
            buffer = []
            index += 1
            if char == _END:
                break
            continue
        buffer.append(char)
        index += 1
    if fields and fields[0] == "":
        fields = fields[1:]  # the empty text between the count and the first field
    if fields:
        records.append(tuple(fields))
    return index


def _write(conversion: Conversion, source: Path, force: bool, target: Path, out: Output) -> None:
    if target.exists() and not force:
        raise UsageError(
            f"{target} exists already",
            hint="compare it with `deliver import edeliver` (prints), or replace it with --force",
        )
    for script in sorted(conversion.scripts):
        _copy_example(script, target.parent, conversion)
    target.write_text(conversion.yaml(str(source)))
    try:
        load_config(target, environ={})
    except ConfigError as error:
        conversion.note(
            "check",
            f"the written config does not pass `deliver check config`: {error}: edit {target}",
        )
    out.step(f"Wrote {target} (from {source}); next: deliver check config --hosts")


def _copy_example(script: str, directory: Path, conversion: Conversion) -> None:
    """Copy one of deliver's example hooks (package data: deliver/example_hooks/, which the
    repository's hooks/ links to) beside the config, executable."""
    target = directory / script
    if target.exists():
        return
    example = example_hook(PurePosixPath(script).name)
    if example is None:
        conversion.note(script, f"copy {script} from deliver's repository into {directory}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(example.read_bytes())
    target.chmod(0o755)  # a wheel need not keep the mode: hooks are run as programs
    conversion.note(script, f"copied deliver's {script} to {target}: commit it")
