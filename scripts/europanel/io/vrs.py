"""GA4GH VRS 2.x Allele identifiers (`ga4gh:VA.…`) of panel records, from the run's FASTA.

The `ga4gh.vrs` package builds, normalises (fully justified) and digests the Allele;
the sequences come from a small data proxy over the indexed FASTA, so no SeqRepo and
no network: a contig's refget identifier is `SQ.` + sha512t24u of its uppercase
sequence, the same digest gnomAD's and ClinVar's IDs are built on for GRCh38.
"""

from __future__ import annotations

import base64
import functools
import hashlib

import pysam
from ga4gh.core import ga4gh_identify
from ga4gh.vrs import models, normalize
from ga4gh.vrs.dataproxy import _DataProxy

DIGEST_BLOCK = 1 << 22  # bases read at a time while digesting a contig


def sha512t24u_of_stream(blocks) -> str:
    """GA4GH digest (SHA-512 truncated to 24 bytes, base64url) of concatenated blocks."""
    sha512 = hashlib.sha512()
    for block in blocks:
        sha512.update(block)
    return base64.urlsafe_b64encode(sha512.digest()[:24]).decode()


class FastaDataProxy(_DataProxy):
    """VRS data proxy serving the contigs of one indexed FASTA under their refget IDs."""

    def __init__(self, fasta: str) -> None:
        self.fasta = pysam.FastaFile(fasta)
        self.lengths = dict(zip(self.fasta.references, self.fasta.lengths))
        self._contig_of: dict[str, str] = {}

    @functools.cache  # noqa: B019 (one proxy per run; the cache lives as long as it)
    def refget_accession(self, contig: str) -> str:
        """`SQ.<digest>` of a contig (hashed once, block by block: bounded memory)."""
        length = self.lengths[contig]
        blocks = (
            self.fasta.fetch(contig, start, min(start + DIGEST_BLOCK, length)).upper().encode()
            for start in range(0, length, DIGEST_BLOCK)
        )
        accession = "SQ." + sha512t24u_of_stream(blocks)
        self._contig_of[f"ga4gh:{accession}"] = contig
        return accession

    def _contig(self, identifier: str) -> str:
        if identifier in self.lengths:
            return identifier
        if identifier not in self._contig_of:
            raise KeyError(identifier)
        return self._contig_of[identifier]

    def get_sequence(self, identifier: str, start: int | None = None, end: int | None = None):
        contig = self._contig(identifier)
        return self.fasta.fetch(contig, start or 0, end).upper()

    def get_metadata(self, identifier: str) -> dict:
        contig = self._contig(identifier)
        return {
            "length": self.lengths[contig],
            "aliases": [f"ga4gh:{self.refget_accession(contig)}", contig],
        }


SNV_BASES = frozenset("ACGT")


def allele_id(proxy: FastaDataProxy, contig: str, pos: int, ref: str, alt: str) -> str:
    """VRS 2.x Allele ID of a VCF allele (1-based POS).

    A one-base substitution (most panel records) is digested directly: VRS normalisation
    leaves it as written, so its ID is the digest of its canonical JSON, ~50x faster than
    building and normalising the package's models. Every other allele goes through the
    package (`package_allele_id`), which normalises it (fully justified). Both are
    compared on every base of the demo FASTA in tests/test_vrs.py."""
    alt = alt.upper()
    if len(ref) == 1 and alt in SNV_BASES:
        reference = proxy.get_sequence(contig, pos - 1, pos)
        if reference and reference != alt:
            return snv_allele_id(proxy.refget_accession(contig), pos - 1, alt)
    return package_allele_id(proxy, contig, pos, ref, alt)


def snv_allele_id(refget_accession: str, start: int, alt: str) -> str:
    """`ga4gh:VA.` + sha512t24u of the Allele's canonical JSON (sorted keys, no spaces), its
    SequenceLocation replaced by the location's own digest (VRS 2.x computed identifiers)."""
    location = (
        f'{{"end":{start + 1},"sequenceReference":{{"refgetAccession":"{refget_accession}",'
        f'"type":"SequenceReference"}},"start":{start},"type":"SequenceLocation"}}'
    )
    allele = (
        f'{{"location":"{sha512t24u(location.encode())}","state":{{"sequence":"{alt}",'
        '"type":"LiteralSequenceExpression"},"type":"Allele"}'
    )
    return "ga4gh:VA." + sha512t24u(allele.encode())


def sha512t24u(blob: bytes) -> str:
    return sha512t24u_of_stream([blob])


def package_allele_id(proxy: FastaDataProxy, contig: str, pos: int, ref: str, alt: str) -> str:
    """The ga4gh.vrs package's ID: build the Allele, normalise it, identify it."""
    location = models.SequenceLocation(
        sequenceReference=models.SequenceReference(refgetAccession=proxy.refget_accession(contig)),
        start=pos - 1,
        end=pos - 1 + len(ref),
    )
    allele = models.Allele(
        location=location, state=models.LiteralSequenceExpression(sequence=alt.upper())
    )
    return ga4gh_identify(normalize(allele, proxy))


def allele_ids(proxy: FastaDataProxy, contigs, positions, refs, alts) -> list[str]:
    return [allele_id(proxy, c, int(p), r, a) for c, p, r, a in zip(contigs, positions, refs, alts)]
