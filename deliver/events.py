"""`--json`: what deliver reports, as a stream of JSON objects on stdout, one per line, for CI
to react to; the human lines are not printed. Every event has `event`, `time` (UTC, ISO 8601)
and `elapsed` (seconds since the command started); secrets are masked and terminal control
sequences stripped, as everywhere.

    {"event": "step", "text": "Deploying hello 0.2.0 (1a2b3c4d5e) to production: web1, web2"}
    {"event": "host", "host": "web1", "status": "ok", "version": "0.2.0",
     "text": "started 0.2.0 (pid 4242)"}   (version: the release the line is about: started,
                                              running, prepared; null when none)
    {"event": "warning", "text": "..."}          {"event": "info", "text": "..."}
    {"event": "plan", "host": "web1", "text": "switch current: 0.1.0 -> 0.1.1"}  (--dry-run)
    {"event": "table", "headers": [...], "rows": [[...], ...]}
    {"event": "output", "host": "web1", "line": "..."}      (--verbose: a remote command's output)
    {"event": "command", "host": "web1", "command": "..."}  (--debug)
    {"event": "error", "message": "...", "hint": "..." | null}
    {"event": "traceback", "text": "..."}        (--debug: before the error event)
    {"event": "done", "exit": 0}                  (always last: the exit status)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from deliver.output import Output


class JsonOutput(Output):
    """An Output that writes events instead of lines (see the module docstring)."""

    def __init__(self, stdout: IO[str] | None = None, *, verbose: bool = False) -> None:
        super().__init__(stdout, stdout, verbose=verbose, color=False)
        self._events = stdout or sys.stdout
        self._started = time.monotonic()

    def emit(self, event: str, **fields: Any) -> None:
        record = {
            "event": event,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "elapsed": round(time.monotonic() - self._started, 3),
            **{name: self._cleaned(value) for name, value in fields.items()},
        }
        with self._lock:
            self._events.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._events.flush()

    def step(self, text: str) -> None:
        self.emit("step", text=text)

    def info(self, text: str) -> None:
        self.emit("info", text=text)

    def detail(self, text: str) -> None:
        if self.verbose:
            self.emit("detail", text=text)

    def host_status(self, host: str, ok: bool, text: str, *, version: str | None = None) -> None:
        status = "ok" if ok else "failed"
        self.emit("host", host=host, status=status, version=version, text=text)

    def plan(self, host: str, text: str) -> None:
        self.emit("plan", host=host, text=text)

    def warning(self, text: str) -> None:
        self.emit("warning", text=text)

    def notice(self, text: str) -> None:
        self.emit("notice", text=text)

    def error(self, text: str, hint: str | None = None) -> None:
        self.emit("error", message=text, hint=hint)

    def remote_output(self, host: str, text: str) -> None:
        self.emit("output", host=host, line=text)

    def remote_command(self, host: str, command: str) -> None:
        self.emit("command", host=host, command=command)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.emit("table", headers=list(headers), rows=[list(row) for row in rows])

    def traceback(self, text: str) -> None:
        self.emit("traceback", text=text)

    @contextmanager
    def progress(
        self, description: str, totals: dict[str, int]
    ) -> Iterator[Callable[[str], Callable[[int], None]]]:
        yield lambda host: _ignore  # a byte count per packet is noise in a CI log

    def _cleaned(self, value: Any) -> Any:
        """Masked and without terminal controls, as printed lines are: a CI log shows the
        decoded text (JSON keeps newlines as `\\n`)."""
        if isinstance(value, str):
            return self._sanitize(value, one_line=False)
        if isinstance(value, list):
            return [self._cleaned(item) for item in value]
        if isinstance(value, dict):  # `status` rows: text from the hosts, one level down
            return {key: self._cleaned(item) for key, item in value.items()}
        return value


def _ignore(_: int) -> None:
    pass
