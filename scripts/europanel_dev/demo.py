"""Deterministic generator of the bundled demo dataset.

Writes a small reference (chr20, chrX, chrY) with its PAR BED, three cohort
VCFs (NL, EE, IT: random background variants plus hand-designed traps), IT's
callable BED, the cohort and sample sheets, and TRAPS.md, which lists every
trap so a test writer can derive the expected panel counts by hand:

    python -m europanel_dev.demo --outdir resources/demo --sheets config --seed 20261124

Each random stream is seeded by (seed, label), so the output is byte-for-byte
identical across runs. Traps do not depend on the seed at all: their
reference bases (and the repeats the indel traps need) are planted into the
FASTA, and their genotypes are written out explicitly below.
"""

from __future__ import annotations

import argparse
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam

DEFAULT_SEED = 20261124
CONTIG_LENGTHS = {"chr20": 50_000, "chrX": 50_000, "chrY": 30_000}
PAR_END = 5_000  # chrX/chrY 1..5000 are pseudoautosomal in this small reference
CHUNK_SIZE = 10_000  # only used to document which chunk a trap falls in
COHORTS = ("NL", "EE", "IT")
CONTIG_ALIASES = {"EE": {"chr20": "20", "chrX": "X", "chrY": "Y"}}  # EE writes Ensembl-style names
IT_CALLABLE = {"chr20": (0, 30_000), "chrX": (0, 50_000), "chrY": (0, 30_000)}  # BED: 0-based
COHORTS_WITH_PL = {"IT"}  # a FORMAT field the pipeline must drop

# Background variants: numbers of shared candidate sites, and the error rates that make adj matter.
SITES_PER_CONTIG = {"chr20": 450, "chrX": 350, "chrY": 200}
SITE_RANGE = {"chr20": (101, 49_900), "chrX": (101, 49_900), "chrY": (5_101, 29_900)}  # no chrY PAR
FORCED_SITES = {"chr20": (10_000, 10_001), "chrX": (5_000, 5_001)}  # chunk and PAR boundaries
TRAP_MARGIN = 200  # background keeps this far from traps so they stay hand-countable
MIN_SITE_GAP = 10
PRESENT_RATE, MISSING_RATE, LOW_GQ_RATE, LOW_DP_RATE, LOWQUAL_RATE = 0.75, 0.02, 0.05, 0.03, 0.02
MEAN_DEPTH, TRAP_DEPTH, TRAP_GQ = 30, 30, 99


@dataclass(frozen=True)
class Sample:
    id: str
    cohort: str
    population: str
    sex: str


def cohort_samples(cohort: str, n: int, populations: list[tuple[str, int]], n_na: int):
    """Populations in consecutive blocks; odd numbers XX, even XY, the last `n_na` sex NA."""
    labels = [pop for pop, count in populations for _ in range(count)]
    assert len(labels) == n
    return [
        Sample(
            f"{cohort}{i:02d}",
            cohort,
            labels[i - 1],
            "NA" if i > n - n_na else ("XX" if i % 2 else "XY"),
        )
        for i in range(1, n + 1)
    ]


SHEET = (
    cohort_samples("NL", 30, [("NWE", 24), ("SEU", 6)], n_na=2)
    + cohort_samples("EE", 24, [("NWE", 17), ("SEU", 4), ("FIN", 3)], n_na=0)
    + cohort_samples("IT", 36, [("SEU", 28), ("NWE", 8)], n_na=2)
)
SEX = {s.id: s.sex for s in SHEET}
UNSHEETED = Sample("NL99", "NL", "-", "XX")  # in NL's VCF, not in the sheet; generated as XX


def vcf_samples(cohort: str) -> list[Sample]:
    """VCF column order: NL hides NL99 in the middle, IT is reversed against the sheet."""
    members = [s for s in SHEET if s.cohort == cohort]
    if cohort == "NL":
        return members[:15] + [UNSHEETED] + members[15:]
    return members[::-1] if cohort == "IT" else members


