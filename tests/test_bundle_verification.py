"""Bundle checksums are hashed once per run (verify-bundles); merge jobs trust that record."""

from __future__ import annotations

import json

import pytest

from europanel.cli import main
from europanel.commands.common import open_bundles
from europanel.io.sheets import InputError
from europanel.stages.bundle import BUNDLE_FORMAT, sha256


def make_bundle(folder, cohort: str) -> str:
    (folder / "counts").mkdir(parents=True)
    counts = folder / "counts/chr1.parquet"
    counts.write_bytes(b"counts of " + cohort.encode())
    manifest = {
        "format": BUNDLE_FORMAT,
        "cohort": cohort,
        "counts": {"chr1": {"file": "counts/chr1.parquet", "sha256": sha256(counts)}},
        "reference_build": "GRCh38",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder)


def test_merge_jobs_trust_the_run_s_verification_record(tmp_path):
    bundles = [make_bundle(tmp_path / c, c) for c in ("A", "B")]
    record = tmp_path / "bundles.verified.json"
    assert main(["verify-bundles", "--bundles", *bundles, "--output", str(record)]) == 0
    assert set(json.loads(record.read_text())) == set(bundles)
    # A counts file damaged after verification is not re-hashed by the merge jobs...
    with open(tmp_path / "B/counts/chr1.parquet", "ab") as counts:
        counts.write(b"\0")
    assert [b.cohort for b in open_bundles(bundles, verified=str(record))] == ["A", "B"]
    # ...but snakemake reruns verify-bundles (its input changed), which refuses it.
    with pytest.raises(InputError, match="checksum differs from manifest.json"):
        open_bundles(bundles)


def test_a_manifest_changed_since_verification_is_refused(tmp_path):
    bundles = [make_bundle(tmp_path / c, c) for c in ("A", "B")]
    record = tmp_path / "bundles.verified.json"
    assert main(["verify-bundles", "--bundles", *bundles, "--output", str(record)]) == 0
    manifest = json.loads((tmp_path / "A/manifest.json").read_text())
    manifest["counts"]["chr1"]["sha256"] = "0" * 64
    (tmp_path / "A/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="changed since the bundles were verified"):
        open_bundles(bundles, verified=str(record))


def test_a_merge_job_reads_only_the_row_groups_of_its_chunk(tmp_path):
    """Bundle counts are written in row groups in genome order, so the POS filter of a merge
    job (Bundle.counts) skips the rest of the contig."""
    import pandas as pd
    import pyarrow.parquet as pq

    from europanel.stages.bundle import COUNTS_ROW_GROUP, Bundle

    n = 3 * COUNTS_ROW_GROUP
    table = pd.DataFrame({"pos": range(1, n + 1), "ref": "A", "alt": "C", "filtered": False})
    folder = tmp_path / "bundle"
    (folder / "counts").mkdir(parents=True)
    table.to_parquet(folder / "counts/chr1.parquet", index=False, row_group_size=COUNTS_ROW_GROUP)
    assert pq.ParquetFile(folder / "counts/chr1.parquet").metadata.num_row_groups == 3
    manifest = {"counts": {"chr1": {"file": "counts/chr1.parquet"}}}
    rows = Bundle(folder, manifest).counts("chr1", 100, 200)
    assert rows["pos"].tolist() == list(range(100, 201))
