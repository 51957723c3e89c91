"""Appups: what the build host's escript (erlang/upgrade.escript) chose or generated for each
application whose version changed, and reading them back from a stored upgrade.

The generator, on the build host, diffs the old and new .beam files of each such application
(the release's own and its dependencies): a supervisor is `{update, M, supervisor}`, a module
with code_change/3,4 or system_code_change/4 is `{update, M, {advanced, []}}`, any other
changed module is loaded, new ones added, removed ones deleted, each after the changed modules
it calls; an application whose modules did not change (config only) gets an empty appup.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deliver.errors import DeliverError
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.shell import join, quote
from deliver.transport.remote import Remote

#: where users keep appups, relative to the project root: rel/appups/<app>/<old>-<new>.appup,
#: or rel/appups/<app>.appup for the one upgrade to the version it names
APPUP_DIR = "rel/appups"


@dataclass(frozen=True)
class Appup:
    app: str
    old: str
    new: str
    source: str  # pair, user, release or generated

    @property
    def path(self) -> str:
        return appup_path(self.app, self.new)

    @property
    def pair_file(self) -> str:
        """Where the user's own appup of this pair goes in the project."""
        return f"{APPUP_DIR}/{self.app}/{self.old}-{self.new}.appup"


def appup_path(app: str, version: str) -> str:
    """An application's appup in a release (and in the upgrade archive)."""
    return f"lib/{app}-{version}/ebin/{app}.appup"


@dataclass(frozen=True)
class AppupReport:
    """What the build host's escript said about the appups and the change."""

    appups: tuple[Appup, ...] = ()
    protocols: tuple[str, ...] = ()
    nifs: tuple[str, ...] = ()  # applications whose native libraries changed
    #: changed supervisor / application callback modules: (app, module)
    supervisors: tuple[tuple[str, str], ...] = ()
    stale: tuple[tuple[str, str, str], ...] = ()  # (app, file, the version it is the appup of)
    erts: str | None = None

    @classmethod
    def parse(cls, output: str) -> AppupReport:
        """The escript's lines (see erlang/upgrade.escript); anything else is not ours."""
        appups: list[Appup] = []
        found: dict[str, list[str]] = {"protocol": [], "nif": []}
        supervisors: list[tuple[str, str]] = []
        stale: list[tuple[str, str, str]] = []
        erts = None
        for line in output.splitlines():
            words = line.split()
            if len(words) == 5 and words[0] == "appup":
                appups.append(Appup(*words[1:]))
            elif len(words) == 2 and words[0] == "protocol":
                found["protocol"].append(words[1])
            elif len(words) == 3 and words[0] == "nif":
                found["nif"].append(words[1])
            elif len(words) == 3 and words[0] == "supervisor":
                supervisors.append((words[1], words[2]))
            elif len(words) == 4 and words[0] == "stale":
                stale.append((words[1], words[2], words[3]))
            elif len(words) == 1 and words[0].startswith("ERTS="):
                erts = words[0].removeprefix("ERTS=") or None
        return cls(
            tuple(appups),
            tuple(found["protocol"]),
            tuple(dict.fromkeys(found["nif"])),
            tuple(dict.fromkeys(supervisors)),
            tuple(stale),
            erts,
        )

    def tree_changes(self) -> tuple[str, ...]:
        """The changed supervision-tree modules of the applications whose appup deliver
        generated: a user's own appup says how to handle its own."""
        theirs = {a.app for a in self.appups if a.source != "generated"}
        return tuple(module for app, module in self.supervisors if app not in theirs)


#: Shown each appup (application, text); returns the text to use instead, or None to keep it.
AppupEditor = Callable[[str, str], "str | None"]


def edit_appups(
    remote: Remote, root: str, appups: Sequence[Appup], edit: AppupEditor, out: Output
) -> tuple[str, ...]:
    """Hand each appup in place under `root` on the build host (one per application) to
    `edit` before the relup is made, and put back the ones it changed; returns their apps."""
    edited = []
    for path in dict.fromkeys(appup.path for appup in appups):
        app = path.rsplit("/", 1)[1].removesuffix(".appup")
        copy = io.BytesIO()
        remote.download(f"{root}/{path}", copy)
        text = copy.getvalue().decode(errors="replace")
        changed = edit(app, text)
        if changed is not None and changed != text:
            remote.upload(changed.encode(), f"{root}/{path}")
            edited.append(app)
            out.step(f"Using your edit of the appup of {app}")
    return tuple(edited)


