"""Merge cohorts' counts of one chunk into panel records (DESIGN §2.5, §4, §5, §6).

Union of sites on (POS, REF, ALT); per cohort, a site is *called* (counts
added), *filtered* (contributes nothing, listed in cohorts_filtered) or
*absent*: then reference (AC 0, AN from the cohort's bundle manifest and the
site's ploidy class) where the cohort's callable BED covers every base of its
REF allele or, without a BED, where `merge.absent_sites` is `reference`;
otherwise nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from europanel.count import QC_LEVELS, STATS, parse_count_column
from europanel.frequencies import allele_frequency, filtering_allele_frequency, grpmax
from europanel.regions import PloidyMap, in_intervals
from europanel.sheets import SEXES
from europanel.sitestats import (
    SiteAnnotationPolicy,
    annotation_filter,
    histogram_columns,
    is_histogram_column,
    site_annotation_columns,
)

KEY = ["pos", "ref", "alt"]
FAF_CONFIDENCES = {"faf95": 0.95, "faf99": 0.99}


@dataclass(frozen=True)
class CohortCounts:
    """One cohort's contribution to a chunk, as read from its bundle."""

    label: str
    table: pd.DataFrame  # count table of the chunk (count.count_bcf)
    callable_spans: list[tuple[int, int]] | None  # on this contig; None = no BED
    reference_an: dict[str, list[int]]  # group -> AN per ploidy class where reference


@dataclass(frozen=True)
class PanelGroups:
    """The panel's groups and their sample numbers, summed over cohorts."""

    cohorts: list[str]
    populations: list[str]
    sizes: dict[str, int]

    @classmethod
    def from_manifests(cls, manifests: list[dict]) -> PanelGroups:
        sizes: dict[str, int] = {}
        for manifest in manifests:
            for group, n in manifest["groups"].items():
                sizes[group] = sizes.get(group, 0) + n
        cohorts = sorted(m["cohort"] for m in manifests)
        populations = sorted({p for m in manifests for p in m["populations"]})
        return cls(cohorts, populations, sizes)

    def ordered(self) -> list[str]:
        """Every group of the panel, in publication order."""
        pop_sex = [f"{p}_{s}" for p in self.populations for s in SEXES]
        return self.cohorts + self.populations + list(SEXES) + pop_sex

    def published(self, min_group_size: int) -> list[str]:
        return [g for g in self.ordered() if self.sizes.get(g, 0) >= max(min_group_size, 1)]

    def withheld(self, min_group_size: int) -> dict[str, int]:
        """Groups too small to publish on their own, with their sizes (for the report only)."""
        return {g: n for g in self.ordered() if 0 < (n := self.sizes.get(g, 0)) < min_group_size}


@dataclass(frozen=True)
class PanelPolicy:
    absent_sites: str = "reference"  # or "missing"
    faf_exclude: tuple[str, ...] = ()
    min_group_size: int = 0
    min_carriers: int = 0


