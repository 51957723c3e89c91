"""`update --dry-run` and `upgrade --dry-run`: what they would build first, worked out here
(the commit, the version mix.exs gives it, whether the store holds that build already) and
read on the build host (reachable, its build tree and whether it has the commit, git and the
build tool, its Erlang/OTP, the build lock). Read-only: the build host is reached over a
DryRunRemote that lets only these probes through; nothing is pushed, built or locked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from deliver.build.git import Revision, resolve_revision
from deliver.build.identity import Build, same_build, stored_version
from deliver.build.versions import VersionOptions, plan_version
from deliver.commands.build import planned_build, with_default_auto_version
from deliver.commands.build_lock import lock_directory
from deliver.commands.check import ERLANG_CHECK, check_build_host
from deliver.commands.lock import describe
from deliver.commands.targets import connected, release_store
from deliver.config import Config
from deliver.errors import DeliverError, NodeError
from deliver.host.lock import read
from deliver.output import Output
from deliver.shell import parse_key_values, quote, quote_path
from deliver.tools import build_tool, detect_tool
from deliver.transport.dryrun import DryRunRemote

BUILD_PROBE = "dry-run probe of the build host"
#: What the build host's probe lets through: this module's, check.py's and the lock's reads.
BUILD_READ_ONLY = frozenset({BUILD_PROBE, "checking the build host", "reading the deploy lock"})


@dataclass(frozen=True)
class BuildPlan:
    """What a build would do: the version (None: known only once built), the build host's
    lines, and what would make the build fail there (None: nothing found)."""

    host: str
    version: str | None
    lines: list[str]
    problem: DeliverError | None


def plan_build(
    config: Config, out: Output, command: str, revision: Revision | None = None
) -> BuildPlan:
    """The build `update` (a release) or `upgrade` (the upgrade to) would make of
    `revision` (default: the configured branch's head), and the build host's probe."""
    build = config.require_build()
    target = revision or resolve_revision(config.project_dir, branch=build.branch)
    tool = build_tool(detect_tool(config.project_dir, build, config.source))
    versions = with_default_auto_version(VersionOptions(), build)
    plan = plan_version(
        config.project_dir, target.commit, target.branch, tool.version_sources(build), versions
    )
    what = "the upgrade to" if command == "upgrade" else "a release of"
    version = f"{config.app} {plan.version}" if plan.version else config.app
    lines = [
        f"build {what} {version} from {target.description} ({target.commit[:10]}) in "
        f"{build.at}, MIX_ENV={build.mix_env}"
    ]
    if command == "update":
        lines += _stored(config, out, planned_build(build, tool, target, plan))
    sink = out if out.debug else None
    with connected(config, out, [build.host], private=False) as (remote,):
        dry = DryRunRemote(remote, BUILD_READ_ONLY, sink)
        found = list(_probe(config, dry, target.commit))
    lines += [line for line, _ in found]
    problems = [problem for _, problem in found if problem]
    error = NodeError(build.host.name, "; ".join(problems)) if problems else None
    return BuildPlan(build.host.name, plan.version, lines, error)


def _stored(config: Config, out: Output, wanted: Build | None) -> Iterator[str]:
    """Whether the store holds this very build already (then it is reused, not rebuilt)."""
    if wanted is None:
        return
    with release_store(config, out) as store:
        stored = stored_version(store.releases(config.app), wanted.version)
        location = store.location
    if stored is not None and same_build(stored, wanted):
        yield f"{location} holds this commit's build of {wanted.version}: reused, not rebuilt"
    elif stored is not None:
        yield (
            f"{location} holds another build of {wanted.version} (commit "
            f"{stored.commit[:10]}): the build would be refused without --force"
        )


def _probe(config: Config, remote: DryRunRemote, commit: str) -> Iterator[tuple[str, str]]:
    """(line, problem) pairs; problem is "" where there is none."""
    build = config.require_build()
    at = quote_path(build.at)
    script = (
        f"if [ -d {at}/.git ]; then echo TREE=yes; echo HEAD=$(git -C {at} rev-parse -q "
        f"--verify HEAD 2>/dev/null); git -C {at} cat-file -e {quote(commit + '^{commit}')} "
        "2>/dev/null && echo HAS_COMMIT=yes; fi"
    )
    values = parse_key_values(remote.run(script, step=BUILD_PROBE).stdout)
    if values.get("TREE") != "yes":
        yield f"reachable; no build tree at {build.at} yet: the first build makes it", ""
    else:
        head = (values.get("HEAD") or "no commit")[:10]
        has = "has the commit" if values.get("HAS_COMMIT") else "lacks the commit: it is pushed"
        yield f"reachable; build tree {build.at} at {head}, {has}", ""
    findings = list(check_build_host(config, remote))
    missing = [f"{f.check}: {f.detail}" for f in findings if not f.ok]
    present = [f.check for f in findings if f.ok and f.check != ERLANG_CHECK]
    erlang = [f"Erlang/OTP {f.detail}" for f in findings if f.ok and f.check == ERLANG_CHECK]
    if present:
        yield f"tools: {'; '.join([', '.join(present), *erlang])}", ""
    for problem in missing:
        yield f"{problem}: the build would fail", problem
    holder = read(remote, lock_directory(build.at))
    if holder is None:
        yield "build lock: free", ""
    else:
        yield f"build lock: {describe(holder)}: the build would wait for it or be refused", ""
