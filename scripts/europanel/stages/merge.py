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

from europanel.core.disclosure import (
    atoms_from_groups,
    counted_sexes,
    group_of_label,
)
from europanel.core.frequencies import allele_frequency, filtering_allele_frequency, grpmax
from europanel.core.histograms import histogram_columns, is_histogram_column
from europanel.core.panel_groups import PanelGroups, published_groups, record_patterns
from europanel.core.regions import PLOIDY_CLASSES, PloidyMap, in_intervals
from europanel.core.sitestats import (
    SiteAnnotationPolicy,
    annotation_filter,
    distinct_rows,
    site_annotation_columns,
)
from europanel.io.sheets import InputError
from europanel.stages.count import QC_LEVELS, STATS, parse_count_column

KEY = ["pos", "ref", "alt"]
FAF_CONFIDENCES = {"faf95": 0.95, "faf99": 0.99}


@dataclass(frozen=True)
class CohortCounts:
    """One cohort's contribution to a chunk, as read from its bundle."""

    label: str
    table: pd.DataFrame  # count table of the chunk (stages.count.count_bcf)
    callable_spans: list[tuple[int, int]] | None  # on this contig; None = no BED
    reference_an: dict[str, list[int]]  # group -> AN per ploidy class where reference
    group_sizes: dict[str, int] | None = None  # the bundle's group sizes (manifest `groups`)


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
    `annotations`: add the site annotations of `europanel.core.sitestats` (None: none)."""
    keys = (
        pd.concat([variant_rows(c.table)[KEY] for c in cohorts], ignore_index=True)
        .drop_duplicates()
        .sort_values(KEY, kind="stable")
        .reset_index(drop=True)
    )
    n = len(keys)
    groups = panel.ordered()
    group_index = {g: j for j, g in enumerate(groups)}
    # Column-major: the counts are added a group (column) at a time.
    totals = {
        (lvl, st): np.zeros((n, len(groups)), dtype=np.int64, order="F")
        for lvl in QC_LEVELS
        for st in STATS
    }
    positions = keys["pos"].to_numpy()
    ref_ends = positions + keys["ref"].str.len().to_numpy() - 1
    ploidy_class = ploidy_map.classes(contig, positions)
    # Which cohorts (columns, in label order) call / filter each site.
    called_by_cohort = np.zeros((n, len(cohorts)), dtype=bool)
    filtered_by_cohort = np.zeros((n, len(cohorts)), dtype=bool)
    # A called cohort's piece of a group that its bundle withheld (null) is unknown here.
    unknown = np.zeros((n, len(groups)), dtype=bool)
    # Site annotations: each cohort's own adj AC/AN per group (what it added to the totals),
    # and the summed quality histograms (only if every cohort's bundle has them).
    cohort_adj: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    hist_columns = histogram_columns()
    with_histograms = annotations is not None and annotations.histograms
    # Column-major, as the counts: each cohort's histogram columns are added one by one.
    histograms = np.zeros((n, len(hist_columns)), np.int64, order="F") if with_histograms else None

    key_index = pd.MultiIndex.from_frame(keys)
    labels = sorted(c.label for c in cohorts)
    # The adj AC and AN before each cohort's are added (its own are the difference).
    before = {s: np.empty_like(totals[("adj", s)]) for s in ("AC", "AN")} if annotations else None
    for column_of_cohort, cohort in enumerate(sorted(cohorts, key=lambda c: c.label)):
        variants = variant_rows(cohort.table)
        # The panel row of each of the cohort's records (keys hold every one of them):
        # values are scattered there, instead of joining every column onto the sites.
        rows = key_index.get_indexer(pd.MultiIndex.from_frame(variants[KEY]))
        row_filtered = variants["filtered"].fillna(False).astype(bool).to_numpy()
        called_rows = rows[~row_filtered]
        piece_counted = counted_pieces(cohort, ploidy_class)
        present = np.zeros(n, dtype=bool)
        present[rows] = True
        filtered = np.zeros(n, dtype=bool)
        filtered[rows[row_filtered]] = True
        called = present & ~filtered
        if before is not None:  # (copied into the same buffers: no fresh pages per cohort)
            for stat, saved in before.items():
                np.copyto(saved, totals[("adj", stat)])
        if histograms is not None:
            # A chunk without records in a cohort's bundle has no histogram columns: zeros.
            for j, column in enumerate(hist_columns):
                if column in variants:
                    counts = variants[column].to_numpy(dtype=np.int64, na_value=0)
                    added = histograms[:, j]  # a view: added to in place
                    added[called_rows] += counts[~row_filtered] if row_filtered.any() else counts
        for column in cohort.table.columns:
            if column in KEY or column in ("chrom", "filtered") or is_histogram_column(column):
                continue
            stat, level, group = parse_count_column(column)
            counts = variants[column].to_numpy()[~row_filtered]
            missing = pd.isna(counts)
            withheld = called_rows[missing]
            unknown[withheld[piece_counted[group][withheld]], group_index[group]] = True
            values = np.where(missing, 0, counts).astype(np.int64)
            totals[(level, stat)][called_rows, group_index[group]] += values
        absent = ~present
        # Where the cohort wrote reference calls (ALT `.`), their AN is the cohort's: it
        # called the site (as reference), so its samples' contribution is not a known
        # constant and it is listed in cohorts_called (the disclosure model needs both).
        reference_called = add_reference_calls(
            keys, absent, cohort.table, totals, group_index, unknown, piece_counted
        )
        absent &= ~reference_called
        if cohort.callable_spans is not None:
            # Reference only if the cohort could call every base the REF allele spans.
            as_reference = absent & in_intervals(positions, cohort.callable_spans, ref_ends)
        else:
            as_reference = absent if policy.absent_sites == "reference" else np.zeros(n, bool)
        an_by_class = np.zeros((len(PLOIDY_CLASSES), len(groups)), dtype=np.int64)
        for group, by_class in cohort.reference_an.items():
            if len(by_class) != len(PLOIDY_CLASSES):
                raise InputError(
                    f"bundle of cohort {cohort.label}: reference AN for {len(by_class)} "
                    f"ploidy classes where this version has {len(PLOIDY_CLASSES)} (chrY PAR, "
                    "where XX samples are not counted, is its own class since issue 17); "
                    "re-create the bundle with this version of the pipeline"
                )
            an_by_class[:, group_index[group]] = by_class
        for level in QC_LEVELS:
            totals[(level, "AN")][as_reference] += an_by_class[ploidy_class[as_reference]]
        if before is not None:
            cohort_adj[cohort.label] = {
                (stat, g): totals[("adj", stat)][:, j] - before[stat][:, j]
                for stat in ("AC", "AN")
                for g, j in group_index.items()
            }
        called_by_cohort[:, column_of_cohort] = called | reference_called
        filtered_by_cohort[:, column_of_cohort] = filtered

    called_by = cohort_lists(called_by_cohort, labels)
    filtered_by = cohort_lists(filtered_by_cohort, labels)
    # The panel total is the sum over cohorts (every sample is in exactly one cohort).
    cohort_columns = [group_index[c] for c in panel.cohorts]
    overall = {k: v[:, cohort_columns].sum(axis=1) for k, v in totals.items()}

    keep = overall[("raw", "AC")] > 0
    summary = {"sites": int(n), "raw_ac0": int((~keep).sum())}
    if policy.min_carriers > 0:
        rare = keep & (overall[("raw", "ncarrier")] < policy.min_carriers)
        summary["withheld_min_carriers"] = int(rare.sum())
        keep &= ~rare
    if any(c.group_sizes is None for c in cohorts):
        raise ValueError("merge_chunk needs each cohort's group_sizes (disclosure control)")
    sizes_by_cohort = {c.label: c.group_sizes for c in cohorts}
    disclosure = panel.disclosure_policy(sizes_by_cohort, policy.min_group_size)
    patterns, which = record_patterns(ploidy_class, called_by)
    shown, total_shown = published_groups(disclosure, groups, patterns, which, unknown)
    # A record whose total would isolate fewer than k samples (say, called by one small
    # cohort only) is not published at all.
    summary["withheld_disclosure"] = int((keep & ~total_shown).sum())
    keep &= total_shown
    for g in panel.published(policy.min_group_size):
        summary[f"withheld_group:{g}"] = int((keep & ~shown[:, group_index[g]]).sum())
    records = build_records(
        contig, keys, totals, overall, panel, policy, called_by, filtered_by, shown
    )
    if annotations is not None:
        het_cells = heterogeneity_cells(disclosure, panel, patterns, which, annotations)
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
            published_at=lambda g: shown[:, group_index[g]],
            heterogeneity_allowed=het_cells,
        )
    records = records[keep].reset_index(drop=True)
    summary["records"] = len(records)
    summary["PASS"] = int((records["FILTER"] == "PASS").sum())
    summary["AC0"] = int((records["FILTER"] == "AC0").sum())
    if annotations is not None:
        summary["InbreedingCoeff"] = int(records["FILTER"].str.contains("InbreedingCoeff").sum())
        summary["country_het"] = int(records["country_het"].sum())
    return records, summary


def cohort_lists(by_cohort: np.ndarray, labels: list[str]) -> list[list[str]]:
    """Per site (row), the cohorts (columns: `labels`) marked in its row, in label order;
    sites of one pattern share one list (they are only read)."""
    patterns, which = distinct_rows(by_cohort.astype(np.int64))
    lists = [[label for label, on in zip(labels, row) if on] for row in patterns.tolist()]
    return [lists[j] for j in which.tolist()]


def group_fields(group: str, panel: PanelGroups) -> list[str]:
    """The published INFO fields that belong to one group: withholding the group
    (DESIGN §6) must withhold all of them."""
    fields = [f"{stat}_{group}" for stat in ("AC", "AN", "AF", "nhomalt")]
    if group not in panel.cohorts:  # populations, sexes, population x sex
        fields += [f"{name}_{group}" for name in FAF_CONFIDENCES]
    return fields


def merged_columns(names: list[str], histograms: bool) -> list[str]:
    """The columns of a bundle's count table that merge_chunk reads: the key, the FILTER
    status, the counts, and the quality histograms only when `histograms` (every bundle
    has them; otherwise they are ignored, and they are most of the table's columns)."""
    return [
        name for name in names if name != "chrom" and (histograms or not is_histogram_column(name))
    ]


def variant_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A count table without its reference-only records (ALT `.`); the table itself
    (not a copy) when it has none."""
    reference = (table["alt"] == ".").to_numpy()
    return table[~reference] if reference.any() else table


def add_reference_calls(
    keys: pd.DataFrame,
    absent: np.ndarray,
    table: pd.DataFrame,
    totals: dict,
    group_index: dict[str, int],
    unknown: np.ndarray,
    piece_counted: dict[str, np.ndarray],
) -> np.ndarray:
    """Add the AN of a cohort's reference-only records (ALT `.`, PASS) to the panel
    sites the cohort has no record of (`absent`) that they cover; returns which sites
    got one (they are then not subject to the absent-site policy).

    A reference-only record at POS covers a site at the same POS whose REF is no
    longer than its own (it called every base of the site's REF allele, the rule
    of the callable BED); where several do, the first (longest REF) counts. A group
    piece the cohort's bundle withheld (null) is marked `unknown` where it is counted.
    """
    found = np.zeros(len(keys), dtype=bool)
    reference = table[(table["alt"] == ".") & ~table["filtered"].astype(bool)]
    if reference.empty or keys.empty:
        return found
    reference = reference.assign(ref_length=reference["ref"].str.len())
    reference = reference.sort_values(["pos", "ref_length"], ascending=[True, False])
    reference = reference.drop_duplicates("pos")
    sites = keys[["pos"]].assign(site_length=keys["ref"].str.len(), row=np.arange(len(keys)))
    joined = sites.merge(reference, on="pos", how="inner")
    joined = joined[(joined["ref_length"] >= joined["site_length"]) & absent[joined["row"]]]
    rows = joined["row"].to_numpy()
    for column in table.columns:
        if column in KEY or column in ("chrom", "filtered"):
            continue
        stat, level, group = parse_count_column(column)
        if stat == "AN":
            values = joined[column]
            withheld = rows[values.isna().to_numpy()]
            unknown[withheld[piece_counted[group][withheld]], group_index[group]] = True
            totals[(level, stat)][rows, group_index[group]] += values.fillna(0).to_numpy(np.int64)
    found[rows] = True
    return found


def counted_pieces(cohort: CohortCounts, ploidy_class: np.ndarray) -> dict[str, np.ndarray]:
    """Per group of the cohort: at which records some of its samples are counted (a
    withheld piece with none is a known zero, not an unknown)."""
    sizes = cohort.group_sizes or {}
    atoms = atoms_from_groups({cohort.label: sizes})
    pieces = {}
    for group in sizes:
        member = group_of_label(group, {cohort.label}, {a[1] for a in atoms})
        by_class = np.array(
            [
                any(
                    n > 0 and a[2] in counted_sexes(c) and member.contains(a)
                    for a, n in atoms.items()
                )
                for c in PLOIDY_CLASSES
            ]
        )
        pieces[group] = by_class[ploidy_class]
    return pieces


def heterogeneity_cells(disclosure, panel, patterns, which, annotations) -> dict[str, np.ndarray]:
    """Per population, the records where its cohort x population cells may enter the
    cross-country test. The p-value is a function of those cells' counts, so they are
    treated as published: a population enters only where adding its cells to the
    record's published groups lets no group under k be derived (europanel.disclosure)."""
    candidates = {
        p: sorted(c for c in panel.cohorts if annotations.cell_sizes.get((c, p), 0) >= 1)
        for p in panel.populations
    }
    safe = [set(disclosure.safe_cells(*key, candidates)) for key in patterns]
    return {
        p: np.array([p in allowed for allowed in safe], dtype=bool)[which]
        for p in panel.populations
    }


def add_site_annotations(
    records,
    ploidy_class,
    totals,
    overall,
    panel,
    policy,
    cohort_adj,
    histograms,
    annotations,
    published_at=None,
    heterogeneity_allowed=None,
) -> pd.DataFrame:
    """The records with sitestats' columns added and the InbreedingCoeff FILTER applied.
    Per-group values only where their group is published (`published_at(group)`: per
    record, from the disclosure control)."""
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
        published_at=published_at,
        heterogeneity_allowed=heterogeneity_allowed,
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
    contig, keys, totals, overall, panel, policy, called_by, filtered_by, shown=None
) -> pd.DataFrame:
    """Published columns, in the order of DESIGN §4.

    `shown` (records x panel.ordered() groups): which group is published at which
    record (europanel.disclosure); a withheld group's fields are null there, and
    faf/grpmax use the populations published at the record only."""
    index = {g: j for j, g in enumerate(panel.ordered())}
    if shown is None:
        shown = np.ones((len(keys), len(index)), dtype=bool)
    published = panel.published(policy.min_group_size)
    populations = [p for p in panel.populations if p in published]
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
    out["nhemi_raw"] = overall[("raw", "nhemi")]

    def masked(values: np.ndarray, g: str) -> pd.arrays.IntegerArray:
        """Integer counts, null at the records where `g` is withheld."""
        return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~shown[:, index[g]])

    for g in published:
        ac, an = totals[("adj", "AC")][:, index[g]], totals[("adj", "AN")][:, index[g]]
        out[f"AC_{g}"], out[f"AN_{g}"] = masked(ac, g), masked(an, g)
        out[f"AF_{g}"] = np.where(shown[:, index[g]], allele_frequency(ac, an), np.nan)
        out[f"nhomalt_{g}"] = masked(totals[("adj", "nhomalt")][:, index[g]], g)
        if g not in panel.populations and g not in panel.cohorts:
            # Sex and population x sex (gnomAD's faf95_XX, faf95_nfe_XY): group fields,
            # withheld with their group. Population fafs follow below (fafmax needs them).
            for name, confidence in FAF_CONFIDENCES.items():
                faf = filtering_allele_frequency(ac, an, confidence)
                out[f"{name}_{g}"] = np.where(shown[:, index[g]], faf, np.nan)
        # Per group, so an export can split AC into het/hom/hemi alleles (GDI, +fill-tags).
        out[f"nhemi_{g}"] = masked(totals[("adj", "nhemi")][:, index[g]], g)
    for name, confidence in FAF_CONFIDENCES.items():
        out[name] = filtering_allele_frequency(adj_ac, adj_an, confidence)
    for name, confidence in FAF_CONFIDENCES.items():
        for p in populations:
            faf = filtering_allele_frequency(
                totals[("adj", "AC")][:, index[p]], totals[("adj", "AN")][:, index[p]], confidence
            )
            out[f"{name}_{p}"] = np.where(shown[:, index[p]], faf, np.nan)
    for name in FAF_CONFIDENCES:
        if ranked:
            faf = np.nan_to_num(np.column_stack([out[f"{name}_{p}"] for p in ranked]), nan=0.0)
            best = faf.argmax(axis=1)
            has = faf.max(axis=1) > 0
            out[f"fafmax_{name}_max"] = np.where(has, faf.max(axis=1), np.nan)
            out[f"fafmax_{name}_max_gen_anc"] = np.where(has, np.array(ranked)[best], None)
    if ranked:
        columns = [index[p] for p in ranked]
        # A population withheld at a record does not compete for grpmax there.
        ac = np.where(shown[:, columns], totals[("adj", "AC")][:, columns], 0)
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
