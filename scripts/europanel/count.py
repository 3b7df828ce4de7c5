"""The numpy counting core: genotype blocks to per-group AC, AN, nhomalt, nhemi (DESIGN §2.3, §4).

The input is a block of biallelic records (after `bcftools norm -m -any`) as
dense arrays, variants x samples. Every step is a vectorised array operation,
and the reduction over samples into groups is one matrix product with a 0/1
membership matrix, so there is no Python loop over samples or groups.

Genotype encoding of a block (`alleles`, int8, variants x samples x 2):
allele index 0/1, MISSING (-1) for `.`, and HAPLOID_END (-2) in the second slot
when the VCF wrote a haploid call.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from europanel.regions import PLOIDY_BY_CLASS_AND_SEX, PLOIDY_CLASSES, PloidyMap
from europanel.sheets import cohort_groups, group_membership

MISSING = -1
HAPLOID_END = -2
INT32_MISSING = np.iinfo(np.int32).min  # htslib's missing integer
INT32_VECTOR_END = INT32_MISSING + 1  # htslib's end of a shorter vector

QC_LEVELS = ("raw", "adj")
STATS = ("AC", "AN", "nhomalt", "nhemi", "ncarrier")
SITE_COLUMNS = ["chrom", "pos", "ref", "alt", "filtered"]


@dataclass(frozen=True)
class GenotypeQC:
    """gnomAD's adj criteria. A criterion set to None is off (and needs no FORMAT field)."""

    min_gq: int | None = 20
    min_dp: int | None = 10
    min_dp_haploid: int | None = 5
    min_het_ab: float | None = 0.2

    def needed_fields(self) -> set[str]:
        fields = set()
        if self.min_gq is not None:
            fields.add("GQ")
        if self.min_dp is not None or self.min_dp_haploid is not None:
            fields.add("DP")
        if self.min_het_ab is not None:
            fields.add("AD")
        return fields


@dataclass
class Block:
    """Dense FORMAT arrays of a block of records (variants x samples)."""

    alleles: np.ndarray  # int8 (v, s, 2)
    dp: np.ndarray  # int32 (v, s), INT32_MISSING where absent
    gq: np.ndarray  # int32 (v, s)
    ad_ref: np.ndarray  # int32 (v, s)
    ad_alt: np.ndarray  # int32 (v, s)
    ploidy_class: np.ndarray  # int8 (v,)

    @classmethod
    def empty(cls, n_variants: int, n_samples: int) -> Block:
        def missing_ints():
            return np.full((n_variants, n_samples), INT32_MISSING, dtype=np.int32)

        return cls(
            alleles=np.full((n_variants, n_samples, 2), MISSING, dtype=np.int8),
            dp=missing_ints(),
            gq=missing_ints(),
            ad_ref=missing_ints(),
            ad_alt=missing_ints(),
            ploidy_class=np.zeros(n_variants, dtype=np.int8),
        )


def expected_ploidy(sexes: np.ndarray) -> np.ndarray:
    """Expected ploidy per (class, sample): int8 array (n_classes x samples)."""
    return np.array(
        [[PLOIDY_BY_CLASS_AND_SEX[c][s] for s in sexes] for c in PLOIDY_CLASSES], dtype=np.int8
    )


def genotype_calls(alleles: np.ndarray, ploidy: np.ndarray) -> dict[str, np.ndarray]:
    """Per-genotype facts (variants x samples), honouring the expected ploidy.

    Diploid expected: both alleles called, else missing (`./1` is missing; a
    haploid-written call is missing). Haploid expected (XY on non-PAR X/Y):
    `1` and `1/1` are the same call; a het there is missing. Ploidy 0: not counted.
    """
    first = alleles[..., 0].astype(np.int16)
    second = alleles[..., 1].astype(np.int16)
    written_haploid = second == HAPLOID_END
    diploid = ploidy == 2
    haploid = ploidy == 1
    diploid_called = diploid & (first >= 0) & (second >= 0)
    haploid_called = haploid & (first >= 0) & (written_haploid | (second == first))
    called = diploid_called | haploid_called
    alt_alleles = np.where(diploid_called, first + second, np.where(haploid_called, first, 0))
    return {
        "called": called,
        "alt_alleles": alt_alleles,
        "het": diploid_called & (first != second),
        "homalt": diploid_called & (first == 1) & (second == 1),
        "hemi": haploid_called & (first == 1),
    }


