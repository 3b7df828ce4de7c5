"""The panel's file formats: INFO definitions, the sites-only VCF header and records, the
Parquet schema every chunk shares, and BGZF pieces that concatenate (stages/publish.py
writes them)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from europanel import __version__
from europanel.core.sitestats import INBREEDING_FILTER_LINE, info_definition

SITE_FIELDS = ["CHROM", "POS", "REF", "ALT", "FILTER"]
SEX_NAMES = {"XX": "XX (karyotypically female) samples", "XY": "XY (karyotypically male) samples"}


def describe_group(group: str, cohorts: list[str]) -> str:
    if group in SEX_NAMES:
        return SEX_NAMES[group]
    if "_" in group:
        population, sex = group.split("_", 1)
        return f"{SEX_NAMES[sex]} of population {population}"
    if group in cohorts:
        return f"samples of cohort {group}"
    return f"samples of population {group}"


def info_definitions(columns: list[str], cohorts: list[str]) -> dict[str, tuple[str, str, str]]:
    """(Number, Type, Description) of every INFO field present in the records."""
    adj = "high-quality genotypes (adj: GQ, DP and het allele-balance thresholds)"
    fixed = {
        "AC": ("A", "Integer", f"Alternate allele count, all samples, {adj}"),
        "AN": ("1", "Integer", f"Total number of called alleles, all samples, {adj}"),
        "AF": ("A", "Float", "Alternate allele frequency AC/AN, all samples, adj"),
        "nhomalt": (
            "A",
            "Integer",
            "Number of homozygous-alternate diploid genotypes, all samples, adj",
        ),
        "nhemi": (
            "A",
            "Integer",
            "Number of haploid alternate calls of XY samples on non-PAR X/Y, adj",
        ),
        "AC_raw": ("A", "Integer", "Alternate allele count, all samples, before genotype QC"),
        "AN_raw": (
            "1",
            "Integer",
            "Total number of called alleles, all samples, before genotype QC",
        ),
        "AF_raw": ("A", "Float", "Alternate allele frequency, all samples, before genotype QC"),
        "nhomalt_raw": (
            "A",
            "Integer",
            "Homozygous-alternate diploid genotypes, before genotype QC",
        ),
        "nhemi_raw": (
            "A",
            "Integer",
            "Number of haploid alternate calls of XY samples on non-PAR X/Y, before genotype QC",
        ),
        "grpmax": ("A", "String", "Population with the highest AF (AC > 0, faf_exclude left out)"),
        "AC_grpmax": ("A", "Integer", "AC of the grpmax population, adj"),
        "AN_grpmax": ("A", "Integer", "AN of the grpmax population, adj"),
        "AF_grpmax": ("A", "Float", "AF of the grpmax population, adj"),
        "nhomalt_grpmax": ("A", "Integer", "nhomalt of the grpmax population, adj"),
        "cohorts_called": (
            ".",
            "String",
            "Cohorts whose input called this site (its variant, or reference-only calls "
            "covering it) and passed FILTER",
        ),
        "cohorts_filtered": (".", "String", "Cohorts whose input had this site but failed FILTER"),
        "VRS_Allele_ID": (
            "A",
            "String",
            "GA4GH VRS 2.x Allele identifier (ga4gh:VA.) of the alternate allele, computed "
            "from the reference FASTA (fully-justified normalisation)",
        ),
    }
    definitions = {}
    for column in columns:
        if column in SITE_FIELDS:
            continue
        if column in fixed:
            definitions[column] = fixed[column]
            continue
        if (annotation := info_definition(column)) is not None:  # europanel.core.sitestats
            definitions[column] = annotation
            continue
        prefix, _, rest = column.partition("_")
        if column.startswith("fafmax_"):
            level = column.split("_")[1]
            if column.endswith("_gen_anc"):
                definitions[column] = ("A", "String", f"Population with the largest {level}")
            else:
                definitions[column] = (
                    "A",
                    "Float",
                    f"Largest {level} over populations (faf_exclude left out)",
                )
        elif prefix in ("faf95", "faf99"):
            confidence = "95%" if prefix == "faf95" else "99%"
            whom = describe_group(rest, cohorts) if rest else "all samples"
            definitions[column] = (
                "A",
                "Float",
                f"Filtering allele frequency, {whom}: the "
                f"largest AF whose Poisson {confidence} upper bound of AC is "
                "below the observed AC (0 where AC <= 1), adj",
            )
        elif prefix in ("AC", "AN", "AF", "nhomalt", "nhemi"):
            number, kind = {
                "AC": ("A", "Integer"),
                "AN": ("1", "Integer"),
                "AF": ("A", "Float"),
                "nhomalt": ("A", "Integer"),
                "nhemi": ("A", "Integer"),
            }[prefix]
            what = {
                "AC": "Alternate allele count",
                "AN": "Total number of called alleles",
                "AF": "Alternate allele frequency",
                "nhomalt": "Number of homozygous-alternate diploid genotypes",
                "nhemi": "Number of haploid alternate calls on non-PAR X/Y",
            }[prefix]
            definitions[column] = (number, kind, f"{what}, {describe_group(rest, cohorts)}, adj")
        else:
            raise ValueError(f"no INFO definition for column {column}")
    return definitions


def info_texts(column: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """VCF text of each value of one INFO column (null where the value is missing: the
    key is then left out; "" for a Flag that is set). Column-wise in Arrow's C++ kernels:
    integers and strings as they are, a histogram's bins pipe-separated as gnomAD writes
    them, floats with Python's `.6g` (one formatting per distinct value)."""
    kind_of = column.type
    if kind == "Flag":
        if not pa.types.is_boolean(kind_of):
            column = pc.equal(column, 1)
        return pc.if_else(column, "", pa.scalar(None, pa.string()))
    if pa.types.is_list(kind_of) or pa.types.is_large_list(kind_of):
        return pc.binary_join(pc.cast(column, pa.list_(pa.string())), "|")
    if kind == "Float" or pa.types.is_floating(kind_of):
        return float_texts(column.to_numpy(zero_copy_only=False).astype(np.float64))
    return pc.cast(column, pa.string())


