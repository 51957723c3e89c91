"""Everything deliver prints: step lines, per-host status, remote output, progress, errors.

The library reports through an `Output`; the CLI creates it with the real streams and tests
create it with StringIO. Colour follows the terminal (and NO_COLOR). Without colour, lines are
written as plain text and rich is never imported: importing and setting it up cost about 45 ms
of CPU, a sixth of a short command such as `deliver ping`.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, cast

from deliver.shell import Secret, mask

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    def __init__(
        self,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        *,
        verbose: bool = False,
        debug: bool = False,
        color: bool | None = None,
    ) -> None:
        self.verbose, self.debug = verbose, debug
        self.secrets: list[Secret] = []
        self._stdout = stdout or sys.stdout
        self._stderr = stderr or sys.stderr
        if color is None:
            color = "NO_COLOR" not in os.environ and _is_tty(self._stdout)
        self.color = color
        # reentrant: the Ctrl-C handler prints from the main thread, which may be printing
        self._lock = threading.RLock()
        self._out: Console | _PlainConsole | None = None
        self._err: Console | _PlainConsole | None = None

    @property
    def out(self) -> Console | _PlainConsole:
        if self._out is None:
            self._out = _console(self._stdout, self.color)
        return self._out

    @property
    def err(self) -> Console | _PlainConsole:
        if self._err is None:
            self._err = _console(self._stderr, self.color)
        return self._err

    def step(self, text: str) -> None:
        """An edeliver-style step line: `-----> Building the release`."""
        self._print(self.out, f"[bold green]----->[/] {self._clean(text)}")

    def info(self, text: str) -> None:
        self._print(self.out, self._clean(text))

    def detail(self, text: str) -> None:
        """Shown with --verbose only."""
        if self.verbose:
            self._print(self.out, f"[dim]{self._clean(text)}[/]")

    def host_status(self, host: str, ok: bool, text: str, *, version: str | None = None) -> None:
        """One host's outcome; `version` (what the host runs now, when known) is for --json:
        the text already says it."""
        mark = "[green]ok[/]  " if ok else "[red]FAIL[/]"
        name = self._clean(host, one_line=True)
        self._print(self.out, f"  {mark} [bold]{name}[/]: {self._clean(text)}")

    def plan(self, host: str, text: str) -> None:
        """One step a dry run says a command would take on `host`."""
        self._print(self.out, f"  [bold]{self._clean(host, one_line=True)}[/]: {self._clean(text)}")

    def warning(self, text: str) -> None:
        self._print(self.err, f"[yellow]warning:[/] {self._clean(text)}")

    def notice(self, text: str) -> None:
        """A line on stderr that answers the user at once (a Ctrl-C acknowledged)."""
        self._print(self.err, self._clean(text))

    def error(self, text: str, hint: str | None = None) -> None:
        self._print(self.err, f"[bold red]error:[/] {self._clean(text)}")
        if hint:
            self._print(self.err, f"[cyan]hint:[/] {self._clean(hint)}")

    def remote_output(self, host: str, text: str) -> None:
        name = self._clean(host, one_line=True)
        self._print(self.out, f"[dim]{name} |[/] {self._clean(text, one_line=True)}")

    def remote_command(self, host: str, command: str) -> None:
        name = self._clean(host, one_line=True)
        self._print(self.err, f"[blue]{name} $[/] {self._clean(command)}")

    def traceback(self, text: str) -> None:
        """A traceback, for --debug: it quotes values and messages that may hold a secret or
        come from a host, so it is masked and cleaned like any other line."""
        for line in text.rstrip("\n").split("\n"):
            self._print(self.err, self._clean(line))

    @contextmanager
    def progress(
        self, description: str, totals: dict[str, int]
    ) -> Iterator[Callable[[str], Callable[[int], None]]]:
        """A transfer bar per host on a terminal; yields `advance_for(host) -> advance(bytes)`."""
        if not self.color or not _is_tty(self._stdout):
            yield lambda host: _ignore
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("  {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
        )
        console = cast("Console", self.out)  # with colour, always a rich Console
        with Progress(*columns, console=console, transient=True) as bars:
            tasks = {
                host: bars.add_task(f"{description} {host}", total=total)
                for host, total in totals.items()
            }

            def advance_for(host: str) -> Callable[[int], None]:
                return lambda done: bars.advance(tasks[host], done)

            yield advance_for

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        # cells are cleaned first, so the columns line up on what is shown
        cells = [[self._sanitize(str(c), one_line=True) for c in row] for row in [headers, *rows]]
        widths = [max(len(c) for c in column) for column in zip(*cells, strict=False)]
        for index, row in enumerate(cells):
            line = _escape(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            )
            self._print(self.out, f"[bold]{line}[/]" if index == 0 else line)

    def _clean(self, text: str, *, one_line: bool = False) -> str:
        """Mask secrets, strip terminal controls, escape markup: in every line, since a secret
        or text from outside (remote output, manifest fields) could reach any."""
        return _escape(self._sanitize(text, one_line=one_line))

    def _sanitize(self, text: str, *, one_line: bool) -> str:
        # masked before (a secret may hold controls) and after (controls put inside a secret
        # by a remote command must not hide it from the mask)
        clean = strip_controls(mask(text, self.secrets), one_line=one_line)
        return mask(clean, self.secrets)

    def _print(self, console: Console | _PlainConsole, markup: str) -> None:
        with self._lock:
            console.print(markup, highlight=False, soft_wrap=True)


class _PlainConsole:
    """The part of a rich Console that Output uses, for output without colour: the text of
    the markup, without the markup."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def print(self, markup: str, *, highlight: bool = False, soft_wrap: bool = True) -> None:
        self.stream.write(_plain(markup) + "\n")
        self.stream.flush()


