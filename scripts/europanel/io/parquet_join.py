"""Join Parquet files of one schema into one file without decoding a page.

A Parquet file is `PAR1`, the column chunks' bytes, a footer (the Thrift-compact
FileMetaData), its length and `PAR1`. The footer locates every column chunk by its offset
in the file, so the joined file is the parts' column-chunk bytes one after the other and
one footer holding every part's row groups, their offsets moved by where the part's bytes
now start. Arrow cannot copy row groups (it decodes and encodes them again: 3.8 CPU s for
the bench's 66 MB panel, and hours at Genome-of-Europe scale); this copies bytes.

Only the footer fields that hold file offsets change (listed below, from parquet.thrift);
every other field, known or not, is copied as it was read.
"""

from __future__ import annotations

import struct

from europanel.io import copy_range

MAGIC = b"PAR1"
FOOTER_LENGTH = struct.Struct("<I")

# Thrift compact-protocol types.
BOOL_TRUE, BOOL_FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)

# parquet.thrift field ids
FILE_NUM_ROWS, FILE_ROW_GROUPS = 3, 4
GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 5, 7
CHUNK_FILE_PATH, CHUNK_FILE_OFFSET, CHUNK_META = 1, 2, 3
CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX, CHUNK_CRYPTO, CHUNK_ENCRYPTED_META = 4, 6, 8, 9
# ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset,
# bloom_filter_offset
META_OFFSETS = (9, 10, 11, 14)


# What the join decodes: the path to the fields holding offsets (a struct's fields, or a
# list's elements' fields). Structs and lists off the path stay undecoded bytes (`Raw`):
# a footer has a column chunk per column and row group (~250,000 at Genome-of-Europe
# scale), each with statistics and encoding lists the join copies as they are.
COLUMN_META_PATH: dict = {}
CHUNK_PATH = {CHUNK_META: COLUMN_META_PATH}
GROUP_PATH = {GROUP_COLUMNS: CHUNK_PATH}
FILE_PATH = {FILE_ROW_GROUPS: GROUP_PATH}


class Raw(bytes):
    """A struct or list's encoded bytes, copied as they were read."""


