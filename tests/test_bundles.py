"""Country bundles merged without genotypes, and incremental growth (issue: scale out)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, make_workdir, panel_text, run_snakemake


def keep_cohorts(workdir: Path, cohorts: list[str]) -> None:
    """Restrict a workdir's sheets to some cohorts, as a national node's own sheets would be."""
    for sheet in ("cohorts.tsv", "samples.tsv"):
        path = workdir / "config" / sheet
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        table[table["cohort"].isin(cohorts)].to_csv(path, sep="\t", index=False)


def central_workdir(path: Path, bundles: list[Path], **extra) -> Path:
    """A central node: the workflow and a config naming bundle folders, nothing else."""
    path.mkdir(parents=True)
    (path / "workflow").symlink_to(REPO / "workflow")
    (path / "config").mkdir()
    config = {"panel_name": "demo", "bundles": [str(b) for b in bundles], **extra}
    (path / "config/config.yaml").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def country_bundles(tmp_path_factory) -> list[Path]:
    """Bundles built in two separate folders: NL and EE at one node, IT at another."""
    bundles = []
    for name, cohorts in (("node_a", ["NL", "EE"]), ("node_b", ["IT"])):
        workdir = make_workdir(tmp_path_factory.mktemp(name))
        keep_cohorts(workdir, cohorts)
        run_snakemake(workdir, "all_bundles")
        assert not (workdir / "results/panel").exists()
        bundles += [workdir / "results/bundles" / c for c in cohorts]
    return bundles


def test_merge_of_bundles_from_separate_folders_equals_one_shot_panel(
    country_bundles, demo_run, tmp_path
):
    # The public reference FASTA (no personal data) gives the central panel its VRS IDs.
    fasta = {"fasta": str(REPO / "resources/demo/reference.fa")}
    central = central_workdir(tmp_path / "central", country_bundles, reference=fasta)
    run_snakemake(central)
    records, info = panel_text(central)
    expected_records, expected_info = panel_text(demo_run)
    assert len(records) == len(expected_records) > 500
    for ours, theirs in zip(records, expected_records):
        assert ours == theirs
    assert info == expected_info


def test_bundles_hold_no_sample_id_and_no_genotype(country_bundles, demo_run):
    samples = pd.read_csv(demo_run / "config/samples.tsv", sep="\t", dtype=str)["sample"]
    for bundle in country_bundles:
        files = sorted(p.name for p in bundle.rglob("*") if p.is_file())
        assert files == ["chr20.parquet", "chrX.parquet", "chrY.parquet", "manifest.json"]
        text = (bundle / "manifest.json").read_text()
        for parquet in (bundle / "counts").glob("*.parquet"):
            table = pd.read_parquet(parquet)
            text += " ".join(table.columns) + table.astype(str).to_csv()
            # Counts per group only: no column per sample, no GT/genotype field.
            assert not any(re.search(r"GT|genotype", c) for c in table.columns)
        for sample in [*samples, "NL99"]:
            assert sample not in text, f"{sample} in bundle {bundle}"


def run_merge_expecting_refusal(central: Path) -> str:
    result = run_snakemake(central, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert not (central / "results/panel").exists()
    return output


@pytest.mark.parametrize(
    "key, value",
    [
        ("genotype_qc", {"min_gq": 30, "min_dp": 10, "min_dp_haploid": 5, "min_het_ab": 0.2}),
        ("reference_build", "GRCh37"),
        ("contigs", {"chr20": 64444167, "chrX": 156040895, "chrY": 57227415}),
    ],
)
def test_merge_refuses_bundles_made_with_other_settings(country_bundles, tmp_path, key, value):
    odd = tmp_path / "IT_other"
    shutil.copytree(country_bundles[2], odd)
    manifest = json.loads((odd / "manifest.json").read_text())
    manifest[key] = value
    (odd / "manifest.json").write_text(json.dumps(manifest))
    central = central_workdir(tmp_path / "central", [*country_bundles[:2], odd])
    output = run_merge_expecting_refusal(central)
    assert f"{odd}: {key} differs from" in output
    assert "rebuild the bundles with the same reference, build and genotype_qc" in output


def test_merge_refuses_a_damaged_bundle(country_bundles, tmp_path):
    damaged = tmp_path / "IT_damaged"
    shutil.copytree(country_bundles[2], damaged)
    with open(damaged / "counts/chr20.parquet", "ab") as parquet:
        parquet.write(b"\0")
    central = central_workdir(tmp_path / "central", [*country_bundles[:2], damaged])
    output = run_merge_expecting_refusal(central)
    assert "checksum differs from manifest.json" in output


def planned_jobs(workdir: Path) -> list[tuple[str, str]]:
    """(rule, cohort) of every job a dry run plans, read from snakemake's own job list."""
    output = run_snakemake(workdir, "--dry-run").stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        if match:
            cohort = re.search(r"wildcards:.*?cohort=(\w+)", block)
            jobs.append((match.group(1), cohort.group(1) if cohort else ""))
    return jobs


@pytest.fixture
def two_cohort_run(tmp_path) -> Path:
    workdir = make_workdir(tmp_path / "growing")
    keep_cohorts(workdir, ["NL", "EE"])
    run_snakemake(workdir)
    return workdir


def test_adding_a_cohort_reruns_only_its_jobs_and_the_merge(two_cohort_run):
    shutil.copy(REPO / "config/cohorts.tsv", two_cohort_run / "config/cohorts.tsv")
    shutil.copy(REPO / "config/samples.tsv", two_cohort_run / "config/samples.tsv")
    jobs = planned_jobs(two_cohort_run)
    per_cohort = {cohort for rule, cohort in jobs if cohort}
    assert per_cohort == {"IT"}, jobs
    assert {rule for rule, _ in jobs} >= {"count", "bundle", "merge", "publish"}


def test_withdrawing_samples_reruns_only_that_cohort(two_cohort_run):
    samples_path = two_cohort_run / "config/samples.tsv"
    samples = pd.read_csv(samples_path, sep="\t", dtype=str, keep_default_na=False)
    samples[~samples["sample"].isin(["NL03", "NL04"])].to_csv(samples_path, sep="\t", index=False)
    jobs = planned_jobs(two_cohort_run)
    per_cohort = {cohort for rule, cohort in jobs if cohort}
    assert per_cohort == {"NL"}, jobs
    assert {"count", "bundle", "merge", "publish"} <= {rule for rule, _ in jobs}