def merge_chunk(
    contig: str,
    cohorts: list[CohortCounts],
    panel: PanelGroups,
    ploidy_map: PloidyMap,
    policy: PanelPolicy,
    annotations: SiteAnnotationPolicy | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Panel records of one chunk (published columns) and a summary for the report.
    `annotations`: add the site annotations of `europanel.sitestats` (None: none)."""
    keys = (
        pd.concat([c.table[KEY] for c in cohorts], ignore_index=True)
        .drop_duplicates()
        .sort_values(KEY, kind="stable")
        .reset_index(drop=True)
    )
    n = len(keys)
    groups = panel.ordered()
    group_index = {g: j for j, g in enumerate(groups)}
    totals = {
        (lvl, st): np.zeros((n, len(groups)), dtype=np.int64) for lvl in QC_LEVELS for st in STATS
    }
    positions = keys["pos"].to_numpy()
    ref_ends = positions + keys["ref"].str.len().to_numpy() - 1
    ploidy_class = ploidy_map.classes(contig, positions)
    called_by = [[] for _ in range(n)]
    filtered_by = [[] for _ in range(n)]
    # Site annotations: each cohort's own adj AC/AN per group (what it added to the totals),
    # and the summed quality histograms (only if every cohort's bundle has them).
    cohort_adj: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    hist_columns = histogram_columns()
    with_histograms = annotations is not None and annotations.histograms
    histograms = np.zeros((n, len(hist_columns)), np.int64) if with_histograms else None

    for cohort in sorted(cohorts, key=lambda c: c.label):
        table = keys.merge(cohort.table, on=KEY, how="left", indicator=True)
        present = (table["_merge"] == "both").to_numpy()
        filtered = present & table["filtered"].fillna(False).astype(bool).to_numpy()
        called = present & ~filtered
        before = {s: totals[("adj", s)].copy() for s in ("AC", "AN")} if annotations else None
        if histograms is not None:
            # A chunk without records in a cohort's bundle has no histogram columns: zeros.
            values = table.reindex(columns=hist_columns).fillna(0).to_numpy(dtype=np.int64)
            histograms[called] += values[called]
        for column in cohort.table.columns:
            if column in KEY or column in ("chrom", "filtered") or is_histogram_column(column):
                continue
            stat, level, group = parse_count_column(column)
            values = table[column].fillna(0).to_numpy(dtype=np.int64)
            totals[(level, stat)][called, group_index[group]] += values[called]
        absent = ~present
        if cohort.callable_spans is not None:
            # Reference only if the cohort could call every base the REF allele spans.
            as_reference = absent & in_intervals(positions, cohort.callable_spans, ref_ends)
        else:
            as_reference = absent if policy.absent_sites == "reference" else np.zeros(n, bool)
        an_by_class = np.zeros((3, len(groups)), dtype=np.int64)
        for group, by_class in cohort.reference_an.items():
            an_by_class[:, group_index[group]] = by_class
        for level in QC_LEVELS:
            totals[(level, "AN")][as_reference] += an_by_class[ploidy_class[as_reference]]
        if before is not None:
            cohort_adj[cohort.label] = {
                (stat, g): totals[("adj", stat)][:, j] - before[stat][:, j]
                for stat in ("AC", "AN")
                for g, j in group_index.items()
            }
        for i in np.flatnonzero(called):
            called_by[i].append(cohort.label)
        for i in np.flatnonzero(filtered):
            filtered_by[i].append(cohort.label)

    # The panel total is the sum over cohorts (every sample is in exactly one cohort).
    cohort_columns = [group_index[c] for c in panel.cohorts]
    overall = {k: v[:, cohort_columns].sum(axis=1) for k, v in totals.items()}

    keep = overall[("raw", "AC")] > 0
    summary = {"sites": int(n), "raw_ac0": int((~keep).sum())}
    if policy.min_carriers > 0:
        rare = keep & (overall[("raw", "ncarrier")] < policy.min_carriers)
        summary["withheld_min_carriers"] = int(rare.sum())
        keep &= ~rare
    records = build_records(contig, keys, totals, overall, panel, policy, called_by, filtered_by)
    if annotations is not None:
        records = add_site_annotations(
            records,
            ploidy_class,
            totals,
            overall,
            panel,
            policy,
            cohort_adj,
            histograms,
            annotations,
        )
    records = records[keep].reset_index(drop=True)
    summary["records"] = len(records)
    summary["PASS"] = int((records["FILTER"] == "PASS").sum())
    summary["AC0"] = int((records["FILTER"] == "AC0").sum())
    if annotations is not None:
        summary["InbreedingCoeff"] = int(records["FILTER"].str.contains("InbreedingCoeff").sum())
        summary["country_het"] = int(records["country_het"].sum())
    return records, summary


def add_site_annotations(
    records, ploidy_class, totals, overall, panel, policy, cohort_adj, histograms, annotations
) -> pd.DataFrame:
    """The records with sitestats' columns added and the InbreedingCoeff FILTER applied.
    Per-group values only for the groups published (`PanelGroups.published`)."""
    index = {g: j for j, g in enumerate(panel.ordered())}
    shown = panel.published(policy.min_group_size)

    def adj(stat, group):
        if group == "":
            return overall[("adj", stat)]
        return totals[("adj", stat)][:, index[group]] if group in shown else None

    columns = site_annotation_columns(
        ploidy_class,
        adj,
        [p for p in panel.populations if p in shown],
        cohort_adj,
        [c for c in panel.cohorts if c in shown],
        histograms,
        annotations,
    )
    records = pd.concat([records, pd.DataFrame(columns, index=records.index)], axis=1)
    failed = annotation_filter(records["inbreeding_coeff"].to_numpy(), annotations)
    status = records["FILTER"].to_numpy(dtype=object)
    status[failed] = np.where(
        status[failed] == "PASS", "InbreedingCoeff", status[failed] + ";InbreedingCoeff"
    )
    records["FILTER"] = status
    return records


def build_records(
    contig, keys, totals, overall, panel, policy, called_by, filtered_by
) -> pd.DataFrame:
    """Published columns, in the order of DESIGN §4."""
    index = {g: j for j, g in enumerate(panel.ordered())}
    shown = panel.published(policy.min_group_size)
    populations = [p for p in panel.populations if p in shown]
    ranked = [p for p in populations if p not in policy.faf_exclude]
    out: dict[str, object] = {
        "CHROM": contig,
        "POS": keys["pos"].to_numpy(),
        "REF": keys["ref"].to_numpy(),
        "ALT": keys["alt"].to_numpy(),
    }
    adj_ac, adj_an = overall[("adj", "AC")], overall[("adj", "AN")]
    out["FILTER"] = np.where(adj_ac > 0, "PASS", "AC0")
    out["AC"], out["AN"] = adj_ac, adj_an
    out["AF"] = allele_frequency(adj_ac, adj_an)
    out["nhomalt"], out["nhemi"] = overall[("adj", "nhomalt")], overall[("adj", "nhemi")]
    raw_ac, raw_an = overall[("raw", "AC")], overall[("raw", "AN")]
    out["AC_raw"], out["AN_raw"] = raw_ac, raw_an
    out["AF_raw"] = allele_frequency(raw_ac, raw_an)
    out["nhomalt_raw"] = overall[("raw", "nhomalt")]
    for g in shown:
        ac, an = totals[("adj", "AC")][:, index[g]], totals[("adj", "AN")][:, index[g]]
        out[f"AC_{g}"], out[f"AN_{g}"] = ac, an
        out[f"AF_{g}"] = allele_frequency(ac, an)
        out[f"nhomalt_{g}"] = totals[("adj", "nhomalt")][:, index[g]]
    for name, confidence in FAF_CONFIDENCES.items():
        out[name] = filtering_allele_frequency(adj_ac, adj_an, confidence)
    for name, confidence in FAF_CONFIDENCES.items():
        for p in populations:
            out[f"{name}_{p}"] = filtering_allele_frequency(
                totals[("adj", "AC")][:, index[p]], totals[("adj", "AN")][:, index[p]], confidence
            )
    for name in FAF_CONFIDENCES:
        if ranked:
            faf = np.column_stack([out[f"{name}_{p}"] for p in ranked])
            best = faf.argmax(axis=1)
            has = faf.max(axis=1) > 0
            out[f"fafmax_{name}_max"] = np.where(has, faf.max(axis=1), np.nan)
            out[f"fafmax_{name}_max_gen_anc"] = np.where(has, np.array(ranked)[best], None)
    if ranked:
        columns = [index[p] for p in ranked]
        ac = totals[("adj", "AC")][:, columns]
        an = totals[("adj", "AN")][:, columns]
        best, has = grpmax(ac, an, ranked)
        rows = np.arange(len(best))
        out["grpmax"] = np.where(has, np.array(ranked)[best], None)
        out["AC_grpmax"] = np.where(has, ac[rows, best], -1)
        out["AN_grpmax"] = np.where(has, an[rows, best], -1)
        out["AF_grpmax"] = np.where(has, allele_frequency(ac[rows, best], an[rows, best]), np.nan)
        homalt = totals[("adj", "nhomalt")][:, columns]
        out["nhomalt_grpmax"] = np.where(has, homalt[rows, best], -1)
    out["cohorts_called"] = [",".join(c) for c in called_by]
    out["cohorts_filtered"] = [",".join(c) for c in filtered_by]
    records = pd.DataFrame(out)
    for column in ("AC_grpmax", "AN_grpmax", "nhomalt_grpmax"):
        if column in records:
            records[column] = records[column].astype("Int64").mask(records[column] < 0)
    for column in ("cohorts_called", "cohorts_filtered"):
        records[column] = records[column].replace("", None)
    return records
