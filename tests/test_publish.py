"""Parallel publish: per-chunk pieces joined without recompression equal one serial write."""

from __future__ import annotations

import gzip

import pandas as pd
import pysam
import pytest

from europanel.io.panel_format import BGZF_EOF
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


def publish(tmp_path, chunks: list[pd.DataFrame]):
    vcf_parts, parquet_parts = [], []
    for i, records in enumerate(chunks):
        table = tmp_path / f"merged{i}.parquet"
        records.to_parquet(table, index=False)
        vcf_parts.append(str(tmp_path / f"part{i}.vcf.gz"))
        parquet_parts.append(str(tmp_path / f"part{i}.parquet"))
        write_part(str(table), vcf_parts[-1], parquet_parts[-1])
    vcf, parquet = tmp_path / "panel.vcf.gz", tmp_path / "panel.parquet"
    n = join_panel(vcf_parts, parquet_parts, str(vcf), str(parquet), CONTIGS, HEADER, ["NL"])
    return n, vcf, parquet


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
    records = tmp_path / "merged.parquet"
    chunk("chr1", [10]).to_parquet(records, index=False)
    part, parquet_part = tmp_path / "part.vcf.gz", tmp_path / "part.parquet"
    write_part(str(records), str(part), str(parquet_part))
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
