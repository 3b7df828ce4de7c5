"""`europanel lookup`: what the panel says about given variants.

Queries (`chr:pos:ref:alt`, a VCF, or a file with one such string per line) are
normalised as the pipeline normalises its inputs (bcftools norm -m -any -f FASTA:
split, left-align, check REF) and looked up by tabix, never by a scan:
- `found`: the panel's record, AC/AN/AF overall and per published group;
- `not_observed`: no record, but the all-sites AN says AN alleles were callable
  there: the variant was not observed among AN alleles;
- `no_data`: no record and no callable allele (outside every cohort's callable
  region): the panel cannot say anything;
- `invalid`: the query could not be read, or its REF does not match the FASTA.
For an allele spanning several bases (a deletion), the all-sites AN is the smallest
over the bases of its REF (the merge takes a cohort as reference only where its
callable region covers all of them).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pysam
from pysam import bcftools

from europanel.core.regions import harmonised_name, read_fai
from europanel.io.sheets import InputError

QUERY = re.compile(r"^\s*([^:\s-]+)[:-](\d+)[:-]([ACGTNacgtn]+)[:-]([ACGTNacgtn,]+)\s*$")
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".bcf")
CLUSTER_SPAN = 20_000  # bp of panel read at once for neighbouring queries


@dataclass
class Answer:
    query: str
    status: str
    variant: str = ""
    message: str = ""
    values: dict[str, object] = field(default_factory=dict)


def read_queries(items: list[str]) -> list[tuple[str, tuple[str, int, str, str] | None]]:
    """(query text, parsed (chrom, pos, ref, alt) or None) for every query given."""
    queries = []
    for item in items:
        path = Path(item)
        if item.endswith(VCF_SUFFIXES) and path.exists():
            with pysam.VariantFile(item) as vcf:
                for record in vcf:
                    for alt in record.alts or ():
                        text = f"{record.chrom}:{record.pos}:{record.ref}:{alt}"
                        queries.append((text, parse_query(text)))
        elif path.is_file():
            for line in path.read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    queries.append((line.strip(), parse_query(line)))
        else:
            queries.append((item, parse_query(item)))
    return queries


def parse_query(text: str) -> tuple[str, int, str, str] | None:
    match = QUERY.match(text)
    if not match:
        return None
    chrom, pos, ref, alt = match.groups()
    return chrom, int(pos), ref.upper(), alt.upper()


def normalise(queries, fasta: str, workdir: str) -> dict[int, list[tuple[str, int, str, str]]]:
    """Query index -> its normalised biallelic variants (empty: REF mismatch or contig
    not in the FASTA), with bcftools norm -m -any -f FASTA -c x."""
    lengths = read_fai(fasta)
    order = {c: i for i, c in enumerate(lengths)}
    rows = []
    for index, (_, parsed) in enumerate(queries):
        if parsed is None:
            continue
        chrom, pos, ref, alt = parsed
        contig = harmonised_name(chrom, set(lengths))
        if contig is None or pos < 1 or pos > lengths[contig]:
            continue
        rows.append((order[contig], pos, contig, ref, alt, index))
    rows.sort()
    raw = Path(workdir) / "queries.vcf"
    with open(raw, "w") as out:
        out.write("##fileformat=VCFv4.2\n")
        out.writelines(f"##contig=<ID={c},length={n}>\n" for c, n in lengths.items())
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        out.writelines(f"{c}\t{p}\tq{i}\t{r}\t{a}\t.\t.\t.\n" for _, p, c, r, a, i in rows)
    normalised = Path(workdir) / "normalised.vcf"
    bcftools.norm(
        "--no-version", "-f", fasta, "-c", "x", "-m", "-any", "-Ov", "-o", str(normalised),
        str(raw), catch_stdout=False,
    )  # fmt: skip
    variants: dict[int, list[tuple[str, int, str, str]]] = {}
    with open(normalised) as vcf:
        for line in vcf:
            if line.startswith("#"):
                continue
            chrom, pos, ident, ref, alt = line.split("\t")[:5]
            variants.setdefault(int(ident[1:]), []).append((chrom, int(pos), ref, alt))
    return variants


def parse_info(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(";") if "=" in item)


class Panel:
    """Indexed access to the panel VCF and its all-sites AN file.

    Queries are answered in genome order: `prefetch` reads the records and all-sites
    rows of a cluster of nearby queries with one tabix fetch each (one BGZF block
    decompressed for neighbours), never more of the panel than the cluster spans."""

    def __init__(self, panel_vcf: str, allsites: str) -> None:
        self.vcf = pysam.TabixFile(panel_vcf)
        self.allsites = pysam.TabixFile(allsites)
        self.an_columns = self.allsites.header[-1].lstrip("#").split("\t")[3:]
        self.groups = [c.removeprefix("AN_") for c in self.an_columns[1:]]
        self._records = (None, 0, -1, {})  # chrom, first, last position, records
        self._rows = (None, 0, -1, [])  # chrom, first, last position, all-sites rows

    def prefetch(self, chrom: str, first: int, last: int) -> None:
        records = {}
        if chrom in self.vcf.contigs:
            for line in self.vcf.fetch(chrom, first - 1, last):
                fields = line.split("\t", 8)
                records[(int(fields[1]), fields[3], fields[4])] = (fields[6], fields[7])
        self._records = (chrom, first, last, records)  # records starting in [first, last]
        rows = []
        if chrom in self.allsites.contigs:
            for line in self.allsites.fetch(chrom, first - 1, last):
                fields = line.split("\t")
                rows.append((int(fields[1]), int(fields[2]), list(map(int, fields[3:]))))
        self._rows = (chrom, first, last, rows)  # rows overlapping [first, last]

    def record(self, chrom: str, pos: int, ref: str, alt: str) -> tuple[str, dict] | None:
        cached_chrom, first, last, _ = self._records
        if cached_chrom != chrom or not first <= pos <= last:
            self.prefetch(chrom, pos, pos + len(ref) - 1)
        found = self._records[3].get((pos, ref, alt))
        return None if found is None else (found[0], parse_info(found[1]))

    def _allsites_rows(self, chrom: str, pos: int, end: int) -> list[tuple[int, int, list[int]]]:
        cached_chrom, first, last, _ = self._rows
        if cached_chrom != chrom or pos < first or end > last:
            self.prefetch(chrom, pos, end)
        return [row for row in self._rows[3] if row[0] <= end and row[1] >= pos]

    def callable_an(self, chrom: str, pos: int, ref: str) -> dict[str, int]:
        """All-sites AN per column, the smallest over the REF allele's bases (0: none)."""
        end = pos + len(ref) - 1
        rows = self._allsites_rows(chrom, pos, end)
        covered = sum(min(stop, end) - max(start, pos) + 1 for start, stop, _ in rows)
        if not rows or covered < end - pos + 1:  # a base outside every row: not callable
            return dict.fromkeys(self.an_columns, 0)
        smallest = [min(values) for values in zip(*(row[2] for row in rows))]
        return dict(zip(self.an_columns, smallest))


