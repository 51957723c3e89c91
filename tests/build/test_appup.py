"""What deliver reads from the build host's escript about appups (build/appup.py)."""

from __future__ import annotations

from deliver.build.appup import Appup, AppupReport

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
    assert report.supervisors == ("Elixir.Hello.Application",)
    assert report.nifs == ("dep",)
    assert report.protocols == ("Elixir.Enumerable",)
    assert report.erts == "13.1.5"


def test_where_an_appup_lives() -> None:
    appup = Appup("dep", "1.0", "1.1", "generated")
    assert appup.path == "lib/dep-1.1/ebin/dep.appup"
    assert appup.pair_file == "rel/appups/dep/1.0-1.1.appup"
    assert AppupReport.parse("ERTS=\n").erts is None
