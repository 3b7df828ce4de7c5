"""Resource models: mem_mb and runtime (minutes) of each rule, estimated from the inputs.

Pure functions of plain numbers (records, samples, groups, bytes), so they can be unit
tested and read without Snakemake; `workflow/rules/common.smk` gathers the numbers from
the sheets, the inputs' indexes or the bundle manifests and calls these.

Records per contig come from the inputs' index statistics (`bcftools index --stats` of
the cohort VCFs, `index_records`) or, in the central merge, from the bundle manifests.
Costs measured on one core with synthetic cohorts (1000 samples x 20k records; 20 samples
x 400k records; 3 cohorts of 100-300 samples x 100-150k records through the whole
workflow):
  normalise  3-8 us per record + 0.3-0.6 us per genotype; 130-150 MB at any size
             (normalise and count run in one job, count-chunk)
  count      ~12 us per record + ~0.05 us per genotype; ~27 bytes per genotype of one
             block plus ~180 bytes per record of the chunk (9 groups), over ~270 MB
  bundle, merge: 45-70% of the memory estimated below; publish: see publish_mem_mb
Per-record and per-genotype costs below are set about twice the measured ones; runtimes
get a further margin of 3 (slower nodes, shared file systems) and a 10-minute floor.
A retry (`retries` in profiles/slurm) asks for `attempt` times as much of both.
"""

from __future__ import annotations

import math

from europanel.core.regions import harmonised_name

# An input without index statistics is assumed as dense as a large WGS call set.
RECORDS_PER_BP_UNKNOWN = 0.25
MB = 1_000_000


def megabytes(n_bytes, attempt, floor):
    return math.ceil(floor + n_bytes / MB) * attempt


def minutes(seconds, attempt):
    return max(10, math.ceil(3 * seconds / 60)) * attempt


# ---------------------------------------------------------------------------------------
# Records and row sizes


def index_records(vcf: str, reference_contigs: set[str]) -> dict[str, int] | None:
    """Records per reference contig in one input, from its index statistics (contig names
    harmonised to the reference's); None when the index has no statistics."""
    from pysam import bcftools as pysam_bcftools

    try:
        stats = pysam_bcftools.index("--stats", vcf)
    except Exception:  # no statistics in the index: the rules themselves report bad input
        return None
    records = {}
    for line in stats.splitlines():
        name, _length, n_records = line.split("\t")
        contig = harmonised_name(name, reference_contigs)
        if contig is not None:
            records[contig] = records.get(contig, 0) + int(n_records)
    return records


def header_samples(vcf: str) -> int | None:
    """Samples in an input's header (bcftools decodes all of them); None if unreadable."""
    from pysam import VariantFile

    try:
        with VariantFile(vcf) as handle:
            return len(handle.header.samples)
    except (OSError, ValueError):
        return None


def unknown_density_records(contig_length: int) -> int:
    """Records assumed on a contig of an input without index statistics."""
    return int(RECORDS_PER_BP_UNKNOWN * contig_length)


def span_records(contig_records: int, contig_length: int, start: int, end: int, flank=0) -> int:
    """Records expected in [start, end] widened by `flank` bp (records spread evenly)."""
    span = min(end - start + 1 + 2 * flank, contig_length)
    return math.ceil(contig_records * span / contig_length)


def count_row_bytes(groups):
    """A counts-table row in memory: the site, then AC/AN/... (int32) x 2 QC levels per group."""
    return 200 + 40 * groups


def panel_row_bytes(groups):
    """A panel record in memory (demo: ~630 bytes with 75 columns)."""
    return 300 + 50 * groups


# ---------------------------------------------------------------------------------------
# Per rule


def verify_bundles_runtime(counts_bytes, attempt):
    """sha256 at ~500 MB/s of every counts file (bundle sizes: docs/SCALING.md)."""
    return minutes(counts_bytes / 5e8, attempt)


def count_mem_mb(input_samples, samples, block_size, records, groups, attempt):
    """One job normalises then counts (count-chunk), so the larger of the two steps:
    bcftools' (its sort, several files per contig, takes up to 768 MB; a few hundred
    buffered records of ~20 bytes per input sample) and the counter's (its base, one
    genotype block of samples x block_size, `block_size` None: the default budget's block,
    the job then derives its block from this mem_mb; and the chunk's table of counts)."""
    bcftools = megabytes(6_000 * input_samples, 1, floor=1000)
    table = records * count_row_bytes(groups)
    counter = block_memory_mb(samples, block_size) + math.ceil(table / MB)
    return max(bcftools, counter) * attempt


def count_runtime(window_records, records, input_samples, samples, attempt):
    """Normalise (`window_records`: the chunk's, widened by the realign window) then count."""
    normalise = 15e-6 * window_records + 1e-6 * window_records * input_samples
    count = 25e-6 * records + 0.1e-6 * records * samples
    return minutes(normalise + count, attempt)


def bundle_mem_mb(largest_contig_records, groups, attempt):
    """The largest contig's counts, read as chunk tables and concatenated (twice)."""
    row = count_row_bytes(groups)
    return megabytes(2 * largest_contig_records * row, attempt, floor=500)


def bundle_runtime(vcf_bytes, records, attempt):
    """Checksums of the input VCFs (~200 MB/s) and ~1 us per record of counts."""
    return minutes(vcf_bytes / (200 * MB) + 1e-6 * records, attempt)


