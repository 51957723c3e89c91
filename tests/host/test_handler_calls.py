"""What a release handler call over the distribution answered, read as the start script's
answer is; and the tools that give no code for the node keep the start script."""

from __future__ import annotations

import pytest

from deliver.host.handler_calls import _marked, install_by_node
from deliver.transport.local import LocalRemote
from tests.host.test_scripts import HOST


@pytest.mark.parametrize(
    ("said", "state", "words"),
    [
        ((True, "loading\nINSTALLED=0.2.0\n"), "installed", "loading"),
        # another version's marker, or a failed call that printed it: no verdict of success
        ((True, "INSTALLED=0.2.1\n"), None, ""),
        ((False, "INSTALLED=0.2.0\nraise: install_release: {:error, :bad}"), None, "raise: "),
        # the node hung up (an upgrade restarting the emulator): its words, no state
        ((False, "the node hung up: closed"), None, "the node hung up: closed"),
    ],
)
def test_the_answer_of_an_install_over_the_distribution(
    said: tuple[bool, str], state: str | None, words: str
) -> None:
    values, log = _marked({"MS": "5"}, said, "INSTALLED", "0.2.0", "installed")
    assert values.get("STATE") == state and values["MS"] == "5"
    assert log.startswith(words) and "INSTALLED=" not in log


class Untouchable(LocalRemote):
    def run(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise AssertionError("nothing is asked of a host for a tool without node code")


def test_rebar3_upgrades_stay_with_relx_s_scripts() -> None:
    remote = Untouchable(HOST)
    assert install_by_node(remote, "/srv", "rebar3", "counter_erl", "0.2.0") is None