class ThriftReader:
    """Thrift compact protocol, decoded into nested lists along `path`: a struct is a list
    of [field id, type, value]; a list is [element type, values]; off the path, a struct
    or list is its `Raw` bytes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int, path: dict | None = None):
        if kind in (LIST, SET, STRUCT) and path is None:
            start = self.at
            self.value(kind, {})  # decoded only to find its end
            return Raw(self.data[start : self.at])
        if kind in (BOOL_TRUE, BOOL_FALSE):  # as a list element: one byte
            return self.byte() == 1
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            self.at += 8
            return self.data[self.at - 8 : self.at]
        if kind == BINARY:
            n = self.varint()
            self.at += n
            return self.data[self.at - n : self.at]
        if kind in (LIST, SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            return [element, [self.value(element, path) for _ in range(size)]]
        if kind == STRUCT:
            return self.struct(path)
        raise ValueError(f"Thrift type {kind} is not used by Parquet footers")

    def struct(self, path: dict) -> list:
        fields, last = [], 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            kind, delta = header & 0x0F, header >> 4
            field = last + delta if delta else self.zigzag()
            if kind in (BOOL_TRUE, BOOL_FALSE):  # a struct's bool is in its type
                fields.append([field, kind, kind == BOOL_TRUE])
            else:
                fields.append([field, kind, self.value(kind, path.get(field))])
            last = field


class ThriftWriter:
    """The inverse of ThriftReader, as Thrift's own compact writer lays bytes out."""

    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while n > 0x7F:
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7
        self.out.append(n)

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, kind: int, value) -> None:
        if isinstance(value, Raw):
            self.out += value
        elif kind in (BOOL_TRUE, BOOL_FALSE):
            self.out.append(1 if value else 2)
        elif kind == BYTE:
            self.out.append(value)
        elif kind in (I16, I32, I64):
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += value
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            element, values = value
            if len(values) < 15:
                self.out.append(len(values) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(values))
            for v in values:
                self.value(element, v)
        elif kind == STRUCT:
            self.struct(value)
        else:
            raise ValueError(f"Thrift type {kind} is not used by Parquet footers")

    def struct(self, fields: list) -> None:
        last = 0
        for field, kind, value in fields:
            if kind in (BOOL_TRUE, BOOL_FALSE):
                kind = BOOL_TRUE if value else BOOL_FALSE
            if 0 < field - last <= 15:
                self.out.append((field - last) << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(field)
            if kind not in (BOOL_TRUE, BOOL_FALSE):
                self.value(kind, value)
            last = field
        self.out.append(0)


def field(fields: list, number: int) -> list | None:
    return next((f for f in fields if f[0] == number), None)


def moved_row_group(group: list, shift: int, ordinal: int, path: str) -> list:
    """A row group's footer entry with every file offset moved by `shift` bytes."""
    for entry in group:
        if entry[0] == GROUP_COLUMNS:
            for chunk in entry[2][1]:
                moved_column_chunk(chunk, shift, path)
        elif entry[0] == GROUP_FILE_OFFSET:
            entry[2] += shift
        elif entry[0] == GROUP_ORDINAL:
            entry[2] = ordinal
    return group


def moved_column_chunk(chunk: list, shift: int, path: str) -> None:
    for entry in chunk:
        number = entry[0]
        if number in (CHUNK_FILE_PATH, CHUNK_CRYPTO, CHUNK_ENCRYPTED_META):
            # Column chunks in another file, or encrypted ones: not written by write_part.
            raise ValueError(f"{path}: external or encrypted column chunks cannot be joined")
        if number in (CHUNK_FILE_OFFSET, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX) and entry[2]:
            entry[2] += shift  # 0: not set (Arrow writes the deprecated file_offset as 0)
        elif number == CHUNK_META:
            for meta in entry[2]:
                if meta[0] in META_OFFSETS and meta[2]:
                    meta[2] += shift


def footer(source) -> tuple[int, list]:
    """A Parquet file's decoded footer and where it starts (its column chunks' bytes run
    from offset 4 to there)."""
    size = source.seek(0, 2)
    source.seek(0)
    head = source.read(4)
    source.seek(max(size - 8, 0))
    tail = source.read(8)
    if size < 12 or head != MAGIC or tail[4:] != MAGIC:
        raise ValueError(f"{source.name}: not a complete Parquet file; rerun the job that wrote it")
    (length,) = FOOTER_LENGTH.unpack(tail[:4])
    start = size - 8 - length
    if start < 4:
        raise ValueError(f"{source.name}: its Parquet footer length is wrong; the file is damaged")
    source.seek(start)
    return start, ThriftReader(source.read(length)).struct(FILE_PATH)


def join(parts: list[str], path: str) -> int:
    """Write the parts' row groups, in order, as one Parquet file at `path`; returns its
    row count. The parts must share a schema (the caller checks). Memory: one footer and
    16 MB at a time."""
    metadata: list | None = None
    groups: list = []
    rows = 0
    with open(path, "wb") as out:
        out.write(MAGIC)
        for part in parts:
            with open(part, "rb") as source:
                end, part_footer = footer(source)
                shift = out.tell() - 4  # the part's bytes began at offset 4 in its own file
                for group in field(part_footer, FILE_ROW_GROUPS)[2][1]:
                    groups.append(moved_row_group(group, shift, len(groups), part))
                rows += field(part_footer, FILE_NUM_ROWS)[2]
                copy_range(source, out, 4, end - 4)
            if metadata is None:
                metadata = part_footer
        field(metadata, FILE_NUM_ROWS)[2] = rows
        field(metadata, FILE_ROW_GROUPS)[2][1] = groups
        writer = ThriftWriter()
        writer.struct(metadata)
        out.write(writer.out)
        out.write(FOOTER_LENGTH.pack(len(writer.out)))
        out.write(MAGIC)
    return rows
