"""Count one cohort's normalised records of one chunk, block by block (DESIGN §2.3).

The driver around the numpy kernel (`europanel.core.counting`): reads a BCF in
blocks with `europanel.io.bcf`, fills a `Block`, checks what counting cannot
take (allele indices, ploidy above 2), counts, and streams one Parquet row
group per block, so memory is bounded by the block size.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from europanel.core.counting import (
    FORMAT_FIELDS,
    HAPLOID_END,
    MISSING,
    QC_LEVELS,
    SITE_COLUMNS,  # noqa: F401 (merge imports it from here; the lead repoints it)
    STATS,
    Block,
    GenotypeQC,
    count_block,
    count_columns,
    expected_ploidy,
    parse_count_column,  # noqa: F401 (as SITE_COLUMNS)
)
from europanel.core.histograms import histogram_columns
from europanel.core.regions import PloidyMap
from europanel.io.sheets import (
    SAMPLE_COLUMNS,
    InputError,
    Rows,
    cohort_groups,
    group_membership,
)

if TYPE_CHECKING:  # the count-chunk job never imports pandas (~0.2 s at each job's start)
    import pandas as pd


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


def record_total(bcf: str) -> int:
    """Records in an indexed BCF, from its index (no decoding): the progress denominator."""
    import pysam
    from pysam import bcftools

    if not Path(f"{bcf}.csi").exists():  # the one-pass job's BCF: progress without a total
        return 0
    try:
        return int(bcftools.index("-n", bcf))
    except pysam.utils.SamtoolsError:  # no index: progress is shown without a total
        return 0


def fill_block(block: Block, records) -> bool:
    """Set every value of the first `len(records)` rows of `block` from a
    `europanel.io.bcf.RecordBlock`; return whether any call is haploid (see fill_alleles).

    GT becomes the block's allele codes; DP, GQ and AD are widened to int32
    from how the BCF stores them (int8/int16/int32), their missing and
    vector-end sentinels staying negative. A record without a field gets
    missing values for it.
    """
    n = len(records)
    haploid = fill_alleles(block.alleles[:n], records.fields.get("GT", []))
    # A field the reader was not asked for (records.fields has no key) is not read: the
    # block holds an all-missing view for it (Block.allocate).
    for name, target, index in (
        ("DP", block.dp, 0),
        ("GQ", block.gq, 0),
        ("AD", block.ad_ref, 0),
        ("AD", block.ad_alt, 1),
    ):
        if name in records.fields:
            fill_ints(target[:n], records.fields[name], index)
    return haploid


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


def fill_alleles(target: np.ndarray, pieces) -> bool:
    """GT of each piece into `target` (records x samples x 2), in the block's allele codes;
    return whether any call is haploid (a second allele HAPLOID_END): without one, there is
    no haploid call in a diploid region to look for (a pass over the block saved).

    BCF stores an allele as (index + 1) << 1 | phased, 0 for a missing allele,
    and pads a haploid call in a diploid record with the vector-end sentinel.
    """
    haploid = False
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
            ends = stored[negative] == vector_end
            haploid |= bool(ends.any())
            alleles[negative] = np.where(ends, HAPLOID_END, MISSING)
        target[rows, :, : alleles.shape[2]] = alleles
        if alleles.shape[2] == 1:  # every sample of the record is haploid
            target[rows, :, 1] = HAPLOID_END
            haploid = True
    return haploid


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
    samples: Rows | pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    block_size: int = 10_000,
    log=sys.stderr,
    stats: CountStats | None = None,
    histograms: bool = False,
    region: tuple[str, int, int] | None = None,
):
    """Count one cohort's normalised BCF block by block (only the records whose POS is
    in `region`, contig, first, last, when it is given).

    Yields (groups, table) per block of records, the table a pyarrow Table:
    one row per record that is not symbolic (filtered records flagged, with
    zero counts). `stats` is updated as blocks are read. Memory is bounded by
    the block size. `samples`: the cohort's sheet rows (columns sample, cohort,
    population, sex), as `Rows` or a DataFrame.
    """
    from europanel.io.bcf import BcfReader

    stats = stats if stats is not None else CountStats()
    total_blocks = -(-record_total(bcf) // block_size)
    fields = qc.read_fields(histograms)
    reader = BcfReader(bcf, tuple(f for f in FORMAT_FIELDS if f in fields))
    order = sheet_order(samples, reader.samples, bcf)
    if -1 in order:
        unknown = [s for s, i in zip(reader.samples, order) if i < 0][:5]
        raise ValueError(f"{bcf}: samples not in the sample sheet: {', '.join(unknown)}")
    samples = sample_rows(samples, order)
    # What a message about a record names: the user's input, through its cohort.
    cohorts = sorted(set(samples["cohort"]))
    source = f"cohort {', '.join(cohorts)}'s input (normalised as {bcf})"
    groups = cohort_groups(samples)
    membership = group_membership(samples, groups)
    ploidy_by_class = expected_ploidy(np.array(samples["sex"], dtype=object))
    columns = count_columns(groups) + (histogram_columns() if histograms else [])
    # DP, GQ and AD are nearly always stored in 8 or 16 bits: a 16-bit block halves the
    # memory each block touches; it widens to 32 bits for good at the first record that needs it.
    block = Block.allocate(block_size, len(samples), np.int16, fields)

    for records in reader.blocks(block_size, region):
        n = len(records)
        if block.dp.dtype != np.int32 and needs_int32(records):
            block = Block.allocate(block_size, len(samples), np.int32, fields)
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
        any_haploid = fill_block(view, records)
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
        if any_haploid:
            stats.haploid_in_diploid += haploid_in_diploid(view, ploidy_by_class, counted)
        for kind in stats.by_type:
            stats.by_type[kind] += int((kinds[counted] == kind).sum())
        stats.blocks += 1
        print(
            f"blocks done {stats.blocks}{f' / {total_blocks}' if total_blocks else ''}"
            f" ({stats.records} records read)",
            file=log,
            flush=True,
        )
        kept = np.flatnonzero(~symbolic)
        yield groups, site_table(records, kept, reader.contigs, values[kept], columns)


def sheet_order(samples: Rows | pd.DataFrame, names: list[str], bcf: str) -> list[int]:
    """The sheet row of each of `names` (the BCF's samples), -1 where the sheet has none."""
    rows: dict[str, int] = {}
    for row, name in enumerate(samples["sample"]):
        if rows.setdefault(name, row) != row:
            raise ValueError(f"{bcf}: sample {name} is in the sample sheet more than once")
    return [rows.get(name, -1) for name in names]


def sample_rows(samples: Rows | pd.DataFrame, order: list[int]) -> Rows:
    """The sample columns of the sheet rows at positions `order`, in that order."""
    columns = [list(samples[column]) for column in SAMPLE_COLUMNS]
    return Rows(SAMPLE_COLUMNS, [[column[row] for column in columns] for row in order])


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
    """Per record: 'SNV' (1 bp each), 'indel' (lengths differ), 'other' or 'symbolic'
    (symbolic alleles, `*` and breakends: not counted, DESIGN §4).

    `ref` and `alt` are pyarrow string arrays; vectorised over the block.
    """
    import pyarrow.compute as pc

    ref_length = from_arrow(pc.utf8_length(ref))
    alt_length = from_arrow(pc.utf8_length(alt))
    kinds = np.where(
        (ref_length == 1) & (alt_length == 1),
        "SNV",
        np.where(ref_length != alt_length, "indel", "other"),
    ).astype(object)
    symbolic = from_arrow(
        pc.or_(
            pc.starts_with(alt, "<"),
            pc.or_(pc.match_substring(alt, "["), pc.match_substring(alt, "]")),
        )
    )
    symbolic |= (alt_length == 1) & from_arrow(pc.starts_with(alt, "*"))  # ALT `*`
    kinds[symbolic] = "symbolic"
    return kinds


def site_table(
    records, rows: np.ndarray, contigs: dict[int, str], counts: np.ndarray, columns: list[str]
):
    """The count table of a block's `rows` (a pyarrow Table): site columns, then counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    take = to_arrow(rows)
    numbers = sorted(contigs)
    names = large_strings([contigs[i] for i in numbers])
    alt = records.alt.take(take)
    site = {
        "chrom": names.take(to_arrow(np.searchsorted(numbers, records.chrom[rows]))),
        "pos": to_arrow(records.pos[rows].astype(np.int64)),
        "ref": records.ref.take(take),
        # ALT `.` of a reference-only record (stored as no ALT allele).
        "alt": pc.if_else(
            to_arrow(from_arrow(pc.utf8_length(alt)) == 0), large_strings(["."])[0], alt
        ),
        "filtered": to_arrow(records.filtered[rows].astype(bool)),
    }
    counts = np.ascontiguousarray(counts.T)  # one contiguous row per column
    return pa.Table.from_arrays(
        [*site.values(), *(to_arrow(c) for c in counts)], names=[*site, *columns]
    )


# pyarrow imports pandas (~0.15 s) the first time it converts Python or numpy values
# (`pa.array`, `pa.scalar`, `to_numpy`, a Python value given to a compute function): the
# count job's arrays go between numpy and Arrow through their buffers instead.


def to_arrow(values: np.ndarray):
    """A numpy bool or integer array as a pyarrow array without nulls (as `pa.array`)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        data = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(data)])
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def from_arrow(array) -> np.ndarray:
    """A pyarrow bool or signed integer array without nulls as numpy (as `to_numpy`)."""
    import pyarrow as pa

    if array.null_count:
        raise ValueError(f"{array.null_count} null value(s) where none can be")
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        n = array.offset + len(array)
        bits = np.frombuffer(data, np.uint8) if n else np.zeros(0, np.uint8)
        return np.unpackbits(bits, count=n, bitorder="little")[array.offset :].astype(bool)
    if not pa.types.is_signed_integer(array.type):
        raise TypeError(f"not a bool or signed integer array: {array.type}")
    dtype = np.dtype(f"<i{array.type.bit_width // 8}")
    if not len(array):
        return np.zeros(0, dtype)
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * dtype.itemsize)


