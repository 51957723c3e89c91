"""What a release handler call over the distribution answered, read as the start script's
answer is; and without the distribution the start script is asked."""

from __future__ import annotations

import pytest

from deliver.host.handler_calls import _marked, install_by_node


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


class NoChannels:
    """A connection that runs commands but opens no TCP channels (`AllowTcpForwarding no`):
    no NodeLink, so the node's distribution cannot be reached through it."""

    def __init__(self) -> None:
        self.name, self.commands = "localhost", []

    def run(self, command: str, **options: object) -> object:
        self.commands.append(command)
        raise AssertionError("nothing is run before the start script is chosen")

    def upload(self, *args: object, **kwargs: object) -> None: ...

    def download(self, *args: object, **kwargs: object) -> None: ...

    def close(self) -> None: ...


@pytest.mark.parametrize(("tool", "app"), [("mix", "hello"), ("rebar3", "counter_erl")])
def test_without_the_distribution_an_install_falls_back_to_the_start_script(
    tool: str, app: str
) -> None:
    remote = NoChannels()
    assert install_by_node(remote, "/srv", tool, app, "0.2.0") is None  # type: ignore[arg-type]
    assert remote.commands == []
