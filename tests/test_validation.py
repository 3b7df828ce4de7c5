"""Bad input: one readable message naming the file and the fix, before any job runs.

Each test builds one bad setup in a fresh run directory (the demo's config, with
sheets or inputs replaced) and runs snakemake. Checks made at parse time are
tested with a dry run (`-n`): validation precedes the DAG, so a refused input
never gets as far as a job. REF mismatches and a file damaged after its header
(both found by normalise, which reads every record) and the cases that must
succeed (symbolic alleles, an empty input) run the pipeline on chr20 in one
chunk. Small inputs are committed in `tests/data/bad_inputs/` or derived
here from the demo cohorts.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pysam
import pytest
from pysam import bcftools

from conftest import REPO, make_workdir, run_snakemake

BAD_INPUTS = Path(__file__).parent / "data" / "bad_inputs"
DEMO = REPO / "resources" / "demo"
PANEL = "results/panel/demo.sites.vcf.gz"
REFUSED = "problem(s) in the input; nothing was run."
# A real run kept small: chr20 only, in one chunk.
# Small cohorts of 3 samples: with k = 5 their records would be withheld whole (DESIGN §6,
# tests/test_disclosure.py); these tests are about reading the input, so k = 1 here.
SMALL_RUN = "contigs: [chr20]\nchunk_size: 50000\nprivacy: {min_group_size: 1}\n"


@pytest.fixture
def workdir(tmp_path) -> Path:
    path = make_workdir(tmp_path / "run")
    (path / "inputs").mkdir()
    return path


# --- building bad setups --------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    """Exactly these bytes: no newline translation, so Windows line endings stay."""
    path.write_bytes(text.encode("utf-8"))


def set_cohort_vcf(workdir: Path, cohort: str, vcf: str) -> None:
    """Point one cohort of the demo's cohorts sheet at another input."""
    sheet = workdir / "config" / "cohorts.tsv"
    lines = sheet.read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if fields[0] == cohort:
            fields[1] = vcf
            lines[i] = "\t".join(fields)
    sheet.write_text("\n".join(lines) + "\n")


def use_small_cohort(workdir: Path, vcf: str, samples: list[str]) -> None:
    """Sheets with one cohort NL: the given input and its samples."""
    write_text(workdir / "config" / "cohorts.tsv", f"cohort\tvcf\nNL\t{vcf}\n")
    rows = "".join(f"{sample}\tNL\tNWE\tXX\n" for sample in samples)
    write_text(workdir / "config" / "samples.tsv", f"sample\tcohort\tpopulation\tsex\n{rows}")


def keep_only_cohorts(workdir: Path, *cohorts: str) -> None:
    """Drop the other demo cohorts from both sheets (a smaller run)."""
    for name, column in (("cohorts.tsv", 0), ("samples.tsv", 1)):
        sheet = workdir / "config" / name
        header, *rows = sheet.read_text().splitlines(keepends=True)
        sheet.write_text(
            header + "".join(row for row in rows if row.split("\t")[column] in cohorts)
        )


def append_rows(sheet: Path, *rows: str) -> None:
    with sheet.open("a") as handle:
        handle.writelines(f"{row}\n" for row in rows)


def bgzip_and_index(text_vcf: Path, workdir: Path) -> str:
    """Copy a text VCF into the run directory, bgzip and index it; its path in the sheet."""
    copy = workdir / "inputs" / text_vcf.name
    shutil.copy(text_vcf, copy)
    compressed = pysam.tabix_index(str(copy), preset="vcf", force=True)
    return str(Path(compressed).relative_to(workdir))


def demo_text(cohort: str) -> list[str]:
    with gzip.open(DEMO / f"{cohort}.vcf.gz", "rt") as vcf:
        return vcf.read().splitlines()


def write_derived(workdir: Path, name: str, lines: list[str], index: bool = True) -> str:
    """A demo cohort rewritten as text, bgzipped (and indexed); its path in the sheet."""
    text = workdir / "inputs" / name.removesuffix(".gz")
    text.write_text("\n".join(lines) + "\n")
    if index:
        pysam.tabix_index(str(text), preset="vcf", force=True)
    else:
        pysam.tabix_compress(str(text), f"{text}.gz", force=True)
        text.unlink()
    return f"inputs/{name}"


def write_config(workdir: Path, text: str) -> str:
    """Config overrides for this run, passed with --configfile."""
    write_text(workdir / "config" / "test.yaml", text)
    return "config/test.yaml"


# --- running and asserting ------------------------------------------------------------


