"""Checks of one input VCF/BCF before any job runs (DESIGN §2.1): the file itself
(exists, bgzipped, complete, indexed, sorted), then its header and first records against
the reference, the sample sheet and the genotype-QC config.

Every check returns a list of problems, each one line: ``"<file>[ line N]: <what is
wrong>; <the fix>"``. `input_problems` runs them all on one file; europanel.stages.validate
calls it for every input, beside the sheet and reference checks.

Only headers and a few records are read: a check must stay cheap, because
snakemake parses the workflow for every run, dry run and cluster job. REF alleles
are checked against the FASTA by the normalise step, which reads every record anyway.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import pysam

from europanel.core.regions import harmonised_name
from europanel.io import bgzf
from europanel.io.sheets import Sheet
from europanel.stages.count import GenotypeQC

# The empty BGZF block every complete bgzipped file ends with (SAM/BAM spec, §4.1.2).
GZIP_MAGIC = b"\x1f\x8b"
BCF_MAGIC = b"BCF\x02"

# Records read from the start of an input. Sample columns are not decoded, but every
# line is still decompressed (~20 bytes per sample), so the peek stays short: a gVCF
# shows itself in its first records (every GATK record has <NON_REF>; a block starts
# each contig). Disorder is looked for (only in an input without an index) in the
# records holding the first SORT_CHECK_GENOTYPES genotypes, at most SORT_CHECK_RECORDS.
PEEK_RECORDS = 10
SORT_CHECK_RECORDS = 200_000
SORT_CHECK_GENOTYPES = 20_000_000
# Alleles of a gVCF reference block (GATK writes <NON_REF>, bcftools/DeepVariant <*>).
REFERENCE_BLOCK_ALLELES = {"<NON_REF>", "<*>"}
SHOWN = 5  # items listed in one message (samples, contigs)


@dataclass(frozen=True)
class VcfHeader:
    """What the checks need from an input: its header and a peek at its first records."""

    contigs: dict[str, int | None]  # ##contig ID -> length (None when not given)
    samples: list[str]
    format_fields: set[str]
    first_records: list[tuple[str, int, tuple[str, ...], bool]]  # chrom, pos, alts, has END


@contextlib.contextmanager
def quiet_htslib():
    """htslib warns on stderr about the very problems reported here; say it once, our way."""
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def shown(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


# --- the file itself ------------------------------------------------------------------


def existence_problems(path: str, what: str, listed_in: str) -> list[str]:
    if Path(path).is_file():
        return []
    if Path(path).exists():
        return [f"{path}: is not a file; give the {what}'s file path in {listed_in}"]
    return [
        f"{path}: {what} not found; fix the path in {listed_in} (relative paths are "
        "relative to the directory snakemake runs in)"
    ]


def compression_problems(path: str) -> list[str]:
    """An input must be bgzipped (VCF) or a compressed BCF, and end with the BGZF EOF block."""
    with open(path, "rb") as handle:
        head = handle.read(18)
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - len(bgzf.EOF)))
        tail = handle.read()
    if head.startswith(BCF_MAGIC):
        fixed = path.removesuffix(".bcf") + ".compressed.bcf"
        return [
            f"{path}: an uncompressed BCF, which cannot be indexed; compress it: "
            f"`bcftools view -Ob -o {fixed} {path} && bcftools index {fixed}` and list "
            f"{fixed} in the cohorts sheet"
        ]
    if head.startswith(b"##fileformat=VCF"):
        return [
            f"{path}: a plain-text VCF, not bgzipped; compress and index it: "
            f"{compress_command(path, f'cat {path}')}"
        ]
    if not head.startswith(GZIP_MAGIC):
        return [
            f"{path}: neither a bgzipped VCF nor a BCF; give the cohort's VCF/BCF "
            "(bgzipped, with a .tbi or .csi index)"
        ]
    if not is_bgzf_header(head):
        return [
            f"{path}: compressed with gzip, not bgzip, so it cannot be indexed; recompress "
            f"and index it: {compress_command(path, f'zcat {path}')}"
        ]
    if tail != bgzf.EOF:
        return [
            f"{path}: truncated (no BGZF end-of-file block), e.g. an interrupted copy or "
            "download; copy it again from the source (compare checksums) or re-create it"
        ]
    return []


def compress_command(path: str, decompress: str) -> str:
    """The command that bgzips and indexes `path` (and where the result is to be listed)."""
    if not path.endswith(".gz"):
        return (
            f"`bgzip {path} && bcftools index -t {path}.gz` and list {path}.gz in the cohorts sheet"
        )
    return (
        f"`{decompress} | bgzip > {path}.bgz && mv {path}.bgz {path} && bcftools index -t {path}`"
    )


def is_bgzf_header(head: bytes) -> bool:
    """gzip with the FEXTRA flag and the `BC` subfield: a BGZF block (SAM/BAM spec, §4.1)."""
    return len(head) >= 18 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def read_header(path: str) -> tuple[VcfHeader | None, list[str]]:
    """The input's header and first records, without decoding sample columns."""
    try:
        with quiet_htslib():
            vcf = pysam.VariantFile(path, drop_samples=True)
    except (OSError, ValueError):
        return None, [
            f"{path}: no VCF/BCF header could be read; check that it is a bgzipped "
            f"VCF or a BCF (`bcftools view -h {path}`)"
        ]
    with vcf:
        header = vcf.header
        contigs = {name: header.contigs[name].length for name in header.contigs}
        first_records = []
        try:
            with quiet_htslib():
                for record in vcf:
                    first_records.append(
                        # pysam moves END into `stop` (rlen): a block longer than REF has END.
                        (
                            record.chrom,
                            record.pos,
                            tuple(record.alts or ()),
                            record.rlen > len(record.ref),
                        )
                    )
                    if len(first_records) == PEEK_RECORDS:
                        break
        except (OSError, ValueError) as error:
            return None, [unreadable_record(path, len(first_records), error)]
        return VcfHeader(contigs, list(header.samples), set(header.formats), first_records), []


