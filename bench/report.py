"""The results: the machine they were measured on, a markdown table, and JSON with every
sample so runs can be compared."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Row


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_gib: float
    os: str
    kernel: str
    python: str
    otp: str
    elixir: str
    openssh: str
    load_average: str

    @classmethod
    def describe(cls) -> Machine:
        return cls(
            cores=os.cpu_count() or 0,
            memory_gib=round(_meminfo_kib("MemTotal") / 2**20, 1),
            os=_os_name(),
            kernel=platform.release(),
            python=platform.python_version(),
            otp=_command(
                ["erl", "-noshell", "-eval", "io:format(erlang:system_info(otp_release)), halt()."]
            ),
            elixir=_command(["elixir", "--short-version"]),
            openssh=_command(["ssh", "-V"]),
            load_average=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        )

    def markdown(self, load: LoadSampler | None = None) -> str:
        during = f"- load average during the run: {load.summary()}\n" if load else ""
        return (
            f"- {self.cores} cores (`nproc`), {self.memory_gib} GiB memory, {self.os}, "
            f"kernel {self.kernel}\n"
            f"- Python {self.python}, Erlang/OTP {self.otp}, Elixir {self.elixir}, {self.openssh}\n"
            f"- load average when the run started: {self.load_average}\n{during}"
        )


class LoadSampler:
    """The 1-minute load average every `every` seconds while the run goes, with the case
    measured at that moment: the machine is shared, and a ratio means more beside its load."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.case = every, "setup"
        self.samples: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.samples.append((self.case, os.getloadavg()[0]))
            if self._stop.wait(self.every):
                return

    def by_case(self) -> dict[str, tuple[float, float, float]]:
        """case -> (min, median, max) of its samples."""
        cases: dict[str, list[float]] = {}
        for case, load in self.samples:
            cases.setdefault(case, []).append(load)
        return {c: (min(v), statistics.median(v), max(v)) for c, v in cases.items()}

    def summary(self) -> str:
        if not self.samples:
            return "-"
        loads = [load for _, load in self.samples]
        each = "; ".join(
            f"{case} {low:.0f}-{high:.0f} (median {mid:.1f})"
            for case, (low, mid, high) in self.by_case().items()
        )
        return (
            f"{min(loads):.1f}-{max(loads):.1f}, median {statistics.median(loads):.1f} "
            f"({len(loads)} samples, every {self.every:g} s); by case: {each}"
        )


def markdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "| case | hosts | deliver (median) | floor (median) | ratio | target | met "
        "| client CPU deliver / floor |",
        "|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        notes = _notes(row)
        cpu = row.cpu_medians
        cpu_text = f"{cpu[0]:.2f} / {cpu[1]:.2f} s" if cpu else "-"
        lines.append(
            f"| {row.case} | {row.hosts or '-'} | {_value(row.deliver_median, row.unit)} | "
            f"{_value(row.floor_median, row.unit)} | {ratio} | {row.target}{notes} | {met} "
            f"| {cpu_text} |"
        )
    return "\n".join(lines) + "\n"


def write(
    rows: Sequence[Row],
    machine: Machine,
    settings: dict[str, Any],
    directory: Path,
    load: LoadSampler | None = None,
) -> tuple[Path, Path]:
    """Write `<stamp>.json` and `<stamp>.md` (and `latest.*` copies) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {
        "when": stamp,
        "machine": machine.__dict__,
        "load_during_run": [list(sample) for sample in load.samples] if load else [],
        "settings": settings,
        "rows": [row.to_json() for row in rows],
    }
    text = (
        f"# deliver benchmark {stamp}\n\n{machine.markdown(load)}\n"
        f"Medians of {settings.get('reps')} runs (builds: {settings.get('build_reps')}); "
        "every floor measured in the same run on the same hosts.\n\n" + markdown_table(rows)
    )
    paths = (directory / f"{stamp}.json", directory / f"{stamp}.md")
    for path, content in zip(paths, (json.dumps(data, indent=2) + "\n", text), strict=True):
        path.write_text(content)
        (directory / f"latest{path.suffix}").write_text(content)
    return paths


def _notes(row: Row) -> str:
    parts = []
    if "peak_rss_mib" in row.notes:
        parts.append(f"peak {row.notes['peak_rss_mib']:.0f} MiB")
    if "overhead_ms" in row.notes:
        parts.append(f"overhead {row.notes['overhead_ms']:.0f} ms")
    if "connections" in row.notes:
        counts = sorted(set(row.notes["connections"]))
        parts.append(f"{'/'.join(str(c) for c in counts)} connections")
    failed = [name for name, ok in row.checks.items() if not ok]
    if failed:
        parts.append("failed: " + ", ".join(failed))
    return f" ({'; '.join(parts)})" if parts else ""


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} {unit}" if unit == "MiB/s" else f"{value:.3f} {unit}"


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _os_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def _command(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[0]