def ploidy(contig: str, pos: int, sex: str) -> int:
    """Alleles a caller writes for a sample here (DESIGN section 4); 0 means no call ('.')."""
    if contig == "chr20" or pos <= PAR_END or sex == "NA":
        return 2
    if contig == "chrY":
        return 1 if sex == "XY" else 0
    return 1 if sex == "XY" else 2


# ---------------------------------------------------------------------------------------- traps
@dataclass(frozen=True)
class TrapRecord:
    cohort: str
    contig: str  # reference name; EE writes its alias
    pos: int
    ref: str
    alts: tuple[str, ...]
    calls: dict[str, str]  # sample -> GT; every other sample is reference
    filter: str = "PASS"
    qc: dict[str, tuple[tuple[int, int], int]] = field(default_factory=dict)  # sample -> (AD, GQ)
    copies: int = 1


@dataclass(frozen=True)
class Trap:
    number: int
    name: str
    records: tuple[TrapRecord, ...]
    expected: str


R = TrapRecord
HOMOPOLYMER_12000 = "G" + "A" * 8 + "C"  # A8 at 12,001-12,008
DINUCLEOTIDE_19994 = "G" + "CA" * 7 + "T"  # (CA)7 at 19,995-20,008, across the chunk boundary
HOMOPOLYMER_35000 = "C" + "T" * 6 + "G"  # T6 at 35,001-35,006
PLANTED_CONTEXTS = {
    ("chr20", 12_000): HOMOPOLYMER_12000,
    ("chr20", 19_994): DINUCLEOTIDE_19994,
    ("chr20", 35_000): HOMOPOLYMER_35000,
}

