"""The shell scripts deliver runs on a deploy host, run for real with /bin/sh on this machine.

Each test lays out a `deliver_to` under tmp_path as deploys leave it (releases/<v>/ with its
.deliver-* files, `current`/`running` links, hot-upgrade aliases, deliver.history), runs one
host-side step through the local transport (LocalRemote, no sshd, no Erlang) and pins what it
leaves behind: files, symlinks, the values it reports and the errors it raises.

Release roots have a space in their name, so every script's quoting is exercised too.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deliver.config import Environment, HostSpec, RuntimeLinks
from deliver.errors import CommandFailed, DeliverError, NodeError, UsageError
from deliver.host.layout import (
    HISTORY_LINES,
    Event,
    HostReleases,
    HostState,
    in_root,
    read_host_releases,
    read_state,
    record,
    switch_current,
)
from deliver.host.links import link_release
from deliver.host.prune import prune_host
from deliver.host.release_handler import NodeCheck, relink, running_node
from deliver.host.unpack import Preflight, extract, preflight, upload
from deliver.release import Release
from deliver.release_store.local import LocalStore
from deliver.shell import Secret, env_file_text, quote
from deliver.transport.local import LocalRemote
from deliver.transport.remote import Result
from tests.conftest import run_cli

APP = "hello"
HOST = HostSpec.parse("localhost")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
#: a size no disk has free: the space check must refuse it
HUGE = 2**60


# --- helpers -------------------------------------------------------------------------------


def local() -> LocalRemote:
    return LocalRemote(HOST)


def digest(text: str) -> str:
    """A plausible sha256 (64 hex digits) standing for one build of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def make_release(
    version: str = "0.1.0",
    *,
    sha256: str | None = None,
    size: int = 4096,
    tool: str = "mix",
    branch: str | None = "main",
) -> Release:
    return Release(
        app=APP,
        version=version,
        commit=COMMIT,
        branch=branch,
        tool=tool,
        built_at="2024-05-01T10:00:00Z",
        sha256=sha256 or digest(version),
        size=size,
    )


def new_root(tmp_path: Path, name: str = "srv app") -> Path:
    """A release root (not created) whose real path is what the scripts report as ROOT."""
    return Path(os.path.realpath(tmp_path)) / name


def add_release(
    root: Path,
    version: str,
    *,
    tool: str | None = "mix",
    sha256: str | None = None,
    boots: str | None = None,
) -> Path:
    """releases/<version>/ as extract leaves it; `boots`: its start_erl.data's version."""
    directory = root / "releases" / version
    directory.mkdir(parents=True)
    if tool is not None:
        (directory / ".deliver-tool").write_text(f"{tool}\n")
    (directory / ".deliver-sha256").write_text(f"{sha256 or digest(version)}\n")
    if boots is not None:
        (directory / "releases").mkdir()
        (directory / "releases" / "start_erl.data").write_text(f"13.2.2 {boots}\n")
    return directory


def link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def write_history(root: Path, *events: str) -> None:
    """deliver.history with one `<kind> <version>` event a second from 2024-01-01T00:00:00Z."""
    lines = [f"2024-01-01T00:00:{i:02}Z {event}\n" for i, event in enumerate(events)]
    (root / "deliver.history").write_text("".join(lines))


def history(root: Path) -> list[str]:
    """The `<kind> <version>` of each history line, each checked to be `<time> <kind> <v>`."""
    lines = (root / "deliver.history").read_text().splitlines()
    for line in lines:
        assert re.fullmatch(rf"{TIME} \S+ \S+", line), line
    return [line.split(" ", 1)[1] for line in lines]


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def environment(deliver_to: Path | str) -> Environment:
    return Environment("production", (HOST,), str(deliver_to))


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of `files` (path -> content); `bin/` files are executable."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755 if name.startswith("bin/") else 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


RELEASE_FILES = {
    "bin/hello": b"#!/bin/sh\necho hello\n",
    "releases/0.1.0/start_erl.data": b"13.2.2 0.1.0\n",
    "releases/0.1.0/vm.args": b"-name hello@127.0.0.1\n",
    "lib/hello-0.1.0/ebin/hello.app": b"{application,hello,[]}.\n",
}


def staged_archive(
    root: Path, version: str = "0.1.0", *, tool: str = "mix", branch: str | None = "main"
) -> Release:
    """A real archive at releases/<version>.tar.gz (as upload leaves it) and its Release."""
    data = tarball(RELEASE_FILES)
    (root / "releases").mkdir(parents=True, exist_ok=True)
    (root / "releases" / f"{version}.tar.gz").write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    (root / "releases" / f"{version}.tar.gz.sha256").write_text(f"{sha256}\n")
    return make_release(version, sha256=sha256, size=len(data), tool=tool, branch=branch)


# --- read_state and read_host_releases -----------------------------------------------------


@pytest.mark.parametrize(
    ("links", "tools", "expected"),
    [
        # (current, running, tool)
        ({"current": "releases/0.1.0"}, {"0.1.0": "mix"}, ("0.1.0", None, "mix")),
        ({"current": "releases/0.1.0"}, {"0.1.0": "rebar3"}, ("0.1.0", None, "rebar3")),
        # no .deliver-tool (an older deliver's release): mix
        ({"current": "releases/0.1.0"}, {"0.1.0": None}, ("0.1.0", None, "mix")),
        # the tool is the running release's, not the current one's
        (
            {"current": "releases/0.2.0", "running": "releases/0.1.0"},
            {"0.1.0": "rebar3", "0.2.0": "mix"},
            ("0.2.0", "0.1.0", "rebar3"),
        ),
        # a `running` whose release is gone counts as no running node
        (
            {"current": "releases/0.1.0", "running": "releases/0.0.9"},
            {"0.1.0": "rebar3"},
            ("0.1.0", None, "rebar3"),
        ),
        # a dangling `current` still names its version; its tool falls back to mix
        ({"current": "releases/0.3.0"}, {"0.1.0": "rebar3"}, ("0.3.0", None, "mix")),
        # current after a hot upgrade: an alias of the running directory
        (
            {"current": "releases/0.2.0", "running": "releases/0.1.0", "releases/0.2.0": "0.1.0"},
            {"0.1.0": "rebar3"},
            ("0.2.0", "0.1.0", "rebar3"),
        ),
    ],
)
def test_read_state_reports_current_running_and_tool(
    tmp_path: Path,
    links: dict[str, str],
    tools: dict[str, str | None],
    expected: tuple[str, str | None, str],
) -> None:
    root = new_root(tmp_path)
    for version, tool in tools.items():
        add_release(root, version, tool=tool)
    for name, target in links.items():
        link(root / name, target)
    assert read_state(local(), str(root), APP) == HostState("localhost", str(root), *expected)


