"""GDI / Beacon v2 allele-frequency export (issue 14): one sites VCF per country and one for
the panel, with exactly the fields the GDI mini-node's `parquet-writer allele-freq` reads.

Checked against the definitions (bcftools +fill-tags meanings: AC_Het, AC_Hom, AC_Hemi
count ALLELES in het, hom and haploid genotypes):
- on every record: the values equal the published panel's for that cohort, they add up,
  AN > 0, non-negative, AF = AC/AN;
- hand-derived values at the demo's ploidy traps (resources/demo/TRAPS.md);
- the formula (AC_Het = AC - 2 nhomalt - nhemi, AC_Hom = 2 nhomalt) against bcftools
  +fill-tags -t AC_Het,AC_Hom on the normalised demo BCFs (raw counts, autosome).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess

import pandas as pd
import pysam
import pytest

from conftest import DEMO_PANEL, make_workdir, run_snakemake
from europanel.stages.gdi import country_code_problems, country_codes

GDI_FIELDS = {
    "AC": ("A", "Integer"),
    "AN": ("1", "Integer"),
    "AF": ("A", "Float"),
    "AC_Het": ("A", "Integer"),
    "AC_Hom": ("A", "Integer"),
    "AC_Hemi": ("A", "Integer"),
}
COHORTS = ["EE", "IT", "NL"]
GDI_CONTIGS = {str(i) for i in range(1, 23)} | {"X", "Y", "M"}


def gdi_records(path) -> pd.DataFrame:
    rows = []
    with pysam.VariantFile(str(path)) as vcf:
        for rec in vcf:
            row = {"CHROM": rec.chrom, "POS": rec.pos, "REF": rec.ref, "ALT": rec.alts[0]}
            for name in GDI_FIELDS:
                value = rec.info[name]
                row[name] = value[0] if isinstance(value, tuple) else value
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def panel(demo_run) -> pd.DataFrame:
    return pd.read_parquet(demo_run / f"{DEMO_PANEL}.parquet")


def test_one_file_per_published_cohort_and_one_for_the_panel(demo_run):
    gdi = demo_run / "results/gdi"
    summary = json.loads((gdi / "summary.json").read_text())
    assert sorted(summary["files"]) == sorted(COHORTS + ["EU"])
    for code in COHORTS + ["EU"]:
        assert (gdi / f"{code}.sites.vcf.gz").exists()
        assert (gdi / f"{code}.sites.vcf.gz.tbi").exists()


@pytest.mark.parametrize("code", COHORTS + ["EU"])
def test_header_has_exactly_the_gdi_fields(demo_run, code):
    with pysam.VariantFile(str(demo_run / f"results/gdi/{code}.sites.vcf.gz")) as vcf:
        info = {k: (str(v.number), v.type) for k, v in vcf.header.info.items()}
        assert info == GDI_FIELDS
        assert not list(vcf.header.samples)
        contigs = list(vcf.header.contigs)
    assert contigs and all(c.removeprefix("chr") in GDI_CONTIGS for c in contigs)


@pytest.mark.parametrize("code", COHORTS + ["EU"])
def test_fields_follow_their_definitions_and_the_published_panel(demo_run, panel, code):
    gdi = gdi_records(demo_run / f"results/gdi/{code}.sites.vcf.gz")
    suffix = "" if code == "EU" else f"_{code}"
    published = panel[panel[f"AN{suffix}"].fillna(0) > 0]
    # Every record where the panel publishes this group with AN > 0, and no other.
    assert len(gdi) == len(published) > 100
    ours = gdi.rename(columns={name: f"gdi_{name}" for name in GDI_FIELDS})
    merged = ours.merge(published, on=["CHROM", "POS", "REF", "ALT"], how="left")
    assert merged[f"AC{suffix}"].notna().all()
    assert (merged["gdi_AC"] == merged[f"AC{suffix}"]).all()
    assert (merged["gdi_AN"] == merged[f"AN{suffix}"]).all()
    assert (merged["gdi_AC_Hom"] == 2 * merged[f"nhomalt{suffix}"]).all()
    assert (merged["gdi_AC_Hemi"] == merged[f"nhemi{suffix}"]).all()
    # Definitions: alleles in het + hom + hemi genotypes are all the called alt alleles.
    assert (gdi["AC_Het"] + gdi["AC_Hom"] + gdi["AC_Hemi"] == gdi["AC"]).all()
    assert (gdi["AC_Hom"] % 2 == 0).all()
    for name in ("AC", "AN", "AC_Het", "AC_Hom", "AC_Hemi", "AF"):
        assert (gdi[name] >= 0).all(), name
    assert (gdi["AN"] > 0).all()
    assert ((gdi["AF"] - gdi["AC"] / gdi["AN"]).abs() < 1e-5).all()
    # No haploid calls on the autosome; hemizygous calls exist on non-PAR X (demo has them).
    assert (gdi.loc[gdi["CHROM"] == "chr20", "AC_Hemi"] == 0).all()
    assert gdi.loc[(gdi["CHROM"] == "chrX") & (gdi["POS"] > 5000), "AC_Hemi"].sum() > 0


def gdi_record(demo_run, code, chrom, pos, ref, alt) -> dict:
    gdi = gdi_records(demo_run / f"results/gdi/{code}.sites.vcf.gz")
    rows = gdi[(gdi["CHROM"] == chrom) & (gdi["POS"] == pos)]
    rows = rows[(rows["REF"] == ref) & (rows["ALT"] == alt)]
    assert len(rows) == 1, f"{code} {chrom}:{pos}"
    return rows.iloc[0].to_dict()


def test_hand_derived_het_hom_hemi_at_ploidy_traps(demo_run):
    # Trap 7, NL chrX:12000 G>A (non-PAR): `0/1` NL01, NL03 (XX) -> 2 alleles in hets;
    # `1/1` NL05 (XX) -> 2 in a hom; `1` NL02, NL04 and `1/1` NL06, NL08 (XY) -> 4 haploid
    # calls of one allele each; NL29 (NA) not counted. AN 14 XX x 2 + 14 XY = 42.
    nl = gdi_record(demo_run, "NL", "chrX", 12000, "G", "A")
    assert (nl["AC"], nl["AN"], nl["AC_Het"], nl["AC_Hom"], nl["AC_Hemi"]) == (8, 42, 2, 2, 4)
    # Trap 10, NL chrX:2500 C>T (PAR, diploid for all): `0/1` NL01, NL02, NL04, NL30 -> 4
    # in hets; `1/1` NL06 -> 2 in a hom; no haploid call.
    par = gdi_record(demo_run, "NL", "chrX", 2500, "C", "T")
    assert (par["AC"], par["AC_Het"], par["AC_Hom"], par["AC_Hemi"]) == (6, 4, 2, 0)
    # The panel's file sums the cohorts: EE and IT have no carrier at chrX:12000.
    eu = gdi_record(demo_run, "EU", "chrX", 12000, "G", "A")
    assert (eu["AC"], eu["AN"], eu["AC_Hemi"]) == (8, 129, 4)


BCFTOOLS = shutil.which("bcftools")


@pytest.mark.skipif(BCFTOOLS is None, reason="bcftools not installed (apt-get install bcftools)")
@pytest.mark.parametrize("cohort", COHORTS)
def test_het_hom_formula_equals_bcftools_fill_tags(demo_run, demo_normalised, cohort):
    """bcftools +fill-tags' AC_Het/AC_Hom on the normalised BCFs (half-missing calls set to
    missing, as DESIGN §4 counts them) equal the export's formula on the raw counts."""
    compared = 0
    for bcf in sorted((demo_normalised / cohort).glob("chr20-*.bcf")):
        set_missing = subprocess.run(
            [BCFTOOLS, "+setGT", str(bcf), "-Ou", "--", "-t", "./x", "-n", "."],
            capture_output=True,
            check=True,
        )
        filled = subprocess.run(
            [BCFTOOLS, "+fill-tags", "-Ou", "-", "--", "-t", "AC_Het,AC_Hom,AC_Hemi"],
            input=set_missing.stdout,
            capture_output=True,
            check=True,
        )
        query = subprocess.run(
            [BCFTOOLS, "query", "-i", 'FILTER="PASS"', "-f", "%POS\t%AC_Het\t%AC_Hom\t%AC_Hemi\n"],
            input=filled.stdout,
            capture_output=True,
            check=True,
        )
        oracle = [tuple(map(int, line.split("\t"))) for line in query.stdout.decode().splitlines()]
        counts = pd.read_parquet(demo_run / f"results/counts/{cohort}/{bcf.stem}.parquet")
        counts = counts[~counts["filtered"]]
        ac, homalt = counts[f"AC_raw_{cohort}"], counts[f"nhomalt_raw_{cohort}"]
        hemi = counts[f"nhemi_raw_{cohort}"]
        ours = list(zip(counts["pos"], ac - 2 * homalt - hemi, 2 * homalt, hemi))
        assert ours == oracle, bcf.name
        compared += len(ours)
    assert compared > 100


