"""File formats: sample and cohort sheets, VRS identifiers from the FASTA (the BCF reader and
the panel writers join them: docs/ARCHITECTURE.md)."""


def copy_range(source, out, start: int, length: int, piece_bytes: int = 16 << 20) -> None:
    """Copy `length` bytes of the open file `source` from `start` to `out`, a piece at a
    time (memory stays bounded however large the file)."""
    source.seek(start)
    while length:
        data = source.read(min(length, piece_bytes))
        if not data:
            raise ValueError(f"{source.name}: shorter than expected; the file is damaged")
        out.write(data)
        length -= len(data)
