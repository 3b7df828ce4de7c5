"""`europanel lookup` and the all-sites AN (issue 14): the three answers on the demo.

Expected numbers are derived by hand from the demo's design (resources/demo/TRAPS.md,
config/samples.tsv): NL 30 samples (AN 60 on chr20), EE 24 (48), IT 36 (72); IT's
callable BED covers chr20:1-30000 only, NL and EE have no BED (absent = reference).
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pysam
import pytest

from conftest import DEMO_PANEL, REPO
from europanel.cli import main
from europanel.stages.allsites import write_allsites
from europanel.stages.bundle import Bundle
from europanel.stages.lookup import iter_answers, write_answers

FASTA = str(REPO / "resources/demo/reference.fa")


def lookup(items: list[str], panel_vcf: str, allsites: str, fasta: str) -> list:
    """Every answer at once (the CLI streams them with iter_answers)."""
    return list(iter_answers(items, panel_vcf, allsites, fasta))


@pytest.fixture(scope="module")
def files(demo_run):
    panel = demo_run / f"{DEMO_PANEL}.vcf.gz"
    allsites = demo_run / "results/panel/demo.allsites_an.tsv.gz"
    return str(panel), str(allsites)


def reference_base(contig: str, pos: int, length: int = 1) -> str:
    with pysam.FastaFile(FASTA) as fasta:
        return fasta.fetch(contig, pos - 1, pos - 1 + length).upper()


def other_base(base: str) -> str:
    return "A" if base != "A" else "C"


def absent_snv(panel_vcf: str, contig: str, near: int) -> str:
    """A SNV query at the first position from `near` on where no panel record starts."""
    with pysam.TabixFile(panel_vcf) as vcf:
        starts = {int(line.split("\t")[1]) for line in vcf.fetch(contig, near - 1, near + 1000)}
    pos = next(p for p in range(near, near + 1000) if p not in starts)
    ref = reference_base(contig, pos)
    return f"{contig}:{pos}:{ref}:{other_base(ref)}"


def only(answers, status=None):
    assert len(answers) == 1, answers
    if status:
        assert answers[0].status == status, answers[0]
    return answers[0]


def test_found_after_normalisation(files):
    panel, allsites = files
    # Trap 7: chrX:12000 G>A, AC 8 of AN 129 (NL 42 + EE 36 + IT 51), NL 8 of 42.
    for query in ("chrX:12000:G:A", "X-12000-G-A"):
        answer = only(lookup([query], panel, allsites, FASTA), "found")
        assert (answer.values["AC"], answer.values["AN"]) == (8, 129)
        assert (answer.values["AC_NL"], answer.values["AN_NL"]) == (8, 42)
        assert answer.variant == "chrX:12000:G:A"
    # Trap 1: a multiallelic query is split like the inputs; A>C is AC 6 of AN 180.
    answers = lookup(["chr20:3000:A:C,G"], panel, allsites, FASTA)
    by_variant = {a.variant: a for a in answers}
    assert by_variant["chr20:3000:A:C"].status == "found"
    assert (
        by_variant["chr20:3000:A:C"].values["AC"],
        by_variant["chr20:3000:A:C"].values["AN"],
    ) == (6, 180)


def test_found_for_a_query_written_right_of_its_normalised_position(files):
    panel, allsites = files
    # A one-base deletion in a run of that base: written one base further right, bcftools
    # left-aligns it back onto the panel's record.
    with pysam.VariantFile(panel) as vcf:
        deletion = next(
            r
            for r in vcf
            if r.chrom == "chr20"
            and len(r.ref) == 2
            and len(r.alts[0]) == 1
            and reference_base("chr20", r.pos + 2) == r.ref[1]
        )
    pos = deletion.pos + 1
    query = f"chr20:{pos}:{reference_base('chr20', pos, 2)}:{reference_base('chr20', pos)}"
    answer = only(lookup([query], panel, allsites, FASTA), "found")
    assert answer.variant == f"chr20:{deletion.pos}:{deletion.ref}:{deletion.alts[0]}"


def test_not_observed_inside_and_outside_a_callable_bed_gap(files):
    panel, allsites = files
    # chr20:20000 is inside IT's BED: all 90 samples callable, 180 alleles.
    inside = only(
        lookup([absent_snv(panel, "chr20", 20000)], panel, allsites, FASTA), "not_observed"
    )
    assert (inside.values["AC"], inside.values["AN"], inside.values["AN_IT"]) == (0, 180, 72)
    assert inside.message == "not observed among 180 alleles"
    # chr20:40000 is in the gap of IT's BED: NL 60 + EE 48 alleles, IT has no data.
    gap = only(lookup([absent_snv(panel, "chr20", 40000)], panel, allsites, FASTA), "not_observed")
    assert (gap.values["AN"], gap.values["AN_NL"], gap.values["AN_EE"], gap.values["AN_IT"]) == (
        108,
        60,
        48,
        0,
    )
    assert gap.values["AF_IT"] is None and gap.values["AF"] == 0.0
    assert "no data for IT" in gap.message
    # Non-PAR chrY: XY samples only, one allele each (NL 14 + EE 12 + IT 17 = 43).
    chr_y = only(lookup([absent_snv(panel, "chrY", 20000)], panel, allsites, FASTA), "not_observed")
    assert (chr_y.values["AN"], chr_y.values["AN_XX"], chr_y.values["AN_XY"]) == (43, 0, 43)


@pytest.fixture(scope="module")
def missing_policy_allsites(demo_run, files, tmp_path_factory):
    """All-sites AN with merge.absent_sites = missing: NL and EE (no BED) count nowhere
    without a record, so IT's BED gap has no callable allele at all."""
    folder = tmp_path_factory.mktemp("allsites")
    manifests = [
        Bundle.open(demo_run / f"results/bundles/{c}").manifest for c in ("EE", "IT", "NL")
    ]
    tsv = str(folder / "missing.allsites_an.tsv.gz")
    groups = ["EE", "IT", "NL", "XX", "XY"]
    write_allsites(
        manifests, manifests[0]["contigs"], groups, "missing", tsv, str(folder / "m.parquet")
    )
    return tsv