TRAPS = (
    Trap(
        1,
        "multiallelic",
        (
            R(
                "NL",
                "chr20",
                3000,
                "A",
                ("C", "G"),
                {
                    "NL01": "0/1",
                    "NL02": "0/1",
                    "NL26": "0/1",
                    "NL03": "0/2",
                    "NL04": "0/2",
                    "NL05": "1/2",
                    "NL06": "1/1",
                },
            ),
        ),
        "chr20:3000 A>C and chr20:3000 A>G (splitting turns the other ALT into REF: NL05 1/2"
        " becomes a het in both)",
    ),
    Trap(
        2,
        "indel written at two positions, same chunk",
        (
            R("NL", "chr20", 12_000, "GA", ("G",), {"NL07": "0/1", "NL08": "1/1"}),
            R("EE", "chr20", 12_005, "AA", ("A",), {"EE01": "0/1", "EE02": "0/1"}),
        ),
        "chr20:12000 GA>G, one record (chunk 2)",
    ),
    Trap(
        3,
        "indel written in two chunks",
        (
            R("NL", "chr20", 19_994, "GCA", ("G",), {"NL09": "0/1", "NL10": "0/1"}),
            R("IT", "chr20", 20_006, "ACA", ("A",), {"IT01": "0/1", "IT03": "1/1"}),
        ),
        "chr20:19994 GCA>G, one record, in chunk 2 (IT wrote it in chunk 3)",
    ),
    Trap(
        4,
        "deletion crossing a chunk boundary",
        (
            R("NL", "chr20", 29_997, "GATCCTAT", ("G",), {"NL11": "0/1"}),
            R("EE", "chr20", 29_997, "GATCCTAT", ("G",), {"EE03": "0/1", "EE04": "1/1"}),
        ),
        "unchanged: chr20:29997 GATCCTAT>G, chunk 3 (ends at 30,004 in chunk 4); its POS is inside"
        " IT's callable BED, its end is not",
    ),
    Trap(
        5,
        "non-PASS site",
        (
            R("NL", "chr20", 5_500, "C", ("T",), {"NL12": "0/1", "NL13": "0/1"}),
            R("IT", "chr20", 5_500, "C", ("T",), {"IT05": "0/1", "IT06": "0/1"}, filter="LowQual"),
            R("EE", "chr20", 7_000, "G", ("A",), {"EE05": "0/1", "EE06": "1/1"}, filter="LowQual"),
        ),
        "chr20:5500 C>T from NL only, IT in cohorts_filtered; chr20:7000 not in the panel",
    ),
    Trap(
        6,
        "missing and half-missing calls",
        (
            R(
                "NL",
                "chr20",
                14_000,
                "G",
                ("T",),
                {
                    "NL14": "./.",
                    "NL15": "./.",
                    "NL16": "./.",
                    "NL17": "./1",
                    "NL18": "./1",
                    "NL19": "./1",
                    "NL20": "0/1",
                    "NL21": "0/1",
                    "NL22": "0/1",
                },
            ),
        ),
        "chr20:14000 G>T; ./1 counts as missing",
    ),
    Trap(
        7,
        "XY written 1 and 1/1 on non-PAR chrX",
        (
            R(
                "NL",
                "chrX",
                12_000,
                "G",
                ("A",),
                {
                    "NL02": "1",
                    "NL04": "1",
                    "NL06": "1/1",
                    "NL08": "1/1",
                    "NL01": "0/1",
                    "NL03": "0/1",
                    "NL05": "1/1",
                    "NL29": "0/1",
                },
            ),
        ),
        "chrX:12000 G>A; NL06, NL08 are hemizygous like NL02, NL04; NL29 (NA) is not counted",
    ),
    Trap(
        8,
        "XY het on non-PAR chrX",
        (R("IT", "chrX", 22_000, "T", ("C",), {"IT02": "0/1", "IT04": "1", "IT07": "0/1"}),),
        "chrX:22000 T>C; IT02's het becomes missing",
    ),
    Trap(
        9,
        "XX calls on chrY",
        (
            R(
                "EE",
                "chrY",
                12_000,
                "A",
                ("G",),
                {"EE01": "0/1", "EE03": "1/1", "EE02": "1", "EE04": "1"},
            ),
        ),
        "chrY:12000 A>G; the XX calls of EE01, EE03 are ignored",
    ),
    Trap(
        10,
        "PAR site",
        (
            R(
                "NL",
                "chrX",
                2_500,
                "C",
                ("T",),
                {"NL01": "0/1", "NL02": "0/1", "NL04": "0/1", "NL06": "1/1", "NL30": "0/1"},
            ),
        ),
        "chrX:2500 C>T; everyone diploid, NL30 (NA) counts",
    ),
    Trap(
        11,
        "only a sample not in the sheet carries it",
        (R("NL", "chr20", 16_000, "A", ("G",), {"NL99": "0/1"}),),
        "not in the panel (raw AC 0 over sheet samples)",
    ),
    Trap(
        12,
        "exact duplicate record",
        (R("IT", "chr20", 22_000, "C", ("A",), {"IT08": "0/1", "IT09": "0/1"}, copies=2),),
        "chr20:22000 C>A, counted once",
    ),
    Trap(
        13,
        "site in one cohort only, another has a callable BED",
        (
            R("NL", "chr20", 25_000, "T", ("G",), {"NL23": "0/1", "NL24": "0/1"}),
            R("NL", "chr20", 40_000, "A", ("T",), {"NL25": "0/1", "NL27": "1/1"}),
        ),
        "25000: IT adds AC 0 and AN of its samples (inside its BED); 40000: IT adds nothing;"
        " EE by merge.absent_sites in both",
    ),
    Trap(
        14,
        "adj AC 0",
        (
            R(
                "IT",
                "chr20",
                27_000,
                "G",
                ("C",),
                {"IT10": "0/1", "IT11": "1/1"},
                qc={"IT10": ((15, 15), 12), "IT11": ((0, 30), 15)},
            ),
        ),
        "chr20:27000 G>C with FILTER AC0 (raw AC > 0, adj AC 0)",
    ),
    Trap(
        15,
        "het failing allele balance",
        (
            R(
                "EE",
                "chr20",
                8_000,
                "T",
                ("C",),
                {"EE07": "0/1", "EE08": "0/1"},
                qc={"EE07": ((27, 3), 99)},
            ),
        ),
        "chr20:8000 T>C; EE07 (AB 0.1) fails adj, EE08 passes",
    ),
    Trap(
        16,
        "multiallelic split + left-align",
        (
            R(
                "NL",
                "chr20",
                35_005,
                "TT",
                ("T", "GT"),
                {"NL09": "0/1", "NL10": "0/2", "NL11": "1/2"},
            ),
            R("EE", "chr20", 35_000, "CT", ("C",), {"EE09": "0/1"}),
        ),
        "chr20:35000 CT>C (NL's deletion meets EE's) and chr20:35005 T>G (NL only)",
    ),
)