def dry_run(workdir: Path, *args: str):
    return run_snakemake(workdir, "-n", *args, check=False)


def output_of(result) -> str:
    return result.stdout + result.stderr


def assert_refused(result, workdir: Path, *expected: str) -> str:
    """Non-zero exit, one message naming the file and the fix, no traceback, no panel."""
    output = output_of(result)
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    assert not (workdir / "results" / "panel").exists()
    return output


def assert_validation_refused(result, workdir: Path, *expected: str) -> list[str]:
    """Refused by validation at parse time: the problem lines of the message."""
    output = assert_refused(result, workdir, REFUSED, *expected)
    assert "Building DAG of jobs" not in output  # validation came first
    return [line[2:] for line in output.splitlines() if line.startswith("- ")]


def assert_accepted(result) -> None:
    output = output_of(result)
    assert result.returncode == 0, output
    assert REFUSED not in output
    assert "Traceback" not in output


def panel_sites(workdir: Path) -> list[tuple[str, int, str, str]]:
    with pysam.VariantFile(str(workdir / PANEL)) as panel:
        return [(r.chrom, r.pos, r.ref, r.alts[0]) for r in panel]


# --- the demo itself ------------------------------------------------------------------


def test_demo_inputs_validate_clean(workdir):
    assert_accepted(dry_run(workdir))


# --- the input file itself ------------------------------------------------------------


def test_input_vcf_that_does_not_exist(workdir):
    set_cohort_vcf(workdir, "NL", "inputs/NL.typo.vcf.gz")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.typo.vcf.gz: input VCF/BCF not found; fix the path in config/cohorts.tsv",
    )
    assert len(problems) == 1


def test_input_vcf_not_bgzipped(workdir):
    """Plain text and plain gzip: both refused, both reported in one run."""
    plain = workdir / "inputs" / "NL.vcf"
    plain.write_text("\n".join(demo_text("NL")) + "\n")
    gzipped = workdir / "inputs" / "EE.vcf.gz"
    with gzip.open(gzipped, "wt") as handle:
        handle.write("\n".join(demo_text("EE")) + "\n")
    set_cohort_vcf(workdir, "NL", "inputs/NL.vcf")
    set_cohort_vcf(workdir, "EE", "inputs/EE.vcf.gz")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.vcf: a plain-text VCF, not bgzipped; compress and index it: "
        "`bgzip inputs/NL.vcf && bcftools index -t inputs/NL.vcf.gz` and list inputs/NL.vcf.gz "
        "in the cohorts sheet",
        "inputs/EE.vcf.gz: compressed with gzip, not bgzip, so it cannot be indexed; "
        "recompress and index it: `zcat inputs/EE.vcf.gz | bgzip > inputs/EE.vcf.gz.bgz && "
        "mv inputs/EE.vcf.gz.bgz inputs/EE.vcf.gz && bcftools index -t inputs/EE.vcf.gz`",
    )
    assert len(problems) == 2


def test_input_vcf_truncated_without_bgzf_eof_block(workdir):
    data = (DEMO / "NL.vcf.gz").read_bytes()
    (workdir / "inputs" / "NL.vcf.gz").write_bytes(data[:-28])  # the EOF block is 28 bytes
    shutil.copy(DEMO / "NL.vcf.gz.tbi", workdir / "inputs" / "NL.vcf.gz.tbi")
    set_cohort_vcf(workdir, "NL", "inputs/NL.vcf.gz")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.vcf.gz: truncated (no BGZF end-of-file block)",
        "copy it again from the source",
    )
    assert len(problems) == 1


def test_input_vcf_without_index(workdir):
    shutil.copy(DEMO / "NL.vcf.gz", workdir / "inputs" / "NL.vcf.gz")
    set_cohort_vcf(workdir, "NL", "inputs/NL.vcf.gz")
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.vcf.gz: no index (inputs/NL.vcf.gz.tbi or .csi); index it: "
        "`bcftools index -t inputs/NL.vcf.gz`",
    )


def test_input_vcf_unsorted(workdir):
    lines = demo_text("NL")
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[first], lines[first + 1] = lines[first + 1], lines[first]  # chr20:356 before :132
    vcf = write_derived(workdir, "NL.unsorted.vcf.gz", lines, index=False)
    set_cohort_vcf(workdir, "NL", vcf)
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.unsorted.vcf.gz: not sorted (chr20:132 comes after chr20:356) and has no "
        "index; sort and index it: `bcftools sort -Oz -o inputs/NL.unsorted.sorted.vcf.gz "
        "inputs/NL.unsorted.vcf.gz && bcftools index -t inputs/NL.unsorted.sorted.vcf.gz`",
    )


