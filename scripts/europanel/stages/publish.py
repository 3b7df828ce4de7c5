"""Publish the panel: sites-only bgzipped VCF + tabix index, and the same records as Parquet.

`write_part` runs in each chunk's merge job, in parallel; `join_panel` joins the pieces. The
formats themselves (INFO definitions, header, records, schema) are in io/panel_format.py.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from europanel.io import bgzf, parquet_join, tabix
from europanel.io.panel_format import (
    arrow_schema,
    cast_to_schema,
    header_lines,
    info_definitions,
    vcf_text,
)

VCF_SLICE_ROWS = 20_000


def with_vrs_ids(table: pa.Table, proxy) -> pa.Table:
    from europanel.io.vrs import allele_ids

    ids = allele_ids(
        proxy,
        table["CHROM"].to_pylist(),
        table["POS"].to_pylist(),
        table["REF"].to_pylist(),
        table["ALT"].to_pylist(),
    )
    return table.append_column("VRS_Allele_ID", pa.array(ids, pa.string()))


def write_part(table: pa.Table, vcf_part: str, parquet_part: str, fasta: str | None = None) -> int:
    """One merged chunk's records as a piece of the panel: its VCF records (BGZF, no
    header, with their tabix index) and its Parquet rows, in the schema every chunk
    shares. Written by the chunk's merge job, so the merged table is never written and
    read again. With the reference FASTA, each record gets its VRS Allele ID (a
    bundles-only merge may have no FASTA: then no record has one)."""
    if fasta:
        from europanel.io.vrs import FastaDataProxy

        table = with_vrs_ids(table, FastaDataProxy(fasta))
    # Only each field's Number and Type matter here; the header (join_panel) has the texts.
    definitions = info_definitions(table.schema.names, cohorts=[])
    table = cast_to_schema(table, arrow_schema(table.schema.names, definitions))
    partial_gz, partial_parquet = f"{vcf_part}.partial", f"{parquet_part}.partial"
    with bgzf.BgzfWriter(partial_gz) as vcf:
        # In slices: the text of a slice at a time in memory (BGZF blocks do not follow
        # the writes, so the bytes are those of one write).
        for start in range(0, table.num_rows, VCF_SLICE_ROWS):
            vcf.write(vcf_text(table.slice(start, VCF_SLICE_ROWS), definitions))
    pq.write_table(table, partial_parquet)
    finish_piece(partial_gz, vcf_part)
    os.replace(partial_parquet, parquet_part)
    return table.num_rows


def join_panel(
    vcf_parts: list[str],
    parquet_parts: list[str],
    vcf_gz: str,
    parquet: str,
    contig_lengths: dict[str, int],
    panel: dict,
    cohorts: list[str],
) -> int:
    """Join the chunks' pieces (in genome order, each VCF piece with its .tbi) into the
    indexed panel VCF and one Parquet file of per-chunk row groups. Both are joined as
    the pieces' bytes, never decoded: BGZF blocks and Parquet column chunks; each output
    appears only when complete."""
    schema = pq.read_schema(parquet_parts[0])
    for part in parquet_parts[1:]:
        if not pq.read_schema(part).equals(schema):
            raise ValueError(f"{part}: columns differ from {parquet_parts[0]}; rerun the merge")
    definitions = info_definitions(schema.names, cohorts)
    partial_gz, partial_parquet = f"{vcf_gz}.partial.gz", f"{parquet}.partial"
    records = parquet_join.join(parquet_parts, partial_parquet)
    header = "\n".join(header_lines(panel, definitions, contig_lengths)) + "\n"
    join_pieces(header.encode(), vcf_parts, partial_gz)
    os.replace(f"{partial_gz}.tbi", f"{vcf_gz}.tbi")
    os.replace(partial_gz, vcf_gz)
    os.replace(partial_parquet, parquet)
    return records


def finish_piece(partial: str, piece: str) -> None:
    """Index a written BGZF piece (headerless VCF lines) and give it its final name: the
    index is built here, in the piece's parallel job, and joined by `join_pieces`."""
    pysam.tabix_index(partial, preset="vcf", force=True, index=f"{piece}.tbi.partial")
    os.replace(f"{piece}.tbi.partial", f"{piece}.tbi")
    os.replace(partial, piece)


def join_pieces(header: bytes, pieces: list[str], path: str) -> None:
    """`header` then the pieces' BGZF blocks, as one BGZF file at `path` indexed at
    `path`.tbi from the pieces' own indexes: nothing is decompressed or read again
    (hours at Genome-of-Europe scale)."""
    with bgzf.BgzfWriter(path) as out:
        out.write(header)
    starts = []
    with open(path, "r+b") as out:
        # Overwrite the header file's EOF block with the pieces, then end with one EOF block.
        out.seek(-len(bgzf.EOF), os.SEEK_END)
        for piece in pieces:
            starts.append(out.tell())
            bgzf.copy_body(piece, out)
        out.write(bgzf.EOF)
        out.truncate()
    index = tabix.joined_index([(f"{piece}.tbi", start) for piece, start in zip(pieces, starts)])
    tabix.write_index(f"{path}.tbi", index)