# ------------------------------------------------------------------------------------ reference
def rng_for(seed: int, *labels: str) -> np.random.Generator:
    """An independent stream per purpose, so changing one part never shifts the others."""
    return np.random.default_rng([seed, zlib.crc32("/".join(labels).encode())])


def plant(sequence: str, pos: int, bases: str) -> str:
    return sequence[: pos - 1] + bases + sequence[pos - 1 + len(bases) :]


def reference_sequences(seed: int) -> dict[str, str]:
    """Random ACGT with every trap's REF and the repeats the indel traps rely on planted."""
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    sequences = {
        name: alphabet[rng_for(seed, "reference", name).integers(0, 4, length)].tobytes().decode()
        for name, length in CONTIG_LENGTHS.items()
    }
    for trap in TRAPS:
        for rec in trap.records:
            sequences[rec.contig] = plant(sequences[rec.contig], rec.pos, rec.ref)
    for (contig, pos), bases in PLANTED_CONTEXTS.items():
        sequences[contig] = plant(sequences[contig], pos, bases)
    for trap in TRAPS:  # catches a trap whose REF contradicts a planted repeat
        for rec in trap.records:
            found = sequences[rec.contig][rec.pos - 1 : rec.pos - 1 + len(rec.ref)]
            assert found == rec.ref, f"trap {trap.number}: REF {rec.ref} but FASTA has {found}"
    return sequences


# ---------------------------------------------------------------------------------- background
@dataclass(frozen=True)
class Site:
    contig: str
    pos: int
    ref: str
    alt: str
    base_af: float
    in_dbsnp: bool
    forced: bool = False


def is_near_trap(contig: str, pos: int) -> bool:
    return any(
        rec.contig == contig
        and rec.pos - TRAP_MARGIN <= pos <= rec.pos + len(rec.ref) - 1 + TRAP_MARGIN
        for trap in TRAPS
        for rec in trap.records
    )


def random_allele(rng, sequence: str, pos: int) -> tuple[str, str]:
    """A SNV, or now and then a short indel already left-aligned (else a SNV)."""
    ref = sequence[pos - 1]
    kind, size = rng.random(), int(rng.integers(1, 4))
    if kind < 0.04:  # deletion: left-aligned iff the anchor differs from the last deleted base
        span = sequence[pos - 1 : pos + size]
        if span[0] != span[-1]:
            return span, ref
    elif kind < 0.08:  # insertion: left-aligned iff the inserted bases do not end with the anchor
        inserted = "".join(rng.choice(list("ACGT"), size))
        if inserted[-1] != ref:
            return ref, ref + inserted
    return ref, str(rng.choice([b for b in "ACGT" if b != ref]))


def background_sites(contig: str, sequence: str, seed: int) -> list[Site]:
    """One shared site list per contig; cohorts draw their own frequencies from it."""
    rng = rng_for(seed, "sites", contig)
    forced = FORCED_SITES.get(contig, ())
    start, end = SITE_RANGE[contig]
    candidates = [
        p
        for p in range(start, end + 1)
        if not is_near_trap(contig, p) and all(abs(p - f) > MIN_SITE_GAP for f in forced)
    ]
    chosen = np.sort(rng.choice(candidates, SITES_PER_CONTIG[contig], replace=False))
    sites, previous = [], -MIN_SITE_GAP
    for pos in chosen.tolist():
        if pos - previous < MIN_SITE_GAP:  # keeps a deletion from spanning the next site
            continue
        ref, alt = random_allele(rng, sequence, pos)
        sites.append(Site(contig, pos, ref, alt, float(rng.beta(0.4, 1.6)), rng.random() < 0.1))
        previous = pos
    for pos in forced:
        ref = sequence[pos - 1]
        alt = "ACGT"[("ACGT".index(ref) + 2) % 4]  # a transversion, nothing random needed
        sites.append(Site(contig, pos, ref, alt, 0.3, False, forced=True))
    return sorted(sites, key=lambda s: s.pos)