def test_input_vcf_damaged_after_its_header(workdir):
    """A corrupted block mid-file passes the header checks; the count job names the file."""
    data = bytearray((DEMO / "NL.vcf.gz").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(200)
    (workdir / "inputs" / "NL.vcf.gz").write_bytes(data)
    shutil.copy(DEMO / "NL.vcf.gz.tbi", workdir / "inputs" / "NL.vcf.gz.tbi")
    keep_only_cohorts(workdir, "NL")
    set_cohort_vcf(workdir, "NL", "inputs/NL.vcf.gz")
    result = run_snakemake(
        workdir, PANEL, "--configfile", write_config(workdir, SMALL_RUN), check=False
    )
    assert_refused(result, workdir)
    log = (workdir / "results/logs/count/NL/chr20-00000.log").read_bytes()
    assert b"Traceback" not in log
    assert (
        log.decode(errors="replace")
        .rstrip()
        .endswith(
            "inputs/NL.vcf.gz: cannot be read in chr20:1-51000 (bcftools: Error: BCF read error); "
            "the file is damaged: copy it again from the source (compare checksums) or re-create "
            "it, and check it with `bcftools view inputs/NL.vcf.gz > /dev/null`"
        )
    )


# --- the header against the reference -------------------------------------------------


def test_contig_lengths_of_another_genome_build(workdir):
    lines = [
        line.replace("##contig=<ID=chr20,length=50000>", "##contig=<ID=chr20,length=64444167>")
        for line in demo_text("NL")
    ]
    vcf = write_derived(workdir, "NL.grch37.vcf.gz", lines)
    set_cohort_vcf(workdir, "NL", vcf)
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/NL.grch37.vcf.gz: ##contig lengths differ from resources/demo/reference.fa.fai "
        "(chr20 64,444,167 bp vs chr20 50,000 bp), so the input was called against another "
        "genome build; give a VCF called against resources/demo/reference.fa, or set "
        "reference.fasta to the FASTA it was called against",
    )


def test_contig_names_differing_by_chr_prefix_are_harmonised(workdir):
    """NL renamed to `20`, `X`, `Y` (EE already is): not an error."""
    lines = [line.replace("ID=chr", "ID=").removeprefix("chr") for line in demo_text("NL")]
    assert any(line.startswith("20\t") for line in lines)
    vcf = write_derived(workdir, "NL.nochr.vcf.gz", lines)
    set_cohort_vcf(workdir, "NL", vcf)
    assert_accepted(dry_run(workdir))


def test_ref_alleles_not_matching_the_fasta(workdir):
    """Found by normalise: the job log (shown by snakemake) lists the first five."""
    vcf = bgzip_and_index(BAD_INPUTS / "ref_mismatch.vcf", workdir)
    use_small_cohort(workdir, vcf, ["S1", "S2"])
    result = run_snakemake(
        workdir, PANEL, "--configfile", write_config(workdir, SMALL_RUN), check=False
    )
    output = assert_refused(
        result,
        workdir,
        "inputs/ref_mismatch.vcf.gz: 6 REF allele(s) in chr20:1-50000 do not match "
        "resources/demo/reference.fa (first: chr20:1100 VCF G vs FASTA T; chr20:1200 VCF C "
        "vs FASTA T; chr20:1300 VCF T vs FASTA C; chr20:1400 VCF G vs FASTA C; chr20:1500 VCF "
        "A vs FASTA C)",
        "set `normalise: {ref_mismatch: drop}`",
    )
    assert "chr20:1600" not in output  # only the first five are listed


def test_ref_mismatch_drop_leaves_them_out_and_counts_them(workdir):
    vcf = bgzip_and_index(BAD_INPUTS / "ref_mismatch.vcf", workdir)
    use_small_cohort(workdir, vcf, ["S1", "S2"])
    config = write_config(workdir, SMALL_RUN + "normalise:\n  ref_mismatch: drop\n")
    assert_accepted(run_snakemake(workdir, PANEL, "--configfile", config, check=False))
    stats = json.loads((workdir / "results/normalised/NL/chr20-00000.stats.json").read_text())
    assert stats["ref_mismatch"] == 6
    assert panel_sites(workdir) == [("chr20", 1000, "A", "C"), ("chr20", 1700, "C", "G")]


# --- the sheets -----------------------------------------------------------------------


