"""End to end on the bundled demo: each trap of resources/demo/TRAPS.md against hand-derived counts.

Every expected number below is derived by hand from TRAPS.md, config/samples.tsv and
DESIGN.md §4-§6, never copied from the pipeline's output. The arithmetic is in the comments.

Sample sheet (config/samples.tsv), per cohort:
    NL (30): NWE NL01-NL24 (12 XX odd, 12 XY even); SEU NL25-NL30 (XX NL25 NL27, XY NL26 NL28,
             NA NL29 NL30)                          -> 14 XX, 14 XY, 2 NA
    EE (24): NWE EE01-EE17 (9 XX, 8 XY); SEU EE18-EE21 (XX EE19 EE21, XY EE18 EE20);
             FIN EE22-EE24 (XX EE23, XY EE22 EE24)  -> 12 XX, 12 XY
    IT (36): SEU IT01-IT28 (14 XX, 14 XY); NWE IT29-IT36 (XX IT29 IT31 IT33, XY IT30 IT32 IT34,
             NA IT35 IT36)                          -> 17 XX, 17 XY, 2 NA
    populations: NWE 24+17+8 = 49, SEU 6+4+28 = 38, FIN 3 (< min_group_size 5: withheld)
    sexes: XX 14+12+17 = 43, XY 14+12+17 = 43, NA 2+0+2 = 4
    NWE_XX 12+9+3 = 24, NWE_XY 12+8+3 = 23, SEU_XX 2+2+14 = 18, SEU_XY 2+2+14 = 18,
    FIN_XX 1, FIN_XY 2 (withheld)

Reference AN (no call = hom-ref) by ploidy class (DESIGN §4: autosome/chrX PAR everyone 2;
non-PAR X: XX 2, XY 1, NA 0; non-PAR Y: XY 1, XX 0, NA 0; chrY PAR: XY 2, NA 2, XX 0,
where the demo has no record):
    autosome/PAR: NL 30x2 = 60, EE 24x2 = 48, IT 36x2 = 72; all 180
                  NWE 49x2 = 98, SEU 38x2 = 76, XX 86, XY 86
    non-PAR X:    NL 14x2 + 14x1 = 42, EE 12x2 + 12 = 36, IT 17x2 + 17 = 51; all 129
                  NWE (12x2+12) + (9x2+8) + (3x2+3) = 36+26+9 = 71,
                  SEU (2x2+2) + (2x2+2) + (14x2+14) = 6+6+42 = 54, FIN 2+2 = 4; XX 86, XY 43
    non-PAR Y:    NL 14, EE 12, IT 17; all 43; NWE 12+8+3 = 23, SEU 2+2+14 = 18, XX 0

Absent sites: NL and EE have no callable BED and absent_sites is `reference`: reference AN
wherever they lack a site. IT's callable BED is chr20:1-30000 and all of chrX/chrY: reference
AN only where the site lies inside it, otherwise AN_IT 0. A cohort whose record failed FILTER
contributes AN 0. Non-trap samples at trap sites are good-quality reference, so adj == raw
except at traps 14 and 15 (the QC traps).
"""

from __future__ import annotations

import gzip
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest

REPO = Path(__file__).resolve().parent.parent
PARQUET_NAME = "demo.sites.parquet"
COHORT_LISTS = ("cohorts_called", "cohorts_filtered")
# Every group published on its own: 3 cohorts, 2 populations (FIN withheld), 2 sexes,
# 4 population x sex groups (FIN_XX, FIN_XY withheld).
PUBLISHED_GROUPS = {
    "NL",
    "EE",
    "IT",
    "NWE",
    "SEU",
    "XX",
    "XY",
    "NWE_XX",
    "NWE_XY",
    "SEU_XX",
    "SEU_XY",
}


# ------------------------------------------------------------------------------------ helpers
def _plain(key: str, value):
    """pysam INFO value -> plain Python: Number=A single values unwrapped, cohort lists as sets."""
    if key in COHORT_LISTS:
        items = value if isinstance(value, tuple) else (value,)
        return frozenset(x for item in items for x in str(item).split(","))
    if isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


@pytest.fixture(scope="module")
def panel(demo_vcf, unsuppressed_demo_panel) -> dict[tuple[str, int, str, str], dict]:
    """Every panel record as {FILTER, INFO...}, keyed by (CHROM, POS, REF, ALT); under
    TWIN, the same record without disclosure control (conftest.unsuppressed_demo_panel)."""
    twins = {
        (r["CHROM"], r["POS"], r["REF"], r["ALT"]): {k: v for k, v in r.items() if not pd.isna(v)}
        for r in unsuppressed_demo_panel.to_dict("records")
    }
    records: dict[tuple[str, int, str, str], dict] = {}
    with pysam.VariantFile(str(demo_vcf)) as vcf:
        for rec in vcf:
            key = (rec.chrom, rec.pos, rec.ref, ",".join(rec.alts or ()))
            assert key not in records, f"record {key} appears twice in the panel"
            fields = {"FILTER": ";".join(rec.filter.keys()) or "."}
            fields.update({k: _plain(k, v) for k, v in rec.info.items()})
            fields[TWIN] = twins[key]
            records[key] = fields
    return records


TWIN = "__unsuppressed__"
GROUP_PREFIXES = ("AC_", "AN_", "AF_", "nhomalt_", "faf95_", "faf99_")