def draw_alleles(rng, ploidies: list[int], af: float) -> list[tuple[int, ...]]:
    """Sorted allele tuples, () for missing; at least one alt, as a joint caller would emit."""
    calls = [
        ()
        if p == 0 or rng.random() < MISSING_RATE
        else tuple(sorted(int(a) for a in (rng.random(p) < af)))
        for p in ploidies
    ]
    if not any(any(c) for c in calls):
        called = [i for i, c in enumerate(calls) if c]
        if called:
            i = int(rng.choice(called))
            calls[i] = calls[i][:-1] + (1,)  # keeps alleles sorted: 0/1, not 1/0
    return calls


def genotype_string(alleles: tuple[int, ...], sample_ploidy: int) -> str:
    if not alleles:
        return "./." if sample_ploidy == 2 else "."
    return "/".join(map(str, alleles))


def random_call(rng, alleles: tuple[int, ...], sample_ploidy: int, with_pl: bool) -> str:
    """Depth, allele depths and GQ consistent with the genotype, with some calls failing adj."""
    gt = genotype_string(alleles, sample_ploidy)
    if not alleles:
        return format_call(gt, None, 0, with_pl)
    depth = int(rng.integers(2, 10) if rng.random() < LOW_DP_RATE else rng.poisson(MEAN_DEPTH))
    n_alt = sum(alleles)
    if n_alt == 0:
        alt_reads = rng.binomial(depth, 0.01)  # sequencing errors
    elif n_alt == len(alleles):
        alt_reads = depth - rng.binomial(depth, 0.01)
    else:
        alt_reads = rng.binomial(depth, 0.5)
    gq = int(rng.integers(0, 20) if rng.random() < LOW_GQ_RATE else min(rng.integers(30, 100), 99))
    return format_call(gt, [depth - int(alt_reads), int(alt_reads)], gq, with_pl)


# ----------------------------------------------------------------------------------- VCF text
def phred_likelihoods(gt: str, gq: int) -> str:
    """Biallelic PL: 0 for the called genotype, rising with distance, so GQ is the runner-up."""
    alleles = gt.split("/")
    if "." in alleles:
        return "."
    called = sum(map(int, alleles))
    return ",".join(str(gq * abs(i - called)) for i in range(len(alleles) + 1))


def format_call(gt: str, ad: list[int] | None, gq: int, with_pl: bool) -> str:
    if ad is None:  # no call: every field missing
        fields = [gt, ".", ".", "."]
    else:
        fields = [gt, ",".join(map(str, ad)), str(sum(ad)), str(gq)]
    if with_pl:
        fields.append("." if ad is None else phred_likelihoods(gt, gq))
    return ":".join(fields)


def balanced_depths(gt: str, n_alleles: int) -> list[int] | None:
    """Trap AD: the 30 reads shared evenly between the called alleles."""
    called = [int(a) for a in gt.split("/") if a != "."]
    if not called:
        return None
    ad = [0] * n_alleles
    for allele in called:
        ad[allele] += TRAP_DEPTH // len(called)
    return ad


def info_counts(gts: list[str], n_alts: int) -> str:
    """The caller's AC/AN over every VCF column (NL's include NL99: not to be trusted)."""
    alleles = [a for gt in gts for a in gt.split("/") if a != "."]
    ac = [sum(a == str(i) for a in alleles) for i in range(1, n_alts + 1)]
    return f"AC={','.join(map(str, ac))};AN={len(alleles)}"


