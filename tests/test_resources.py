"""The resource models (europanel.resources) against numbers worked out by hand, their
inputs against an independent read of the demo VCFs, and the properties a scheduler
relies on: a retry asks for more, a larger input never asks for less."""

from __future__ import annotations

import gzip
from collections import Counter

import pysam
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO
from europanel import resources

DEMO = REPO / "resources" / "demo"
DEMO_CONTIGS = {"chr20", "chrX", "chrY"}


def test_floors_and_retries():
    # 10-minute floor; above it three times the estimate, rounded up; x attempt.
    assert resources.minutes(0, 1) == 10
    assert resources.minutes(201, 1) == 11  # 3 * 201 s = 10.05 min
    assert resources.minutes(600, 2) == 60
    # floor + bytes in MB, rounded up, x attempt.
    assert resources.megabytes(0, 1, floor=500) == 500
    assert resources.megabytes(1, 1, floor=500) == 501
    assert resources.megabytes(2_500_000, 3, floor=400) == 3 * 403


def test_count_mem_mb_by_hand():
    # The counter: base 300 MiB + 2,000 samples x block of 10,000 x 50 bytes (954 MiB,
    # rounded up) + 100,000 records x (200 + 40 x 9 groups) bytes = 56 MB; bcftools:
    # 1000 + 12 MB. The larger of the two.
    assert resources.count_mem_mb(2000, 2000, 10_000, 100_000, 9, 1) == 300 + 954 + 56
    assert resources.count_mem_mb(2000, 2000, 10_000, 100_000, 9, 2) == 2 * 1310
    # 100,000 input samples: bcftools' buffers (1000 + 600) outweigh a small block.
    assert resources.count_mem_mb(100_000, 100, 1_000, 1_000, 9, 1) == 1600


def test_count_runtime_by_hand():
    # Normalise: 1M records x 15 us + 1e9 genotypes x 1 us = 1015 s; count: 2.4M records
    # x 25 us + 2.4e9 genotypes x 0.1 us = 300 s; x 3 / 60 = 65.75 -> 66 min.
    assert resources.count_runtime(1_000_000, 2_400_000, 1000, 1000, 1) == 66