#: How each source is said in the header of a stored appup.
_SOURCES = {
    "generated": "generated by deliver from the modules",
    "pair": "yours, from {pair}",
    "user": "yours, from " + APPUP_DIR + "/{app}.appup",
    "release": "the release's own ebin/{app}.appup",
    "edited": "generated, then edited with build upgrade --edit",
}


def pair_files(
    remote: Remote,
    escript: str,
    root: str,
    appups: Sequence[Appup],
    edited: Sequence[str],
) -> dict[str, bytes]:
    """Each application's appup in the release under `root` on the build host, split into one
    file per old version (`<app>/<old>-<new>.appup`, the form of a per-pair override), headed
    by where it came from: what the store keeps beside the upgrade."""
    if not appups:
        return {}
    out_dir = f"{root}.pairs"
    triples = " ".join(quote(f"{a.app},{a.old},{a.new}") for a in appups)
    remote.run(
        join(
            f"rm -rf {quote(out_dir)}",
            f"escript {quote(escript)} pairs {quote(root)} {quote(out_dir)} {triples} 2>&1",
        ),
        step="keeping the appups",
    )
    files = {}
    for appup in appups:
        name = f"{appup.app}/{appup.old}-{appup.new}.appup"
        copy = io.BytesIO()
        remote.download(f"{out_dir}/{name}", copy)
        source = "edited" if appup.app in edited else appup.source
        said = _SOURCES.get(source, source).format(pair=appup.pair_file, app=appup.app)
        header = (
            f"%% The appup of {appup.app} {appup.old} -> {appup.new}: {said}.\n"
            f"%% To use it as it is or changed, commit it as {appup.pair_file}\n"
        )
        files[name] = header.encode() + copy.getvalue()
    return files


def relup_text(store: ReleaseStore, app: str, version: str) -> tuple[Release, str]:
    """The stored upgrade to `version` and its relup file, as written by systools."""
    upgrade = store.find(app, version, kind="upgrade")
    name = f"releases/{version}/relup"
    found = archive_texts(store, upgrade, lambda path: path == name)
    if not found:
        raise DeliverError(f"{store.where(upgrade)} holds no {name}")
    return upgrade, found[name]


def archive_texts(
    store: ReleaseStore, release: Release, wanted: Callable[[str], bool]
) -> dict[str, str]:
    """The regular files of the stored archive whose path (relative, without ./) is
    `wanted`, as text."""
    found: dict[str, str] = {}
    with tempfile.TemporaryFile() as copy:
        store.get(release, copy)
        copy.seek(0)
        with tarfile.open(fileobj=copy) as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if member.isfile() and wanted(name):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        found[name] = extracted.read().decode(errors="replace")
    return found


def report_appups(out: Output, report: AppupReport, old: str, new: str) -> None:
    """Say where each appup came from, and what the user should know about the change."""
    for app, path, version in report.stale:
        out.warning(
            f"{path} is the appup of version {version}, but the new release has {new}: "
            f"not used (put the appup of this upgrade in {APPUP_DIR}/{app}/"
            f"<old>-{new}.appup, or delete {path})"
        )
    for appup in report.appups:
        if appup.source == "generated":
            out.step(
                f"Generated the appup of {appup.app} {appup.old} -> {appup.new} from its "
                f"modules (see `deliver show appup {new}`; yours goes in {appup.pair_file})"
            )
        else:
            where = {
                "pair": appup.pair_file,
                "user": f"{APPUP_DIR}/{appup.app}.appup",
            }.get(appup.source, "the release")
            out.step(f"Using the appup of {appup.app} from {where}")
    if not report.appups:
        out.warning(f"no application changed its version between {old} and {new}")
    if report.protocols:
        out.warning(
            "consolidated protocols differ and are not hot-upgraded (the node keeps the old "
            f"ones until it restarts): {', '.join(report.protocols)}"
        )