def test_country_codes_are_validated():
    cohorts = ["EE", "Italy", "NL2"]
    codes = country_codes(
        cohorts, "cohorts.tsv", [("Italy", "IT", 3), ("NL2", "XZ", 4)], {"EE": "EE"}
    )
    assert codes["Italy"] == ("IT", "cohorts.tsv line 3")
    problems = country_code_problems(cohorts, codes, "EU")
    assert len(problems) == 1
    assert "cohorts.tsv line 4" in problems[0] and "'XZ' is not one" in problems[0]
    # EU only for the whole panel (x2), one file per country, and the label is the panel's.
    eu = country_codes(["A1", "B1"], None, [], {"A1": "EU", "B1": "EU"})
    assert len(country_code_problems(["A1", "B1"], eu, "EU")) == 4
    assert country_code_problems([], {}, "E1")
    assert not country_code_problems(["EE"], {"EE": ("EE", "label")}, "EU")


@pytest.mark.e2e
def test_bad_country_code_stops_the_run_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "run")
    sheet = workdir / "config/cohorts.tsv"
    lines = sheet.read_text().splitlines()
    rows = [lines[0] + "\tcountry"]
    rows += [line + ("\tITA" if line.startswith("IT") else "\t") for line in lines[1:]]
    sheet.write_text("\n".join(rows) + "\n")
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "config/cohorts.tsv line 4" in message and "'ITA' is not one" in message
    assert "Traceback" not in message


