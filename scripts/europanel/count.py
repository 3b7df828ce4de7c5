"""The numpy counting core: genotype blocks to per-group AC, AN, nhomalt, nhemi (DESIGN §2.3, §4).

The input is a block of biallelic records (after `bcftools norm -m -any`) as
dense arrays, variants x samples, filled by `europanel.bcf` straight from the
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

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from europanel.core.regions import PLOIDY_CLASSES, PloidyMap, counted_ploidy
from europanel.io.sheets import InputError, cohort_groups, group_membership
from europanel.sitestats import block_histograms, histogram_columns

MISSING = -1
HAPLOID_END = -2
INT32_MISSING = np.iinfo(np.int32).min  # htslib's missing integer
INT32_VECTOR_END = INT32_MISSING + 1  # htslib's end of a shorter vector

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
# Each class's state in the quality histograms (sitestats): not a call (0), a call without
# the alt allele (1), a hom-alt or hemizygous alt (2), a het (3).
HIST_STATE = np.where(CLASS_STATS[:, 0] > 0, 2, np.where(CLASS_STATS[:, 1] > 0, 1, 0))
HIST_STATE = (HIST_STATE + (np.arange(len(CLASS_STATS)) == HET)).astype(np.uint8)
# Genotypes per counting pass: small enough for the temporaries to stay in cache.
PASS_GENOTYPES = 1 << 18


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
    def allocate(cls, n_variants: int, n_samples: int, ints=np.int32) -> Block:
        """A block with room for `n_variants` records, its values not yet set (fill_block sets
        every value of the rows it fills; no page is touched before then).

        `ints` may be int16 when the BCF stores DP, GQ and AD in 8 or 16 bits (counting
        takes any negative value as missing, so narrower sentinels work as they are).
        """

        def ints_array():
            return np.empty((n_variants, n_samples), dtype=ints)

        return cls(
            np.empty((n_variants, n_samples, 2), dtype=np.int8),
            ints_array(),
            ints_array(),
            ints_array(),
            ints_array(),
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


def genotype_calls(alleles: np.ndarray, ploidy: np.ndarray) -> dict[str, np.ndarray]:
    """Per-genotype facts (variants x samples), honouring the expected ploidy (v x s, or s)."""
    pairs = np.ascontiguousarray(alleles).view("<u2")[..., 0]
    ploidy = np.broadcast_to(ploidy, pairs.shape)
    classes = np.empty(pairs.shape, dtype=np.uint8)
    for value in np.unique(ploidy):
        where = ploidy == value
        classes[where] = CLASS_TABLES[int(value)][pairs[where]]
    stats = CLASS_STATS[classes]
    return {
        "called": stats[..., 1] > 0,
        "alt_alleles": stats[..., 0],
        "het": classes == HET,
        "homalt": classes == HOM_ALT,
        "hemi": classes == HEMI_ALT,
    }


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
    also ("raw", "hist"): the block's quality histograms (sitestats.histogram_columns)."""
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


@dataclass
class CountStats:
    """What happened to the records of one (cohort, chunk), for the QC report."""

    records: int = 0
    counted: int = 0
    filtered: int = 0
    symbolic: int = 0
    # Counted records with ALT `.` (reference calls only: they add AN, never a site).
    reference_only: int = 0
    # Calls written haploid where a diploid call is expected (autosomes, PAR, XX on
    # non-PAR X): counted as missing (DESIGN §4).
    haploid_in_diploid: int = 0
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


def fill_block(block: Block, records) -> None:
    """Set every value of the first `len(records)` rows of `block` from a
    `europanel.bcf.RecordBlock`.

    GT becomes the block's allele codes; DP, GQ and AD are widened to int32
    from how the BCF stores them (int8/int16/int32), their missing and
    vector-end sentinels staying negative. A record without a field gets
    missing values for it.
    """
    n = len(records)
    fill_alleles(block.alleles[:n], records.fields.get("GT", []))
    for name, target in (("DP", block.dp), ("GQ", block.gq)):
        fill_ints(target[:n], records.fields.get(name, []), 0)
    fill_ints(block.ad_ref[:n], records.fields.get("AD", []), 0)
    fill_ints(block.ad_alt[:n], records.fields.get("AD", []), 1)


