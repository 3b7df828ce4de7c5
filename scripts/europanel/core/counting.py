"""The numpy counting core: genotype blocks to per-group AC, AN, nhomalt, nhemi (DESIGN §2.3, §4).

The input is a block of biallelic records (after `bcftools norm -m -any`) as
dense arrays, variants x samples, filled by `europanel.io.bcf` straight from the
BCF's bytes (no Python call per record or per field). Counting a block takes a
few vectorised passes and no Python loop over samples, groups or records:

1. each genotype's *class* (not counted, 0/0, 0/1, 1/1, haploid 0, haploid 1)
   by one lookup in a table indexed by its two allele bytes, one table per
   expected ploidy (so `./1` is missing, and an XY `1/1` on non-PAR X is `1`);
2. adj (gnomAD's genotype QC) from GQ and DP, and for hets the allele balance;
3. one histogram (`np.bincount`) of (variant, cell, adj, class), where a cell
   is the set of samples that are in exactly the same groups (a cohort's
   `NWE` `XX` samples, say);
4. AC, AN, nhomalt, nhemi and ncarrier are fixed integer combinations of the
   class counts (CLASS_STATS), and each group is a sum of cells: two small
   integer matrix products. Counts are exact integers; only the allele balance
   is a float64 ratio, AD(alt) / DP, compared as DESIGN §4 states it.

Genotype encoding of a block (`alleles`, int8, variants x samples x 2):
allele index 0/1, MISSING (-1) for `.`, and HAPLOID_END (-2) in the second slot
when the VCF wrote a haploid call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from europanel.core.histograms import block_histograms, histogram_columns
from europanel.core.regions import PLOIDY_CLASSES, counted_ploidy

MISSING = -1
HAPLOID_END = -2
INT32_MISSING = np.iinfo(np.int32).min  # htslib's missing integer
INT32_VECTOR_END = INT32_MISSING + 1  # htslib's end of a shorter vector

FORMAT_FIELDS = ("GT", "AD", "DP", "GQ")  # all that counting can use
QC_LEVELS = ("raw", "adj")
STATS = ("AC", "AN", "nhomalt", "nhemi", "ncarrier")
SITE_COLUMNS = ["chrom", "pos", "ref", "alt", "filtered"]

# Genotype classes, and what one genotype of each class adds to each of STATS.
NOT_COUNTED, HOM_REF, HET, HOM_ALT, HEMI_REF, HEMI_ALT, BAD_ALLELE = range(7)
N_CLASSES = 7
CLASS_STATS = np.array(
    [  # AC AN nhomalt nhemi ncarrier
        [0, 0, 0, 0, 0],  # not counted: missing, half-missing, het where haploid, ploidy 0
        [0, 2, 0, 0, 0],  # 0/0
        [1, 2, 0, 0, 1],  # 0/1
        [2, 2, 1, 0, 1],  # 1/1
        [0, 1, 0, 0, 0],  # haploid 0 (written `0` or `0/0`)
        [1, 1, 0, 1, 1],  # haploid 1 (written `1` or `1/1`)
        [0, 0, 0, 0, 0],  # an allele index above 1 in a biallelic record: an error
    ],
    dtype=np.int64,
)
# Each class's state in the quality histograms (core.histograms): not a call (0), a call without
# the alt allele (1), a hom-alt or hemizygous alt (2), a het (3).
HIST_STATE = np.where(CLASS_STATS[:, 0] > 0, 2, np.where(CLASS_STATS[:, 1] > 0, 1, 0))
HIST_STATE = (HIST_STATE + (np.arange(len(CLASS_STATS)) == HET)).astype(np.uint8)
# Genotypes per counting pass: small enough for the temporaries to stay in cache.
PASS_GENOTYPES = 1 << 18


@dataclass(frozen=True)
class GenotypeQC:
    """gnomAD's adj criteria (values from the config's `genotype_qc`, whose schema has
    gnomAD's 20, 10, 5, 0.2 as defaults). A criterion set to None is off (and needs no
    FORMAT field)."""

    min_gq: int | None
    min_dp: int | None
    min_dp_haploid: int | None
    min_het_ab: float | None

    def read_fields(self, histograms: bool) -> frozenset[str]:
        """The FORMAT fields counting reads: GT, what the enabled criteria use (the allele
        balance divides by DP where present), all of them for the quality histograms."""
        if histograms:
            return frozenset(FORMAT_FIELDS)
        used = {"GT"} | self.needed_fields()
        if self.min_het_ab is not None:
            used.add("DP")
        return frozenset(used)

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
    dp: np.ndarray  # int32 or int16 (v, s), negative where missing (INT32_MISSING, or narrower)
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

    @classmethod
    def allocate(
        cls,
        n_variants: int,
        n_samples: int,
        ints=np.int32,
        fields: frozenset[str] = frozenset(FORMAT_FIELDS),
    ) -> Block:
        """A block with room for `n_variants` records, its values not yet set (fill_block sets
        every value of the rows it fills; no page is touched before then).

        `ints` may be int16 when the BCF stores DP, GQ and AD in 8 or 16 bits (counting
        takes any negative value as missing, so narrower sentinels work as they are).
        A FORMAT field not in `fields` (not read: no enabled criterion uses it) is a
        read-only all-missing view that takes no memory.
        """

        def ints_array(name):
            if name in fields:
                return np.empty((n_variants, n_samples), dtype=ints)
            return np.broadcast_to(np.array(-1, dtype=ints), (n_variants, n_samples))

        return cls(
            np.empty((n_variants, n_samples, 2), dtype=np.int8),
            ints_array("DP"),
            ints_array("GQ"),
            ints_array("AD"),
            ints_array("AD"),
            np.zeros(n_variants, dtype=np.int8),
        )

    def rows(self, rows) -> Block:
        """The block's records `rows` (a slice gives views, an index array copies)."""
        return Block(
            self.alleles[rows],
            self.dp[rows],
            self.gq[rows],
            self.ad_ref[rows],
            self.ad_alt[rows],
            self.ploidy_class[rows],
        )


