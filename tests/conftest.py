"""Shared fixtures: the demo pipeline run once per test session in a temporary directory."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_PANEL = "results/panel/demo.sites"


# Test tiers (markers registered in pyproject.toml). `make test-fast` runs what is left
# unmarked: unit and property tests. A test gets `e2e` when it uses the demo run or sits in a
# module that runs snakemake; snakemake_command refuses to run in the fast tier, so a test
# that runs the workflow without being marked fails loudly instead of slowing the fast tier.
TIERS_BY_MODULE = {
    "test_validation": ("e2e",),
    "test_bundles": ("e2e",),
    "test_reproducibility": ("e2e", "slow"),
    "test_slurm": ("e2e", "slow", "slurm"),
    "test_run_anywhere": ("e2e", "slow"),
    "test_hygiene": ("lint",),
}
E2E_FIXTURES = {"demo_run", "demo_vcf"}
FAST_TIER = "EUROPANEL_FAST_TIER"


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        for tier in TIERS_BY_MODULE.get(module, ()):
            item.add_marker(tier)
        if E2E_FIXTURES & set(item.fixturenames):
            item.add_marker("e2e")
        if "chromium" in item.name:
            item.add_marker("browser")


def snakemake_command(*args: str) -> list[str]:
    if os.environ.get(FAST_TIER):
        pytest.fail("this test runs snakemake: give it the e2e marker (see tests/conftest.py)")
    return [sys.executable, "-m", "snakemake", *args]


def environment() -> dict[str, str]:
    """This interpreter's bin directory first on PATH (the venv's snakemake and tools)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def make_workdir(path: Path) -> Path:
    """A run directory that sees the repository's workflow, config and demo through links."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("workflow", "resources"):
        (path / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "config", path / "config")
    return path


def run_snakemake(
    workdir: Path, *args: str, cores: int = 2, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        snakemake_command("--cores", str(cores), *args),
        cwd=workdir,
        env=environment(),
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """Run the whole demo once; tests read its outputs (keep the normalised BCFs too)."""
    workdir = make_workdir(tmp_path_factory.mktemp("demo"))
    run_snakemake(workdir, "--notemp")
    return workdir


@pytest.fixture(scope="session")
def demo_normalised(demo_run) -> Path:
    """The demo's chr20 chunks normalised as its count jobs normalise them, one BCF per
    cohort and chunk (`<cohort>/<chunk>.bcf`): the workflow keeps none, it counts in the
    same pass. The oracles count these with bcftools and compare with the run's counts."""
    import yaml

    from europanel.core.regions import chunk_by_name, read_fai
    from europanel.stages.normalise import input_contigs, normalise_chunk

    config = yaml.safe_load((demo_run / "config/config.yaml").read_text())
    fasta = str(demo_run / config["reference"]["fasta"])
    lengths = read_fai(fasta)
    cohorts = pd.read_csv(demo_run / config["cohorts"], sep="\t", dtype=str)
    samples = pd.read_csv(demo_run / config["samples"], sep="\t", dtype=str)
    folder = demo_run / "normalised-for-oracles"
    for cohort, vcfs in cohorts.groupby("cohort")["vcf"]:
        inputs = [input_contigs(str(demo_run / vcf), set(lengths)) for vcf in vcfs]
        names = samples.loc[samples["cohort"] == cohort, "sample"].tolist()
        (folder / cohort).mkdir(parents=True)
        for counts in sorted((demo_run / f"results/counts/{cohort}").glob("chr20-*.parquet")):
            chunk = chunk_by_name(counts.stem, lengths, config["chunk_size"])
            normalise_chunk(inputs, chunk, names, fasta, str(folder / cohort / f"{chunk.name}.bcf"))
    return folder


@pytest.fixture(scope="session")
def demo_vcf(demo_run) -> Path:
    return demo_run / f"{DEMO_PANEL}.vcf.gz"


def panel_text(workdir: Path) -> tuple[list[str], list[str]]:
    """The panel's records (as `bcftools view -H` prints them) and its ##INFO header lines."""
    with gzip.open(workdir / f"{DEMO_PANEL}.vcf.gz", "rt") as vcf:
        lines = vcf.read().splitlines()
    records = [line for line in lines if not line.startswith("#")]
    info = [line for line in lines if line.startswith("##INFO")]
    return records, info


@pytest.fixture(scope="session")
def unsuppressed_demo_panel(demo_run) -> pd.DataFrame:
    """The demo panel as it would be without disclosure control (every group of every
    record), merged from the cohorts' unsuppressed count tables (kept by --notemp): the
    twin that published values and withheld trap values are checked against."""
    from europanel.core.panel_groups import PanelGroups
    from europanel.core.regions import PloidyMap, bare_name, chunk_by_name
    from europanel.stages.bundle import Bundle
    from europanel.stages.merge import CohortCounts, PanelPolicy, merge_chunk

    results = demo_run / "results"
    bundles = [Bundle.open(str(p.parent)) for p in sorted(results.glob("bundles/*/manifest.json"))]
    panel = PanelGroups.from_manifests([b.manifest for b in bundles])
    first = bundles[0].manifest
    ploidy = PloidyMap(
        {bare_name(c).upper(): [tuple(s) for s in v] for c, v in first["par"].items()}
    )
    chunks = sorted({p.stem for p in results.glob("counts/*/*.parquet")})
    parts = []
    for name in chunks:
        chunk = chunk_by_name(name, first["contigs"], 10000)
        cohorts = [
            CohortCounts(
                b.cohort,
                pd.read_parquet(results / f"counts/{b.cohort}/{name}.parquet"),
                b.callable_spans(chunk.contig),
                b.manifest["reference_an"],
                b.manifest["groups"],
            )
            for b in bundles
        ]
        records, _ = merge_chunk(chunk.contig, cohorts, panel, ploidy, PanelPolicy())
        parts.append(records)
    return pd.concat(parts, ignore_index=True)


def schema_defaults(section: str) -> dict:
    """The config schema's defaults of one section (the only place defaults are written)."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    properties = schema["properties"][section]["properties"]
    return {name: spec["default"] for name, spec in properties.items() if "default" in spec}


def gnomad_adj():
    """Genotype QC at the schema's defaults: gnomAD's adj (GQ >= 20, DP >= 10 or 5 when
    haploid, het allele balance >= 0.2)."""
    from europanel.core.counting import GenotypeQC

    return GenotypeQC(**schema_defaults("genotype_qc"))


def demo_config() -> dict:
    """The demo's config/config.yaml with the schema's defaults filled in, as the workflow
    sees it (common.smk validates it the same way)."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def demo_settings(stage: str, **derived) -> str:
    """A stage's `--settings` JSON for the demo config, as its rule passes it."""
    from europanel.settings import settings_json, stage_settings

    return settings_json(stage_settings(demo_config(), stage, **derived))


def bgzipped_vcf(folder, text: str, writer: str) -> str:
    """`text` as `<folder>/<writer>.vcf.gz`, tabix-indexed, compressed by htslib
    (writer "htslib") or by europanel's io/bgzf.py (another block layout)."""
    import pysam

    from europanel.io import bgzf

    path = str(folder / f"{writer}.vcf.gz")
    if writer == "htslib":
        plain = folder / "plain.vcf"
        plain.write_text(text)
        pysam.tabix_compress(str(plain), path, force=True)
    else:
        with bgzf.BgzfWriter(path) as out:
            out.write(text.encode())
    pysam.tabix_index(path, preset="vcf", force=True)
    return path
