"""Merge at scale (issue 12): a merge job reads only the columns it uses, scatters each
cohort's counts onto the chunk's sites, and the exact tests' log-factorial table equals
scipy; the bench's job-plan arithmetic (pure functions of europanel.bench)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

from conftest import gnomad_adj
from europanel.core.histograms import histogram_columns, is_histogram_column
from europanel.core.panel_groups import PanelGroups
from europanel.core.regions import PloidyMap
from europanel.core.sitestats import SiteAnnotationPolicy, log_factorials
from europanel.stages.bundle import Bundle, cohort_summary
from europanel.stages.merge import CohortCounts, PanelPolicy, merge_chunk, merged_columns
from europanel_dev.bench import (
    GRCH38_LENGTHS,
    chunks_of,
    declared_mem_mb,
    parse_job_stats,
    rule_kinds,
    scale_jobs,
)
from test_sitestats import cohort_table, random_block


def two_cohorts(rng) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Two cohorts' sheets and count tables (with histograms) over overlapping sites: some
    sites in one cohort only, some records filtered, some group pieces withheld (null)."""
    sizes = {"AA": 9, "BB": 13}
    sheets, tables = {}, {}
    for i, (cohort, n) in enumerate(sizes.items()):
        sheets[cohort] = pd.DataFrame(
            {
                "sample": [f"{cohort}{j}" for j in range(n)],
                "cohort": cohort,
                "population": rng.choice(["POPA", "POPB"], n),
                "sex": rng.choice(["XX", "XY"], n),
            }
        )
        n_variants = 30
        keys = pd.DataFrame(
            {"pos": (np.arange(n_variants) + 5 * i) * 10 + 1, "ref": "A", "alt": "C"}
        )
        table = cohort_table(random_block(rng, n_variants, n), sheets[cohort], keys, gnomad_adj())
        table["filtered"] = rng.random(n_variants) < 0.15
        withheld = [c for c in table.columns if c.endswith("_POPA_XY")]
        table[withheld] = table[withheld].astype("float64")
        table.loc[rng.random(n_variants) < 0.2, withheld] = np.nan
        tables[cohort] = table
    return sheets, tables


def merged(sheets, tables, histograms: bool) -> pd.DataFrame:
    contributions = [
        CohortCounts(
            c,
            tables[c],
            None,
            *(lambda s: (s["reference_an"], s["groups"]))(cohort_summary(sheets[c])),
        )
        for c in sheets
    ]
    manifests = [{"cohort": c, **cohort_summary(s)} for c, s in sheets.items()]
    records, _ = merge_chunk(
        "chrZ",
        contributions,
        PanelGroups.from_manifests(manifests),
        PloidyMap({}),
        PanelPolicy(absent_sites="reference"),
        SiteAnnotationPolicy(histograms=histograms),
    )
    return records


def test_merged_columns_keeps_key_status_counts_and_histograms_only_when_used():
    names = ["chrom", "pos", "ref", "alt", "filtered", "AC_raw_AA", "AN_adj_AA"]
    names += histogram_columns()[:3]
    assert merged_columns(names, histograms=False) == names[1:7]
    assert merged_columns(names, histograms=True) == names[1:]


@pytest.mark.parametrize("histograms", [False, True])
def test_merge_reading_only_the_used_columns_equals_merging_every_column(tmp_path, histograms):
    rng = np.random.default_rng(3)
    sheets, tables = two_cohorts(rng)
    everything = merged(sheets, tables, histograms)
    read = {}
    for cohort, table in tables.items():
        table.to_parquet(tmp_path / f"{cohort}.parquet", index=False)
        bundle = Bundle(tmp_path, {"counts": {"chrZ": {"file": f"{cohort}.parquet"}}})
        read[cohort] = bundle.counts(
            "chrZ", 1, 10_000, columns=lambda names: merged_columns(names, histograms)
        )
        assert "chrom" not in read[cohort]
        assert any(map(is_histogram_column, read[cohort].columns)) == histograms
    pd.testing.assert_frame_equal(merged(sheets, read, histograms), everything, check_exact=True)


