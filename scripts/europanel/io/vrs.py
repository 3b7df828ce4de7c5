"""GA4GH VRS 2.x Allele identifiers (`ga4gh:VA.…`) of panel records, from the run's FASTA.

What is computed: the ID of the VRS Allele `start = POS-1, end = POS-1+len(REF)` with the
literal state ALT (upper-cased), after VRS 2.x fully-justified normalisation against the
FASTA (the package's `normalize`; VCF REF counts only by its length, the reference bases
come from the FASTA), then `ga4gh:VA.` + sha512t24u of the Allele's canonical JSON in
which the SequenceLocation is replaced by its own digest. A contig's refget accession is
`SQ.` + sha512t24u of its uppercase sequence, the digest gnomAD's and ClinVar's IDs are
built on for GRCh38; sequences come from the indexed FASTA, so no SeqRepo, no network.

How: in plain Python (`allele_id`). A one-base substitution is digested as written; any
other allele is normalised over a window of the FASTA around it (`normalized_allele`,
step by step the algorithm of ga4gh.vrs 2.x `_normalize_allele` and bioutils' trim and
roll; the window grows when the rolling reaches its edge), then digested. The
`ga4gh.vrs` package (`package_allele_id`, imported lazily) is the oracle of the tests and
the fallback for the inputs the fast path does not take (see `allele_id`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

import pysam

DIGEST_BLOCK = 1 << 22  # bases read at a time while digesting a contig
FLANK = 128  # reference bases read on each side of an allele to roll it; grows if needed


def sha512t24u_of_stream(blocks) -> str:
    """GA4GH digest (SHA-512 truncated to 24 bytes, base64url) of concatenated blocks."""
    sha512 = hashlib.sha512()
    for block in blocks:
        sha512.update(block)
    return base64.urlsafe_b64encode(sha512.digest()[:24]).decode()


def sha512t24u(blob: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha512(blob).digest()[:24]).decode()


class FastaDataProxy:
    """VRS data proxy serving the contigs of one indexed FASTA under their refget IDs.

    It implements the two methods of ga4gh.vrs' `_DataProxy` interface that normalisation
    uses (`get_sequence`, `get_metadata`) without subclassing it, so that importing this
    module does not import the package."""

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
SEQUENCE_STRING = re.compile(r"[A-Z*\-]*")  # VRS sequenceString; the package rejects others


def allele_id(proxy: FastaDataProxy, contig: str, pos: int, ref: str, alt: str) -> str:
    """VRS 2.x Allele ID of a VCF allele (1-based POS), equal to `package_allele_id`.

    A one-base substitution (most panel records) is digested directly: normalisation
    leaves it as written. Every other allele (indel, MNV, REF equal to ALT, N, IUPAC
    codes) is normalised by `normalized_allele` and digested: ~6 us an allele where the
    package takes ~90 us. The package itself computes the rare rest, where it raises or
    clamps: an unknown contig, an empty REF, a REF running past the contig's end, an ALT
    that is not a VRS sequence string (`<DEL>`, `.`). Both paths are compared with the
    package in tests/test_vrs.py (SNVs, indels and MNVs on the demo FASTA; lower case, N,
    long repeats and contig edges on a FASTA made there; a hypothesis property test)."""
    alt = alt.upper()
    start = pos - 1
    end = start + len(ref)
    length = proxy.lengths.get(contig)
    if length is None or start < 0 or start >= end or end > length:
        return package_allele_id(proxy, contig, pos, ref, alt)
    if end - start == 1 and alt in SNV_BASES:
        if proxy.get_sequence(contig, start, end) != alt:
            return snv_allele_id(proxy.refget_accession(contig), start, alt)
    elif not SEQUENCE_STRING.fullmatch(alt):
        return package_allele_id(proxy, contig, pos, ref, alt)
    new_start, new_end, state = normalized_allele(proxy, contig, start, end, alt)
    return digest_allele(proxy.refget_accession(contig), new_start, new_end, state)


def snv_allele_id(refget_accession: str, start: int, alt: str) -> str:
    """ID of a substitution of one base (no normalisation to do)."""
    return digest_allele(refget_accession, start, start + 1, literal_state(alt))


def literal_state(sequence: str) -> str:
    return f'{{"sequence":"{sequence}","type":"LiteralSequenceExpression"}}'


def reference_length_state(length: int, repeat_subunit_length: int) -> str:
    """A ReferenceLengthExpression's serialisation: `sequence` is not among its digested
    (inherent) properties, only `length`, `repeatSubunitLength` and `type`."""
    return (
        f'{{"length":{length},"repeatSubunitLength":{repeat_subunit_length},'
        '"type":"ReferenceLengthExpression"}'
    )


def digest_allele(refget_accession: str, start: int, end: int, state: str) -> str:
    """`ga4gh:VA.` + sha512t24u of the Allele's canonical JSON (sorted keys, no spaces), its
    SequenceLocation replaced by the location's own digest (VRS 2.x computed identifiers).
    `state` is the state's canonical JSON (its sequence only [A-Z*-]: nothing to escape)."""
    location = (
        f'{{"end":{end},"sequenceReference":{{"refgetAccession":"{refget_accession}",'
        f'"type":"SequenceReference"}},"start":{start},"type":"SequenceLocation"}}'
    )
    allele = f'{{"location":"{sha512t24u(location.encode())}","state":{state},"type":"Allele"}}'
    return "ga4gh:VA." + sha512t24u(allele.encode())


