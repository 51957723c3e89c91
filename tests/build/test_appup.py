"""What deliver reads from the build host's escript about appups (build/appup.py)."""

from __future__ import annotations

import io
from pathlib import Path

from deliver.build.appup import Appup, AppupReport, edit_appups
from deliver.config import HostSpec
from deliver.output import Output
from deliver.transport.local import LocalRemote

OUTPUT = """\
stale hello rel/appups/hello.appup 0.2.0
appup hello 0.2.0 0.3.0 generated
    {"0.3.0",[{"0.2.0",[{update,'Elixir.Hello.Counter',{advanced,[]}}]}],
supervisor hello Elixir.Hello.Application
appup dep 1.0 1.1 pair
nif dep dep_nif.so
nif dep other.so
protocol Elixir.Enumerable
appup hello 0.2.0 0.3.0 user extra
ERTS=13.1.5
"""


def test_every_line_of_the_escript_is_read_and_nothing_else() -> None:
    report = AppupReport.parse(OUTPUT)
    assert report.appups == (
        Appup("hello", "0.2.0", "0.3.0", "generated"),
        Appup("dep", "1.0", "1.1", "pair"),
    )
    assert report.stale == (("hello", "rel/appups/hello.appup", "0.2.0"),)
    assert report.supervisors == (("hello", "Elixir.Hello.Application"),)
    assert report.tree_changes() == ("Elixir.Hello.Application",)
    assert report.nifs == ("dep",)
    assert report.protocols == ("Elixir.Enumerable",)
    assert report.erts == "13.1.5"


def test_where_an_appup_lives() -> None:
    appup = Appup("dep", "1.0", "1.1", "generated")
    assert appup.path == "lib/dep-1.1/ebin/dep.appup"
    assert appup.pair_file == "rel/appups/dep/1.0-1.1.appup"
    assert AppupReport.parse("ERTS=\n").erts is None


def test_a_users_own_appup_answers_for_its_supervisors() -> None:
    report = AppupReport.parse(
        "appup dep 1.0 1.1 pair\nsupervisor dep dep_sup\nappup app 1 2 generated\n"
        "supervisor app app_sup\n"
    )
    assert report.tree_changes() == ("app_sup",)


def test_edit_hands_each_appup_to_the_editor_once_and_keeps_what_it_did_not_change(
    tmp_path: Path,
) -> None:
    for app in ("hello", "dep"):
        ebin = tmp_path / f"lib/{app}-2/ebin"
        ebin.mkdir(parents=True)
        (ebin / f"{app}.appup").write_text(f'{{"2", [{{"1", []}}], [{{"1", []}}]}}. % {app}\n')
    appups = [Appup("hello", "1", "2", "generated"), Appup("dep", "1", "2", "generated")]
    appups.append(Appup("hello", "0", "2", "generated"))  # the same file, from another old one
    shown: list[str] = []

    def edit(app: str, text: str) -> str | None:
        shown.append(app)
        return text.replace("[]", "[{load_module, m}]") if app == "hello" else None

    printed = io.StringIO()
    out = Output(printed, io.StringIO(), color=False)
    remote = LocalRemote(HostSpec.parse("localhost"))
    assert edit_appups(remote, str(tmp_path), appups, edit, out) == ("hello",)
    assert shown == ["hello", "dep"]
    assert "{load_module, m}" in (tmp_path / "lib/hello-2/ebin/hello.appup").read_text()
    assert "[]" in (tmp_path / "lib/dep-2/ebin/dep.appup").read_text()
    assert "Using your edit of the appup of hello" in printed.getvalue()
