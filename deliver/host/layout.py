"""The deploy host's `deliver_to`: the one module that knows its layout.

    releases/<version>/   an extracted release (with .deliver-tool, .deliver-sha256,
                          .deliver-revision: its commit and branch, and .deliver-env: the
                          env file it was deployed with, 0600)
    releases/<v>.tar.gz   its archive (and <v>.tar.gz.sha256), kept for redeploys
    current -> releases/<version>    what the next start boots (switched atomically)
    running -> releases/<version>    what the node was started from: stop, ping and version
                                     talk to it, so a switch never strands the running node;
                                     always the real directory, never an alias
    deliver.env           the host's environment (0600), loaded by every node command: a
                          copy of the .deliver-env of the release `current` was last switched
                          to (or that `deliver env push` wrote), so a rollback boots the old
                          release with the env it ran with
    deliver.systemd.env   the same for systemd's EnvironmentFile= (host/systemd.py)
    log/                  the node's logs across releases (node.log_dir, host/manager.py)
    deliver.history       one event per line, appended by the step that knows the outcome:

    2024-05-01T10:00:00Z deployed 0.1.1       `current` was switched to it (switch_current)
    2024-05-01T10:00:04Z started 0.1.1        its node started and answered (node.start_node)
    2024-05-01T10:00:09Z failed 0.1.1         it crashed on start or failed its health check
    2024-05-01T10:07:00Z rolled_back 0.1.1    `deliver rollback` switched away from it

A release is *good* on a host while its latest event there is `deployed` or `started`, so
rollback and pruning never pick a release that failed. A release extracted on a host whose
deploy failed elsewhere has no event at all: it is never chosen, and it is the first pruned.

A hot upgrade (release_handler.py) installs the new version into the directory the node runs
from, whose releases/start_erl.data then names it: `releases/<new>` becomes an alias (symlink)
of that directory and `current` points at the alias, while `running` still names the directory
(after a hot upgrade from 0.1.0 to 0.2.0, current is 0.2.0 and running is 0.1.0). Pruning keeps
the directory of every alias it keeps, and `current` is never switched to a directory that
boots another version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from deliver.errors import NodeError
from deliver.release import VERSION, version_key
from deliver.shell import join, parse_key_values, quote, quote_path, values_of
from deliver.transport.remote import Remote

ENV_FILE = "deliver.env"
#: the env file a release was deployed with, inside releases/<version>/ (a `.deliver-*`
#: name: an archive holding one is refused, so it is always deliver's)
RELEASE_ENV_FILE = ".deliver-env"
#: the environment's deploy lock (a directory: mkdir is atomic) and the audit log
LOCK_DIR = ".deliver.lock"
AUDIT_FILE = "deliver.audit"

HISTORY_FILE = "deliver.history"
#: The step of read_host_releases: read-only, so a dry run (commands/dryrun.py) lets it through.
READ_RELEASES = "reading the releases on the host"
GOOD = frozenset({"deployed", "started"})
#: the history is trimmed to this many lines when releases are pruned
HISTORY_LINES = 500


@dataclass(frozen=True)
class Event:
    time: str
    kind: str
    version: str

    @classmethod
    def parse(cls, line: str) -> Event | None:
        parts = line.split()
        return cls(*parts) if len(parts) == 3 else None


@dataclass(frozen=True)
class HostState:
    """What is deployed on a host; versions are None where nothing is."""

    name: str
    root: str
    current: str | None
    running: str | None
    tool: str
    #: the sha256 of the host's deliver.env (None: it has none), to compare with .deliver's
    env_sha256: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class HostReleases(HostState):
    """What one host holds under the environment's `deliver_to`: its state, every complete
    release (those whose extraction finished), the history and the hot-upgrade aliases."""

    present: tuple[str, ...] = ()
    history: tuple[Event, ...] = ()
    #: hot upgrades: releases/<version> -> the directory holding it, e.g. {"0.2.0": "0.1.0"}
    aliases: Mapping[str, str] = field(default_factory=dict)

    def last_event(self, version: str) -> Event | None:
        return next((e for e in reversed(self.history) if e.version == version), None)

    def good(self) -> list[str]:
        """Present releases whose latest event is good, the most recently good first."""
        latest: dict[str, str] = {}  # in order of each version's latest event, newest first
        for event in reversed(self.history):
            latest.setdefault(event.version, event.kind)
        return [v for v, kind in latest.items() if kind in GOOD and v in self.present]

    def previous(self) -> str | None:
        """The release a rollback returns to: the latest good one that is not current."""
        return next((v for v in self.good() if v != self.current), None)

    def prunable(self, keep: int) -> list[str]:
        """Releases beyond the newest `keep`; current, running and previous always stay."""
        recent = list(
            dict.fromkeys(e.version for e in reversed(self.history) if e.version in self.present)
        )
        # never-deployed leftovers rank below everything the history knows
        unknown = sorted(set(self.present) - set(recent), key=version_key, reverse=True)
        kept = {v for v in (self.current, self.running, self.previous()) if v in self.present}
        for version in recent + unknown:
            if len(kept) >= keep:
                break
            kept.add(version)
        kept |= {self.aliases[v] for v in kept if v in self.aliases}  # what the aliases point at
        return sorted(set(self.present) - kept, key=version_key)


#: Shell, run in `deliver_to`: ENV_SHA256=<sha256 of the host's env file>, when it has one.
ENV_SHA256 = f"[ ! -f {ENV_FILE} ] || {{ set -- $(sha256sum < {ENV_FILE}); echo ENV_SHA256=$1; }}"
#: Shell, run in `deliver_to` (entered with `cd -P`: $PWD is the real path): the release
#: root, the current and running releases, the tool. Every question a command asks starts
#: with it, so it runs as few programs as it can: a program costs the host a fork and an exec
#: (2-8 ms on a loaded machine), a builtin (read, ${l##*/}) nothing.
_STATE = (
    'echo "ROOT=$PWD"',
    'l=$(readlink current 2>/dev/null); l=${l%/}; echo "CURRENT=${l##*/}"',
    '[ ! -e running ] || { l=$(readlink running); l=${l%/}; echo "RUNNING=${l##*/}"; }',
    "t=current; [ ! -e running ] || t=running",
    'tool=; [ ! -f "$t/.deliver-tool" ] || read -r tool < "$t/.deliver-tool"; echo "TOOL=$tool"',
    ENV_SHA256,
)
#: Shell, run in `deliver_to`: the complete releases, the aliases, then the history.
#: One line per release and per alias, each name checked twice (here, then by the version
#: grammar): a directory named with a space or a newline must never reach rm -rf in pieces.
#: A shell case pattern matching every name that is not a plain release name (empty, leading
#: "." or "-", or a character outside the version grammar's): such a name is never used.
NOT_A_RELEASE_NAME = "''|.*|-*|*[!0-9A-Za-z.+_-]*"
_SAFE_NAME = f'case "$n" in {NOT_A_RELEASE_NAME}) continue ;; esac'
PRESENT = (
    "{ for f in releases/*/.deliver-sha256; do "
    f'[ -f "$f" ] || continue; n=${{f#releases/}}; n=${{n%/.deliver-sha256}}; {_SAFE_NAME}; '
    "printf 'PRESENT=%s\\n' \"$n\"; done; }"
)
ALIASES = (
    "{ for l in releases/*; do "
    f'[ -L "$l" ] || continue; n=${{l#releases/}}; {_SAFE_NAME}; '
    f'n=$(readlink "$l"); {_SAFE_NAME}; '
    'printf \'ALIAS=%s=%s\\n\' "${l#releases/}" "$n"; done; }'
)
_RELEASES = (PRESENT, ALIASES, "echo HISTORY-FOLLOWS", f"cat {HISTORY_FILE} 2>/dev/null || true")


def read_state(remote: Remote, deliver_to: str, app: str) -> HostState:
    """Find the release root, the current and the running release; refuses a bare host."""
    values = _read(remote, deliver_to, app, _STATE, "reading the deployed releases")[0]
    return HostState(remote.name, *_state_values(values), env_sha256=_env_sha256(values))


def read_host_releases(remote: Remote, deliver_to: str, app: str) -> HostReleases:
    """One round trip: the state, the complete releases and the history. NodeError when
    nothing is deployed."""
    values, head, history = _read(remote, deliver_to, app, _STATE + _RELEASES, READ_RELEASES)
    events = (Event.parse(line) for line in history.splitlines())
    return HostReleases(
        remote.name,
        *_state_values(values),
        env_sha256=_env_sha256(values),
        present=tuple(sorted(_versions(head, "PRESENT"), key=version_key)),
        history=tuple(e for e in events if e is not None),
        aliases=_aliases(head),
    )


def _read(
    remote: Remote, deliver_to: str, app: str, lines: tuple[str, ...], step: str
) -> tuple[dict[str, str], str, str]:
    """The KEY=value answers, the text they came in (for repeated keys), the history."""
    script = join(f"cd -P {quote_path(deliver_to)} 2>/dev/null || exit 0", *lines)
    head, _, history = remote.run(script, step=step).stdout.partition("HISTORY-FOLLOWS\n")
    return _deployed(remote.name, deliver_to, app, head), head, history


def _deployed(host: str, deliver_to: str, app: str, head: str) -> dict[str, str]:
    values = parse_key_values(head)
    if not values.get("ROOT") or not values.get("CURRENT"):
        raise NodeError(host, f"no release of {app} is deployed in {deliver_to}")
    return values


_STATE_ENDS = "STATE-ENDS"


def state_then(deliver_to: str, then: str) -> str:
    """Shell: read_state's questions, then `then` run in the release root with the host's
    env file loaded (as in_root), in a subshell: two answers in one round trip."""
    head = f"cd -P {quote_path(deliver_to)} 2>/dev/null || exit 0"
    here = '"$PWD"'  # the release root, once entered with cd -P
    return join(head, *_STATE, f"echo {_STATE_ENDS}", f"({_in(here, then)})")


def parse_state_then(host: str, deliver_to: str, app: str, output: str) -> tuple[HostState, str]:
    """The answer of a state_then script: the state (NodeError when nothing is deployed) and
    what `then` printed."""
    head, _, rest = output.partition(f"{_STATE_ENDS}\n")
    values = _deployed(host, deliver_to, app, head)
    return HostState(host, *_state_values(values), env_sha256=_env_sha256(values)), rest


def _versions(head: str, key: str) -> list[str]:
    """Every `KEY=<name>` line's name that is a version: a directory named otherwise (spaces,
    newlines, a leading dot) is no release of deliver's, and never pruned or chosen."""
    return [name for name in values_of(head, key) if VERSION.match(name)]