def test_sheet_sample_missing_from_its_cohorts_vcf(workdir):
    append_rows(workdir / "config" / "samples.tsv", "NL77\tNL\tNWE\tXX")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "resources/demo/NL.vcf.gz: 1 sample(s) of cohort NL in config/samples.tsv are not in "
        "this file: NL77 (line 92); it has 31 samples",
        "fix the IDs in the sheet or remove those rows",
    )
    assert len(problems) == 1


def test_one_sample_id_in_two_cohorts(workdir):
    append_rows(workdir / "config" / "samples.tsv", "NL01\tEE\tNWE\tXX")
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/samples.tsv lines 2, 92: sample 'NL01' is listed in cohorts EE, NL; a sample "
        "may belong to one cohort only, keep the right row",
    )


def test_sample_sheet_cohort_missing_from_cohorts_sheet(workdir):
    append_rows(workdir / "config" / "samples.tsv", "FI01\tFI\tFIN\tXX")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/samples.tsv line 92: cohort 'FI' of sample 'FI01' is not in the cohorts "
        "sheet; add it there or fix the label",
    )
    assert len(problems) == 1


def test_duplicate_sheet_rows(workdir):
    append_rows(workdir / "config" / "samples.tsv", "NL01\tNL\tNWE\tXX")
    append_rows(workdir / "config" / "cohorts.tsv", "EE\tresources/demo/EE.vcf.gz\t\t1.37")
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/samples.tsv lines 2, 92: sample 'NL01' is listed more than once; keep one row",
        "config/cohorts.tsv lines 3, 5: resources/demo/EE.vcf.gz is listed more than once for "
        "cohort 'EE'; keep one row",
    )
    assert len(problems) == 2


def test_label_breaking_the_naming_rule_or_reserved(workdir):
    sheet = workdir / "config" / "samples.tsv"
    text = sheet.read_text()
    text = text.replace("EE22\tEE\tFIN", "EE22\tEE\tF-IN").replace("IT01\tIT\tSEU", "IT01\tIT\tadj")
    sheet.write_text(text)
    cohorts = workdir / "config" / "cohorts.tsv"
    cohorts.write_text(cohorts.read_text().replace("IT\t", "raw\t"))
    sheet.write_text(sheet.read_text().replace("\tIT\t", "\traw\t"))
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/samples.tsv line 53: population label 'F-IN' breaks the naming rule; use "
        "letters and digits only ([A-Za-z0-9]+)",
        "config/samples.tsv line 56: population label 'adj' is a reserved word (XX, XY, raw, "
        "adj, joint, grpmax, weighted); rename it",
        "config/cohorts.tsv line 4: cohort label 'raw' is a reserved word",
    )


def test_sheet_with_wrong_columns(workdir):
    sheet = workdir / "config" / "samples.tsv"
    sheet.write_text(sheet.read_text().replace("population", "pop", 1))
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/samples.tsv line 1: missing column(s) population; the sample sheet needs the "
        "tab-separated columns sample, cohort, population, sex (found: sample, cohort, pop, "
        "sex)",
    )
    assert len(problems) == 1


def test_sheet_separated_by_spaces(workdir):
    sheet = workdir / "config" / "cohorts.tsv"
    sheet.write_text(sheet.read_text().replace("\t", " "))
    assert_validation_refused(
        dry_run(workdir),
        workdir,
        "config/cohorts.tsv line 1: missing column(s) cohort, vcf",
        "(the header has no tab: is the sheet separated by spaces or commas?)",
    )


def test_sheet_with_byte_order_mark_and_windows_line_endings_is_accepted(workdir):
    for name in ("samples.tsv", "cohorts.tsv"):
        sheet = workdir / "config" / name
        write_text(sheet, "\ufeff" + sheet.read_text().replace("\n", "\r\n"))
        assert sheet.read_bytes().startswith(b"\xef\xbb\xbf")
    assert_accepted(dry_run(workdir))


# --- what the input holds -------------------------------------------------------------


def test_gvcf_given_as_input(workdir):
    vcf = bgzip_and_index(BAD_INPUTS / "gvcf.g.vcf", workdir)
    use_small_cohort(workdir, vcf, ["S1"])
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/gvcf.g.vcf.gz: a gVCF (<NON_REF> alleles or END reference blocks, e.g. at "
        "chr20:1); joint-genotype the cohort's gVCFs first (e.g. GATK GenotypeGVCFs or "
        "GLnexus) and list the resulting VCF in the cohorts sheet",
    )
    assert len(problems) == 1


