"""`python -m bench.parallel`: how many SSH handshakes at once (`--parallel N`) deploy a tiny
release to many sandbox hosts fastest. The measurement behind ssh.parallel's default.

    .venv/bin/python -m bench.parallel --hosts 500 --values 8,16,32,64 --reps 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import floor
from bench.cases import Bench, deploy_counting_logins
from bench.sample import make_app_repo, make_tiny_release
from deliver.sandbox import start_sandbox, stop_sandbox


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parallel", description=__doc__)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--values", default="8,16,32,64")
    parser.add_argument("--reps", type=int, default=2)
    options = parser.parse_args(argv)
    values = [int(v) for v in options.values.split(",")]
    work = Path(tempfile.mkdtemp(prefix="deliver-parallel-"))
    print(f"-----> Starting {options.hosts} sandbox hosts in {work}", file=sys.stderr)
    sandbox = start_sandbox(work / "sandbox", targets=options.hosts)
    try:
        repo = make_app_repo(work / "hello")
        store = work / "tiny-store"
        make_tiny_release(store)
        bench = Bench(sandbox, work, repo, store, 1, 1, 1, lambda text: None)
        hosts = bench.targets(options.hosts)
        floor.command_everywhere(bench.ssh, hosts, "mkdir -p bench")
        print("| --parallel | wall (median) | client CPU | peak RSS | connections |")
        print("|---:|---:|---:|---:|---:|")
        for rep_value in values:
            walls, cpus, peaks, logins = [], [], [], []
            for rep in range(options.reps):
                name = f"parallel-{rep_value}-{rep}"
                config = bench.config(name, hosts, f"~/bench/{name}", store)
                run, count = deploy_counting_logins(
                    bench, config, hosts, ("--parallel", str(rep_value))
                )
                walls.append(run.seconds)
                cpus.append(run.cpu_seconds)
                peaks.append(run.max_rss_kib / 1024)
                logins.append(count)
                bench.cleanup(hosts, f"bench/{name}")
            print(
                f"| {rep_value} | {statistics.median(walls):.2f} s | "
                f"{statistics.median(cpus):.2f} s | {max(peaks):.0f} MiB | "
                f"{'/'.join(str(c) for c in sorted(set(logins)))} |",
                flush=True,
            )
    finally:
        stop_sandbox(work / "sandbox")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