def _aliases(head: str) -> dict[str, str]:
    """releases/<alias> -> the directory it names, both versions (hot upgrades)."""
    pairs = (name.partition("=") for name in values_of(head, "ALIAS"))
    return {
        alias: target
        for alias, _, target in pairs
        if VERSION.match(alias) and VERSION.match(target)
    }


def _state_values(values: Mapping[str, str]) -> tuple[str, str, str | None, str]:
    return (
        values["ROOT"],
        values["CURRENT"],
        values.get("RUNNING") or None,
        values.get("TOOL") or "mix",
    )


#: Shell: unset what a login profile may export that changes what `bin/<app>` starts or how
#: (RELEASE_NODE, RELEASE_COOKIE, MIX_ENV, ERL_AFLAGS, ELIXIR_ERL_OPTIONS, ERL_LIBS...): a
#: node must run as the release and the .deliver file say, not as a login happens to be set
#: up. The env file is loaded after it, so what .deliver sets for the host still applies.
#: The names come from `env`, one per line; a value holding a newline can at worst offer
#: another launcher name, which is unset as well.
SCRUB_LAUNCHER_ENV = (
    "for _dv in $(env | awk -F= '/^(RELEASE|MIX)_[A-Za-z0-9_]*=/ || "
    "/^ERL_[A-Za-z0-9_]*FLAGS=/ || /^(ELIXIR_ERL_OPTIONS|ERL_LIBS)=/ {print $1}'); do "
    'unset "$_dv" 2>/dev/null; done; unset _dv'
)


