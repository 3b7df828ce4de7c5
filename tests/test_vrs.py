"""GA4GH VRS 2.x Allele identifiers of the panel records (issue 14).

The independent check recomputes IDs BY HAND, without the ga4gh packages and without
pysam: VRS 2.0's identifier is `ga4gh:VA.` + sha512t24u (SHA-512 truncated to 24 bytes,
base64url) of the canonical JSON (sorted keys, no whitespace) of the Allele, in which
the nested SequenceLocation is replaced by its own digest; a sequence's refget
accession is `SQ.` + sha512t24u of its uppercase residues. The by-hand code is first
anchored on the worked example of vrs-python's own test suite (tests/test_vrs.py:
SQ.F-LrLMe1SRpfUZHkQmvkVKFEGaoDeHul 55181319-55181320 T -> ga4gh:VA.Hy2XU_-rp4...),
then applied to the demo's SNVs, which VRS normalisation leaves as they are; the
reference sequence is read from the FASTA text directly. Published gnomAD/ClinVar IDs
cannot be reproduced offline (they need the GRCh38 sequences). Indels: the package's
fully-justified normalisation must give one ID to every placement of the same deletion.

allele_id computes every ID without the ga4gh packages (SNVs digested directly, every other
allele normalised over a window of the FASTA); `package_allele_id` (build, normalise with
ga4gh.vrs, identify) is the oracle: the two are compared on the SNVs of every base, on
indels and MNVs at thousands of demo positions (the planted repeats included), on a FASTA
made here with lower case, N, repeats longer than the fast path's window and short
contigs (edges), and on alleles drawn by hypothesis.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
import sys

import pandas as pd
import pysam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import europanel.io.vrs as vrs
from conftest import DEMO_PANEL, REPO
from europanel.io.vrs import FastaDataProxy, allele_id, normalized_allele, package_allele_id

FASTA = REPO / "resources/demo/reference.fa"


def sha512t24u(blob: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha512(blob).digest()[:24]).decode()


def canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def vrs_allele_id_by_hand(refget_accession: str, start: int, end: int, sequence: str) -> str:
    location = {
        "end": end,
        "sequenceReference": {"refgetAccession": refget_accession, "type": "SequenceReference"},
        "start": start,
        "type": "SequenceLocation",
    }
    allele = {
        "location": sha512t24u(canonical(location)),
        "state": {"sequence": sequence, "type": "LiteralSequenceExpression"},
        "type": "Allele",
    }
    return "ga4gh:VA." + sha512t24u(canonical(allele))


def fasta_sequences(path) -> dict[str, str]:
    sequences: dict[str, list[str]] = {}
    name = None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            sequences[name] = []
        elif name is not None:
            sequences[name].append(line.strip())
    return {n: "".join(parts).upper() for n, parts in sequences.items()}


def test_by_hand_digest_reproduces_the_vrs_python_worked_example():
    assert (
        vrs_allele_id_by_hand("SQ.F-LrLMe1SRpfUZHkQmvkVKFEGaoDeHul", 55181319, 55181320, "T")
        == "ga4gh:VA.Hy2XU_-rp4IMh6I_1NXNecBo8Qx8n0oE"
    )


def test_sequence_digests_from_the_fasta():
    proxy = FastaDataProxy(str(FASTA))
    for contig, sequence in fasta_sequences(FASTA).items():
        assert proxy.refget_accession(contig) == "SQ." + sha512t24u(sequence.encode())


def test_panel_snv_ids_equal_the_by_hand_computation(demo_run):
    panel = pd.read_parquet(demo_run / f"{DEMO_PANEL}.parquet")
    assert panel["VRS_Allele_ID"].str.match(r"^ga4gh:VA\.[A-Za-z0-9_-]{32}$").all()
    sequences = fasta_sequences(FASTA)
    accessions = {c: "SQ." + sha512t24u(s.encode()) for c, s in sequences.items()}
    snvs = panel[(panel["REF"].str.len() == 1) & (panel["ALT"].str.len() == 1)]
    # A few per contig (chrX and chrY included), not only the first ones.
    sample = snvs.groupby("CHROM").nth([0, 7, -1])
    assert len(sample) >= 9
    for row in sample.itertuples():
        assert sequences[row.CHROM][row.POS - 1] == row.REF
        expected = vrs_allele_id_by_hand(accessions[row.CHROM], row.POS - 1, row.POS, row.ALT)
        assert row.VRS_Allele_ID == expected, f"{row.CHROM}:{row.POS}"
    # The VCF carries the same IDs as the Parquet.
    with pytest.importorskip("pysam").VariantFile(str(demo_run / f"{DEMO_PANEL}.vcf.gz")) as vcf:
        first = next(iter(vcf))
    assert first.info["VRS_Allele_ID"][0] == panel["VRS_Allele_ID"].iloc[0]
    assert panel["VRS_Allele_ID"].is_unique


def test_every_placement_of_a_deletion_in_a_repeat_has_one_id():
    sequences = fasta_sequences(FASTA)
    chr20 = sequences["chr20"]
    # First homopolymer of 4+ bases after position 100 (0-based start of its run).
    start = next(i for i in range(100, len(chr20) - 5) if len(set(chr20[i : i + 4])) == 1)
    base, before = chr20[start], chr20[start - 1]
    proxy = FastaDataProxy(str(FASTA))
    # Deleting one base of the run, written left-aligned (VCF style, anchored) or further
    # right: fully-justified normalisation makes them the same Allele.
    left = allele_id(proxy, "chr20", start, before + base, before)
    inside = allele_id(proxy, "chr20", start + 2, base + base, base)
    assert left == inside
    assert left != allele_id(proxy, "chr20", start, before + base + base, before)


def test_snv_fast_path_equals_the_package_on_every_base_and_alt():
    """allele_id digests one-base substitutions directly; the package (build, normalise,
    identify) must give the same ID for each of the four bases at every position tried,
    on each contig (ALT equal to the reference base, not a substitution, goes through the
    package on both sides)."""
    proxy = FastaDataProxy(str(FASTA))
    sequences = fasta_sequences(FASTA)
    for contig, sequence in sequences.items():
        for pos in [*range(1, 301), len(sequence)]:
            for alt in "ACGTacgt":
                ref = sequence[pos - 1]
                fast = allele_id(proxy, contig, pos, ref, alt)
                assert fast == package_allele_id(proxy, contig, pos, ref, alt), (contig, pos, alt)


# --- The fast path (no ga4gh package) against the package, beyond SNVs -------------------


def package_or_error(proxy, contig, pos, ref, alt):
    """The package's ID, or the class of the exception it raises."""
    try:
        return package_allele_id(proxy, contig, pos, ref, alt)
    except Exception as error:  # noqa: BLE001 (the fast path must raise the same)
        return type(error).__name__


