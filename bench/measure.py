"""Measuring: a process's wall time and peak memory, rows of samples with their medians and the
ratio to the floor, and the SSH connections each sandbox sshd accepted."""

from __future__ import annotations

import os
import resource
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from deliver.sandbox import Sandbox, SandboxHost

A = TypeVar("A")
B = TypeVar("B")


class BenchError(Exception):
    """A step of the benchmark failed: the numbers would mean nothing."""


@dataclass(frozen=True)
class Run:
    """One measured run: wall time, CPU time of the client processes, peak RSS."""

    seconds: float
    cpu_seconds: float
    max_rss_kib: int = 0
    output: str = ""


def run_process(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | None = subprocess.PIPE,
) -> Run:
    """Run `argv` to completion; its wall time and its own peak RSS (wait4, not the children's
    maximum so far). Raises BenchError, with the output's tail, when it fails."""
    args = [str(a) for a in argv]
    start = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT
    )
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stdout:
        process.stdout.close()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-20:])
        raise BenchError(f"`{shlex.join(args)}` exited {process.returncode}:\n{tail}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, text)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_children(work: Callable[[], object]) -> Run:
    """Time `work`, which runs processes (the floor's ssh, scp, git), with their CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = timed(work)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(seconds, cpu)


def accepted_connections(sandbox: Sandbox, hosts: Iterable[SandboxHost]) -> int:
    """How many SSH logins the hosts' sshd have accepted so far (from their logs)."""
    total = 0
    for host in hosts:
        log = sandbox.root / "hosts" / host.name / "sshd.log"
        if log.exists():
            total += log.read_text(errors="replace").count("Accepted publickey")
    return total


@dataclass
class Row:
    """One line of the table: deliver's samples and the floor's, taken in the same run.

    For time rows lower is better and the target is a maximum ratio; for throughput rows
    (`higher_is_better`) the target is a minimum ratio. `limit` is an absolute bound on
    deliver's median for rows whose target is not a ratio. `checks` are further conditions
    (e.g. one connection per host) that must hold for the row to meet its target.
    """

    case: str
    hosts: int | None
    unit: str
    target: str
    max_ratio: float | None = None
    min_ratio: float | None = None
    limit: float | None = None
    higher_is_better: bool = False
    deliver: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    #: CPU seconds of the client side (deliver's process; the floor's ssh/scp/git processes)
    deliver_cpu: list[float] = field(default_factory=list)
    floor_cpu: list[float] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def deliver_median(self) -> float | None:
        return statistics.median(self.deliver) if self.deliver else None

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor) if self.floor else None

    @property
    def ratio(self) -> float | None:
        ours, floor = self.deliver_median, self.floor_median
        if ours is None or not floor:
            return None
        return ours / floor

    @property
    def met(self) -> bool | None:
        """None when there is nothing to judge (no samples)."""
        if self.deliver_median is None:
            return None
        verdicts = list(self.checks.values())
        ratio = self.ratio
        if self.max_ratio is not None and ratio is not None:
            verdicts.append(ratio <= self.max_ratio)
        if self.min_ratio is not None and ratio is not None:
            verdicts.append(ratio >= self.min_ratio)
        if self.limit is not None:
            verdicts.append(self.deliver_median <= self.limit)
        return all(verdicts)

    def add(self, ours: float, floor: float | None = None) -> None:
        self.deliver.append(ours)
        if floor is not None:
            self.floor.append(floor)

    def add_runs(self, ours: Run, floor: Run) -> None:
        self.add(ours.seconds, floor.seconds)
        self.deliver_cpu.append(ours.cpu_seconds)
        self.floor_cpu.append(floor.cpu_seconds)

    @property
    def cpu_medians(self) -> tuple[float, float] | None:
        if not self.deliver_cpu or not self.floor_cpu:
            return None
        return statistics.median(self.deliver_cpu), statistics.median(self.floor_cpu)

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "hosts": self.hosts,
            "unit": self.unit,
            "target": self.target,
            "deliver": self.deliver,
            "floor": self.floor,
            "deliver_median": self.deliver_median,
            "floor_median": self.floor_median,
            "ratio": self.ratio,
            "deliver_cpu": self.deliver_cpu,
            "floor_cpu": self.floor_cpu,
            "met": self.met,
            "notes": self.notes,
            "checks": self.checks,
        }


def alternating(rep: int, first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Run both, swapping their order every repetition so neither always runs on a warmer
    (or busier) machine; returns (first's, second's) result."""
    if rep % 2 == 0:
        a = first()
        return a, second()
    b = second()
    return first(), b


def rotating(rep: int, *runs: Callable[[], A]) -> list[A]:
    """Run each of `runs`, starting one later every repetition (so none always runs first, on
    a warmer or busier machine); returns their results in the order given."""
    results: dict[int, A] = {}
    for step in range(len(runs)):
        index = (rep + step) % len(runs)
        results[index] = runs[index]()
    return [results[index] for index in range(len(runs))]
