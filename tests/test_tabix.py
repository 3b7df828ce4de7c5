"""io/tabix.py reads a region's lines as htslib's tabix does: the same records, whatever the
file's block layout, and a damaged block is refused."""

from __future__ import annotations

import random

import pysam
import pytest

from conftest import bgzipped_vcf
from europanel.io.tabix import region_lines

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_vcf(folder, seed: int, writer: str) -> str:
    """A sorted VCF of three contigs (one sparse, with long deletions that span many
    windows and bins), bgzipped by htslib or by io/bgzf.py, tabix-indexed."""
    rng = random.Random(seed)
    lines = []
    for contig, count, span in (
        ("chr1", 3000, 2_000_000),
        ("chr2", 40, 60_000_000),
        ("chrX", 500, 300_000),
    ):
        for pos in sorted(rng.sample(range(1, span), count)):
            ref = "A" * (rng.choice([1, 1, 1, 2, 5000, 70_000]) if pos % 7 == 0 else 1)
            info = ";".join(f"K{i}={rng.random():.6f}" for i in range(rng.randint(1, 40)))
            lines.append(f"{contig}\t{pos}\t.\t{ref}\tT\t.\tPASS\t{info}\n")
    text = HEADER + "".join(lines)
    return bgzipped_vcf(folder, text, writer)


def fetched(path: str, contig: str, begin: int, end: int) -> list[str]:
    """The lines of records overlapping [begin, end) as pysam's tabix returns them."""
    with pysam.TabixFile(path) as tabix:
        if contig not in tabix.contigs:
            return []
        return list(tabix.fetch(contig, begin, end))


def pos_in(line: str, contig: str, begin: int, end: int) -> bool:
    fields = line.split("\t", 2)
    return fields[0] == contig and begin < int(fields[1]) <= end


@pytest.mark.parametrize("writer", ["htslib", "europanel"])
def test_region_lines_hold_the_records_tabix_fetches(tmp_path, writer):
    path = write_vcf(tmp_path, 7, writer)
    rng = random.Random(1)
    regions = [
        ("chr1", 0, 3_000_000),
        ("chr2", 0, 1),
        ("chrY", 0, 1000),
        ("chrX", 299_000, 400_000),
    ]
    for _ in range(60):
        contig = rng.choice(["chr1", "chr2", "chrX"])
        begin = rng.randrange(0, 2_000_000)
        regions.append((contig, begin, begin + rng.choice([1, 100, 20_000, 500_000])))
    for contig, begin, end in regions:
        read = "".join(
            piece.decode() for piece in region_lines(path, contig, begin, end, piece_bytes=5000)
        ).splitlines()
        expected = fetched(path, contig, begin, end)
        # Every record tabix returns, in order and whole; any extra line is just outside.
        assert [line for line in read if line in set(expected)] == expected
        assert len(set(read)) == len(read)
        inside = [line for line in read if pos_in(line, contig, begin, end)]
        assert inside == [line for line in expected if pos_in(line, contig, begin, end)]


def test_a_damaged_block_is_refused(tmp_path):
    path = write_vcf(tmp_path, 3, "europanel")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.vcf.gz"
    damaged.write_bytes(bytes(data))
    (tmp_path / "damaged.vcf.gz.tbi").write_bytes(open(f"{path}.tbi", "rb").read())
    with pytest.raises(Exception, match="BGZF|damaged|invalid"):
        for _ in region_lines(str(damaged), "chr1", 0, 3_000_000):
            pass