def test_gdi_files_are_sites_only_bgzipped(demo_run):
    with gzip.open(demo_run / "results/gdi/EE.sites.vcf.gz", "rt") as handle:
        header = [line for line in handle if line.startswith("#")]
    assert header[-1].rstrip("\n").split("\t") == [
        "#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
    ]  # fmt: skip


def test_no_sample_id_in_the_gdi_files_or_the_allsites_an(demo_run):
    ids = pd.read_csv(demo_run / "config/samples.tsv", sep="\t", dtype=str)["sample"].tolist()
    paths = sorted((demo_run / "results/gdi").glob("*.sites.vcf.gz"))
    paths.append(demo_run / "results/panel/demo.allsites_an.tsv.gz")
    for path in paths:
        with gzip.open(path, "rt") as handle:
            text = handle.read()
        assert not [s for s in ids if s in text], path.name


def test_pieces_per_chunk_join_into_the_files_of_one_pass(demo_run, tmp_path):
    """The workflow's files (one piece per chunk, joined by bytes and indexes) hold the
    text of one pass over the whole panel, and their indexes answer every contig query
    with every record (none lost or doubled at a chunk boundary)."""
    from europanel.stages.gdi import export_gdi_part, join_gdi

    gdi = demo_run / "results/gdi"
    summary = json.loads((gdi / "summary.json").read_text())
    countries = summary["countries"]
    label = summary["panel_label"]
    export_gdi_part(
        str(demo_run / f"{DEMO_PANEL}.parquet"), str(tmp_path / "all"), countries, label
    )
    with pysam.VariantFile(str(gdi / f"{label}.sites.vcf.gz")) as vcf:
        contigs = {name: vcf.header.contigs[name].length for name in vcf.header.contigs}
    # Headers are not compared (name and FASTA given here only for them): the records are.
    written = join_gdi(
        [str(tmp_path / "all")], str(tmp_path / "out"), countries, label, contigs, "demo", "x"
    )
    assert written == {code: f["records"] for code, f in summary["files"].items()}
    for code in written:
        with gzip.open(gdi / f"{code}.sites.vcf.gz", "rt") as handle:
            pieces = [line for line in handle if not line.startswith("#")]
        with gzip.open(tmp_path / "out" / f"{code}.sites.vcf.gz", "rt") as handle:
            one_pass = [line for line in handle if not line.startswith("#")]
        assert pieces == one_pass, code
        with pysam.VariantFile(str(gdi / f"{code}.sites.vcf.gz")) as vcf:
            found = sum(1 for name in vcf.index for _ in vcf.fetch(name))
        assert found == len(pieces) == written[code], code
    # A piece made for other countries (settings changed since) is refused by name.
    (tmp_path / "all" / "records.json").write_text(json.dumps({label: 1}))
    with pytest.raises(ValueError, match="rerun its gdi_part job") as error:
        join_gdi([str(tmp_path / "all")], str(tmp_path / "o2"), countries, label, contigs, "d", "x")
    assert str(tmp_path / "all") in str(error.value)