def release_env_path(version: str) -> str:
    """Shell word, relative to the release root: the env file kept with `version`."""
    return f"releases/{quote(version)}/{RELEASE_ENV_FILE}"


def _env_sha256(values: Mapping[str, str]) -> str | None:
    digest = values.get("ENV_SHA256", "")
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def in_root(root: str, body: str, env_of: str | None = None) -> str:
    """Shell: `body` run in the release root `root` (also in `$root`) with the host's env
    file loaded, as every node command runs, with the inherited launcher variables
    scrubbed first (SCRUB_LAUNCHER_ENV); `env_of`: the env kept with that release
    instead, when it has one (its migrations run before it is current)."""
    return _in(quote(root), body, env_of)


def _in(root: str, body: str, env_of: str | None = None) -> str:
    """in_root with `root` one shell word already (a quoted path, or `$(pwd -P)`)."""
    load_env = f"if [ -f {ENV_FILE} ]; then set -a; . ./{ENV_FILE}; set +a; fi"
    if env_of is not None:
        kept = release_env_path(env_of)
        load_env = (
            f"if [ -f {kept} ]; then set -a; . ./{kept}; set +a\n"
            f"elif [ -f {ENV_FILE} ]; then set -a; . ./{ENV_FILE}; set +a; fi"
        )
    return f'root={root}\ncd "$root" || exit 1\n{SCRUB_LAUNCHER_ENV}\n{load_env}\n{body}'


