"""What real callsets contain, on tiny hand-written VCFs (issue 17).

The cases come from trying the pipeline on the VCFs htslib and bcftools test
themselves with: reference-only records (ALT `.`), an input with no countable
record, INFO AC/AN that disagree with the genotypes, a GT allele index beyond the
record's ALTs, a FORMAT key written twice, gVCFs (bcftools `<*>` blocks, Illumina
ALT `.` blocks, both with END), polyploid and haploid-written genotypes, and XX
samples on chrY PAR. Each input is in `tests/data/real_world/` (their own
300-bp reference, `reference.fa`; chrY PAR is chrY:1-100 in `par.bed`).

The stages are called through the package (normalise, count, merge, validate),
which is quick; one end-to-end run checks that a panel with no record is
published and reported.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest

from conftest import make_workdir, run_snakemake
from europanel.core.panel_groups import PanelGroups
from europanel.core.regions import Y_PAR, Chunk, PloidyMap, counted_ploidy, read_fai
from europanel.io.sheets import InputError
from europanel.stages.bundle import cohort_summary
from europanel.stages.count import GenotypeQC, count_bcf
from europanel.stages.merge import CohortCounts, PanelPolicy, group_fields, merge_chunk
from europanel.stages.normalise import input_contigs, normalise_chunk
from europanel.stages.vcf_checks import VcfHeader, contig_problems, input_problems
from test_bcftools_oracle import fill_tags_counts, sample_groups

DATA = Path(__file__).parent / "data" / "real_world"
QC_OFF = GenotypeQC(None, None, None, None)  # the fixtures have GT only
QC_OFF_CONFIG = {"min_gq": None, "min_dp": None, "min_dp_haploid": None, "min_het_ab": None}
# S1 XX, S2 XY, S3 unknown sex, S4 XY; populations P1 (S1, S2) and P2 (S3, S4).
SEXES = {"S1": "XX", "S2": "XY", "S3": "NA", "S4": "XY"}


def samples_of(cohort: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": list(SEXES),
            "cohort": cohort,
            "population": ["P1", "P1", "P2", "P2"],
            "sex": list(SEXES.values()),
        }
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("reference")
    fasta = folder / "reference.fa"
    shutil.copy(DATA / "reference.fa", fasta)
    pysam.faidx(str(fasta))
    return str(fasta)


def indexed(name: str, folder: Path) -> str:
    """A bgzipped, indexed copy of a fixture."""
    path = folder / f"{name}.gz"
    pysam.tabix_compress(str(DATA / name), str(path), force=True)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return str(path)


def normalised(name: str, reference: str, folder: Path, contig: str = "chr1") -> str:
    vcf = indexed(name, folder)
    bcf = str(folder / f"{name}.bcf")
    inputs = [input_contigs(vcf, set(read_fai(reference)))]
    normalise_chunk(inputs, Chunk(contig, 0, 1, 300), list(SEXES), reference, bcf)
    return bcf


def counted(name: str, reference: str, folder: Path, cohort: str = "A", contig: str = "chr1"):
    bcf = normalised(name, reference, folder, contig)
    return count_bcf(bcf, samples_of(cohort), PloidyMap.from_bed(str(DATA / "par.bed")), QC_OFF)


def problems_of(name: str, reference: str, folder: Path) -> list[str]:
    path = indexed(name, folder)
    return input_problems(
        path, read_fai(reference), reference, "A", None, QC_OFF_CONFIG, "cohorts.tsv"
    )


# --- reference-only records (ALT `.`) ---------------------------------------------------


def test_reference_only_records_are_counted_as_reference_calls(reference, tmp_path):
    # chr1:20 all 0/0 -> AN 8 (XX S1 2, XY S2+S4 4); chr1:50 S3 ./. -> AN 6.
    table, stats = counted("reference_only.vcf", reference, tmp_path)
    assert stats.reference_only == 2 and stats.counted == 2
    assert table["alt"].tolist() == [".", "."]
    assert table["AN_raw_A"].tolist() == [8, 6]
    assert table["AC_raw_A"].tolist() == [0, 0]
    assert table["AN_raw_XX"].tolist() == [2, 2]


def test_reference_only_records_add_an_where_the_site_is_variant(reference, tmp_path):
    """Cohort A has only reference calls, cohort B the variants (chr1:20 C>T, chr1:50
    CCG>C). With absent sites `missing`, A adds AN only through its reference calls:
    chr1:20: A 8 + B 8 = 16 (XX: 2 + 2); chr1:50 CCG>C: A's record there covers one
    base (C), not the deletion's 3-base REF, so A adds nothing: AN 8."""
    ref_only, _ = counted("reference_only.vcf", reference, tmp_path, cohort="A")
    variants, _ = counted("variants.vcf", reference, tmp_path, cohort="B")
    manifests = []
    contributions = []
    for cohort, table in (("A", ref_only), ("B", variants)):
        summary = cohort_summary(samples_of(cohort))
        manifests.append({"cohort": cohort, **summary})
        contributions.append(
            CohortCounts(cohort, table, None, summary["reference_an"], summary["groups"])
        )
    records, summary = merge_chunk(
        "chr1",
        contributions,
        PanelGroups.from_manifests(manifests),
        PloidyMap.from_bed(str(DATA / "par.bed")),
        PanelPolicy(absent_sites="missing"),
    )
    assert list(zip(records["POS"], records["REF"], records["ALT"])) == [
        (20, "C", "T"),
        (50, "CCG", "C"),
    ]
    assert records["AN"].tolist() == [16, 8]
    assert records["AN_A"].tolist() == [8, 0]
    assert records["AN_XX"].tolist() == [4, 2]
    assert records["AC"].tolist() == [1, 1]
    # A called chr1:20 as reference (its calls add AN there), so it is listed as calling
    # it: its samples' contribution is not known from group sizes (disclosure model).
    assert records["cohorts_called"].tolist() == ["A,B", "B"]
    assert summary["records"] == 2  # the reference-only records are never sites


