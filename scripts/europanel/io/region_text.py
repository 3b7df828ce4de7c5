"""Write one region of a bgzipped, tabix-indexed VCF as plain text to stdout: its header,
then the records overlapping the region, as htslib's region query (`bcftools -r`) selects
them. Run as `python -m europanel.io.region_text VCF CONTIG BEGIN END` (1-based, inclusive).

Why: the count job parses its chunk's VCF text with bcftools through pysam, whose htslib
inflates BGZF with the system zlib: 0.8 of 2.0 CPU s for a 10 Mb chunk of 400 samples.
ISA-L inflates the same blocks in a quarter of that time, here, in a second process whose
output htslib reads through a pipe, already inflated. Only the standard library and ISA-L
are imported (no numpy): the process starts in ~30 ms.

A record overlaps the region when [POS, POS + rlen - 1] does (`--regions-overlap 1`, the
default of `-r`), rlen the length of REF. htslib takes rlen from INFO/END where there is
one: for a record before the region with an END or a symbolic allele, this exits with
status 3 (NEEDS_HTSLIB) and the caller reads the file with htslib's own region query.
"""

from __future__ import annotations

import sys

from europanel.io import tabix

NEEDS_HTSLIB = 3


class NeedsHtslib(Exception):
    """A record's span depends on more than POS and REF."""


def header_text(path: str) -> bytes:
    """The header lines, up to and including `#CHROM ...`."""
    text = b""
    for _, block in tabix.inflate_blocks(path, 0):
        if not text and not block.startswith((b"##fileformat=VCF", b"#CHROM")):
            raise NeedsHtslib("not VCF text (BCF?)")
        text += block
        start = text.find(b"#CHROM")
        while start > 0 and text[start - 1 : start] != b"\n":
            start = text.find(b"#CHROM", start + 1)
        if start >= 0:
            stop = text.find(b"\n", start)
            if stop >= 0:
                return text[: stop + 1]
    raise ValueError(f"{path}: no #CHROM header line")


def overlaps(line: bytes, contig: bytes, begin: int, end: int) -> int:
    """-1: the record ends before the region (or is on another contig before it), 0: it
    overlaps, 1: it starts after the region."""
    chrom, pos, _, ref, alt, _, _, info = line.split(b"\t", 8)[:8]
    if chrom != contig:
        raise NeedsHtslib(f"contig {chrom!r} inside the index's span of {contig!r}")
    pos = int(pos)
    if pos > end:
        return 1
    if pos >= begin:
        return 0
    if b"<" in alt or info.startswith(b"END=") or b";END=" in info:
        raise NeedsHtslib(f"a record at {pos} before the region may reach into it")
    return 0 if pos + len(ref) - 1 >= begin else -1


def write_region(path: str, contig: str, begin: int, end: int, out) -> None:
    """Header, then the records overlapping contig:begin-end (1-based, inclusive)."""
    out.write(header_text(path))
    name, before_region = contig.encode(), True
    # Pieces of whole lines, about a block each (tabix.region_lines starts at the index's span).
    for whole in tabix.region_lines(path, contig, begin - 1, end, piece_bytes=1):
        # Sorted records: only those before the region and the first after it need a look;
        # a piece whose last record is inside the region is written as it is.
        last_line = whole[whole.rfind(b"\n", 0, len(whole) - 1) + 1 :]
        if not before_region and overlaps(last_line, name, begin, end) == 0:
            out.write(whole)
            continue
        for line in whole.splitlines(keepends=True):
            where = overlaps(line, name, begin, end)
            if where == 1:
                return
            if where == 0:
                out.write(line)
                # Past the records that start before the region (long REFs reach into it).
                before_region = before_region and int(line.split(b"\t", 2)[1]) < begin


def main(argv: list[str]) -> int:
    path, contig, begin, end = argv
    try:
        write_region(path, contig, int(begin), int(end), sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except NeedsHtslib as reason:
        print(f"{path}: {reason}; reading it with htslib", file=sys.stderr)
        return NEEDS_HTSLIB
    except BrokenPipeError:  # the reader stopped (it reports why)
        return 1
    except (OSError, ValueError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
