"""Read one region of a bgzipped, tabix-indexed text file as whole lines, in bulk.

Why not pysam's `TabixFile.fetch`: it hands back one Python string per line, and an
`audit-chunk` job reads ~60,000 lines of ~2.5 kB each, which it then joins again to parse
them column-wise. Here the index (.tbi, hts-specs "The tabix index format") gives the span
of virtual file offsets that holds every record overlapping the region, the span's BGZF
blocks are inflated by ISA-L (CRC-checked, as htslib does) and handed on as a few large
pieces of text that start and end at line boundaries. The span may hold lines just
outside the region (as tabix's own chunks do): callers filter on the coordinates.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass

try:  # ISA-L inflates 3x faster than zlib (1.4x zlib-ng); optional, as in io/bcf.py.
    from isal.isal_zlib import crc32, decompress
    from isal.isal_zlib import error as InflateError
except ImportError:  # pragma: no cover - depends on the environment
    from zlib import crc32, decompress
    from zlib import error as InflateError

MIN_SHIFT, DEPTH = 14, 5  # tabix's fixed binning: 16 kb windows, 6 levels of bins
BGZF_MAGIC = b"\x1f\x8b\x08\x04"
READ_SIZE = 4 << 20  # compressed bytes read at a time


@dataclass
class ContigIndex:
    bins: dict[int, list[tuple[int, int]]]  # bin -> chunks (begin, end virtual offsets)
    linear: list[int]  # per 16 kb window: lowest virtual offset of a record overlapping it


def read_index(path: str) -> dict[str, ContigIndex]:
    """Contig name -> its bins and linear index, from a .tbi file."""
    data = gzip.open(path, "rb").read()
    if data[:4] != b"TBI\x01":
        raise ValueError(f"{path}: not a tabix index (no TBI magic)")
    n_ref, *_, names_length = struct.unpack_from("<8i", data, 4)
    at = 36
    names = data[at : at + names_length].split(b"\0")[:n_ref]
    at += names_length
    contigs = {}
    for name in names:
        (n_bin,) = struct.unpack_from("<i", data, at)
        at += 4
        bins = {}
        for _ in range(n_bin):
            bin_number, n_chunk = struct.unpack_from("<Ii", data, at)
            at += 8
            offsets = struct.unpack_from(f"<{2 * n_chunk}Q", data, at)
            at += 16 * n_chunk
            bins[bin_number] = list(zip(offsets[::2], offsets[1::2]))
        (n_window,) = struct.unpack_from("<i", data, at)
        at += 4
        linear = list(struct.unpack_from(f"<{n_window}Q", data, at))
        at += 8 * n_window
        contigs[name.decode()] = ContigIndex(bins, linear)
    return contigs


# htslib's per-contig metadata bin: chunks (first, past-the-last record offsets) and
# (records, records without coordinates).
PSEUDO_BIN = 37450
# The header tabix's vcf preset writes: format (VCF), sequence, begin and end columns,
# comment character, lines to skip.
VCF_PRESET = (2, 1, 2, 0, ord("#"), 0)


def joined_index(pieces: list[tuple[str, int]]) -> dict[str, ContigIndex]:
    """The index of BGZF pieces joined one after another, from each piece's own index:
    (the piece's .tbi, the file offset its first block has in the joined file). Every
    virtual offset moves by that offset; a contig's bins take every piece's chunks,
    merged where they meet in one block as htslib merges them; the linear index takes,
    per window, the lowest offset of any piece (a valid bound for every piece's
    records, and the one htslib finds except where it fills empty windows forward)."""
    joined: dict[str, ContigIndex] = {}
    for path, start in pieces:
        moved = start << 16
        for name, piece in read_index(path).items():
            contig = joined.setdefault(name, ContigIndex({}, []))
            for bin_number, chunks in piece.bins.items():
                if bin_number == PSEUDO_BIN:
                    (first, end), counts = chunks
                    chunks = [(first + moved, end + moved), counts]
                    contig.bins[bin_number] = pseudo_bin(contig.bins.get(bin_number), chunks)
                else:
                    chunks = [(b + moved, e + moved) for b, e in chunks]
                    contig.bins[bin_number] = merged_chunks(contig.bins.get(bin_number, []), chunks)
            linear = [offset + moved for offset in piece.linear]
            shared = min(len(contig.linear), len(linear))
            contig.linear[:shared] = map(min, contig.linear[:shared], linear[:shared])
            contig.linear.extend(linear[shared:])
    return joined


def pseudo_bin(before: list | None, piece: list) -> list:
    if before is None:
        return piece
    (first, _), (records, unplaced) = before
    (_, end), (piece_records, piece_unplaced) = piece
    return [(first, end), (records + piece_records, unplaced + piece_unplaced)]


def merged_chunks(before: list, after: list) -> list:
    """Chunks in offset order, one where the next begins in the block the last ends in
    (htslib's hts_idx_finish)."""
    chunks: list = []
    for begin, end in sorted(before + after):
        if chunks and chunks[-1][1] >> 16 >= begin >> 16:
            chunks[-1] = (chunks[-1][0], max(chunks[-1][1], end))
        else:
            chunks.append((begin, end))
    return chunks


def write_index(path: str, contigs: dict[str, ContigIndex]) -> None:
    """A .tbi of the vcf preset (hts-specs "The tabix index format"), BGZF-compressed."""
    from europanel.io.bgzf import BgzfWriter  # not on region_text's fast start

    names = b"".join(name.encode() + b"\0" for name in contigs)
    out = [b"TBI\x01", struct.pack("<8i", len(contigs), *VCF_PRESET, len(names)), names]
    for contig in contigs.values():
        out.append(struct.pack("<i", len(contig.bins)))
        for bin_number in sorted(contig.bins):
            chunks = contig.bins[bin_number]
            out.append(struct.pack("<Ii", bin_number, len(chunks)))
            out.append(struct.pack(f"<{2 * len(chunks)}Q", *(o for c in chunks for o in c)))
        out.append(struct.pack(f"<i{len(contig.linear)}Q", len(contig.linear), *contig.linear))
    out.append(struct.pack("<Q", 0))  # records without coordinates: none in a VCF
    with BgzfWriter(path) as index:
        index.write(b"".join(out))


def overlapping_bins(begin: int, end: int) -> list[int]:
    """The bins that may hold records overlapping [begin, end) (0-based; htslib's reg2bins)."""
    end -= 1
    bins = [0]
    first_bin = 0
    for level in range(1, DEPTH + 1):
        first_bin += 1 << (3 * (level - 1))
        shift = MIN_SHIFT + 3 * (DEPTH - level)
        bins.extend(range(first_bin + (begin >> shift), first_bin + (end >> shift) + 1))
    return bins


def region_span(index: ContigIndex, begin: int, end: int) -> tuple[int, int] | None:
    """The virtual offsets (first, past the last) of the records overlapping [begin, end),
    as htslib's iterator finds them: the chunks of the overlapping bins that end after the
    linear index's lowest offset for `begin`. None: no record there."""
    linear = index.linear
    lowest = linear[min(begin >> MIN_SHIFT, len(linear) - 1)] if linear else 0
    chunks = [
        (chunk_begin, chunk_end)
        for bin_number in overlapping_bins(begin, end)
        for chunk_begin, chunk_end in index.bins.get(bin_number, ())
        if chunk_end > lowest
    ]
    if not chunks:
        return None
    return min(b for b, _ in chunks), max(e for _, e in chunks)


def region_lines(path: str, contig: str, begin: int, end: int, piece_bytes: int = 32 << 20):
    """Text of the lines whose records may overlap [begin, end) (0-based) on `contig`, in
    pieces of about `piece_bytes` that each end with a whole line. Indexed by `path`.tbi."""
    index = read_index(f"{path}.tbi")
    if contig not in index:
        return
    span = region_span(index[contig], begin, end)
    if span is None:
        return
    first, last = span
    # The block `last` points into, unless it points at the start of that block.
    last_block = last >> 16 if last & 0xFFFF else (last >> 16) - 1
    pending: list[bytes] = []
    pending_bytes = 0
    skip = first & 0xFFFF  # the first record starts this far into the first block
    for block_start, text in inflate_blocks(path, first >> 16, last_block):
        if block_start == last >> 16:
            text = text[: last & 0xFFFF]  # the last record ends here
        if skip:
            text, skip = text[skip:], 0
        pending.append(text)
        pending_bytes += len(text)
        if pending_bytes >= piece_bytes:
            joined = b"".join(pending)
            cut = joined.rfind(b"\n") + 1
            if cut:
                yield joined[:cut]
                pending, pending_bytes = [joined[cut:]], len(joined) - cut
    if pending_bytes:
        yield b"".join(pending)


def inflate_blocks(path: str, first: int, last: int | None = None):
    """(file offset, inflated text) of each BGZF block from the one at `first` to the one at
    `last` (both file offsets of block starts; None: to the end of the file), checking each
    block's CRC32 and size."""
    with open(path, "rb") as handle:
        handle.seek(first)
        data, at, offset = b"", 0, first
        while last is None or offset <= last:
            size = block_size(data, at, path, offset)
            if not size or len(data) - at < size:
                more = handle.read(READ_SIZE)
                if not more:
                    if last is None and at == len(data):
                        return
                    raise ValueError(f"{path}: truncated (a BGZF block is cut short)")
                data, at = data[at:] + more, 0
                continue
            crc, text_size = struct.unpack_from("<II", data, at + size - 8)
            extra_length = struct.unpack_from("<H", data, at + 10)[0]
            try:
                text = decompress(data[at + 12 + extra_length : at + size - 8], -15, text_size)
            except InflateError:
                text = b""  # reported as damaged below
            if len(text) != text_size or crc32(text) != crc:
                raise ValueError(f"{path}: BGZF block at byte {offset} is damaged (CRC32)")
            yield offset, text
            at += size
            offset += size


def block_size(data: bytes, at: int, path: str, offset: int) -> int:
    """Total size of the BGZF block at `at` (file offset `offset`), from its BC subfield;
    0 when its header is not all in `data` yet."""
    if len(data) - at < 18:
        return 0
    if data[at : at + 4] != BGZF_MAGIC:
        raise ValueError(f"{path}: not BGZF at byte {offset}")
    extra_length = struct.unpack_from("<H", data, at + 10)[0]
    if len(data) - at < 12 + extra_length:
        return 0
    extra = at + 12
    while extra + 4 <= at + 12 + extra_length:
        si1, si2, length = struct.unpack_from("<BBH", data, extra)
        if (si1, si2, length) == (66, 67, 2):
            return struct.unpack_from("<H", data, extra + 4)[0] + 1
        extra += 4 + length
    raise ValueError(f"{path}: gzip member without a BGZF block size at byte {offset}")