def expected_ploidy(sexes: np.ndarray) -> np.ndarray:
    """Expected ploidy per (class, sample): int8 array (n_classes x samples)."""
    return np.array([[counted_ploidy(c, s) for s in sexes] for c in PLOIDY_CLASSES], dtype=np.int8)


def class_table(ploidy: int) -> np.ndarray:
    """Genotype class of every pair of allele bytes, for one expected ploidy.

    uint8[65536], indexed by the pair (first, second) read as one
    little-endian uint16. Diploid expected: both alleles called, else not
    counted (`./1`, and a haploid-written call). Haploid expected (XY on
    non-PAR X/Y): `1` and `1/1` are the same call; a het there is not counted.
    Ploidy 0: never counted.
    """
    pair = np.arange(1 << 16)
    first = (pair & 0xFF).astype(np.uint8).view(np.int8).astype(np.int16)
    second = (pair >> 8).astype(np.uint8).view(np.int8).astype(np.int16)
    classes = np.full(1 << 16, NOT_COUNTED, dtype=np.uint8)
    if ploidy == 2:
        called = (first >= 0) & (second >= 0)
        classes[called & (first == 0) & (second == 0)] = HOM_REF
        classes[called & (first != second)] = HET
        classes[called & (first == 1) & (second == 1)] = HOM_ALT
    elif ploidy == 1:
        called = (first >= 0) & ((second == HAPLOID_END) | (second == first))
        classes[called & (first == 0)] = HEMI_REF
        classes[called & (first == 1)] = HEMI_ALT
    if ploidy > 0:
        classes[(first > 1) | (second > 1)] = BAD_ALLELE
    return classes


CLASS_TABLES = {ploidy: class_table(ploidy) for ploidy in (0, 1, 2)}


def genotype_classes(alleles: np.ndarray, ploidy: np.ndarray) -> np.ndarray:
    """Class of each genotype (variants x samples, uint8) given each sample's expected
    ploidy (s,)."""
    pairs = np.ascontiguousarray(alleles).view("<u2")[..., 0]
    values = np.unique(ploidy)
    if len(values) == 1:
        return np.take(CLASS_TABLES[int(values[0])], pairs)
    classes = np.empty(pairs.shape, dtype=np.uint8)
    for value in values:
        columns = np.flatnonzero(ploidy == value)
        classes[:, columns] = CLASS_TABLES[int(value)][pairs[:, columns]]
    return classes