def withheld_here(rec: dict, key: str) -> bool:
    """Whether disclosure control explains a field's absence or change at this record:
    its group is withheld here (its AC is absent while the group is published on its own
    elsewhere), or, for grpmax/fafmax, the unsuppressed choice is such a group."""
    twin = rec[TWIN]
    if "grpmax" in key or key.startswith("fafmax"):
        chosen = twin.get("fafmax_faf95_max_gen_anc" if "faf" in key else "grpmax")
        return chosen in PUBLISHED_GROUPS and f"AC_{chosen}" not in rec
    for prefix in GROUP_PREFIXES:
        if key.startswith(prefix):
            group = key[len(prefix) :]
            return group in PUBLISHED_GROUPS and f"AC_{group}" not in rec
    return False


def _matches(rec: dict, key: str, want) -> bool:
    got = rec.get(key, "<absent>")
    if want is None:
        return key not in rec
    if isinstance(want, float):
        return (
            key in rec
            and isinstance(got, float)
            and math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-12)
        )
    if isinstance(want, (set, frozenset)):
        return got == frozenset(want)
    return got == want


def record(panel: dict, chrom: str, pos: int, ref: str, alt: str) -> dict:
    """The panel record at CHROM:POS REF>ALT; fails naming what is there instead."""
    key = (chrom, pos, ref, alt)
    if key not in panel:
        nearby = [k for k in panel if k[0] == chrom and abs(k[1] - pos) <= 20]
        pytest.fail(
            f"{chrom}:{pos} {ref}>{alt} is not in the panel; records within 20 bp: "
            f"{nearby or 'none'}"
        )
    return panel[key]


def assert_absent(panel: dict, chrom: str, pos: int, ref: str | None = None) -> None:
    """No record at CHROM:POS (with this REF, if given)."""
    found = [k for k in panel if k[0] == chrom and k[1] == pos and (ref is None or k[2] == ref)]
    assert not found, f"{chrom}:{pos}{' ' + ref if ref else ''} must not be in the panel: {found}"


def assert_fields(rec: dict, expected: dict, where: str) -> None:
    """Compare fields; None = key absent, float = relative 1e-5 (VCF floats have 6 digits),
    set = cohort list. Reports every mismatch at once."""
    problems = []
    for key, want in expected.items():
        got = rec.get(key, "<absent>")
        ok = _matches(rec, key, want)
        if not ok and TWIN in rec and want is not None and withheld_here(rec, key):
            # Disclosure control (docs/PRIVACY.md) withholds this group at this record so
            # that no small group can be derived: the trap's value is then checked on the
            # same record merged without suppression, from the same counts.
            ok = _matches(rec[TWIN], key, want)
        if not ok:
            problems.append(f"{key}: expected {'absent' if want is None else want!r}, got {got!r}")
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)


def vcf_text(path: Path) -> str:
    with gzip.open(path, "rt") as handle:  # BGZF is gzip-compatible
        return handle.read()


def sheet_sample_ids() -> list[str]:
    return pd.read_csv(REPO / "config" / "samples.tsv", sep="\t", dtype=str)["sample"].tolist()