def merge_mem_mb(cohort_rows, records, panel_groups, attempt):
    """The merge, then the chunk's piece of the panel, in one job. Merging, per cohort row
    of the chunk: its table and its join on the chunk's sites; per site: the int64 totals
    of every panel group and the published record. `cohort_rows`: per cohort, (records in
    the chunk, the cohort's groups). Then the piece: the merged table, its Arrow copy and
    its VCF text, about four times the table."""
    total = 0
    for rows, groups in cohort_rows:
        total += rows * (
            2 * count_row_bytes(groups) + 80 * panel_groups + panel_row_bytes(panel_groups)
        )
    total += 4 * records * panel_row_bytes(panel_groups)
    return megabytes(total, attempt, floor=500)


def merge_runtime(sites, cohorts, panel_groups, with_vrs, attempt):
    """A join per cohort over the chunk's sites: ~10 us per site, cohort and 10 groups
    (measured: 47k sites, 3 cohorts, 23 groups in 2.7 s); then the piece of the panel:
    VCF text in Python, ~1 us per INFO value, its tabix index ~2 us per record, and VRS
    IDs ~0.2 ms per record (measured on the demo)."""
    merge = 1e-6 * sites * cohorts * max(10, panel_groups)
    values = sites * (20 + 4 * panel_groups)
    vrs = 2e-4 * sites if with_vrs else 0
    return minutes(merge + 1e-6 * values + 2e-6 * sites + vrs, attempt)


def publish_mem_mb(chunks, records_per_chunk, panel_groups, attempt):
    """Pieces are copied 16 MB at a time; what grows is the Parquet footer: every row
    group's column chunks (~2 kB each decoded, ~250 bytes written; measured with 154
    columns), Arrow's default row groups of 1 Mi rows per chunk."""
    row_groups = chunks * max(1, math.ceil(records_per_chunk / (1 << 20)))
    column_chunks = row_groups * (20 + 4 * panel_groups)
    return megabytes(2500 * column_chunks, attempt, floor=1000)


def publish_runtime(records, attempt):
    """Copying compressed bytes (~0.1 us per record); the index is joined from the
    pieces' (the merge jobs index them)."""
    return minutes(records * 1e-7, attempt)


def gdi_part_runtime(records, panel_groups, attempt):
    """A chunk's records of the panel's Parquet read (~0.05 us per value) and its piece of
    each country's file written and indexed (~2 us per record)."""
    return minutes(records * (2e-6 + 5e-8 * (20 + 4 * panel_groups)), attempt)


def report_cohorts_mem_mb(largest_contig_records, attempt):
    """The largest contig's sites, AC and AN of every cohort at once (for the concordance;
    measured: 250 MB for 370k records)."""
    return megabytes(200 * largest_contig_records, attempt, floor=1000)


def report_cohorts_runtime(records, cohorts, attempt):
    return minutes(2e-6 * records * cohorts, attempt)


# ---------------------------------------------------------------------------------------
# Count blocks: how many records a counting block holds when `block_size` is unset.
# The count job's memory (docs/BENCHMARKS.md) is a fixed base (interpreter,
# numpy/pandas/pyarrow, pysam, the BGZF read buffer) plus a cost per genotype of the
# block: the inflated record bytes, the Block's int8 alleles and 16- or 32-bit DP, GQ and
# AD, and the kernel's per-pass temporaries.

MIB = 1 << 20
# Interpreter, imports, BGZF read buffer and bcftools' state in the same process.
BLOCK_BASE_MB = 300
# Bytes per genotype of a block, 32-bit DP/GQ/AD (the widest case), with headroom.
GENOTYPE_BYTES = 50
# Beyond this a larger block saves nothing measurable (per-block costs are amortised).
MAX_BLOCK_SIZE = 10_000
# Block memory the workflow declares when block_size is unset: a large cohort gets
# smaller blocks, not a job no node can run.
DEFAULT_BLOCK_MB = 2_000


def block_size_for_memory(mem_mb: int, n_samples: int) -> int:
    """The largest block (records) whose genotypes fit in `mem_mb` beside the base,
    at most MAX_BLOCK_SIZE. Refuses a budget too small for even one small block."""
    usable = (mem_mb - BLOCK_BASE_MB) * MIB
    size = min(MAX_BLOCK_SIZE, usable // (GENOTYPE_BYTES * max(n_samples, 1)))
    if size < 1:
        needed = BLOCK_BASE_MB + -(-GENOTYPE_BYTES * max(n_samples, 1) // MIB)
        raise ValueError(
            f"mem_mb {mem_mb} leaves no room for a counting block of {n_samples} samples "
            f"(needs at least {needed} MB): give the count rule more memory "
            "(--set-resources count:mem_mb=...) or set block_size in the config"
        )
    return int(size)


def block_memory_mb(n_samples: int, block_size: int | None) -> int:
    """MB a count job needs for its base and one block (`block_size` None: the default
    budget's block)."""
    if block_size is None:
        block_bytes = min(GENOTYPE_BYTES * n_samples * MAX_BLOCK_SIZE, DEFAULT_BLOCK_MB * MIB)
    else:
        block_bytes = GENOTYPE_BYTES * n_samples * block_size
    return BLOCK_BASE_MB + -(-block_bytes // MIB)
