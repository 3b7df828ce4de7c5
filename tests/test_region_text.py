"""io/region_text.py hands htslib the records `bcftools -r` selects, and the count job's
annotate step gives the same BCF either way; files it cannot read exactly go to htslib."""

from __future__ import annotations

import io
import random
import subprocess
import sys

import pysam
import pytest
from pysam import bcftools

from conftest import bgzipped_vcf
from europanel.io.region_text import NEEDS_HTSLIB, write_region
from europanel.stages import normalise

SAMPLES = ["S1", "S2", "S3"]
HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=3000000>\n##contig=<ID=chr2,length=70000000>\n"
    "##contig=<ID=chrX,length=400000>\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
    '##INFO=<ID=END,Number=1,Type=Integer,Description="end">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES) + "\n"
)


def write_vcf(folder, seed: int, writer: str, with_end: bool = False) -> str:
    """Three contigs, indels whose REF spans up to 70 kb (they reach into a region from
    before it), bgzipped by htslib or by io/bgzf.py (other block layouts), tabix-indexed;
    `with_end`: every 11th record has an INFO/END 300 bp on (htslib's span for it)."""
    rng = random.Random(seed)
    lines = []
    for contig, count, span in (("chr1", 2000, 2_000_000), ("chr2", 40, 60_000_000)):
        for pos in sorted(rng.sample(range(1, span), count)):
            ref = "A" * (rng.choice([1, 1, 1, 2, 5000, 70_000]) if pos % 7 == 0 else 1)
            end = f";END={pos + 300}" if with_end and pos % 11 == 0 else ""
            info = f"DP={rng.randint(1, 99)}{end}"
            calls = "\t".join(f"{rng.choice('01')}/{rng.choice('01')}:7" for _ in SAMPLES)
            lines.append(f"{contig}\t{pos}\t.\t{ref}\tT\t.\tPASS\t{info}\tGT:DP\t{calls}\n")
    text = HEADER + "".join(lines)
    return bgzipped_vcf(folder, text, writer)


def htslib_records(path: str, contig: str, begin: int, end: int) -> list[str]:
    """What `bcftools view -r` selects (records only)."""
    text = bcftools.view("-H", "-r", f"{contig}:{begin}-{end}", path)
    return text.splitlines()


def regions(seed: int):
    rng = random.Random(seed)
    found = [("chr1", 1, 3_000_000), ("chr2", 1, 1), ("chrX", 1, 1000), ("chr1", 1, 1)]
    for _ in range(40):
        contig = rng.choice(["chr1", "chr2"])
        begin = rng.randrange(1, 2_000_000)
        found.append((contig, begin, begin + rng.choice([0, 100, 20_000, 500_000])))
    return found


@pytest.mark.parametrize("writer", ["htslib", "europanel"])
def test_the_records_of_bcftools_view_r(tmp_path, writer):
    path = write_vcf(tmp_path, 3, writer)
    for contig, begin, end in regions(5):
        out = io.BytesIO()
        write_region(path, contig, begin, end, out)
        text = out.getvalue().decode()
        assert text.startswith(HEADER)
        assert text[len(HEADER) :].splitlines() == htslib_records(path, contig, begin, end)


def test_a_record_with_end_before_the_region_is_left_to_htslib(tmp_path):
    path = write_vcf(tmp_path, 3, "htslib", with_end=True)
    run = subprocess.run(
        [sys.executable, "-m", "europanel.io.region_text", path, "chr1", "1000000", "1100000"],
        capture_output=True,
    )
    assert run.returncode == NEEDS_HTSLIB
    assert b"reading it with htslib" in run.stderr


def test_a_bcf_is_left_to_htslib(tmp_path):
    vcf = write_vcf(tmp_path, 3, "htslib")
    bcf = str(tmp_path / "in.bcf")
    bcftools.view("-Ob", "-o", bcf, vcf, catch_stdout=False)
    bcftools.index("-f", bcf, catch_stdout=False)
    # A .tbi beside it, as a user might leave one: the text check still refuses the BCF.
    pysam.tabix_index(vcf, preset="vcf", force=True, index=f"{bcf}.tbi")
    run = subprocess.run(
        [sys.executable, "-m", "europanel.io.region_text", bcf, "chr1", "1", "1000"],
        capture_output=True,
    )
    assert run.returncode == NEEDS_HTSLIB


@pytest.mark.parametrize("with_end", [False, True])
def test_the_count_jobs_annotate_step_gives_the_same_bcf(tmp_path, with_end):
    path = write_vcf(tmp_path, 9, "htslib", with_end=with_end)
    strip = ["-x", "INFO,^FORMAT/GT", "-Ou"]
    for k, (contig, begin, end) in enumerate(regions(11)[:12]):
        piped, queried = tmp_path / f"piped{k}.bcf", tmp_path / f"queried{k}.bcf"
        normalise.annotate_window(path, contig, begin, end, strip, piped)
        bcftools.annotate(
            "--no-version", "-r", f"{contig}:{begin}-{end}", *strip, "-o", str(queried), path,
            catch_stdout=False,
        )  # fmt: skip
        assert piped.read_bytes() == queried.read_bytes()


def test_a_file_bcftools_refuses_fails_as_before_without_hanging(tmp_path):
    # END undefined in the header: annotate stops part way through the pipe (the writer
    # must not wait on it), then htslib's region query reports the problem.
    path = write_vcf(tmp_path, 9, "htslib", with_end=True)
    text = pysam.BGZFile(path).read().decode().replace("##INFO=<ID=END", "##INFO=<ID=XEND")
    broken = tmp_path / "broken.vcf"
    broken.write_text(text)
    pysam.tabix_index(str(broken), preset="vcf", force=True)
    with pytest.raises(RuntimeError, match="bcftools"):
        normalise.annotate_window(
            f"{broken}.gz", "chr1", 1, 3_000_000, ["-x", "INFO", "-Ou"], tmp_path / "out.bcf"
        )
