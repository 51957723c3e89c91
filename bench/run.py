"""`python -m bench.run`: start sandbox hosts, build the sample release once, measure every row
against its floor, print the table and write bench/results/<stamp>.{json,md}.

    .venv/bin/python -m bench.run            # the full table (about 25 minutes on 2 cores)
    .venv/bin/python -m bench.run --smoke    # 1 host, 1 repetition, no scale rows (CI)

The scale rows start 500 sshd on loopback (1500 ports, about 3 GiB of memory; check
`ulimit -n` >= 4096 and `ulimit -u`): they are for this command, never for CI.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import cases, floor, nodes, report
from bench.measure import BenchError, Row
from bench.sample import make_app_repo
from deliver.sandbox import start_sandbox, stop_sandbox

RESULTS = Path(__file__).resolve().parent / "results"
CASES = ("help", "upload", "deploy", "redeploy", "nodes", "build", "scale")


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.smoke:
        options.hosts, options.scale, options.reps, options.build_reps = [1], [], 1, 1
        options.upload_mib, options.help_runs = min(options.upload_mib, 8), 2
    wanted = set(options.only or CASES)
    work = Path(options.work or tempfile.mkdtemp(prefix="deliver-bench-")).resolve()
    targets = max([*options.hosts, *(options.scale if "scale" in wanted else [])])
    _say(f"-----> Starting {targets + 1} sandbox hosts in {work}")
    machine = report.Machine.describe()
    sandbox = start_sandbox(work / "sandbox", targets=targets)
    rows: list[Row] = []
    load = report.LoadSampler()
    load.start()
    try:
        repo = make_app_repo(work / "hello")
        bench = cases.Bench(
            sandbox,
            work,
            repo,
            repo / ".deliver-releases",
            options.reps,
            options.build_reps,
            options.scale_reps if not options.smoke else 1,
            _say,
            command=shlex.split(options.deliver) if options.deliver else cases.deliver_command(),
        )
        floor.command_everywhere(bench.ssh, sandbox.targets, "mkdir -p bench")
        _say("-----> Building the sample release once")
        bench.deliver(bench.config("build", bench.targets(1), "~/bench/unused"), "build", "release")
        plan: list[tuple[str, Callable[[], list[Row]]]] = [
            ("help", lambda: cases.cold_start(bench, options.help_runs)),
            ("upload", lambda: cases.upload(bench, options.upload_mib)),
            ("deploy", lambda: cases.deploy(bench, options.hosts)),
            ("redeploy", lambda: cases.redeploy(bench, [max(options.hosts)])),
            ("nodes", lambda: nodes.node_queries(bench, options.hosts)),
            ("build", lambda: cases.build(bench)),
            ("scale", lambda: cases.scale(bench, options.scale)),
        ]
        for name, measure in plan:
            if name in wanted and (name != "scale" or options.scale):
                _say(f"-----> {name}")
                load.case = name
                rows += measure()
    except BenchError as error:
        _say(f"error: {error}")
        return 1
    finally:
        load.stop()
        stop_sandbox(work / "sandbox")
        if not options.keep and not options.work:
            shutil.rmtree(work, ignore_errors=True)
    settings = {k: v for k, v in vars(options).items() if k not in ("work", "out")}
    json_path, md_path = report.write(rows, machine, settings, Path(options.out), load)
    print(report.markdown_table(rows))
    _say(f"-----> Load average during the run: {load.summary()}")
    _say(f"-----> Results: {md_path} and {json_path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 host, 1 repetition, no scale rows")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per row (default 5)")
    parser.add_argument("--build-reps", type=int, default=3, help="repetitions of build rows")
    parser.add_argument("--scale-reps", type=int, default=3, help="repetitions of scale rows")
    parser.add_argument("--hosts", type=_counts, default=[1, 4, 8], help="deploy/ping N (1,4,8)")
    parser.add_argument(
        "--scale", type=_counts, default=[100, 500], help="scale N (100,500; '' off)"
    )
    parser.add_argument("--upload-mib", type=int, default=100, help="upload file size (100)")
    parser.add_argument("--help-runs", type=int, default=10, help="cold starts measured (10)")
    parser.add_argument("--only", type=lambda s: s.split(","), help=f"some of {','.join(CASES)}")
    parser.add_argument("--out", default=str(RESULTS), help="where results go (bench/results)")
    parser.add_argument("--work", help="working directory (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--deliver",
        help="how to run deliver, to measure another checkout "
        "(e.g. 'env PYTHONPATH=../old .venv/bin/python -m deliver')",
    )
    return parser


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
