"""edeliver's hook functions as deliver `hooks:` entries.

Each hook function was run (commands/edeliver.py) with recording stand-ins for edeliver's
helpers and for every command, once per mix env its body compares `$TARGET_MIX_ENV` against.
The recorded calls become entries at the same hook point: the scripts given to `__sync_remote`
/ `__remote` run where the point happens, `status` lines become `echo`, other commands run on
this machine (`runs_on: local`). Two common shapes become deliver's example hooks: a secret
linked or copied into the build tree (`copy_secret_file`) and npm/yarn + brunch/webpack +
phx.digest (`phoenix_assets`). Results that differ between mix envs get a mix-env guard.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from deliver.config.edeliver import Call, Conversion, Evaluation, convert_variables
from deliver.config.grammar import POINTS, canonical_point, default_runs_on

Entry = dict[str, Any]

#: edeliver helpers that print a line, and those that print and fail.
_PRINTS = {"status", "warning", "hint_message", "success_message", "echo_message"}
_FAILS = {"error", "error_message"}
_REMOTE = {"__sync_remote", "__remote"}
#: Lines of an edeliver hook script that only set the scene (deliver's hooks need none of it).
_BOILERPLATE = re.compile(
    r"^\s*(#.*|set -e|\[ -f ~/\.profile \] && (source|\.) ~/\.profile.*|cd\s+['\"]?[^;&|]*"
    r"['\"]?|mkdir -p\s+.*|echo .*|)\s*$"
)
_LINK = re.compile(r"^\s*ln\s+-s\w*\s+['\"]?([^'\"\s]+)['\"]?\s+['\"]?([^'\"\s]+)['\"]?\s*$")
_ASSETS = re.compile(r"\b(npm|yarn|brunch|webpack|node_modules|phx\.digest|phoenix\.digest)\b")
_ASSET_LINE = re.compile(
    r"^\s*(#.*|set -e|\[ -f ~/\.profile \].*|cd\s+.*|mkdir -p\s+.*|echo .*|"
    r"(APP=\S+\s+)?(MIX_ENV=\S+\s+)?(npm|yarn|node|\./node_modules/\S+|brunch|webpack|mix|\S*mix)\b.*|)\s*$"
)
_MIX_ENV_TEST = re.compile(
    r"""\$\{?TARGET_MIX_ENV\}?"?\s*!?==?\s*"?([a-z][a-z0-9_]*)"?|"""
    r"""case\s+"?\$\{?TARGET_MIX_ENV\}?"?\s+in\b(.*?)\besac\b""",
    re.S,
)
_CASE_LABEL = re.compile(r"(?:^|;;)\s*\(?([a-z][a-z0-9_ |]*)\)", re.M)
#: edeliver's older names for points deliver knows by another name.
RENAMED = {
    "pre_erlang_update": "pre_erlang_get_and_update_deps",
    "post_erlang_update": "post_erlang_get_and_update_deps",
}
EXAMPLE_SECRET = "hooks/copy_secret_file"
EXAMPLE_ASSETS = "hooks/phoenix_assets"


def mix_envs(body: str, default: str) -> list[str]:
    """The mix envs a hook function's body compares `$TARGET_MIX_ENV` against, `default`
    first: the function is dry-run once for each."""
    found = [default]
    for match in _MIX_ENV_TEST.finditer(body):
        labels = _CASE_LABEL.findall(match.group(2)) if match.group(2) else [match.group(1)]
        for name in re.findall(r"[a-z][a-z0-9_]*", " ".join(labels)):
            if name not in found:
                found.append(name)
    return found


def convert(evaluation: Evaluation) -> Conversion:
    """The deliver config for an evaluated edeliver file: its variables, then its hooks."""
    result = convert_variables(evaluation)
    convert_hooks(evaluation, result)
    return result


def convert_hooks(evaluation: Evaluation, result: Conversion) -> None:
    values = evaluation.sourced["production"].variables
    functions = evaluation.sourced["production"].functions
    for name in functions:
        if name in RENAMED:
            result.note(name, f"runs as deliver's {RENAMED[name]}")
        elif re.match(r"^(pre|post)_", name) and name not in POINTS:
            result.note(
                name,
                "is no edeliver hook point deliver knows, so it never runs: rename it to one "
                "of the points in the README's hook table, or drop it",
            )
    hooks: dict[str, list[Entry]] = {}
    for function in dict.fromkeys(run.function for run in evaluation.hook_runs):
        runs = {r.mix_env: r.calls for r in evaluation.hook_runs if r.function == function}
        point = RENAMED.get(function) or canonical_point(function) or function
        per_env = {env: _entries(point, calls, values, result) for env, calls in runs.items()}
        compares = _MIX_ENV_TEST.search(functions.get(function, "")) is not None
        entries = _guarded(per_env, function, compares, result)
        if entries:
            hooks.setdefault(_point_for(point, entries), []).extend(entries)
        else:
            result.note(function, "does nothing deliver needs (only status lines): dropped")
    if hooks:
        result.data["hooks"] = {point: hooks[point] for point in POINTS if point in hooks}


