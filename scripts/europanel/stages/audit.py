"""`europanel audit`: prove from the published files alone that no small group leaks.

Reads only what leaves a node or is published (panel VCF and Parquet, the bundles'
manifests and counts, the report's HTML, the previous release) and the group sizes
the manifests state. Per record it re-derives which group counts are present from
the files themselves (not from the suppression code), groups records by pattern
(ploidy class, cohorts_called, present groups) and runs the exact check of
europanel.core.disclosure on each pattern once.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from europanel.core.disclosure import (
    TOTAL,
    atoms_from_groups,
    effective_weights,
    find_leak,
    group_of_label,
    release_problems,
)
from europanel.core.regions import PloidyMap, bare_name

PANEL_PREFIXES = ("AC_", "AN_", "AF_", "nhomalt_", "nhemi_", "faf95_", "faf99_")
NOT_GROUPS = {"raw", "grpmax", "weighted"}  # AC_raw, AC_grpmax, AF_weighted: not groups


class Lattice:
    """Atoms and groups of a set of bundles, from their manifests only."""

    def __init__(self, manifests: list[dict]):
        self.sizes_by_cohort = {m["cohort"]: m["groups"] for m in manifests}
        self.atoms = atoms_from_groups(self.sizes_by_cohort)
        self.cohorts = {m["cohort"] for m in manifests}
        self.populations = {a[1] for a in self.atoms}
        par = manifests[0]["par"]
        self.ploidy = PloidyMap(
            {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in par.items()}
        )

    def leak(self, ploidy_class, called, labels, k, atoms=None, cohorts=None):
        """The leak of one pattern of present group labels, or None."""
        atoms = self.atoms if atoms is None else atoms
        cohorts = self.cohorts if cohorts is None else cohorts
        weights = effective_weights(atoms, ploidy_class, called)
        groups = [group_of_label(g, cohorts, self.populations) for g in sorted(labels)]
        rows = [frozenset(a for a in weights if g.contains(a)) for g in groups]
        return find_leak(rows, weights, k)


def describe(leak, where: str, k: int) -> str:
    cells = ", ".join("/".join(a) for a in leak.atoms)
    return (
        f"{where}: published counts combine to {leak.samples} sample(s) (fewer than k = {k}): "
        f"{cells}"
    )


def audit_patterns(lattice, patterns: dict, k: int, where: str, **kw) -> list[str]:
    """patterns: (ploidy class, called cohorts or None, present labels) -> first record."""
    problems = []
    for (cls, called, labels), first in patterns.items():
        leak = lattice.leak(cls, called, labels, k, **kw)
        if leak is not None:
            problems.append(describe(leak, f"{where} {first}", k))
    return problems


def panel_group_labels(columns: list[str]) -> dict[str, str]:
    """Column -> the group label whose count it publishes (`AC_NL` -> `NL`), for the
    columns of the panel that are group counts (not raw, grpmax or weighted)."""
    labels = {}
    for column in columns:
        for prefix in PANEL_PREFIXES:
            if column.startswith(prefix):
                label = column[len(prefix) :]
                if label not in NOT_GROUPS:
                    labels[column] = label
    return labels


def first_patterns(
    cls: np.ndarray,
    called: tuple[np.ndarray, list],
    shown: np.ndarray,
    labels: list[str],
    contigs: np.ndarray,
    positions: np.ndarray,
    always: frozenset = frozenset([TOTAL]),
) -> dict:
    """Records -> their patterns, in order of first appearance: (ploidy class, cohorts
    called, the labels present with `always`) -> `contig:pos` of the first record with it.
    `called` is (a code per record, the cohort set of each code); `shown`: records x labels."""
    codes, called_sets = called
    if len(cls) == 0:
        return {}
    # One fixed-width byte string per record (class, code, the labels' bits packed), so
    # finding each pattern's first record is a 1-D sort of short keys, not a row sort.
    keys = np.concatenate(
        [
            cls.astype(">i8").view(np.uint8).reshape(-1, 8),
            codes.astype(">i8").view(np.uint8).reshape(-1, 8),
            np.packbits(shown.astype(bool), axis=1).reshape(len(cls), -1),
        ],
        axis=1,
    )
    keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    patterns = {}
    for i in sorted(first.tolist()):
        present = always | {labels[j] for j in np.flatnonzero(shown[i])}
        patterns[(int(cls[i]), called_sets[int(codes[i])], present)] = (
            f"{contigs[i]}:{positions[i]}"
        )
    return patterns


def called_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """`cohorts_called` strings -> (a code per record, the cohort set of each code)."""
    encoded = pc.dictionary_encode(pc.fill_null(column, ""))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    sets = [frozenset(v.split(",")) - {""} for v in encoded.dictionary.to_pylist()]
    return encoded.indices.to_numpy(zero_copy_only=False), sets


def add_patterns(
    patterns: dict,
    lattice: Lattice,
    contigs: np.ndarray,
    positions: np.ndarray,
    called: tuple[np.ndarray, list],
    shown: np.ndarray,
    labels: list[str],
    always: frozenset = frozenset([TOTAL]),
) -> None:
    """Add a batch of records' patterns to `patterns`, keeping each one's first record
    (a pattern first seen in an earlier batch keeps that batch's)."""
    cls = ploidy_classes(lattice, contigs, positions)
    merge_patterns(patterns, first_patterns(cls, called, shown, labels, contigs, positions, always))


def merge_patterns(into: dict, patterns: dict) -> None:
    """Add `patterns` found later in the file (a later batch or chunk): a pattern already
    in `into` keeps its first record."""
    for key, first in patterns.items():
        into.setdefault(key, first)


def parquet_patterns(lattice: Lattice, parquet: str) -> dict:
    """The patterns of the panel's Parquet: a group is present in a record when any of
    its count columns has a value there (not null, not NaN)."""
    patterns: dict = {}
    file = pq.ParquetFile(parquet)
    columns = panel_group_labels(file.schema_arrow.names)
    labels = sorted(set(columns.values()))
    needed = ["CHROM", "POS", "cohorts_called", *columns]
    for batch in file.iter_batches(batch_size=200_000, columns=needed):
        add_parquet_patterns(patterns, lattice, batch, columns, labels)
    return patterns


def add_parquet_patterns(patterns: dict, lattice: Lattice, batch, columns: dict, labels) -> None:
    """Add a batch of Parquet records' patterns (`columns`: count column -> its label)."""
    shown = np.zeros((batch.num_rows, len(labels)), bool)
    for column, label in columns.items():
        shown[:, labels.index(label)] |= not_missing(batch.column(column))
    add_patterns(
        patterns,
        lattice,
        batch.column("CHROM").to_numpy(zero_copy_only=False),
        batch.column("POS").to_numpy(zero_copy_only=False),
        called_codes(batch.column("cohorts_called")),
        shown,
        labels,
    )


def ploidy_classes(lattice: Lattice, contigs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    cls = np.zeros(len(contigs), np.int64)
    for contig in dict.fromkeys(contigs.tolist()):
        rows = contigs == contig
        cls[rows] = lattice.ploidy.classes(contig, positions[rows])
    return cls


VCF_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]


def vcf_csv_options(read_options) -> dict:
    """Arrow CSV reader options for VCF records: tab-separated, no quoting, CHROM, POS
    and INFO read."""
    from pyarrow import csv

    return {
        "read_options": read_options,
        "parse_options": csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        "convert_options": csv.ConvertOptions(
            column_types={n: pa.int64() if n == "POS" else pa.string() for n in VCF_COLUMNS},
            include_columns=["CHROM", "POS", "INFO"],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def vcf_patterns(lattice: Lattice, vcf: str, batch_bytes: int = 64 << 20) -> dict:
    """The patterns of the panel's VCF (the whole file, bgzipped or gzipped), from the INFO
    keys each record carries (a key is written only with a value), read in batches with
    Arrow's CSV reader."""
    from pyarrow import csv

    header_lines = header_bytes = 0
    with gzip.open(vcf, "rb") as lines:
        for line in lines:
            if not line.startswith(b"#"):
                break
            header_lines += 1
            header_bytes += len(line)
    reader = csv.open_csv(
        pa.input_stream(vcf, compression="gzip"),
        **vcf_csv_options(
            csv.ReadOptions(
                # The header is skipped within the first block: a block holds all of it.
                skip_rows=header_lines,
                column_names=VCF_COLUMNS,
                block_size=max(batch_bytes, 2 * header_bytes),
            )
        ),
    )
    patterns: dict = {}
    for batch in reader:
        merge_patterns(patterns, vcf_batch_patterns(lattice, batch))
    return patterns


def info_items(info: pa.Array) -> tuple[np.ndarray, np.ndarray, list, np.ndarray, pa.Array]:
    """The items (`;`-separated) of each record's INFO, as (record of each item, its key's
    code, the keys, whether it has a value, the items). An item's key is what precedes its
    first `=`, or the whole item when it has none (a flag, or `.`: no value)."""
    items = pc.split_pattern(info, ";")
    flat = items.flatten()
    lists = np.frombuffer(items.buffers()[1], np.int32, len(items) + 1, items.offset * 4)
    record = np.repeat(np.arange(len(items)), np.diff(lists))
    width = np.int64 if pa.types.is_large_string(flat.type) else np.int32
    starts = np.frombuffer(
        flat.buffers()[1], width, len(flat) + 1, flat.offset * np.dtype(width).itemsize
    )
    equals = pc.find_substring(flat, "=").to_numpy(zero_copy_only=False)
    has_value = equals >= 0
    # Keys and the rest (`=value`) alternate over the items' bytes: every other piece.
    bounds = np.empty(2 * len(flat) + 1, width)
    bounds[0::2] = starts
    bounds[1::2] = starts[:-1] + np.where(has_value, equals, np.diff(starts))
    pieces = pa.Array.from_buffers(
        flat.type, 2 * len(flat), [None, pa.py_buffer(bounds), flat.buffers()[2]]
    )
    keys = pc.dictionary_encode(pieces.take(pa.array(np.arange(0, 2 * len(flat), 2))))
    codes = keys.indices.to_numpy(zero_copy_only=False)
    return record, codes, keys.dictionary.to_pylist(), has_value, flat


def item_values(n: int, record, codes, keys, has_value, flat, key: str) -> pa.Array:
    """Each of the `n` records' value of INFO `key` (after the first `=` of its first item
    with that key and a value; null where none), from `info_items`."""
    first = np.full(n, -1, np.int64)
    if key in keys:
        items = np.flatnonzero((codes == keys.index(key)) & has_value)
        # Records are in order, so the first item of a record is where its record starts.
        records = record[items]
        starts = np.ones(len(items), bool)
        starts[1:] = records[1:] != records[:-1]
        first[records[starts]] = items[starts]
    return pc.utf8_slice_codeunits(flat.take(pa.array(first, mask=first < 0)), len(key) + 1)


def vcf_batch_patterns(lattice: Lattice, batch: pa.RecordBatch) -> dict:
    """The patterns of one batch of VCF records (CHROM, POS, INFO)."""
    info = batch.column("INFO")
    # A record's keys that have a value (`AC=3;AN=8;X`: AC, AN), from its INFO's items.
    record, codes, keys, has_value, flat = info_items(info)
    columns = panel_group_labels(sorted({keys[c] for c in np.unique(codes[has_value])}))
    labels = sorted(set(columns.values()))
    label_of = np.array([labels.index(columns[k]) if k in columns else -1 for k in keys], np.int64)
    group_items = np.flatnonzero(has_value & (label_of[codes] >= 0)) if keys else []
    shown = np.zeros((len(info), len(labels)), bool)
    shown[record[group_items], label_of[codes[group_items]]] = True
    called = item_values(len(info), record, codes, keys, has_value, flat, "cohorts_called")
    patterns: dict = {}
    add_patterns(
        patterns,
        lattice,
        batch.column("CHROM").to_numpy(zero_copy_only=False),
        batch.column("POS").to_numpy(zero_copy_only=False),
        called_codes(called),
        shown,
        labels,
    )
    return patterns


def region_patterns(lattice: Lattice, vcf: str, parquet: str, region: str) -> dict:
    """One `audit-chunk` job: the patterns of the panel VCF's and Parquet's records whose POS
    lies in `region` (`contig:start-end`, a chunk), and how many records each holds there.
    The VCF is read through its tabix index, the Parquet by the row groups whose statistics
    overlap the region; both in file order, so each pattern keeps its first record."""
    contig, span = region.rsplit(":", 1)
    start, end = (int(x) for x in span.split("-"))
    found = {"vcf": {}, "parquet": {}}
    records = {"vcf": 0, "parquet": 0}
    for batch in vcf_region_batches(vcf, contig, start, end):
        records["vcf"] += batch.num_rows
        merge_patterns(found["vcf"], vcf_batch_patterns(lattice, batch))
    file = pq.ParquetFile(parquet)
    columns = panel_group_labels(file.schema_arrow.names)
    labels = sorted(set(columns.values()))
    needed = ["CHROM", "POS", "cohorts_called", *columns]
    groups = overlapping_row_groups(file, contig, start, end)
    for batch in file.iter_batches(batch_size=200_000, columns=needed, row_groups=groups):
        inside = pc.and_(
            pc.equal(batch.column("CHROM"), contig),
            pc.and_(
                pc.greater_equal(batch.column("POS"), start),
                pc.less_equal(batch.column("POS"), end),
            ),
        )
        batch = batch.filter(inside)
        records["parquet"] += batch.num_rows
        add_parquet_patterns(found["parquet"], lattice, batch, columns, labels)
    return {
        "region": region,
        **{
            kind: {"records": records[kind], "patterns": encode_patterns(found[kind])}
            for kind in found
        },
    }


def vcf_region_batches(vcf: str, contig: str, start: int, end: int):
    """The VCF's records on `contig` with POS in [start, end], as Arrow batches of CHROM,
    POS, INFO: the region's lines, inflated in bulk through the tabix index, parsed by
    Arrow's CSV reader (the index's span may also hold records just outside the region)."""
    from europanel.io.tabix import region_lines

    for text in region_lines(vcf, contig, start - 1, end):
        batch = _parse_records(text)
        positions = batch.column("POS")
        inside = pc.and_(
            pc.equal(batch.column("CHROM"), contig),
            pc.and_(pc.greater_equal(positions, start), pc.less_equal(positions, end)),
        )
        yield batch.filter(inside)


def _parse_records(text: bytes) -> pa.RecordBatch:
    from pyarrow import csv

    # One thread: the job declares one, and a few MB of lines parse faster alone.
    read_options = csv.ReadOptions(
        column_names=VCF_COLUMNS, block_size=len(text) + 1, use_threads=False
    )
    table = csv.read_csv(pa.BufferReader(text), **vcf_csv_options(read_options))
    return table.combine_chunks().to_batches()[0]


def overlapping_row_groups(file: pq.ParquetFile, contig: str, start: int, end: int) -> list[int]:
    """Row groups that may hold records of contig:start-end (by their statistics; a row
    group without statistics is read)."""
    names = file.schema_arrow.names
    chrom, pos = names.index("CHROM"), names.index("POS")
    groups = []
    for i in range(file.metadata.num_row_groups):
        group = file.metadata.row_group(i)
        chrom_stats, pos_stats = group.column(chrom).statistics, group.column(pos).statistics
        if chrom_stats is not None and chrom_stats.has_min_max:
            if not chrom_stats.min <= contig <= chrom_stats.max:
                continue
        if pos_stats is not None and pos_stats.has_min_max:
            if pos_stats.max < start or pos_stats.min > end:
                continue
        groups.append(i)
    return groups


def encode_patterns(patterns: dict) -> list:
    """Patterns as JSON: [ploidy class, cohorts called (sorted) or null, labels, first]."""
    return [
        [cls, None if called is None else sorted(called), sorted(labels), first]
        for (cls, called, labels), first in patterns.items()
    ]


def decode_patterns(rows: list) -> dict:
    return {
        (cls, None if called is None else frozenset(called), frozenset(labels)): first
        for cls, called, labels, first in rows
    }


def panel_records(kind: str, path: str) -> int:
    """Records in the panel's Parquet (its metadata) or VCF (its tabix index)."""
    if kind == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    from pysam import bcftools

    return int(bcftools.index("-n", path))


def bundle_patterns(folder: Path, manifest: dict, lattice: Lattice) -> dict:
    """The patterns of a bundle's count tables: a group is present in a record when any
    of its count columns (`AC_adj_NL`, ...) has a value; the cohort's own is TOTAL."""
    patterns: dict = {}
    cohort = manifest["cohort"]
    for contig, entry in manifest["counts"].items():
        file = pq.ParquetFile(folder / entry["file"])
        names = file.schema_arrow.names
        columns = {c: c.split("_", 2)[2] for c in names if c.count("_") >= 2}
        columns = {c: TOTAL if g == cohort else g for c, g in columns.items()}
        labels = sorted(set(columns.values()))
        for batch in file.iter_batches(batch_size=200_000, columns=["pos", *columns]):
            n = batch.num_rows
            shown = np.zeros((n, len(labels)), bool)
            for column, label in columns.items():
                shown[:, labels.index(label)] |= not_missing(batch.column(column))
            add_patterns(
                patterns,
                lattice,
                np.full(n, contig, object),
                batch.column("pos").to_numpy(zero_copy_only=False),
                (np.zeros(n, np.int64), [None]),
                shown,
                labels,
                always=frozenset(),
            )
    return patterns


def not_missing(values: pa.ChunkedArray) -> np.ndarray:
    """Where a column has a value: not null and, for floats, not NaN (as pandas' notna)."""
    present = pc.is_valid(values)
    if pa.types.is_floating(values.type):
        present = pc.and_(present, pc.fill_null(pc.invert(pc.is_nan(values)), False))
    return present.to_numpy(zero_copy_only=False)


def report_problems(report: str, lattice: Lattice, k: int) -> list[str]:
    """A small group named as a column or row of a table of the report would show its
    counts; naming it with its size in the withheld list is allowed (sizes are public)."""
    text = Path(report).read_text()
    sizes: dict[str, int] = {}
    for groups in lattice.sizes_by_cohort.values():
        for cohort_label, n in groups.items():
            sizes[cohort_label] = sizes.get(cohort_label, 0) + n
    problems = []
    for label, n in sorted(sizes.items()):
        if 0 < n < k and re.search(rf"<t[hd][^>]*>\s*{re.escape(label)}\s*</t[hd]>", text):
            problems.append(f"{report}: a table shows group {label} ({n} samples, under k = {k})")
    return problems


def read_release(path: str) -> dict:
    """Group label -> {samples, digest} of a release JSON or a panel VCF's header."""
    if path.endswith(".json"):
        return json.loads(Path(path).read_text())["groups"]
    groups = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as lines:
        for line in lines:
            if not line.startswith("##"):
                break
            if line.startswith("##europanel_release_group=<"):
                fields = dict(
                    item.split("=", 1)
                    for item in line.strip()[len("##europanel_release_group=<") : -1].split(",")
                )
                label = "" if fields["ID"] == "." else fields["ID"]
                digest = None if fields.get("Digest", ".") == "." else fields["Digest"]
                groups[label] = {"samples": int(fields["Samples"]), "digest": digest}
    return groups


def audit(
    manifests_by_folder: dict[str, dict],
    k: int,
    parquet: str | None = None,
    vcf: str | None = None,
    report: str | None = None,
    release: str | None = None,
    previous_release: str | None = None,
    bundle_k: int | None = None,
    region_files: list[str] | None = None,
) -> tuple[list[str], dict]:
    """Every leak found in the published files, and what was checked. The VCF's and
    Parquet's patterns come from `region_files` (the `audit-chunk` jobs' outputs, in genome
    order) if given, else from reading the files here."""
    manifests = list(manifests_by_folder.values())
    lattice = Lattice(manifests)
    problems: list[str] = []
    checked: dict[str, int] = {}
    regions = [json.loads(Path(f).read_text()) for f in region_files or []]
    for kind, path, name in (("parquet", parquet, "Parquet"), ("vcf", vcf, "VCF")):
        if not path:
            continue
        if region_files:
            # The chunks' patterns, in genome order; every record must be in a chunk.
            patterns = {}
            for region in regions:
                merge_patterns(patterns, decode_patterns(region[kind]["patterns"]))
            audited = sum(region[kind]["records"] for region in regions)
            total = panel_records(kind, path)
            if audited != total:
                problems.append(
                    f"{path}: {total} records, of which the chunk audits read {audited}; "
                    "records outside the chunks were not audited: rerun the workflow"
                )
        elif kind == "parquet":
            patterns = parquet_patterns(lattice, path)
        else:
            patterns = vcf_patterns(lattice, path)
        checked[f"panel {name} patterns"] = len(patterns)
        problems += audit_patterns(lattice, patterns, k, path)
    for folder, manifest in manifests_by_folder.items():
        own_k = max(manifest.get("privacy", {}).get("min_group_size", 0), bundle_k or 0)
        cohort = manifest["cohort"]
        atoms = {a: n for a, n in lattice.atoms.items() if a[0] == cohort}
        patterns = bundle_patterns(Path(folder), manifest, lattice)
        checked[f"bundle {cohort} patterns"] = len(patterns)
        problems += audit_patterns(
            lattice, patterns, own_k, f"bundle {folder}", atoms=atoms, cohorts=set()
        )
    if report:
        problems += report_problems(report, lattice, k)
        checked["report"] = 1
    if previous_release and release:
        problems += release_problems(read_release(previous_release), read_release(release), k)
        checked["release difference"] = 1
    return problems, checked
