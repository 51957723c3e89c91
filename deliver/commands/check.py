"""`deliver check config --hosts`: Capistrano's deploy:check, done for real. It connects to
every host read-only (one connection and one script each) and reports, per host, what would
make a build or a deploy fail before it starts: the connection (host key and login), whether
`deliver_to` can be written, free disk for a release, the linked files, and the tools the
config needs; on the build host git, the build tool and its Erlang/OTP release."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from deliver.commands.lock import describe
from deliver.commands.targets import reachable
from deliver.config import Config, Environment, HostSpec
from deliver.errors import DeliverError
from deliver.host.layout import FREE_SPACE, LOCK_DIR
from deliver.host.links import SHARED_DIR
from deliver.host.lock import LockInfo
from deliver.host.unpack import SPACE_FACTOR
from deliver.output import Output
from deliver.shell import join, parse_key_values, quote, quote_path, values_of
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote

#: What the build host needs for each build tool (beside git), as commands to look for.
BUILD_COMMANDS = {"mix": ("mix", "erl"), "distillery": ("mix", "erl"), "rebar3": ("rebar3", "erl")}
#: After this line the probe prints the lock's info file, when the environment is locked.
LOCK_FOLLOWS = "LOCK-FOLLOWS"
#: The check that says which Erlang/OTP and ERTS a host has; and the command asking erl.
ERLANG_CHECK = "erlang"
_ERLANG = (
    'erl -noshell -eval \'io:format("~s, ERTS ~s", [erlang:system_info(otp_release), '
    "erlang:system_info(version)]), halt().'"
)
#: Room assumed for a release when the store holds none yet to measure.
DEFAULT_RELEASE_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Finding:
    host: str
    check: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class _Probe:
    """One host to check, and what the config asks of it."""

    host: HostSpec
    environment: Environment | None  # None: the build host


def check_hosts(
    config: Config, out: Output, environment: str | None, release_bytes: int | None
) -> list[Finding]:
    """Probe the build host and the hosts of `environment` (default: every environment)."""
    envs = [config.environment(environment)] if environment else list(config.environments.values())
    probes = {h.name: _Probe(h, env) for env in envs for h in env.hosts}
    if config.build is not None:
        probes.setdefault(config.build.host.name, _Probe(config.build.host, None))
    hosts = [probe.host for probe in probes.values()]
    out.step(f"Checking {len(hosts)} host(s): {', '.join(h.name for h in hosts)}")
    needed = (release_bytes or DEFAULT_RELEASE_BYTES) * (1 + SPACE_FACTOR)
    with reachable(config, out, hosts) as (remotes, failed):
        found = fan_out("check", remotes, lambda r: list(_check(config, r, probes[r.name], needed)))
    findings = [Finding(name, "connect", False, str(error)) for name, error in failed.items()]
    findings += [finding for name in probes if name in found for finding in found[name]]
    build = config.build.host.name if config.build is not None else None
    return compare_erlang(findings, build, carries_erts(config.project_dir))


def _check(config: Config, remote: Remote, probe: _Probe, needed: int) -> Iterator[Finding]:
    yield Finding(remote.name, "connect", True, "host key known, logged in")
    if probe.environment is None:
        yield from check_build_host(config, remote)
    else:
        yield from _check_deploy_host(config, remote, probe.environment, needed)


def _check_deploy_host(
    config: Config, remote: Remote, env: Environment, needed: int
) -> Iterator[Finding]:
    links = config.links.linked_files
    script = join(
        f"d={quote_path(env.deliver_to)}",
        '[ ! -d "$d" ] || echo EXISTS=yes',
        't="$d"; while [ ! -d "$t" ]; do t=$(dirname "$t"); done; cd "$t"',
        'if [ -w "$t" ]; then echo WRITABLE="$t"; else echo READONLY="$t"; fi',
        FREE_SPACE,
        *(
            f'[ -f "$d"/{quote(f"{SHARED_DIR}/{path}")} ] || echo MISSING={quote(path)}'
            for path in links
        ),
        # last: the lock's info file (free text) follows its marker line
        f"{_tools_script(('tar', 'sha256sum', 'curl', 'wget'))}; true",
        f"echo ERLANG=$({_ERLANG} 2>/dev/null)",
        f'{{ [ ! -d "$d"/{LOCK_DIR} ] || {{ echo {LOCK_FOLLOWS}; cat "$d"/{LOCK_DIR}/info; }}; }}',
    )
    result = remote.run(script, step="checking the host", check=False)
    answers, _, lock = result.stdout.partition(f"{LOCK_FOLLOWS}\n")
    values, missing = parse_key_values(answers), values_of(answers, "MISSING")
    where = values.get("WRITABLE") or values.get("READONLY") or env.deliver_to
    writable = "WRITABLE" in values
    state = "writable" if writable else "not writable"
    # a first deploy makes it: what must be writable then is the nearest directory that is
    made = "" if values.get("EXISTS") else f"not there yet: made in {where}, "
    detail = f"{env.deliver_to} ({made}{state})" if made else f"{env.deliver_to} ({state})"
    yield Finding(remote.name, "deliver_to", writable, detail)
    free = int(values.get("FREE_KB") or 0) * 1024
    detail = f"{free // 2**20} MiB free, about {needed // 2**20 + 1} MiB needed"
    yield Finding(remote.name, "disk", free >= needed, detail)
    if links:
        ok = not missing
        detail = "all present" if ok else f"missing in {SHARED_DIR}/: {', '.join(missing)}"
        yield Finding(remote.name, "linked files", ok, detail)
    yield from _tool_findings(remote.name, values, ("tar", "sha256sum"))
    if _needs_http_client(config):
        ok = bool(values.get("HAS_curl") or values.get("HAS_wget"))
        why = "the S3 store and URL health checks fetch with it"
        yield Finding(remote.name, "curl", ok, "present" if ok else f"missing: {why}")
    yield Finding(remote.name, ERLANG_CHECK, True, values.get("ERLANG") or "")
    holder = LockInfo.parse(lock) if f"{LOCK_FOLLOWS}\n" in result.stdout else None
    yield Finding(
        remote.name,
        "lock",
        holder is None,
        "free" if holder is None else f"{describe(holder)}: a deploy would be refused",
    )


def check_build_host(config: Config, remote: Remote) -> Iterator[Finding]:
    from deliver.tools import detect_tool

    build = config.require_build()
    try:
        tool = detect_tool(config.project_dir, build, config.source)
    except DeliverError as error:
        yield Finding(remote.name, "build tool", False, str(error))
        tool = ""
    commands = ("git", *BUILD_COMMANDS.get(tool, ()))
    script = join(_tools_script(commands), f"echo ERLANG=$({_ERLANG} 2>/dev/null)")
    values = parse_key_values(remote.run(script, step="checking the build host").stdout)
    yield from _tool_findings(remote.name, values, commands)
    if values.get("ERLANG"):
        yield Finding(remote.name, ERLANG_CHECK, True, values["ERLANG"])


def carries_erts(project_dir: Path) -> bool:
    """Whether the release carries its own ERTS (the default of mix, relx and Distillery),
    so that deploy hosts need no Erlang; False when mix.exs or rebar.config turn it off."""
    off = re.compile(r"include_erts:\s*false|\{\s*include_erts\s*,\s*false\s*\}")
    for name in ("mix.exs", "rebar.config", "rel/config.exs"):
        try:
            if off.search((project_dir / name).read_text()):
                return False
        except OSError:
            continue
    return True


def compare_erlang(findings: list[Finding], build: str | None, carried: bool) -> list[Finding]:
    """The `erlang` findings say what each host has (`OTP 25, ERTS 13.1.5` or nothing); the
    deploy hosts' are then compared with the build host's and with what the release needs: its
    own ERTS (nothing on the host) or, without it, the very ERTS it was built with."""
    built = next((f.detail for f in findings if f.host == build and f.check == ERLANG_CHECK), "")
    compared = []
    for finding in findings:
        if finding.check != ERLANG_CHECK:
            compared.append(finding)
        elif finding.host == build:
            how = "releases carry this ERTS" if carried else "hosts need this same ERTS"
            compared.append(replace(finding, detail=f"OTP {finding.detail} ({how})"))
        else:
            compared.append(_compare_one(finding, built, carried))
    return compared


def _compare_one(finding: Finding, built: str, carried: bool) -> Finding:
    has = f"OTP {finding.detail}" if finding.detail else "no Erlang installed"
    if not built:
        return replace(finding, detail=f"{has}; the build host's is unknown")
    if carried:
        same = "the same as" if finding.detail == built else "not used: the release brings"
        return replace(finding, detail=f"{has}; {same} the build host's OTP {built}")
    ok = _erts(finding.detail) == _erts(built)
    why = "" if ok else " (include_erts is off: the host must run the ERTS the release needs)"
    return replace(
        finding, ok=ok, detail=f"{has}; the release needs the build host's OTP {built}{why}"
    )


def _erts(detail: str) -> str:
    return detail.rpartition("ERTS ")[2]


def _tools_script(commands: tuple[str, ...]) -> str:
    return "; ".join(f"command -v {c} >/dev/null 2>&1 && echo HAS_{c}=yes" for c in commands)


def _tool_findings(
    host: str, values: Mapping[str, str], commands: tuple[str, ...]
) -> Iterator[Finding]:
    for command in commands:
        ok = values.get(f"HAS_{command}") == "yes"
        yield Finding(host, command, ok, "present" if ok else "not found on the PATH")


def _needs_http_client(config: Config) -> bool:
    return str(config.release_store).startswith("s3://") or config.health_check.url is not None
