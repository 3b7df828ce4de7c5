"""The demo runs however a user starts it (README, "Ways to run it").

- the venv's snakemake by its path in a bare environment (a cron or cluster job script:
  no activated venv, no `python` on PATH): the rules find the interpreter that runs
  snakemake, not whatever `python` the job's PATH has;
- as a Snakemake module from another folder, the way the workflow catalog deploys it
  (`snakedeploy deploy-workflow`): a Snakefile with `module` + `use rule * from`, the
  config copied from config/; workflow files resolve from the workflow's own folder,
  user paths from the run folder.

Both panels must equal the `demo_run` fixture's, record for record.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import DEMO_PANEL, REPO, make_workdir, panel_text, run_snakemake

BARE_PATH = "/usr/bin:/bin"
MODULE_SNAKEFILE = """\
configfile: "config/config.yaml"


module europanel:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from europanel
"""


def assert_same_panel(workdir: Path, demo_run: Path) -> None:
    records, info = panel_text(workdir)
    expected_records, expected_info = panel_text(demo_run)
    assert len(records) == len(expected_records) > 0
    assert records == expected_records
    assert info == expected_info
    assert (workdir / f"{DEMO_PANEL}.vcf.gz.tbi").exists()
    assert (workdir / f"{DEMO_PANEL}.parquet").exists()


def test_venv_snakemake_by_path_in_a_bare_environment(tmp_path, demo_run):
    """`env -i PATH=/usr/bin:/bin .venv/bin/snakemake --cores 2`, exactly."""
    snakemake = Path(sys.executable).parent / "snakemake"
    workdir = make_workdir(tmp_path / "bare")
    command = ["env", "-i", f"PATH={BARE_PATH}", str(snakemake), "--cores", "2"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    assert_same_panel(workdir, demo_run)
    # Started another way (`python -m snakemake`: another interpreter path in the rules'
    # command line), the finished run is up to date: the command is no rerun trigger.
    dry_run = run_snakemake(workdir, "--dry-run")
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr, dry_run.stdout


def test_bare_environment_has_no_python_of_its_own():
    """What makes the test above meaningful: `python` on the bare PATH is absent or lacks
    the pipeline's libraries, so a rule calling `python` would fail."""
    found = shutil.which("python", path=BARE_PATH)
    if found is not None:
        probe = subprocess.run(
            [found, "-c", "import pandas, pysam, europanel"],
            env={"PATH": BARE_PATH},
            capture_output=True,
        )
        assert probe.returncode != 0, f"{found} can run europanel: the bare run proves nothing"


def test_deployed_as_a_module_in_another_folder(tmp_path, demo_run):
    """snakedeploy's layout, with a local path where the catalog writes github(...)."""
    workdir = tmp_path / "deployed"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        MODULE_SNAKEFILE.format(snakefile=REPO / "workflow" / "Snakefile")
    )
    shutil.copytree(REPO / "config", workdir / "config")
    # The config's demo paths are relative to the run folder: the user's own data.
    (workdir / "resources").symlink_to(REPO / "resources")
    # One chunk per contig, fewer jobs; the panel does not depend on chunk_size
    # (test_reproducibility.py).
    run_snakemake(workdir, "--config", "chunk_size=50000")
    assert_same_panel(workdir, demo_run)
    # Nothing was written next to the workflow: outputs and metadata are the run folder's.
    assert (workdir / ".snakemake").is_dir()
    assert not (REPO / "workflow" / "results").exists()
