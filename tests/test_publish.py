"""Parallel publish: per-chunk pieces joined without recompression equal one serial write."""

from __future__ import annotations

import gzip

import pandas as pd
import pyarrow as pa
import pysam
import pysam.bcftools
import pytest

from europanel.io.bgzf import EOF as BGZF_EOF
from europanel.stages.publish import join_panel, write_part

HEADER = {"reference": "ref.fa", "build": "GRCh38", "extra": [("europanel_config_sha256", "0")]}
CONTIGS = {"chr1": 1000, "chr2": 1000}


def chunk(contig: str, positions: list[int], with_ac_nl: bool = True) -> pd.DataFrame:
    n = len(positions)
    table = {
        "CHROM": [contig] * n,
        "POS": positions,
        "REF": ["A"] * n,
        "ALT": ["G"] * n,
        "FILTER": ["PASS"] * n,
        "AC": list(range(1, n + 1)),
        "AN": [100] * n,
        "AF": [(i + 1) / 100 for i in range(n)],
    }
    if with_ac_nl:
        table["AC_NL"] = pd.array([None if i % 2 else i for i in range(n)], dtype="Int64")
    return pd.DataFrame(table)


def arrow(records: pd.DataFrame) -> pa.Table:
    """The merged records as the merge job hands them to write_part."""
    return pa.Table.from_pandas(records, preserve_index=False)


def publish(tmp_path, chunks: list[pd.DataFrame]):
    vcf_parts, parquet_parts = [], []
    for i, records in enumerate(chunks):
        vcf_parts.append(str(tmp_path / f"part{i}.vcf.gz"))
        parquet_parts.append(str(tmp_path / f"part{i}.parquet"))
        write_part(arrow(records), vcf_parts[-1], parquet_parts[-1])
    vcf, parquet = tmp_path / "panel.vcf.gz", tmp_path / "panel.parquet"
    n = join_panel(vcf_parts, parquet_parts, str(vcf), str(parquet), CONTIGS, HEADER, ["NL"])
    return n, vcf, parquet


def test_a_part_written_in_slices_has_the_bytes_of_one_write(tmp_path, monkeypatch):
    from europanel.stages import publish as stage

    records = arrow(chunk("chr1", list(range(1, 60_000, 3))))  # ~1 MB of text: many blocks
    parts = {}
    for rows in (333, 100_000):
        monkeypatch.setattr(stage, "VCF_SLICE_ROWS", rows)
        vcf, parquet = tmp_path / f"{rows}.vcf.gz", tmp_path / f"{rows}.parquet"
        stage.write_part(records, str(vcf), str(parquet))
        parts[rows] = vcf.read_bytes()
    assert parts[333] == parts[100_000]


def test_joined_pieces_are_one_valid_indexed_bgzf_vcf(tmp_path):
    chunks = [chunk("chr1", [10, 20, 30]), chunk("chr1", []), chunk("chr2", [5, 900])]
    n, vcf, parquet = publish(tmp_path, chunks)
    assert n == 5
    data = vcf.read_bytes()
    assert data.endswith(BGZF_EOF) and data.count(BGZF_EOF) == 1  # one EOF block, at the end
    with gzip.open(vcf, "rt") as text:
        lines = text.read().splitlines()
    records = [line for line in lines if not line.startswith("#")]
    assert [r.split("\t")[1] for r in records] == ["10", "20", "30", "5", "900"]
    assert records[0].endswith("AC=1;AN=100;AF=0.01;AC_NL=0")
    assert records[1].endswith("AC=2;AN=100;AF=0.02")  # a missing value leaves its key out
    with pysam.VariantFile(str(vcf)) as panel:  # the index answers region queries
        assert [r.pos for r in panel.fetch("chr2")] == [5, 900]
        assert [r.pos for r in panel.fetch("chr1", 15, 30)] == [20, 30]
    table = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True),
        pd.concat(chunks, ignore_index=True).astype(table.dtypes.to_dict()),
    )


def test_pieces_with_other_columns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="columns differ"):
        publish(tmp_path, [chunk("chr1", [10]), chunk("chr2", [5], with_ac_nl=False)])


def test_a_piece_without_its_end_of_file_block_is_refused(tmp_path):
    part, parquet_part = tmp_path / "part.vcf.gz", tmp_path / "part.parquet"
    write_part(arrow(chunk("chr1", [10])), str(part), str(parquet_part))
    part.write_bytes(part.read_bytes()[:-10])  # cut short, as a copy interrupted mid-way
    with pytest.raises(ValueError, match="incomplete"):
        join_panel(
            [str(part)],
            [str(parquet_part)],
            str(tmp_path / "p.vcf.gz"),
            str(tmp_path / "p.pq"),
            CONTIGS,
            HEADER,
            ["NL"],
        )


# --- VCF text: the column-wise writer against the naive per-value one ----------------


