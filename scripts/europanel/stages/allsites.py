"""All-sites AN: how many alleles each published group had callable at EVERY position,
not only at the panel's records (gnomAD v4's all-sites AN), so that "absent from the
panel" can be told apart: not observed among AN alleles, or no data.

It is structural, like the reference AN the merge gives a cohort without a record
(DESIGN §5): per cohort, inside its callable BED (or everywhere when it has none and
`merge.absent_sites` is `reference`), its bundle's reference AN for the position's
ploidy class (PAR from the bundles); summed over cohorts. So it equals the AN the
panel would give a variant no cohort had a record of, at that position. Stored
run-length encoded: one row per stretch of equal values, so the file's size follows
the number of changes (BED and PAR boundaries), not the genome length.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from europanel.core.regions import PLOIDY_CLASSES, PloidyMap, bare_name
from europanel.io.bgzf import BgzfWriter

COLUMNS = ["contig", "start", "end"]  # 1-based, inclusive


def contig_intervals(
    contig: str,
    length: int,
    manifests: list[dict],
    groups: list[str],
    ploidy: PloidyMap,
    absent_sites: str,
) -> pd.DataFrame:
    """RLE rows (contig, start, end, AN, AN_<group>...) of one contig."""
    # Every position where some cohort's callability or the ploidy class may change.
    cuts = {1, length + 1}
    for manifest in manifests:
        spans = (manifest["callable"] or {}).get(contig, [])
        for start, end in spans:
            cuts.update((max(1, start), min(length, end) + 1))
    for start, end in ploidy.par.get(bare_name(contig).upper(), []):
        cuts.update((max(1, start), min(length, end) + 1))
    starts = np.array(sorted(c for c in cuts if 1 <= c <= length), dtype=np.int64)
    ends = np.append(starts[1:] - 1, length)
    classes = ploidy.classes(contig, starts)
    totals = np.zeros((len(starts), len(groups) + 1), dtype=np.int64)
    for manifest in manifests:
        spans = manifest["callable"]
        if spans is None:
            callable_here = np.full(len(starts), absent_sites == "reference")
        else:
            mine = spans.get(contig, [])
            callable_here = np.zeros(len(starts), dtype=bool)
            if mine:
                span_starts = np.array([s for s, _ in mine])
                span_ends = np.array([e for _, e in mine])
                which = np.searchsorted(span_starts, starts, side="right") - 1
                callable_here = (which >= 0) & (starts <= span_ends[np.clip(which, 0, None)])
        by_class = np.zeros((len(PLOIDY_CLASSES), len(groups) + 1), dtype=np.int64)
        cohort_an = manifest["reference_an"][manifest["cohort"]]
        by_class[:, 0] = cohort_an  # all samples: every sample is in exactly one cohort
        for j, group in enumerate(groups, start=1):
            if group in manifest["reference_an"]:
                by_class[:, j] = manifest["reference_an"][group]
        totals[callable_here] += by_class[classes[callable_here]]
    # Run-length encode: keep a row where the values differ from the previous row's.
    changes = np.ones(len(starts), dtype=bool)
    changes[1:] = np.any(totals[1:] != totals[:-1], axis=1)
    first = np.flatnonzero(changes)
    last = np.append(first[1:] - 1, len(starts) - 1)
    frame = pd.DataFrame({"contig": contig, "start": starts[first], "end": ends[last]})
    for j, name in enumerate(["AN"] + [f"AN_{g}" for g in groups]):
        frame[name] = totals[first, j]
    # Nothing callable anywhere: no row (the lookup answers "no data").
    return frame[frame["AN"] > 0].reset_index(drop=True)


def write_allsites(
    manifests: list[dict],
    contigs: dict[str, int],
    groups: list[str],
    absent_sites: str,
    tsv_gz: str,
    parquet: str,
) -> int:
    """Bgzipped, tabix-indexed TSV and its Parquet copy; returns the number of rows."""
    par = manifests[0]["par"]
    ploidy = PloidyMap(
        {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in par.items()}
    )
    names = COLUMNS + ["AN"] + [f"AN_{g}" for g in groups]
    schema = pa.schema(
        [("contig", pa.string()), ("start", pa.int64()), ("end", pa.int64())]
        + [(n, pa.int64()) for n in names[3:]]
    )
    partial_gz, partial_parquet = f"{tsv_gz}.partial.gz", f"{parquet}.partial"
    rows = 0
    with BgzfWriter(partial_gz) as out, pq.ParquetWriter(partial_parquet, schema) as table:
        out.write(("#" + "\t".join(names) + "\n").encode())
        for contig, length in contigs.items():
            frame = contig_intervals(contig, length, manifests, groups, ploidy, absent_sites)
            table.write_table(pa.Table.from_pandas(frame[names], schema, preserve_index=False))
            out.write(frame[names].to_csv(sep="\t", header=False, index=False).encode())
            rows += len(frame)
    pysam.tabix_index(
        partial_gz, seq_col=0, start_col=1, end_col=2, zerobased=False, meta_char="#", force=True
    )
    os.replace(f"{partial_gz}.tbi", f"{tsv_gz}.tbi")
    os.replace(partial_gz, tsv_gz)
    os.replace(partial_parquet, parquet)
    return rows


def published_groups(panel_parquet: str, candidates: list[str]) -> list[str]:
    """Groups the panel publishes somewhere (an AN_<group> column), in panel order."""
    names = set(pq.read_schema(panel_parquet).names)
    return [g for g in candidates if f"AN_{g}" in names]