# -------------------------------------------------------------------------------------- traps
def test_multiallelic_site_is_split_into_biallelic_records(panel):
    # Trap 1, NL chr20:3000 A>C,G. Split: the other ALT becomes REF, 1/2 is a het in both.
    assert not any(k[:2] == ("chr20", 3000) and "," in k[3] for k in panel), "unsplit record"
    # A>C carriers: 0/1 NL01 (XX NWE), NL02 (XY NWE), NL26 (XY SEU); NL05 1/2 -> het (XX NWE);
    # NL06 1/1 (XY NWE); NL03, NL04 0/2 -> 0/0.
    # AC = 1+1+1+1+2 = 6; AN = NL 60 + EE 48 (absent -> reference) + IT 72 (inside BED) = 180
    rec = record(panel, "chr20", 3000, "A", "C")
    assert_fields(
        rec,
        {
            "FILTER": "PASS",
            "AC": 6,
            "AN": 180,
            "AF": 6 / 180,
            "nhomalt": 1,
            "nhemi": 0,  # nhomalt: NL06
            "AC_raw": 6,
            "AN_raw": 180,
            "nhomalt_raw": 1,
            "AC_NL": 6,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_NWE": 5,
            "AN_NWE": 98,  # NL01 + NL02 + NL05 + NL06 x2 = 5
            "AC_SEU": 1,
            "AN_SEU": 76,  # NL26
            "AC_XX": 2,
            "AN_XX": 86,  # NL01 + NL05
            "AC_XY": 4,
            "AN_XY": 86,
            "nhomalt_XY": 1,  # NL02 + NL26 + NL06 x2
            "AC_NWE_XY": 3,
            "AN_NWE_XY": 46,  # NL02 + NL06 x2; 23 x 2
            # grpmax: NWE 5/98 = 0.051 > SEU 1/76 = 0.013
            "grpmax": "NWE",
            "AC_grpmax": 5,
            "AN_grpmax": 98,
            "nhomalt_grpmax": 1,
            "AF_grpmax": 5 / 98,
            "fafmax_faf95_max_gen_anc": "NWE",  # faf95_SEU is 0 (AC 1)
            "faf95_SEU": 0.0,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:3000 A>C",
    )
    assert 0 < rec["faf99"] < rec["faf95"] < rec["AF"]  # faf is below AF when AC > 1
    # A>G carriers: 0/2 NL03 (XX NWE), NL04 (XY NWE) -> 0/1; NL05 1/2 -> 0/1 (XX NWE);
    # NL01, NL02, NL26 0/1 and NL06 1/1 -> 0/0. AC = 3, no hom-alt.
    assert_fields(
        record(panel, "chr20", 3000, "A", "G"),
        {
            "FILTER": "PASS",
            "AC": 3,
            "AN": 180,
            "AF": 3 / 180,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 3,
            "AN_raw": 180,
            "AC_NL": 3,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_NWE": 3,
            "AC_SEU": 0,
            "AC_XX": 2,
            "AC_XY": 1,  # NL03 + NL05; NL04
            "grpmax": "NWE",
            "AC_grpmax": 3,
            "AN_grpmax": 98,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:3000 A>G",
    )
    assert {k for k in panel if k[:2] == ("chr20", 3000)} == {
        ("chr20", 3000, "A", "C"),
        ("chr20", 3000, "A", "G"),
    }


def test_indel_written_at_two_positions_in_same_chunk_is_one_record(panel):
    # Trap 2: NL chr20:12000 GA>G (NL07 0/1 XX, NL08 1/1 XY) and EE 20:12005 AA>A (EE01 0/1 XX,
    # EE02 0/1 XY), both NWE; A8 at 12001-12008 left-aligns EE's to 12000 GA>G.
    # AC = NL (1 + 2) + EE (1 + 1) = 5; AN = 60 + 48 + IT 72 (inside BED, reference) = 180
    assert_fields(
        record(panel, "chr20", 12000, "GA", "G"),
        {
            "FILTER": "PASS",
            "AC": 5,
            "AN": 180,
            "AF": 5 / 180,
            "nhomalt": 1,
            "nhemi": 0,  # NL08
            "AC_raw": 5,
            "AN_raw": 180,
            "AC_NL": 3,
            "AN_NL": 60,
            "AC_EE": 2,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_NWE": 5,
            "AN_NWE": 98,
            "AC_SEU": 0,
            "AN_SEU": 76,
            "AC_XX": 2,
            "AC_XY": 3,  # NL07 + EE01; NL08 x2 + EE02
            "cohorts_called": {"NL", "EE"},
            "cohorts_filtered": None,
        },
        "chr20:12000 GA>G",
    )
    assert [k for k in panel if k[0] == "chr20" and 11990 <= k[1] <= 12020] == [
        ("chr20", 12000, "GA", "G")
    ], "EE's AA>A must not survive at its written position"


def test_indel_written_at_two_positions_in_different_chunks_is_one_record(panel):
    # Trap 3: NL chr20:19994 GCA>G (chunk 2; NL09 0/1 XX NWE, NL10 0/1 XY NWE) and
    # IT chr20:20006 ACA>A (chunk 3; IT01 0/1 XX SEU, IT03 1/1 XX SEU) -> left-aligned in (CA)7.
    # AC = NL 2 + IT 3 = 5; AN = NL 60 + EE 48 (reference) + IT 72 = 180
    assert_fields(
        record(panel, "chr20", 19994, "GCA", "G"),
        {
            "FILTER": "PASS",
            "AC": 5,
            "AN": 180,
            "AF": 5 / 180,
            "nhomalt": 1,
            "nhemi": 0,  # IT03
            "AC_raw": 5,
            "AN_raw": 180,
            "AC_NL": 2,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 3,
            "AN_IT": 72,
            "AC_NWE": 2,
            "AN_NWE": 98,
            "AC_SEU": 3,
            "AN_SEU": 76,
            "nhomalt_SEU": 1,
            "AC_XX": 4,
            "AC_XY": 1,  # NL09 + IT01 + IT03 x2; NL10
            # grpmax: SEU 3/76 = 0.039 > NWE 2/98 = 0.020
            "grpmax": "SEU",
            "AC_grpmax": 3,
            "AN_grpmax": 76,
            "nhomalt_grpmax": 1,
            "cohorts_called": {"NL", "IT"},
            "cohorts_filtered": None,
        },
        "chr20:19994 GCA>G",
    )
    assert [k for k in panel if k[0] == "chr20" and 19980 <= k[1] <= 20020] == [
        ("chr20", 19994, "GCA", "G")
    ], "IT's ACA>A at 20006 must be the same record, counted once"


def test_deletion_crossing_a_chunk_boundary_is_counted_once(panel):
    # Trap 4: chr20:29997 GATCCTAT>G (REF spans 29997-30004) in NL (NL11 0/1 XX NWE) and EE
    # (EE03 0/1 XX NWE, EE04 1/1 XY NWE). Its POS is in IT's callable BED (1-30000) but its
    # deleted bases 30001-30004 are not: IT could not have called this deletion (the demo
    # generator keeps IT's records whose REF ends past 30000 out for that reason), so IT
    # contributes nothing (DESIGN §5: reference only where the BED covers the site).
    # AC = 1 + 1 + 2 = 4; AN = NL 60 + EE 48 = 108
    assert_fields(
        record(panel, "chr20", 29997, "GATCCTAT", "G"),
        {
            "FILTER": "PASS",
            "AC": 4,
            "AN": 108,
            "AF": 4 / 108,
            "nhomalt": 1,
            "nhemi": 0,  # EE04
            "AC_raw": 4,
            "AN_raw": 108,
            "AC_NL": 1,
            "AN_NL": 60,
            "AC_EE": 3,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 0,
            "AF_IT": None,
            "AC_NWE": 4,
            "AN_NWE": 82,  # NL 24x2 + EE 17x2 = 48 + 34
            "AC_SEU": 0,
            "AN_SEU": 20,  # NL 6x2 + EE 4x2 = 12 + 8
            "AC_XX": 2,
            "AN_XX": 52,  # NL11 + EE03; (14 + 12) x 2
            "AC_XY": 2,
            "AN_XY": 52,  # EE04 x2; (14 + 12) x 2 (+ NL's 2 NA x 2 = 108)
            "grpmax": "NWE",
            "AC_grpmax": 4,
            "AN_grpmax": 82,
            "cohorts_called": {"NL", "EE"},
            "cohorts_filtered": None,
        },
        "chr20:29997 GATCCTAT>G",
    )
    assert [k for k in panel if k[0] == "chr20" and 29990 <= k[1] <= 30010] == [
        ("chr20", 29997, "GATCCTAT", "G")
    ]


def test_non_pass_site_contributes_nothing_and_is_listed_as_filtered(panel):
    # Trap 5: chr20:5500 C>T PASS in NL (NL12 0/1 XY NWE, NL13 0/1 XX NWE), LowQual in IT
    # (IT05, IT06 not counted: IT contributes AN 0). EE lacks it -> reference.
    # AC = 2; AN = NL 60 + EE 48 + IT 0 = 108
    assert_fields(
        record(panel, "chr20", 5500, "C", "T"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 108,
            "AF": 2 / 108,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 2,
            "AN_raw": 108,
            "nhomalt_raw": 0,
            "AC_NL": 2,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 0,
            "AF_IT": None,
            "AC_SEU": 0,
            "AN_SEU": 20,  # NL 12 + EE 8; IT's 56 not counted
            "AC_NWE": 2,
            "AN_NWE": 82,  # NL 48 + EE 34
            "AC_XX": 1,
            "AC_XY": 1,
            "cohorts_called": {"NL"},
            "cohorts_filtered": {"IT"},
        },
        "chr20:5500 C>T",
    )
    # EE's LowQual chr20:7000 G>A is the only record there: raw AC 0 -> not in the panel.
    assert_absent(panel, "chr20", 7000)


def test_missing_and_half_missing_calls_are_not_counted(panel):
    # Trap 6, NL chr20:14000 G>T (all NWE): ./. NL14 (XY), NL15 (XX), NL16 (XY);
    # ./1 NL17 (XX), NL18 (XY), NL19 (XX) -> missing; 0/1 NL20 (XY), NL21 (XX), NL22 (XY).
    # AC = 3; AN_NL = 60 - 6 missing x 2 = 48; AN = 48 + EE 48 + IT 72 = 168
    assert_fields(
        record(panel, "chr20", 14000, "G", "T"),
        {
            "FILTER": "PASS",
            "AC": 3,
            "AN": 168,
            "AF": 3 / 168,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 3,
            "AN_raw": 168,
            "nhomalt_raw": 0,
            "AC_NL": 3,
            "AN_NL": 48,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_NWE": 3,
            "AN_NWE": 86,  # 98 - 12
            "AC_XX": 1,
            "AN_XX": 80,  # NL21; 86 - 2 x (NL15, NL17, NL19)
            "AC_XY": 2,
            "AN_XY": 80,  # NL20 + NL22; 86 - 2 x (NL14, NL16, NL18)
            "AN_NWE_XX": 42,
            "AN_NWE_XY": 40,  # 48 - 6; 46 - 6
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:14000 G>T",
    )


def test_xy_written_1_and_1_1_on_nonpar_x_are_hemizygous(panel):
    # Trap 7, NL chrX:12000 G>A (non-PAR), all carriers NWE except NL29 (SEU, NA):
    # `1` NL02, NL04 and `1/1` NL06, NL08 (XY) -> 4 hemizygous calls, 1 allele each;
    # `1/1` NL05 (XX) -> 2, hom-alt; `0/1` NL01, NL03 (XX) -> 1 each; NL29 (NA) not counted.
    # AC = 4 + 2 + 2 = 8
    # AN: NL 14 XX x 2 + 14 XY x 1 = 42 (NL29, NL30 NA: not counted on non-PAR X);
    #     EE (absent -> reference) 12 x 2 + 12 = 36; IT (BED covers chrX) 17 x 2 + 17 = 51
    #     -> 42 + 36 + 51 = 129
    assert_fields(
        record(panel, "chrX", 12000, "G", "A"),
        {
            "FILTER": "PASS",
            "AC": 8,
            "AN": 129,
            "AF": 8 / 129,
            "nhomalt": 1,
            "nhemi": 4,  # NL05; NL02/04/06/08
            "AC_raw": 8,
            "AN_raw": 129,
            "nhomalt_raw": 1,
            "AC_NL": 8,
            "AN_NL": 42,
            "AC_EE": 0,
            "AN_EE": 36,
            "AC_IT": 0,
            "AN_IT": 51,
            "AC_XX": 4,
            "AN_XX": 86,
            "nhomalt_XX": 1,  # NL05 x2 + NL01 + NL03; 43 x 2
            "AC_XY": 4,
            "AN_XY": 43,
            "nhomalt_XY": 0,  # 43 x 1; haploid calls are not hom-alt
            "AC_NWE": 8,
            "AN_NWE": 71,  # NL 24+12, EE 18+8, IT 6+3 (IT35/IT36 NA)
            "AC_SEU": 0,
            "AN_SEU": 54,  # NL 4+2 (NL29/NL30 NA), EE 4+2, IT 28+14
            "AC_NWE_XY": 4,
            "AN_NWE_XY": 23,  # 12 + 8 + 3
            "AC_NWE_XX": 4,
            "AN_NWE_XX": 48,  # 24 x 2
            "grpmax": "NWE",
            "AC_grpmax": 8,
            "AN_grpmax": 71,
            "nhomalt_grpmax": 1,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chrX:12000 G>A",
    )


def test_xy_het_on_nonpar_x_is_set_to_missing(panel):
    # Trap 8, IT chrX:22000 T>C (non-PAR), all SEU: `0/1` IT02 (XY) -> missing;
    # `0/1` IT07 (XX); `1` IT04 (XY).
    # AC = 1 + 1 = 2; AN = IT 51 - 1 (IT02) = 50 + NL 42 + EE 36 (absent -> reference) = 128
    assert_fields(
        record(panel, "chrX", 22000, "T", "C"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 128,
            "AF": 2 / 128,
            "nhomalt": 0,
            "nhemi": 1,  # IT04
            "AC_raw": 2,
            "AN_raw": 128,
            "nhomalt_raw": 0,
            "AC_IT": 2,
            "AN_IT": 50,
            "AC_NL": 0,
            "AN_NL": 42,
            "AC_EE": 0,
            "AN_EE": 36,
            "AC_XY": 1,
            "AN_XY": 42,  # IT04; 43 - IT02
            "AC_XX": 1,
            "AN_XX": 86,  # IT07
            "AC_SEU": 2,
            "AN_SEU": 53,  # 54 - IT02
            "AC_SEU_XY": 1,
            "AN_SEU_XY": 17,  # NL 2 + EE 2 + IT 14 = 18, - IT02
            "AC_NWE": 0,
            "AN_NWE": 71,
            "grpmax": "SEU",
            "AC_grpmax": 2,
            "AN_grpmax": 53,
            "cohorts_called": {"IT"},
            "cohorts_filtered": None,
        },
        "chrX:22000 T>C",
    )


def test_xx_calls_on_chry_are_ignored(panel):
    # Trap 9, EE Y:12000 A>G (non-PAR Y; EE's `Y` renamed chrY): `0/1` EE01, `1/1` EE03 (XX)
    # ignored; `1` EE02, EE04 (XY NWE).
    # AC = 2; AN = XY only: EE 12 + NL 14 (reference) + IT 17 (BED covers chrY) = 43
    assert_fields(
        record(panel, "chrY", 12000, "A", "G"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 43,
            "AF": 2 / 43,
            "nhomalt": 0,
            "nhemi": 2,
            "AC_raw": 2,
            "AN_raw": 43,
            "nhomalt_raw": 0,
            "AC_EE": 2,
            "AN_EE": 12,
            "AC_NL": 0,
            "AN_NL": 14,
            "AC_IT": 0,
            "AN_IT": 17,
            "AC_XX": 0,
            "AN_XX": 0,
            "AF_XX": None,  # XX not counted on chrY
            "AC_XY": 2,
            "AN_XY": 43,
            "AC_NWE": 2,
            "AN_NWE": 23,  # XY: NL 12 + EE 8 + IT 3
            "AC_SEU": 0,
            "AN_SEU": 18,  # XY: NL 2 + EE 2 + IT 14
            "AC_NWE_XX": 0,
            "AN_NWE_XX": 0,
            "AC_NWE_XY": 2,
            "AN_NWE_XY": 23,
            "grpmax": "NWE",
            "AC_grpmax": 2,
            "AN_grpmax": 23,
            "cohorts_called": {"EE"},
            "cohorts_filtered": None,
        },
        "chrY:12000 A>G",
    )
    assert not any(k[0] in ("Y", "X", "20") for k in panel), "contig names not harmonised"


def test_par_site_is_diploid_for_everyone(panel):
    # Trap 10, NL chrX:2500 C>T (PAR 1-5000): `0/1` NL01 (XX NWE), NL02, NL04 (XY NWE),
    # NL30 (NA SEU); `1/1` NL06 (XY NWE). Everyone diploid, NA counted.
    # AC = 4 + 2 = 6; AN = NL 60 + EE 48 + IT 72 = 180 (as on an autosome)
    assert_fields(
        record(panel, "chrX", 2500, "C", "T"),
        {
            "FILTER": "PASS",
            "AC": 6,
            "AN": 180,
            "AF": 6 / 180,
            "nhomalt": 1,
            "nhemi": 0,  # NL06 hom-alt, not hemi
            "AC_raw": 6,
            "AN_raw": 180,
            "nhomalt_raw": 1,
            "AC_NL": 6,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_XY": 4,
            "AN_XY": 86,
            "nhomalt_XY": 1,  # NL02 + NL04 + NL06 x2; 43 x 2
            "AC_XX": 1,
            "AN_XX": 86,  # NL01
            "AC_SEU": 1,
            "AN_SEU": 76,  # NL30 (NA) counts in its population
            "AC_NWE": 5,
            "AN_NWE": 98,
            "AC_NWE_XY": 4,
            "AN_NWE_XY": 46,
            "grpmax": "NWE",
            "AC_grpmax": 5,
            "AN_grpmax": 98,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chrX:2500 C>T",
    )


def test_sample_in_vcf_but_not_in_sheet_is_not_counted(panel):
    # Trap 11: only NL99 (in NL's VCF, not in the sheet) carries chr20:16000 A>G -> raw AC 0
    # over sheet samples -> no record.
    assert_absent(panel, "chr20", 16000)
    # NL99 (0/0, generated XX) must not add alleles anywhere either: NL is 30 sheet samples.
    assert record(panel, "chr20", 25000, "T", "G")["AN_NL"] == 60  # 30 x 2, not 31 x 2
    assert record(panel, "chrX", 12000, "G", "A")["AN_NL"] == 42  # 14 x 2 + 14, not + 2


def test_exact_duplicate_record_counted_once(panel):
    # Trap 12, IT chr20:22000 C>A written twice: `0/1` IT08 (XY SEU), IT09 (XX SEU).
    # AC = 2 (not 4); AN = IT 72 (not 144) + NL 60 + EE 48 = 180
    assert_fields(
        record(panel, "chr20", 22000, "C", "A"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 180,
            "AF": 2 / 180,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 2,
            "AN_raw": 180,
            "AC_IT": 2,
            "AN_IT": 72,
            "AC_NL": 0,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_SEU": 2,
            "AN_SEU": 76,
            "AC_NWE": 0,
            "AN_NWE": 98,
            "AC_XX": 1,
            "AC_XY": 1,
            "grpmax": "SEU",
            "AC_grpmax": 2,
            "AN_grpmax": 76,
            "cohorts_called": {"IT"},
            "cohorts_filtered": None,
        },
        "chr20:22000 C>A",
    )
    assert [k for k in panel if k[:2] == ("chr20", 22000)] == [("chr20", 22000, "C", "A")]


def test_site_only_one_cohort_has_uses_callable_bed_of_another(panel):
    # Trap 13, NL only. chr20:25000 T>G (`0/1` NL23 XX NWE, NL24 XY NWE): inside IT's BED
    # (1-30000) -> IT adds AC 0, AN 72; EE (no BED, reference) adds AN 48.
    # AC = 2; AN = 60 + 48 + 72 = 180
    assert_fields(
        record(panel, "chr20", 25000, "T", "G"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 180,
            "AF": 2 / 180,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 2,
            "AN_raw": 180,
            "AC_NL": 2,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_NWE": 2,
            "AN_NWE": 98,
            "AN_SEU": 76,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:25000 T>G",
    )
    # chr20:40000 A>T (`0/1` NL25, `1/1` NL27, both XX SEU): outside IT's BED -> IT adds
    # nothing; EE reference. AC = 1 + 2 = 3; AN = 60 + 48 = 108
    assert_fields(
        record(panel, "chr20", 40000, "A", "T"),
        {
            "FILTER": "PASS",
            "AC": 3,
            "AN": 108,
            "AF": 3 / 108,
            "nhomalt": 1,
            "nhemi": 0,  # NL27
            "AC_raw": 3,
            "AN_raw": 108,
            "AC_NL": 3,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 0,
            "AF_IT": None,
            "AC_SEU": 3,
            "AN_SEU": 20,  # NL 6 x 2 + EE 4 x 2
            "AC_NWE": 0,
            "AN_NWE": 82,  # NL 24 x 2 + EE 17 x 2
            "AC_SEU_XX": 3,
            "AN_SEU_XX": 8,  # (NL 2 + EE 2) x 2
            "grpmax": "SEU",
            "AC_grpmax": 3,
            "AN_grpmax": 20,
            "nhomalt_grpmax": 1,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:40000 A>T",
    )


def test_adj_ac0_site_has_filter_ac0(panel):
    # Trap 14, IT chr20:27000 G>C: `0/1` IT10 (XY SEU, GQ 12), `1/1` IT11 (XX SEU, GQ 15):
    # both fail GQ >= 20. raw AC = 1 + 2 = 3, raw AN = 180; adj: both calls dropped,
    # AC 0, AN = 180 - 2 x 2 = 176 (IT 72 - 4 = 68).
    assert_fields(
        record(panel, "chr20", 27000, "G", "C"),
        {
            "FILTER": "AC0",
            "AC": 0,
            "AN": 176,
            "AF": 0.0,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 3,
            "AN_raw": 180,
            "AF_raw": 3 / 180,
            "nhomalt_raw": 1,  # IT11
            "AC_IT": 0,
            "AN_IT": 68,
            "AC_NL": 0,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_SEU": 0,
            "AN_SEU": 72,  # 76 - 4
            "AN_XX": 84,
            "AN_XY": 84,  # 86 - IT11 x 2; 86 - IT10 x 2
            "faf95": 0.0,
            "faf99": 0.0,
            "grpmax": None,
            "AC_grpmax": None,
            "AN_grpmax": None,  # no population with AC > 0
            "cohorts_called": {"IT"},
            "cohorts_filtered": None,
        },
        "chr20:27000 G>C",
    )


def test_het_failing_allele_balance_fails_adj(panel):
    # Trap 15, EE chr20:8000 T>C: `0/1` EE07 (XX NWE, AD 27,3 DP 30 -> AB 0.1 < 0.2: fails adj),
    # `0/1` EE08 (XY NWE, AD 15,15: passes).
    # raw: AC 2, AN 180; adj: AC 1, AN 180 - 2 = 178 (EE 48 - 2 = 46)
    assert_fields(
        record(panel, "chr20", 8000, "T", "C"),
        {
            "FILTER": "PASS",
            "AC": 1,
            "AN": 178,
            "AF": 1 / 178,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 2,
            "AN_raw": 180,
            "AF_raw": 2 / 180,
            "AC_EE": 1,
            "AN_EE": 46,
            "AC_NL": 0,
            "AN_NL": 60,
            "AC_IT": 0,
            "AN_IT": 72,
            "AC_XX": 0,
            "AN_XX": 84,
            "AC_XY": 1,
            "AN_XY": 86,
            "AC_NWE": 1,
            "AN_NWE": 96,
            "AC_NWE_XX": 0,
            "AN_NWE_XX": 46,  # 98 - 2; 48 - 2
            "faf95": 0.0,
            "faf99": 0.0,  # AC <= 1
            "grpmax": "NWE",
            "AC_grpmax": 1,
            "AN_grpmax": 96,
            "cohorts_called": {"EE"},
            "cohorts_filtered": None,
        },
        "chr20:8000 T>C",
    )


def test_multiallelic_split_and_left_align_meets_other_cohort(panel):
    # Trap 16: NL chr20:35005 TT>T,GT (`0/1` NL09 XX, `0/2` NL10 XY, `1/2` NL11 XX, all NWE);
    # EE chr20:35000 CT>C (`0/1` EE09 XX NWE). T6 at 35001-35006 after C at 35000.
    # Outside IT's BED (> 30000): IT adds nothing. AN = NL 60 + EE 48 = 108 for both.
    # Deletion: NL09 0/1, NL11 1/2 -> het, NL10 0/2 -> 0/0; + EE09. AC = 1 + 1 + 1 = 3
    assert_fields(
        record(panel, "chr20", 35000, "CT", "C"),
        {
            "FILTER": "PASS",
            "AC": 3,
            "AN": 108,
            "AF": 3 / 108,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 3,
            "AN_raw": 108,
            "AC_NL": 2,
            "AN_NL": 60,
            "AC_EE": 1,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 0,
            "AC_XX": 3,
            "AC_XY": 0,
            "AC_NWE": 3,
            "AN_NWE": 82,
            "cohorts_called": {"NL", "EE"},
            "cohorts_filtered": None,
        },
        "chr20:35000 CT>C",
    )
    # SNV (TT>GT trimmed): NL10 0/2 -> 0/1 (XY), NL11 1/2 -> 0/1 (XX). EE reference. AC = 2
    assert_fields(
        record(panel, "chr20", 35005, "T", "G"),
        {
            "FILTER": "PASS",
            "AC": 2,
            "AN": 108,
            "AF": 2 / 108,
            "nhomalt": 0,
            "nhemi": 0,
            "AC_raw": 2,
            "AN_raw": 108,
            "AC_NL": 2,
            "AN_NL": 60,
            "AC_EE": 0,
            "AN_EE": 48,
            "AC_IT": 0,
            "AN_IT": 0,
            "AC_XX": 1,
            "AC_XY": 1,
            "AC_NWE": 2,
            "AN_NWE": 82,
            "cohorts_called": {"NL"},
            "cohorts_filtered": None,
        },
        "chr20:35005 T>G",
    )
    assert {k for k in panel if k[0] == "chr20" and 34990 <= k[1] <= 35020} == {
        ("chr20", 35000, "CT", "C"),
        ("chr20", 35005, "T", "G"),
    }


# ---------------------------------------------------------------------------- panel-wide
def test_withheld_group_fin_is_not_published(demo_vcf, panel):
    # FIN: EE22, EE23, EE24 = 3 < min_group_size 5; FIN_XX (1) and FIN_XY (2) likewise.
    with pysam.VariantFile(str(demo_vcf)) as vcf:
        declared = set(vcf.header.info.keys())
    fin_keys = sorted(k for k in declared if "FIN" in k.upper())
    assert not fin_keys, f"withheld group FIN in the header: {fin_keys}"
    used = {k for rec in panel.values() for k in rec}
    assert not sorted(k for k in used if "FIN" in k.upper())
    for key in ("grpmax", "fafmax_faf95_max_gen_anc", "fafmax_faf99_max_gen_anc"):
        values = {rec[key] for rec in panel.values() if key in rec}
        assert "FIN" not in values, f"FIN published as {key}"
    # The published groups are exactly the ones with >= 5 samples.
    groups = {k[3:] for k in declared if k.startswith("AN_")} - {"raw", "grpmax"}
    assert groups == PUBLISHED_GROUPS
    # FIN still counts in the totals: at chrY:12000 AN 43 includes EE22 and EE24 (trap 9).
    assert record(panel, "chrY", 12000, "A", "G")["AN"] == 43


def _same_value(parquet_value, vcf_value, key: str) -> bool:
    if key.endswith("_bin_freq"):  # a histogram: a list in Parquet, pipe-separated in the VCF
        return "|".join(str(int(v)) for v in parquet_value) == vcf_value
    if key in COHORT_LISTS:
        return frozenset(str(parquet_value).split(",")) == vcf_value
    if isinstance(parquet_value, float) or isinstance(vcf_value, float):
        return f"{float(parquet_value):.6g}" == f"{float(vcf_value):.6g}"
    if isinstance(vcf_value, int):
        return int(parquet_value) == vcf_value
    return str(parquet_value) == str(vcf_value)


def test_parquet_has_the_same_records_as_the_vcf(demo_run, demo_vcf, panel):
    table = pd.read_parquet(demo_run / "results" / "panel" / PARQUET_NAME)
    site = ["CHROM", "POS", "REF", "ALT", "FILTER"]
    assert set(site) <= set(table.columns)
    with pysam.VariantFile(str(demo_vcf)) as vcf:
        declared = set(vcf.header.info.keys())
    info_columns = [c for c in table.columns if c not in site]
    assert set(info_columns) == declared, (
        f"Parquet-only columns {sorted(set(info_columns) - declared)}, "
        f"VCF-only INFO {sorted(declared - set(info_columns))}"
    )
    assert len(table) == len(panel), f"Parquet {len(table)} rows, VCF {len(panel)} records"
    vcf_keys = list(panel)  # in file order
    problems = []
    for i, values in enumerate(table.itertuples(index=False, name=None)):
        row = dict(zip(table.columns, values, strict=True))
        key = (row["CHROM"], int(row["POS"]), row["REF"], row["ALT"])
        if key != vcf_keys[i]:
            problems.append(f"row {i}: Parquet {key}, VCF {vcf_keys[i]}")
            continue
        rec = panel[key]
        if row["FILTER"] != rec["FILTER"]:
            problems.append(f"{key} FILTER: Parquet {row['FILTER']}, VCF {rec['FILTER']}")
        for column in info_columns:
            value = row[column]
            missing = (
                value is None
                or value is pd.NA
                or (isinstance(value, float) and math.isnan(value))
                or (isinstance(value, bool) and not value)  # a Flag not set (country_het)
            )
            if missing or column not in rec:
                if missing != (column not in rec):
                    problems.append(
                        f"{key} {column}: Parquet {value!r}, VCF {rec.get(column, '<absent>')!r}"
                    )
            elif not _same_value(value, rec[column], column):
                problems.append(f"{key} {column}: Parquet {value!r}, VCF {rec[column]!r}")
        if len(problems) > 20:
            break
    assert not problems, "\n".join(problems[:20])


def test_every_info_key_is_declared_and_bcftools_reads_the_panel_cleanly(demo_vcf):
    text = vcf_text(demo_vcf)
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("##")]
    declared = {}
    for line in header:
        match = re.match(r"##INFO=<ID=([^,>]+),(.*)>$", line)
        if match:
            declared[match.group(1)] = match.group(2)
    assert declared, "no ##INFO lines"
    for key, rest in declared.items():
        assert re.search(r"Number=[^,]+", rest) and re.search(r"Type=\w+", rest), key
        description = re.search(r'Description="([^"]*)"', rest)
        assert description and description.group(1).strip(), f"{key} has no Description"
    used = set()
    filters = set()
    for line in lines:
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        filters.add(fields[6])
        if fields[7] != ".":
            used.update(item.split("=", 1)[0] for item in fields[7].split(";"))
    assert not sorted(used - set(declared)), f"undeclared INFO keys: {sorted(used - set(declared))}"
    declared_filters = {
        re.match(r"##FILTER=<ID=([^,>]+)", h).group(1) for h in header if h.startswith("##FILTER=")
    }
    # InbreedingCoeff (issue 15, gnomAD's FILTER): the demo's random genotypes give a few
    # sites a strong het excess.
    assert filters <= declared_filters and filters <= {"PASS", "AC0", "InbreedingCoeff"}, filters
    # DESIGN §4 header lines; contig lengths from TRAPS.md.
    assert any(h.startswith("##source=") and "europanel" in h for h in header)
    assert any(h.startswith("##reference=") for h in header)
    for contig, length in {"chr20": 50_000, "chrX": 50_000, "chrY": 30_000}.items():
        assert f"##contig=<ID={contig},length={length}>" in header, contig
    # bcftools reads the whole file without a word on stderr.
    if shutil.which("bcftools"):
        result = subprocess.run(
            ["bcftools", "view", "-Ov", "-o", "/dev/null", str(demo_vcf)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        stderr = result.stderr
    else:
        pysam.bcftools.view("-Ov", "-o", "/dev/null", str(demo_vcf))
        stderr = pysam.bcftools.view.stderr or ""
    assert not stderr.strip(), f"bcftools view warned: {stderr}"


def test_records_are_sorted_and_biallelic(demo_vcf):
    with pysam.VariantFile(str(demo_vcf)) as vcf:
        order = list(vcf.header.contigs)
        assert order[:3] == ["chr20", "chrX", "chrY"]
        previous = None
        n = 0
        for rec in vcf:
            n += 1
            where = f"{rec.chrom}:{rec.pos} {rec.ref}>{rec.alts}"
            assert rec.alts is not None and len(rec.alts) == 1, f"not biallelic: {where}"
            alt = rec.alts[0]
            assert (
                alt != rec.ref
                and re.fullmatch(r"[ACGT]+", alt)
                and re.fullmatch(r"[ACGT]+", rec.ref)
            ), f"not a plain biallelic allele: {where}"
            key = (order.index(rec.chrom), rec.pos)
            assert previous is None or key >= previous, f"out of order: {where}"
            previous = key
    assert n > 18  # trap records: 2+1+1+1+1+1+1+1+1+1+1+2+1+1+2 = 18, plus background
    assert Path(f"{demo_vcf}.tbi").exists()
