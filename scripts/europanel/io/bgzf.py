"""BGZF writing: the blocked gzip htslib reads and tabix indexes.

Blocks are laid out as htslib lays them (up to 0xff00 input bytes each, then one empty
end-of-file block), but deflated by zlib-ng at level 6: 1.5x faster than zlib at the same
level and 2% smaller on panel text (docs/BENCHMARKS.md). Compression is most of what
writing the panel costs, once per chunk at 650 M records.
"""

from __future__ import annotations

import struct
from pathlib import Path

from zlib_ng import zlib_ng

from europanel.io import copy_range

LEVEL = 6
BLOCK_INPUT = 0xFF00  # htslib's BGZF_BLOCK_SIZE: input bytes per block
MAX_BLOCK = 0x10000  # a block's whole size must fit BSIZE (16 bits, minus one)
# gzip member header with the BC extra field; the last 2 bytes (BSIZE) are appended.
HEADER = bytes.fromhex("1f8b08040000000000ff060042430200")
BSIZE = struct.Struct("<H")
TRAILER = struct.Struct("<II")  # CRC32, input size
# The empty block htslib ends every file with; parts are joined without it.
EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def block(data) -> bytes:
    """One BGZF block holding `data` (at most BLOCK_INPUT bytes)."""
    compressor = zlib_ng.compressobj(LEVEL, zlib_ng.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush()
    size = len(HEADER) + BSIZE.size + len(deflated) + TRAILER.size
    if size > MAX_BLOCK:  # incompressible input: two smaller blocks (htslib does the same)
        half = len(data) // 2
        return block(data[:half]) + block(data[half:])
    return b"".join(
        (
            HEADER,
            BSIZE.pack(size - 1),
            deflated,
            TRAILER.pack(zlib_ng.crc32(data), len(data)),
        )
    )


class BgzfWriter:
    """Write bytes to a BGZF file; blocks do not follow the writes, so the file's bytes
    depend only on the bytes written. `close` ends it with the EOF block."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._pending = b""

    def write(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
        view = memoryview(data)
        full = len(data) - len(data) % BLOCK_INPUT
        for start in range(0, full, BLOCK_INPUT):
            self._file.write(block(view[start : start + BLOCK_INPUT]))
        self._pending = bytes(view[full:])

    def close(self) -> None:
        if self._file.closed:
            return
        if self._pending:
            self._file.write(block(self._pending))
            self._pending = b""
        self._file.write(EOF)
        self._file.close()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def copy_body(path: str | Path, out) -> None:
    """Copy a BGZF file's blocks without its end-of-file block (valid members to
    concatenate) to the open file `out`."""
    with open(path, "rb") as source:
        size = source.seek(0, 2)
        source.seek(max(size - len(EOF), 0))
        if source.read() != EOF:
            raise ValueError(f"{path}: no BGZF end-of-file block; the part is incomplete")
        copy_range(source, out, 0, size - len(EOF))
