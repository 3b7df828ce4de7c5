"""The count stage's BCF reader (europanel.io.bcf + count.fill_block) against cyvcf2.

cyvcf2 (htslib) reads the same records one by one and `fill_format` (here)
puts them into a block: both blocks must agree value for value (a missing
value only has to be missing in both: the reader keeps htslib's narrower
sentinels, which are negative like INT32_MISSING). Checked on a hand-written
BCF with every storage case (int8/int16/int32 values, haploid and mixed-ploidy
GT, missing fields per record, FILTER, several contigs, tiny blocks that
straddle the reader's buffers) and on the demo cohorts, normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pysam import bcftools

from europanel.core.counting import HAPLOID_END, INT32_MISSING, INT32_VECTOR_END, Block
from europanel.io.bcf import BcfReader, header_dictionaries, read_header
from europanel.stages.count import fill_block

REPO = Path(__file__).resolve().parent.parent
FIELDS = ("alleles", "dp", "gq", "ad_ref", "ad_alt")

VCF = """\
##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality, with a comma, inside quotes">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Likelihoods">
##contig=<ID=chr20,length=100000>
##contig=<ID=chrX,length=100000>
##contig=<ID=chrY,length=100000>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
chr20\t100\trs1\tA\tG\t50\tPASS\tDP=9\tGT:AD:DP:GQ\t0/1:5,4:9:30\t1/1:0,12:12:40\t./.:.:.:.
chr20\t200\t.\tAT\tA\t.\tLowQual\t.\tGT:AD:DP:GQ\t0|1:300,200:500:99\t0/0:40000,0:40000:99\t1/.:3,3:6:5
chr20\t300\t.\tC\tT,G\t.\t.\t.\tGT:DP\t0/1:10\t0/0:20\t./1:3
chr20\t400\t.\tG\t<DEL>\t.\tPASS\t.\tGT:GQ:PL\t0/1:20:0,1,2\t0/0:30:0,3,4\t1/1:10:5,6,0
chrX\t500\t.\tT\tC\t.\tLowQual;PASS\t.\tGT:AD:DP:GQ\t1:0,8:8:60\t0/1:4,4:8:60\t0:7,0:7:70
chrX\t600\t.\tT\tCA\t.\tPASS\t.\tGT:AD:DP:GQ\t1\t0\t.
chrY\t700\t.\tA\tC\t.\tPASS\t.\tGT:AD\t1:0,130\t.:.\t0:5,0
chrY\t800\t.\tG\tT\t.\tPASS\t.\tAD:GQ\t1,2:3\t4,5:6\t.:.
"""


def is_symbolic(alt: str) -> bool:
    """Symbolic alleles and spanning deletions are not counted (DESIGN §4)."""
    return alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt


def fill_format(block: Block, row: int, variant, n_samples: int) -> None:
    """The oracle's twin of `count.fill_block`: one cyvcf2 record's GT, DP, GQ and AD
    into row `row` of the block."""
    gt = variant.format("GT", int)  # raw BCF encoding: (allele + 1) << 1 | phased
    if gt is not None:
        alleles = (gt[:, :2] >> 1) - 1
        alleles[gt[:, :2] == INT32_VECTOR_END] = HAPLOID_END
        block.alleles[row, :, 0] = alleles[:, 0]
        block.alleles[row, :, 1] = alleles[:, 1] if alleles.shape[1] == 2 else HAPLOID_END
    for name, target in (("DP", block.dp), ("GQ", block.gq)):
        values = variant.format(name)
        target[row] = values[:, 0] if values is not None else INT32_MISSING
    ad = variant.format("AD")
    if ad is not None and ad.shape[1] >= 2:
        block.ad_ref[row] = ad[:, 0]
        block.ad_alt[row] = ad[:, 1]
    else:
        block.ad_ref[row] = INT32_MISSING
        block.ad_alt[row] = INT32_MISSING


def cyvcf2_blocks(path: str):
    """Per record: (CHROM, POS, REF, first ALT, filtered, n ALT) and a one-row block."""
    from cyvcf2 import VCF as Reader

    reader = Reader(path)
    n = len(reader.samples)
    for variant in reader:
        block = Block.empty(1, n)
        fill_format(block, 0, variant, n)
        site = (
            variant.CHROM,
            variant.POS,
            variant.REF,
            variant.ALT[0] if variant.ALT else "",
            variant.FILTER is not None,
            len(variant.ALT),
        )
        yield site, block


def reader_blocks(path: str, block_size: int, region=None):
    reader = BcfReader(path)
    for records in reader.blocks(block_size, region):
        block = Block.empty(len(records), len(reader.samples))
        fill_block(block, records)
        for i in range(len(records)):
            site = (
                reader.contigs[int(records.chrom[i])],
                int(records.pos[i]),
                records.ref[i].as_py(),
                records.alt[i].as_py(),
                bool(records.filtered[i]),
                int(records.n_allele[i]) - 1,
            )
            yield site, block.rows(slice(i, i + 1))


def assert_same(path: str, block_size: int) -> int:
    expected = list(cyvcf2_blocks(path))
    actual = list(reader_blocks(path, block_size))
    assert len(actual) == len(expected)
    for (site, block), (want_site, want) in zip(actual, expected):
        assert site == want_site
        for name in FIELDS:
            mine, theirs = getattr(block, name), getattr(want, name)
            if name == "alleles":
                np.testing.assert_array_equal(mine, theirs, err_msg=f"{site} GT")
            else:  # negative is missing in both; values agree
                np.testing.assert_array_equal(
                    np.where(mine < 0, -1, mine),
                    np.where(theirs < 0, -1, theirs),
                    err_msg=f"{site} {name}",
                )
    return len(actual)


@pytest.fixture(scope="module")
def edge_bcf(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("bcf")
    vcf = folder / "edge.vcf"
    vcf.write_text(VCF)
    bcf = folder / "edge.bcf"
    bcftools.view("--no-version", "-Ob", "-o", str(bcf), str(vcf), catch_stdout=False)
    return str(bcf)


@pytest.mark.parametrize("block_size", [1, 2, 3, 100])
def test_reader_equals_cyvcf2_on_every_storage_case(edge_bcf, block_size):
    assert assert_same(edge_bcf, block_size) == 8


@pytest.mark.parametrize(
    "region",
    [
        ("chr20", 150, 350),
        ("chr20", 100, 100),
        ("chr20", 201, 299),
        ("chrX", 1, 100000),
        ("chrY", 800, 900),
        ("chr1", 1, 100000),  # no such contig in the header
    ],
)
@pytest.mark.parametrize("block_size", [1, 2, 100])
def test_reader_region_keeps_what_view_targets_keeps(edge_bcf, tmp_path, region, block_size):
    """blocks(n, region) reads as `bcftools view -t region`'s output reads: the same
    records, values and blocks (the count job leaves view -t to its reader)."""
    contig, first, last = region
    targeted = tmp_path / "targeted.bcf"
    bcftools.view(
        "--no-version", "-t", f"{contig}:{first}-{last}", "-Ob", "-o", str(targeted), edge_bcf,
        catch_stdout=False,
    )  # fmt: skip

    def sizes(path, region=None):
        return [len(b) for b in BcfReader(path).blocks(block_size, region)]

    assert sizes(edge_bcf, region) == sizes(str(targeted))
    expected = list(reader_blocks(str(targeted), block_size))
    actual = list(reader_blocks(edge_bcf, block_size, region))
    assert [site for site, _ in actual] == [site for site, _ in expected]
    for (site, block), (_, want) in zip(actual, expected):
        for name in FIELDS:
            np.testing.assert_array_equal(
                getattr(block, name), getattr(want, name), err_msg=f"{site} {name}"
            )


def test_header_dictionaries_match_htslib(edge_bcf):
    import pysam

    strings, contigs, samples = header_dictionaries(read_header(edge_bcf))
    with pysam.VariantFile(edge_bcf) as vcf:
        header = vcf.header
        assert samples == list(header.samples)
        for name in header.formats:
            assert strings[name] == header.formats[name].id
        for name in header.filters:
            assert strings[name] == header.filters[name].id
        for name in header.contigs:
            assert contigs[name] == header.contigs[name].id


def test_reader_equals_cyvcf2_on_the_demo(tmp_path):
    """The demo cohorts normalised as the workflow does (one chunk per contig: the
    workflow keeps no normalised BCF, it counts in the same pass)."""
    import pandas as pd

    from europanel.core.regions import Chunk, read_fai
    from europanel.stages.normalise import input_contigs, normalise_chunk

    fasta = str(REPO / "resources/demo/reference.fa")
    lengths = read_fai(fasta)
    samples = pd.read_csv(REPO / "config/samples.tsv", sep="\t")
    bcfs = []
    for cohort in ("NL", "EE", "IT"):
        inputs = [input_contigs(str(REPO / f"resources/demo/{cohort}.vcf.gz"), set(lengths))]
        names = samples.loc[samples["cohort"] == cohort, "sample"].tolist()
        for contig in ("chr20", "chrX", "chrY"):
            bcf = tmp_path / f"{cohort}.{contig}.bcf"
            chunk = Chunk(contig, 0, 1, lengths[contig])
            normalise_chunk(inputs, chunk, names, fasta, str(bcf))
            bcfs.append(bcf)
    assert sum(assert_same(str(bcf), 7) for bcf in bcfs) > 100


def test_truncated_bcf_is_an_error(edge_bcf, tmp_path):
    from europanel.io.bcf import BcfFormatError

    data = open(edge_bcf, "rb").read()
    cut = tmp_path / "cut.bcf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BcfFormatError, match="truncated"):
        list(BcfReader(str(cut)).blocks(10))


def test_count_bcf_equals_counting_cyvcf2_blocks(edge_bcf, tmp_path):
    """count_bcf (reader, 16-bit blocks widened at the 40,000 depth) equals count_block
    on cyvcf2 rows."""
    import pandas as pd

    from europanel.core.counting import QC_LEVELS, STATS, GenotypeQC, count_block, expected_ploidy
    from europanel.core.regions import PloidyMap, builtin_par_bed
    from europanel.io.sheets import cohort_groups, group_membership
    from europanel.stages.count import count_bcf

    split = tmp_path / "split.bcf"
    bcftools.norm(
        "--no-version", "-m", "-any", "-Ob", "-o", str(split), edge_bcf, catch_stdout=False
    )
    samples = pd.DataFrame(
        {
            "sample": ["S1", "S2", "S3"],
            "cohort": "C1",
            "population": "P1",
            "sex": ["XX", "XY", "NA"],
        }
    )
    ploidy_map = PloidyMap.from_bed(builtin_par_bed("GRCh38"))
    qc = GenotypeQC(min_gq=20, min_dp=10, min_dp_haploid=5, min_het_ab=0.2)
    table, stats = count_bcf(str(split), samples, ploidy_map, qc, block_size=2)

    groups = cohort_groups(samples)
    membership = group_membership(samples, groups)
    ploidy = expected_ploidy(samples["sex"].to_numpy())
    expected = []
    for (chrom, pos, ref, alt, filtered, _), block in cyvcf2_blocks(str(split)):
        if is_symbolic(alt):
            continue
        block.ploidy_class[:] = ploidy_map.classes(chrom, np.array([pos]))
        counts = count_block(block, ploidy, membership, qc)
        row = np.concatenate([counts[(lvl, st)][0] for lvl in QC_LEVELS for st in STATS])
        expected.append(((chrom, pos, ref, alt, filtered), np.where(filtered, 0, row)))
    assert len(table) == len(expected) == stats.counted + stats.filtered
    for (_, row), (site, want) in zip(table.iterrows(), expected):
        assert (row["chrom"], row["pos"], row["ref"], row["alt"], row["filtered"]) == site
        np.testing.assert_array_equal(
            row.iloc[5:].to_numpy(dtype=np.int64), want, err_msg=str(site)
        )