def answer(panel: Panel, query: str, variant: tuple[str, int, str, str]) -> Answer:
    chrom, pos, ref, alt = variant
    name = f"{chrom}:{pos}:{ref}:{alt}"
    found = panel.record(chrom, pos, ref, alt)
    if found is not None:
        status, info = found
        values = {"FILTER": status}
        for group in ["", *panel.groups]:
            suffix = f"_{group}" if group else ""
            for stat in ("AC", "AN", "AF"):
                text = info.get(f"{stat}{suffix}")
                values[f"{stat}{suffix}"] = (
                    None if text is None else (float(text) if stat == "AF" else int(text))
                )
        return Answer(query, "found", name, f"AC={values['AC']} of AN={values['AN']}", values)
    an = panel.callable_an(chrom, pos, ref)
    if an["AN"] == 0:
        return Answer(query, "no_data", name, "no callable allele here in any cohort")
    values = {}
    for column, n in an.items():
        suffix = column[2:]
        values[f"AC{suffix}"], values[f"AN{suffix}"] = 0, n
        values[f"AF{suffix}"] = 0.0 if n else None
    message = f"not observed among {an['AN']} alleles"
    uncallable = [column[3:] for column, n in an.items() if n == 0]
    if uncallable:
        message += f"; no data for {','.join(uncallable)}"
    return Answer(query, "not_observed", name, message, values)


def clusters(todo, normalised, span: int = CLUSTER_SPAN):
    """Runs of sorted queries on one contig within `span` bp of the run's first one."""
    cluster, start = [], None
    for _, pos, index, k in todo:
        chrom = normalised[index][k][0]
        if cluster and (chrom != start[0] or pos > start[1] + span):
            yield cluster
            cluster = []
        if not cluster:
            start = (chrom, pos)
        cluster.append((index, k))
    if cluster:
        yield cluster


def iter_answers(items: list[str], panel_vcf: str, allsites: str, fasta: str):
    """Answers, streamed: first the invalid queries (in query order), then every normalised
    allele in genome order (the panel is read once per cluster of nearby queries), so
    memory holds the queries, not the answers."""
    queries = read_queries(items)
    panel = Panel(panel_vcf, allsites)
    with tempfile.TemporaryDirectory(prefix="europanel-lookup-") as workdir:
        normalised = normalise(queries, fasta, workdir)
    for index, (text, parsed) in enumerate(queries):
        if parsed is None:
            yield Answer(text, "invalid", message="not chr:pos:ref:alt")
        elif index not in normalised:
            yield Answer(text, "invalid", message=f"REF or contig does not match {fasta}")
    order = {c: i for i, c in enumerate(read_fai(fasta))}
    todo = sorted(
        (order[v[0]], v[1], index, k) for index, vs in normalised.items() for k, v in enumerate(vs)
    )
    for cluster in clusters(todo, normalised):
        first_index, first_k = cluster[0]
        chrom, first, _, _ = normalised[first_index][first_k]
        last = max(normalised[i][k][1] + len(normalised[i][k][2]) - 1 for i, k in cluster)
        panel.prefetch(chrom, first, last)
        for index, k in cluster:
            yield answer(panel, queries[index][0], normalised[index][k])


def columns(panel_groups: list[str]) -> list[str]:
    names = ["FILTER"]
    for group in ["", *panel_groups]:
        suffix = f"_{group}" if group else ""
        names += [f"AC{suffix}", f"AN{suffix}", f"AF{suffix}"]
    return names


def write_answers(answers, groups: list[str], fmt: str, out=None) -> None:
    """TSV (a header, one row per answer) or a JSON array, written as answers come."""
    out = out or sys.stdout
    if fmt == "json":
        out.write("[")
        for n, a in enumerate(answers):
            item = {"query": a.query, "variant": a.variant, "status": a.status}
            item |= {"message": a.message, **a.values}
            out.write(("\n " if n == 0 else ",\n ") + json.dumps(item))
        out.write("\n]\n")
        return
    names = columns(groups)
    out.write("\t".join(["query", "variant", "status", "message", *names]) + "\n")
    for a in answers:
        cells = [a.query, a.variant, a.status, a.message]
        cells += ["" if a.values.get(n) is None else str(a.values[n]) for n in names]
        out.write("\t".join(cells) + "\n")


def check_files(*paths: str) -> None:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise InputError(
            f"{', '.join(missing)}: not found; run the pipeline first (`snakemake --cores N`) "
            "or give --panel/--allsites/--fasta"
        )