def copy_ints(target: np.ndarray, values: np.ndarray) -> None:
    """Stored integers into the block's (wider or equal) integers. htslib's sentinels (missing,
    vector end) are negative in every width and stay negative: counting takes any negative
    value as missing."""
    if values.dtype.kind == "f":  # a FORMAT field declared Float
        target[...] = np.iinfo(target.dtype).min
        known = np.isfinite(values)
        target[known] = values[known]
    else:
        np.copyto(target, values, casting="unsafe")


def fill_alleles(target: np.ndarray, pieces) -> None:
    """GT of each piece into `target` (records x samples x 2), in the block's allele codes.

    BCF stores an allele as (index + 1) << 1 | phased, 0 for a missing allele,
    and pads a haploid call in a diploid record with the vector-end sentinel.
    """
    if not pieces or sum(len(p.rows) for p in pieces) < len(target):
        target[...] = MISSING
    for piece in pieces:
        rows = _rows(piece.rows)
        stored = piece.values[:, :, :2]
        if stored.shape[2] == 0:
            continue
        if stored.dtype.kind == "f":
            raise ValueError("FORMAT/GT is stored as numbers with a fraction: not a genotype")
        alleles = (stored >> 1) - 1
        negative = stored < 0  # htslib's sentinels: missing, or vector end (haploid)
        if negative.any():
            vector_end = np.iinfo(stored.dtype).min + 1
            alleles[negative] = np.where(stored[negative] == vector_end, HAPLOID_END, MISSING)
        target[rows, :, : alleles.shape[2]] = alleles
        if alleles.shape[2] == 1:  # every sample of the record is haploid
            target[rows, :, 1] = HAPLOID_END


def fill_ints(target: np.ndarray, pieces, index: int) -> None:
    """Value `index` of each sample's vector (e.g. AD's alt depth) into `target`
    (records x samples)."""
    missing = np.iinfo(target.dtype).min
    if not pieces or sum(len(p.rows) for p in pieces) < len(target):
        target[...] = missing
    for piece in pieces:
        rows = _rows(piece.rows)
        if piece.values.shape[2] <= index:
            target[rows] = missing
        elif isinstance(rows, slice):
            copy_ints(target[rows], piece.values[:, :, index])
        else:
            part = np.empty((len(rows), target.shape[1]), dtype=target.dtype)
            copy_ints(part, piece.values[:, :, index])
            target[rows] = part