def test_merge_sums_each_cohorts_called_records_onto_the_union_of_sites():
    """The scatter by index against a naive twin: per site, the sum over cohorts whose
    record there is not filtered (AC_raw of the whole panel and of each cohort)."""
    rng = np.random.default_rng(11)
    sheets, tables = two_cohorts(rng)
    records = merged(sheets, tables, histograms=False)
    called_at = {c: set(t.loc[~t["filtered"], "pos"]) for c, t in tables.items()}
    expected: dict[int, dict[str, int]] = {}
    for cohort, table in tables.items():
        for row in table.itertuples(index=False):
            site = expected.setdefault(row.pos, {})
            site[cohort] = 0 if row.filtered else int(getattr(row, f"AC_raw_{cohort}"))
    for row in records.itertuples(index=False):
        site = expected[row.POS]
        assert row.AC_raw == sum(site.values())
        called = [c for c in sorted(sheets) if c in site and row.POS in called_at[c]]
        filtered = [c for c in sorted(sheets) if c in site and row.POS not in called_at[c]]
        assert listed(row.cohorts_called) == ",".join(called)
        assert listed(row.cohorts_filtered) == ",".join(filtered)
    called_anywhere = {pos for pos, site in expected.items() if sum(site.values()) > 0}
    assert set(records["POS"]) == called_anywhere


def listed(value) -> str:
    """A cohort list column's value; empty lists are null."""
    return value if isinstance(value, str) else ""


def test_log_factorial_table_equals_scipy_bit_for_bit():
    m = np.arange(5000)
    np.testing.assert_array_equal(log_factorials(4999)[:5000], gammaln(m + 1))
    assert len(log_factorials(20_000)) > 20_000  # grows on demand
    np.testing.assert_array_equal(log_factorials(10)[:5000], gammaln(m + 1))


DRY_RUN = """\
Building DAG of jobs...
Job stats:
job             count
------------  -------
all                 1
count              12
merge               4
normalise          12
publish             1
publish_part        4
report              2
total              36

rule count:
    wildcards: cohort=NL, chunk=chr20-00000
    resources: tmpdir=/tmp, mem_mb=805, mem=805 MB, runtime=10
localrule publish:
    resources: tmpdir=/tmp, mem_mb=2000
rule count:
    resources: tmpdir=/tmp, mem_mb=1200, runtime=10
"""


def test_job_plan_from_a_dry_run_and_its_size_at_another_scale():
    plan = parse_job_stats(DRY_RUN)
    assert plan == {
        "all": 1,
        "count": 12,
        "merge": 4,
        "normalise": 12,
        "publish": 1,
        "publish_part": 4,
        "report": 2,
    }
    assert declared_mem_mb(DRY_RUN) == 1200
    assert declared_mem_mb(DRY_RUN, "publish") == 2000
    kinds = rule_kinds(plan, n_cohorts=3, n_chunks=4)
    assert kinds["count"] == kinds["normalise"] == "cohort x chunk"
    assert kinds["merge"] == kinds["publish_part"] == "chunk"
    assert kinds["publish"] == kinds["report"] == "fixed"
    # 26 cohorts x 100 chunks: 2 x 2,600 + 2 x 100 + 1 + 2
    assert scale_jobs(kinds, plan, cohorts=26, chunks=100) == 5403


def test_chunks_are_cut_per_contig():
    assert chunks_of({"a": 10, "b": 11}, 5) == 2 + 3
    # chr1 13 + chr2 13 + ... + chrY 3, counted by hand
    assert chunks_of(GRCH38_LENGTHS, 20_000_000) == 166


def test_merge_jobs_cpu_is_split_into_merging_and_the_panel_pieces(tmp_path):
    from europanel.commands.panel import PIECE_CPU
    from europanel_dev.bench import PANEL_PIECE, merge_piece_cpu, split_merge

    logs = tmp_path / "results" / "logs" / "merge"
    logs.mkdir(parents=True)
    (logs / "chr1-00000.log").write_text(f"chr1-00000: {{'sites': 3}}\n{PIECE_CPU}1.250\n")
    (logs / "chr1-00001.log").write_text(f"{PIECE_CPU}0.750\n")
    assert merge_piece_cpu(tmp_path) == 2.0
    totals = {"merge": {"jobs": 2, "seconds": 9.0, "cpu": 8.0, "max_rss": 100.0}}
    split = split_merge(totals, 2.0)
    assert split["merge"]["cpu"] == 6.0 and split[PANEL_PIECE]["cpu"] == 2.0
    assert split["merge"]["jobs"] == split[PANEL_PIECE]["jobs"] == 2
    assert totals["merge"]["cpu"] == 8.0  # the measured totals are left as they were
    assert split_merge(totals, 0.0) is totals
