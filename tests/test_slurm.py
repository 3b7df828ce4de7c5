"""The demo on a real single-node SLURM cluster, through snakemake's SLURM executor plugin.

tests/slurm/start_cluster.sh starts munge, MariaDB, slurmdbd, slurmctld and slurmd from
Debian's packages on localhost (installing them with apt-get if needed). The demo then runs
with `--profile profiles/slurm`, only the profile's account and partition placeholders
replaced on the command line. Proof that the jobs ran on SLURM comes from SLURM's own
accounting: `sacct` lists every job the plugin reported submitting, COMPLETED, with the rule
in the job comment, the account and partition given and the srun step the job ran in; one
SLURM job per non-local snakemake job. The panel must equal the local run's.

Skipped, with the reason, where SLURM cannot be started: not root, no apt-get, the plugin not
installed (`pip install -r requirements-test.txt`), a daemon not coming up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pysam
import pytest
import yaml

from conftest import DEMO_PANEL, REPO, environment, make_workdir, snakemake_command

START = REPO / "tests" / "slurm" / "start_cluster.sh"
STOP = REPO / "tests" / "slurm" / "stop_cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
ACCOUNT = "europanel_ci"
PARTITION = "europanel"
# Seconds: package installation on a fresh machine plus daemons; the workflow on SLURM.
START_TIMEOUT = 600
RUN_TIMEOUT = 900
# One chunk per demo contig: every rule runs, in fewer SLURM jobs (each job starts snakemake
# twice, about 5 s). The panel does not depend on the chunk size (test_reproducibility.py).
CHUNK_SIZE = 50_000
SUBMITTED = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: .*/rule_([A-Za-z0-9_]+)/"
)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running cluster: its directory and the environment its clients need."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test: needs root to install and start slurmctld, slurmd and munge")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("SLURM test: no apt-get to install slurm-wlm, munge, slurmdbd (not Debian?)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip(
            "SLURM test: snakemake-executor-plugin-slurm is not installed "
            "(pip install -r requirements-test.txt)"
        )
    started = time.monotonic()
    result = subprocess.run(
        ["timeout", str(START_TIMEOUT), "bash", str(START)], capture_output=True, text=True
    )
    output = f"{result.stdout}\n{result.stderr}"
    found = re.search(r"^SLURM_CLUSTER_DIR=(.+)$", result.stdout, re.M)
    if result.returncode != 0 or not found:
        print(output)
        pytest.skip(
            f"SLURM test: the cluster did not start (exit {result.returncode}):\n{tail(output, 25)}"
        )
    directory = Path(found.group(1))
    print(result.stdout)
    print(f"cluster started in {time.monotonic() - started:.1f} s")
    env = environment()
    env["SLURM_CONF"] = str(directory / "slurm.conf")
    env["PATH"] = f"{env['PATH']}{os.pathsep}/usr/sbin"
    try:
        yield directory, env
    finally:
        subprocess.run(["bash", str(STOP), str(directory)], check=False)


def profile_overrides() -> list[str]:
    """The profile's default resources with the site placeholders filled in for this cluster."""
    resources = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]
    placeholders = (resources["slurm_account"], resources["slurm_partition"])
    assert all(value.startswith("<") for value in placeholders), placeholders
    resources.update(slurm_account=ACCOUNT, slurm_partition=PARTITION)
    return ["--default-resources", *(f"{key}={value}" for key, value in resources.items())]


def job_stats(log: str) -> Counter:
    """Snakemake's 'Job stats' table: jobs per rule of this run."""
    table = log.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)})


def sacct(env: dict, job_ids: list[str], *fields: str, steps: bool = False) -> list[dict]:
    command = ["sacct", "-n", "-P", "--format=" + ",".join(fields), "-j", ",".join(job_ids)]
    if not steps:
        command.insert(1, "-X")
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("|"))) for line in output.splitlines() if line]


def complete_accounting(env: dict, job_ids: list[str]) -> list[dict]:
    """sacct's job records; a finished job's record is briefly incomplete (no partition,
    JobName 'allocation') until slurmctld has sent the whole of it to slurmdbd."""
    fields = (
        "JobIDRaw",
        "JobName",
        "Comment",
        "State",
        "ExitCode",
        "Partition",
        "Account",
        "NodeList",
    )
    deadline = time.monotonic() + 60
    while True:
        rows = sacct(env, job_ids, *fields)
        if len(rows) == len(job_ids) and all(r["Partition"] and r["Comment"] for r in rows):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(1)


