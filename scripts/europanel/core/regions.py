"""Contigs, chunks, pseudoautosomal regions and ploidy classes.

Positions are 1-based and inclusive, as in VCF; BED files are read as 0-based
half-open and converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

# Ploidy classes of a site: where sex decides how a sample is counted (DESIGN §4).
AUTOSOMAL = 0  # autosomes and chrX PAR: diploid for everyone
X_NONPAR = 1  # XX diploid, XY haploid, NA not counted
Y_NONPAR = 2  # XY haploid, XX and NA not counted
Y_PAR = 3  # XY and NA diploid; XX not counted (no Y: calls there are mismapped reads)
PLOIDY_CLASSES = (AUTOSOMAL, X_NONPAR, Y_NONPAR, Y_PAR)
PLOIDY_CLASS_NAMES = {
    AUTOSOMAL: "autosomal_and_X_PAR",
    X_NONPAR: "X_nonPAR",
    Y_NONPAR: "Y_nonPAR",
    Y_PAR: "Y_PAR",
}

# The single source of truth for "which sex is counted with which ploidy in which
# class" (DESIGN §4): expected ploidy per class (row) for sexes XX, XY, NA (columns),
# 0 = not counted. Counting, bundles (reference AN) and the merge all read it through
# `counted_ploidy`.
PLOIDY_BY_CLASS_AND_SEX = {
    AUTOSOMAL: {"XX": 2, "XY": 2, "NA": 2},
    X_NONPAR: {"XX": 2, "XY": 1, "NA": 0},
    Y_NONPAR: {"XX": 0, "XY": 1, "NA": 0},
    Y_PAR: {"XX": 0, "XY": 2, "NA": 2},
}


def counted_ploidy(ploidy_class: int, sex: str) -> int:
    """How many alleles a sample of `sex` carries at a site of `ploidy_class` (0 = not
    counted there)."""
    return PLOIDY_BY_CLASS_AND_SEX[ploidy_class][sex]


def bare_name(contig: str) -> str:
    """Contig name without a `chr` prefix: `chrX` -> `X`."""
    return contig[3:] if contig.lower().startswith("chr") else contig


def sex_chromosome(contig: str) -> str | None:
    """'X' or 'Y' for a sex chromosome, else None."""
    name = bare_name(contig).upper()
    return name if name in ("X", "Y") else None


def harmonised_name(contig: str, reference_contigs: set[str]) -> str | None:
    """The reference's name for an input contig that may differ by the `chr` prefix."""
    for candidate in (contig, "chr" + contig, bare_name(contig)):
        if candidate in reference_contigs:
            return candidate
    return None


def read_fai(fasta: str) -> dict[str, int]:
    """Contig lengths from the FASTA index, in FASTA order."""
    lengths = {}
    with open(f"{fasta}.fai") as fai:
        for line in fai:
            name, length = line.split("\t")[:2]
            lengths[name] = int(length)
    return lengths


def read_bed(path: str) -> dict[str, list[tuple[int, int]]]:
    """BED intervals per contig as 1-based inclusive (start, end), sorted and merged."""
    intervals: dict[str, list[tuple[int, int]]] = {}
    with open(path) as bed:
        for line in bed:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            contig, start, end = line.split("\t")[:3]
            intervals.setdefault(contig, []).append((int(start) + 1, int(end)))
    return {contig: merge_intervals(spans) for contig, spans in intervals.items()}


def merge_intervals(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def in_intervals(
    positions: np.ndarray, spans: list[tuple[int, int]], last: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask: which 1-based positions (or [position, last] ranges) lie within one
    of the merged intervals."""
    positions = np.asarray(positions)
    last = positions if last is None else np.asarray(last)
    if not spans:
        return np.zeros(len(positions), dtype=bool)
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    which = np.searchsorted(starts, positions, side="right") - 1
    return (which >= 0) & (last <= ends[np.clip(which, 0, None)])


def builtin_par_bed(build: str) -> str:
    return str(resources.files("europanel").joinpath(f"data/par_{build}.bed"))


@dataclass(frozen=True)
class PloidyMap:
    """Which ploidy class each position of the sex chromosomes has."""

    par: dict[str, list[tuple[int, int]]]  # keyed by bare contig name (X, Y)

    @classmethod
    def from_bed(cls, path: str) -> PloidyMap:
        return cls({bare_name(c).upper(): spans for c, spans in read_bed(path).items()})

    def classes(self, contig: str, positions: np.ndarray) -> np.ndarray:
        """Ploidy class of each position on one contig."""
        sex = sex_chromosome(contig)
        classes = np.full(len(positions), AUTOSOMAL, dtype=np.int8)
        if sex is None:
            return classes
        nonpar = ~in_intervals(np.asarray(positions), self.par.get(sex, []))
        if sex == "Y":
            classes[:] = Y_PAR
        classes[nonpar] = X_NONPAR if sex == "X" else Y_NONPAR
        return classes


@dataclass(frozen=True, order=True)
class Chunk:
    """A genomic chunk: the unit of parallelism. Owns records whose normalised POS is in it."""

    contig: str
    index: int
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"{self.contig}-{self.index:05d}"

    @property
    def region(self) -> str:
        return f"{self.contig}:{self.start}-{self.end}"


def make_chunks(contig_lengths: dict[str, int], contigs: list[str], chunk_size: int) -> list[Chunk]:
    """Tile each contig into chunks of `chunk_size` bp, in the given contig order."""
    chunks = []
    for contig in contigs:
        length = contig_lengths[contig]
        for index, start in enumerate(range(1, length + 1, chunk_size)):
            chunks.append(Chunk(contig, index, start, min(start + chunk_size - 1, length)))
    return chunks


def chunk_by_name(name: str, contig_lengths: dict[str, int], chunk_size: int) -> Chunk:
    contig, index = name.rsplit("-", 1)
    start = int(index) * chunk_size + 1
    return Chunk(contig, int(index), start, min(start + chunk_size - 1, contig_lengths[contig]))


def default_contigs(contig_lengths: dict[str, int]) -> list[str]:
    """Autosomes 1-22, X and Y of the reference, whichever naming it uses."""
    wanted = [str(i) for i in range(1, 23)] + ["X", "Y"]
    return [c for c in contig_lengths if bare_name(c) in wanted]
