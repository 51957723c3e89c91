"""The env file of one deploy host, and the env kept with each of its releases.

A deploy writes the env `.deliver` gives the host into the new release's directory
(`releases/<v>/.deliver-env`, 0600); switching `current` to a release copies it over
`deliver.env` (layout.install_env), so a rollback boots the old release with the env it was
deployed with. `deliver env push` rewrites both for the current release from `.deliver`.

The files hold secrets: they travel on an upload's stdin (never on a command line), are
compared by sha256, and no value from them is printed but the plain values `.deliver` has.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deliver.config import Environment, HealthCheck, HostSpec
from deliver.errors import DeliverError
from deliver.host.health import HealthUrl, health_url
from deliver.host.layout import ENV_FILE, RELEASE_ENV_FILE, release_env_path, replace_file
from deliver.host.unpack import node_env_text
from deliver.shell import Secret, parse_key_values, quote
from deliver.transport.fanout import fan_out
from deliver.transport.remote import NodeLink, Remote, Result

#: An env file is a few KiB: a host's file beyond this is not read whole.
MAX_ENV_BYTES = 256 * 1024


def wanted_text(env: Environment, host: HostSpec) -> str:
    """The env file `.deliver` gives `host` now (secrets in it: never print it)."""
    return node_env_text(env, host)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def differs(env: Environment, host: HostSpec, host_sha256: str | None) -> bool:
    """Whether the host's deliver.env (by its sha256; None: it has none) is not what
    `.deliver` gives it."""
    return host_sha256 != sha256_of(wanted_text(env, host))


def drift_warning(environment: str, hosts: Sequence[str]) -> str:
    """What `restart` says when hosts' deliver.env is not the env .deliver gives them."""
    return (
        f"the env in .deliver differs from the deliver.env of {', '.join(hosts)}: the nodes "
        f"boot with the hosts' (deliver env diff {environment} shows what differs; "
        f"deliver env push {environment} --restart writes .deliver's and restarts)"
    )


def read_env(remote: Remote, root: str) -> str | None:
    """The host's deliver.env (None: it has none), at most MAX_ENV_BYTES of it."""
    script = (
        f"cd {quote(root)} && if [ -f {ENV_FILE} ] && [ ! -L {ENV_FILE} ]; then "
        f"echo ENV=yes; head -c {MAX_ENV_BYTES} {ENV_FILE}; else echo ENV=no; fi"
    )
    head, _, text = remote.run(script, step="reading the env file").stdout.partition("\n")
    return text if head == "ENV=yes" else None


@dataclass(frozen=True)
class BootedEnv:
    """The env file a host's node booted with, as well as the host can tell: `file` (relative
    to the release root; None: the host has none), its text and sha256, and whether it was
    written after the node was started (`env push` without a restart)."""

    file: str | None
    text: str = ""
    sha256: str | None = None
    written_after_start: bool = False


def booted_env(remote: Remote, root: str, running: str | None) -> BootedEnv:
    """The env the node started from `running` booted with: the env kept with that release
    (the switch made it deliver.env before the start), or deliver.env where it keeps none or
    no node runs. One round trip; the text holds secrets, so it is read where --verbose does
    not show it."""
    kept = release_env_path(running) if running else ENV_FILE
    plain = '{ [ -f "$1" ] && [ ! -L "$1" ]; }'
    script = (
        f"cd {quote(root)} || exit 1\n"
        f"isfile() {plain}\n"
        f"if isfile {kept}; then f={kept}; elif isfile {ENV_FILE}; then f={ENV_FILE}; "
        "else echo FILE=; exit 0; fi\n"
        'echo "FILE=$f"\n'
        'echo "SHA256=$(sha256sum < "$f" | cut -d" " -f1)"\n'
        'if [ -L running ] && [ "$(stat -c %Y "$f")" -gt "$(stat -c %Y running)" ]; '
        "then echo NEWER=yes; fi\n"
        f'echo ENV=begin; head -c {MAX_ENV_BYTES} "$f"'
    )
    result = _run_quietly(remote, script)
    if not result.ok:
        raise DeliverError(f"{remote.name}: cannot read the env file under {root}")
    head, _, text = result.stdout.partition("ENV=begin\n")
    values = parse_key_values(head)
    if not values.get("FILE"):
        return BootedEnv(None)
    return BootedEnv(values["FILE"], text, values.get("SHA256"), values.get("NEWER") == "yes")


def _run_quietly(remote: Remote, script: str) -> Result:
    """Run `script`, its output never shown (it holds secrets), where the remote allows."""
    if isinstance(remote, NodeLink):
        return remote.run_private(script)
    return remote.run(script, check=False)


def shown_env(text: str, known: Mapping[str, str | Secret]) -> list[tuple[str, str]]:
    """The variables of an env file with what may be printed of each: the value where
    `.deliver` holds that variable as a plain one, else `****` (a secret, or a name .deliver
    does not know: either may be one)."""
    plain = {name for name, value in known.items() if not isinstance(value, Secret)}
    return [(name, value if name in plain else "****") for name, value in parse_env(text).items()]


def parse_env(text: str) -> dict[str, str]:
    """The variables of an env file as deliver writes it (`export NAME='value'`, a value may
    span lines); anything else is left out (the file came from a host: hostile text)."""
    try:
        return _exports(shlex.split(text))
    except ValueError:  # an unbalanced quote somewhere: what each line still says
        found: dict[str, str] = {}
        for line in text.splitlines():
            try:
                found |= _exports(shlex.split(line))
            except ValueError:
                continue
        return found