def panel(path: Path) -> tuple[list[str], list[str]]:
    """The INFO header lines and every record line of a panel VCF."""
    with pysam.VariantFile(str(path)) as vcf:
        info = [str(line) for line in vcf.header.records if line.type == "INFO"]
        records = [str(record) for record in vcf]
    return info, records


def test_demo_on_slurm_equals_local_run(slurm_cluster, request, tmp_path):
    directory, env = slurm_cluster
    workdir = make_workdir(tmp_path / "slurm")
    command = [
        # SIGINT: snakemake cancels its SLURM jobs and exits (SIGTERM can leave it hanging).
        "timeout",
        "-s",
        "INT",
        "-k",
        "60",
        str(RUN_TIMEOUT),
        *snakemake_command(
            "--cores",
            "2",
            "--profile",
            str(PROFILE),
            *profile_overrides(),
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--config",
            f"chunk_size={CHUNK_SIZE}",
        ),
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    log = f"{result.stdout}\n{result.stderr}"
    print(log)  # shown by pytest when a check below fails
    print(f"demo on SLURM: {elapsed:.1f} s, exit {result.returncode}")
    if result.returncode != 0:
        ctld = (directory / "slurmctld.log").read_text(errors="replace")
        what = (
            f"did not finish in {RUN_TIMEOUT} s"
            if result.returncode == 124
            else f"failed (exit {result.returncode})"
        )
        pytest.fail(f"the SLURM run {what}:\n{tail(log, 80)}\n--- slurmctld.log:\n{tail(ctld)}")

    # Every job snakemake ran outside the local rules was submitted through sbatch ...
    submitted = {m[2]: m[3] for m in SUBMITTED.finditer(log)}  # SLURM job ID -> rule
    stats = job_stats(log)
    local = {"all", "cohort_sheet"}
    assert Counter(submitted.values()) == Counter(
        {rule: n for rule, n in stats.items() if rule not in local}
    ), f"snakemake's job stats {dict(stats)} vs submitted {Counter(submitted.values())}"
    for rule in ("count", "bundle", "merge", "publish"):
        assert rule in submitted.values()

    # ... and SLURM's accounting database has each of them, finished, as submitted.
    rows = complete_accounting(env, sorted(submitted))
    assert sorted(r["JobIDRaw"] for r in rows) == sorted(submitted), rows
    for row in rows:
        rule = submitted[row["JobIDRaw"]]
        assert row["State"] == "COMPLETED" and row["ExitCode"] == "0:0", row
        assert re.fullmatch(rf"rule_{rule}(_wildcards_.*)?", row["Comment"]), row
        assert (row["Partition"], row["Account"]) == (PARTITION, ACCOUNT), row
        assert row["NodeList"] == os.uname().nodename.split(".")[0], row
    assert len({row["JobName"] for row in rows}) == 1, "one run, one job name (the run's UUID)"
    # The rule ran in an srun step inside the allocation (the jobstep plugin's srun).
    steps = sacct(env, sorted(submitted), "JobID", "State", steps=True)
    for job_id in submitted:
        assert {"State": "COMPLETED", "JobID": f"{job_id}.0"} in steps, (job_id, steps)

    # The panel equals the local run's, record for record (the header's provenance lines
    # differ: the config digest includes chunk_size). The local run is asked for only now,
    # so that a machine without SLURM skips before making it.
    demo_run = request.getfixturevalue("demo_run")
    slurm_info, slurm_records = panel(workdir / f"{DEMO_PANEL}.vcf.gz")
    local_info, local_records = panel(demo_run / f"{DEMO_PANEL}.vcf.gz")
    assert slurm_info == local_info
    assert len(slurm_records) == len(local_records) > 0
    assert slurm_records == local_records
    print(
        f"{len(submitted)} SLURM jobs, all COMPLETED in sacct; "
        f"{len(slurm_records)} panel records equal the local run's"
    )