def unreadable_record(path: str, records_read: int, error: Exception) -> str:
    return (
        f"{path}: record {records_read + 1} cannot be parsed ({error}); check the file "
        f"with `bcftools view {path} > /dev/null`, and re-create it"
    )


def index_path(path: str) -> str | None:
    for extension in (".csi", ".tbi"):
        if Path(f"{path}{extension}").is_file():
            return f"{path}{extension}"
    return None


def index_problems(path: str) -> list[str]:
    """An input needs an index (chunks are read by region); one can only be built if sorted.

    The fix is left to the user, with the exact command: an index written next to
    someone else's data would be a surprise, and indexing a whole genome takes a while.
    """
    if index_path(path) is not None:
        return []
    is_bcf = Path(path).suffix == ".bcf"
    try:
        disorder = first_disorder(path)
    except UnreadableRecord as error:
        return [unreadable_record(path, error.records_read, error.__cause__)]
    if disorder is not None:
        stem = path.removesuffix(".gz").removesuffix(".vcf").removesuffix(".bcf")
        fixed = f"{stem}.sorted.{'bcf' if is_bcf else 'vcf.gz'}"
        return [
            f"{path}: not sorted ({disorder}) and has no index; sort and index it: "
            f"`bcftools sort -O{'b' if is_bcf else 'z'} -o {fixed} {path} && "
            f"bcftools index {'' if is_bcf else '-t '}{fixed}` and list {fixed} in the "
            "cohorts sheet"
        ]
    command = f"bcftools index {path}" if is_bcf else f"bcftools index -t {path}"
    return [
        f"{path}: no index ({path}.tbi or .csi); index it: `{command}` (if bcftools reports "
        f"unsorted positions, sort it first with `bcftools sort`)"
    ]


class UnreadableRecord(Exception):
    def __init__(self, records_read: int):
        self.records_read = records_read