def vcf_line(chrom, pos, ref, alts, qual, filt, info, calls, with_pl) -> str:
    fmt = "GT:AD:DP:GQ:PL" if with_pl else "GT:AD:DP:GQ"
    return "\t".join(
        [chrom, str(pos), ".", ref, ",".join(alts), str(qual), filt, info, fmt] + calls
    )


def trap_lines(cohort: str, samples: list[Sample], with_pl: bool) -> list[tuple[str, int, str]]:
    lines = []
    for rec in (r for trap in TRAPS for r in trap.records if r.cohort == cohort):
        gts, calls = [], []
        for sample in samples:
            p = ploidy(rec.contig, rec.pos, sample.sex)
            gt = rec.calls.get(sample.id, genotype_string((0,) * p, p) if p else ".")
            ad, gq = rec.qc.get(sample.id, (balanced_depths(gt, len(rec.alts) + 1), TRAP_GQ))
            gts.append(gt)
            calls.append(format_call(gt, None if ad is None else list(ad), gq, with_pl))
        qual = 15 if rec.filter != "PASS" else 500
        line = vcf_line(
            rec.contig,
            rec.pos,
            rec.ref,
            rec.alts,
            qual,
            rec.filter,
            info_counts(gts, len(rec.alts)),
            calls,
            with_pl,
        )
        lines += [(rec.contig, rec.pos, line)] * rec.copies
    return lines


def background_lines(cohort, samples, sites, seed, with_pl) -> list[tuple[str, int, str]]:
    lines = []
    for contig in CONTIG_LENGTHS:
        rng = rng_for(seed, "genotypes", cohort, contig)
        for site in (s for s in sites if s.contig == contig):
            present = rng.random() < PRESENT_RATE or site.forced
            # Each cohort's frequency scatters around the shared one (Balding-Nichols-like).
            af = rng.beta(site.base_af * 20 + 0.05, (1 - site.base_af) * 20)
            af = float(np.clip(af, 1e-3, 0.95))
            if cohort == "IT" and site.pos + len(site.ref) - 1 > IT_CALLABLE[contig][1]:
                present = False  # IT only holds records where it could call
            if not present:
                continue
            ploidies = [ploidy(contig, site.pos, s.sex) for s in samples]
            alleles = draw_alleles(rng, ploidies, af)
            calls = [
                random_call(rng, a, p, with_pl) for a, p in zip(alleles, ploidies, strict=True)
            ]
            low_qual = rng.random() < LOWQUAL_RATE
            qual = int(rng.integers(5, 30) if low_qual else rng.integers(50, 3000))
            info = info_counts([c.split(":")[0] for c in calls], 1)
            info += ";DB" if site.in_dbsnp else ""
            filt = "LowQual" if low_qual else "PASS"
            lines.append(
                (
                    contig,
                    site.pos,
                    vcf_line(
                        contig, site.pos, site.ref, (site.alt,), qual, filt, info, calls, with_pl
                    ),
                )
            )
    return lines


def vcf_header(cohort: str, samples: list[Sample], with_pl: bool) -> str:
    names = CONTIG_ALIASES.get(cohort, {})
    meta = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=LowQual,Description="Low quality site (QUAL < 30)">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Number of alleles in called genotypes">',
        '##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP membership">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths of REF and ALT">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
    ]
    if with_pl:
        meta.append('##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled likelihoods">')
    meta += [f"##contig=<ID={names.get(c, c)},length={n}>" for c, n in CONTIG_LENGTHS.items()]
    meta += [f"##source=europanel.demo synthetic cohort {cohort}", "##reference=reference.fa"]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
    return "\n".join(meta + ["\t".join(columns + [s.id for s in samples])]) + "\n"