def adj_pass(block: Block, ploidy: np.ndarray, het: np.ndarray, qc: GenotypeQC) -> np.ndarray:
    """gnomAD adj (DESIGN §4): GQ, DP (min_dp_haploid for haploid calls), het allele balance.

    `ploidy` is the expected ploidy, per genotype (v x s) or per sample (s).
    A criterion set to None is off; a missing value (any negative number)
    fails a criterion that needs it, as in Hail. Allele balance: AD(alt) / DP,
    with the sum of AD standing in where DP is missing.
    """
    passed = np.ones(block.dp.shape, dtype=bool)
    if qc.min_gq is not None:
        passed &= block.gq >= max(qc.min_gq, 0)
    if qc.min_dp is not None or qc.min_dp_haploid is not None:
        # Per-sample DP threshold; an off criterion lets everything (even a missing DP) pass.
        def threshold(value):
            return np.iinfo(np.int32).min if value is None else min(max(value, 0), 2**31 - 1)

        dp_min = np.where(ploidy == 1, threshold(qc.min_dp_haploid), threshold(qc.min_dp))
        passed &= block.dp >= dp_min.astype(np.int32)
    if qc.min_het_ab is not None:
        hets = np.flatnonzero(het)  # only hets are held to the allele balance
        ad_ref, ad_alt, dp = (a.reshape(-1)[hets] for a in (block.ad_ref, block.ad_alt, block.dp))
        ad_sum = np.where(ad_ref >= 0, ad_ref.astype(np.int64) + ad_alt, -1)
        depth = np.where(dp >= 0, dp, ad_sum)
        balance_ok = (ad_alt >= 0) & (depth > 0)
        balance_ok &= ad_alt / np.maximum(depth, 1) >= qc.min_het_ab
        passed.reshape(-1)[hets[~balance_ok]] = False
    return passed


def count_block(
    block: Block,
    ploidy_by_class: np.ndarray,
    membership: np.ndarray,
    qc: GenotypeQC,
    histograms: bool = False,
) -> dict[tuple[str, str], np.ndarray]:
    """Counts per (qc level, stat): int32 arrays (variants x groups); with `histograms`,
    also ("raw", "hist"): the block's quality histograms (histograms.histogram_columns)."""
    n_variants, n_samples = block.dp.shape
    cells, cell_of_sample = np.unique(membership != 0, axis=0, return_inverse=True)
    n_codes = 2 * N_CLASSES  # (adj, class)
    histogram = np.zeros((n_variants, len(cells), 2, N_CLASSES), dtype=np.int64)
    if histograms:
        quality = np.zeros((n_variants, len(histogram_columns())), dtype=np.int64)
    step = max(1, PASS_GENOTYPES // max(1, n_samples))
    # Histogram index of (row within the pass, cell) for code 0; a genotype adds its code.
    base = (
        np.arange(step)[:, None] * (len(cells) * n_codes) + cell_of_sample.reshape(1, -1) * n_codes
    )
    for ploidy_class in np.unique(block.ploidy_class):
        ploidy = ploidy_by_class[ploidy_class]  # per sample
        rows = np.flatnonzero(block.ploidy_class == ploidy_class)
        contiguous = len(rows) == rows[-1] - rows[0] + 1
        for start in range(0, len(rows), step):
            if contiguous:
                selected = slice(rows[0] + start, rows[0] + min(start + step, len(rows)))
            else:
                selected = rows[start : start + step]
            part = block.rows(selected)
            n = len(part.dp)
            classes = genotype_classes(part.alleles, ploidy)
            adj = adj_pass(part, ploidy, classes == HET, qc)
            codes = classes + adj.view(np.uint8) * np.uint8(N_CLASSES)
            index = base[:n] + codes
            counts = np.bincount(index.ravel(), minlength=n * len(cells) * n_codes)
            histogram[selected] = counts.reshape(n, len(cells), 2, N_CLASSES)
            if histograms:
                quality[selected] = block_histograms(
                    np.take(HIST_STATE, classes),
                    part.gq,
                    part.dp,
                    part.ad_ref,
                    part.ad_alt,
                )
    if histogram[..., BAD_ALLELE].any():
        raise ValueError("a genotype has an allele index above 1 in a biallelic record")
    by_level = {"raw": histogram.sum(axis=2), "adj": histogram[:, :, 1]}
    in_group = (cells != 0).astype(np.int64)  # cells x groups
    result = {}
    for level in QC_LEVELS:
        per_cell = by_level[level] @ CLASS_STATS  # (v, cells, stats)
        per_group = per_cell.transpose(2, 0, 1) @ in_group  # (stats, v, groups)
        for k, stat in enumerate(STATS):
            result[(level, stat)] = per_group[k].astype(np.int32)
    if histograms:
        result[("raw", "hist")] = quality.astype(np.int32)
    return result


def count_columns(groups: list[str]) -> list[str]:
    return [f"{stat}_{level}_{g}" for level in QC_LEVELS for stat in STATS for g in groups]


def parse_count_column(column: str) -> tuple[str, str, str]:
    """`AC_adj_NWE_XX` -> ('AC', 'adj', 'NWE_XX')."""
    stat, level, group = column.split("_", 2)
    return stat, level, group
