"""Output without colour never imports rich, and writes exactly the text rich would show."""

from __future__ import annotations

import io
import random
import subprocess
import sys

import pytest
from rich.markup import escape as rich_escape
from rich.text import Text

from deliver.output import Output, _escape, _plain

SAMPLES = [
    "plain text",
    "[bold]not a tag[/]",
    "a [b] c [/b]",
    "C:\\path\\",
    "back\\\\slashes\\",
    "\\[escaped]",
    "[link=https://example.com]x[/link]",
    "list[0] and dict['k']",
    "naïve ✓ [x]",
    "[",
    "]",
    "[[bold]]",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_escape_matches_rich_and_plain_renders_like_rich(text: str) -> None:
    assert _escape(text) == rich_escape(text)
    markup = f"[bold green]----->[/] {_escape(text)} [dim]{_escape(text)}[/]"
    assert _plain(markup) == Text.from_markup(markup, emoji=False).plain


def test_random_text_round_trips_like_rich() -> None:
    generator = random.Random(6)
    for _ in range(2000):
        text = "".join(generator.choice("[]\\/ab=#@ ") for _ in range(generator.randint(0, 12)))
        markup = f"[yellow]w:[/] {_escape(text)}"
        assert _plain(markup) == Text.from_markup(markup, emoji=False).plain, text


def test_plain_output_writes_lines_without_importing_rich() -> None:
    code = (
        "import io, sys\n"
        "from deliver.output import Output\n"
        "out = io.StringIO()\n"
        "o = Output(out, out, color=False)\n"
        "o.step('Deploying [bold] x'); o.host_status('web1', True, 'ready'); o.error('e', 'h')\n"
        "print(repr(out.getvalue()), 'rich' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "'-----> Deploying [bold] x\\n  ok   web1: ready\\nerror: e\\nhint: h\\n' False"
    )


def test_colour_still_goes_through_rich() -> None:
    stream = io.StringIO()
    Output(stream, stream, color=True).step("x")
    assert "\x1b[" in stream.getvalue()