def normalized_allele(
    proxy: FastaDataProxy, contig: str, start: int, end: int, alt: str
) -> tuple[int, int, str]:
    """VRS 2.x fully-justified normalisation of the Allele (start, end, literal `alt`) on
    the contig (0 <= start < end <= contig length): (start, end, state's canonical JSON).

    Reads a window of FLANK bases around the allele and rolls within it; when a roll
    reaches an edge of the window that is not an edge of the contig, reads a wider one and
    starts again, so the result is that of rolling over the whole contig."""
    length = proxy.lengths[contig]
    flank = FLANK
    while True:
        low, high = max(0, start - flank), min(length, end + flank)
        window = proxy.get_sequence(contig, low, high)
        result = _normalize_in_window(window, start - low, end - low, alt, low > 0, high < length)
        if result is not None:
            new_start, new_end, state = result
            return new_start + low, new_end + low, state
        flank *= 8


def _normalize_in_window(window: str, start: int, end: int, alt: str, more_left, more_right):
    """ga4gh.vrs.normalize._normalize_allele with coordinates in `window`; None when a roll
    reaches an edge of the window beyond which the contig goes on (`more_left`/`right`)."""
    ref = window[start:end]
    # 2.a: ALT equal to the reference: the original span, an RLE of its own length.
    if ref == alt:
        return start, end, reference_length_state(len(ref), len(ref))
    # 1: trim the common prefix, then the common suffix (bioutils trim_left, trim_right).
    shortest = min(len(ref), len(alt))
    prefix = 0
    while prefix < shortest and ref[prefix] == alt[prefix]:
        prefix += 1
    ref, alt = ref[prefix:], alt[prefix:]
    shortest -= prefix
    suffix = 0
    while suffix < shortest and ref[-1 - suffix] == alt[-1 - suffix]:
        suffix += 1
    if suffix:
        ref, alt = ref[:-suffix], alt[:-suffix]
    start, end = start + prefix, end - suffix
    # 2.b: a substitution (both sides left after trimming): the trimmed allele.
    if ref and alt:
        return start, end, literal_state(alt)
    # 3: an insertion or deletion: roll the inserted or deleted sequence left and right
    # (bioutils roll_left/roll_right, bounds the whole contig), expanding over the region.
    seed = ref or alt
    seed_length = len(seed)
    left = 0  # bases of the window left of `start` matching the seed read circularly
    while left < start and seed[-(left + 1) % seed_length] == window[start - 1 - left]:
        left += 1
    if left == start and more_left:
        return None
    right = 0
    room = len(window) - end
    while right < room and seed[right % seed_length] == window[end + right]:
        right += 1
    if right == room and more_right:
        return None
    new_start, new_end = start - left, end + right
    extended_ref = window[new_start:new_end]
    extended_alt = window[new_start:start] + alt + window[end:new_end]
    # 5.a: an insertion that does not roll: the literal insertion.
    if not extended_ref:
        return new_start, new_end, literal_state(extended_alt)
    # 5.b: a deletion: an RLE of the remaining length, subunit the deleted length.
    if len(extended_alt) < len(extended_ref):
        return new_start, new_end, reference_length_state(len(extended_alt), seed_length)
    # 5.c: an insertion: an RLE if the inserted bases continue the reference's cycle of
    # some length dividing the insertion's (the largest that does), else the literal.
    if len(extended_alt) > len(extended_ref):
        for cycle_length in _factors_descending(seed_length):
            if cycle_length > len(extended_ref):
                continue
            cycle = extended_ref[len(extended_ref) - cycle_length :]
            if extended_alt[len(extended_ref) :] == cycle * (seed_length // cycle_length):
                return (
                    new_start,
                    new_end,
                    reference_length_state(len(extended_alt), cycle_length),
                )
    # 5.c.3 / 5.e: the literal expanded allele.
    return new_start, new_end, literal_state(extended_alt)


def _factors_descending(n: int):
    """The divisors of n, largest first (ga4gh.vrs.normalize._factor_gen)."""
    lower = []
    i = 1
    while i * i <= n:
        if n % i == 0:
            yield n // i
            if n // i != i:
                lower.append(i)
        i += 1
    yield from reversed(lower)


def package_allele_id(proxy: FastaDataProxy, contig: str, pos: int, ref: str, alt: str) -> str:
    """The ga4gh.vrs package's ID: build the Allele, normalise it, identify it (the oracle
    of the tests, and the fallback of `allele_id`; imported here, when first needed)."""
    from ga4gh.core import ga4gh_identify
    from ga4gh.vrs import models, normalize

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