def _rows(rows: np.ndarray):
    """The rows of a piece as a slice when they are consecutive (no copy on assignment)."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def count_bcf_blocks(
    bcf: str,
    samples: pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    block_size: int = 10_000,
    log=sys.stderr,
    stats: CountStats | None = None,
    histograms: bool = False,
):
    """Count one cohort's normalised BCF block by block.

    Yields (groups, table) per block of records, the table a pyarrow Table:
    one row per record that is not symbolic (filtered records flagged, with
    zero counts). `stats` is updated as blocks are read. Memory is bounded by
    the block size.
    """
    from europanel.bcf import BcfReader

    stats = stats if stats is not None else CountStats()
    total_blocks = -(-record_total(bcf) // block_size)
    reader = BcfReader(bcf)
    order = pd.Index(samples["sample"]).get_indexer(reader.samples)
    if (order < 0).any():
        unknown = [s for s, i in zip(reader.samples, order) if i < 0][:5]
        raise ValueError(f"{bcf}: samples not in the sample sheet: {', '.join(unknown)}")
    samples = samples.iloc[order].reset_index(drop=True)
    # What a message about a record names: the user's input, through its cohort.
    cohorts = sorted(set(samples["cohort"]))
    source = f"cohort {', '.join(cohorts)}'s input (normalised as {bcf})"
    groups = cohort_groups(samples)
    membership = group_membership(samples, groups)
    ploidy_by_class = expected_ploidy(samples["sex"].to_numpy())
    columns = count_columns(groups) + (histogram_columns() if histograms else [])
    # DP, GQ and AD are nearly always stored in 8 or 16 bits: a 16-bit block halves the
    # memory each block touches; it widens to 32 bits for good at the first record that needs it.
    block = Block.allocate(block_size, len(samples), np.int16)

    for records in reader.blocks(block_size):
        n = len(records)
        if block.dp.dtype != np.int32 and needs_int32(records):
            block = Block.allocate(block_size, len(samples), np.int32)
        contig_ids = np.unique(records.chrom)
        unknown = [int(c) for c in contig_ids if int(c) not in reader.contigs]
        if unknown:
            raise ValueError(f"{bcf}: a record's contig (number {unknown[0]}) has no ##contig line")
        not_biallelic = np.flatnonzero(records.n_allele > 2)
        if len(not_biallelic):
            i = not_biallelic[0]
            raise ValueError(
                f"{bcf}: record at {reader.contigs[int(records.chrom[i])]}:"
                f"{records.pos[i]} is not biallelic"
            )
        # A record with ALT `.` (one allele) holds reference calls: counted for AN only.
        reference_only = records.n_allele < 2
        check_ploidy_at_most_two(source, records, reader)
        kinds = allele_kinds(records.ref, records.alt)
        kinds[reference_only] = "reference"
        symbolic = kinds == "symbolic"
        counted = ~symbolic & ~records.filtered
        view = block.rows(slice(0, n))
        fill_block(view, records)
        check_allele_indices(source, view.alleles, reference_only, records, reader)
        for contig_id in contig_ids:
            on_contig = records.chrom == contig_id
            view.ploidy_class[on_contig] = ploidy_map.classes(
                reader.contigs[int(contig_id)], records.pos[on_contig]
            )
        counts = count_block(view, ploidy_by_class, membership, qc, histograms)
        parts = [counts[(lvl, st)] for lvl in QC_LEVELS for st in STATS]
        values = np.concatenate(parts + ([counts[("raw", "hist")]] if histograms else []), axis=1)
        values[~counted] = 0

        stats.records += n
        stats.symbolic += int(symbolic.sum())
        stats.filtered += int((records.filtered & ~symbolic).sum())
        stats.counted += int(counted.sum())
        stats.reference_only += int((counted & reference_only).sum())
        stats.haploid_in_diploid += haploid_in_diploid(view, ploidy_by_class, counted)
        for kind in stats.by_type:
            stats.by_type[kind] += int((kinds[counted] == kind).sum())
        stats.blocks += 1
        print(
            f"blocks done {stats.blocks} / {total_blocks} ({stats.records} records read)",
            file=log,
            flush=True,
        )
        kept = np.flatnonzero(~symbolic)
        yield groups, site_table(records, kept, reader.contigs, values[kept], columns)


def record_name(records, reader, row: int) -> str:
    return f"{reader.contigs[int(records.chrom[row])]}:{records.pos[row]}"


def check_ploidy_at_most_two(source: str, records, reader) -> None:
    """Refuse a genotype with more than two alleles (`0/0/1/0`): counting it as diploid
    would silently drop alleles, and the panel's definitions are for ploidy 1 and 2."""
    for piece in records.fields.get("GT", []):
        if piece.values.shape[2] <= 2:
            continue
        beyond = piece.values[:, :, 2:]
        vector_end = np.iinfo(beyond.dtype).min + 1
        polyploid = (beyond != vector_end).any(axis=2)
        if polyploid.any():
            row, sample = np.argwhere(polyploid)[0]
            raise InputError(
                f"{source}: record {record_name(records, reader, piece.rows[row])}, sample "
                f"{reader.samples[sample]}: a genotype of ploidy "
                f"{int((piece.values[row, sample] != vector_end).sum())} (more than 2 alleles); "
                "the panel counts haploid and diploid calls only: set such genotypes to "
                "missing (e.g. `bcftools +setGT` on the input) or leave those samples out of "
                "the sample sheet"
            )