def adj_pass(block: Block, ploidy: np.ndarray, het: np.ndarray, qc: GenotypeQC) -> np.ndarray:
    """gnomAD adj: GQ, DP (haploid threshold for haploid calls) and het allele balance.

    Missing values fail the criteria that need them, as in Hail.
    """
    passed = np.ones(block.dp.shape, dtype=bool)
    if qc.min_gq is not None:
        passed &= block.gq >= qc.min_gq
    if qc.min_dp is not None or qc.min_dp_haploid is not None:
        diploid_min = qc.min_dp if qc.min_dp is not None else 0
        haploid_min = qc.min_dp_haploid if qc.min_dp_haploid is not None else diploid_min
        dp_min = np.where(ploidy == 1, haploid_min, diploid_min)
        passed &= (block.dp >= dp_min) & (block.dp != INT32_MISSING)
    if qc.min_het_ab is not None:
        ad_known = (block.ad_alt >= 0) & (block.ad_ref >= 0)
        ad_sum = np.where(ad_known, block.ad_ref.astype(np.int64) + block.ad_alt, 0)
        depth = np.where(block.dp >= 0, block.dp, ad_sum)
        balance_ok = (
            ad_known & (depth > 0) & (block.ad_alt >= qc.min_het_ab * np.maximum(depth, 1))
        )
        passed &= ~het | balance_ok
    return passed


def count_block(
    block: Block, ploidy_by_class: np.ndarray, membership: np.ndarray, qc: GenotypeQC
) -> dict[tuple[str, str], np.ndarray]:
    """Counts per (qc level, stat): int32 arrays (variants x groups)."""
    ploidy = ploidy_by_class[block.ploidy_class]  # (v, s)
    calls = genotype_calls(block.alleles, ploidy)
    adj = calls["called"] & adj_pass(block, ploidy, calls["het"], qc)
    per_genotype = []
    for keep in (calls["called"], adj):
        per_genotype += [
            np.where(keep, calls["alt_alleles"], 0),  # AC
            np.where(keep, ploidy, 0),  # AN
            keep & calls["homalt"],  # nhomalt
            keep & calls["hemi"],  # nhemi
            keep & (calls["alt_alleles"] > 0),  # ncarrier
        ]
    stacked = np.stack([a.astype(np.float32) for a in per_genotype])  # (k, v, s)
    # float32 sums of small integers are exact below 2**24 (8 million diploid samples).
    reduced = np.rint(stacked @ membership).astype(np.int32)  # (k, v, groups)
    keys = [(level, stat) for level in QC_LEVELS for stat in STATS]
    return dict(zip(keys, reduced))


def count_columns(groups: list[str]) -> list[str]:
    return [f"{stat}_{level}_{g}" for level in QC_LEVELS for stat in STATS for g in groups]


def parse_count_column(column: str) -> tuple[str, str, str]:
    """`AC_adj_NWE_XX` -> ('AC', 'adj', 'NWE_XX')."""
    stat, level, group = column.split("_", 2)
    return stat, level, group


@dataclass
class CountStats:
    """What happened to the records of one (cohort, chunk), for the QC report."""

    records: int = 0
    counted: int = 0
    filtered: int = 0
    symbolic: int = 0
    blocks: int = 0
    by_type: dict[str, int] = field(default_factory=lambda: {"SNV": 0, "indel": 0, "other": 0})


def variant_type(ref: str, alt: str) -> str:
    if len(ref) == 1 and len(alt) == 1:
        return "SNV"
    if len(ref) != len(alt):
        return "indel"
    return "other"


def is_symbolic(alt: str) -> bool:
    """Symbolic alleles and spanning deletions are not counted (DESIGN §4)."""
    return alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt


def fill_format(block: Block, row: int, variant, n_samples: int) -> None:
    """Copy one cyvcf2 record's GT, DP, GQ and AD into row `row` of the block."""
    gt = variant.format("GT", int)  # raw BCF encoding: (allele + 1) << 1 | phased
    if gt is not None:
        alleles = (gt[:, :2] >> 1) - 1
        alleles[gt[:, :2] == INT32_VECTOR_END] = HAPLOID_END
        block.alleles[row, :, 0] = alleles[:, 0]
        block.alleles[row, :, 1] = alleles[:, 1] if alleles.shape[1] == 2 else HAPLOID_END
    for name, target in (("DP", block.dp), ("GQ", block.gq)):
        values = variant.format(name)
        target[row] = values[:, 0] if values is not None else INT32_MISSING
    ad = variant.format("AD")
    if ad is not None and ad.shape[1] >= 2:
        block.ad_ref[row] = ad[:, 0]
        block.ad_alt[row] = ad[:, 1]
    else:
        block.ad_ref[row] = INT32_MISSING
        block.ad_alt[row] = INT32_MISSING