def cohort_vcf_text(cohort: str, sites: list[Site], seed: int) -> str:
    samples, with_pl = vcf_samples(cohort), cohort in COHORTS_WITH_PL
    records = trap_lines(cohort, samples, with_pl) + background_lines(
        cohort, samples, sites, seed, with_pl
    )
    order = list(CONTIG_LENGTHS)
    records.sort(key=lambda r: (order.index(r[0]), r[1]))  # stable: duplicates stay adjacent
    aliases = CONTIG_ALIASES.get(cohort, {})
    body = [aliases.get(contig, contig) + line[len(contig) :] for contig, _, line in records]
    return vcf_header(cohort, samples, with_pl) + "\n".join(body) + "\n"


# ------------------------------------------------------------------------------------ TRAPS.md
def describe_calls(rec: TrapRecord) -> str:
    groups: dict[str, list[str]] = {}
    for sample, gt in rec.calls.items():
        sex = SEX.get(sample, "not in sheet")
        qc = rec.qc.get(sample)
        note = f" AD {qc[0][0]},{qc[0][1]} GQ {qc[1]}" if qc else ""
        groups.setdefault(gt, []).append(f"{sample} ({sex}{note})")
    text = "; ".join(f"`{gt}` {', '.join(ids)}" for gt, ids in groups.items())
    return text + ("; **record written twice**" if rec.copies > 1 else "")


def traps_markdown(seed: int) -> str:
    header = (
        "| # | trap | cohort | CHROM | POS | REF | ALT | FILTER | planted genotypes "
        "(everyone else reference) | expected after normalisation |"
    )
    rows = [header, "|" + " --- |" * 10]
    for trap in TRAPS:
        for i, rec in enumerate(trap.records):
            chrom = CONTIG_ALIASES.get(rec.cohort, {}).get(rec.contig, rec.contig)
            head = [str(trap.number), trap.name] if i == 0 else ["", ""]
            rows.append(
                "| "
                + " | ".join(
                    head
                    + [
                        rec.cohort,
                        chrom,
                        f"{rec.pos:,}",
                        rec.ref,
                        ",".join(rec.alts),
                        rec.filter,
                        describe_calls(rec),
                        trap.expected if i == 0 else "〃",
                    ]
                )
                + " |"
            )

    def composition(cohort):
        members = [s for s in SHEET if s.cohort == cohort]

        def runs(key):
            return ", ".join(
                f"{v}: " + " ".join(s.id for s in members if key(s) == v)
                for v in dict.fromkeys(key(s) for s in members)
            )

        return (
            f"- **{cohort}** populations: {runs(lambda s: s.population)}\n"
            f"  - sex: {runs(lambda s: s.sex)}"
        )

    sheet = "\n".join(composition(c) for c in COHORTS)
    return TRAPS_TEMPLATE.format(seed=seed, sheet=sheet, table="\n".join(rows))


