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
"""

from __future__ import annotations

import base64
import hashlib
import json

import pandas as pd
import pytest

from conftest import DEMO_PANEL, REPO
from europanel.io.vrs import FastaDataProxy, allele_id, package_allele_id

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