def large_strings(values: list[str]):
    """Python strings as a pyarrow large_string array (as `pa.array(values, pa.large_string())`)."""
    import pyarrow as pa

    data = [value.encode() for value in values]
    offsets = np.zeros(len(data) + 1, np.int64)
    np.cumsum(np.array([len(d) for d in data], np.int64), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
    )


def empty_count_table(groups: list[str], histograms: bool = False) -> pd.DataFrame:
    """A count table without rows, typed as a full one."""
    import pandas as pd  # only for a chunk without records (its Parquet bytes as before)

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
    samples: Rows | pd.DataFrame,
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


def _bcf_groups(bcf: str, samples: Rows | pd.DataFrame) -> list[str]:
    """The groups of the BCF's samples (for an empty count table)."""
    from europanel.io.bcf import BcfReader

    order = sheet_order(samples, BcfReader(bcf).samples, bcf)
    return cohort_groups(sample_rows(samples, [row for row in order if row >= 0]))


def count_bcf_to_parquet(
    bcf: str,
    samples: Rows | pd.DataFrame,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    parquet: str,
    stats_json: str,
    block_size: int = 10_000,
    log=sys.stderr,
    histograms: bool = False,
    region: tuple[str, int, int] | None = None,
) -> CountStats:
    """`count_bcf`, streamed to Parquet: one row group per block (`region` as in
    `count_bcf_blocks`).

    Peak memory is set by the block size, never by how many records the BCF
    holds. Both outputs appear at their final paths only when complete.
    """
    import pyarrow.parquet as pq

    stats = CountStats()
    partial = f"{parquet}.partial"
    writer = None
    try:
        for _, table in count_bcf_blocks(
            bcf, samples, ploidy_map, qc, block_size, log, stats, histograms, region
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


def write_stats(stats: CountStats, stats_json: str) -> None:
    partial = f"{stats_json}.partial"
    Path(partial).write_text(json.dumps(stats.__dict__, indent=1, sort_keys=True) + "\n")
    os.replace(partial, stats_json)