def float_texts(values: np.ndarray) -> pa.Array:
    """Each float as Python's `.6g` text, formatted once per distinct value; NaN (a null
    read as a float) is a missing value: null."""
    distinct, index = np.unique(values, return_inverse=True)  # one NaN at most, last
    texts = [None if v != v else f"{v:.6g}" for v in distinct.tolist()]
    # Taken by Arrow: no Python string per value.
    return pa.array(texts, pa.string()).take(pa.array(index.reshape(-1)))


def lines_bytes(lines) -> bytes:
    """Text lines (an Arrow string array without nulls) as bytes, each ending in a
    newline: joined by Arrow and taken from its data buffer in one copy (as large_string:
    64-bit offsets, so a slice of any size)."""
    text = pa.large_string()
    lines = pc.binary_join_element_wise(
        pc.cast(lines, text), pa.scalar("\n", text), pa.scalar("", text)
    )
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], np.int64)
    offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]].tobytes()


def vcf_text(records: pa.Table, definitions: dict) -> bytes:
    """The records as VCF data lines (no header; b"" for no record): CHROM POS ID REF ALT
    QUAL FILTER INFO, INFO's present fields in the definitions' order joined by `;` (`.`
    when none is), each line ending in a newline."""
    if records.num_rows == 0:
        return b""
    entries = []
    for field, (_, kind, _) in definitions.items():
        texts = info_texts(records[field], kind)
        if kind == "Flag":
            entries.append(pc.if_else(pc.is_valid(texts), field, texts))
            continue
        # key=value (null stays null: the field is left out); a prefix inserted by
        # binary_replace_slice, several times faster than a join with the key.
        named = pc.binary_replace_slice(texts, 0, 0, f"{field}=")
        if kind not in ("Integer", "Float") and pc.any(pc.equal(texts, "")).as_py():
            # A String may be empty (an empty histogram): the key alone, like a Flag.
            named = pc.if_else(pc.equal(texts, ""), field, named)
        entries.append(named)
    if len(entries) > 1:
        info = pc.binary_join_element_wise(*entries, ";", null_handling="skip")
    else:  # (pyarrow 26 drops the nulls of a single argument instead of skipping them)
        info = pc.coalesce(*entries, pa.array([""] * records.num_rows))
    if pc.any(pc.equal(info, "")).as_py():
        info = pc.if_else(pc.equal(info, ""), ".", info)
    # Each line starts with the newline that ends the one before (a prefix of the short
    # CHROM, not a copy of the long lines): the text is the lines' bytes from the second
    # byte on, and the last newline.
    lines = pc.binary_join_element_wise(
        pc.binary_replace_slice(pc.cast(records["CHROM"], pa.string()), 0, 0, "\n"),
        pc.cast(records["POS"], pa.string()),
        ".",
        pc.cast(records["REF"], pa.string()),
        pc.cast(records["ALT"], pa.string()),
        ".",
        pc.cast(records["FILTER"], pa.string()),
        info,
        "\t",
    )
    if isinstance(lines, pa.ChunkedArray):  # (one chunk: a table's slice; not copied)
        lines = lines.chunk(0) if lines.num_chunks == 1 else lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return b"".join((memoryview(lines.buffers()[2])[first + 1 : last], b"\n"))


def header_lines(panel: dict, definitions: dict, contig_lengths: dict[str, int]) -> list[str]:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=AC0,Description="Allele count is zero after genotype QC (adj): no '
        'sample had a high-quality genotype carrying this allele">',
        f"##source=europanel {__version__}",
        f"##reference={panel['reference']}",
        f"##reference_build={panel['build']}",
    ]
    if "inbreeding_coeff" in definitions:
        lines.insert(3, INBREEDING_FILTER_LINE)
    lines += [f"##{key}={value}" for key, value in panel.get("extra", [])]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contig_lengths.items()]
    for name, (number, kind, description) in definitions.items():
        lines.append(f'##INFO=<ID={name},Number={number},Type={kind},Description="{description}">')
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    return lines


def arrow_schema(columns: list[str], definitions: dict) -> pa.Schema:
    """One schema for every chunk: a field that is empty in one chunk keeps its type."""
    kinds = {
        "Integer": pa.int64(),
        "Float": pa.float64(),
        "String": pa.string(),
        "Flag": pa.bool_(),
    }
    # The histograms' bin counts (a pipe string in the VCF). The list's element is named as
    # Parquet names it, so the parts' schema is the one a reader of the Parquet gets back
    # (publish joins the parts' footers as they are).
    histogram = pa.list_(pa.field("element", pa.int64()))
    fixed = {
        "CHROM": pa.string(),
        "POS": pa.int64(),
        "REF": pa.string(),
        "ALT": pa.string(),
        "FILTER": pa.string(),
    }
    return pa.schema(
        [
            (
                c,
                fixed[c]
                if c in fixed
                else histogram
                if c.endswith("_bin_freq")
                else kinds[definitions[c][1]],
            )
            for c in columns
        ]
    )


def cast_to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table in the panel's schema. A column with no value in this chunk (pandas wrote
    it as double NaN, say an empty chunk's histograms) becomes nulls of its type."""
    columns = []
    for field in schema:
        column = table[field.name]
        if column.null_count == len(column) and not column.type.equals(field.type):
            column = pa.nulls(len(column), field.type)
        columns.append(column.cast(field.type))
    return pa.table(columns, schema=schema)
