"""QC report data from the published panel and the merge summaries, streamed in record
batches: site frequency spectra, AF distributions, records per chromosome, merge totals
and the cross-country heterogeneity flags per cohort pair."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from europanel.stages.bundle import Bundle
from europanel.stages.report.data import VARIANT_TYPES, Publication

BATCH_ROWS = 200_000  # panel records per streamed batch


def ac_bins(max_ac: int) -> list[tuple[int, int]]:
    """Allele-count bins 1, 2, 3-5, 6-10, 11-20, 21-50, ... (a 1-2-5 series) covering max_ac."""
    uppers: list[int] = []
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            uppers.append(mantissa * 10**exponent)
            if uppers[-1] >= max_ac:
                lows = [1] + [u + 1 for u in uppers[:-1]]
                return list(zip(lows, uppers))
    raise AssertionError("unreachable")


def ac_bin_labels(bins: list[tuple[int, int]]) -> list[str]:
    return [str(low) if low == high else f"{low}–{high}" for low, high in bins]


def iter_panel(parquet: str, columns: list[str]):
    """Record batches of some panel columns (as DataFrames)."""
    source = pq.ParquetFile(parquet)
    present = [c for c in columns if c in source.schema_arrow.names]
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=present):
        yield batch.to_pandas()


def variant_types(ref: pd.Series, alt: pd.Series) -> np.ndarray:
    ref_len, alt_len = ref.str.len().to_numpy(), alt.str.len().to_numpy()
    return np.where(
        (ref_len == 1) & (alt_len == 1), "SNV", np.where(ref_len != alt_len, "indel", "other")
    )


@dataclass
class PanelSpectra:
    """Streamed distributions of the published panel."""

    populations: list[str]
    ac_bins: list[tuple[int, int]]
    sfs: pd.DataFrame  # AC bin x population: sites with AC_pop > 0
    log_edges: np.ndarray  # log10 AF bin edges
    log_af: pd.DataFrame  # log10 AF bin x type: PASS records
    linear_af: pd.DataFrame  # AF bin (0-1, 20 bins) x type: PASS records
    ac0: int = 0
    records: int = 0


def panel_spectra(parquet: str, publication: Publication) -> PanelSpectra:
    """Site frequency spectrum per published population (adj AC, sites with AC > 0) and
    the distribution of AF (adj, all samples) over PASS records. A population is shown
    only if both the report's and the panel's min_group_size published it."""
    columns = set(pq.read_schema(parquet).names)
    populations = [p for p in publication.populations if f"AC_{p}" in columns]
    bins = ac_bins(max([2 * publication.size(p) for p in populations] + [1]))
    lows = np.array([low for low, _ in bins])
    total = sum(publication.size(c) for c in publication.groups.cohorts)
    low = math.floor(math.log10(1 / max(2 * total, 2)))
    log_edges = np.linspace(low, 0, 4 * -low + 1)
    linear_edges = np.linspace(0, 1, 21)
    sfs = np.zeros((len(bins), len(populations)), dtype=np.int64)
    log_af = np.zeros((len(log_edges) - 1, len(VARIANT_TYPES)), dtype=np.int64)
    linear_af = np.zeros((len(linear_edges) - 1, len(VARIANT_TYPES)), dtype=np.int64)
    ac0 = records = 0
    columns = ["REF", "ALT", "FILTER", "AF", *(f"AC_{p}" for p in populations)]
    for batch in iter_panel(parquet, columns):
        records += len(batch)
        for j, population in enumerate(populations):
            ac = batch[f"AC_{population}"].to_numpy(dtype=np.int64)
            ac = ac[ac > 0]
            which = np.clip(np.searchsorted(lows, ac, side="right") - 1, 0, len(bins) - 1)
            sfs[:, j] += np.bincount(which, minlength=len(bins))
        passed = (batch["FILTER"] == "PASS").to_numpy()
        ac0 += int((batch["FILTER"] == "AC0").sum())
        af = batch["AF"].to_numpy(dtype=np.float64)
        kinds = variant_types(batch["REF"].astype(str), batch["ALT"].astype(str))
        for k, kind in enumerate(VARIANT_TYPES):
            chosen = af[passed & (kinds == kind) & (af > 0)]
            log_af[:, k] += np.histogram(np.log10(chosen), bins=log_edges)[0]
            linear_af[:, k] += np.histogram(chosen, bins=linear_edges)[0]
    log_labels = [f"{a:.2f}" for a in log_edges[:-1]]
    linear_labels = [f"{a:.2f}" for a in linear_edges[:-1]]
    return PanelSpectra(
        populations=populations,
        ac_bins=bins,
        sfs=pd.DataFrame(sfs, index=ac_bin_labels(bins), columns=populations),
        log_edges=log_edges,
        log_af=pd.DataFrame(log_af, index=log_labels, columns=list(VARIANT_TYPES)),
        linear_af=pd.DataFrame(linear_af, index=linear_labels, columns=list(VARIANT_TYPES)),
        ac0=ac0,
        records=records,
    )


def panel_chromosomes(parquet: str) -> pd.DataFrame:
    """Records per chromosome: total, PASS, AC0 and by type, plus an `all` row."""
    parts = []
    for batch in iter_panel(parquet, ["CHROM", "REF", "ALT", "FILTER"]):
        frame = pd.DataFrame(
            {
                "chromosome": batch["CHROM"].astype(str),
                "records": 1,
                "PASS": (batch["FILTER"] == "PASS").astype(int),
                "AC0": (batch["FILTER"] == "AC0").astype(int),
            }
        )
        kinds = variant_types(batch["REF"].astype(str), batch["ALT"].astype(str))
        for kind in VARIANT_TYPES:
            frame[kind] = (kinds == kind).astype(int)
        parts.append(frame.groupby("chromosome", sort=False).sum())
    columns = ["records", "PASS", "AC0", *VARIANT_TYPES]
    if not parts:
        return pd.DataFrame([[0] * len(columns)], index=["all"], columns=columns)
    table = pd.concat(parts).groupby(level=0, sort=False).sum()[columns]
    table.loc["all"] = table.sum()
    table.index.name = "chromosome"
    return table


def merge_totals(summaries: list[str]) -> dict[str, int]:
    """Sums of the per-chunk merge summaries (sites, raw_ac0, withheld_min_carriers, ...)."""
    totals: dict[str, int] = {}
    for path in summaries:
        for key, value in json.loads(Path(path).read_text()).items():
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def tested_pairs(bundles: list[Bundle], min_group_size: int) -> set[tuple[str, str]]:
    """Pairs of cohorts that the heterogeneity test compares: both have a population with at
    least min_group_size samples (the merge's cells)."""
    pairs = set()
    populations = {p for b in bundles for p in b.manifest["populations"]}
    for population in populations:
        members = sorted(
            b.cohort
            for b in bundles
            if b.manifest["groups"].get(population, 0) >= max(min_group_size, 1)
        )
        pairs.update(itertools.combinations(members, 2))
    return pairs


def country_het_pairs(parquet: str, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """Per pair of cohorts the test compares (`pairs`): records both called
    (`cohorts_called`), and how many of them carry the country_het flag (issue 15)."""
    both: dict[tuple[str, str], int] = {}
    flagged: dict[tuple[str, str], int] = {}
    source = pq.ParquetFile(parquet)
    columns = ["cohorts_called", "country_het"]
    if set(columns) <= set(source.schema_arrow.names):
        for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            # Records that called the same cohorts share their pairs: counted per distinct
            # `cohorts_called` by Arrow, then split into pairs once per distinct value.
            flags = pc.fill_null(pc.cast(batch.column("country_het"), pa.bool_()), False)
            table = pa.table(
                {
                    "called": pc.cast(batch.column("cohorts_called"), pa.string()),
                    "flag": pc.cast(flags, pa.int64()),
                }
            )
            counts = table.group_by("called").aggregate([("flag", "count"), ("flag", "sum")])
            for called, records, flags_set in zip(
                counts["called"].to_pylist(),
                counts["flag_count"].to_pylist(),
                counts["flag_sum"].to_pylist(),
            ):
                if called is None:
                    continue
                for pair in itertools.combinations(sorted(called.split(",")), 2):
                    if pair in pairs:
                        both[pair] = both.get(pair, 0) + records
                        flagged[pair] = flagged.get(pair, 0) + flags_set
    rows = [
        {"a": a, "b": b, "both_called": n, "flagged": flagged[(a, b)], "rate": flagged[(a, b)] / n}
        for (a, b), n in sorted(both.items())
    ]
    return pd.DataFrame(rows, columns=["a", "b", "both_called", "flagged", "rate"])
