"""GDI / Beacon v2 allele-frequency export: one sites VCF per country and one for the panel.

The GDI mini-node's `parquet-writer allele-freq -c CC` (v0.9.1) reads the standard INFO
fields AF (mandatory), AC, AN, AC_Het, AC_Hom, AC_Hemi with bcftools +fill-tags
meanings: AN Number=1, the others Number=A, all non-negative; AC_Het, AC_Hom and
AC_Hemi count ALLELES in het, hom and haploid genotypes. Prefixed per-country names
(`AF_EE`) make it stop, so every country gets its own file with unprefixed fields.

Everything comes from the PUBLISHED panel (its Parquet copy), so every privacy rule of
the panel applies: a cohort's values at a record exist only where the panel publishes
`AC_<cohort>` there, and a cohort published nowhere gets no file. In panel terms:
AC_Hom = 2 * nhomalt (diploid hom-alt), AC_Hemi = nhemi (haploid alt calls),
AC_Het = AC - AC_Hom - AC_Hemi.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from europanel import __version__
from europanel.io.bgzf import BgzfWriter
from europanel.io.panel_format import float_texts, lines_bytes
from europanel.io.sheets import InputError
from europanel.stages.audit import overlapping_row_groups
from europanel.stages.publish import finish_piece, join_pieces

# "EU" is an ISO 3166 exceptional reservation: accepted for the whole panel's label only.
PANEL_ONLY_CODES = {"EU"}
# Contigs the writer accepts (it stops on any other): 1-22, X, Y, M, with or without chr.
GDI_CONTIGS = {str(i) for i in range(1, 23)} | {"X", "Y", "M", "MT"}
GDI_INFO = [
    ("AC", "A", "Integer", "Alternate allele count (adj genotypes)"),
    ("AN", "1", "Integer", "Total number of called alleles (adj genotypes)"),
    ("AF", "A", "Float", "Alternate allele frequency AC/AN (adj genotypes)"),
    ("AC_Het", "A", "Integer", "Allele counts in heterozygous genotypes"),
    ("AC_Hom", "A", "Integer", "Allele counts in homozygous genotypes"),
    ("AC_Hemi", "A", "Integer", "Allele counts in hemizygous genotypes"),
]
READ_BATCH = 50_000  # panel rows read at a time: bounded memory
SITE_COLUMNS = ("CHROM", "POS", "REF", "ALT", "FILTER")  # what gdi_lines copies
GROUP_COLUMNS = ("AC", "AN", "nhomalt", "nhemi")  # what gdi_values reads per group


def iso_alpha2_codes() -> set[str]:
    text = resources.files("europanel").joinpath("data/iso3166_alpha2.txt").read_text()
    return {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}


def country_code_problems(
    cohorts: list[str], codes: dict[str, tuple[str, str]], panel_label: str
) -> list[str]:
    """Problems of the cohort -> country mapping; `codes[cohort] = (code, where it is from)`."""
    valid = iso_alpha2_codes()
    problems = []
    for cohort in cohorts:
        code, where = codes[cohort]
        if code not in valid:
            problems.append(
                f"{where}: cohort {cohort!r} needs an ISO 3166-1 alpha-2 country code for the "
                f"GDI export, and {code!r} is not one; give it in the cohorts sheet's `country` "
                "column (e.g. EE, IT, NL) or in config gdi.countries, or set gdi.export: false"
            )
    by_code: dict[str, list[str]] = {}
    for cohort in cohorts:
        by_code.setdefault(codes[cohort][0], []).append(cohort)
    for code, same in sorted(by_code.items()):
        if len(same) > 1:
            problems.append(
                f"cohorts {', '.join(same)} all map to country {code} "
                f"({'; '.join(codes[c][1] for c in same)}); the GDI export has one file per "
                "country: give each cohort its own code, or merge the cohorts"
            )
    if panel_label not in valid | PANEL_ONLY_CODES:
        problems.append(
            f"config gdi.panel_label: {panel_label!r} is not an ISO 3166-1 alpha-2 code "
            "(or EU); the GDI writer takes a two-letter label, e.g. EU"
        )
    elif panel_label in by_code:
        problems.append(
            f"config gdi.panel_label: {panel_label!r} is also the country of cohort(s) "
            f"{', '.join(by_code[panel_label])}; pick another label for the whole panel"
        )
    return problems


def country_codes(
    cohorts: list[str],
    sheet_path: str | None,
    sheet_countries: list[tuple[str, str, int]],
    config_countries: dict[str, str],
) -> dict[str, tuple[str, str]]:
    """Cohort -> (code, where it comes from): config gdi.countries, else the sheet's
    `country` column (rows of (cohort, country, line)), else the cohort label itself."""
    codes = {c: (c, f"cohort label {c!r} (no country given)") for c in cohorts}
    for cohort, country, line in sheet_countries:
        if cohort in codes and country:
            codes[cohort] = (country, f"{sheet_path} line {line}")
    for cohort, country in config_countries.items():
        if cohort in codes:
            codes[cohort] = (str(country), f"config gdi.countries.{cohort}")
    return codes


def header_text(contigs: dict[str, int], label: str, panel_name: str, fasta: str) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        f"##source=europanel {__version__} (GDI allele-frequency export)",
        f"##reference={fasta}",
        f"##europanel_gdi_population={label}",
        f"##europanel_gdi_panel={panel_name}",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=AC0,Description="Allele count is zero after genotype QC (adj)">',
    ]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    lines += [
        f'##INFO=<ID={name},Number={number},Type={kind},Description="{text}">'
        for name, number, kind, text in GDI_INFO
    ]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    return "\n".join(lines) + "\n"


def gdi_values(batch: pa.RecordBatch, group: str | None) -> dict[str, np.ndarray] | None:
    """AC, AN, AF, AC_Het/Hom/Hemi of one group (None = all samples) for a batch of
    panel rows, and which rows the group has values at (published, AN > 0)."""
    suffix = f"_{group}" if group else ""
    if f"AC{suffix}" not in batch.schema.names:
        return None

    def column(name):
        values = pc.fill_null(batch.column(f"{name}{suffix}"), -1)
        return values.to_numpy(zero_copy_only=False).astype(np.int64)

    ac, an = column("AC"), column("AN")
    nhomalt, nhemi = column("nhomalt"), column("nhemi")
    # Withheld where any of the four is masked; no frequency where no allele was called.
    keep = (ac >= 0) & (an > 0) & (nhomalt >= 0) & (nhemi >= 0)
    ac_hom = 2 * nhomalt
    return {
        "keep": keep,
        "AC": ac,
        "AN": an,
        "AF": np.divide(ac, an, out=np.zeros(len(ac)), where=an > 0),
        "AC_Het": ac - ac_hom - nhemi,
        "AC_Hom": ac_hom,
        "AC_Hemi": nhemi,
    }


def gdi_columns(names: list[str], groups: list[str | None]) -> list[str]:
    """The panel columns `gdi_values` and `gdi_lines` read for `groups`, in panel order."""
    wanted = set(SITE_COLUMNS)
    for group in groups:
        suffix = f"_{group}" if group else ""
        wanted.update(f"{name}{suffix}" for name in GROUP_COLUMNS)
    return [name for name in names if name in wanted]


def site_texts(batch: pa.RecordBatch) -> pa.Array:
    """CHROM POS ID REF ALT QUAL FILTER of every row of a panel batch, tab-joined: the
    same for every file, so built once per batch and taken per file."""

    def site(name):
        return pc.cast(batch.column(name), pa.string())

    return pc.binary_join_element_wise(
        site("CHROM"), site("POS"), ".", site("REF"), site("ALT"), ".", site("FILTER"), "\t"
    )


def gdi_lines(
    batch: pa.RecordBatch,
    values: dict[str, np.ndarray],
    rows: np.ndarray,
    sites: pa.Array | None = None,
) -> bytes:
    """The GDI records of `rows` of a panel batch: the panel's site columns (`sites`, from
    `site_texts`, when the caller has them), then AC, AN, AF (`.6g`), AC_Het, AC_Hom and
    AC_Hemi, built column-wise by Arrow in one join."""
    if sites is None:
        sites = site_texts(batch)

    def number(name):
        return pc.cast(pa.array(values[name][rows]), pa.string())

    lines = pc.binary_join_element_wise(
        sites.take(pa.array(rows, pa.int64())),
        "\tAC=",
        number("AC"),
        ";AN=",
        number("AN"),
        ";AF=",
        float_texts(values["AF"][rows]),
        ";AC_Het=",
        number("AC_Het"),
        ";AC_Hom=",
        number("AC_Hom"),
        ";AC_Hemi=",
        number("AC_Hemi"),
        "",
    )
    return lines_bytes(lines)


def gdi_targets(countries: dict[str, str], panel_label: str) -> dict[str, str | None]:
    """File label -> the cohort it exports (None: the whole panel's file)."""
    return {panel_label: None} | {code: cohort for cohort, code in countries.items()}


def export_gdi_part(
    panel_parquet: str,
    part_dir: str,
    countries: dict[str, str],
    panel_label: str,
    region: str | None = None,
) -> dict[str, int]:
    """One chunk's piece of every GDI file: `<part_dir>/<label>.vcf.gz` (the chunk's lines,
    no header, with its .tbi) and `records.json` (records per label), from the panel
    Parquet's records with POS in `region` (`contig:start-end`; None: every record).
    Each chunk's job runs in parallel; `join_gdi` joins the pieces."""
    Path(part_dir).mkdir(parents=True, exist_ok=True)
    targets = gdi_targets(countries, panel_label)
    pieces = {label: f"{part_dir}/{label}.vcf.gz" for label in targets}
    handles = {label: BgzfWriter(f"{path}.partial") for label, path in pieces.items()}
    records = dict.fromkeys(targets, 0)
    parquet = pq.ParquetFile(panel_parquet)
    names = set(parquet.schema_arrow.names)
    # Only the columns the export writes: the panel has ~170, histograms and VRS IDs
    # among them, and decoding them all was most of this job's CPU.
    columns = gdi_columns(parquet.schema_arrow.names, list(targets.values()))
    row_groups, inside = None, None
    if region is not None:
        contig, span = region.rsplit(":", 1)
        start, end = (int(x) for x in span.split("-"))
        row_groups = overlapping_row_groups(parquet, contig, start, end)
        position = pc.field("POS")
        inside = (pc.field("CHROM") == contig) & (position >= start) & (position <= end)
    try:
        for batch in parquet.iter_batches(
            batch_size=READ_BATCH, columns=columns, row_groups=row_groups
        ):
            if inside is not None:
                batch = batch.filter(inside)
            # Which rows are on a contig the writer accepts, decided once per distinct name.
            chrom = pc.cast(batch.column("CHROM"), pa.string())
            served_contigs = [
                c for c in pc.unique(chrom).to_pylist() if c.removeprefix("chr") in GDI_CONTIGS
            ]
            servable = pc.is_in(chrom, pa.array(served_contigs, pa.string())).to_numpy(
                zero_copy_only=False
            )
            sites = site_texts(batch)
            for label, cohort in targets.items():
                if cohort is not None and f"AC_{cohort}" not in names:
                    continue
                values = gdi_values(batch, cohort)
                rows = np.flatnonzero(values["keep"] & servable)
                handles[label].write(gdi_lines(batch, values, rows, sites))
                records[label] += len(rows)
    finally:
        for handle in handles.values():
            handle.close()
    for piece in pieces.values():
        finish_piece(f"{piece}.partial", piece)
    partial = f"{part_dir}/records.json.partial"
    Path(partial).write_text(json.dumps(records, sort_keys=True) + "\n")
    os.replace(partial, f"{part_dir}/records.json")
    return records


def join_gdi(
    part_dirs: list[str],
    outdir: str,
    countries: dict[str, str],
    panel_label: str,
    contigs: dict[str, int],
    panel_name: str,
    fasta: str,
) -> dict[str, int]:
    """Write `<outdir>/<CC>.sites.vcf.gz` (+ .tbi) per published cohort and the panel's
    file from the chunks' pieces (in genome order), joined by their bytes and indexes;
    return records per file. A cohort the panel publishes nowhere gets no file. Files
    appear only when complete."""
    Path(outdir).mkdir(parents=True, exist_ok=True)
    targets = gdi_targets(countries, panel_label)
    records = dict.fromkeys(targets, 0)
    for part_dir in part_dirs:
        part = json.loads(Path(f"{part_dir}/records.json").read_text())
        if set(part) != set(targets):
            raise ValueError(
                f"{part_dir}: written for the files {sorted(part)}, not {sorted(targets)} "
                "(the countries changed since); rerun its gdi_part job"
            )
        for label, n in part.items():
            records[label] += n
    served = [c for c in contigs if c.removeprefix("chr") in GDI_CONTIGS]
    written = {}
    for label, cohort in targets.items():
        if records[label] == 0 and cohort is not None:
            continue
        header = header_text({c: contigs[c] for c in served}, label, panel_name, fasta)
        partial, final = (
            f"{outdir}/{label}.sites.vcf.gz.partial.gz",
            f"{outdir}/{label}.sites.vcf.gz",
        )
        join_pieces(header.encode(), [f"{d}/{label}.vcf.gz" for d in part_dirs], partial)
        os.replace(f"{partial}.tbi", f"{final}.tbi")
        os.replace(partial, final)
        written[label] = records[label]
    return written


def write_summary(path: str, written: dict[str, int], countries: dict[str, str], label: str):
    """What was exported (for the node operator and the tests): files, records, cohorts."""
    summary = {
        "panel_label": label,
        "countries": countries,
        "files": {
            code: {"file": f"{code}.sites.vcf.gz", "records": n} for code, n in written.items()
        },
    }
    Path(path).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


def require_codes(countries: dict[str, str], panel_label: str) -> None:
    problems = country_code_problems(
        sorted(countries),
        {c: (code, "--settings countries") for c, code in countries.items()},
        panel_label,
    )
    if problems:
        raise InputError("\n".join(problems))