def test_symbolic_alleles_and_spanning_deletions_are_left_out_and_counted(workdir):
    """<DEL>, <*> and `*` (alone and beside an ordinary ALT): not an error; not counted."""
    vcf = bgzip_and_index(BAD_INPUTS / "symbolic.vcf", workdir)
    use_small_cohort(workdir, vcf, ["S1", "S2", "S3"])
    result = run_snakemake(
        workdir, PANEL, "--configfile", write_config(workdir, SMALL_RUN), check=False
    )
    assert_accepted(result)
    assert panel_sites(workdir) == [
        ("chr20", 1000, "A", "C"),
        ("chr20", 2500, "T", "G"),
        ("chr20", 4000, "C", "A"),
    ]
    stats = json.loads((workdir / "results/counts/NL/chr20-00000.stats.json").read_text())
    assert stats["symbolic"] == 4  # <DEL>, T><*>, C>* (split from A,*), C>*
    assert stats["counted"] == 3


def test_format_field_needed_by_genotype_qc_missing(workdir):
    vcf = bgzip_and_index(BAD_INPUTS / "no_gq.vcf", workdir)
    use_small_cohort(workdir, vcf, ["S1", "S2"])
    problems = assert_validation_refused(
        dry_run(workdir),
        workdir,
        "inputs/no_gq.vcf.gz: no FORMAT/GQ, which genotype_qc.min_gq needs; give a VCF with "
        "GQ, or switch the criterion off in the config (`genotype_qc: {min_gq: null}`)",
    )
    assert len(problems) == 1
    # With the criterion switched off the same input is fine.
    config = write_config(workdir, "genotype_qc:\n  min_gq: null\n")
    assert_accepted(dry_run(workdir, "--configfile", config))


def test_input_with_header_but_no_records_is_an_empty_contribution(workdir):
    """EE's header without records: the panel is built, EE adds AN (reference) but no AC."""
    empty = workdir / "inputs" / "EE.empty.vcf.gz"
    bcftools.view("-h", "-Oz", "-o", str(empty), str(DEMO / "EE.vcf.gz"), catch_stdout=False)
    bcftools.index("-t", str(empty))
    set_cohort_vcf(workdir, "EE", "inputs/EE.empty.vcf.gz")
    keep_only_cohorts(workdir, "NL", "EE")
    result = run_snakemake(
        workdir, PANEL, "--configfile", write_config(workdir, SMALL_RUN), check=False
    )
    assert_accepted(result)
    with pysam.VariantFile(str(workdir / PANEL)) as panel:
        records = list(panel)
    assert records
    # 24 EE samples, diploid on chr20: reference wherever NL has a site (absent_sites).
    assert all(r.info["AC_EE"] == (0,) and r.info["AN_EE"] == 48 for r in records)
    assert {r.info["cohorts_called"] for r in records} == {("NL",)}


# --- config ---------------------------------------------------------------------------


def test_config_breaking_its_schema_is_reported_readably(workdir):
    config = write_config(workdir, "chunk_size: 5\nnormalise:\n  ref_mismatch: ignore\n")
    result = dry_run(workdir, "--configfile", config)
    problems = assert_validation_refused(
        result,
        workdir,
        "config/test.yaml, config/config.yaml: chunk_size: 5 is less than the minimum of 1000",
        "normalise.ref_mismatch: 'ignore' is not one of ['error', 'drop']",
    )
    assert len(problems) == 2
    assert "Failed validating" not in output_of(result)  # jsonschema's dump of the schema


def test_config_contig_not_in_the_fasta(workdir):
    config = write_config(workdir, "contigs: [chr20, chr21]\n")
    assert_validation_refused(
        dry_run(workdir, "--configfile", config),
        workdir,
        "config contigs: chr21 not in resources/demo/reference.fa",
    )


def test_every_problem_is_reported_at_once(workdir):
    shutil.copy(DEMO / "NL.vcf.gz", workdir / "inputs" / "NL.vcf.gz")  # no index
    set_cohort_vcf(workdir, "NL", "inputs/NL.vcf.gz")
    append_rows(workdir / "config" / "samples.tsv", "EE99\tEE\tNWE\tXQ")
    problems = assert_validation_refused(dry_run(workdir), workdir, "europanel: 3 problem(s)")
    assert [p.split(":")[0] for p in problems] == [
        "config/samples.tsv line 92",
        "inputs/NL.vcf.gz",
        "resources/demo/EE.vcf.gz",
    ]
