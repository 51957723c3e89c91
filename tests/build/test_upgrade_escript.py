"""deliver/erlang/upgrade.escript on hand-made releases: which appup each changed application
gets, what a generated one says, and the errors a user sees. Needs erlc/escript (the build
host's toolchain), runs locally."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ESCRIPT = Path(__file__).resolve().parents[2] / "deliver" / "erlang" / "upgrade.escript"

SERVER = """-module(server).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).
init(_) -> {ok, %s}.
handle_call(_, _, S) -> {reply, S, S}.
handle_cast(_, S) -> {noreply, S}.
code_change(_, S, _) -> {ok, S}.
"""
SUP = """-module(sup).
-behaviour(supervisor).
-export([init/1]).
init(_) -> {ok, {#{intensity => %s}, []}}.
"""

V1 = {
    "plain": "-module(plain).\n-export([f/0]).\nf() -> 1.\n",
    "server": SERVER % "0",
    "sup": SUP % "1",
    "same": "-module(same).\n-export([g/0]).\ng() -> ok.\n",
    "gone": "-module(gone).\n-export([h/0]).\nh() -> ok.\n",
}
V2 = {
    "plain": "-module(plain).\n-export([f/0]).\nf() -> 2.\n",
    "server": SERVER % "#{}",
    "sup": SUP % "2",
    "same": V1["same"],
    "added": "-module(added).\n-export([i/0]).\ni() -> ok.\n",
}


def lib(root: Path, app: str, version: str, modules: dict[str, str]) -> None:
    ebin = root / "lib" / f"{app}-{version}" / "ebin"
    ebin.mkdir(parents=True)
    sources = [ebin / f"{name}.erl" for name in modules]
    for path, source in zip(sources, modules.values(), strict=True):
        path.write_text(source)
    subprocess.run(["erlc", "-o", str(ebin), *map(str, sources)], check=True)
    for path in sources:
        path.unlink()


def rel(root: Path, version: str, apps: dict[str, str]) -> None:
    listed = ", ".join(f'{{{app}, "{vsn}"}}' for app, vsn in apps.items())
    directory = root / "releases" / version
    directory.mkdir(parents=True)
    (directory / "shop.rel").write_text(
        f'{{release, {{"shop", "{version}"}}, {{erts, "13.1.5"}}, [{listed}]}}.\n'
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lib dirs for app 0.1.0 and 0.2.0, and `tools` 1.0 unchanged in both releases."""
    root = tmp_path_factory.mktemp("compiled")
    lib(root, "app", "0.1.0", V1)
    lib(root, "app", "0.2.0", V2)
    lib(root, "tools", "1.0", {"t": "-module(t).\n"})
    return root


@pytest.fixture
def root(compiled: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    subprocess.run(["cp", "-r", str(compiled), str(root)], check=True)
    rel(root, "0.1.0", {"app": "0.1.0", "tools": "1.0"})
    rel(root, "0.2.0", {"app": "0.2.0", "tools": "1.0"})
    return root


def appups(root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["escript", str(ESCRIPT), "appups", str(root), "shop", "0.1.0", "0.2.0"]
    return subprocess.run(
        [*command, "rel/appups"], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def flat(text: str) -> str:
    return "".join(text.split())


def test_generated_appup_adds_deletes_updates_and_loads(root: Path, tmp_path: Path) -> None:
    result = appups(root, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "appup app 0.1.0 0.2.0 generated"
    assert "tools" not in result.stdout  # its version did not change
    up = (
        "[{add_module,added},{load_module,plain,brutal_purge,soft_purge,[]},"
        "{update,server,{advanced,[]}},{update,sup,supervisor},{delete_module,gone}]"
    )
    down = (
        "[{add_module,gone},{load_module,plain,brutal_purge,soft_purge,[]},"
        "{update,server,{advanced,[]}},{update,sup,supervisor},{delete_module,added}]"
    )
    expected = f'{{"0.2.0",[{{"0.1.0",{up}}}],[{{"0.1.0",{down}}}]}}.'
    written = (root / "lib/app-0.2.0/ebin/app.appup").read_text()
    assert flat(written) == expected
    shown, reasons = result.stdout.split("\n", 1)[1].split("supervisor ", 1)
    assert flat(shown) == expected  # shown to the user too
    assert reasons == "app sup\n"  # a changed supervisor: the policy may want a restart


def test_users_appup_wins_and_a_shipped_one_is_kept(root: Path, tmp_path: Path) -> None:
    mine = '{"0.2.0", [{"0.1.0", [{load_module, plain}]}], [{"0.1.0", []}]}.\n'
    (tmp_path / "rel/appups").mkdir(parents=True)
    (tmp_path / "rel/appups/app.appup").write_text(mine)
    result = appups(root, tmp_path)
    assert result.stdout.splitlines()[0] == "appup app 0.1.0 0.2.0 user", result.stderr
    assert flat((root / "lib/app-0.2.0/ebin/app.appup").read_text()) == flat(mine)

    (tmp_path / "rel/appups/app.appup").unlink()
    again = appups(root, tmp_path)
    assert again.stdout.splitlines()[0] == "appup app 0.1.0 0.2.0 release", again.stderr
    assert flat((root / "lib/app-0.2.0/ebin/app.appup").read_text()) == flat(mine)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"0.2.0", [{"0.1.0", [', "error: rel/appups/app.appup:1: syntax error before:"),
        ("[].", "error: rel/appups/app.appup: expected one term {NewVsn, UpFrom, DownTo}"),
    ],
)
def test_a_bad_users_appup_is_named(root: Path, tmp_path: Path, content: str, error: str) -> None:
    (tmp_path / "rel/appups").mkdir(parents=True)
    (tmp_path / "rel/appups/app.appup").write_text(content)
    result = appups(root, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == error


def test_a_stale_users_appup_is_reported_and_generated_instead(root: Path, tmp_path: Path) -> None:
    (tmp_path / "rel/appups").mkdir(parents=True)
    (tmp_path / "rel/appups/app.appup").write_text('{"0.3.0", [], []}.')
    result = appups(root, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["stale app rel/appups/app.appup 0.3.0", "appup app 0.1.0 0.2.0 generated"]


def test_a_pair_appup_wins_over_the_single_file_one(root: Path, tmp_path: Path) -> None:
    (tmp_path / "rel/appups/app").mkdir(parents=True)
    (tmp_path / "rel/appups/app.appup").write_text('{"0.2.0", [{"0.1.0", []}], [{"0.1.0", []}]}.')
    pair = '{"0.2.0", [{"0.1.0", [{load_module, plain}]}], [{"0.1.0", [{load_module, plain}]}]}.'
    (tmp_path / "rel/appups/app/0.1.0-0.2.0.appup").write_text(pair)
    result = appups(root, tmp_path)
    assert result.stdout.splitlines()[0] == "appup app 0.1.0 0.2.0 pair", result.stderr
    assert flat((root / "lib/app-0.2.0/ebin/app.appup").read_text()) == flat(pair)


def test_a_module_loads_after_the_changed_modules_it_calls(tmp_path: Path) -> None:
    root = tmp_path / "root"
    caller = "-module(a_caller).\n-export([f/0]).\nf() -> z_callee:g() + %s.\n"
    callee = "-module(z_callee).\n-export([g/0]).\ng() -> %s.\n"
    fresh = "-module(m_new).\n-export([h/0]).\nh() -> a_caller:f().\n"
    lib(root, "app", "0.1.0", {"a_caller": caller % 1, "z_callee": callee % 1})
    lib(root, "app", "0.2.0", {"a_caller": caller % 2, "z_callee": callee % 2, "m_new": fresh})
    rel(root, "0.1.0", {"app": "0.1.0"})
    rel(root, "0.2.0", {"app": "0.2.0"})
    assert appups(root, tmp_path).returncode == 0
    up = (
        "[{load_module,z_callee,brutal_purge,soft_purge,[]},"
        "{load_module,a_caller,brutal_purge,soft_purge,[z_callee]},"
        "{add_module,m_new,[a_caller]}]"
    )
    down = (
        "[{load_module,z_callee,brutal_purge,soft_purge,[]},"
        "{load_module,a_caller,brutal_purge,soft_purge,[z_callee]},{delete_module,m_new}]"
    )
    written = flat((root / "lib/app-0.2.0/ebin/app.appup").read_text())
    assert written == f'{{"0.2.0",[{{"0.1.0",{up}}}],[{{"0.1.0",{down}}}]}}.'


def test_an_upgrade_from_several_versions_has_an_entry_for_each(root: Path, tmp_path: Path) -> None:
    subprocess.run(["cp", "-r", str(root / "lib/app-0.1.0"), str(root / "lib/app-0.1.5")])
    rel(root, "0.1.5", {"app": "0.1.5", "tools": "1.0"})
    command = ["escript", str(ESCRIPT), "appups", str(root), "shop", "0.1.0,0.1.5", "0.2.0"]
    result = subprocess.run(
        [*command, "rel/appups"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[:2] == [
        "appup app 0.1.0 0.2.0 generated",
        "appup app 0.1.5 0.2.0 generated",
    ], result.stderr
    written = flat((root / "lib/app-0.2.0/ebin/app.appup").read_text())
    assert written.startswith('{"0.2.0",[{"0.1.0",[{add_module,added}')
    assert ']},{"0.1.5",[{add_module,added}' in written


def test_a_changed_native_library_is_reported(root: Path, tmp_path: Path) -> None:
    for version, content in (("0.1.0", b"old"), ("0.2.0", b"new")):
        (root / f"lib/app-{version}/priv").mkdir()
        (root / f"lib/app-{version}/priv/app_nif.so").write_bytes(content)
    assert "nif app app_nif.so\n" in appups(root, tmp_path).stdout


def test_changed_consolidated_protocols_are_reported(root: Path, tmp_path: Path) -> None:
    for version, body in (("0.1.0", "1"), ("0.2.0", "2")):
        consolidated = root / "releases" / version / "consolidated"
        consolidated.mkdir()
        (consolidated / "proto.erl").write_text(
            f"-module(proto).\n-export([f/0]).\nf() -> {body}.\n"
        )
        (consolidated / "kept.erl").write_text("-module(kept).\n")
        subprocess.run(
            ["erlc", "-o", str(consolidated), *map(str, consolidated.glob("*.erl"))], check=True
        )
    result = appups(root, tmp_path)
    assert "protocol proto\n" in result.stdout and "kept" not in result.stdout


def test_unknown_release_file_is_an_error(root: Path, tmp_path: Path) -> None:
    command = ["escript", str(ESCRIPT), "appups", str(root), "shop", "0.0.9", "0.2.0", "x"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: {root}/releases/0.0.9/shop.rel: no such file or directory"
    )


def test_a_config_only_change_gets_an_empty_appup(tmp_path: Path) -> None:
    root = tmp_path / "root"
    lib(root, "app", "0.1.0", {"same": V1["same"]})
    lib(root, "app", "0.2.0", {"same": V1["same"]})  # the same code, a new version
    rel(root, "0.1.0", {"app": "0.1.0"})
    rel(root, "0.2.0", {"app": "0.2.0"})
    assert appups(root, tmp_path).stdout.splitlines()[0] == "appup app 0.1.0 0.2.0 generated"
    written = flat((root / "lib/app-0.2.0/ebin/app.appup").read_text())
    assert written == '{"0.2.0",[{"0.1.0",[]}],[{"0.1.0",[]}]}.'


TREE_SUP = """-module(tree_sup).
-behaviour(supervisor).
-export([init/1, start_link/0, status/0]).
%s
start_link() -> supervisor:start_link(?MODULE, []).
init(_) -> {ok, {#{strategy => one_for_one}, children()}}.
children() -> [#{id => worker, start => {worker, start_link, [%s]}}].
status() -> %s.
"""
TREE_APP = """-module(tree_app).
-behaviour(application).
-export([start/2, stop/1]).
start(_, _) -> %s.
stop(_) -> %s.
"""


def tree_reasons(tmp_path: Path, old: dict[str, str], new: dict[str, str]) -> list[str]:
    root = tmp_path / "root"
    lib(root, "app", "0.1.0", old)
    lib(root, "app", "0.2.0", new)
    rel(root, "0.1.0", {"app": "0.1.0"})
    rel(root, "0.2.0", {"app": "0.2.0"})
    result = appups(root, tmp_path)
    assert result.returncode == 0, result.stderr
    written = flat((root / "lib/app-0.2.0/ebin/app.appup").read_text())
    if "tree_sup" in new and old.get("tree_sup") != new["tree_sup"]:
        assert "{update,tree_sup,supervisor}" in written  # the appup is the same either way
    return [line for line in result.stdout.splitlines() if line.startswith("supervisor ")]


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        # a function init/1 does not reach changed, and one was added above it (every label
        # and line after it moves): the tree is the same, the change is hot
        ((TREE_SUP % ("", "1", "ok"),), (TREE_SUP % ("helper() -> 2.", "1", "changed"),), False),
        # a child spec changed, in a local function init/1 calls
        ((TREE_SUP % ("", "1", "ok"),), (TREE_SUP % ("", "2", "ok"),), True),
    ],
)
def test_a_supervisor_counts_as_changed_only_when_init_or_what_it_calls_changed(
    tmp_path: Path, old: tuple[str], new: tuple[str], reported: bool
) -> None:
    found = tree_reasons(tmp_path, {"tree_sup": old[0]}, {"tree_sup": new[0]})
    assert found == (["supervisor app tree_sup"] if reported else [])


def test_an_application_module_counts_as_changed_only_when_start_changed(
    tmp_path: Path,
) -> None:
    old = {"tree_app": TREE_APP % ("tree_sup:start_link()", "ok")}
    stop_only = {"tree_app": TREE_APP % ("tree_sup:start_link()", "stopped")}
    assert tree_reasons(tmp_path / "stop", old, stop_only) == []
    start = {
        "tree_app": TREE_APP % ("{ok, _} = other_sup:start_link(), tree_sup:start_link()", "ok")
    }
    assert tree_reasons(tmp_path / "start", old, start) == ["supervisor app tree_app"]


def test_a_module_that_becomes_a_supervisor_counts_as_changed(tmp_path: Path) -> None:
    plain = "-module(tree_sup).\n-export([init/1]).\ninit(_) -> {ok, {#{}, []}}.\n"
    found = tree_reasons(tmp_path, {"tree_sup": plain}, {"tree_sup": TREE_SUP % ("", "1", "ok")})
    assert found == ["supervisor app tree_sup"]


ELIXIR_SUP = """defmodule Tree.Sup do
  use Supervisor
  def start_link(arg), do: Supervisor.start_link(__MODULE__, arg, name: __MODULE__)
%s
  @impl true
  def init(_arg), do: Supervisor.init([%s], strategy: :one_for_one)
  def status, do: %s
end
"""


def elixir_lib(root: Path, version: str, source: str) -> None:
    """Tree.Sup compiled by elixirc, then stripped as `mix release` strips beams (debug info
    and docs gone; attributes kept)."""
    ebin = root / "lib" / f"app-{version}" / "ebin"
    ebin.mkdir(parents=True)
    (root / f"sup-{version}.ex").write_text(source)
    subprocess.run(["elixirc", "-o", str(ebin), str(root / f"sup-{version}.ex")], check=True)
    strip = f'{{ok, _}} = beam_lib:strip_files(["{ebin}/Elixir.Tree.Sup.beam"], ["Attr"]), halt().'
    subprocess.run(["erl", "-noshell", "-eval", strip], check=True)


@pytest.mark.parametrize(
    ("new", "reported"),
    [
        (ELIXIR_SUP % ("  def helper, do: 2", "{Task.Supervisor, name: Tree.Tasks}", ":up"), False),
        (ELIXIR_SUP % ("", "{Task.Supervisor, name: Tree.Other}", ":ok"), True),
    ],
)
def test_an_elixir_supervisor_in_a_stripped_release(
    tmp_path: Path, new: str, reported: bool
) -> None:
    root = tmp_path / "root"
    elixir_lib(root, "0.1.0", ELIXIR_SUP % ("", "{Task.Supervisor, name: Tree.Tasks}", ":ok"))
    elixir_lib(root, "0.2.0", new)
    rel(root, "0.1.0", {"app": "0.1.0"})
    rel(root, "0.2.0", {"app": "0.2.0"})
    result = appups(root, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "{update,'Elixir.Tree.Sup',supervisor}" in flat(result.stdout)
    assert ("supervisor app Elixir.Tree.Sup" in result.stdout) is reported
