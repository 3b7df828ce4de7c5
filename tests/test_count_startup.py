"""The count-chunk job starts without pandas (or anything else it does not use).

The workflow runs `europanel count-chunk` once per cohort x chunk (~18,000 jobs at
Genome-of-Europe scale); importing pandas cost ~0.2 s of each job's ~2 s. The job reads
its samples as `europanel.io.sheets.Rows`, and moves arrays between numpy and Arrow
through their buffers (pyarrow imports pandas the first time it converts Python or
numpy values). These tests run the job in a fresh interpreter and look at sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pysam
import pytest

from europanel.stages.count import from_arrow, large_strings, to_arrow

DATA = Path(__file__).parent / "data" / "real_world"
# Big imports the count-chunk job has no use for (the empty-chunk path still writes its
# table through pandas: see test_a_chunk_without_records_still_works).
NOT_NEEDED = ("pandas", "scipy", "matplotlib", "jsonschema", "yaml", "snakemake", "cyvcf2")
SETTINGS = {
    "block_size": 1,
    "chunk_size": 1000,
    "genotype_qc": {"min_dp": None, "min_dp_haploid": None, "min_gq": None, "min_het_ab": None},
    "normalise": {"realign_window": 100, "ref_mismatch": "error"},
    "reference": {"build": "GRCh38", "par": str(DATA / "par.bed")},
    "site_annotations": {"histograms": True},
}


def run_python(code: str, cwd: Path | None = None) -> list[str]:
    """Run `code` in a fresh interpreter; return the NOT_NEEDED modules it imported."""
    seen = f"[m for m in {NOT_NEEDED!r} if m in sys.modules]"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({seen}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_count_chunk_import_chain_has_no_pandas():
    code = (
        "import europanel.cli, europanel.commands.cohort, europanel.stages.count_chunk, "
        "europanel.stages.count, europanel.stages.normalise, europanel.io.bcf"
    )
    assert run_python(code) == []


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The real-world fixtures bgzipped and indexed, the FASTA indexed, a sample sheet."""
    folder = tmp_path_factory.mktemp("count_startup")
    for name in ("reference_only.vcf", "variants.vcf"):
        pysam.tabix_compress(str(DATA / name), str(folder / f"{name}.gz"))
        pysam.tabix_index(str(folder / f"{name}.gz"), preset="vcf")
    (folder / "reference.fa").write_bytes((DATA / "reference.fa").read_bytes())
    pysam.faidx(str(folder / "reference.fa"))
    rows = ["S1\tA\tP1\tXX", "S2\tA\tP1\tXY", "S3\tA\tP2\tNA", "S4\tA\tP2\tXY", "T1\tB\tP1\tXX"]
    (folder / "samples.tsv").write_text("sample\tcohort\tpopulation\tsex\n" + "\n".join(rows))
    return folder


def count_chunk(vcf: str, chunk: str, name: str) -> str:
    """`count-chunk` run through europanel.cli.main in the probe's interpreter."""
    argv = [
        "count-chunk", "--cohort", "A", "--samples", "samples.tsv",
        "--settings", json.dumps(SETTINGS), "--vcf", vcf, "--chunk", chunk,
        "--fasta", "reference.fa", "--output", f"{name}.parquet",
        "--stats", f"{name}.json", "--normalise-stats", f"{name}.normalise.json",
    ]  # fmt: skip
    return f"from europanel.cli import main\nassert main({argv!r}) == 0"


@pytest.mark.parametrize("vcf", ["variants.vcf.gz", "reference_only.vcf.gz"])
def test_a_count_chunk_job_never_imports_pandas(inputs, vcf):
    """The whole job (sheet, normalise, count, Parquet and JSON): ALT `.` records too."""
    assert run_python(count_chunk(vcf, "chr1-00000", vcf), cwd=inputs) == []
    table = pq.read_table(inputs / f"{vcf}.parquet")
    assert table.num_rows == 2
    assert table.schema.field("chrom").type == pa.large_string()
    if vcf.startswith("reference_only"):
        assert table["alt"].to_pylist() == [".", "."]
        assert table["AN_raw_A"].to_pylist() == [8, 6]


def test_a_chunk_without_records_still_works(inputs):
    """No record on chrY: the empty table, typed as a full one, is still written by
    pandas (its Parquet bytes are unchanged); the rare job that needs it imports it."""
    assert run_python(count_chunk("variants.vcf.gz", "chrY-00000", "empty"), cwd=inputs) == [
        "pandas"
    ]
    assert pq.read_table(inputs / "empty.parquet").num_rows == 0


def test_cohort_sheet_writes_what_pandas_wrote_without_pandas(tmp_path):
    """cohort-sheet's TSV has the bytes of `DataFrame.to_csv(sep="\\t", index=False)`,
    quoting included, and the job never imports pandas."""
    from europanel.io.sheets import Rows

    rows = Rows(
        ["sample", "cohort", "population", "sex"],
        [
            ["S1", "A", "P1", "XX"],
            ['quote"d', "A", "P 2", ""],
            ["comma,semi;colon", "A", "Pé", "NA"],
            ["'single'", "A", "P1", "XY"],
        ],
    )
    rows.write_tsv(str(tmp_path / "ours.tsv"))
    rows.frame().to_csv(tmp_path / "pandas.tsv", sep="\t", index=False)
    assert (tmp_path / "ours.tsv").read_bytes() == (tmp_path / "pandas.tsv").read_bytes()

    sheet = "sample\tcohort\tpopulation\tsex\nS1\tA\tP1\tXX\nT1\tB\tP1\tXY\n"
    (tmp_path / "samples.tsv").write_text(sheet)
    argv = ["cohort-sheet", "--cohort", "A", "--samples", "samples.tsv", "--output", "A.tsv"]
    code = f"from europanel.cli import main\nassert main({argv!r}) == 0"
    assert run_python(code, cwd=tmp_path) == []
    assert (tmp_path / "A.tsv").read_text() == "sample\tcohort\tpopulation\tsex\nS1\tA\tP1\tXX\n"


def test_arrow_buffers_equal_pyarrow_conversions():
    """to_arrow / from_arrow / large_strings give what pa.array / to_numpy would."""
    rng = np.random.default_rng(1)
    for values in (
        rng.integers(-5, 5, 37).astype(np.int32),
        rng.integers(0, 2**40, 37),
        rng.random(37) < 0.5,
        np.zeros(0, np.int64),
        np.zeros(0, bool),
    ):
        assert to_arrow(values).equals(pa.array(values))
        for start in (0, 3):  # arrays with an offset (slices)
            part = pa.array(values)[start:]
            assert from_arrow(part).dtype == part.to_numpy(zero_copy_only=False).dtype
            assert (from_arrow(part) == part.to_numpy(zero_copy_only=False)).all()
    strings = ["chr1", "", "chrÜ", "chrX"]
    assert large_strings(strings).equals(pa.array(strings, type=pa.large_string()))
    assert large_strings([]).equals(pa.array([], type=pa.large_string()))
    lengths = pc.utf8_length(pa.array(strings, type=pa.large_string()))
    assert from_arrow(lengths).tolist() == [4, 0, 4, 4]
    with pytest.raises(ValueError, match="null"):
        from_arrow(pa.array([1, None]))