def test_no_data_in_a_gap_of_the_callable_bed(files, missing_policy_allsites):
    panel, _ = files
    gap = only(
        lookup([absent_snv(panel, "chr20", 40000)], panel, missing_policy_allsites, FASTA),
        "no_data",
    )
    assert gap.values == {}
    inside = only(
        lookup([absent_snv(panel, "chr20", 20000)], panel, missing_policy_allsites, FASTA),
        "not_observed",
    )
    assert (inside.values["AN"], inside.values["AN_IT"], inside.values["AN_NL"]) == (72, 72, 0)
    # A deletion whose REF runs past the BED's last base (30000) is not callable either;
    # its last deleted base differs from the anchor, so left-alignment cannot move it.
    start = next(
        p
        for p in range(29999, 29900, -1)
        if reference_base("chr20", p) != reference_base("chr20", 30001)
    )
    ref = reference_base("chr20", start, 30001 - start + 1)
    answers = lookup([f"chr20:{start}:{ref}:{ref[0]}"], panel, missing_policy_allsites, FASTA)
    assert [a.status for a in answers] == ["no_data"]


def test_invalid_queries_say_why(files):
    panel, allsites = files
    ref = reference_base("chr20", 5000)
    wrong = "A" if ref != "A" else "C"
    answers = lookup([f"chr20:5000:{wrong}:G", "chr20:5000", "chr99:1:A:C"], panel, allsites, FASTA)
    assert [a.status for a in answers] == ["invalid"] * 3
    assert "REF" in answers[0].message and "chr:pos:ref:alt" in answers[1].message


def test_allsites_an_equals_the_panel_an_of_absent_cohorts(demo_run):
    """Where a cohort had no record of a panel site, the merge gave it the structural AN
    (merge.py, in_intervals over the callable BED): the all-sites file must agree."""
    panel = pd.read_parquet(demo_run / f"{DEMO_PANEL}.parquet")
    allsites = pd.read_parquet(demo_run / "results/panel/demo.allsites_an.parquet")
    checked = 0
    snvs = panel[panel["REF"].str.len() == 1]
    for contig, records in snvs.groupby("CHROM"):
        rows = allsites[allsites["contig"] == contig].reset_index(drop=True)
        which = rows["start"].searchsorted(records["POS"].to_numpy(), side="right") - 1
        for cohort in ("EE", "IT", "NL"):
            touched = records["cohorts_called"].fillna("").str.contains(cohort) | records[
                "cohorts_filtered"
            ].fillna("").str.contains(cohort)
            for index, record_which in zip(records.index[~touched], which[~touched.to_numpy()]):
                inside = record_which >= 0 and rows["end"][record_which] >= panel["POS"][index]
                expected = rows[f"AN_{cohort}"][record_which] if inside else 0
                assert panel[f"AN_{cohort}"][index] == expected, (contig, panel["POS"][index])
                checked += 1
    assert checked > 200
    # Run-length encoded: neighbouring rows of a contig differ (else they would be one).
    values = allsites.drop(columns=["start", "end"])
    same = (values.shift() == values).all(axis=1) & (
        allsites["start"] == allsites["end"].shift() + 1
    )
    assert not same.any()
    assert len(allsites) < 20  # the demo's 130 kb: a few BED/PAR boundaries, not positions


def test_cli_json_and_tsv(files, capsys):
    panel, allsites = files
    assert (
        main(["lookup", "chrX:12000:G:A", "--panel", panel, "--fasta", FASTA, "--format", "json"])
        == 0
    )
    answers = json.loads(capsys.readouterr().out)
    assert answers[0]["status"] == "found" and answers[0]["AC"] == 8
    buffer = io.StringIO()
    write_answers(lookup(["chrX:12000:G:A"], panel, allsites, FASTA), ["NL"], "tsv", buffer)
    header, row = buffer.getvalue().splitlines()
    assert header.split("\t")[:6] == ["query", "variant", "status", "message", "FILTER", "AC"]
    assert row.split("\t")[2] == "found"


def test_queries_from_a_vcf_and_from_a_list_file(files, tmp_path):
    panel, allsites = files
    vcf = tmp_path / "queries.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chrX,length=50000>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchrX\t12000\t.\tG\tA\t.\t.\t.\n"
    )
    listed = tmp_path / "queries.txt"
    listed.write_text("# one query per line\nchrX:12000:G:A\n\nX-12000-G-A\n")
    answers = lookup([str(vcf), str(listed)], panel, allsites, FASTA)
    assert [a.status for a in answers] == ["found"] * 3
    assert {a.variant for a in answers} == {"chrX:12000:G:A"}