def _exports(words: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for word, following in zip(words, [*words[1:], ""], strict=True):
        name, equals, value = following.partition("=")
        if word == "export" and equals and name.isidentifier():
            found[name] = value
    return found


@dataclass(frozen=True)
class EnvChange:
    """One variable that differs between `.deliver` and a host's deliver.env. The values are
    shown only where `.deliver` holds the variable as a plain value (None: not shown)."""

    name: str
    change: str  # "changed", "only in .deliver", "only on the host"
    host_value: str | None = None
    wanted_value: str | None = None

    def describe(self) -> str:
        if self.host_value is not None and self.wanted_value is not None:
            return (
                f"{self.name}: {self.host_value!r} on the host, {self.wanted_value!r} in .deliver"
            )
        if self.wanted_value is not None:
            return f"{self.name}: {self.change} ({self.wanted_value!r})"
        return f"{self.name}: {self.change}"


def env_changes(
    wanted: Mapping[str, str | Secret], wanted_file: str, host_file: str
) -> list[EnvChange]:
    """What differs, variable by variable, between the env file `.deliver` makes
    (`wanted_file`, from the variables `wanted`) and the host's (`host_file`)."""
    mine, theirs = parse_env(wanted_file), parse_env(host_file)
    plain = {name for name, value in wanted.items() if not isinstance(value, Secret)}
    changes = []
    for name in sorted(set(mine) | set(theirs)):
        shown = name in plain
        if name not in theirs:
            changes.append(EnvChange(name, "only in .deliver", None, mine[name] if shown else None))
        elif name not in mine:
            changes.append(EnvChange(name, "only on the host"))
        elif mine[name] != theirs[name]:
            values = (theirs[name], mine[name]) if shown else (None, None)
            changes.append(EnvChange(name, "changed", *values))
    return changes


def push_env(remote: Remote, root: str, version: str, text: str) -> None:
    """Write `text` as the env kept with `version` (the current release) and as the host's
    deliver.env: each to a fresh 0600 name, then renamed into place."""
    kept = release_env_path(version)
    temp = remote.run(
        f"cd {quote(root)} && mktemp {quote(f'releases/{version}/{RELEASE_ENV_FILE}.')}XXXXXX",
        step="writing the env file",
    ).stdout.strip()
    try:
        remote.upload(text.encode(), f"{root}/{temp}", mode=0o600)
    except DeliverError:
        remote.run(f"cd {quote(root)} && rm -f {quote(temp)}", check=False)
        raise
    remote.run(
        f"cd {quote(root)} && mv -T {quote(temp)} {kept} && "
        + replace_file(".", ENV_FILE, f"cat {kept}"),
        step="writing the env file",
    )


def booted_urls(
    check: HealthCheck,
    env: Environment,
    remotes: Sequence[Remote],
    roots: Mapping[str, str],
    version: str | None = None,
) -> dict[str, HealthUrl]:
    """The health URLs of `remotes` (release roots in `roots`) filled from the env their
    nodes boot with (`booted_url`)."""
    if check.url is None:
        return {}

    def url(remote: Remote) -> HealthUrl:
        found = booted_url(check, env, remote, roots[remote.name], version)
        assert found is not None
        return found

    return fan_out("reading the env file", remotes, url)


def booted_url(
    check: HealthCheck, env: Environment, remote: Remote, root: str, version: str | None = None
) -> HealthUrl | None:
    """The health URL of one host filled from the env its node boots with: the env kept with
    `version`, or (None) its deliver.env, rather than `.deliver`'s (a {PORT} there may be one
    the node does not listen on); a name that env lacks is taken from `.deliver`. None when
    no URL is configured."""
    if check.url is None:
        return None
    file = release_env_path(version) if version is not None else ENV_FILE
    # a release deployed before deliver kept an env has none: .deliver's values fill it
    text = _run_quietly(remote, f"cd {quote(root)} && head -c {MAX_ENV_BYTES} {file}").stdout
    # a value is a secret unless .deliver holds it as a plain one
    known = env.host_env(remote.host)
    plain = {name for name, value in known.items() if not isinstance(value, Secret)}
    # what the node does not read (a path only the URL uses) still comes from .deliver
    variables: dict[str, str | Secret] = {
        **known,
        **{
            name: value if name in plain else Secret(value)
            for name, value in parse_env(text).items()
        },
    }
    return health_url(check, variables, remote.name)


def kept_env(remote: Remote, root: str, version: str) -> str:
    """Whether `version` keeps an env of its own on the host and how it compares with the
    host's deliver.env: "same", "differs" or "none" (deployed before deliver kept one)."""
    kept = release_env_path(version)
    script = (
        f"cd {quote(root)} && if [ ! -f {kept} ] || [ -L {kept} ]; then echo KEPT=none; "
        f"elif cmp -s {kept} {ENV_FILE}; then echo KEPT=same; else echo KEPT=differs; fi"
    )
    return parse_key_values(remote.run(script, step="reading the kept env").stdout).get(
        "KEPT", "none"
    )


def rollback_notes(target: str, kept: Mapping[str, str]) -> list[str]:
    """What a rollback to `target` says about the env it boots with, from `kept_env` of each
    host: restored where the release keeps its own, as it is where it keeps none."""
    restored = [host for host, state in kept.items() if state == "differs"]
    without = [host for host, state in kept.items() if state == "none"]
    notes = []
    if restored:
        notes.append(
            f"restoring the env {target} was deployed with on {', '.join(restored)} "
            f"(releases/{target}/{RELEASE_ENV_FILE}): it differs from the env they had"
        )
    if without:
        notes.append(
            f"{', '.join(without)} keep no env of {target} (deployed by an older deliver): "
            "it boots with their deliver.env as it is"
        )
    return notes