def fast_or_error(proxy, contig, pos, ref, alt):
    try:
        return allele_id(proxy, contig, pos, ref, alt)
    except Exception as error:  # noqa: BLE001
        return type(error).__name__


def candidate_alleles(sequence: str, pos: int, rng: random.Random):
    """(REF, ALT) pairs at a 1-based POS: deletions, insertions (of the following or
    preceding reference bases, of repeat units, random), MNVs and complex alleles, REF
    equal to ALT, a REF not matching the reference; all with REF inside the contig."""
    i = pos - 1
    base = sequence[i]
    pairs = []
    for k in range(1, 5):  # anchored deletions
        pairs.append((sequence[i : i + 1 + k], base))
    pairs.append((base, ""))  # unanchored deletion (empty ALT)
    for k in range(1, 5):  # duplications of the following bases
        pairs.append((base, base + sequence[i + 1 : i + 1 + k]))
    for unit in (1, 2, 3):  # two more copies of the following unit
        pairs.append((base, base + sequence[i + 1 : i + 1 + unit] * 2))
    # Six copies of the following base, three of the following two: an insertion whose
    # length has several divisors, longer than the repeat it extends (which divisor is
    # the subunit of the RLE).
    pairs.append((base, base + sequence[i + 1 : i + 2] * 6))
    pairs.append((base, base + sequence[i + 1 : i + 3] * 3))
    for k in range(1, 4):  # duplications of the preceding bases
        pairs.append((base, base + sequence[max(0, i - k + 1) : i + 1]))
    pairs.append((base, base + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3)))))
    two, three = sequence[i : i + 2], sequence[i : i + 3]
    pairs.append((two, "".join({"A": "C", "C": "G", "G": "T", "T": "A"}.get(b, "A") for b in two)))
    pairs.append((three, "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 5)))))
    pairs.append((two, two[0] + rng.choice("ACGT") + two[1:]))  # trims to an insertion
    pairs.append((three, three[0] + three[2:]))  # trims to a deletion
    pairs.append((two, two))  # ALT equal to the reference
    pairs.append((two, two.lower()))
    pairs.append(("N" * 3, base))  # REF not the reference's: only its length counts
    pairs.append((base, "N"))
    return [(r, a) for r, a in pairs if len(r) >= 1 and i + len(r) <= len(sequence)]


def state_kind(proxy, contig, pos, ref, alt) -> str:
    start = pos - 1
    new_start, new_end, state = normalized_allele(proxy, contig, start, start + len(ref), alt)
    expanded = "expanded" if new_end - new_start > len(ref) else "not expanded"
    return f"{json.loads(state)['type']} {expanded}"


def test_indels_and_mnvs_equal_the_package_across_the_demo_fasta(monkeypatch):
    """Every pair of candidate_alleles at every 6th position of the first 1,500 of each
    contig, its last 40, and every position around the planted repeats (A8, (CA)7, T6):
    the fast path's ID is the package's. The package computes the expected IDs, then is
    taken out of the module: allele_id may not fall back on it for any of these."""
    proxy = FastaDataProxy(str(FASTA))
    sequences = fasta_sequences(FASTA)
    rng = random.Random(20261203)
    cases = []
    for contig, sequence in sequences.items():
        positions = [*range(2, 1500, 6), *range(len(sequence) - 40, len(sequence) + 1)]
        if contig == "chr20":
            for repeat_start in (12_001, 19_995, 35_001):
                positions += range(repeat_start - 12, repeat_start + 20)
        for pos in positions:
            cases += [(contig, pos, r, a) for r, a in candidate_alleles(sequence, pos, rng)]
    expected = [package_allele_id(proxy, *case) for case in cases]
    monkeypatch.setattr(vrs, "package_allele_id", None)  # any fallback would fail
    got = [allele_id(proxy, *case) for case in cases]
    mismatches = [(case, g, e) for case, g, e in zip(cases, got, expected) if g != e]
    assert not mismatches, mismatches[:5]
    assert len(cases) > 20_000
    # Every outcome of normalisation was met: literal (substitutions, insertions that do
    # not roll; insertions rolled over less than their length), RLE (REF equal to ALT,
    # deletions that do not roll; deletions and reference-derived insertions rolled).
    kinds = {state_kind(proxy, *case) for case in cases}
    assert kinds == {
        "LiteralSequenceExpression not expanded",
        "LiteralSequenceExpression expanded",
        "ReferenceLengthExpression not expanded",
        "ReferenceLengthExpression expanded",
    }


def test_fully_justified_deletion_in_the_planted_homopolymer():
    """A8 at chr20:12,001-12,008 (G before, C after): deleting one A, written anywhere in
    the run, is the whole run [12000, 12008) with an RLE of 7 bases, subunit 1; inserting
    AA is the run with 10 bases, subunit 2 (the package takes the largest divisor of the
    inserted length whose cycle continues the reference); inserting CA after the (CA)7 at
    19,995 (G before) covers the 14 repeat bases, RLE 16, subunit 2. The package agrees
    (test above); these pin the coordinates by hand."""
    proxy = FastaDataProxy(str(FASTA))
    sequence = fasta_sequences(FASTA)["chr20"]
    assert sequence[11_999:12_009] == "GAAAAAAAAC"
    rle = '{{"length":{},"repeatSubunitLength":{},"type":"ReferenceLengthExpression"}}'
    for pos in (12_000, 12_003, 12_007):
        ref = sequence[pos - 1 : pos + 1]
        assert normalized_allele(proxy, "chr20", pos - 1, pos + 1, ref[0]) == (
            12_000,
            12_008,
            rle.format(7, 1),
        )
    assert normalized_allele(proxy, "chr20", 12_004, 12_005, "AAA") == (
        12_000,
        12_008,
        rle.format(10, 2),
    )
    assert sequence[19_993:20_009] == "GCACACACACACACAT"
    assert normalized_allele(proxy, "chr20", 19_993, 19_994, "GCA") == (
        19_994,
        20_008,
        rle.format(16, 2),
    )


# A FASTA made here: what the demo's lacks. Lower case (also inside repeats), N runs,
# repeats longer than the fast path's window (vrs.FLANK bases each side, so the window
# grows, and grows again), short contigs and contigs that are one repeat (rolling to both
# ends), a one-base contig.
def made_contigs() -> dict[str, str]:
    rng = random.Random(7)

    def background(n):
        return "".join(rng.choice("ACGT") for _ in range(n))

    assert vrs.FLANK < 300
    long_repeats = (
        background(150)
        + "A" * 700
        + background(90)
        + "CA" * 1300
        + background(60)
        + "agg" * 120
        + "AGG" * 100
        + background(40)
        + "N" * 60
        + background(40)
        + "cacaCACAcaCAcacacaca"
        + background(30)
        + "nnnACGTnnn"
        + background(100)
    )
    return {
        "long_repeats": long_repeats,
        "mixed": background(60).lower() + "TTTTtttt" + background(30) + "GATGATgatGAT",
        "poly_a": "A" * 300,
        "dinucleotide": "ca" * 90,
        "short": "GATTACA",
        "one": "G",
        "n_only": "NNNNNNNN",
    }


@pytest.fixture(scope="module")
def made_fasta(tmp_path_factory):
    path = tmp_path_factory.mktemp("vrs") / "made.fa"
    with open(path, "w") as out:
        for name, sequence in made_contigs().items():
            out.write(f">{name}\n")
            out.writelines(sequence[i : i + 60] + "\n" for i in range(0, len(sequence), 60))
    pysam.faidx(str(path))
    return path


def test_lower_case_n_and_repeats_longer_than_the_window(made_fasta, monkeypatch):
    """Every candidate allele at each position near the ends of the long repeats, of the
    N runs and of the lower-case stretches, at every 251st position inside them (where the
    package reads the reference base by base: slow), and at every position of the small
    contig made of lower case (every 5th of those made of one repeat, and their ends): the
    package's IDs, without its help."""
    proxy = FastaDataProxy(str(made_fasta))
    contigs = made_contigs()
    sequence = contigs["long_repeats"].upper()
    rng = random.Random(11)
    boundaries = (150, 850, 940, 3540, 3600, 3960, 4260, 4300, 4360, 4400, 4420, 4450, 4460)
    positions = {*range(1, len(sequence) + 1, 251)}
    positions |= {b + d for b in boundaries for d in range(-8, 9)}
    positions = sorted(positions)
    cases = [
        ("long_repeats", pos, r, a)
        for pos in positions
        for r, a in candidate_alleles(sequence, pos, rng)
    ]
    for contig, step in (("mixed", 1), ("poly_a", 5), ("dinucleotide", 5)):
        upper = contigs[contig].upper()
        ends = {*range(1, 7), *range(len(upper) - 5, len(upper) + 1)}
        cases += [
            (contig, pos, r, a)
            for pos in sorted({*range(1, len(upper) + 1, step), *ends})
            for r, a in candidate_alleles(upper, pos, rng)
        ]
    # Deleting one unit of each long repeat, and inserting one, from its middle.
    middles = {"A": 150 + 350, "CA": 150 + 700 + 90 + 1300, "AGG": 150 + 700 + 90 + 2600 + 60 + 330}
    for unit, middle in middles.items():
        anchor = sequence[middle - 1]
        cases.append(
            ("long_repeats", middle, anchor + sequence[middle : middle + len(unit)], anchor)
        )
        cases.append(
            ("long_repeats", middle, anchor, anchor + sequence[middle : middle + len(unit)])
        )
    expected = [package_allele_id(proxy, *case) for case in cases]
    monkeypatch.setattr(vrs, "package_allele_id", None)
    got = [allele_id(proxy, *case) for case in cases]
    mismatches = [(case, g, e) for case, g, e in zip(cases, got, expected) if g != e]
    assert not mismatches, mismatches[:5]
    # The long repeats were normalised over their whole length (the window grew).
    # (Give or take the bases of the background that continue the repeat by chance.)
    spans = {"A": (150, 850), "CA": (940, 3540), "AGG": (3600, 4260)}
    for unit, middle in middles.items():
        anchor, following = sequence[middle - 1], sequence[middle : middle + len(unit)]
        for end, alt in ((middle + len(unit), anchor), (middle, anchor + following)):
            start, end, _ = normalized_allele(proxy, "long_repeats", middle - 1, end, alt)
            low, high = spans[unit]
            assert low - 3 <= start <= low and high <= end <= high + 3


def test_contig_edges(made_fasta):
    """Alleles touching the first and last bases of contigs (one made of a single repeat,
    a one-base contig, one of N), deletions of a whole contig, insertions at both ends;
    and the inputs left to the package (REF past the contig's end, an empty REF, an ALT
    that is not a sequence, an unknown contig): the same ID, or the same exception."""
    proxy = FastaDataProxy(str(made_fasta))
    cases = []
    for contig, sequence in made_contigs().items():
        upper, length = sequence.upper(), len(sequence)
        for pos in {p for p in (1, 2, 3, length - 2, length - 1, length) if 1 <= p <= length}:
            for ref_length in range(1, 5):
                ref = upper[pos - 1 : pos - 1 + ref_length]
                for alt in {"", ref[0], ref[-1], ref + ref, ref + "A", "A" + ref, ref[::-1], "TC"}:
                    cases.append((contig, pos, ref, alt))
                cases.append((contig, pos, "A" * ref_length, "G"))  # may run past the end
        cases.append((contig, 1, upper, upper[0]))  # the whole contig deleted
        cases.append((contig, 1, upper, upper[-1]))
        cases.append((contig, 1, upper[0], upper[0] + upper[:3]))
        cases.append((contig, length, upper[-1], upper[-1] + upper[-3:]))
        cases.append((contig, length, upper[-1], upper[-3:] + upper[-1]))
        cases.append((contig, 1, "", "C"))
        cases.append((contig, length + 1, "A", "C"))
        cases.append((contig, length, upper[-1], "<DEL>"))
    cases.append(("chrQ", 5, "A", "C"))
    assert len(cases) > 700
    for case in cases:
        assert fast_or_error(proxy, *case) == package_or_error(proxy, *case), case
    assert package_or_error(proxy, "chrQ", 5, "A", "C") == "KeyError"


@st.composite
def drawn_alleles(draw, contigs: dict[str, str]):
    contig = draw(st.sampled_from(sorted(contigs)))
    sequence = contigs[contig].upper()
    pos = draw(st.integers(1, len(sequence)))
    i = pos - 1
    ref_length = draw(st.integers(1, min(8, len(sequence) - i)))
    ref = sequence[i : i + ref_length]
    after = sequence[i + ref_length :]
    unit = draw(st.integers(1, 6))
    copies = draw(st.integers(1, 6))
    alt = draw(
        st.one_of(
            st.text("ACGTN", min_size=0, max_size=10),  # anything
            st.just(ref + after[:unit] * copies),  # repeat-unit insertion
            st.just(ref[0] + ref[1 + unit :] if len(ref) > unit else ref[0]),  # deletion
            st.just(ref[:1] + after[unit:]),  # deletion of REF and more
            st.just(ref[:1] + sequence[max(0, i - unit) : i] * copies + ref[1:]),  # before
            st.just(ref),
            st.builds(lambda s: ref[0] + s, st.text("ACGT", min_size=1, max_size=6)),
            st.text("acgtn", min_size=1, max_size=4),
        )
    )
    if draw(st.booleans()):  # a REF that is not the reference's, of the same length
        ref = draw(st.text("ACGTN", min_size=ref_length, max_size=ref_length))
    return contig, pos, ref, alt


DRAWN_CONTIGS = {
    **made_contigs(),
    "chr20": fasta_sequences(FASTA)["chr20"][11_900:20_100],  # the planted A8 and (CA)7
}


@pytest.fixture(scope="module")
def drawn_fasta(tmp_path_factory):
    path = tmp_path_factory.mktemp("vrs") / "drawn.fa"
    with open(path, "w") as out:
        for name, sequence in DRAWN_CONTIGS.items():
            out.write(f">{name}\n{sequence}\n")
    pysam.faidx(str(path))
    return FastaDataProxy(str(path))


@settings(max_examples=400, deadline=None)
@given(case=drawn_alleles(DRAWN_CONTIGS))
def test_property_fast_path_equals_the_package(drawn_fasta, case):
    assert fast_or_error(drawn_fasta, *case) == package_or_error(drawn_fasta, *case)


def test_importing_the_module_does_not_import_the_ga4gh_package():
    """publish pays no ga4gh import: the package is loaded only by the fallback."""
    code = (
        "import sys; import europanel.io.vrs; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ga4gh', 'bioutils')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "scripts")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
