"""The rows of the table. Each case measures deliver and its floor alternately, `reps` times,
on the same hosts, and cleans up (untimed) so every repetition does the full work."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import floor
from bench.measure import (
    Row,
    Run,
    accepted_connections,
    alternating,
    run_children,
    run_process,
    timed,
)
from bench.sample import APP, commit_one_line_change, deliver_config, make_tiny_release
from deliver.config import HostSpec, SshSettings
from deliver.release_store import LocalStore
from deliver.sandbox import Sandbox, SandboxHost
from deliver.transport.ssh import SshRemote

MIB = 1 << 20


def deliver_command() -> list[str]:
    """The installed `deliver` script beside this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("deliver")
    return [str(script)] if script.exists() else [sys.executable, "-m", "deliver"]


def clean_environment() -> dict[str, str]:
    """No DELIVER_* settings, no colour, and bytecode caching as an installed package has it
    (a shell with PYTHONDONTWRITEBYTECODE=1 recompiles deliver's modules on every run)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DELIVER_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**env, "NO_COLOR": "1"}


@dataclass
class Bench:
    """Everything a case needs: the hosts, the sample app and where to write."""

    sandbox: Sandbox
    work: Path
    repo: Path
    store: Path
    reps: int
    build_reps: int
    scale_reps: int
    log: Callable[[str], None]
    #: how deliver is started, and its environment (another checkout can be compared)
    command: list[str] = field(default_factory=deliver_command)
    environment: dict[str, str] = field(default_factory=clean_environment)

    @property
    def ssh(self) -> floor.OpenSsh:
        return floor.OpenSsh.of(self.sandbox)

    def targets(self, count: int) -> list[SandboxHost]:
        return list(self.sandbox.targets[:count])

    def config(
        self, name: str, hosts: Sequence[SandboxHost], deliver_to: str, store: Path | None = None
    ) -> Path:
        # the config's directory is the project directory deliver builds from
        path = self.repo / f".deliver-{name}.yml"
        text = deliver_config(self.sandbox, hosts, deliver_to, store or self.store)
        path.write_text(text)
        return path

    def deliver(self, config: Path, *args: str) -> Run:
        argv = [*self.command, "--config", str(config), *args]
        return run_process(argv, cwd=self.repo, env=self.environment)

    def cleanup(self, hosts: Sequence[SandboxHost], *paths: str) -> None:
        floor.command_everywhere(self.ssh, hosts, f"rm -rf {' '.join(paths)}")


def sample_line(row: Row, rep: int, reps: int) -> str:
    ours = f"{row.deliver[-1]:.3f}"
    theirs = f", floor {row.floor[-1]:.3f}" if len(row.floor) == len(row.deliver) else ""
    hosts = f" N={row.hosts}" if row.hosts else ""
    return f"  {row.case}{hosts} [{rep + 1}/{reps}]: deliver {ours}{theirs} {row.unit}"


# deploy ----------------------------------------------------------------------------------------


def deploy(bench: Bench, counts: Sequence[int]) -> list[Row]:
    """`deploy release` (no start) into a fresh directory each time, vs scp + ssh tar."""
    store = LocalStore(bench.store)
    archive = store.archive(store.find(APP))
    rows = []
    for count in counts:
        hosts = bench.targets(count)
        row = Row("deploy release", count, "s", "<= 0.8x floor at N=8", max_ratio=0.8)
        for rep in range(bench.reps):
            name = f"deploy-{count}-{rep}"
            config = bench.config(name, hosts, f"~/bench/{name}")
            ours = partial(bench.deliver, config, "deploy", "release", "to", "bench")
            theirs = partial(
                run_children, partial(floor.deploy, bench.ssh, hosts, archive, f"{name}-f")
            )
            row.add_runs(*alternating(rep, ours, theirs))
            bench.cleanup(hosts, f"bench/{name}", f"bench/{name}-f", f"bench/{name}-f.tar.gz")
            bench.log(sample_line(row, rep, bench.reps))
        if count != 8:
            row.max_ratio, row.target = None, "(N=8 is the target)"
        rows.append(row)
    return rows


def redeploy(bench: Bench, counts: Sequence[int]) -> list[Row]:
    """`deploy release` of the release every host already holds (nothing is sent: preflight,
    env file, switch, prune) vs `ssh host true` in parallel."""
    rows = []
    for count in counts:
        hosts = bench.targets(count)
        name = f"redeploy-{count}"
        config = bench.config(name, hosts, f"~/bench/{name}")
        bench.deliver(config, "deploy", "release", "to", "bench")  # untimed: now they hold it
        row = Row("redeploy of a held release", count, "s", "<= 2x `ssh host true`")
        row.max_ratio = 2.0
        for rep in range(bench.reps):
            ours = partial(bench.deliver, config, "deploy", "release", "to", "bench")
            theirs = partial(
                run_children, partial(floor.command_everywhere, bench.ssh, hosts, "true")
            )
            row.add_runs(*alternating(rep, ours, theirs))
            bench.log(sample_line(row, rep, bench.reps))
        bench.cleanup(hosts, f"bench/{name}")
        rows.append(row)
    return rows


def scale(bench: Bench, counts: Sequence[int]) -> list[Row]:
    """`deploy release` of a tiny release to many hosts: wall time, peak RSS, connections,
    client CPU. The smallest count is measured against parallel scp + ssh tar; each larger
    one against the smallest's deliver runs (wall time must grow linearly: <= 5.5x for 5x the
    hosts)."""
    store_dir = bench.work / "tiny-store"
    release = make_tiny_release(store_dir)
    archive = LocalStore(store_dir).archive(release)
    rows: list[Row] = []
    smallest = min(counts)
    for count in sorted(counts):
        hosts = bench.targets(count)
        base = rows[0] if rows else None
        target = "1 connection/host, peak < 300 MiB"
        if base is not None:
            target += f", <= {SCALE_SLOPE * count / smallest:g}x the {smallest}-host row"
        row = Row("deploy release, tiny (scale)", count, "s", target)
        peaks, connections = [], []
        for rep in range(bench.scale_reps):
            name = f"scale-{count}-{rep}"
            config = bench.config(name, hosts, f"~/bench/{name}", store_dir)
            if base is None:
                theirs = partial(
                    run_children, partial(floor.deploy, bench.ssh, hosts, archive, f"{name}-f")
                )
                (run, logins), floor_run = alternating(
                    rep, partial(deploy_counting_logins, bench, config, hosts), theirs
                )
                row.add_runs(run, floor_run)
            else:
                run, logins = deploy_counting_logins(bench, config, hosts)
                row.add(run.seconds)
                row.deliver_cpu.append(run.cpu_seconds)
            peaks.append(run.max_rss_kib / 1024)
            connections.append(logins)
            bench.cleanup(hosts, f"bench/{name}", f"bench/{name}-f", f"bench/{name}-f.tar.gz")
            bench.log(sample_line(row, rep, bench.scale_reps) + f", {logins} logins")
        if base is not None:  # the floor is the smaller row's deliver, in this same run
            row.floor, row.floor_cpu = list(base.deliver), list(base.deliver_cpu)
            row.max_ratio = SCALE_SLOPE * count / smallest
        row.notes = {"peak_rss_mib": max(peaks), "connections": connections}
        row.checks = {
            "one connection per host": all(c == count for c in connections),
            "peak memory < 300 MiB": max(peaks) < 300,
        }
        rows.append(row)
    return rows


#: wall(5N) <= 5.5 wall(N): linear growth, with 10% for what more hosts cost anyway.
SCALE_SLOPE = 1.1


def deploy_counting_logins(
    bench: Bench, config: Path, hosts: Sequence[SandboxHost], flags: Sequence[str] = ()
) -> tuple[Run, int]:
    """`deploy release`, and how many SSH logins the hosts accepted meanwhile."""
    before = accepted_connections(bench.sandbox, hosts)
    run = bench.deliver(config, *flags, "deploy", "release", "to", "bench")
    return run, accepted_connections(bench.sandbox, hosts) - before


# build -----------------------------------------------------------------------------------------


def build(bench: Bench) -> list[Row]:
    """`build release` after a one-line change, and from an empty build directory, vs git push
    + the same mix commands in one ssh session. Both share the build directory."""
    host = bench.sandbox.build_host
    build_dir = f"{host.home}/build/{APP}"
    fetched = bench.work / "floor-build.tar.gz"
    serial = iter(range(1_000_000))
    rows = []
    for clean in (False, True):
        label = "clean" if clean else "incremental"
        row = Row(
            f"build release ({label})",
            None,
            "s",
            "<= 1.0x floor" if not clean else "(no target)",
            max_ratio=None if clean else 1.0,
        )

        def ours(clean: bool = clean) -> Run:
            number = next(serial)
            commit_one_line_change(bench.repo, number)
            if clean:
                bench.cleanup([host], build_dir)
            # every change is built as 0.1.0, and a store refuses a second commit's 0.1.0
            store = bench.work / "build-stores" / str(number)
            config = bench.config("build", bench.targets(1), "~/bench/unused", store)
            return bench.deliver(config, "build", "release")

        def theirs(clean: bool = clean) -> Run:
            commit = commit_one_line_change(bench.repo, next(serial))
            if clean:
                bench.cleanup([host], build_dir)
            return run_children(
                partial(floor.build, bench.ssh, host, bench.repo, build_dir, commit, fetched, clean)
            )

        for rep in range(bench.build_reps):
            row.add_runs(*alternating(rep, ours, theirs))
            bench.log(sample_line(row, rep, bench.build_reps))
        rows.append(row)
    return rows


# upload ----------------------------------------------------------------------------------------


def upload(bench: Bench, size_mib: int) -> list[Row]:
    """Throughput of SshRemote.upload on an open connection vs scp. scp's time includes its
    process start and handshake, so the floor is (scp of the file) - (scp of an empty file)."""
    host = bench.sandbox.targets[0]
    big, empty = bench.work / "upload.bin", bench.work / "empty.bin"
    with big.open("wb") as file:
        for _ in range(size_mib):
            file.write(os.urandom(MIB))
    empty.write_bytes(b"")
    settings = SshSettings(
        config_file=bench.sandbox.ssh_config, known_hosts=bench.sandbox.known_hosts
    )
    row = Row(f"upload {size_mib} MiB", 1, "MiB/s", ">= 0.90x scp", min_ratio=0.90)
    row.higher_is_better = True
    remote = SshRemote(HostSpec.parse(host.name), settings).open()
    try:

        def ours() -> float:
            return size_mib / timed(lambda: remote.upload(big, "~/bench/upload.bin"))

        def theirs() -> float:
            seconds = timed(lambda: floor.upload(bench.ssh, host, big, "bench/upload.bin"))
            handshake = timed(lambda: floor.upload(bench.ssh, host, empty, "bench/empty.bin"))
            return size_mib / max(seconds - handshake, 1e-6)

        for rep in range(bench.reps):
            row.add(*alternating(rep, ours, theirs))
            bench.log(sample_line(row, rep, bench.reps))
    finally:
        remote.close()
        bench.cleanup([host], "bench/upload.bin", "bench/empty.bin")
        big.unlink()
    return [row]


# cold start ------------------------------------------------------------------------------------


def cold_start(bench: Bench, runs: int) -> list[Row]:
    """`deliver --help` as a new process, vs the bare interpreter (`python -c pass`)."""
    row = Row("deliver --help (cold start)", None, "s", "<= 0.25 s", limit=0.25)
    env = bench.environment
    for rep in range(runs):
        ours = partial(run_process, [*bench.command, "--help"], env=env)
        theirs = partial(run_process, [sys.executable, "-c", "pass"], env=env)
        row.add_runs(*alternating(rep, ours, theirs))
    bench.log(sample_line(row, runs - 1, runs))
    return [row]
