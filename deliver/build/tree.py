"""The build directory on the build host: prepared, reset to the pushed commit, built step by
step between the hook points, and packed into the release archive.

Every step runs over the one connection to the build host (`localhost`: this machine, no
SSH). The build tree is reset to the exact commit pushed; deps and _build are kept between
builds so they are incremental (`--clean` removes them), the configured generated paths are
removed, and a release that this build did not make is never shipped: it must be newer than a
marker written right after the reset. The version comes from the release the tool just built
(`start_erl.data`); when a version was asked for, the build tree was patched to it and the
release must carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from deliver.build import git
from deliver.build.versions import VersionOptions, VersionPlan
from deliver.config import BuildConfig, Config
from deliver.config.model import VERSION
from deliver.errors import CommandFailed, DeliverError
from deliver.hooks import HookEnv, Hooks
from deliver.output import Output
from deliver.release import Release, archive_name, now
from deliver.shell import Script, Secret, join, parse_key_values, quote, quote_path, script_env
from deliver.tools import BuildStep, BuildTool
from deliver.transport.remote import Remote

#: Written after the reset; the shipped release must be newer.
MARKER = "_build/deliver/build-started"


@dataclass(frozen=True)
class BuildOptions:
    """How to treat the build tree, and which version to give the build."""

    clean: bool = False  # --clean: also remove git-ignored files (deps, _build): full rebuild
    git_clean: bool = True  # --skip-git-clean: keep untracked files in the build tree
    remove_generated: bool = True  # --skip-mix-clean: keep build.clean_paths
    force: bool = False  # --force: replace a stored release of the same version
    versions: VersionOptions = field(default_factory=VersionOptions)


def send_commit(
    config: Config,
    remote: Remote,
    out: Output,
    hooks: Hooks,
    env: HookEnv,
    target: git.Revision,
    options: BuildOptions,
) -> BuildTree:
    """Prepare the build directory, push the commit and reset the build tree to it, with the
    init_app_remotely and git_push hooks; returns the tree, whose hook env knows its path."""
    build = config.require_build()
    hooks.run("pre_init_app_remotely", remote, env)
    out.step(f"Preparing build directory {build.at} on {remote.name}")
    build_dir = prepare_build_dir(remote, build.at)
    env = replace(env, build_at=build_dir, cwd=build_dir)
    hooks.run("post_init_app_remotely", remote, env)
    hooks.run("pre_git_push", remote, env)
    out.step(f"Pushing {target.description} ({target.commit[:10]}) to {remote.name}")
    out.detail(git.push(config.project_dir, target.commit, build.host, build_dir, config.ssh))
    hooks.run("post_git_push", remote, env)
    out.step(f"Resetting build tree to {target.commit[:10]}")
    remote.run(reset_command(build_dir, target.commit, build, options), step="reset")
    return BuildTree(remote, out, build_dir, build, env)


def pack_release(
    tree: BuildTree, tool: BuildTool, app: str, target: git.Revision, plan: VersionPlan
) -> Release:
    """Archive what the tool built; it must carry the version asked for, if any."""
    tree.out.step("Packing release archive")
    build = tree.build
    packed = pack(
        tree.remote,
        tree.path,
        app,
        tool.release_root(app, build),
        tool.release_tarball(app, build),
    )
    if plan.enforced and packed.version != plan.version:
        raise DeliverError(
            f"the build made version {packed.version}, not {plan.version} as asked: "
            f"does it read its version from {', '.join(plan.patches) or 'mix.exs'}"
            " or $DELIVER_VERSION?"
        )
    return Release(
        app=app,
        version=packed.version,
        commit=target.commit,
        branch=target.branch,
        tool=tool.node_tool(build),
        built_at=now(),
        sha256=packed.sha256,
        size=packed.size,
    )


def prepare_build_dir(remote: Remote, at: str) -> str:
    """Make sure a git repository exists at `at` on the build host, readable by its owner only
    (it holds the release, whose cookie opens the node, and the build's secrets); returns its
    absolute path."""
    path = quote_path(at)
    script = join(
        f"mkdir -p {path}",
        f"chmod 0700 {path}",
        f"cd {path}",
        "{ git rev-parse --git-dir >/dev/null 2>&1 || git init -q; }",
        "command -v git >/dev/null",
        "pwd -P",
    )
    return remote.run(script, step="preparing the build directory").stdout.strip()


def reset_command(
    build_dir: str, commit: str, build: BuildConfig, options: BuildOptions | None = None
) -> str:
    """Check out exactly `commit` (and its submodules), drop untracked files (deps and _build
    are git-ignored and kept for incremental builds, unless --clean), remove the configured
    generated paths, and mark the moment the build starts."""
    options = options or BuildOptions()
    paths = [p.format(mix_env=build.mix_env) for p in build.clean_paths]
    remove = (
        f"rm -rf -- {' '.join(quote(p) for p in paths)}"
        if paths and options.remove_generated
        else ""
    )
    clean = (
        "git clean -q -ffdx" if options.clean else "git clean -q -ffd" if options.git_clean else ""
    )
    in_submodules = f" && git submodule foreach -q --recursive {quote(clean)}" if clean else ""
    submodules = (
        "if [ -f .gitmodules ]; then git submodule sync -q --recursive"
        f" && git submodule update -q --init --recursive --force{in_submodules}; fi"
    )
    return join(
        f"cd {quote(build_dir)}",
        f"git reset -q --hard {quote(commit)}",
        clean,
        submodules,
        remove,
        f"mkdir -p {quote(str(Path(MARKER).parent))}",
        f"touch {quote(MARKER)}",
    )


@dataclass(frozen=True)
class BuildTree:
    """The build directory on the build host, reached through `remote`."""

    remote: Remote
    out: Output
    path: str
    build: BuildConfig
    #: what the build's hooks find in their environment
    env: HookEnv

    def run(
        self,
        steps: Sequence[BuildStep],
        tool: str,
        extra: Mapping[str, str | Secret],
        prelude: str = "",
    ) -> None:
        """`steps` in one remote script (after `prelude`, shell run first in the build
        directory); the first that fails stops it, and is the step the error names."""
        titles = [step.title for step in steps]
        what = ", ".join(_lower_after_first(titles))
        self.out.step(f"{what} ({tool}, MIX_ENV={self.build.mix_env})")
        command = f"{prelude} && {_steps_script(steps)}" if prelude else _steps_script(steps)
        script = in_build_dir(self.path, self.build, command, extra)
        try:
            self.remote.run(script.command, stdin=script.stdin, step=titles[0])
        except CommandFailed as failed:
            raise _named_step(failed, titles) from None


def _lower_after_first(titles: Sequence[str]) -> list[str]:
    return [title if n == 0 else title[:1].lower() + title[1:] for n, title in enumerate(titles)]


#: The last line of a multi-step build script that failed: which step it was.
_FAILED_STEP = "deliver: failed step "


def _steps_script(steps: Sequence[BuildStep]) -> str:
    """Shell: the steps one after the other, each in its own subshell (a step's `cd`, `exit`
    or several lines stay its own); the first failure ends the script with its status, after
    a line naming its number (one step alone needs none)."""
    if len(steps) == 1:
        return f"(\n{steps[0].command}\n)"
    lines = (
        f"(\n{step.command}\n) || {{ s=$?; echo '{_FAILED_STEP}{n}'; exit $s; }}"
        for n, step in enumerate(steps)
    )
    return "{\n" + "\n".join(lines) + "\n}"


def _named_step(failed: CommandFailed, titles: Sequence[str]) -> CommandFailed:
    """The error of a multi-step script, naming the step that failed, without the marker."""
    lines = failed.output_tail.splitlines()
    if len(titles) < 2 or not lines or not lines[-1].startswith(_FAILED_STEP):
        return failed
    number = int(lines[-1].removeprefix(_FAILED_STEP))
    return replace(failed, step=titles[number], output_tail="\n".join(lines[:-1]))


def set_version(tree: BuildTree, plan: VersionPlan) -> None:
    """Write the version into the build tree (only there: the next reset undoes it)."""
    if not plan.patches:
        return
    tree.out.step(f"Setting version {plan.version} in the build tree ({', '.join(plan.patches)})")
    for path, content in plan.patches.items():
        tree.remote.upload(content.encode(), f"{tree.path}/{path}")


def run_steps(tree: BuildTree, hooks: Hooks, tool: BuildTool, app: str, plan: VersionPlan) -> None:
    """The tool's steps, each between the pre_ and post_ hooks of its point; the steps between
    two hooks that are configured run as one remote script. A version asked for is also in
    $DELIVER_VERSION (for custom builds). The release's Erlang cookie of the last build in
    this build directory is put back first (see `_KEEP_COOKIE`)."""
    extra = {"DELIVER_VERSION": plan.version} if plan.enforced and plan.version else {}
    root = tool.release_root(app, tree.build)
    prelude = _restore_cookie(root) if root else ""
    batch: list[BuildStep] = []

    def run_batch() -> None:
        nonlocal batch, prelude
        if batch:
            tree.run(batch, tool.name, extra, prelude)
            batch, prelude = [], ""

    for step in tool.build_steps(app, tree.build):
        if step.hook and hooks.has(f"pre_{step.hook}"):
            run_batch()
            hooks.run(f"pre_{step.hook}", tree.remote, tree.env)
        batch.append(step)
        if step.hook and hooks.has(f"post_{step.hook}"):
            run_batch()
            hooks.run(f"post_{step.hook}", tree.remote, tree.env)
    run_batch()


#: Where the build directory keeps the cookie of the last release it built: mix writes a
#: random releases/COOKIE into a release directory that has none, and the release directory
#: is removed before every build (build.clean_paths), so without this every build of one
#: commit would differ (and old and new nodes could not talk to each other).
_KEEP_COOKIE = "_build/deliver/COOKIE"


def _restore_cookie(root: str) -> str:
    # cp -p: with the mode mix gave it (the archive holds modes); the build tree is 0700
    cookie = f"{quote(root)}/releases/COOKIE"
    return (
        f"if [ -f {_KEEP_COOKIE} ] && [ ! -e {cookie} ]; then "
        f"mkdir -p {quote(root)}/releases && cp -p {_KEEP_COOKIE} {cookie}; fi"
    )


def in_build_dir(
    build_dir: str,
    build: BuildConfig,
    command: str,
    extra: Mapping[str, str | Secret] | None = None,
) -> Script:
    """`command` in the build tree with MIX_ENV and build.env; the secrets of build.env go on
    its stdin: a build step runs for seconds, in plain view of `ps` on the build host."""
    env = script_env({"MIX_ENV": build.mix_env, **(extra or {}), **build.env})
    command = join(f"cd {quote(build_dir)}", env.exports, env.read_secrets, f"{command} 2>&1")
    return Script(command, env.stdin)


@dataclass(frozen=True)
class Packed:
    """The release archive a build left in the build tree."""

    version: str
    archive: str  # absolute path on the build host
    sha256: str
    size: int


def pack(
    remote: Remote,
    build_dir: str,
    app: str,
    release_root: str | None,
    tarball: str | None = None,
) -> Packed:
    """Archive the release this build made.

    From `tarball` (a glob that must match exactly one file newer than the build's start) when
    the tool makes one, else by tarring `release_root`. Raises CommandFailed when there is no
    fresh release.
    """
    find = _find_tarball(tarball) if tarball else _find_release_dir(release_root or "")
    # umask 077: the archive holds the Erlang cookie (and is 0600 wherever it goes next)
    script = f"""set -e
umask 077
cd {quote(build_dir)}
{find}
mkdir -p _build/deliver && rm -f _build/deliver/*.tar.gz
archive="$PWD/_build/deliver/{app}_$version.release.tar.gz"
{'cp "$tarball" "$archive"' if tarball else _pack_directory(release_root or "")}
echo VERSION="$version"
echo ARCHIVE="$archive"
echo SHA256="$(sha256sum "$archive" | cut -d' ' -f1)"
echo SIZE="$(stat -c %s "$archive")"
"""
    values = parse_key_values(remote.run(script, step="packing the release").stdout)
    if not VERSION.match(values.get("VERSION", "")):
        raise CommandFailed(
            remote.name,
            "pack",
            1,
            f"unusable version {values.get('VERSION')!r} in start_erl.data",
            "packing the release",
        )
    expected = archive_name(app, values["VERSION"])
    if Path(values["ARCHIVE"]).name != expected:
        raise DeliverError(f"unexpected archive name {values['ARCHIVE']} (wanted {expected})")
    return Packed(values["VERSION"], values["ARCHIVE"], values["SHA256"], int(values["SIZE"]))


def _pack_directory(root: str) -> str:
    """tar | gzip -1: a third of the CPU of tar -z's default level, for an archive 7% larger
    (the sample release: 0.2 s instead of 0.55 s); tar's own status comes back through fd 3.

    Reproducible: entries sorted by name, every mtime the commit's time, owners 0, no gzip
    name or time (-n), so two builds of one commit in one build directory are the same bytes
    (the release's cookie is kept between builds: _KEEP_COOKIE)."""
    reproducible = '--sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu'
    cookie = f"{quote(root)}/releases/COOKIE"
    return (
        "epoch=$(git log -1 --format=%ct HEAD)\n"
        f"tar_status=$( {{ {{ tar {reproducible} -cf - -C {quote(root)} .; echo $? >&3; }} "
        '| gzip -n -1 > "$archive"; } 3>&1 )\n'
        '[ "$tar_status" = 0 ] || { echo "packing the release failed"; exit 1; }\n'
        f"if [ -f {cookie} ]; then cp -p {cookie} {_KEEP_COOKIE}; fi"
    )


def _find_release_dir(root: str) -> str:
    data = f"{quote(root)}/releases/start_erl.data"
    return f"""if [ ! -f {data} ]; then
  echo "no release was assembled at {root}"; exit 1
fi
if [ -z "$(find {data} -newer {MARKER})" ]; then
  echo "the release at {root} was not made by this build (it is older than the build)"; exit 1
fi
version=$(cut -d' ' -f2 {data})"""


def _find_tarball(pattern: str) -> str:
    # quote everything but the `*`s, so the shell expands only those
    glob = "*".join(quote(part) if part else "" for part in pattern.split("*"))
    return f"""tarball="" found=0
for f in {glob}; do
  if [ -f "$f" ] && [ -n "$(find "$f" -newer {MARKER})" ]; then tarball=$f found=$((found + 1)); fi
done
if [ "$found" -ne 1 ]; then
  echo "expected this build to make one tarball matching {pattern}, found $found"; exit 1
fi
data=$(tar -xzOf "$tarball" ./releases/start_erl.data 2>/dev/null \\
  || tar -xzOf "$tarball" releases/start_erl.data 2>/dev/null) \\
  || {{ echo "$tarball has no releases/start_erl.data at its top: not a release tarball"; exit 1; }}
version=$(echo "$data" | cut -d' ' -f2)"""