def test_the_root_is_resolved_through_symlinks_and_home(tmp_path: Path) -> None:
    real = new_root(tmp_path, "real root")
    add_release(real, "0.1.0")
    link(real / "current", "releases/0.1.0")
    link(tmp_path / "via link", str(real))
    home = Path(os.environ["HOME"])
    link(home / "app", str(real))

    assert read_state(local(), str(tmp_path / "via link"), APP).root == str(real)
    assert read_state(local(), "~/app", APP).root == str(real)
    releases = read_host_releases(local(), str(tmp_path / "via link"), APP)
    assert releases.root == str(real)
    assert read_host_releases(local(), "~/app", APP).root == str(real)


Reader = Callable[[LocalRemote, str, str], object]


@pytest.mark.parametrize("reader", [read_state, read_host_releases])
@pytest.mark.parametrize("layout", ["missing", "empty", "releases only", "current is a directory"])
def test_a_host_without_a_current_release_is_refused(
    tmp_path: Path, reader: Reader, layout: str
) -> None:
    root = new_root(tmp_path)
    if layout != "missing":
        root.mkdir()
    if layout == "releases only":
        add_release(root, "0.1.0")
    if layout == "current is a directory":
        (root / "current").mkdir()
    with pytest.raises(NodeError) as refused:
        reader(local(), str(root), APP)
    assert str(refused.value) == f"localhost: no release of hello is deployed in {root}"
    assert refused.value.host == "localhost"
    if layout == "missing":
        assert not root.exists()  # reading creates nothing


