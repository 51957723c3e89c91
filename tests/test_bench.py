"""The benchmark harness keeps working: a smoke run (1 host, 1 repetition, no scale rows)
produces its table and its JSON. Timings are never asserted, only that every row was measured
against its floor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

ROWS = {
    "deliver --help (cold start)",
    "upload 8 MiB",
    "deploy release",
    "redeploy of a held release",
    "ping",
    "ping vs bin/app pid",
    "version",
    "version vs bin/app pid",
    "start (node healthy after boot)",
    "build release (incremental)",
    "build release (clean)",
}


def test_smoke_run_writes_the_table_and_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path / "results")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "results" / "latest.json").read_text())
    rows = data["rows"]
    assert {row["case"] for row in rows} == ROWS
    for row in rows:
        assert len(row["deliver"]) >= 1 and all(value > 0 for value in row["deliver"]), row
        assert len(row["floor"]) == len(row["deliver"]) and all(v > 0 for v in row["floor"]), row
        assert row["ratio"] is not None and row["met"] in (True, False), row
    assert data["machine"]["cores"] >= 1 and data["machine"]["otp"].isdigit()

    table = (tmp_path / "results" / "latest.md").read_text()
    assert "| case | hosts | deliver (median) | floor (median) | ratio | target | met " in table
    assert all(f"| {case} |" in table for case in ROWS)
    assert "cores (`nproc`)" in table
    # the machine is shared: the load while each case ran is part of the result
    assert data["load_during_run"] and all(load >= 0 for _, load in data["load_during_run"])
    assert "load average during the run: " in table and "by case: " in table
    assert "| deploy release | 1 |" in done.stdout, "the table is printed too"
    assert not list(tmp_path.glob("deliver-bench-*")), "the work directory is removed"