def naive_format_value(value, kind: str) -> str | None:
    """One INFO value as VCF text, the obvious way (None: missing, key left out)."""
    if kind == "Flag":
        return "" if value is True or value == 1 else None
    if kind == "String" and hasattr(value, "__len__") and not isinstance(value, str):
        return "|".join(str(int(v)) for v in value)  # a histogram, gnomAD's pipe-separated
    if value is None or pd.isna(value):
        return None
    if kind == "Float":
        return f"{value:.6g}"
    if kind == "Integer":
        return str(int(value))
    return str(value)


def naive_vcf_text(records: pd.DataFrame, definitions: dict) -> str:
    """The naive twin of panel_format.vcf_text: record by record, value by value."""
    lines = []
    for row in range(len(records)):
        info = []
        for field, (_, kind, _) in definitions.items():
            text = naive_format_value(records[field].iloc[row], kind)
            if text == "":
                info.append(field)
            elif text is not None:
                info.append(f"{field}={text}")
        site = [str(records[c].iloc[row]) for c in ("CHROM", "POS")]
        ref, alt, status = (str(records[c].iloc[row]) for c in ("REF", "ALT", "FILTER"))
        lines.append("\t".join([*site, ".", ref, alt, ".", status, ";".join(info) or "."]))
    return "".join(f"{line}\n" for line in lines)


def typed(records: pd.DataFrame):
    """The records as write_part types them: the panel's definitions and Arrow schema."""
    import pyarrow as pa

    from europanel.io.panel_format import arrow_schema, cast_to_schema, info_definitions

    table = pa.Table.from_pandas(records, preserve_index=False)
    definitions = info_definitions(table.schema.names, cohorts=[])
    return cast_to_schema(table, arrow_schema(table.schema.names, definitions)), definitions


FLOATS = [
    0.0,
    1.0,
    0.5,
    1 / 3,
    2 / 3,
    1e-5,
    1.23456789e-7,
    0.999999,
    0.9999995,
    123456.7,
    float("nan"),
    None,
    5e-324,
    1e300,
    float("inf"),
]


