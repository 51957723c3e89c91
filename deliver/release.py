"""The Release value: what was built, from which commit, and how to recognise its archive.

A Release checks every field against the grammars below when it is made, whatever made it: a
manifest read from a store, a build, a test. Whoever can write to a store controls every field
of a manifest, and the fields become file names, shell words and Erlang terms on every host,
so this is the one gate they all pass (ManifestInvalid names the field that failed). Versions
given to a command pass the same grammar (`check_version`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from deliver.errors import InvalidArgument, ManifestInvalid, shown

MAX_VERSION_LENGTH = 128
#: What a version may look like (SemVer or OTP shaped: 1.2.3-rc.1+42-abc, 25.2.3): it becomes
#: a file and directory name on every host, so never "/", never a leading "." or "-". A
#: leading "v" and digit is a git tag's name, not a version (mix and rebar3 drop the "v").
VERSION = re.compile(rf"\A(?!v\d)[0-9A-Za-z][0-9A-Za-z.+_-]{{0,{MAX_VERSION_LENGTH - 1}}}\Z")
VERSION_RULE = (
    f"letters, digits and . - + _; not starting with . - or v and a digit; "
    f"at most {MAX_VERSION_LENGTH} characters"
)
#: A manifest is a few hundred bytes: anything much larger is not one (and is not read whole).
MAX_MANIFEST_BYTES = 64 * 1024
#: When a release was built, in UTC: `now()` writes it so.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
KINDS = ("release", "upgrade")

_APP = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")  # an OTP application name (an atom)
_TOOL = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
_COMMIT = re.compile(r"\A[0-9a-f]{7,64}\Z")
_TIME = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_ATOM = re.compile(r"\A[A-Za-z][A-Za-z0-9_.]{0,254}\Z")  # an app or module (Elixir.Foo.Bar)
# a git branch: the characters git allows that mean nothing to a shell, no "..", "//", a
# component starting with "." or a ".lock" ending (git refuses those itself)
_BRANCH = re.compile(r"\A(?![-/.])(?!.*(?:\.\.|//|/\.|\.lock\Z|[/.]\Z))[\w.+@/-]{1,255}\Z")
_MAX_SIZE = 2**63 - 1
_VERSION_PART = re.compile(r"(\d+)|(\D+)")


@dataclass(frozen=True)
class Release:
    app: str
    version: str
    commit: str
    branch: str | None
    tool: str
    built_at: str
    sha256: str
    size: int
    kind: str = "release"
    # an upgrade (kind "upgrade") is from one version to `version`, and says which appups
    # deliver generated and which consolidated protocols stay old until a restart
    from_version: str | None = None
    from_commit: str | None = None
    generated_appups: tuple[str, ...] = ()
    changed_protocols: tuple[str, ...] = ()
    # an upgrade also says which build it is from (the old release archive's sha256), the
    # ERTS it was built with, the applications it holds appups of, and what it cannot do
    # hot: the applications whose native libraries changed, the supervisor (or application
    # callback) modules that changed
    from_sha256: str | None = None
    erts: str | None = None
    appups: tuple[str, ...] = ()
    changed_nifs: tuple[str, ...] = ()
    changed_supervisors: tuple[str, ...] = ()
    # what the build was, besides its commit: MIX_ENV (rebar3: the profile; None in manifests
    # written before deliver recorded it), and whether the build tree held changes the commit
    # does not (untracked files kept by --skip-git-clean, files a hook wrote): such a build is
    # not "the commit's build", and is never reused for it
    mix_env: str | None = None
    dirty: bool = False
    #: the other builds an upgrade is from (`build upgrade --from` repeated): one
    #: "<version> <commit> <sha256>" each
    also_from: tuple[str, ...] = ()
    #: an upgrade whose relup restarts the emulator (restart_new_emulator: ERTS or a core
    #: application changed; restart_emulator: an appup asks for it): the node reboots
    restarts_emulator: bool = False

    def __post_init__(self) -> None:
        """Raises ManifestInvalid naming the first field that breaks its grammar."""
        for name, check in _CHECKS.items():
            problem = check(getattr(self, name))
            if problem is not None:
                raise ManifestInvalid(name, problem)

    @property
    def from_versions(self) -> tuple[str, ...]:
        """Every version an upgrade is from (its relup has an entry for each)."""
        first = () if self.from_version is None else (self.from_version,)
        return first + tuple(build.split()[0] for build in self.also_from)

    def from_build(self, version: str) -> tuple[str | None, str | None]:
        """The commit and archive sha256 of the build an upgrade is from at `version`."""
        for build in self.also_from:
            other, commit, sha256 = build.split()
            if other == version:
                return commit, sha256
        return self.from_commit, self.from_sha256

    @property
    def archive_name(self) -> str:
        return archive_name(self.app, self.version, self.kind)

    @property
    def manifest_name(self) -> str:
        return manifest_name(self.app, self.version, self.kind)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Release:
        """The Release a manifest describes; unknown keys are ignored (a newer deliver may
        write more). Raises ManifestInvalid for anything but a JSON object whose fields all
        pass their grammar."""
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestInvalid("manifest", f"expected at most {MAX_MANIFEST_BYTES} bytes")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ManifestInvalid("manifest", f"expected JSON: {error}") from None
        except (ValueError, RecursionError):  # not UTF-8; nested deeper than Python recurses
            raise ManifestInvalid("manifest", "expected a JSON object in UTF-8") from None
        if not isinstance(data, dict):
            raise ManifestInvalid("manifest", f"expected a JSON object, got {shown(data)}")
        known = {field.name: field for field in fields(cls)}
        for name, field in known.items():
            required = field.default is MISSING and field.default_factory is MISSING
            if required and name not in data:
                raise ManifestInvalid(name, "missing")
        # JSON has lists where the dataclass keeps tuples
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) and key in _TUPLES else value
            for key, value in data.items()
            if key in known
        }
        return cls(**values)


def archive_name(app: str, version: str, kind: str = "release") -> str:
    """edeliver's store names: `<app>_<version>.release.tar.gz` / `.upgrade.tar.gz`."""
    return f"{app}_{version}.{kind}.tar.gz"