def _point_for(point: str, entries: list[Entry]) -> str:
    """phoenix_assets builds after compile: pre_erlang_clean_compile's assets move on."""
    if point == "pre_erlang_clean_compile" and any(
        e.get("script") == EXAMPLE_ASSETS for e in entries
    ):
        return "pre_erlang_generate_release"
    return point


def _guarded(
    per_env: Mapping[str, list[Entry]], function: str, compares: bool, result: Conversion
) -> list[Entry]:
    """One list of entries when every mix env gives the same (and the body compares
    `$TARGET_MIX_ENV` against more than one, or none); otherwise each env's entries behind
    `[ "$MIX_ENV" = env ]` (scripts cannot be wrapped: they run for every env)."""
    distinct = {repr(entries) for entries in per_env.values()}
    if len(distinct) == 1 and (len(per_env) > 1 or not compares):
        return next(iter(per_env.values()))
    guarded: list[Entry] = []
    for env, entries in per_env.items():
        for entry in entries:
            if "run" in entry:
                body = entry["run"].rstrip("\n")
                guarded.append({**entry, "run": f'if [ "$MIX_ENV" = {env} ]; then\n{body}\nfi\n'})
            elif entry not in guarded:
                guarded.append(entry)
                result.note(
                    function,
                    f"{entry['script']} ran only for MIX_ENV={env} in edeliver; deliver runs it "
                    "for every mix env: remove it before building another one",
                )
    if any("run" in entry for entry in guarded):
        result.note(
            function,
            f"compares $TARGET_MIX_ENV with {', '.join(per_env)}: each mix env's commands are "
            'guarded by [ "$MIX_ENV" = <env> ]',
        )
    return guarded


def _entries(
    point: str, calls: tuple[Call, ...], values: Mapping[str, str], result: Conversion
) -> list[Entry]:
    """The calls of one run, consecutive ones on the same side merged into one script."""
    pieces: list[tuple[str, str]] = []  # (where: remote | local, shell text)
    for call in calls:
        where, text = _piece(call)
        if not text:
            continue
        if pieces and pieces[-1][0] == where == "remote":
            pieces[-1] = (where, f"{pieces[-1][1]}\n{text}")
        else:
            pieces.append((where, text))
    entries: list[Entry] = []
    for where, text in pieces:
        if where == "local":
            entries.append(_local(point, text, values, result))
        else:
            entries.extend(_remote(point, text, values, result))
    return entries


def _piece(call: Call) -> tuple[str, str]:
    if call.kind in _PRINTS:
        return "remote", f"echo {shlex.quote(call.text())}"
    if call.kind in _FAILS:
        return "remote", f"echo {shlex.quote(call.text())} >&2; exit 1"
    if call.kind in _REMOTE:
        return "remote", _dedent(call.text())
    return "local", " ".join(_word(arg) for arg in call.args)


def _word(arg: str) -> str:
    """A shell word; `~/path` stays unquoted so that it is still your home."""
    if arg.startswith("~/") and shlex.quote(arg[2:]) == arg[2:]:
        return arg
    return shlex.quote(arg)


def _dedent(script: str) -> str:
    """The script without its common indent; a first line written after the opening quote
    (`__sync_remote " # on the build host`) does not count."""
    lines = [line.rstrip() for line in script.strip("\n").splitlines()]
    rest = lines[1:] if not script.startswith("\n") and len(lines) > 1 else lines
    indents = [len(line) - len(line.lstrip()) for line in rest if line.strip()]
    cut = min(indents, default=0)
    return (
        "\n".join(line[cut:] if line[:cut].isspace() else line.lstrip() for line in lines).strip(
            "\n"
        )
        + "\n"
    )


def _remote(point: str, script: str, values: Mapping[str, str], result: Conversion) -> list[Entry]:
    build = default_runs_on(point) == "build"
    if build:
        secret = _secret_link(script, values.get("BUILD_AT", ""))
        if secret is not None:
            result.scripts.add(EXAMPLE_SECRET)
            result.note(
                point,
                f"the linked secret {secret['SECRET_FILE_SOURCE']} (on the build host) is "
                f"copied into {secret['SECRET_FILE_TARGET']} by {EXAMPLE_SECRET}",
            )
            return [{"script": EXAMPLE_SECRET, "env": secret}]
        if _ASSETS.search(script) and all(
            _ASSET_LINE.match(_uncommented(line)) for line in script.split("\n")
        ):
            result.scripts.add(EXAMPLE_ASSETS)
            result.note(
                point,
                f"the asset build (npm/yarn, brunch/webpack, phx.digest) is {EXAMPLE_ASSETS}, "
                "run as pre_release (after compile, before the release is assembled)",
            )
            return [{"script": EXAMPLE_ASSETS}]
    else:
        script = _deploy_paths(script, values, point, result)
    if build:  # the build directory, as deliver's build hooks have it
        script = as_variable(script, values.get("BUILD_AT", "").rstrip("/"), "BUILD_AT")
    return [{"run": script}]