# --- genotypes --------------------------------------------------------------------------


def test_input_info_ac_an_are_not_read(reference, tmp_path):
    # INFO says AC=3;AN=2, the genotypes 0/1 0/0 0/0 0/0: counted from GT.
    table, _ = counted("info_disagrees.vcf", reference, tmp_path)
    assert table["AC_raw_A"].tolist() == [1]
    assert table["AN_raw_A"].tolist() == [8]


def test_gt_allele_beyond_the_alts_is_named(reference, tmp_path):
    with pytest.raises(InputError) as error:
        counted("bad_allele.vcf", reference, tmp_path)
    message = str(error.value)
    assert "cohort A's input (normalised as " in message
    assert "record chr1:30, sample S3: GT allele 2" in message
    assert "1 ALT allele(s)" in message and "bcftools +setGT" in message


def test_polyploid_genotype_refused_by_count(reference, tmp_path):
    with pytest.raises(InputError) as error:
        counted("polyploid.vcf", reference, tmp_path)
    assert "record chr1:40, sample S2: a genotype of ploidy 4" in str(error.value)


def test_haploid_calls_in_a_diploid_region_are_counted_as_missing_and_reported(reference, tmp_path):
    # chr1:60: S1 `1`, S2 `0` (haploid-written: missing), S3 0/1, S4 0/0 -> AC 1, AN 4.
    table, stats = counted("haploid_in_diploid.vcf", reference, tmp_path)
    assert table["AC_raw_A"].tolist() == [1]
    assert table["AN_raw_A"].tolist() == [4]
    assert stats.haploid_in_diploid == 2