def check_allele_indices(source: str, alleles: np.ndarray, reference_only, records, reader) -> None:
    """A GT allele index beyond the record's ALTs (`1` where ALT is `.`, `2` in a
    biallelic record) is a damaged call: named, never counted."""
    # Fast path first (one flat reduction): no index above 1, and none above 0 where ALT is `.`.
    if alleles.max(initial=MISSING) <= 1 and not (
        reference_only.any() and alleles[reference_only].max(initial=MISSING) > 0
    ):
        return
    highest = np.where(reference_only, 0, 1).astype(np.int8)
    bad = alleles.max(axis=2) > highest[:, None]
    if bad.any():
        row, sample = np.argwhere(bad)[0]
        raise InputError(
            f"{source}: record {record_name(records, reader, row)}, sample "
            f"{reader.samples[sample]}: GT allele {int(alleles[row, sample].max())} but the "
            f"record has {int(records.n_allele[row]) - 1} ALT allele(s); fix the genotype "
            "in the input (or set it to missing, e.g. `bcftools +setGT`)"
        )


def haploid_in_diploid(block: Block, ploidy_by_class: np.ndarray, rows: np.ndarray) -> int:
    """Calls written haploid in the block's `rows` (bool mask) where a diploid call is
    expected: counted as missing, so they are reported (DESIGN §4)."""
    # A called first allele (0..127) with HAPLOID_END second is the uint16 pair
    # 0xFE00..0xFE7F: one subtraction and compare on the contiguous pairs.
    pairs = np.ascontiguousarray(block.alleles).view("<u2")[..., 0]
    haploid = (pairs - np.uint16(0xFE00)) <= np.uint16(0x7F)
    if not haploid.any():
        return 0
    haploid &= rows[:, None]
    return int((haploid & (ploidy_by_class[block.ploidy_class] == 2)).sum())


def needs_int32(records) -> bool:
    """Whether a block's DP, GQ or AD is stored in 32 bits (or as floats)."""
    return any(
        piece.values.dtype.itemsize > 2 or piece.values.dtype.kind == "f"
        for name in ("DP", "GQ", "AD")
        for piece in records.fields.get(name, [])
    )


def allele_kinds(ref, alt) -> np.ndarray:
    """Per record: 'SNV', 'indel', 'other' (as `variant_type`) or 'symbolic' (as `is_symbolic`).

    `ref` and `alt` are pyarrow string arrays; vectorised over the block.
    """
    import pyarrow.compute as pc

    ref_length = pc.utf8_length(ref).to_numpy(zero_copy_only=False)
    alt_length = pc.utf8_length(alt).to_numpy(zero_copy_only=False)
    kinds = np.where(
        (ref_length == 1) & (alt_length == 1),
        "SNV",
        np.where(ref_length != alt_length, "indel", "other"),
    ).astype(object)
    symbolic = pc.or_(
        pc.or_(pc.starts_with(alt, "<"), pc.equal(alt, "*")),
        pc.or_(pc.match_substring(alt, "["), pc.match_substring(alt, "]")),
    )
    kinds[symbolic.to_numpy(zero_copy_only=False)] = "symbolic"
    return kinds