def manifest_name(app: str, version: str, kind: str = "release") -> str:
    """The manifest beside the archive: `<app>_<version>.release.json`."""
    return f"{app}_{version}.{kind}.json"


def now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def version_problem(value: object) -> str | None:
    """Why `value` is not a version deliver accepts (see VERSION), or None when it is one."""
    if isinstance(value, str) and VERSION.match(value):
        return None
    return f"expected a version ({VERSION_RULE}), got {shown(value)}"


def check_version(text: str | None, argument: str = "version") -> None:
    """A version given to a command (None: not given) must be a version: InvalidArgument
    naming `argument` otherwise, before anything derives a file name, a shell word or a store
    lookup from it. `v0.2.0` is refused with "did you mean 0.2.0?"."""
    if text is None or VERSION.match(text):
        return
    hint = None
    if re.match(r"v\d", text) and VERSION.match(text[1:]):
        hint = f"did you mean {text[1:]}?"
    printable = text if text.isprintable() and 0 < len(text) <= 60 else shown(text)
    raise InvalidArgument(argument, f"not a version ({VERSION_RULE})", printable, hint)


VersionKey = tuple[tuple[tuple[int, int | str], ...], tuple[Any, ...], tuple[Any, ...]]


def version_key(version: str) -> VersionKey:
    """Sort key for versions: SemVer precedence, read loosely enough for OTP versions.

    The core (before `-` and `+`) compares number by number (0.10.0 after 0.9.0, 25.2.3 after
    25.2); a pre-release sorts before its release (1.0.0-rc.1 < 1.0.0), its dot-separated
    parts compared as SemVer says (numbers by value, below words). SemVer ignores build
    metadata; deliver sorts a `+build` version after the plain version of the same core
    (0.1.0 < 0.1.0+3-abc: --auto-version makes those, from later commits), and two that
    differ only in build metadata by its text, numbers in it by value (+9-abc < +10-abc).
    """
    rest, plus, build = version.partition("+")
    core, dash, pre = rest.partition("-")
    pre_key: tuple[Any, ...] = (0, *map(_identifier_key, pre.split("."))) if dash else (1,)
    build_key: tuple[Any, ...] = (1, _natural_key(build), build) if plus else (0,)
    return _natural_key(core), pre_key, build_key


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((1, int(n)) if n else (0, word) for n, word in _VERSION_PART.findall(text))