def _uncommented(line: str) -> str:
    """The line without a trailing `# comment` (for matching the shapes only)."""
    return re.sub(r"(^|\s)#.*$", "", line)


def _secret_link(script: str, build_at: str) -> dict[str, str] | None:
    """`ln -s <secret> <build dir>/config/x.secret.exs` amid scene-setting lines."""
    link = None
    for line in script.split("\n"):
        match = _LINK.match(line)
        if match and link is None:
            link = match
        elif not _BOILERPLATE.match(_uncommented(line)):
            return None
    if link is None:
        return None
    source, target = link.group(1), link.group(2)
    for prefix in (f"{build_at.rstrip('/')}/", "$BUILD_AT/", "./"):
        if build_at and target.startswith(prefix):
            target = target[len(prefix) :]
    if target.startswith(("/", "~")) or ".." in target.split("/"):
        return None
    return {"SECRET_FILE_SOURCE": source, "SECRET_FILE_TARGET": target}


def _local(point: str, command: str, values: Mapping[str, str], result: Conversion) -> Entry:
    """A command run on this machine; `scp <file> <build host>:<build dir>/<path>` is the
    secret copy deliver's copy_secret_file does without scp."""
    words = shlex.split(command)
    build_at = values.get("BUILD_AT", "").rstrip("/")
    if words[0] == "scp" and build_at and default_runs_on(point) == "build":
        files = [w for w in words[1:] if not w.startswith("-")]
        if len(files) == 2 and ":" in files[1]:
            target = files[1].split(":", 1)[1]
            if target.startswith(f"{build_at}/"):
                result.scripts.add(EXAMPLE_SECRET)
                result.note(
                    point,
                    f"`{command}` (a local scp of a secret) is {EXAMPLE_SECRET}, which reads "
                    "the file here and writes it on the build host without scp",
                )
                return {
                    "script": EXAMPLE_SECRET,
                    "env": {
                        "SECRET_FILE_TARGET": target[len(build_at) + 1 :],
                        "SECRET_FILE_CONTENT": {"file": files[0]},
                    },
                }
    result.note(point, f"`{command}` ran on this machine in edeliver: kept as runs_on: local")
    return {"run": command, "runs_on": "local"}


def _deploy_paths(script: str, values: Mapping[str, str], point: str, result: Conversion) -> str:
    """edeliver's release root on a deploy host is `$DELIVER_TO/$APP`; deliver's hooks get the
    release root as $DELIVER_TO."""
    deliver_to, app = values.get("DELIVER_TO", "").rstrip("/"), values.get("APP", "")
    if not deliver_to or not app or f"{deliver_to}/{app}" not in script:
        return script
    result.note(
        point,
        f"edeliver's release root {deliver_to}/{app} is $DELIVER_TO in deliver's deploy hooks "
        "(deliver_to/releases/<version>): rewritten; check other Distillery layout paths",
    )
    return as_variable(script, f"{deliver_to}/{app}", "DELIVER_TO")


def as_variable(script: str, path: str, name: str) -> str:
    """`script` with `path` (expanded into it by edeliver's local shell) replaced by `$name`,
    quote-aware: `'<path>/bin'` becomes `"$name"'/bin'`, still one word."""
    if not path:
        return script
    # the quoting in force where the path stands: none, ' or "
    instead = {"": f'"${name}"', "'": f"'\"${name}\"'", '"': f"${name}"}
    out, quoting, index = [], "", 0
    while index < len(script):
        after = script[index + len(path) : index + len(path) + 1]
        if script.startswith(path, index) and not re.match(r"[\w.-]", after):
            out.append(instead[quoting])
            index += len(path)
            continue
        char = script[index]
        if char == "\\" and quoting != "'":
            out.append(script[index : index + 2])
            index += 2
            continue
        if char in "'\"" and quoting in ("", char):
            quoting = "" if quoting == char else char
        out.append(char)
        index += 1
    # an empty '' beside the variable is one the path was quoted in: the word is the same
    text = "".join(out)
    return text.replace(f"''\"${name}\"", f'"${name}"').replace(f"\"${name}\"''", f'"${name}"')