def record_total(bcf: str) -> int:
    """Records in an indexed BCF, from its index (no decoding): the progress denominator."""
    import pysam
    from pysam import bcftools

    try:
        return int(bcftools.index("-n", bcf))
    except pysam.utils.SamtoolsError:  # no index: progress is shown without a total
        return 0


def count_bcf(
    bcf: str,
    samples: pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    block_size: int = 10_000,
    log=sys.stderr,
) -> tuple[pd.DataFrame, CountStats]:
    """Count one cohort's normalised BCF: one row per record, filtered records flagged."""
    from cyvcf2 import VCF

    total_blocks = -(-record_total(bcf) // block_size)
    reader = VCF(bcf, lazy=True, threads=1)
    order = pd.Index(samples["sample"]).get_indexer(reader.samples)
    if (order < 0).any():
        unknown = [s for s, i in zip(reader.samples, order) if i < 0][:5]
        raise ValueError(f"{bcf}: samples not in the sample sheet: {', '.join(unknown)}")
    samples = samples.iloc[order].reset_index(drop=True)
    groups = cohort_groups(samples)
    membership = group_membership(samples, groups)
    ploidy_by_class = expected_ploidy(samples["sex"].to_numpy())
    n_samples = len(samples)
    stats = CountStats()

    sites: list[tuple[str, int, str, str, bool]] = []
    counted_rows: list[int] = []
    parts: list[dict] = []
    block = Block.empty(block_size, n_samples)
    filled = 0

    def flush():
        nonlocal block, filled
        if filled == 0:
            return
        view = Block(
            block.alleles[:filled], block.dp[:filled], block.gq[:filled],
            block.ad_ref[:filled], block.ad_alt[:filled], block.ploidy_class[:filled],
        )
        positions = np.array([sites[i][1] for i in counted_rows[-filled:]])
        view.ploidy_class[:] = ploidy_map.classes(sites[counted_rows[-1]][0], positions)
        parts.append(count_block(view, ploidy_by_class, membership, qc))
        stats.blocks += 1
        print(f"blocks done {stats.blocks} / {total_blocks} ({stats.records} records read)",
              file=log, flush=True)
        block = Block.empty(block_size, n_samples)
        filled = 0

    for variant in reader:
        stats.records += 1
        if len(variant.ALT) != 1:
            raise ValueError(f"{bcf}: record at {variant.CHROM}:{variant.POS} is not biallelic")
        alt = variant.ALT[0]
        if is_symbolic(alt):
            stats.symbolic += 1
            continue
        filtered = variant.FILTER is not None  # cyvcf2 gives None for PASS and '.'
        sites.append((variant.CHROM, variant.POS, variant.REF, alt, filtered))
        if filtered:
            stats.filtered += 1
            continue
        stats.counted += 1
        stats.by_type[variant_type(variant.REF, alt)] += 1
        counted_rows.append(len(sites) - 1)
        fill_format(block, filled, variant, n_samples)
        filled += 1
        if filled == block_size:
            flush()
    flush()

    table = pd.DataFrame(sites, columns=SITE_COLUMNS)
    table = table.astype({"pos": np.int64, "filtered": bool})  # typed even when empty
    columns = count_columns(groups)
    values = np.zeros((len(table), len(columns)), dtype=np.int32)
    if parts:
        stacked = np.concatenate(
            [np.concatenate([p[(lvl, st)] for lvl in QC_LEVELS for st in STATS], axis=1)
             for p in parts]
        )
        values[counted_rows] = stacked
    table = pd.concat([table, pd.DataFrame(values, columns=columns)], axis=1)
    return table, stats


def write_counts(table: pd.DataFrame, stats: CountStats, parquet: str, stats_json: str) -> None:
    """Write both outputs; each appears at its final path only when complete."""
    partial = f"{parquet}.partial"
    table.to_parquet(partial, index=False)
    os.replace(partial, parquet)
    partial = f"{stats_json}.partial"
    Path(partial).write_text(json.dumps(stats.__dict__, indent=1, sort_keys=True) + "\n")
    os.replace(partial, stats_json)