TRAPS_TEMPLATE = """# Demo dataset: traps

Generated by `scripts/europanel_dev/demo.py`; regenerate from the repository root with

    python -m europanel_dev.demo --outdir resources/demo --sheets config --seed {seed}

The output is byte-for-byte deterministic. Trap positions, REF/ALT and genotypes do not depend
on the seed (their bases are planted into `reference.fa`); only the background does.

## Reference and regions
- `reference.fa`: chr20 50,000 bp, chrX 50,000 bp, chrY 30,000 bp. Chunks of 10,000 bp:
  1-10000, 10001-20000, 20001-30000, ... (1-based).
- `par.bed`: chrX 0-5000 and chrY 0-5000 (1-based 1..5000). There are no variants in the chrY PAR.
- `IT.callable.bed`: chr20 0-30000 (1-based 1..30000), all of chrX and chrY. IT has no record
  outside it. NL and EE have no callable BED, so `merge.absent_sites` decides for them.
- Planted repeats: A8 at chr20:12,001-12,008 (G before, C after); (CA)7 at chr20:19,995-20,008
  (G before, T after); T6 at chr20:35,001-35,006 (C before, G after).

## Sample sheet (`config/samples.tsv`)
Pattern: populations in consecutive blocks; within a cohort odd numbers are XX, even XY, the last
two of NL and IT are of unknown sex (`NA`). FIN (EE22-EE24, 3 samples) is below min_group_size 5.
{sheet}

VCF columns: NL is in sheet order with **NL99** (not in the sheet; generated as XX) inserted after
NL15; EE is in sheet order; IT is in **reverse** order (IT36 ... IT01). IT also carries a PL field.
EE names its contigs `20`, `X`, `Y` (same lengths). INFO AC/AN are the caller's, over every
VCF column (NL's include NL99): the pipeline must not use them.

## Traps
At trap sites every sample not listed is reference: `0/0` (`0` for XY on non-PAR chrX/chrY,
`.` for XX on chrY; NA-sex samples are written diploid everywhere), AD 30,0, DP 30, GQ 99.
Listed carriers also have DP 30 and GQ 99, with the 30 reads split evenly between the called
alleles (`0/1` 15,15; `1/1` and `1` 0,30; `1/2` 0,15,15; `./1` 0,30), unless AD/GQ are given.
`./.` has every FORMAT field missing. No background variant lies within 200 bp of a trap.

{table}

## Background
About 200-350 random records per contig per cohort from one shared site list (SNVs, a few
1-3 bp indels, all already normalised; same POS/REF/ALT across cohorts; each cohort carries
~75% of the sites with its own allele frequency). ~2% of calls missing, ~5% GQ < 20, ~3% DP < 10,
~2% of records `LowQual`. Ploidy follows section 4 of DESIGN.md. Records at chr20:10,000 and
chr20:10,001 (a chunk boundary) and chrX:5,000 and chrX:5,001 (the PAR boundary) are in all
three cohorts.
"""


# ---------------------------------------------------------------------------------------- files
def write_fasta(path: Path, sequences: dict[str, str]) -> None:
    with open(path, "w") as out:
        for name, sequence in sequences.items():
            out.write(f">{name}\n")
            out.writelines(sequence[i : i + 60] + "\n" for i in range(0, len(sequence), 60))
    pysam.faidx(str(path))


def write_indexed_vcf(path: Path, text: str) -> None:
    """Write plain text, then let pysam bgzip it (no timestamps in BGZF) and build the .tbi."""
    plain = path.with_suffix("")  # NL.vcf.gz -> NL.vcf, removed by tabix_index
    plain.write_text(text)
    pysam.tabix_index(str(plain), preset="vcf", force=True)


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.write_text("".join("\t".join(r) + "\n" for r in [header, *rows]))


def generate(outdir: Path, sheets: Path, seed: int) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    sheets.mkdir(parents=True, exist_ok=True)
    sequences = reference_sequences(seed)
    write_fasta(outdir / "reference.fa", sequences)
    (outdir / "par.bed").write_text(f"chrX\t0\t{PAR_END}\nchrY\t0\t{PAR_END}\n")
    (outdir / "IT.callable.bed").write_text(
        "".join(f"{c}\t{start}\t{end}\n" for c, (start, end) in IT_CALLABLE.items())
    )
    sites = [s for c in CONTIG_LENGTHS for s in background_sites(c, sequences[c], seed)]
    for cohort in COHORTS:
        write_indexed_vcf(outdir / f"{cohort}.vcf.gz", cohort_vcf_text(cohort, sites, seed))
    prefix = outdir.as_posix()  # sheets name files relative to where snakemake runs
    write_tsv(
        sheets / "cohorts.tsv",
        ["cohort", "vcf", "callable"],
        [
            [c, f"{prefix}/{c}.vcf.gz", f"{prefix}/IT.callable.bed" if c == "IT" else ""]
            for c in COHORTS
        ],
    )
    write_tsv(
        sheets / "samples.tsv",
        ["sample", "cohort", "population", "sex"],
        [[s.id, s.cohort, s.population, s.sex] for s in SHEET],
    )
    (outdir / "TRAPS.md").write_text(traps_markdown(seed))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=Path("resources/demo"))
    parser.add_argument("--sheets", type=Path, default=Path("config"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    generate(args.outdir, args.sheets, args.seed)


if __name__ == "__main__":
    main()