def _console(stream: IO[str], color: bool) -> Console | _PlainConsole:
    if not color:
        return _PlainConsole(stream)
    from rich.console import Console

    return Console(
        file=stream, force_terminal=color, no_color=not color, highlight=False, emoji=False
    )


# rich's markup syntax (rich/markup.py), so escaping and plain rendering need no rich import
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_TAG_TO_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _escape(text: str) -> str:
    """Text that rich shows as it is (what rich.markup.escape does)."""
    escaped = _TAG_TO_ESCAPE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def _plain(markup: str) -> str:
    """The text rich would show for `markup`, without its styles."""
    if "[" not in markup:
        return markup
    pieces, position = [], 0
    for match in _TAG.finditer(markup):
        whole, backslashes, _ = match.groups()
        start, end = match.span()
        pieces.append(markup[position:start].replace("\\[", "["))
        literal, escaped = divmod(len(backslashes), 2)
        pieces.append("\\" * literal)
        if escaped:  # an escaped tag is text
            pieces.append(whole[len(backslashes) :])
        position = end
    pieces.append(markup[position:].replace("\\[", "["))
    return "".join(pieces)


# ECMA-48: a control sequence (CSI parameters, intermediates, final byte); a control string
# (OSC sets the window title, DCS, SOS, PM, APC) up to its terminator, or the end of the line;
# any other escape sequence; then single C0 and C1 controls but tab and newline, DEL, and the
# bidirectional overrides and isolates that make a terminal show text in another order.
_CONTROLS = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\n]*?(?:\x07|\x1b\\|\x9c|(?=\n)|\Z)"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def strip_controls(text: str, *, one_line: bool = False) -> str:
    """`text` without what a terminal would act on instead of showing: a remote command's
    output or a manifest could clear the screen, set the window title or rewrite a line
    (`\r`). Tabs stay; newlines too, but in `one_line` text (a host name, a table cell, a line
    of output), where they become spaces."""
    text = _CONTROLS.sub("", text.replace("\r\n", "\n"))
    return text.replace("\n", " ") if one_line else text


def _is_tty(stream: IO[str]) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def _ignore(_: int) -> None:
    pass