#: Shell, run in `deliver_to`: the free space of its file system, in KiB.
FREE_SPACE = "echo FREE_KB=$(df -Pk . | awk 'NR==2 {print $4}')"


def check_free_space(host: str, root: str, values: Mapping[str, str], needed: int) -> None:
    """NodeError unless FREE_SPACE's answer in `values` leaves room for `needed` bytes."""
    free = int(values.get("FREE_KB") or 0) * 1024
    if free < needed:
        raise NodeError(
            host,
            f"not enough disk space in {root}: {free // 2**20} MiB free, "
            f"about {needed // 2**20 + 1} MiB needed",
        )


def record(root: str, kind: str, version: str) -> str:
    """Shell: append one event to the history of the host whose release root is `root`.

    `version` is one shell word: a quoted version (`quote(v)`) or a quoted expansion such as
    `"$started_version"`. It is printed as data, never re-read by the shell. Appending (not
    rewriting) keeps the events of two commands at once; a link, fifo or device at the name
    is not deliver's, so it is removed first and never written through."""
    when = '"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'
    history = '"$_dh"'
    return (
        f"{{ _dh={quote(root)}/{HISTORY_FILE}; "
        f"{{ [ ! -L {history} ] && {{ [ ! -e {history} ] || [ -f {history} ]; }}; }} "
        f"|| rm -f {history}; "
        f"printf '%s %s %s\\n' {when} {quote(kind)} {version} >> {history}; }}"
    )


def replace_file(directory: str, name: str, content: str) -> str:
    """Shell: the file `name` in `directory` (a quoted shell word) gets the output of the
    command `content`, with one rename: it is written to a fresh random name beside it
    (`mktemp`: created exclusively, 0600) and moved over `name` with `mv -T`, which replaces a
    file or a link at that name and never writes through one or into a directory."""
    temp = f"{directory}/{quote(f'.{name}.XXXXXX')}"
    return (
        f'{{ _df=$(mktemp {temp}) && {{ {content}; }} > "$_df" && '
        f'mv -T "$_df" {directory}/{quote(name)} || {{ rm -f "$_df"; false; }}; }}'
    )


def replace_link(directory: str, name: str, target: str) -> str:
    """Shell: `name` in `directory` (a quoted shell word) becomes a symlink to `target` (a
    quoted shell word), with one rename: there is no moment without it. The link is made at
    a fresh random name (`ln -s` without -f creates, or fails: it never follows or reuses
    what is there) and moved over `name` with `mv -T`."""
    temp = f"{directory}/{quote(f'.{name}.XXXXXX')}"
    return (
        f'{{ _dl=$(mktemp -u {temp}) && ln -s {target} "$_dl" && '
        f'{{ mv -T "$_dl" {directory}/{quote(name)} || {{ rm -f "$_dl"; false; }}; }}; }}'
    )


def switch_current(remote: Remote, root: str, version: str) -> None:
    """Point `current` at the release with one rename: there is no moment without it; the
    env kept with the release becomes the host's deliver.env (install_env).

    Refuses a directory that a hot upgrade switched to another version (its start_erl.data
    names that one): only the release handler can take it back (`deliver downgrade`)."""
    directory = f"releases/{quote(version)}"
    boots = f"$(cut -d' ' -f2 {directory}/releases/start_erl.data 2>/dev/null)"
    hot = (
        f'{{ b={boots}; if [ ! -L {directory} ] && [ -n "$b" ] && [ "$b" != {quote(version)} ]; '
        f'then echo "{directory} was hot-upgraded in place and boots $b: go back to '
        f'{version} with deliver downgrade"; exit 1; fi; }}'
    )
    remote.run(
        join(
            f"cd {quote(root)}",
            hot,
            replace_link(".", "current", quote(f"releases/{version}")),
            install_env(version),
            record(root, "deployed", quote(version)),
        ),
        step="switching",
    )


def install_env(version: str) -> str:
    """Shell, in the release root: deliver.env becomes a copy of the env kept with
    `version` (a release deployed before deliver kept one leaves deliver.env as it is). A
    link at either name is not deliver's: never read or written through."""
    kept = release_env_path(version)
    copy = replace_file(".", ENV_FILE, f"cat {kept}")
    return f"{{ if [ -f {kept} ] && [ ! -L {kept} ]; then {copy}; fi; }}"