def test_gdi_lines_equal_the_naive_formatting():
    """The column-wise GDI record writer against one f-string per record (withheld and
    AN = 0 rows, haploid counts, frequencies needing every `.6g` case)."""
    import numpy as np
    import pyarrow as pa

    from europanel.stages.gdi import gdi_lines, gdi_values

    rng = np.random.default_rng(7)
    n = 500
    an = rng.integers(0, 3000, n)
    ac = np.minimum(rng.integers(0, 40, n), an)
    nhomalt = ac // 4
    batch = pa.RecordBatch.from_pydict(
        {
            "CHROM": ["chr20"] * (n - 50) + ["chrX"] * 50,
            "POS": np.arange(1, n + 1) * 7,
            "REF": ["A"] * n,
            "ALT": ["CT" if i % 9 == 0 else "G" for i in range(n)],
            "FILTER": ["PASS" if i % 11 else "AC0" for i in range(n)],
            "AC": pa.array([None if i % 13 == 0 else int(v) for i, v in enumerate(ac)]),
            "AN": pa.array(an.tolist()),
            "nhomalt": pa.array(nhomalt.tolist()),
            "nhemi": pa.array([int(v % 3) if i >= n - 50 else 0 for i, v in enumerate(ac)]),
        }
    )
    values = gdi_values(batch, None)
    rows = np.flatnonzero(values["keep"])
    assert 0 < len(rows) < n  # some withheld (null AC) and some with AN = 0
    site = batch.to_pydict()
    expected = "".join(
        f"{site['CHROM'][i]}\t{site['POS'][i]}\t.\t{site['REF'][i]}\t{site['ALT'][i]}\t.\t"
        f"{site['FILTER'][i]}\tAC={values['AC'][i]};AN={values['AN'][i]};"
        f"AF={values['AF'][i]:.6g};AC_Het={values['AC_Het'][i]};"
        f"AC_Hom={values['AC_Hom'][i]};AC_Hemi={values['AC_Hemi'][i]}\n"
        for i in rows
    )
    assert gdi_lines(batch, values, rows) == expected.encode()
    assert gdi_lines(batch, values, rows[:0]) == b""
