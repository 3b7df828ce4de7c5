"""Joining Parquet files by their bytes: the joined file is the one Arrow writes when it
decodes the parts and encodes them again (byte for byte), and reads back as their rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from europanel.io.parquet_join import FILE_PATH, ThriftReader, ThriftWriter, join

HISTOGRAM = pa.list_(pa.field("element", pa.int64()))


def panel_like(start: int, rows: int) -> pa.Table:
    """Columns of every kind the panel has: strings (dictionary-encoded), integers and
    floats with missing values, histograms, flags."""
    index = range(start, start + rows)
    return pa.table(
        {
            "CHROM": pa.array([f"chr{1 + i // 1000}" for i in index], pa.string()),
            "POS": pa.array([1 + 7 * i for i in index], pa.int64()),
            "ALT": pa.array(["A" * (1 + i % 5) for i in index], pa.string()),
            "AC": pa.array([None if i % 3 == 0 else i for i in index], pa.int64()),
            "AF": pa.array([None if i % 4 == 0 else i / 977 for i in index], pa.float64()),
            "hist": pa.array([None if i % 5 == 0 else [i, 0, 2**40] for i in index], HISTOGRAM),
            "flag": pa.array([i % 2 == 0 for i in index], pa.bool_()),
            "ID": pa.array([None if i % 6 else f"ga4gh:VA.{i}" for i in index], pa.string()),
        }
    )


def write_parts(tmp_path, sizes: list[int], row_group_size: int = 1 << 20, **options):
    parts, start = [], 0
    for i, rows in enumerate(sizes):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(panel_like(start, rows), path, row_group_size=row_group_size, **options)
        parts.append(str(path))
        start += rows
    return parts


def reencoded(parts: list[str], path) -> bytes:
    """What Arrow writes when it decodes each part's row groups and encodes them again."""
    with pq.ParquetWriter(path, pq.read_schema(parts[0])) as writer:
        for part in parts:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group))
    return path.read_bytes()


@pytest.mark.parametrize(
    "sizes, row_group_size",
    [
        ([1000, 2500, 1], 1 << 20),  # one row group per part
        ([1000, 0, 2500], 1 << 20),  # a part with no rows (an empty chunk)
        ([3000, 1700], 1000),  # several row groups per part
        ([5], 1 << 20),  # a single part
    ],
)
def test_joined_bytes_are_those_arrow_writes(tmp_path, sizes, row_group_size):
    parts = write_parts(tmp_path, sizes, row_group_size)
    joined = tmp_path / "joined.parquet"
    assert join(parts, str(joined)) == sum(sizes)
    assert joined.read_bytes() == reencoded(parts, tmp_path / "arrow.parquet")
    table = pq.read_table(joined)
    assert table.equals(pa.concat_tables(pq.read_table(p) for p in parts))
    assert table.schema.field("hist").type == HISTOGRAM
    metadata = pq.ParquetFile(joined).metadata
    assert metadata.num_rows == sum(sizes)
    # The statistics stay those of each row group (readers prune row groups with them).
    first = pq.ParquetFile(parts[0]).metadata.row_group(0).column(1).statistics
    assert metadata.row_group(0).column(1).statistics.equals(first)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=5), st.integers(50, 500))
def test_any_parts_join_as_arrow_writes_them(tmp_path_factory, sizes, row_group_size):
    tmp_path = tmp_path_factory.mktemp("join")
    parts = write_parts(tmp_path, sizes, row_group_size)
    joined = tmp_path / "joined.parquet"
    assert join(parts, str(joined)) == sum(sizes)
    assert joined.read_bytes() == reencoded(parts, tmp_path / "arrow.parquet")


def test_parts_with_page_indexes_read_back(tmp_path):
    """Page indexes sit between a part's row groups and its footer; their offsets move
    with the part's bytes (the layout differs from Arrow's, the rows do not)."""
    parts = write_parts(tmp_path, [800, 900], 300, write_page_index=True)
    joined = tmp_path / "joined.parquet"
    join(parts, str(joined))
    metadata = pq.ParquetFile(joined).metadata
    assert metadata.row_group(3).column(0).has_column_index
    assert pq.read_table(joined).equals(pa.concat_tables(pq.read_table(p) for p in parts))
    # Filters go through the statistics of every row group of the second part.
    rows = pq.read_table(joined, filters=[("POS", ">=", 1 + 7 * 1000)])
    assert rows["POS"].to_pylist() == [1 + 7 * i for i in range(1000, 1700)]


def test_footers_decode_and_encode_to_their_own_bytes(tmp_path):
    for options in ({}, {"write_page_index": True}, {"compression": "zstd"}):
        (part,) = write_parts(tmp_path, [1234], 500, **options)
        data = open(part, "rb").read()
        length = int.from_bytes(data[-8:-4], "little")
        writer = ThriftWriter()
        writer.struct(ThriftReader(data[-8 - length : -8]).struct(FILE_PATH))
        assert bytes(writer.out) == data[-8 - length : -8]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-10], "not a complete Parquet file"),  # a copy cut short
        (lambda data: b"PAR1" + b"\0" * 20 + (10**6).to_bytes(4, "little") + b"PAR1", "wrong"),
        (lambda data: b"not parquet at all", "not a complete Parquet file"),
    ],
)
def test_a_damaged_part_is_refused_with_its_name(tmp_path, damage, message):
    parts = write_parts(tmp_path, [10, 10])
    with open(parts[1], "rb") as source:
        data = source.read()
    with open(parts[1], "wb") as out:
        out.write(damage(data))
    with pytest.raises(ValueError, match=message) as error:
        join(parts, str(tmp_path / "joined.parquet"))
    assert "part1.parquet" in str(error.value)