def _identifier_key(identifier: str) -> tuple[int, int | str]:
    return (0, int(identifier)) if identifier.isdigit() else (1, identifier)


# the grammars, field by field: each returns what is wrong, or None -------------------------


def _pattern(pattern: re.Pattern[str], expected: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if isinstance(value, str) and pattern.match(value):
            return None
        return f"expected {expected}, got {shown(value)}"

    return check


def _optional(check: Callable[[object], str | None]) -> Callable[[object], str | None]:
    return lambda value: None if value is None else check(value)


def _time_problem(value: object) -> str | None:
    if isinstance(value, str) and _TIME.match(value):
        try:
            datetime.strptime(value, TIME_FORMAT)
            return None
        except ValueError:
            pass
    return f"expected a UTC time like 2026-01-31T12:00:00Z, got {shown(value)}"


def _size_problem(value: object) -> str | None:
    # bool is an int to Python, not to a manifest
    if type(value) is int and 0 <= value <= _MAX_SIZE:
        return None
    return f"expected a whole number of bytes, got {shown(value)}"


def _kind_problem(value: object) -> str | None:
    return None if value in KINDS else f"expected release or upgrade, got {shown(value)}"


def _bool_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {shown(value)}"


def _names_problem(value: object) -> str | None:
    if isinstance(value, tuple) and all(
        isinstance(name, str) and _ATOM.match(name) for name in value
    ):
        return None
    return f"expected a list of Erlang names like Elixir.Enumerable, got {shown(value)}"


def _builds_problem(value: object) -> str | None:
    expected = 'expected a list of "<version> <commit> <sha256>"'
    if not isinstance(value, tuple):
        return f"{expected}, got {shown(value)}"
    for build in value:
        parts = build.split(" ") if isinstance(build, str) else []
        if not (
            len(parts) == 3
            and version_problem(parts[0]) is None
            and _COMMIT.match(parts[1])
            and _SHA256.match(parts[2])
        ):
            return f"{expected}, got {shown(build)}"
    return None


_CHECKS: dict[str, Callable[[object], str | None]] = {
    "app": _pattern(_APP, "an application name ([a-z][a-z0-9_]*, at most 64 characters)"),
    "version": version_problem,
    "commit": _pattern(_COMMIT, "a git commit (7 to 64 lowercase hex digits)"),
    "branch": _optional(_pattern(_BRANCH, "a git branch name (letters, digits, . _ + @ / -)")),
    "tool": _pattern(_TOOL, "a build tool name ([a-z][a-z0-9_]*)"),
    "built_at": _time_problem,
    "sha256": _pattern(_SHA256, "64 lowercase hex digits"),
    "size": _size_problem,
    "kind": _kind_problem,
    "from_version": _optional(version_problem),
    "from_commit": _optional(_pattern(_COMMIT, "a git commit (7 to 64 lowercase hex digits)")),
    "generated_appups": _names_problem,
    "changed_protocols": _names_problem,
    "from_sha256": _optional(_pattern(_SHA256, "64 lowercase hex digits")),
    "erts": _optional(version_problem),
    "appups": _names_problem,
    "changed_nifs": _names_problem,
    "changed_supervisors": _names_problem,
    "mix_env": _optional(_pattern(_TOOL, "a MIX_ENV ([a-z][a-z0-9_]*)")),
    "dirty": _bool_problem,
    "also_from": _builds_problem,
    "restarts_emulator": _bool_problem,
}
_TUPLES = (
    "generated_appups",
    "changed_protocols",
    "appups",
    "changed_nifs",
    "changed_supervisors",
    "also_from",
)