def test_vcf_text_equals_the_naive_writer_on_every_kind_of_value():
    from europanel.io.panel_format import vcf_text

    n = len(FLOATS)
    records = pd.DataFrame(
        {
            "CHROM": ["chr1"] * n,
            "POS": range(1, n + 1),
            "REF": ["A"] * n,
            "ALT": ["G"] * (n - 1) + ["GTT"],
            "FILTER": ["PASS", "AC0", "InbreedingCoeff;AC0"] + ["PASS"] * (n - 3),
            "AC": pd.array([i if i % 3 else None for i in range(n)], dtype="Int64"),
            "AF": FLOATS,
            "AC_NL": pd.array([None] * n, dtype="Int64"),  # every value missing
            "inbreeding_coeff": FLOATS[::-1],
            "country_het": [True, False, None] * (n // 3),
            "gq_hist_all_raw_bin_freq": [[i, 0, 2**40] if i % 4 else None for i in range(n)],
            "VRS_Allele_ID": [f"ga4gh:VA.{i}" if i % 5 else None for i in range(n)],
        }
    )
    table, definitions = typed(records)
    assert {"AC", "AF", "country_het", "gq_hist_all_raw_bin_freq"} <= set(definitions)
    expected = naive_vcf_text(table.to_pandas(), definitions).encode()
    assert vcf_text(table, definitions) == expected
    # A slice of the table (Arrow offsets not starting at 0) gives its own lines.
    assert vcf_text(table.slice(4, 5), definitions) == b"".join(
        line + b"\n" for line in expected.split(b"\n")[4:9]
    )
    # No INFO value at all: `.`; no record: no text.
    bare = records[["CHROM", "POS", "REF", "ALT", "FILTER", "AC_NL"]]
    table, definitions = typed(bare)
    assert vcf_text(table, definitions).split(b"\n")[0].endswith(b"\tPASS\t.")
    assert vcf_text(table.slice(0, 0), definitions) == b""


@pytest.mark.e2e
def test_vcf_text_equals_the_naive_writer_on_the_demo_chunks(demo_run):
    """Every chunk's piece of the demo panel (every INFO field the panel publishes)."""
    import pyarrow.parquet as pq

    from europanel.io.panel_format import arrow_schema, cast_to_schema, info_definitions, vcf_text

    chunks = sorted((demo_run / "results" / "panel_parts").glob("*.parquet"))
    assert chunks
    for path in chunks:
        table = pq.read_table(path)
        definitions = info_definitions(table.schema.names, cohorts=[])
        table = cast_to_schema(table, arrow_schema(table.schema.names, definitions))
        expected = naive_vcf_text(table.to_pandas(), definitions).encode()
        assert vcf_text(table, definitions) == expected, path


def test_lines_bytes_takes_any_slice_of_either_string_type():
    import pyarrow as pa

    from europanel.io.panel_format import lines_bytes

    lines = ["chr1\t1\t.", "chr1\t22\tx;y", "", "chr2\t333\t."]
    for kind in (pa.string(), pa.large_string()):
        array = pa.array(lines, kind)
        assert lines_bytes(array) == "".join(f"{line}\n" for line in lines).encode()
        assert lines_bytes(array.slice(1, 2)) == b"chr1\t22\tx;y\n\n"
        assert lines_bytes(pa.chunked_array([array[:1], array[1:]])) == lines_bytes(array)
        assert lines_bytes(array.slice(0, 0)) == b""


# --- the panel's index, joined from the pieces' indexes ------------------------------


def records_at(vcf: str, regions) -> list[list[tuple[str, int, int]]]:
    """Per region, the (contig, start, stop) of the records an index finds overlapping it."""
    with pysam.VariantFile(vcf) as panel:
        return [[(r.chrom, r.start, r.stop) for r in panel.fetch(*region)] for region in regions]


def test_the_joined_index_finds_what_htslib_s_own_index_finds(tmp_path):
    """Pieces with records across 16 kb windows and bins, deletions that reach into the
    next windows and the next piece, an empty piece and enough text for many BGZF blocks
    per piece; every region query answers as with an index htslib builds on the panel."""
    import random

    rng = random.Random(12)
    contigs = {"chr1": 200_000, "chr2": 200_000}
    pieces = []
    for contig, begin, end in [
        ("chr1", 1, 60_000),
        ("chr1", 60_001, 60_100),  # no record falls here: an empty piece
        ("chr1", 60_101, 150_000),
        ("chr2", 1, 100_000),
        ("chr2", 100_001, 200_000),
    ]:
        positions = sorted(rng.sample(range(begin, end), 400 if end - begin > 200 else 0))
        refs = ["A" * (1 if rng.random() < 0.95 else rng.randint(2, 40_000)) for _ in positions]
        n = len(positions)
        pieces.append(
            pd.DataFrame(
                {
                    "CHROM": [contig] * n,
                    "POS": positions,
                    "REF": refs,
                    "ALT": ["G"] * n,
                    "FILTER": ["PASS"] * n,
                    "AC": [rng.randint(1, 9) for _ in range(n)],
                    "AN": [100] * n,
                    "AF": [rng.random() for _ in range(n)],
                }
            )
        )
    vcf_parts, parquet_parts = [], []
    for i, records in enumerate(pieces):
        vcf_parts.append(str(tmp_path / f"part{i}.vcf.gz"))
        parquet_parts.append(str(tmp_path / f"part{i}.parquet"))
        write_part(arrow(records), vcf_parts[-1], parquet_parts[-1])
    vcf = tmp_path / "panel.vcf.gz"
    join_panel(vcf_parts, parquet_parts, str(vcf), str(tmp_path / "p.parquet"), contigs, HEADER, [])
    own = tmp_path / "htslib.vcf.gz"
    own.write_bytes(vcf.read_bytes())
    pysam.tabix_index(str(own), preset="vcf", force=True)
    regions = [(c,) for c in contigs] + [
        (c, b, b + length)
        for c in contigs
        for b in range(0, 200_000, 7_919)
        for length in (1, 500, 16_384, 70_000)
    ]
    joined = records_at(str(vcf), regions)
    assert joined == records_at(str(own), regions)
    assert sum(map(len, joined[:2])) == sum(map(len, pieces))
    # The per-contig record counts (htslib's pseudo-bin), as `bcftools index -s` reads them.
    assert pysam.bcftools.index("-s", str(vcf)) == pysam.bcftools.index("-s", str(own))


@pytest.mark.e2e
def test_the_demo_panel_index_finds_what_htslib_s_own_index_finds(demo_run, tmp_path):
    (vcf,) = (demo_run / "results" / "panel").glob("*.sites.vcf.gz")
    own = tmp_path / "htslib.vcf.gz"
    own.write_bytes(vcf.read_bytes())
    pysam.tabix_index(str(own), preset="vcf", force=True)
    with pysam.VariantFile(str(own)) as panel:
        lengths = {name: panel.header.contigs[name].length for name in panel.index}
    regions = [(c,) for c in lengths] + [
        (c, b, b + length)
        for c, contig_length in lengths.items()
        for b in range(0, contig_length, max(1, contig_length // 300))
        for length in (1, 2_000, 100_000)
    ]
    joined = records_at(str(vcf), regions)
    assert joined == records_at(str(own), regions)
    import pyarrow.parquet as pq

    (parquet,) = (demo_run / "results" / "panel").glob("*.sites.parquet")
    assert sum(map(len, joined[: len(lengths)])) == pq.ParquetFile(parquet).metadata.num_rows
    assert pysam.bcftools.index("-s", str(vcf)) == pysam.bcftools.index("-s", str(own))
