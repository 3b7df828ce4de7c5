"""Read a BCF in blocks of records straight into numpy arrays (the count stage's reader).

Why not cyvcf2 or pysam record by record: at a few hundred samples a
record's genotypes take microseconds to count, while fetching CHROM, POS,
REF, ALT, FILTER and four FORMAT fields through a Python API takes a dozen
Python calls per record, each allocating. Here the only per-record Python is
the loop step that finds where the next record starts and one slice that
copies the record's sample data; everything else is numpy over a whole block.

BCF 2.2 (hts-specs, VCFv4.3 section 6.3), the binary form htslib writes:

- the file is BGZF (gzip members of at most 64 KiB), inflated here member by
  member with ISA-L (the `isal` package; zlib when it is not installed);
- `BCF\\2\\2`, the header text's length (uint32) and the header text;
- each record: `l_shared` and `l_indiv` (uint32), then the shared part
  (CHROM, POS (0-based), rlen, QUAL, n_info | n_allele << 16,
  n_sample | n_fmt << 24, then ID, the alleles and FILTER as typed values,
  then INFO), then the per-sample part: for each FORMAT field its key (a typed
  integer), a type descriptor and `n_sample x count` values of that type.

A typed value starts with a descriptor byte: type in the low 4 bits (1 int8,
2 int16, 3 int32, 5 float, 7 char), count in the high 4 bits (15: the count
follows as a typed integer). Integers have two sentinels, both negative:
`missing` (the type's minimum) and `vector end` (minimum + 1), which pads
shorter vectors (a haploid GT in a diploid record).
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass

import numpy as np

try:  # ISA-L inflates BGZF two to three times faster than zlib; optional.
    from isal.isal_zlib import decompress as _inflate
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib.decompress

TYPE_SIZE = np.zeros(16, dtype=np.int64)
TYPE_SIZE[[1, 2, 3, 5, 7]] = [1, 2, 4, 4, 1]
VALUE_DTYPES = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"), 5: np.dtype("<f4")}
READ_SIZE = 4 << 20  # compressed bytes read at a time


class BcfFormatError(ValueError):
    """The file is not a BCF this reader understands (it names the file and the problem)."""


def inflate_bgzf(path: str, read_size: int = READ_SIZE):
    """Yield the decompressed contents of a BGZF file as lists of its blocks, a few MB at a time."""
    with open(path, "rb") as handle:
        pending = b""
        while True:
            more = handle.read(read_size)
            data = pending + more
            pieces, offset = [], 0
            while offset + 18 <= len(data):
                if data[offset : offset + 4] != b"\x1f\x8b\x08\x04":
                    raise BcfFormatError(f"{path}: not BGZF-compressed at byte {offset}")
                xlen = struct.unpack_from("<H", data, offset + 10)[0]
                end = offset + bgzf_block_size(data, offset, xlen, path)
                if end > len(data):
                    break
                isize = struct.unpack_from("<I", data, end - 4)[0]
                if isize:
                    pieces.append(_inflate(data[offset + 12 + xlen : end - 8], -15, isize))
                offset = end
            pending = data[offset:]
            if pieces:
                yield pieces
            if not more:
                if pending:
                    raise BcfFormatError(f"{path}: truncated (a BGZF block is cut short)")
                return


def bgzf_block_size(data: bytes, offset: int, xlen: int, path: str) -> int:
    """Total size of the BGZF block at `offset`, from the `BC` subfield of its gzip header."""
    extra = offset + 12
    while extra + 4 <= offset + 12 + xlen:
        si1, si2, slen = struct.unpack_from("<BBH", data, extra)
        if si1 == 66 and si2 == 67 and slen == 2:
            return struct.unpack_from("<H", data, extra + 4)[0] + 1
        extra += 4 + slen
    raise BcfFormatError(f"{path}: gzip member without a BGZF block size at byte {offset}")


@dataclass
class FieldPiece:
    """Values of one FORMAT field for some records of a block, as stored: (rows, samples, count)."""

    rows: np.ndarray  # int64 record indices within the block
    values: np.ndarray  # int8 / int16 / int32 / float32


@dataclass
class RecordBlock:
    """A block of records: site columns, and the wanted FORMAT fields as stored."""

    chrom: np.ndarray  # int32 contig ids (see BcfReader.contigs)
    pos: np.ndarray  # int64, 1-based
    n_allele: np.ndarray  # int64
    ref: object  # pyarrow StringArray
    alt: object  # pyarrow StringArray: the first ALT allele ('' when there is none)
    filtered: np.ndarray  # bool: FILTER set and not PASS
    fields: dict[str, list[FieldPiece]]  # records lacking a field are in no piece

    def __len__(self) -> int:
        return len(self.pos)


def read_header(path: str) -> str:
    """The BCF's header text (VCF header lines)."""
    stream = inflate_bgzf(path, read_size=1 << 16)  # the header is in the first blocks
    buffer = b""
    for pieces in stream:
        buffer = b"".join([buffer, *pieces])
        if len(buffer) >= 9:
            if buffer[:5] != b"BCF\x02\x02":
                raise BcfFormatError(f"{path}: not BCF version 2.2")
            end = 9 + struct.unpack_from("<I", buffer, 5)[0]
            if len(buffer) >= end:
                return buffer[9:end].rstrip(b"\0").decode()
    raise BcfFormatError(f"{path}: not a BCF file (its header is cut short)")