def site_table(
    records, rows: np.ndarray, contigs: dict[int, str], counts: np.ndarray, columns: list[str]
):
    """The count table of a block's `rows` (a pyarrow Table): site columns, then counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    take = pa.array(rows)
    numbers = sorted(contigs)
    names = pa.array([contigs[i] for i in numbers], type=pa.large_string())
    site = {
        "chrom": names.take(pa.array(np.searchsorted(numbers, records.chrom[rows]))),
        "pos": pa.array(records.pos[rows].astype(np.int64)),
        "ref": records.ref.take(take),
        # ALT `.` of a reference-only record (stored as no ALT allele).
        "alt": pc.if_else(pc.equal(records.alt.take(take), ""), ".", records.alt.take(take)),
        "filtered": pa.array(records.filtered[rows].astype(bool)),
    }
    counts = np.ascontiguousarray(counts.T)  # one contiguous row per column
    return pa.Table.from_arrays(
        [*site.values(), *(pa.array(c) for c in counts)], names=[*site, *columns]
    )


def empty_count_table(groups: list[str], histograms: bool = False) -> pd.DataFrame:
    """A count table without rows, typed as a full one."""
    table = pd.DataFrame(
        {
            "chrom": pd.array([], dtype="str"),
            "pos": np.array([], np.int64),
            "ref": pd.array([], dtype="str"),
            "alt": pd.array([], dtype="str"),
            "filtered": np.array([], bool),
        }
    )
    columns = count_columns(groups) + (histogram_columns() if histograms else [])
    counts = pd.DataFrame(np.zeros((0, len(columns)), np.int32), columns=columns)
    return pd.concat([table, counts], axis=1)


def count_bcf(
    bcf: str,
    samples: pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    block_size: int = 10_000,
    log=sys.stderr,
) -> tuple[pd.DataFrame, CountStats]:
    """Count one cohort's normalised BCF: one row per record, filtered records flagged."""
    import pyarrow as pa

    stats = CountStats()
    tables = [t for _, t in count_bcf_blocks(bcf, samples, ploidy_map, qc, block_size, log, stats)]
    if not tables:
        return empty_count_table(_bcf_groups(bcf, samples)), stats
    return pa.concat_tables(tables).to_pandas(), stats


def _bcf_groups(bcf: str, samples: pd.DataFrame) -> list[str]:
    """The groups of the BCF's samples (for an empty count table)."""
    from europanel.bcf import BcfReader

    order = pd.Index(samples["sample"]).get_indexer(BcfReader(bcf).samples)
    return cohort_groups(samples.iloc[order[order >= 0]].reset_index(drop=True))


def count_bcf_to_parquet(
    bcf: str,
    samples: pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    parquet: str,
    stats_json: str,
    block_size: int = 10_000,
    log=sys.stderr,
    histograms: bool = False,
) -> CountStats:
    """`count_bcf` + `write_counts`, streamed: one Parquet row group per block.

    Peak memory is set by the block size, never by how many records the BCF
    holds. Both outputs appear at their final paths only when complete.
    """
    import pyarrow.parquet as pq

    stats = CountStats()
    partial = f"{parquet}.partial"
    writer = None
    try:
        for _, table in count_bcf_blocks(
            bcf, samples, ploidy_map, qc, block_size, log, stats, histograms
        ):
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
        if writer is None:  # no record: an empty table with every column
            empty = empty_count_table(_bcf_groups(bcf, samples), histograms)
            empty.to_parquet(partial, index=False)
    finally:
        if writer is not None:
            writer.close()
    os.replace(partial, parquet)
    write_stats(stats, stats_json)
    return stats


def write_counts(table: pd.DataFrame, stats: CountStats, parquet: str, stats_json: str) -> None:
    """Write both outputs; each appears at its final path only when complete."""
    partial = f"{parquet}.partial"
    table.to_parquet(partial, index=False)
    os.replace(partial, parquet)
    write_stats(stats, stats_json)


def write_stats(stats: CountStats, stats_json: str) -> None:
    partial = f"{stats_json}.partial"
    Path(partial).write_text(json.dumps(stats.__dict__, indent=1, sort_keys=True) + "\n")
    os.replace(partial, stats_json)
