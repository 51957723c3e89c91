"""Everything deliver prints: step lines, per-host status, remote output, progress, errors.

The library reports through an `Output`; the CLI creates it with the real streams and tests
create it with StringIO. Colour follows the terminal (and NO_COLOR).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

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
        self._lock = threading.Lock()
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(self._stdout, self.color)
        return self._out

    @property
    def err(self) -> Console:
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

    def host_status(self, host: str, ok: bool, text: str) -> None:
        mark = "[green]ok[/]  " if ok else "[red]FAIL[/]"
        self._print(self.out, f"  {mark} [bold]{self._clean(host)}[/]: {self._clean(text)}")

    def warning(self, text: str) -> None:
        self._print(self.err, f"[yellow]warning:[/] {self._clean(text)}")

    def error(self, text: str, hint: str | None = None) -> None:
        self._print(self.err, f"[bold red]error:[/] {self._clean(text)}")
        if hint:
            self._print(self.err, f"[cyan]hint:[/] {self._clean(hint)}")

    def remote_output(self, host: str, text: str) -> None:
        self._print(self.out, f"[dim]{self._clean(host)} |[/] {self._clean(text)}")

    def remote_command(self, host: str, command: str) -> None:
        self._print(self.err, f"[blue]{self._clean(host)} $[/] {self._clean(command)}")

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
        with Progress(*columns, console=self.out, transient=True) as bars:
            tasks = {
                host: bars.add_task(f"{description} {host}", total=total)
                for host, total in totals.items()
            }

            def advance_for(host: str) -> Callable[[int], None]:
                return lambda done: bars.advance(tasks[host], done)

            yield advance_for

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
        for index, row in enumerate([headers, *rows]):
            line = "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)
            )
            self._print(
                self.out, f"[bold]{self._clean(line)}[/]" if index == 0 else self._clean(line)
            )

    def _clean(self, text: str) -> str:
        """Escape markup and mask secrets: in every line, since a secret could reach any."""
        return _escape(mask(text, self.secrets))

    def _print(self, console: Console, markup: str) -> None:
        with self._lock:
            console.print(markup, highlight=False, soft_wrap=True)


def _console(stream: IO[str], color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=stream, force_terminal=color, no_color=not color, highlight=False, emoji=False
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _is_tty(stream: IO[str]) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def _ignore(_: int) -> None:
    pass