def header_dictionaries(text: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """(IDs of FILTER/INFO/FORMAT, IDs of contigs, samples) as BCF numbers them.

    The strings dictionary starts with PASS, then adds each new ID of a
    FILTER, INFO or FORMAT line in header order; contigs are numbered in
    order. An `IDX=` attribute, when present, gives the number explicitly.
    """
    strings, contigs, samples = {"PASS": 0}, {}, []
    for line in text.splitlines():
        if line.startswith("#CHROM"):
            samples = line.split("\t")[9:]
            continue
        for kind, table in (
            ("FILTER", strings),
            ("INFO", strings),
            ("FORMAT", strings),
            ("contig", contigs),
        ):
            if line.startswith(f"##{kind}=<"):
                attributes = dict(header_attributes(line[len(kind) + 4 : -1]))
                name = attributes.get("ID")
                if name is None:
                    continue
                if "IDX" in attributes:
                    table[name] = int(attributes["IDX"])
                elif name not in table:
                    table[name] = max(table.values(), default=-1) + 1
    return strings, contigs, samples


def header_attributes(text: str):
    """`ID=DP,Number=1,Description="a, b"` -> (key, value) pairs, quotes respected."""
    key, value, quoted, reading_key = "", "", False, True
    for char in text:
        if reading_key:
            if char == "=":
                reading_key = False
            else:
                key += char
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield key.strip(), value
            key, value, reading_key = "", "", True
        else:
            value += char
    if key:
        yield key.strip(), value


class BcfReader:
    """Iterate over a BCF in blocks of `block_size` records (`for block in reader.blocks(n)`)."""

    def __init__(self, path: str, fields: tuple[str, ...] = ("GT", "AD", "DP", "GQ")):
        self.path = path
        strings, contigs, self.samples = header_dictionaries(read_header(path))
        self.contigs = {number: name for name, number in contigs.items()}
        self.field_ids = {f: strings[f] for f in fields if f in strings}
        self.pass_id = strings["PASS"]
        self.fields = fields

    def blocks(self, block_size: int, region: tuple[str, int, int] | None = None):
        """Yield RecordBlocks of up to `block_size` records, in file order.

        Records are decoded as each few MB of data is inflated (so only a
        record cut at the end of that data is carried over), then the decoded
        parts are put together into blocks. With `region` (contig, first, last;
        1-based), only records whose POS is in it, as `bcftools view -t` keeps
        them: the same blocks as reading that command's output.
        """
        stream = inflate_bgzf(self.path)
        buffer = self._skip_header(stream)
        unpack = struct.Struct("<IIii").unpack_from  # l_shared, l_indiv, CHROM, POS - 1
        if region is None:
            wanted, first, last = None, -(2**31), 2**31
        else:
            names = {name: number for number, name in self.contigs.items()}
            wanted, first, last = names.get(region[0], -1), region[1] - 1, region[2] - 1
        parts: list[RecordBlock] = []  # decoded parts of the block being gathered
        gathered = 0
        offset = 0  # where the next record starts in `buffer`
        for pieces in itertools.chain([[]], stream):  # first: what came with the header
            buffer = b"".join([memoryview(buffer)[offset:], *pieces])
            offset, end = 0, len(buffer)
            starts: list[int] = []
            while offset + 16 <= end:  # the one per-record Python loop: where records start
                l_shared, l_indiv, chrom, pos = unpack(buffer, offset)
                following = offset + 8 + l_shared + l_indiv
                if following > end:
                    break
                if (wanted is None or chrom == wanted) and first <= pos <= last:
                    starts.append(offset)
                offset = following
                if gathered + len(starts) == block_size:
                    parts.append(self._decode(buffer, np.array(starts, dtype=np.int64)))
                    yield join_blocks(parts)
                    parts, gathered, starts = [], 0, []
            if starts:
                parts.append(self._decode(buffer, np.array(starts, dtype=np.int64)))
                gathered += len(starts)
        if offset != len(buffer):
            raise BcfFormatError(f"{self.path}: truncated (the last record is cut short)")
        if parts:
            yield join_blocks(parts)

    def _skip_header(self, stream) -> bytes:
        buffer = b""
        for pieces in stream:
            buffer = b"".join([buffer, *pieces])
            if len(buffer) >= 9:
                header_end = 9 + struct.unpack_from("<I", buffer, 5)[0]
                if len(buffer) >= header_end:
                    return buffer[header_end:]
        raise BcfFormatError(f"{self.path}: truncated header")

    def _decode(self, buffer: bytes, starts: np.ndarray) -> RecordBlock:
        """Site columns and FORMAT fields of the records starting at `starts` (vectorised)."""
        raw = np.frombuffer(buffer, dtype=np.uint8)
        l_shared = read_ints(raw, starts, np.dtype("<u4"))
        shared = starts + 8
        chrom = read_ints(raw, shared, np.dtype("<i4")).astype(np.int32)
        pos = read_ints(raw, shared + 4, np.dtype("<i4")) + 1
        n_allele = read_ints(raw, shared + 16, np.dtype("<u4")) >> 16
        n_fmt_sample = read_ints(raw, shared + 20, np.dtype("<u4"))
        n_sample, n_fmt = n_fmt_sample & 0xFFFFFF, n_fmt_sample >> 24
        if (n_sample != len(self.samples)).any():
            raise BcfFormatError(f"{self.path}: a record's sample count differs from the header's")

        # ID, the alleles, FILTER: typed values one after another.
        cursor, _ = skip_typed(raw, shared + 24)  # ID
        alleles = []  # REF and the first ALT ('' where a record has none)
        for k in range(int(n_allele.max())):
            has = np.flatnonzero(n_allele > k)
            after, (data, length) = skip_typed(raw, cursor[has])
            if k < 2:
                starts_k, lengths_k = (
                    np.zeros(len(starts), np.int64),
                    np.zeros(len(starts), np.int64),
                )
                starts_k[has], lengths_k[has] = data, length
                alleles.append(allele_strings(raw, starts_k, lengths_k))
            cursor[has] = after
        while len(alleles) < 2:
            alleles.append(allele_strings(raw, starts, np.zeros(len(starts), np.int64)))
        filtered = self._filtered(raw, cursor)

        fields = self._format_fields(buffer, raw, shared + l_shared, n_fmt)
        return RecordBlock(chrom, pos, n_allele, alleles[0], alleles[1], filtered, fields)

    def _filtered(self, raw: np.ndarray, at: np.ndarray) -> np.ndarray:
        """FILTER is set and is not just PASS (as cyvcf2's `FILTER is not None`)."""
        kind = raw[at].astype(np.int64) & 0xF
        _, (data, nbytes) = skip_typed(raw, at)
        count = nbytes // np.maximum(TYPE_SIZE[kind], 1)
        single = np.flatnonzero((count == 1) & (kind >= 1) & (kind <= 3))
        first = np.full(len(at), -1, dtype=np.int64)
        for code in (1, 2, 3):
            rows = single[kind[single] == code]
            first[rows] = read_ints(raw, data[rows], VALUE_DTYPES[code])
        return (count > 1) | ((count == 1) & (first != self.pass_id))

    def _format_fields(
        self, buffer: bytes, raw: np.ndarray, indiv: np.ndarray, n_fmt: np.ndarray
    ) -> dict[str, list[FieldPiece]]:
        """The wanted FORMAT fields, in pieces of records that store them alike.

        Records whose per-sample part has the same layout (fields, types and
        counts: usually all records of a block, or a few groups when some
        depths need int16) are copied with one slice per record, and each
        field is then a strided view of that copy.
        """
        n, n_samples = len(indiv), len(self.samples)
        cursor = indiv.copy()
        layout = []  # per FORMAT position: (key, type, count, data offset from `indiv`)
        for k in range(int(n_fmt.max()) if n else 0):
            has = np.flatnonzero(n_fmt > k)  # records with a k-th FORMAT field
            key_end, (key_data, key_bytes) = skip_typed(raw, cursor[has])
            key = np.full(len(has), -1, dtype=np.int64)
            for code in (1, 2, 3):
                rows = np.flatnonzero(key_bytes == VALUE_DTYPES[code].itemsize)
                key[rows] = read_ints(raw, key_data[rows], VALUE_DTYPES[code])
            kind = raw[key_end].astype(np.int64) & 0xF
            after, (data, nbytes) = skip_typed(raw, key_end, n_samples)
            entry = [np.full(n, -1, dtype=np.int64) for _ in range(4)]
            entry[0][has], entry[1][has] = key, kind
            entry[2][has] = nbytes // np.maximum(TYPE_SIZE[kind] * n_samples, 1)
            entry[3][has] = data - indiv[has]
            layout.append(entry)
            cursor[has] = after
        size = cursor - indiv  # bytes of each record's per-sample part

        # Group records by layout; one copy per group, with one slice per record.
        signature = np.stack([size, *[column for entry in layout for column in entry]], axis=1)
        found: dict[str, list[FieldPiece]] = {f: [] for f in self.fields}
        view = memoryview(buffer)
        for rows in same_rows(signature):
            sig = signature[rows[0]]
            width = int(sig[0])
            copy = np.frombuffer(
                b"".join([view[s : s + width] for s in indiv[rows].tolist()]), dtype=np.uint8
            ).reshape(len(rows), width)
            for k in range(len(layout)):
                key, kind, count, offset = (int(x) for x in sig[1 + 4 * k : 5 + 4 * k])
                name = next((f for f, i in self.field_ids.items() if i == key), None)
                if name is None or kind not in VALUE_DTYPES:
                    continue  # not wanted, absent from these records, or a string field
                dtype = VALUE_DTYPES[kind]
                nbytes = n_samples * count * dtype.itemsize
                values = copy[:, offset : offset + nbytes].view(dtype)
                found[name].append(FieldPiece(rows, values.reshape(len(rows), n_samples, count)))
        return found


def join_blocks(parts: list[RecordBlock]) -> RecordBlock:
    """One RecordBlock of consecutive parts (field values are not copied)."""
    if len(parts) == 1:
        return parts[0]
    import pyarrow as pa

    first_row = np.cumsum([0] + [len(p) for p in parts[:-1]])
    fields = {
        name: [
            FieldPiece(piece.rows + row, piece.values)
            for part, row in zip(parts, first_row)
            for piece in part.fields[name]
        ]
        for name in parts[0].fields
    }
    return RecordBlock(
        *(np.concatenate([getattr(p, a) for p in parts]) for a in ("chrom", "pos", "n_allele")),
        pa.concat_arrays([p.ref for p in parts]),
        pa.concat_arrays([p.alt for p in parts]),
        np.concatenate([p.filtered for p in parts]),
        fields,
    )


def same_rows(table: np.ndarray) -> list[np.ndarray]:
    """Indices of the rows of `table` grouped by equal rows (usually: all rows alike)."""
    if (table == table[0]).all():
        return [np.arange(len(table))]
    # Sort on a hash of each row (one int64 sort, not a lexsort), then split on changes.
    weights = np.random.default_rng(0).integers(1, 2**62, size=table.shape[1])
    order = np.argsort(table @ weights, kind="stable")
    changed = np.flatnonzero((np.diff(table[order], axis=0) != 0).any(axis=1)) + 1
    return [np.sort(part) for part in np.split(order, changed)]


def read_ints(raw: np.ndarray, at: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """One little-endian integer of `dtype` at each offset `at`, as int64."""
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    index = at[:, None] + np.arange(dtype.itemsize)
    return raw[index].view(dtype)[:, 0].astype(np.int64)


def skip_typed(raw: np.ndarray, at: np.ndarray, times: int = 1):
    """Typed values at `at` (one per record), `times` vectors of them (a FORMAT field
    holds one per sample): where the next value starts, and (data start, data bytes)."""
    descriptor = raw[at].astype(np.int64)
    kind, count = descriptor & 0xF, descriptor >> 4
    data = at + 1
    long = np.flatnonzero(count == 15)
    if len(long):  # the count is itself a typed integer
        where = at[long] + 1
        count_kind = raw[where].astype(np.int64) & 0xF
        for code in (1, 2, 3):
            rows = np.flatnonzero(count_kind == code)
            count[long[rows]] = read_ints(raw, where[rows] + 1, VALUE_DTYPES[code])
        data[long] = where + 1 + TYPE_SIZE[count_kind]
    nbytes = count * TYPE_SIZE[kind] * times
    return data + nbytes, (data, nbytes)


def allele_strings(raw: np.ndarray, data: np.ndarray, length: np.ndarray):
    """The strings raw[data:data+length] of each record as one pyarrow StringArray."""
    import pyarrow as pa

    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    index = np.repeat(data - offsets[:-1], length) + np.arange(offsets[-1])
    chars = raw[index]
    if (chars >= 128).any():
        raise BcfFormatError("an allele has a byte outside ASCII")
    return pa.LargeStringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())
    )
