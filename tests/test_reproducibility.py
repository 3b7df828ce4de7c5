"""The same panel whatever the cores or chunk size, and after being killed (DESIGN §7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pandas as pd

from conftest import environment, make_workdir, panel_text, run_snakemake, snakemake_command


def test_same_records_with_one_core(demo_run, tmp_path):
    workdir = make_workdir(tmp_path / "one_core")
    run_snakemake(workdir, cores=1)
    assert panel_text(workdir) == panel_text(demo_run)


def test_same_records_with_another_chunk_size(demo_run, tmp_path):
    # 7,000 bp chunks move every chunk boundary, including past the traps that cross them.
    workdir = make_workdir(tmp_path / "chunks_7000")
    run_snakemake(workdir, "--config", "chunk_size=7000")
    records, info = panel_text(workdir)
    expected_records, expected_info = panel_text(demo_run)
    assert len(records) > 500
    assert records == expected_records
    assert info == expected_info


def wait_for(condition, timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def test_killed_during_counting_then_resumed_gives_the_same_panel(demo_run, tmp_path):
    workdir = make_workdir(tmp_path / "killed")
    run = subprocess.Popen(
        snakemake_command("--cores", "2"),
        cwd=workdir,
        env=environment(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    count_logs = workdir / "results/logs/count"
    try:
        started = wait_for(lambda: count_logs.exists() and any(count_logs.rglob("*.log")), 120)
        assert started, "no count job started within 120 s"
    finally:
        # The whole process group: snakemake and the jobs it started, mid-write.
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert not (workdir / "results/panel").exists()
    # Whatever is at a final path is complete (outputs are written aside, then renamed).
    for parquet in workdir.glob("results/**/*.parquet"):
        pd.read_parquet(parquet)
    for stats in workdir.glob("results/**/*.json"):
        json.loads(stats.read_text())

    run_snakemake(workdir, "--unlock")
    run_snakemake(workdir)
    assert panel_text(workdir) == panel_text(demo_run)