def first_disorder(path: str) -> str | None:
    """Where the first records break sort order (a contig resumed, or POS going back)."""
    finished: set[str] = set()
    previous: tuple[str, int] | None = None
    n = 0
    with quiet_htslib(), pysam.VariantFile(path, drop_samples=True) as vcf:
        limit = min(SORT_CHECK_RECORDS, SORT_CHECK_GENOTYPES // max(1, len(vcf.header.samples)))
        records = iter(vcf)
        while n < limit:
            try:
                record = next(records)
            except StopIteration:
                break
            except (OSError, ValueError) as error:
                raise UnreadableRecord(n) from error
            n += 1
            if previous is not None and record.chrom != previous[0]:
                finished.add(previous[0])
                if record.chrom in finished:
                    return (
                        f"{record.chrom}:{record.pos} comes after {previous[0]} although "
                        f"{record.chrom} came before it"
                    )
            elif previous is not None and record.pos < previous[1]:
                return f"{record.chrom}:{record.pos} comes after {previous[0]}:{previous[1]}"
            previous = (record.chrom, record.pos)
    return None


# --- the header against the reference, the sheets and the config ----------------------


def contig_problems(
    path: str, header: VcfHeader, reference: dict[str, int], fasta: str
) -> list[str]:
    """`##contig` lengths must be the FASTA's (names may differ by the `chr` prefix)."""
    harmonised = {name: harmonised_name(name, set(reference)) for name in header.contigs}
    different = [
        f"{name} {length:,} bp vs {harmonised[name]} {reference[harmonised[name]]:,} bp"
        for name, length in header.contigs.items()
        if harmonised[name] is not None
        and length is not None
        and length != reference[harmonised[name]]
    ]
    if different:
        return [
            f"{path}: ##contig lengths differ from {fasta}.fai ({shown(different)}), so "
            f"the input was called against another genome build; give a VCF called "
            f"against {fasta}, or set reference.fasta to the FASTA it was called against"
        ]
    record_contigs = {chrom for chrom, _, _, _ in header.first_records}
    names = sorted(set(header.contigs) | record_contigs)
    if names and all(harmonised_name(name, set(reference)) is None for name in names):
        return [
            f"{path}: none of its contigs ({shown(names)}) is in {fasta} "
            f"({shown(list(reference))}), even ignoring a `chr` prefix; rename them to the "
            "reference's names with `bcftools annotate --rename-chrs`, or set "
            "reference.fasta to the FASTA it was called against"
        ]
    return []


def gvcf_problems(path: str, header: VcfHeader) -> list[str]:
    """A gVCF (reference blocks, <NON_REF>) holds per-sample calls that were never
    joint-genotyped: its blocks are not variants and its samples not comparable."""
    for chrom, pos, alts, has_end in header.first_records:
        symbolic_only = all(alt in REFERENCE_BLOCK_ALLELES for alt in alts)
        if "<NON_REF>" in alts or (has_end and symbolic_only):
            return [
                f"{path}: a gVCF (<NON_REF> alleles or END reference blocks, e.g. at "
                f"{chrom}:{pos}); joint-genotype the cohort's gVCFs first (e.g. GATK "
                "GenotypeGVCFs or GLnexus) and list the resulting VCF in the cohorts sheet"
            ]
    return []


def genotype_problems(path: str) -> list[str]:
    """The first records read as the pipeline reads them (htslib, with samples): a
    FORMAT key written twice or not declared in the header (htslib drops or invents
    values, and bcftools refuses to subset the samples of such a record), and
    genotypes of more than two alleles (not countable)."""
    problems = []
    format_problem = first_format_key_problem(path)
    if format_problem is not None:
        where, key, declared = format_problem
        if declared:
            problems.append(
                f"{path}: record {where} has FORMAT key {key} more than once; the file is "
                "readable but not valid VCF (htslib keeps one value and warns): write each "
                "FORMAT key once (re-export it with the tool that made it, fixed)"
            )
        else:
            problems.append(
                f"{path}: record {where} has FORMAT key {key}, which no ##FORMAT header "
                "line declares (bcftools cannot subset its samples); declare it, e.g. "
                f"`bcftools annotate -h extra.hdr` with a line like ##FORMAT=<ID={key},"
                'Number=.,Type=String,Description="...">, or remove it with '
                f"`bcftools annotate -x FORMAT/{key}`"
            )
    polyploid = first_polyploid_genotype(path)
    if polyploid is not None:
        where, sample, ploidy = polyploid
        problems.append(
            f"{path}: record {where}, sample {sample}: a genotype of ploidy {ploidy} (more "
            "than 2 alleles); the panel counts haploid and diploid calls only: set such "
            "genotypes to missing (e.g. `bcftools +setGT`) or leave those samples out of "
            "the sample sheet"
        )
    return problems


# A genotype of three or more alleles at the start of a sample column (GT comes first).
POLYPLOID_GT = re.compile(r"\t[0-9.]+(?:[/|][0-9.]+){2,}(?=[:\t\n]|$)")


def first_polyploid_genotype(path: str) -> tuple[str, str, int] | None:
    """(CHROM:POS, sample, ploidy) of the first genotype of more than two alleles in the
    first records: a regular expression over each line of a text VCF (a loop over
    100,000 samples in Python would slow every snakemake start), pysam for a BCF."""
    if Path(path).suffix == ".bcf":
        try:
            with quiet_htslib(), pysam.VariantFile(path) as vcf:
                for n, record in enumerate(vcf):
                    if n == PEEK_RECORDS:
                        break
                    if "GT" in record.format:
                        for sample in record.samples.values():
                            if len(sample.get("GT") or ()) > 2:
                                where = f"{record.chrom}:{record.pos}"
                                return where, sample.name, len(sample["GT"])
        except (OSError, ValueError):
            pass  # an unreadable record is reported by read_header
        return None
    samples: list[str] = []
    for line in peek_text_lines(path):
        if line.startswith("#CHROM"):
            samples = line.rstrip("\n").split("\t")[9:]
        if line.startswith("#"):
            continue
        fields = line.split("\t", 9)
        if len(fields) > 9 and fields[8].split(":")[0] == "GT":
            found = POLYPLOID_GT.search(line, len(line) - len(fields[9]) - 1)
            if found is not None:
                # The match starts at the sample's own tab; 8 precede the first's.
                column = line.count("\t", 0, found.start()) - 8
                genotype = found.group(0).strip()
                sample = samples[column] if 0 <= column < len(samples) else "?"
                ploidy = len(re.split(r"[/|]", genotype))
                return f"{fields[0]}:{fields[1]}", sample, ploidy
    return None


def peek_text_lines(path: str):
    """The header lines and the first PEEK_RECORDS records of a text VCF (plain or
    bgzipped); nothing more where the file is damaged (the other checks report that)."""
    import gzip

    opener = gzip.open if Path(path).suffix in (".gz", ".bgz") else open
    try:
        with opener(path, "rt", errors="replace") as text:
            records = 0
            for line in text:
                yield line
                if not line.startswith("#"):
                    records += 1
                    if records == PEEK_RECORDS:
                        return
    except (OSError, EOFError):
        return


def first_format_key_problem(path: str) -> tuple[str, str, bool] | None:
    """(CHROM:POS, key, declared) of the first of the first records whose FORMAT
    repeats a key (declared True) or uses one no ##FORMAT line declares (False).

    Read from the text (a text VCF only): htslib has already dropped the repeat and
    declared the unknown key by the time pysam shows the record.
    """
    if Path(path).suffix == ".bcf":
        return None
    declared = set()
    for line in peek_text_lines(path):
        if line.startswith("##FORMAT=<ID="):
            declared.add(line[len("##FORMAT=<ID=") :].split(",", 1)[0].rstrip(">\n"))
        if line.startswith("#"):
            continue
        fields = line.split("\t", 9)
        if len(fields) > 8:
            keys = fields[8].strip().split(":")
            where = f"{fields[0]}:{fields[1]}"
            repeated = next((k for k in keys if keys.count(k) > 1), None)
            if repeated is not None:
                return where, repeated, True
            unknown = next((k for k in keys if k not in declared and k != "."), None)
            if unknown is not None:
                return where, unknown, False
    return None


def sample_problems(path: str, header: VcfHeader, cohort: str, sheet: Sheet) -> list[str]:
    """Every sheet sample of the cohort must be a column of each of the cohort's files."""
    in_vcf = set(header.samples)
    rows = sheet.frame.index[sheet.frame["cohort"] == cohort]
    missing = [row for row in rows if sheet.frame.at[row, "sample"] not in in_vcf]
    if not missing:
        return []
    names = [f"{sheet.frame.at[row, 'sample']} (line {sheet.lines[row]})" for row in missing]
    has = (
        f"it has {len(in_vcf)} samples, e.g. {shown(sorted(in_vcf))}"
        if in_vcf
        else "it has no sample columns (a sites-only VCF?)"
    )
    return [
        f"{path}: {len(missing)} sample(s) of cohort {cohort} in {sheet.path} are not in "
        f"this file: {shown(names)}; {has}; fix the IDs in the sheet or remove those rows"
    ]


def format_problems(path: str, header: VcfHeader, genotype_qc: dict) -> list[str]:
    """GT always; GQ, DP, AD where an enabled genotype-QC criterion needs them (DESIGN §4)."""
    if not header.samples:  # sample_problems says so
        return []
    if "GT" not in header.format_fields:
        return [f"{path}: no FORMAT/GT (no genotypes); give the cohort's genotype VCF"]
    problems = []
    for field in ("GQ", "DP", "AD"):
        if field in header.format_fields:
            continue
        criteria = criteria_needing(field, genotype_qc)
        if criteria:
            off = ", ".join(f"{name}: null" for name in criteria)
            problems.append(
                f"{path}: no FORMAT/{field}, which genotype_qc.{' and '.join(criteria)} needs; "
                f"give a VCF with {field}, or switch the criterion off in the config "
                f"(`genotype_qc: {{{off}}}`)"
            )
    return problems


def criteria_needing(field: str, genotype_qc: dict) -> list[str]:
    """The enabled genotype-QC criteria that read FORMAT `field` (as the counting core says)."""
    return [
        name
        for name, value in genotype_qc.items()
        if value is not None
        and field
        in GenotypeQC(
            **{other: (value if other == name else None) for other in genotype_qc}
        ).needed_fields()
    ]


def input_problems(
    path: str,
    reference: dict[str, int] | None,
    fasta: str,
    cohort: str,
    samples: Sheet | None,
    genotype_qc: dict,
    cohorts_sheet: str,
) -> list[str]:
    """Every check of one input file: stop at the first a later check depends on."""
    problems = existence_problems(path, "input VCF/BCF", cohorts_sheet)
    if problems:
        return problems
    problems = compression_problems(path)
    if problems:
        return problems
    header, problems = read_header(path)
    if header is None:
        return problems
    problems = index_problems(path) + gvcf_problems(path, header) + genotype_problems(path)
    if reference is not None:
        problems += contig_problems(path, header, reference, fasta)
    if samples is not None:
        problems += sample_problems(path, header, cohort, samples)
    return problems + format_problems(path, header, genotype_qc)