def test_xx_not_counted_on_chry_par(reference, tmp_path):
    # chrY:20 (PAR): S1 XX 1/1 not counted; S2 XY 0/1, S3 NA 0/0, S4 XY 0/1 -> AC 2, AN 6.
    table, _ = counted("chry_par.vcf", reference, tmp_path, contig="chrY")
    first = table.iloc[0]
    assert (first["pos"], first["AC_raw_A"], first["AN_raw_A"]) == (20, 2, 6)
    assert (first["AN_raw_XX"], first["AN_raw_XY"]) == (0, 4)
    assert (table["AN_raw_XX"] == 0).all() and (table["AN_raw_P1_XX"] == 0).all()
    # The reference AN a bundle gives on chrY PAR: XY 2 x 2, NA 2, XX 0.
    reference_an = cohort_summary(samples_of("A"))["reference_an"]
    assert reference_an["A"][Y_PAR] == 6
    assert reference_an["XX"][Y_PAR] == 0
    assert [counted_ploidy(Y_PAR, sex) for sex in ("XX", "XY", "NA")] == [0, 2, 2]


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs the bcftools command")
def test_chry_par_counts_equal_bcftools_fill_tags_without_xx(reference, tmp_path):
    """The oracle on chrY PAR: bcftools +fill-tags over the samples counted there (XY
    and NA; the XX sample S1 is left out of every group) gives the same raw counts."""
    bcf = normalised("chry_par.vcf", reference, tmp_path, contig="chrY")
    table, _ = count_bcf(bcf, samples_of("A"), PloidyMap.from_bed(str(DATA / "par.bed")), QC_OFF)
    # fill-tags cannot parse a -S line whose sample name has fewer than 3 characters.
    renamed = tmp_path / "renamed.bcf"
    (tmp_path / "names.txt").write_text("".join(f"{s} sample{s}\n" for s in SEXES))
    subprocess.run(
        ["bcftools", "reheader", "-s", str(tmp_path / "names.txt"), "-o", str(renamed), bcf],
        check=True,
    )
    samples = samples_of("A").assign(sample=lambda t: "sample" + t["sample"])
    samples = samples[samples["sex"] != "XX"]
    groups_file = tmp_path / "groups.txt"
    groups_file.write_text(sample_groups(samples))
    groups = ["A", "P1", "P2", "XY", "P1_XY", "P2_XY"]
    oracle = fill_tags_counts(renamed, groups_file, groups)
    assert table["pos"].tolist() == oracle["pos"].tolist() == [20, 30, 40, 60, 70]
    for g in groups:  # fill-tags' own AC/AN are over every sample: compared per group
        assert table[f"AC_raw_{g}"].tolist() == oracle[f"AC_{g}"].astype(int).tolist(), g
        assert table[f"AN_raw_{g}"].tolist() == oracle[f"AN_{g}"].astype(int).tolist(), g


def test_faf_per_sex_and_nhemi_raw_are_published(reference, tmp_path):
    """chrY PAR records of one cohort, merged: faf per sex and population x sex are the
    filtering allele frequency of that group's adj AC/AN; nhemi_raw is 0 on PAR."""
    from europanel.core.frequencies import filtering_allele_frequency

    table, _ = counted("chry_par.vcf", reference, tmp_path, contig="chrY")
    summary = cohort_summary(samples_of("A"))
    records, _ = merge_chunk(
        "chrY",
        [CohortCounts("A", table, None, summary["reference_an"], summary["groups"])],
        PanelGroups.from_manifests([{"cohort": "A", **summary}]),
        PloidyMap.from_bed(str(DATA / "par.bed")),
        PanelPolicy(),
    )
    assert (records["AC_XY"] > 1).any()  # a faf above 0 is compared
    for group in ("XY", "P2_XY"):
        for name, confidence in (("faf95", 0.95), ("faf99", 0.99)):
            expected = filtering_allele_frequency(
                records[f"AC_{group}"], records[f"AN_{group}"], confidence
            )
            assert records[f"{name}_{group}"].tolist() == expected.tolist()
    assert "faf95_A" not in records  # cohorts have no faf (as in gnomAD)
    assert records["nhemi_raw"].tolist() == [0] * len(records)


def test_bundle_from_before_the_chry_par_class_is_refused():
    table = pd.DataFrame(columns=["chrom", "pos", "ref", "alt", "filtered"])
    old = CohortCounts("A", table, None, {"A": [8, 4, 2]})
    panel = PanelGroups(["A"], [], {"A": 4})
    with pytest.raises(InputError, match="re-create the bundle"):
        merge_chunk("chr1", [old], panel, PloidyMap({}), PanelPolicy())


# --- duplicates ---------------------------------------------------------------------------


