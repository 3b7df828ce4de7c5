"""Privacy audit (DESIGN §6): no sample ID and no tool command line in anything published.

The QC report is audited in test_report.py, where it is built.
"""

from __future__ import annotations

import gzip

import pandas as pd


def sample_ids(workdir) -> list[str]:
    """Every sheet sample, plus NL99: in the NL VCF but not in the sheet."""
    sheet = pd.read_csv(workdir / "config/samples.tsv", sep="\t", dtype=str)
    return [*sheet["sample"], "NL99"]


def parquet_text(path) -> str:
    table = pd.read_parquet(path)
    return " ".join(table.columns) + "\n" + table.astype(str).to_csv(index=False)


def published_texts(workdir) -> dict[str, str]:
    """Every published file of a demo run, as text: the panel (VCF, Parquet) and the bundles."""
    results = workdir / "results"
    texts = {}
    with gzip.open(results / "panel/demo.sites.vcf.gz", "rt") as vcf:
        texts["panel VCF"] = vcf.read()
    texts["panel Parquet"] = parquet_text(results / "panel/demo.sites.parquet")
    for path in sorted(results.glob("bundles/*/manifest.json")):
        texts[str(path.relative_to(workdir))] = path.read_text()
    for path in sorted(results.glob("bundles/*/counts/*.parquet")):
        texts[str(path.relative_to(workdir))] = parquet_text(path)
    return texts


def test_no_sample_id_in_any_published_file(demo_run):
    texts = published_texts(demo_run)
    assert len(texts) == 2 + 3 + 3 * 3  # panel x2, 3 manifests, 3 cohorts x 3 contigs
    ids = sample_ids(demo_run)
    assert len(ids) == 91
    leaks = {name: [s for s in ids if s in text] for name, text in texts.items()}
    assert not {name: found for name, found in leaks.items() if found}


def test_panel_is_sites_only_and_its_header_has_no_tool_command_lines(demo_run):
    header = [
        line for line in published_texts(demo_run)["panel VCF"].splitlines() if line.startswith("#")
    ]
    assert header[-1].split("\t") == ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    # bcftools writes `##bcftools_<cmd>Command=` lines, which can list sample names.
    assert not [line for line in header if "Command" in line or line.startswith("##bcftools")]