def test_merge_models_by_hand():
    # Two cohorts of (1,000 rows, 10 groups) and (3,000 rows, 20 groups), 30 panel groups:
    # per row 2 x count row + 80 x 30 + panel row (300 + 50 x 30 = 1,800 bytes).
    per_row = [2 * (200 + 40 * 10) + 2400 + 1800, 2 * (200 + 40 * 20) + 2400 + 1800]
    expected = -(-(500_000_000 + 1000 * per_row[0] + 3000 * per_row[1]) // 1_000_000)
    assert resources.merge_mem_mb([(1000, 10), (3000, 20)], 0, 30, 1) == expected
    assert resources.merge_mem_mb([], 0, 30, 1) == 500
    # The panel's piece: 4 x 1e5 records x (300 + 50 x 10) bytes = 320 MB over the floor.
    assert resources.merge_mem_mb([], 100_000, 10, 1) == 820
    # 1e6 sites x 3 cohorts x 23 groups x 1 us = 69 s, + 1e6 x (20 + 4 x 23) values x 1 us
    # = 112 s, + the piece's index 1e6 x 2 us = 2 s: 183 s x 3 = 9.15 min -> floor 10;
    # VRS adds 1e6 x 0.2 ms: 383 s -> 20 min.
    assert resources.merge_runtime(1_000_000, 3, 23, False, 1) == 10
    assert resources.merge_runtime(1_000_000, 3, 23, True, 1) == 20
    # Fewer than 10 groups cost as much as 10 in the join: 1e7 x 2 x 10 us = 200 s,
    # + 1e7 x 36 values = 360 s, + 20 s of index: 580 s -> 29 min.
    assert resources.merge_runtime(10_000_000, 2, 4, False, 1) == 29
    # 1e7 x 2 x 40 us = 800 s + 1e7 x 180 values = 1,800 s + 20 s: 2,620 s -> 131 min.
    assert resources.merge_runtime(10_000_000, 2, 40, False, 1) == 131


def test_publish_models_by_hand():
    # 300 chunks of 1.5 M records: 2 row groups each, x 60 columns x 2,500 bytes = 90 MB.
    assert resources.publish_mem_mb(300, 1_500_000, 10, 1) == 1090
    # Genome of Europe: 310 chunks of ~2 M records, 60 groups: 620 x 260 x 2,500 = 403 MB.
    assert resources.publish_mem_mb(310, 2_000_000, 60, 1) == 1403
    assert resources.publish_runtime(650_000_000, 1) == 10  # 65 s: the 10-minute floor


def test_span_records():
    assert resources.span_records(1000, 10_000, 1, 10_000) == 1000
    assert resources.span_records(1000, 10_000, 1, 2_500) == 250
    assert resources.span_records(1000, 10_000, 1, 2_501) == 251  # rounded up
    # The flank widens both sides, never beyond the contig.
    assert resources.span_records(1000, 10_000, 1001, 2000, flank=500) == 200
    assert resources.span_records(1000, 10_000, 1, 10_000, flank=500) == 1000
    assert resources.unknown_density_records(1_000_000) == 250_000


def vcf_records_by_contig(path):
    """Records per contig counted from the VCF text itself (not from the index)."""
    with gzip.open(path, "rt") as handle:
        return Counter(line.split("\t", 1)[0] for line in handle if not line.startswith("#"))


def test_index_records_match_the_vcf_text():
    for cohort in ("NL", "EE", "IT"):
        vcf = str(DEMO / f"{cohort}.vcf.gz")
        # EE writes `20`, `X`, `Y` (a demo trap): counted under the reference's names.
        expected = {
            (name if name.startswith("chr") else f"chr{name}"): n
            for name, n in vcf_records_by_contig(vcf).items()
        }
        assert resources.index_records(vcf, DEMO_CONTIGS) == expected
    # Contig names harmonised to the reference's (`chr20` in the input, `20` in the FASTA).
    counted = vcf_records_by_contig(DEMO / "NL.vcf.gz")
    assert resources.index_records(str(DEMO / "NL.vcf.gz"), {"20"}) == {"20": counted["chr20"]}


def test_index_records_without_statistics(tmp_path):
    plain = tmp_path / "plain.vcf"
    plain.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    assert resources.index_records(str(plain), DEMO_CONTIGS) is None


def test_header_samples(tmp_path):
    vcf = DEMO / "IT.vcf.gz"
    with pysam.VariantFile(str(vcf)) as handle:
        assert resources.header_samples(str(vcf)) == len(handle.header.samples) > 0
    assert resources.header_samples(str(tmp_path / "missing.vcf.gz")) is None


sizes = st.integers(min_value=0, max_value=10**9)
small = st.integers(min_value=1, max_value=500)


@given(sizes, sizes, st.integers(1, 100_000), st.integers(1, 100_000), small, small)
def test_more_input_never_asks_for_less(records_a, records_b, samples_a, samples_b, groups, block):
    low_records, high_records = sorted((records_a, records_b))
    low_samples, high_samples = sorted((samples_a, samples_b))
    pairs = [
        (
            resources.count_mem_mb(low_samples, low_samples, block, low_records, groups, 1),
            resources.count_mem_mb(high_samples, high_samples, block, high_records, groups, 1),
        ),
        (
            resources.count_runtime(low_records, low_records, low_samples, low_samples, 1),
            resources.count_runtime(high_records, high_records, high_samples, high_samples, 1),
        ),
        (
            resources.merge_mem_mb([(low_records, groups)], low_records, groups, 1),
            resources.merge_mem_mb([(high_records, groups)], high_records, groups, 1),
        ),
        (
            resources.publish_runtime(low_records, 1),
            resources.publish_runtime(high_records, 1),
        ),
        (
            resources.gdi_part_runtime(low_records, groups, 1),
            resources.gdi_part_runtime(high_records, groups, 1),
        ),
    ]
    assert all(low <= high for low, high in pairs), pairs


@given(sizes, small, st.integers(2, 4))
def test_a_retry_asks_for_attempt_times_as_much(records, groups, attempt):
    for model in (
        lambda a: resources.bundle_mem_mb(records, groups, a),
        lambda a: resources.report_cohorts_mem_mb(records, a),
        lambda a: resources.report_cohorts_runtime(records, 3, a),
        lambda a: resources.verify_bundles_runtime(records * 100, a),
        lambda a: resources.bundle_runtime(records * 10, records, a),
    ):
        assert model(attempt) == attempt * model(1)