def test_duplicates_removed_after_splitting_and_left_aligning(reference, tmp_path):
    """normalise splits, left-aligns and removes exact duplicates in one `norm` call: the
    records and counts of bcftools' own two calls, `norm -m -any | norm -d exact`."""
    vcf = indexed("duplicates.vcf", tmp_path)
    bcf = str(tmp_path / "one_call.bcf")
    inputs = [input_contigs(vcf, set(read_fai(reference)))]
    stats = normalise_chunk(inputs, Chunk("chr1", 0, 1, 300), list(SEXES), reference, bcf)

    split, deduplicated = str(tmp_path / "split.bcf"), str(tmp_path / "dedup.bcf")
    pysam.bcftools.norm("-f", reference, "-m", "-any", "-Ou", "-o", split, vcf, catch_stdout=False)
    split_line = pysam.bcftools.norm.get_messages()
    pysam.bcftools.norm("-d", "exact", "-Ou", "-o", deduplicated, split, catch_stdout=False)
    dedup_line = pysam.bcftools.norm.get_messages()

    def records(path: str) -> list[str]:
        return pysam.bcftools.view("-H", path).splitlines()

    assert records(bcf) == records(deduplicated)
    assert [r.split("\t")[1:5] for r in records(bcf)] == [
        ["16", ".", "AC", "A"],
        ["30", ".", "G", "A"],
        ["40", ".", "T", "C"],
        ["40", ".", "T", "G"],
        ["40", ".", "T", "A"],
    ]
    counts = [line.split("\t")[-1].split("/") for line in (split_line, dedup_line)]
    assert stats["duplicates"] == int(counts[1][5]) == 3  # total/split/joined/realigned/
    assert stats["split"] == int(counts[0][1]) == 1  # mismatch_removed/dup_removed/skipped
    assert stats["realigned"] == int(counts[0][3]) == 1
    assert stats["input_records"] == int(counts[0][0]) == 7


# --- validation names the real problem ---------------------------------------------------


def test_duplicated_format_key_is_named(reference, tmp_path):
    problems = problems_of("format_twice.vcf", reference, tmp_path)
    assert any(
        "record chr1:30 has FORMAT key GT more than once" in p and "damaged" not in p
        for p in problems
    ), problems


def test_undeclared_format_key_is_named(reference, tmp_path):
    problems = problems_of("format_undeclared.vcf", reference, tmp_path)
    assert any(
        "record chr1:30 has FORMAT key XY, which no ##FORMAT header line declares" in p
        for p in problems
    ), problems
    # Past the records validation reads, normalise says the same, not "damaged".
    with pytest.raises(InputError) as error:
        normalised("format_undeclared.vcf", reference, tmp_path)
    assert "not declared by a ##FORMAT header line" in str(error.value)
    assert "damaged" not in str(error.value)


@pytest.mark.parametrize("name", ["gvcf_star.vcf", "gvcf_illumina.vcf"])
def test_gvcf_with_end_blocks_is_refused(reference, tmp_path, name):
    problems = problems_of(name, reference, tmp_path)
    assert any("a gVCF" in p and "chr1:1" in p and "joint-genotype" in p for p in problems), (
        problems
    )


def test_polyploid_genotype_refused_by_validation(reference, tmp_path):
    problems = problems_of("polyploid.vcf", reference, tmp_path)
    assert any("record chr1:40, sample S2: a genotype of ploidy 4" in p for p in problems), problems


def test_valid_fixtures_pass_validation(reference, tmp_path):
    for name in ("reference_only.vcf", "variants.vcf", "haploid_in_diploid.vcf"):
        assert problems_of(name, reference, tmp_path) == [], name


# --- messages -----------------------------------------------------------------------------


def test_ref_mismatch_lists_each_site_once(reference, tmp_path):
    # A multiallelic record with a wrong REF: bcftools reports it once per split ALT.
    with pytest.raises(InputError) as error:
        normalised("ref_mismatch_multiallelic.vcf", reference, tmp_path)
    message = str(error.value)
    assert "1 REF allele(s)" in message
    assert message.count("chr1:70") == 1


def test_build_mismatch_lists_lengths_in_bp():
    header = VcfHeader({f"c{i}": 100 + i for i in range(7)}, [], set(), [])
    reference = {f"c{i}": 200 for i in range(7)}
    (message,) = contig_problems("in.vcf.gz", header, reference, "ref.fa")
    assert "c0 100 bp vs c0 200 bp" in message
    assert "and 2 more)" in message and "more bp" not in message


# --- group fields ------------------------------------------------------------------------


def test_group_fields_list_the_faf_of_sex_and_population_groups():
    panel = PanelGroups(["A"], ["P1"], {})
    assert group_fields("A", panel) == ["AC_A", "AN_A", "AF_A", "nhomalt_A"]
    assert group_fields("P1_XY", panel)[-2:] == ["faf95_P1_XY", "faf99_P1_XY"]
    assert group_fields("XX", panel)[-2:] == ["faf95_XX", "faf99_XX"]


