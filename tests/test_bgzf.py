"""io/bgzf.py writes files htslib and gzip read back byte for byte, in htslib's block
layout, whatever the sizes of the writes."""

from __future__ import annotations

import gzip
import os
import struct

import pysam
from hypothesis import given, settings
from hypothesis import strategies as st

from europanel.io import bgzf


def blocks_of(data: bytes) -> list[tuple[int, int]]:
    """(block size, input size) of each BGZF block, from the BSIZE field and the trailer."""
    blocks, at = [], 0
    while at < len(data):
        assert data[at : at + 4] == b"\x1f\x8b\x08\x04" and data[at + 12 : at + 14] == b"BC"
        size = struct.unpack_from("<H", data, at + 16)[0] + 1
        blocks.append((size, struct.unpack_from("<I", data, at + size - 4)[0]))
        at += size
    return blocks


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 150_000), max_size=6), seed=st.integers(0, 2**32 - 1))
def test_any_writes_read_back_as_the_bytes_written(sizes, seed, tmp_path_factory):
    rng = __import__("random").Random(seed)
    pieces = [bytes(rng.choice(b"ACGT\t\n;=0123") for _ in range(n)) for n in sizes]
    path = tmp_path_factory.mktemp("bgzf") / "x.gz"
    with bgzf.BgzfWriter(path) as out:
        for piece in pieces:
            out.write(piece)
    data = path.read_bytes()
    assert gzip.decompress(data) == b"".join(pieces)
    assert data.endswith(bgzf.EOF)
    inputs = [n for _, n in blocks_of(data)]
    # htslib's layout: full blocks of 0xff00 input bytes, then the rest, then the EOF block
    total = sum(sizes)
    assert inputs[:-1] == [bgzf.BLOCK_INPUT] * (total // bgzf.BLOCK_INPUT) + (
        [total % bgzf.BLOCK_INPUT] if total % bgzf.BLOCK_INPUT else []
    )
    assert inputs[-1] == 0


def test_incompressible_input_is_split_into_blocks_that_fit(tmp_path):
    data = os.urandom(3 * bgzf.BLOCK_INPUT + 17)
    path = tmp_path / "random.gz"
    with bgzf.BgzfWriter(path) as out:
        out.write(data)
    written = path.read_bytes()
    assert all(size <= bgzf.MAX_BLOCK for size, _ in blocks_of(written))
    assert gzip.decompress(written) == data


def test_htslib_indexes_and_queries_what_it_writes(tmp_path):
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=10000000>"]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"chr1\t{pos}\t.\tA\tC\t.\tPASS\tAC={pos % 7}" for pos in range(1, 200_000, 7)]
    path = tmp_path / "sites.vcf.gz"
    with bgzf.BgzfWriter(path) as out:
        out.write(("\n".join(lines) + "\n").encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)
    with pysam.VariantFile(str(path)) as vcf:
        assert [r.pos for r in vcf.fetch("chr1", 150_000, 150_030)] == [
            150_004,
            150_011,
            150_018,
            150_025,
        ]