def test_read_host_releases_after_a_hot_upgrade_and_cold_deploys(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0", tool="rebar3", boots="0.2.0")
    link(root / "releases" / "0.2.0", "0.1.0")  # hot-upgraded from 0.1.0
    add_release(root, "0.9.0")
    add_release(root, "0.10.0")
    add_release(root, "1.0.0-rc.1")
    (root / "releases" / "0.11.0").mkdir()  # no .deliver-sha256: not a complete release
    hidden = root / "releases" / ".0.12.0.new"  # an extraction under way
    hidden.mkdir()
    (hidden / ".deliver-sha256").write_text(f"{digest('0.12.0')}\n")
    (root / "releases" / "0.9.0.tar.gz").write_bytes(b"")
    link(root / "releases" / "0.3.0", "0.0.1")  # an alias whose directory is gone
    link(root / "current", "releases/0.2.0")
    link(root / "running", "releases/0.1.0")
    (root / "deliver.history").write_text(
        "2024-01-01T00:00:00Z deployed 0.9.0\n"
        "garbage\n"
        "\n"
        "2024-01-01T00:00:01Z started 0.10.0 and more\n"
        "2024-01-02T00:00:00Z started 0.1.0\n"
        "2024-01-03T00:00:00Z deployed 0.2.0\n"
    )

    assert read_host_releases(local(), str(root), APP) == HostReleases(
        name="localhost",
        root=str(root),
        current="0.2.0",
        running="0.1.0",
        tool="rebar3",
        present=("0.1.0", "0.2.0", "0.9.0", "0.10.0", "1.0.0-rc.1"),
        history=(
            Event("2024-01-01T00:00:00Z", "deployed", "0.9.0"),
            Event("2024-01-02T00:00:00Z", "started", "0.1.0"),
            Event("2024-01-03T00:00:00Z", "deployed", "0.2.0"),
        ),
        aliases={"0.2.0": "0.1.0", "0.3.0": "0.0.1"},
    )


def test_read_host_releases_without_history_or_running(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0", tool=None)
    link(root / "current", "releases/0.1.0")
    assert read_host_releases(local(), str(root), APP) == HostReleases(
        "localhost", str(root), "0.1.0", None, "mix", ("0.1.0",), (), {}
    )


# --- switch_current and record -------------------------------------------------------------


def test_switch_points_current_at_the_release_and_records_it(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    add_release(root, "0.2.0")

    switch_current(local(), str(root), "0.1.0")  # the first deploy: no current, no history
    assert os.readlink(root / "current") == "releases/0.1.0"
    assert history(root) == ["deployed 0.1.0"]

    switch_current(local(), str(root), "0.2.0")
    assert os.readlink(root / "current") == "releases/0.2.0"
    assert history(root) == ["deployed 0.1.0", "deployed 0.2.0"]
    assert listing(root) == ["current", "deliver.history", "releases"]  # no .current.new

    # the script checks nothing else: a version that is not there is switched to all the same
    switch_current(local(), str(root), "9.9.9")
    assert os.readlink(root / "current") == "releases/9.9.9"
    assert history(root)[-1] == "deployed 9.9.9"


@pytest.mark.parametrize(
    ("start_erl", "alias", "boots"),
    [
        ("13.2.2 0.2.0\n", False, "0.2.0"),  # hot-upgraded in place to 0.2.0
        ("13.2.2 0.1.0-rc.1\n", False, "0.1.0-rc.1"),
        # one field only: cut prints the whole line, which is then taken as the version
        ("13.2.2\n", False, "13.2.2"),
        ("13.2.2 0.1.0\n", False, None),  # boots itself
        ("", False, None),
        (None, False, None),  # no start_erl.data at all
        ("13.2.2 0.2.0\n", True, None),  # releases/0.1.0 is itself an alias: always fine
    ],
)
def test_switch_refuses_a_directory_that_boots_another_version(
    tmp_path: Path, start_erl: str | None, alias: bool, boots: str | None
) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.0.9")
    link(root / "current", "releases/0.0.9")
    write_history(root, "started 0.0.9")
    directory = add_release(root, "0.0.8" if alias else "0.1.0")
    if alias:
        link(root / "releases" / "0.1.0", "0.0.8")
    if start_erl is not None:
        (directory / "releases").mkdir()
        (directory / "releases" / "start_erl.data").write_text(start_erl)
    if boots is None:
        switch_current(local(), str(root), "0.1.0")
        assert os.readlink(root / "current") == "releases/0.1.0"
        assert history(root) == ["started 0.0.9", "deployed 0.1.0"]
        return
    with pytest.raises(CommandFailed) as refused:
        switch_current(local(), str(root), "0.1.0")
    assert refused.value.step == "switching"
    assert refused.value.exit_status == 1
    assert refused.value.output_tail == (
        f"releases/0.1.0 was hot-upgraded in place and boots {boots}: "
        "go back to 0.1.0 with deliver downgrade"
    )
    assert os.readlink(root / "current") == "releases/0.0.9"
    assert history(root) == ["started 0.0.9"]
    assert listing(root) == ["current", "deliver.history", "releases"]


@pytest.mark.parametrize(
    ("prefix", "kind", "version", "expected"),
    [
        ("", "started", "0.1.0", "started 0.1.0"),
        ("", "rolled_back", "1.0.0-rc.1", "rolled_back 1.0.0-rc.1"),
        # a quoted expansion, as start_node passes "$started_version"
        ("v=0.2.0; ", "failed", '"$v"', "failed 0.2.0"),
    ],
)
def test_record_appends_one_timestamped_event(
    tmp_path: Path, prefix: str, kind: str, version: str, expected: str
) -> None:
    root = new_root(tmp_path)
    root.mkdir()
    write_history(root, "deployed 0.1.0")
    before = datetime.now(UTC).replace(microsecond=0)
    local().run(prefix + record(str(root), kind, version))  # from any directory: root is absolute
    after = datetime.now(UTC)

    assert history(root) == ["deployed 0.1.0", expected]
    when = (root / "deliver.history").read_text().splitlines()[-1].split()[0]
    stamp = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= after + timedelta(seconds=1)


def test_record_writes_a_hostile_version_as_text_and_runs_nothing(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    root.mkdir()
    hostile = "0.1.2$(touch PWNED)`touch PWNED2`"
    local().run(f"cd {quote(str(root))} && " + record(str(root), "deployed", quote(hostile)))
    assert (root / "deliver.history").read_text().split(" ", 1)[1] == f"deployed {hostile}\n"
    assert not (root / "PWNED").exists() and not (root / "PWNED2").exists()


def test_record_creates_the_history_file(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    root.mkdir()
    local().run(record(str(root), "deployed", "0.1.0"))
    assert history(root) == ["deployed 0.1.0"]


# --- the running node, as a hot upgrade asks it ---------------------------------------------


@pytest.mark.parametrize("answer", ["0.1.0$(touch PWNED)", "../../0.1.0", "0.1.0 0.2.0"])
def test_a_node_that_reports_no_version_is_refused_before_a_switch(
    tmp_path: Path, answer: str
) -> None:
    root = new_root(tmp_path)
    release = add_release(root, "0.1.0")
    (release / "releases").mkdir()
    (release / "releases" / "RELEASES").write_text("[].\n")
    # a start script whose node is up (rpc of the start check prints a pid) and says `answer`
    script = release / "bin" / APP
    script.parent.mkdir()
    script.write_text(
        f"#!/bin/sh\ncase \"$2\" in *get_status*) echo 4242 ;; *) echo '{answer}' ;; esac\n"
    )
    script.chmod(0o755)
    link(root / "current", "releases/0.1.0")
    link(root / "running", "releases/0.1.0")
    with pytest.raises(NodeError) as error:
        running_node(local(), environment(root), APP)
    assert str(error.value).startswith("localhost: the version the node runs: expected a version")
    assert not list(tmp_path.rglob("PWNED"))


# --- relink (a hot upgrade or downgrade recorded in the layout) ----------------------------


def test_relink_aliases_the_node_root_keeps_each_hot_step_and_a_downgrade_drops_them(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0", boots="0.1.0")
    link(root / "current", "releases/0.1.0")
    link(root / "running", "releases/0.1.0")
    check = NodeCheck(
        "localhost", str(root), str(root / "releases" / "0.1.0"), "mix", "0.1.0", "4242", False
    )

    relink(local(), check, "0.2.0")  # upgraded to 0.2.0
    assert os.readlink(root / "releases" / "0.2.0") == "0.1.0"
    assert os.readlink(root / "current") == "releases/0.2.0"
    assert os.readlink(root / "running") == "releases/0.1.0"

    relink(local(), check, "0.3.0")  # and on to 0.3.0: 0.2.0 stays, a step to go back to
    assert listing(root / "releases") == ["0.1.0", "0.2.0", "0.3.0"]
    assert os.readlink(root / "releases" / "0.3.0") == "0.1.0"
    assert os.readlink(root / "current") == "releases/0.3.0"

    relink(local(), check, "0.1.0", downgrade=True)  # to its own name: no alias at all
    assert listing(root / "releases") == ["0.1.0"]
    assert os.readlink(root / "current") == "releases/0.1.0"
    assert history(root) == ["deployed 0.2.0", "deployed 0.3.0", "deployed 0.1.0"]
    assert listing(root) == ["current", "deliver.history", "releases", "running"]

    state = read_host_releases(local(), str(root), APP)
    assert (state.current, state.running, state.present, state.aliases) == (
        "0.1.0",
        "0.1.0",
        ("0.1.0",),
        {},
    )


def test_relink_leaves_a_real_directory_of_the_new_version_alone(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0", boots="0.2.0")
    add_release(root, "0.2.0")  # extracted cold beside the running node before
    link(root / "releases" / "0.0.5", "0.1.0")  # an older alias of the node root
    link(root / "current", "releases/0.1.0")
    check = NodeCheck(
        "localhost",
        str(root),
        str(root / "releases" / "0.1.0") + "/",
        "mix",
        "0.1.0",
        "4242",
        False,
    )

    relink(local(), check, "0.2.0")
    assert (root / "releases" / "0.2.0").is_dir()
    assert not (root / "releases" / "0.2.0").is_symlink()
    assert os.readlink(root / "current") == "releases/0.2.0"
    # an upgrade keeps the earlier hot steps (a rollback goes back through them)
    assert listing(root / "releases") == ["0.0.5", "0.1.0", "0.2.0"]
    assert history(root) == ["deployed 0.2.0"]


# --- prune ---------------------------------------------------------------------------------

ARCHIVES = (".tar.gz", ".tar.gz.sha256", ".upgrade.tar.gz", ".upgrade.tar.gz.sha256")


def prune_with(root: Path, keep: int) -> list[str]:
    """Prune `root` in one script (host/prune.py), holding the host's choice to deliver's
    (HostReleases.prunable over the same listing, read first)."""
    expected = read_host_releases(local(), str(root), APP).prunable(keep)
    removed = prune_host(local(), str(root), keep)
    assert removed == expected
    return removed


def with_archives(root: Path, version: str) -> None:
    for suffix in ARCHIVES:
        (root / "releases" / f"{version}{suffix}").write_text("x")


def files_of(*versions: str) -> list[str]:
    return sorted(name for v in versions for name in (v, *(v + s for s in ARCHIVES)))


def test_prune_removes_the_oldest_releases_and_their_archives_only(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    versions = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"]
    for version in versions:
        add_release(root, version)
        with_archives(root, version)
    leftovers = ["0.0.1.tar.gz", "0.0.2", ".0.6.0.new", ".0.6.0.tar.gz.part"]
    (root / "releases" / "0.0.1.tar.gz").write_text("an archive without its release")
    (root / "releases" / "0.0.2").mkdir()  # no .deliver-sha256: not a release
    (root / "releases" / ".0.6.0.new").mkdir()
    (root / "releases" / ".0.6.0.tar.gz.part").write_text("")
    write_history(root, *(f"started {v}" for v in versions))
    link(root / "current", "releases/0.5.0")
    link(root / "running", "releases/0.5.0")

    removed = prune_with(root, 2)
    assert removed == ["0.1.0", "0.2.0", "0.3.0"]
    # what is not a complete release is never pruned
    assert listing(root / "releases") == sorted([*files_of("0.4.0", "0.5.0"), *leftovers])
    assert listing(root) == ["current", "deliver.history", "releases", "running"]
    assert history(root) == [f"started {v}" for v in versions]  # pruning keeps the events

    assert prune_with(root, 2) == []
    assert listing(root / "releases") == sorted([*files_of("0.4.0", "0.5.0"), *leftovers])


def test_a_directory_that_is_no_version_is_never_listed_split_or_pruned(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        add_release(root, version)
    # names a hostile archive or user could leave: prune once ran rm -rf on their fragments
    for odd in ("0.1.0 ..", "0.0.9\n..", ".hidden", "-rf"):
        add_release(root, odd)
    link(root / "releases" / "1.0 0", "0.1.0")  # an alias named no version: ignored too
    link(root / "current", "releases/0.3.0")
    write_history(root, "started 0.1.0", "started 0.2.0", "started 0.3.0")

    found = read_host_releases(local(), str(root), APP)
    assert found.present == ("0.1.0", "0.2.0", "0.3.0") and found.aliases == {}
    assert prune_with(root, 1) == ["0.1.0"]
    for odd in ("0.1.0 ..", "0.0.9\n..", ".hidden", "-rf"):
        assert (root / "releases" / odd / ".deliver-sha256").exists()
    assert (root / "releases" / "0.3.0").exists()


def test_prune_keeps_current_running_previous_and_the_directories_of_aliases(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    # 0.1.0 started, hot-upgraded to 0.3.0 (releases/0.3.0 -> 0.1.0), then 0.4.0 and 0.5.0
    # deployed cold and never started: the node still runs from 0.1.0
    add_release(root, "0.0.9")
    add_release(root, "0.1.0", boots="0.3.0")
    link(root / "releases" / "0.3.0", "0.1.0")
    add_release(root, "0.4.0")
    add_release(root, "0.5.0")
    for version in ("0.0.9", "0.1.0", "0.3.0", "0.4.0", "0.5.0"):
        with_archives(root, version)
    write_history(
        root, "started 0.0.9", "started 0.1.0", "deployed 0.3.0", "deployed 0.4.0", "deployed 0.5.0"
    )
    link(root / "current", "releases/0.5.0")
    link(root / "running", "releases/0.1.0")

    removed = prune_with(root, 1)
    # current 0.5.0, running 0.1.0, previous 0.4.0 stay: the alias 0.3.0 goes, only the link
    assert removed == ["0.0.9", "0.3.0"]
    assert listing(root / "releases") == files_of("0.1.0", "0.4.0", "0.5.0")
    assert (root / "releases" / "0.1.0" / "releases" / "start_erl.data").is_file()


def test_prune_keeps_the_directory_a_kept_alias_points_at(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.0.8")
    add_release(root, "0.0.9")
    add_release(root, "0.1.0", boots="0.2.0")
    link(root / "releases" / "0.2.0", "0.1.0")
    # 0.1.0's own events were trimmed away; the node is stopped
    write_history(root, "started 0.0.8", "started 0.0.9", "deployed 0.2.0")
    link(root / "current", "releases/0.2.0")

    removed = prune_with(root, 1)
    assert removed == ["0.0.8"]
    assert listing(root / "releases") == ["0.0.9", "0.1.0", "0.2.0"]
    assert (root / "current" / ".deliver-sha256").read_text() == f"{digest('0.1.0')}\n"


@pytest.mark.parametrize(("lines", "kept"), [(HISTORY_LINES + 100, HISTORY_LINES), (3, 3)])
def test_prune_trims_the_history_to_its_newest_lines(tmp_path: Path, lines: int, kept: int) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    link(root / "current", "releases/0.1.0")
    events = [f"2024-01-01T00:00:00Z started 0.1.{i}\n" for i in range(lines - 1)]
    (root / "deliver.history").write_text(
        "".join([*events, "2024-01-01T00:00:00Z started 0.1.0\n"])
    )

    assert prune_with(root, 5) == []
    trimmed = (root / "deliver.history").read_text().splitlines(keepends=True)
    assert len(trimmed) == kept
    assert trimmed == [*events, "2024-01-01T00:00:00Z started 0.1.0\n"][-kept:]
    assert listing(root) == ["current", "deliver.history", "releases"]


def test_prune_without_a_history_creates_none(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    add_release(root, "0.2.0")
    add_release(root, "0.3.0")
    link(root / "current", "releases/0.1.0")
    # never-deployed leftovers rank newest version first
    assert prune_with(root, 2) == ["0.2.0"]
    assert listing(root) == ["current", "releases"]
    assert listing(root / "releases") == ["0.1.0", "0.3.0"]


# --- preflight -----------------------------------------------------------------------------


def test_preflight_creates_the_release_root_of_a_fresh_host(tmp_path: Path) -> None:
    root = new_root(tmp_path) / "nested"
    assert preflight(local(), environment(root), make_release()) == Preflight(
        str(root), None, False, False
    )
    assert listing(root) == ["releases"]
    assert listing(root / "releases") == []
    # and again, now that it exists, through a ~/ path
    link(Path(os.environ["HOME"]) / "app", str(root))
    assert preflight(local(), environment("~/app"), make_release()) == Preflight(
        str(root), None, False, False
    )


def test_preflight_reports_the_archive_and_release_by_their_sha256(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    release = make_release("0.2.0")
    other = digest("another build")

    def run() -> Preflight:
        return preflight(local(), environment(root), release)

    add_release(root, "0.1.0")
    link(root / "current", "releases/0.1.0")
    archive_sha = root / "releases" / "0.2.0.tar.gz.sha256"

    assert run() == Preflight(str(root), "0.1.0", False, False)
    archive_sha.write_text(f"{other}\n")
    assert run() == Preflight(str(root), "0.1.0", False, False)
    # only the .sha256 file is looked at: the archive itself is not even there
    archive_sha.write_text(f"{release.sha256}\n")
    assert run() == Preflight(str(root), "0.1.0", True, False)
    add_release(root, "0.2.0", sha256=other)
    with pytest.raises(NodeError, match=r"holds a different build of hello 0\.2\.0"):
        run()  # another build, though not current: rollback may go back to it
    forced = preflight(local(), environment(root), release, force=True)
    assert forced == Preflight(str(root), "0.1.0", True, False)
    (root / "releases" / "0.2.0" / ".deliver-sha256").write_text(f"{release.sha256}\n")
    assert run() == Preflight(str(root), "0.1.0", True, True)
    # the same build, hot-upgraded in place to another version and used by no one: extracted
    # afresh
    (root / "releases" / "0.2.0" / "releases").mkdir()
    (root / "releases" / "0.2.0" / "releases" / "start_erl.data").write_text("13.2.2 0.3.0\n")
    assert run() == Preflight(str(root), "0.1.0", True, False)
    assert listing(root / "releases") == ["0.1.0", "0.2.0", "0.2.0.tar.gz.sha256"]


@pytest.mark.parametrize("deployed", ["another build", "missing directory", "no sha256"])
def test_preflight_refuses_another_build_of_the_current_version(
    tmp_path: Path, deployed: str
) -> None:
    root = new_root(tmp_path)
    if deployed == "another build":
        add_release(root, "0.1.0", sha256=digest("another build"))
    elif deployed == "no sha256":
        (root / "releases" / "0.1.0").mkdir(parents=True)
    link(root / "current", "releases/0.1.0")
    release = make_release("0.1.0")
    with pytest.raises(NodeError) as refused:
        preflight(local(), environment(root), release)
    held = (
        f"commit ? (sha256 {digest('another build')[:16]})"
        if deployed == "another build"
        else "commit ? (sha256 ?)"
    )
    assert str(refused.value) == (
        f"localhost: holds a different build of hello 0.1.0: {held} on the host, "
        f"commit {COMMIT[:10]} (sha256 {release.sha256[:16]}) in the store"
    )
    assert refused.value.hint == (
        "give the new build a new version (deliver build release --increment-version=patch), "
        "or replace the hosts' build with deliver deploy release --force"
    )
    # --force replaces it: current names it, but no node runs from it
    assert preflight(local(), environment(root), release, force=True).current == "0.1.0"


def test_preflight_never_replaces_the_directory_a_node_runs_from(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0", sha256=digest("another build"))
    (root / "releases" / "0.1.0" / ".deliver-revision").write_text("abcdef0123456789\nmain\n")
    link(root / "current", "releases/0.1.0")
    link(root / "running", "releases/0.1.0")
    with pytest.raises(NodeError) as refused:
        preflight(local(), environment(root), make_release("0.1.0"), force=True)
    assert str(refused.value) == (
        "localhost: its node runs from releases/0.1.0, commit abcdef0123 (sha256 "
        f"{digest('another build')[:16]}): deliver never replaces the directory a running "
        "node runs from"
    )
    assert refused.value.hint is not None
    assert "deliver stop production, --host for some" in refused.value.hint
    # and the extraction itself refuses, whatever the preflight said
    check = Preflight(str(root), "0.1.0", False, False, running="0.1.0")
    archive = tarball({"bin/hello": b"#!/bin/sh\n"})
    (root / "releases" / "0.1.0.tar.gz").write_bytes(archive)
    stale = make_release("0.1.0", sha256=hashlib.sha256(archive).hexdigest())
    with pytest.raises(CommandFailed, match="the running node runs from it"):
        extract(local(), check, stale, "")
    assert (root / "releases" / "0.1.0" / ".deliver-revision").exists()


# the directory an alias points at boots the alias's version, or (a stale alias) another one
@pytest.mark.parametrize("boots", ["0.2.0", "0.3.0"])
def test_preflight_accepts_a_current_alias_of_another_build(tmp_path: Path, boots: str) -> None:
    # 0.1.0 hot-upgraded to 0.2.0: a cold deploy of a 0.2.0 build replaces the alias
    root = new_root(tmp_path)
    add_release(root, "0.1.0", boots=boots)
    link(root / "releases" / "0.2.0", "0.1.0")
    link(root / "current", "releases/0.2.0")
    link(root / "running", "releases/0.1.0")
    check = preflight(local(), environment(root), make_release("0.2.0"))
    assert check == Preflight(str(root), "0.2.0", False, False, running="0.1.0")


@pytest.mark.parametrize(
    ("links", "in_use"),
    [
        ({"running": "releases/0.1.0", "current": "releases/0.0.9"}, "running"),
        ({"current": "releases/0.1.0"}, "current"),
        ({"current": "releases/0.2.0", "releases/0.2.0": "0.1.0"}, "releases/0.2.0"),
        # several users: the message names the last one found
        (
            {"running": "releases/0.1.0", "current": "releases/0.2.0", "releases/0.2.0": "0.1.0"},
            "releases/0.2.0",
        ),
    ],
)
def test_preflight_refuses_a_hot_upgraded_directory_in_use(
    tmp_path: Path, links: dict[str, str], in_use: str
) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.0.9")
    add_release(root, "0.1.0", boots="0.2.0")
    for name, target in links.items():
        link(root / name, target)
    with pytest.raises(UsageError) as refused:
        preflight(local(), environment(root), make_release("0.1.0"))
    assert str(refused.value) == (
        f"releases/0.1.0 was hot-upgraded in place to 0.2.0 and is in use ({in_use}): "
        "go back to 0.1.0 with `deliver downgrade production --version=0.1.0`"
    )
    assert refused.value.hint is None


@pytest.mark.parametrize(
    ("has_archive", "has_release", "needed"),
    [
        (False, False, HUGE * 5),  # the archive, and four times it extracted
        (True, False, HUGE * 4),
        (False, True, 0),  # nothing is sent to a host that has the release
        (True, True, 0),
    ],
)
def test_preflight_refuses_a_release_the_disk_cannot_hold(
    tmp_path: Path, has_archive: bool, has_release: bool, needed: int
) -> None:
    root = new_root(tmp_path)
    release = make_release("0.2.0", size=HUGE)
    (root / "releases").mkdir(parents=True)
    if has_archive:
        (root / "releases" / "0.2.0.tar.gz.sha256").write_text(f"{release.sha256}\n")
    if has_release:
        add_release(root, "0.2.0")
    if not needed:
        assert preflight(local(), environment(root), release) == Preflight(
            str(root), None, has_archive, True
        )
        return
    with pytest.raises(DeliverError) as refused:
        preflight(local(), environment(root), release)
    message = str(refused.value)
    match = re.fullmatch(
        rf"localhost: not enough disk space in {re.escape(str(root))}: (\d+) MiB free, "
        rf"about {needed // 2**20 + 1} MiB needed",
        message,
    )
    assert match, message
    free = shutil.disk_usage(root).free // 2**20
    assert abs(int(match[1]) - free) < 1024  # df's "available", as the disk reports it


# --- upload and extract --------------------------------------------------------------------


def stored(tmp_path: Path) -> tuple[LocalStore, Release, bytes]:
    """A local store holding a real release archive of 0.1.0."""
    data = tarball(RELEASE_FILES)
    archive = tmp_path / "built.tar.gz"
    archive.write_bytes(data)
    release = make_release(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    store = LocalStore(tmp_path / "store")
    store.put(release, archive)
    assert store.find(APP, "0.1.0") == release
    return store, release, data


def test_upload_verifies_the_archive_and_then_names_it(tmp_path: Path) -> None:
    store, release, data = stored(tmp_path)
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    sent: list[int] = []

    upload(local(), check.root, release, store, sent.append)
    assert (root / "releases" / "0.1.0.tar.gz").read_bytes() == data
    assert (root / "releases" / "0.1.0.tar.gz.sha256").read_text() == f"{release.sha256}\n"
    assert listing(root / "releases") == ["0.1.0.tar.gz", "0.1.0.tar.gz.sha256"]
    assert sum(sent) == release.size
    assert preflight(local(), environment(root), release).has_archive


def test_an_archive_that_arrives_corrupted_is_removed(tmp_path: Path) -> None:
    store, release, data = stored(tmp_path)
    store.archive(release).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    with pytest.raises(CommandFailed) as failed:
        upload(local(), check.root, release, store, None)
    assert failed.value.step == "verifying the upload"
    assert failed.value.output_tail == "the archive arrived corrupted (sha256 mismatch)"
    assert listing(root / "releases") == []


def test_an_archive_missing_from_the_store_leaves_no_partial_file(tmp_path: Path) -> None:
    store, release, _ = stored(tmp_path)
    store.archive(release).unlink()
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    with pytest.raises(DeliverError) as failed:
        upload(local(), check.root, release, store, None)
    # the local transport names the file it was writing (a fresh mktemp name), though
    # reading the store failed
    assert re.fullmatch(
        rf"cannot write {re.escape(str(root))}/releases/\.0\.1\.0\.tar\.gz\.part\.\w{{6}}: "
        "No such file or directory",
        str(failed.value),
    ), str(failed.value)
    assert listing(root / "releases") == []


@pytest.mark.parametrize(("tool", "branch"), [("mix", "main"), ("rebar3", None)])
def test_extract_unpacks_the_release_and_writes_its_marks_and_the_env_file(
    tmp_path: Path, tool: str, branch: str | None
) -> None:
    root = new_root(tmp_path)
    release = staged_archive(root, tool=tool, branch=branch)
    check = preflight(local(), environment(root), release)
    assert check == Preflight(str(root), None, True, False)
    env: dict[str, str | Secret] = {
        "PORT": "4000",
        "SECRET_KEY_BASE": Secret("s3cr3t value"),
        "EMPTY": "",
    }

    extract(local(), check, release, env_file_text(env))
    directory = root / "releases" / "0.1.0"
    for name, content in RELEASE_FILES.items():
        assert (directory / name).read_bytes() == content
    assert os.stat(directory / "bin" / "hello").st_mode & 0o111
    assert (directory / ".deliver-tool").read_text() == f"{tool}\n"
    assert (directory / ".deliver-sha256").read_text() == f"{release.sha256}\n"
    assert (directory / ".deliver-revision").read_text() == f"{COMMIT}\n{branch or ''}\n"
    assert listing(directory) == [
        ".deliver-env",
        ".deliver-revision",
        ".deliver-sha256",
        ".deliver-tool",
        "bin",
        "lib",
        "releases",
    ]
    # the env travels with the release, and becomes deliver.env only when it is switched to
    assert (directory / ".deliver-env").read_text() == (
        "export PORT=4000\nexport SECRET_KEY_BASE='s3cr3t value'\nexport EMPTY=''\n"
    )
    assert stat.S_IMODE(os.stat(directory / ".deliver-env").st_mode) == 0o600
    assert listing(root) == ["releases"]  # current is not touched, nor deliver.env
    assert listing(root / "releases") == ["0.1.0", "0.1.0.tar.gz", "0.1.0.tar.gz.sha256"]

    # the marks are what the readers report once current points there
    switch_current(local(), str(root), "0.1.0")
    assert (root / "deliver.env").read_text() == (directory / ".deliver-env").read_text()
    assert stat.S_IMODE(os.stat(root / "deliver.env").st_mode) == 0o600
    state = read_state(local(), str(root), APP)
    assert state.tool == tool
    assert state.env_sha256 == hashlib.sha256((root / "deliver.env").read_bytes()).hexdigest()
    assert preflight(local(), environment(root), release).has_release


def test_switching_makes_the_env_kept_with_the_release_the_hosts(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    for version, port in (("0.1.0", "4000"), ("0.2.0", "4001")):
        add_release(root, version)
        (root / "releases" / version / ".deliver-env").write_text(f"export PORT={port}\n")
    add_release(root, "0.0.9")  # deployed before deliver kept the env: none of its own
    env_file = root / "deliver.env"

    def port_seen(version: str | None = None) -> str:
        body = 'printf %s "$PORT"'
        return local().run(in_root(str(root), body, version)).stdout

    switch_current(local(), str(root), "0.2.0")
    assert env_file.read_text() == "export PORT=4001\n" and port_seen() == "4001"
    switch_current(local(), str(root), "0.1.0")  # a rollback: the old release's env again
    assert env_file.read_text() == "export PORT=4000\n"
    assert port_seen() == "4000" and port_seen("0.2.0") == "4001"  # migrations of 0.2.0
    switch_current(local(), str(root), "0.0.9")
    assert env_file.read_text() == "export PORT=4000\n"  # kept: 0.0.9 has none to give
    assert port_seen("0.0.9") == "4000"
    # a link planted at the kept name is not read through
    (root / "releases" / "0.2.0" / ".deliver-env").unlink()
    outside = tmp_path / "outside.env"
    outside.write_text("export PORT=6666\n")
    (root / "releases" / "0.2.0" / ".deliver-env").symlink_to(outside)
    switch_current(local(), str(root), "0.2.0")
    assert env_file.read_text() == "export PORT=4000\n" and not env_file.is_symlink()


def test_extract_replaces_another_build_and_the_env_file(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    release = staged_archive(root)
    stale = add_release(root, "0.1.0", tool="rebar3", sha256=digest("another build"))
    (stale / "stale-file").write_text("")
    (root / "deliver.env").write_text("export OLD=1\n")
    os.chmod(root / "deliver.env", 0o644)

    extract(local(), Preflight(str(root), None, True, False), release, "")
    assert not (stale / "stale-file").exists()
    assert (stale / ".deliver-tool").read_text() == "mix\n"
    assert (stale / ".deliver-sha256").read_text() == f"{release.sha256}\n"
    assert (stale / ".deliver-env").read_text() == ""
    assert (root / "deliver.env").read_text() == "export OLD=1\n"  # until the switch
    switch_current(local(), str(root), "0.1.0")
    assert (root / "deliver.env").read_text() == ""
    assert stat.S_IMODE(os.stat(root / "deliver.env").st_mode) == 0o600


def test_extract_of_a_release_already_there_only_rewrites_the_env_file(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    directory = add_release(root, "0.1.0", tool="rebar3")
    (directory / "marker").write_text("kept")
    release = make_release("0.1.0")  # no archive on the host at all

    extract(local(), Preflight(str(root), "0.1.0", False, True), release, "export PORT=1\n")
    assert listing(directory) == [".deliver-env", ".deliver-sha256", ".deliver-tool", "marker"]
    assert (directory / ".deliver-tool").read_text() == "rebar3\n"
    assert (directory / ".deliver-env").read_text() == "export PORT=1\n"


def test_an_archive_already_on_the_host_is_hashed_again_before_it_is_extracted(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    release = staged_archive(root)  # its side file says the right sha256 ...
    archive = root / "releases" / "0.1.0.tar.gz"
    swapped = tarball({"bin/hello": b"#!/bin/sh\necho swapped\n"})
    archive.write_bytes(swapped)  # ... it lies
    check = preflight(local(), environment(root), release)
    assert check.has_archive  # believed, until extraction checks it
    with pytest.raises(CommandFailed) as refused:
        extract(local(), check, release, "")
    got = hashlib.sha256(swapped).hexdigest()
    assert refused.value.output_tail == (
        f"the archive arrived corrupted (sha256 mismatch: expected {release.sha256}, got {got})"
    )
    assert not archive.exists() and not (root / "releases" / "0.1.0").exists()


def test_a_broken_archive_fails_extraction_and_leaves_the_old_directory(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    old = add_release(root, "0.1.0", sha256=digest("another build"))
    (root / "releases" / "0.1.0.tar.gz").write_bytes(b"not a tarball")
    # the manifest's own sha256 (so the archive passes its check and tar is what fails)
    release = make_release("0.1.0", sha256=hashlib.sha256(b"not a tarball").hexdigest())

    with pytest.raises(CommandFailed) as failed:
        extract(local(), Preflight(str(root), None, True, False), release, "export PORT=1\n")
    assert failed.value.step == "extracting"
    assert failed.value.exit_status == 1
    assert failed.value.output_tail.startswith("extracting the release failed\n")
    assert listing(root / "releases") == ["0.1.0", "0.1.0.tar.gz"]  # no .0.1.0.new
    assert (old / ".deliver-sha256").read_text() == f"{digest('another build')}\n"
    assert listing(root) == ["releases"]  # nor the env file


# --- links ---------------------------------------------------------------------------------


def test_link_release_links_shared_paths_and_host_local_overrides(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    release = root / "releases" / "0.1.0"
    add_release(root, "0.1.0")
    (release / "releases" / "0.1.0").mkdir(parents=True)
    for name in ("vm.args", "sys.config"):
        (release / "releases" / "0.1.0" / name).write_text("built\n")
    (release / "uploads").mkdir()
    (release / "uploads" / "from-the-build").write_text("")
    (root / "shared" / "etc").mkdir(parents=True)
    (root / "shared" / "etc" / "app.conf").write_text("shared\n")
    (root / "config").mkdir()
    (root / "config" / "sys.config").write_text("[].\n")
    home = Path(os.environ["HOME"])
    (home / "vm.args").write_text("-name local\n")
    (tmp_path / "runtime.exs").write_text("import Config\n")
    links = RuntimeLinks(
        linked_dirs=("uploads", "tmp/log"),
        linked_files=("etc/app.conf",),
        overrides={
            "vm.args": "~/vm.args",
            "sys.config": "config/sys.config",  # relative to deliver_to
            "runtime.exs": str(tmp_path / "runtime.exs"),
        },
    )

    for _ in range(2):  # again, over the links it made
        link_release(local(), str(root), "0.1.0", links)
        assert os.readlink(release / "uploads") == f"{root}/shared/uploads"
        assert os.readlink(release / "tmp" / "log") == f"{root}/shared/tmp/log"
        assert os.readlink(release / "etc" / "app.conf") == f"{root}/shared/etc/app.conf"
        inner = release / "releases" / "0.1.0"
        assert os.readlink(inner / "vm.args") == f"{home}/vm.args"
        assert os.readlink(inner / "sys.config") == f"{root}/config/sys.config"
        assert os.readlink(inner / "runtime.exs") == str(tmp_path / "runtime.exs")
        assert listing(root / "shared") == ["etc", "tmp", "uploads"]
        assert listing(root / "shared" / "uploads") == []  # the build's copy is not kept
        assert listing(root / "shared" / "tmp" / "log") == []


@pytest.mark.parametrize(
    ("links", "problem"),
    [
        (
            RuntimeLinks(linked_dirs=("uploads",), linked_files=("etc/app.conf",)),
            "linked_files: shared/etc/app.conf is missing in {root}",
        ),
        (
            RuntimeLinks(overrides={"vm.args": "/nowhere/vm.args"}),
            "link.vm_args: /nowhere/vm.args does not exist",
        ),
        (
            RuntimeLinks(overrides={"sys.config": "config/sys.config"}),
            "link.sys_config: config/sys.config does not exist",
        ),
        (
            RuntimeLinks(overrides={"runtime.exs": "~/runtime.exs"}),
            "link.runtime_exs: ~/runtime.exs does not exist",
        ),
        # a directory where a file is expected is missing too
        (RuntimeLinks(linked_files=("etc",)), "linked_files: shared/etc is missing in {root}"),
    ],
)
def test_link_release_names_a_missing_file(
    tmp_path: Path, links: RuntimeLinks, problem: str
) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    (root / "shared" / "etc").mkdir(parents=True)
    with pytest.raises(CommandFailed) as failed:
        link_release(local(), str(root), "0.1.0", links)
    assert failed.value.step == "linking shared and host files"
    assert failed.value.exit_status == 1
    assert failed.value.output_tail == problem.format(root=root)
    # linked dirs come first, so they are already made when a file turns out missing
    made = [".deliver-sha256", ".deliver-tool", *(["uploads"] if links.linked_dirs else [])]
    assert listing(root / "releases" / "0.1.0") == made


class RecordingRemote(LocalRemote):
    """The local transport, keeping every command it ran."""

    def __init__(self) -> None:
        super().__init__(HOST)
        self.commands: list[str] = []

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        self.commands.append(command)
        return super().run(command, step=step, check=check, stdin=stdin)


def test_link_release_without_links_runs_nothing(tmp_path: Path) -> None:
    remote = RecordingRemote()
    link_release(remote, str(tmp_path / "nowhere"), "0.1.0", RuntimeLinks())
    assert remote.commands == []
    link_release(remote, str(tmp_path / "nowhere"), "0.1.0", RuntimeLinks(linked_dirs=("x",)))
    assert len(remote.commands) == 1
    assert (tmp_path / "nowhere" / "releases" / "0.1.0" / "x").is_symlink()


# --- all of it: `deliver deploy release` to localhost ----------------------------------------


def test_deploy_release_to_localhost_end_to_end(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        files = {
            name.replace("0.1.0", version): body.replace(b"0.1.0", version.encode())
            for name, body in RELEASE_FILES.items()
        }
        archive = tmp_path / f"{version}.tar.gz"
        archive.write_bytes(tarball(files))
        data = archive.read_bytes()
        release = make_release(version, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        store.put(release, archive)
    root = new_root(tmp_path)
    (root / "shared").mkdir(parents=True)
    config = tmp_path / ".deliver"
    config.write_text(
        f"app: {APP}\n"
        f"release_store: {store.path}\n"
        "keep_releases: 2\n"
        "linked_dirs: [uploads]\n"
        "environments:\n"
        "  production:\n"
        f"    deliver_to: {root}\n"
        "    hosts:\n"
        "      - host: localhost\n"
        '        env: {PORT: "4000"}\n'
    )

    for version in ("0.1.0", "0.2.0", "0.3.0"):
        done = run_cli(
            "--config", config, "deploy", "release", "production", f"--version={version}"
        )
        assert done.exit_code == 0, done.output
        assert f"Deployed hello {version} to production" in done.stdout
    assert "removed 0.1.0" in done.stdout

    assert listing(root) == [
        "current",
        "deliver.audit",
        "deliver.env",
        "deliver.history",
        "releases",
        "shared",
    ]
    assert listing(root / "releases") == [
        "0.2.0",
        "0.2.0.tar.gz",
        "0.2.0.tar.gz.sha256",
        "0.3.0",
        "0.3.0.tar.gz",
        "0.3.0.tar.gz.sha256",
    ]
    assert os.readlink(root / "current") == "releases/0.3.0"
    assert os.readlink(root / "current" / "uploads") == f"{root}/shared/uploads"
    assert (root / "current" / "releases" / "0.3.0" / "start_erl.data").read_text() == (
        "13.2.2 0.3.0\n"
    )
    assert (root / "deliver.env").read_text() == "export PORT=4000\n"
    assert stat.S_IMODE(os.stat(root / "deliver.env").st_mode) == 0o600
    assert history(root) == ["deployed 0.1.0", "deployed 0.2.0", "deployed 0.3.0"]

    again = run_cli("--config", config, "deploy", "release", "production", "--version=0.2.0")
    assert again.exit_code == 0, again.output
    assert "(1 already had it)" in again.stdout
    assert history(root)[-1] == "deployed 0.2.0"
    # a rerun resumes: a host already on the release is left alone
    rerun = run_cli("--config", config, "deploy", "release", "production", "--version=0.2.0")
    assert rerun.exit_code == 0, rerun.output
    assert "localhost: already on 0.2.0: left alone" in rerun.stdout
    assert history(root)[-1] == "deployed 0.2.0"