# --- no countable record, end to end ------------------------------------------------------


@pytest.mark.e2e
def test_panel_without_records_is_published_and_reported(reference, tmp_path):
    """Cohort A: only symbolic records; cohort B: only reference-only records. Both are
    valid inputs; the panel is empty, valid and indexed, and the report says so."""
    workdir = make_workdir(tmp_path / "run")
    inputs = workdir / "inputs"
    inputs.mkdir()
    shutil.copy(DATA / "reference.fa", inputs / "reference.fa")
    pysam.faidx(str(inputs / "reference.fa"))
    shutil.copy(DATA / "par.bed", inputs / "par.bed")
    a, b = inputs / "all_symbolic.vcf.gz", inputs / "reference_only.vcf.gz"
    config = workdir / "config"
    (config / "cohorts.tsv").write_text(f"cohort\tvcf\nA\t{a}\nB\t{b}\n")
    rows = "".join(
        f"{sample}{cohort}\t{cohort}\t{pop}\t{sex}\n"
        for cohort in ("A", "B")
        for sample, sex, pop in zip(SEXES, SEXES.values(), ["P1", "P1", "P2", "P2"])
    )
    (config / "samples.tsv").write_text(f"sample\tcohort\tpopulation\tsex\n{rows}")
    for name, cohort in (("all_symbolic.vcf", "A"), ("reference_only.vcf", "B")):
        # Sample names are unique across cohorts: S1A.., S1B..
        text = (DATA / name).read_text()
        text = text.replace("\tS1\tS2\tS3\tS4", "".join(f"\t{s}{cohort}" for s in SEXES))
        (inputs / name).write_text(text)
        indexed_path = inputs / f"{name}.gz"
        pysam.tabix_compress(str(inputs / name), str(indexed_path), force=True)
        pysam.tabix_index(str(indexed_path), preset="vcf", force=True)
    (config / "config.yaml").write_text(
        "panel_name: demo\n"
        "cohorts: config/cohorts.tsv\n"
        "samples: config/samples.tsv\n"
        f"reference: {{fasta: {inputs / 'reference.fa'}, build: GRCh38, par: "
        f"{inputs / 'par.bed'}}}\n"
        "contigs: [chr1]\n"
        "chunk_size: 1000\n"
        "genotype_qc: {min_gq: null, min_dp: null, min_dp_haploid: null, min_het_ab: null}\n"
        "privacy: {min_group_size: 1}\n"
        "gdi: {countries: {A: EE, B: IT}}\n"  # the GDI export copes with no record too
    )
    run_snakemake(workdir)
    panel = workdir / "results/panel/demo.sites.vcf.gz"
    with gzip.open(panel, "rt") as vcf:
        lines = vcf.read().splitlines()
    assert lines[-1].startswith("#CHROM") and not [x for x in lines if not x.startswith("#")]
    assert Path(f"{panel}.tbi").is_file()
    with pysam.VariantFile(str(panel)) as vcf:
        assert list(vcf.fetch("chr1")) == []
    table = pd.read_parquet(workdir / "results/panel/demo.sites.parquet")
    assert len(table) == 0
    report = "\n".join(
        p.read_text() for p in (workdir / "results").rglob("*.html") if "summary" in p.name
    )
    assert "The panel has no record" in report


def test_sites_figure_of_cohorts_without_any_record(tmp_path):
    """A cohort with no record at all (every count 0): the log-scaled fate panel shows
    an empty state instead of failing (matplotlib cannot log-scale only zeros)."""
    from europanel.stages.report.data import VARIANT_TYPES
    from europanel.stages.report.figures import plot_sites

    columns = [
        *VARIANT_TYPES,
        "counted",
        "filtered",
        "symbolic",
        "ref_mismatch",
        "split_pct",
        "realigned_pct",
        "duplicates_pct",
    ]
    fates = pd.DataFrame(0, index=pd.Index(["A", "B"], name="cohort"), columns=columns)
    figure = tmp_path / "sites.png"
    plot_sites(fates, str(figure))  # raised ValueError (log scale) before
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
