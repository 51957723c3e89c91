"""The rows that ask running nodes something (ping, version) and the one that starts them,
each against plain OpenSSH on the same hosts: `ssh host true` (the round trip, the physical
floor of one question) and `ssh host 'bin/app pid'` (what asking through the start script
costs: a second VM booted on the host)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from bench import floor
from bench.cases import Bench, sample_line
from bench.measure import Row, Run, rotating, run_children
from bench.sample import APP
from deliver.sandbox import SandboxHost
from deliver.tools import node_commands

ROOT = "bench/nodes"
#: What the floors run on each host: the env file loaded, in the running release.
IN_RELEASE = f"cd {ROOT} && set -a && . ./deliver.env && set +a && cd running"


def node_queries(bench: Bench, counts: Sequence[int]) -> list[Row]:
    """ping N=counts and version N=max(counts), each against both floors; then start."""
    hosts = bench.targets(max(counts))
    started = bench.config("nodes-all", hosts, f"~/{ROOT}")
    # setup, not measured: nothing serves yet, so no need to restart batch by batch
    bench.deliver(started, "deploy", "release", "to", "bench", "--start-deploy", "--all-at-once")
    rows: list[Row] = []
    try:
        for count in counts:
            rows += _asked(bench, hosts[:count], "ping")
        rows += _asked(bench, hosts, "version")
        rows.append(start(bench, hosts[:1]))
    finally:
        bench.deliver(started, "stop", "bench")
        bench.cleanup(hosts, ROOT)
    return rows


def _asked(bench: Bench, hosts: Sequence[SandboxHost], command: str) -> list[Row]:
    """`deliver <command>` on `hosts`, against `ssh true` and `ssh 'bin/app pid'`."""
    count = len(hosts)
    config = bench.config(f"{command}-{count}", hosts, f"~/{ROOT}")
    trip = Row(command, count, "s", "<= 1.5x `ssh host true`", max_ratio=1.5)
    pid = Row(f"{command} vs bin/app pid", count, "s", "<= 0.5x `ssh host 'bin/app pid'`")
    pid.max_ratio = 0.5
    pid_command = f"{IN_RELEASE} && bin/{APP} pid"
    for rep in range(bench.reps):
        ours, true_run, pid_run = rotating(
            rep,
            partial(bench.deliver, config, command, "bench"),
            _everywhere(bench, hosts, "true"),
            _everywhere(bench, hosts, pid_command),
        )
        trip.add_runs(ours, true_run)
        pid.add_runs(ours, pid_run)
        bench.log(sample_line(trip, rep, bench.reps) + f", pid floor {pid_run.seconds:.3f} s")
    return [trip, pid]


def _everywhere(bench: Bench, hosts: Sequence[SandboxHost], command: str) -> Callable[[], Run]:
    return partial(run_children, partial(floor.command_everywhere, bench.ssh, hosts, command))


def start(bench: Bench, hosts: Sequence[SandboxHost]) -> Row:
    """`deliver start` of stopped nodes vs `bin/app daemon` and then the same "is the app
    started?" check deliver waits on, run in a busy loop: boot plus first answer. What is
    left is deliver's wait-loop (and connection) overhead per host."""
    config = bench.config("start", hosts, f"~/{ROOT}")
    row = Row("start (node healthy after boot)", len(hosts), "s", "overhead <= 50 ms per host")
    check = node_commands("mix").alive(APP)
    # the floor starts from `current` and leaves no `running` link: deliver's stop is not
    # needed after it, the start script's own is
    in_current = f"cd {ROOT} && set -a && . ./deliver.env && set +a && cd current"
    boot = f"{in_current} && bin/{APP} daemon && until {check} >/dev/null 2>&1; do :; done"
    stop = f"{in_current} && bin/{APP} stop && while bin/{APP} pid >/dev/null 2>&1; do :; done"
    overheads = []
    for rep in range(bench.reps):
        bench.deliver(config, "stop", "bench")  # untimed: both start from a stopped node

        def theirs() -> Run:
            run = _everywhere(bench, hosts, boot)()
            floor.command_everywhere(bench.ssh, hosts, stop)
            return run

        def ours() -> Run:
            run = bench.deliver(config, "start", "bench")
            bench.deliver(config, "stop", "bench")
            return run

        ours_run, floor_run = rotating(rep, ours, theirs)
        row.add_runs(ours_run, floor_run)
        overheads.append(ours_run.seconds - floor_run.seconds)
        bench.log(sample_line(row, rep, bench.reps))
    bench.deliver(config, "start", "bench")  # node_queries stops it at the end
    median = sorted(overheads)[len(overheads) // 2]
    row.notes["overhead_ms"] = median * 1000
    row.checks["overhead <= 50 ms per host"] = median <= 0.05
    return row
