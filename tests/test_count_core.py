"""The numpy counting core (count.py) against two independent oracles.

- `naive_counter`: DESIGN §4 written out genotype by genotype; compared on
  random blocks (hypothesis) and on small hand-written cases.
- scikit-allel: per-population allele counts of diploid autosomal genotypes.
"""

from __future__ import annotations

import allel
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_counter as naive
from conftest import gnomad_adj
from europanel.core.counting import (
    HAPLOID_END,
    INT32_MISSING,
    MISSING,
    QC_LEVELS,
    STATS,
    Block,
    GenotypeQC,
    count_block,
    expected_ploidy,
)
from europanel.core.regions import AUTOSOMAL, X_NONPAR, Y_NONPAR, Y_PAR
from europanel.io.sheets import cohort_groups, group_membership

GNOMAD_ADJ = gnomad_adj()  # the schema's genotype-QC defaults

COHORT = "C1"
POPULATIONS = ("NWE", "SEU", "FIN")
SEXES = ("XX", "XY", "NA")

# The package's ploidy classes and the oracle's names for them (also checks what the ints mean).
CLASS_NAMES = {
    AUTOSOMAL: naive.AUTOSOMAL,
    X_NONPAR: naive.X_NONPAR,
    Y_NONPAR: naive.Y_NONPAR,
    Y_PAR: naive.Y_PAR,
}

Call = naive.Call


# ---------------------------------------------------------------------------
# Encoding test data for count_block, and running both implementations
# ---------------------------------------------------------------------------


def encode_genotype(gt: tuple | None) -> tuple[int, int]:
    """A genotype tuple in count.py's encoding: (first, second) with MISSING / HAPLOID_END."""
    if gt is None:
        return (MISSING, MISSING)
    if len(gt) == 1:
        return (MISSING if gt[0] is None else gt[0], HAPLOID_END)
    return tuple(MISSING if a is None else a for a in gt)


def encode_int(value: int | None) -> int:
    return INT32_MISSING if value is None else value


def make_block(site_classes: list[int], calls_by_site: list[list[Call]]) -> Block:
    """A Block (variants x samples) holding the given calls."""
    n_variants, n_samples = len(calls_by_site), len(calls_by_site[0])
    block = Block.empty(n_variants, n_samples)
    block.ploidy_class[:] = site_classes
    for v, calls in enumerate(calls_by_site):
        for s, call in enumerate(calls):
            block.alleles[v, s] = encode_genotype(call.gt)
            block.dp[v, s] = encode_int(call.dp)
            block.gq[v, s] = encode_int(call.gq)
            block.ad_ref[v, s] = encode_int(call.ad_ref)
            block.ad_alt[v, s] = encode_int(call.ad_alt)
    return block


def sample_sheet(sexes: list[str], populations: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": [f"S{i}" for i in range(len(sexes))],
            "cohort": COHORT,
            "population": populations,
            "sex": sexes,
        }
    )


def groups_of(population: str, sex: str) -> list[str]:
    """The groups a sample counts in, written out from DESIGN §4 (independently of sheets.py)."""
    groups = [COHORT, population]
    if sex != "NA":
        groups += [sex, f"{population}_{sex}"]
    return groups


def package_counts(samples, site_classes, calls_by_site, qc: GenotypeQC):
    """count_block's result as counts[v][(level, stat)][group], and the group names."""
    groups = cohort_groups(samples)
    membership = group_membership(samples, groups)
    ploidy_by_class = expected_ploidy(samples["sex"].to_numpy())
    result = count_block(make_block(site_classes, calls_by_site), ploidy_by_class, membership, qc)
    per_site = [
        {key: {g: int(result[key][v, j]) for j, g in enumerate(groups)} for key in result}
        for v in range(len(calls_by_site))
    ]
    return per_site, groups


def oracle_counts(samples, site_classes, calls_by_site, qc: GenotypeQC, groups):
    thresholds = naive.Thresholds(qc.min_gq, qc.min_dp, qc.min_dp_haploid, qc.min_het_ab)
    sample_groups = [groups_of(p, s) for p, s in zip(samples["population"], samples["sex"])]
    return naive.count_sites(
        [CLASS_NAMES[c] for c in site_classes],
        list(samples["sex"]),
        sample_groups,
        calls_by_site,
        thresholds,
        groups,
    )


def mismatches(actual, expected, samples, calls_by_site, site_classes) -> list[str]:
    """Readable differences per variant: each wrong stat, then the calls that were not `./.`."""
    groups = list(actual[0][("raw", "AC")])
    problems = []
    for v, (got, want) in enumerate(zip(actual, expected)):
        wrong = []
        for level in QC_LEVELS:
            for stat in STATS:
                differing = {
                    g: (got[(level, stat)][g], want[(level, stat)][g])
                    for g in groups
                    if got[(level, stat)][g] != want[(level, stat)][g]
                }
                if differing:
                    wrong.append(f"    {stat} {level}: (count_block, naive) by group {differing}")
        if wrong:
            calls = [
                f"{i}:{sex} {call}"
                for i, (sex, call) in enumerate(zip(samples["sex"], calls_by_site[v]))
                if call.gt is not None
            ]
            problems.append(
                f"variant {v} ({CLASS_NAMES[site_classes[v]]}):\n"
                + "\n".join(wrong)
                + "\n    calls: "
                + "; ".join(calls)
            )
    return problems


def count_one_site(
    site_class: int,
    samples: list[tuple[str, str]],
    calls: list[Call],
    qc: GenotypeQC = GNOMAD_ADJ,
) -> dict[tuple[str, str], dict[str, int]]:
    """count_block on a single site; `samples` is a list of (sex, population)."""
    sheet = sample_sheet([s for s, _ in samples], [p for _, p in samples])
    (got,), _ = package_counts(sheet, [site_class], [calls], qc)
    return got


def totals(counts, level: str = "raw", group: str = COHORT) -> dict[str, int]:
    """All five stats of one level for one group: {'AC': .., 'AN': .., ...}."""
    return {stat: counts[(level, stat)][group] for stat in STATS}


def naive_one_site(
    site_class: int,
    samples: list[tuple[str, str]],
    calls: list[Call],
    qc: GenotypeQC = GNOMAD_ADJ,
):
    sheet = sample_sheet([s for s, _ in samples], [p for _, p in samples])
    groups = cohort_groups(sheet)
    (want,) = oracle_counts(sheet, [site_class], [calls], qc, groups)
    return want


def stats(AC=0, AN=0, nhomalt=0, nhemi=0, ncarrier=0) -> dict[str, int]:  # noqa: N803
    return {"AC": AC, "AN": AN, "nhomalt": nhomalt, "nhemi": nhemi, "ncarrier": ncarrier}


def check_site(
    site_class,
    samples,
    calls,
    expected_raw,
    expected_adj=None,
    qc: GenotypeQC = GNOMAD_ADJ,
    group: str = COHORT,
):
    """Both count_block and the naive oracle give the hand-written numbers for `group`."""
    expected_adj = expected_raw if expected_adj is None else expected_adj
    for name, counts in (
        ("naive", naive_one_site(site_class, samples, calls, qc)),
        ("count_block", count_one_site(site_class, samples, calls, qc)),
    ):
        assert totals(counts, "raw", group) == expected_raw, f"{name} raw"
        assert totals(counts, "adj", group) == expected_adj, f"{name} adj"


# Calls that pass default adj whatever the genotype (GQ 99, DP 30, balanced AD).
def good(gt) -> Call:
    return Call(gt, dp=30, gq=99, ad_ref=15, ad_alt=15)


# ---------------------------------------------------------------------------
# Property test: random blocks, count_block == naive counter for every group
# ---------------------------------------------------------------------------

GENOTYPES = [
    None,  # ./.
    (0, 0),
    (0, 1),
    (1, 0),
    (1, 1),
    (None, 1),
    (1, None),
    (None, 0),
    (0, None),
    (None, None),  # half-missing and ./.
    (0,),
    (1,),
    (None,),  # haploid-written
]
MAX_VARIANTS, MAX_SAMPLES = 30, 40

qc_strategy = st.builds(
    GenotypeQC,
    min_gq=st.one_of(st.none(), st.integers(0, 60)),
    min_dp=st.one_of(st.none(), st.integers(0, 30)),
    min_dp_haploid=st.one_of(st.none(), st.integers(0, 20)),
    # Round thresholds matter: an AD/DP ratio exactly at the threshold must pass.
    min_het_ab=st.one_of(
        st.none(), st.sampled_from([0.0, 0.1, 0.14, 0.2, 0.25, 0.28, 0.3, 0.5]), st.floats(0.0, 1.0)
    ),
)
missing_rates = st.sampled_from([0.0, 0.05, 0.3, 1.0])


def random_cells(seed, genotype_weights, missing_rate, n_variants, n_samples) -> list[list[Call]]:
    """Calls (variants x samples) from a seeded generator.

    Always drawn at full size and then cut, so that when hypothesis shrinks the
    block, the calls that remain are the same ones: a failure shrinks to a
    small block showing the same genotypes. (Hypothesis drawing each of up to
    1,200 calls itself makes an example some 50x slower to generate and shrink.)
    """
    rng = np.random.default_rng(seed)
    shape = (MAX_VARIANTS, MAX_SAMPLES)
    weights = np.array(genotype_weights, dtype=float)
    gt_index = rng.choice(len(GENOTYPES), size=shape, p=weights / weights.sum())

    def maybe_missing(values, rate):
        return np.where(rng.random(shape) < rate, -1, values)  # -1 stands for missing here

    dp = maybe_missing(rng.integers(0, 41, shape), missing_rate["DP"])
    gq = maybe_missing(rng.integers(0, 100, shape), missing_rate["GQ"])
    ad_ref = maybe_missing(rng.integers(0, 41, shape), missing_rate["AD_ref"])
    ad_alt = maybe_missing(rng.integers(0, 41, shape), missing_rate["AD_alt"])

    def value(array, v, s):
        return None if array[v, s] < 0 else int(array[v, s])

    return [
        [
            Call(
                GENOTYPES[gt_index[v, s]],
                value(dp, v, s),
                value(gq, v, s),
                value(ad_ref, v, s),
                value(ad_alt, v, s),
            )
            for s in range(n_samples)
        ]
        for v in range(n_variants)
    ]


@st.composite
def random_blocks(draw):
    """(sample sheet, ploidy class per variant, calls) for 1-30 variants x 1-40 samples."""
    n_samples = draw(st.integers(1, MAX_SAMPLES))
    n_variants = draw(st.integers(1, MAX_VARIANTS))
    n_populations = draw(st.integers(2, 3))
    sexes = draw(st.lists(st.sampled_from(SEXES), min_size=n_samples, max_size=n_samples))
    populations = draw(
        st.lists(
            st.sampled_from(POPULATIONS[:n_populations]), min_size=n_samples, max_size=n_samples
        )
    )
    site_classes = draw(
        st.lists(
            st.sampled_from([AUTOSOMAL, X_NONPAR, Y_NONPAR, Y_PAR]),
            min_size=n_variants,
            max_size=n_variants,
        )
    )
    # How often each genotype is drawn (some mixes have no hets, or only haploid-written calls)
    # and how often each FORMAT value is missing.
    genotype_weights = draw(
        st.lists(st.integers(0, 3), min_size=len(GENOTYPES), max_size=len(GENOTYPES)).filter(any)
    )
    missing_rate = {name: draw(missing_rates) for name in ("DP", "GQ", "AD_ref", "AD_alt")}
    seed = draw(st.integers(0, 2**32 - 1))
    calls_by_site = random_cells(seed, genotype_weights, missing_rate, n_variants, n_samples)
    return sample_sheet(sexes, populations), site_classes, calls_by_site


@settings(max_examples=600, deadline=None)  # ~5 ms each: a few seconds
@given(block=random_blocks(), qc=qc_strategy)
def test_count_block_matches_naive_counter(block, qc):
    samples, site_classes, calls_by_site = block
    actual, groups = package_counts(samples, site_classes, calls_by_site, qc)
    # Every sample's groups are among the cohort's groups, and nothing else is.
    expected_groups = {
        g for p, s in zip(samples["population"], samples["sex"]) for g in groups_of(p, s)
    }
    assert set(groups) == expected_groups
    expected = oracle_counts(samples, site_classes, calls_by_site, qc, groups)
    problems = mismatches(actual, expected, samples, calls_by_site, site_classes)
    assert not problems, f"qc {qc}:\n" + "\n".join(problems[:3])


# ---------------------------------------------------------------------------
# Hand-written cases: genotype interpretation and ploidy
# ---------------------------------------------------------------------------


def test_het_and_hom_alt_on_autosome():
    samples = [("XX", "NWE"), ("XY", "NWE"), ("NA", "SEU")]
    calls = [good((0, 1)), good((1, 1)), good((0, 0))]
    check_site(AUTOSOMAL, samples, calls, stats(AC=3, AN=6, nhomalt=1, ncarrier=2))


def test_half_missing_is_missing():
    samples = [("XX", "NWE")] * 4
    calls = [good((None, 1)), good((1, None)), good((None, 0)), good((0, 1))]
    # Only the full `0/1` counts.
    check_site(AUTOSOMAL, samples, calls, stats(AC=1, AN=2, ncarrier=1))


def test_xy_written_diploid_on_nonpar_x_counts_once():
    samples = [("XY", "NWE"), ("XY", "NWE")]
    calls = [good((1, 1)), good((1,))]
    # `1/1` and `1` are the same haploid alt call: one allele each, hemizygous, not hom-alt.
    check_site(X_NONPAR, samples, calls, stats(AC=2, AN=2, nhemi=2, ncarrier=2))


def test_xy_hom_ref_on_nonpar_x_is_one_allele():
    samples = [("XY", "NWE"), ("XY", "NWE")]
    calls = [good((0, 0)), good((0,))]
    check_site(X_NONPAR, samples, calls, stats(AN=2))


def test_xy_het_on_nonpar_x_is_missing():
    samples = [("XY", "NWE"), ("XY", "NWE"), ("XX", "NWE")]
    calls = [good((0, 1)), good((1, 0)), good((0, 1))]
    # Only the XX het counts.
    check_site(X_NONPAR, samples, calls, stats(AC=1, AN=2, ncarrier=1))


def test_xy_half_missing_on_nonpar_x_is_missing():
    samples = [("XY", "NWE"), ("XY", "NWE"), ("XY", "NWE")]
    calls = [good((None, 1)), good((1, None)), good((None,))]
    check_site(X_NONPAR, samples, calls, stats())


def test_xx_on_nonpar_x_is_diploid():
    samples = [("XX", "NWE"), ("XX", "NWE")]
    calls = [good((1, 1)), good((0, 1))]
    check_site(X_NONPAR, samples, calls, stats(AC=3, AN=4, nhomalt=1, ncarrier=2))


def test_xy_on_par_is_diploid():
    # PAR sites have the autosomal class: an XY het there is a real het.
    samples = [("XY", "NWE")]
    check_site(AUTOSOMAL, samples, [good((0, 1))], stats(AC=1, AN=2, ncarrier=1))


def test_xx_on_chry_not_counted():
    samples = [("XX", "NWE"), ("XY", "NWE")]
    calls = [good((1, 1)), good((1,))]
    check_site(Y_NONPAR, samples, calls, stats(AC=1, AN=1, nhemi=1, ncarrier=1))
    check_site(Y_NONPAR, samples, calls, stats(), group="XX")
    check_site(Y_NONPAR, samples, calls, stats(AC=1, AN=1, nhemi=1, ncarrier=1), group="XY")


def test_xx_not_counted_on_chry_par():
    # chrY PAR: XY and NA are diploid, XX has no Y (DESIGN §4, gnomAD's adjust_sex_ploidy).
    samples = [("XX", "NWE"), ("XY", "NWE"), ("NA", "NWE")]
    calls = [good((1, 1)), good((0, 1)), good((0, 0))]
    check_site(Y_PAR, samples, calls, stats(AC=1, AN=4, ncarrier=1))
    check_site(Y_PAR, samples, calls, stats(), group="XX")
    check_site(Y_PAR, samples, calls, stats(AC=1, AN=2, ncarrier=1), group="XY")


def test_unknown_sex_not_counted_on_nonpar_x():
    samples = [("NA", "NWE"), ("NA", "NWE")]
    calls = [good((1, 1)), good((1,))]
    check_site(X_NONPAR, samples, calls, stats())


def test_unknown_sex_not_counted_on_chry():
    samples = [("NA", "NWE")]
    check_site(Y_NONPAR, samples, [good((1,))], stats())


def test_unknown_sex_counts_on_autosomes_but_in_no_sex_group():
    samples = [("NA", "NWE"), ("XX", "NWE")]
    calls = [good((1, 1)), good((0, 1))]
    check_site(AUTOSOMAL, samples, calls, stats(AC=3, AN=4, nhomalt=1, ncarrier=2))
    check_site(AUTOSOMAL, samples, calls, stats(AC=3, AN=4, nhomalt=1, ncarrier=2), group="NWE")
    check_site(AUTOSOMAL, samples, calls, stats(AC=1, AN=2, ncarrier=1), group="XX")
    check_site(AUTOSOMAL, samples, calls, stats(AC=1, AN=2, ncarrier=1), group="NWE_XX")
    counts = count_one_site(AUTOSOMAL, samples, calls)
    assert "XY" not in counts[("raw", "AC")] and "NWE_NA" not in counts[("raw", "AC")]


def test_haploid_written_call_where_diploid_expected_is_missing():
    check_site(AUTOSOMAL, [("XY", "NWE")], [good((1,))], stats())
    check_site(AUTOSOMAL, [("XX", "NWE")], [good((1,))], stats())
    check_site(X_NONPAR, [("XX", "NWE")], [good((1,))], stats())


def test_groups_split_by_population_and_sex():
    samples = [("XX", "NWE"), ("XY", "NWE"), ("XY", "SEU")]
    calls = [good((0, 1)), good((1, 1)), good((0, 0))]
    check_site(AUTOSOMAL, samples, calls, stats(AC=3, AN=4, nhomalt=1, ncarrier=2), group="NWE")
    check_site(AUTOSOMAL, samples, calls, stats(AN=2), group="SEU")
    check_site(AUTOSOMAL, samples, calls, stats(AC=2, AN=4, nhomalt=1, ncarrier=1), group="XY")
    check_site(AUTOSOMAL, samples, calls, stats(AC=2, AN=2, nhomalt=1, ncarrier=1), group="NWE_XY")
    check_site(AUTOSOMAL, samples, calls, stats(AN=2), group="SEU_XY")


def test_ncarrier_counts_samples_not_alleles():
    samples = [("XX", "NWE")] * 3
    calls = [good((1, 1)), good((1, 1)), good((0, 1))]
    check_site(AUTOSOMAL, samples, calls, stats(AC=5, AN=6, nhomalt=2, ncarrier=3))


# ---------------------------------------------------------------------------
# Hand-written cases: adj (gnomAD's genotype QC)
# ---------------------------------------------------------------------------

ONLY_AB = GenotypeQC(min_gq=None, min_dp=None, min_dp_haploid=None, min_het_ab=0.2)
ALL_OFF = GenotypeQC(min_gq=None, min_dp=None, min_dp_haploid=None, min_het_ab=None)


def test_missing_gq_fails_adj():
    calls = [Call((0, 1), dp=30, gq=None, ad_ref=15, ad_alt=15)]
    check_site(
        AUTOSOMAL, [("XX", "NWE")], calls, stats(AC=1, AN=2, ncarrier=1), expected_adj=stats()
    )


def test_low_gq_fails_adj():
    calls = [Call((1, 1), dp=30, gq=19, ad_ref=0, ad_alt=30), good((1, 1))]
    check_site(
        AUTOSOMAL,
        [("XX", "NWE")] * 2,
        calls,
        stats(AC=4, AN=4, nhomalt=2, ncarrier=2),
        expected_adj=stats(AC=2, AN=2, nhomalt=1, ncarrier=1),
    )


def test_missing_dp_fails_adj():
    calls = [Call((0, 0), dp=None, gq=99, ad_ref=30, ad_alt=0)]
    check_site(AUTOSOMAL, [("XX", "NWE")], calls, stats(AN=2), expected_adj=stats())


def test_haploid_calls_use_min_dp_haploid():
    samples = [("XY", "NWE"), ("XX", "NWE")]
    calls = [
        Call((1,), dp=6, gq=99, ad_ref=0, ad_alt=6),
        Call((1, 1), dp=6, gq=99, ad_ref=0, ad_alt=6),
    ]
    # DP 6 passes the haploid minimum (5) but not the diploid one (10).
    check_site(
        X_NONPAR,
        samples,
        calls,
        stats(AC=3, AN=3, nhomalt=1, nhemi=1, ncarrier=2),
        expected_adj=stats(AC=1, AN=1, nhemi=1, ncarrier=1),
    )


def test_criteria_off_need_no_fields():
    calls = [Call((0, 1)), Call((1,))]
    check_site(
        X_NONPAR,
        [("XX", "NWE"), ("XY", "NWE")],
        calls,
        stats(AC=2, AN=3, nhemi=1, ncarrier=2),
        qc=ALL_OFF,
    )


def test_hom_alt_not_subject_to_allele_balance():
    calls = [Call((1, 1), dp=30, gq=99, ad_ref=30, ad_alt=0)]
    check_site(AUTOSOMAL, [("XX", "NWE")], calls, stats(AC=2, AN=2, nhomalt=1, ncarrier=1))


def test_het_allele_balance_uses_dp():
    calls = [
        Call((0, 1), dp=20, gq=99, ad_ref=5, ad_alt=3),  # 3/20 = 0.15 fails (3/8 would pass)
        Call((0, 1), dp=20, gq=99, ad_ref=16, ad_alt=4),  # 4/20 = 0.2 passes
    ]
    check_site(
        AUTOSOMAL,
        [("XX", "NWE")] * 2,
        calls,
        stats(AC=2, AN=4, ncarrier=2),
        expected_adj=stats(AC=1, AN=2, ncarrier=1),
    )


def test_het_allele_balance_uses_ad_sum_when_dp_missing():
    calls = [
        Call((0, 1), dp=None, gq=None, ad_ref=8, ad_alt=2),  # 2/10 = 0.2 passes
        Call((0, 1), dp=None, gq=None, ad_ref=9, ad_alt=2),  # 2/11 fails
        Call((0, 1), dp=None, gq=None, ad_ref=None, ad_alt=2),  # no depth at all: fails
    ]
    check_site(
        AUTOSOMAL,
        [("XX", "NWE")] * 3,
        calls,
        stats(AC=3, AN=6, ncarrier=3),
        expected_adj=stats(AC=1, AN=2, ncarrier=1),
        qc=ONLY_AB,
    )


def test_het_missing_ad_fails_allele_balance():
    calls = [Call((0, 1), dp=30, gq=99, ad_ref=None, ad_alt=None)]
    check_site(
        AUTOSOMAL, [("XX", "NWE")], calls, stats(AC=1, AN=2, ncarrier=1), expected_adj=stats()
    )


def test_het_with_zero_depth_fails_allele_balance():
    calls = [Call((0, 1), dp=0, gq=99, ad_ref=0, ad_alt=0)]
    check_site(
        AUTOSOMAL,
        [("XX", "NWE")],
        calls,
        stats(AC=1, AN=2, ncarrier=1),
        expected_adj=stats(),
        qc=ONLY_AB,
    )


@pytest.mark.parametrize("min_het_ab, ad_alt, dp", [(0.2, 7, 35), (0.28, 7, 25), (0.14, 7, 50)])
def test_het_allele_balance_exactly_at_threshold_passes(min_het_ab, ad_alt, dp):
    # AD(alt)/DP equals the threshold (in floating point too: 7/25 == 0.28), so it passes, as
    # Hail's AD[1]/DP >= 0.28 does; comparing AD(alt) >= 0.28*DP instead fails the call,
    # since 0.28*25 == 7.000000000000001.
    assert ad_alt / dp == min_het_ab
    qc = GenotypeQC(min_gq=None, min_dp=None, min_dp_haploid=None, min_het_ab=min_het_ab)
    calls = [Call((0, 1), dp=dp, ad_ref=dp - ad_alt, ad_alt=ad_alt)]
    check_site(AUTOSOMAL, [("XX", "NWE")], calls, stats(AC=1, AN=2, ncarrier=1), qc=qc)


def test_het_allele_balance_with_dp_does_not_need_ad_ref():
    # AD written `.,6`: AD(alt)/DP = 6/20 can be computed, so the criterion has what it needs.
    calls = [Call((0, 1), dp=20, gq=99, ad_ref=None, ad_alt=6)]
    check_site(AUTOSOMAL, [("XX", "NWE")], calls, stats(AC=1, AN=2, ncarrier=1))


def test_min_dp_off_does_not_need_dp_for_diploid_calls():
    # min_dp is off: a diploid call without DP is not failed for it, even though the
    # haploid criterion is on.
    qc = GenotypeQC(min_gq=None, min_dp=None, min_dp_haploid=5, min_het_ab=None)
    calls = [Call((1, 1), dp=None), Call((1,), dp=None), Call((1,), dp=5)]
    check_site(
        X_NONPAR,
        [("XX", "NWE"), ("XY", "NWE"), ("XY", "NWE")],
        calls,
        stats(AC=4, AN=4, nhomalt=1, nhemi=2, ncarrier=3),
        expected_adj=stats(AC=3, AN=3, nhomalt=1, nhemi=1, ncarrier=2),
        qc=qc,
    )


def test_min_dp_haploid_off_does_not_check_haploid_depth():
    # min_dp_haploid is off: haploid calls are not held to the diploid minimum either.
    qc = GenotypeQC(min_gq=None, min_dp=10, min_dp_haploid=None, min_het_ab=None)
    calls = [Call((1,), dp=3), Call((1, 1), dp=3)]
    check_site(
        X_NONPAR,
        [("XY", "NWE"), ("XX", "NWE")],
        calls,
        stats(AC=3, AN=3, nhomalt=1, nhemi=1, ncarrier=2),
        expected_adj=stats(AC=1, AN=1, nhemi=1, ncarrier=1),
        qc=qc,
    )


def test_adj_is_a_subset_of_raw():
    calls = [Call((0, 1), dp=5, gq=5, ad_ref=4, ad_alt=1), Call(None, dp=30, gq=99)]
    check_site(
        AUTOSOMAL, [("XX", "NWE")] * 2, calls, stats(AC=1, AN=2, ncarrier=1), expected_adj=stats()
    )


# ---------------------------------------------------------------------------
# scikit-allel as a second oracle: diploid autosomal raw AC and AN per population
# ---------------------------------------------------------------------------


def random_diploid_matrix(rng, n_variants, n_samples):
    """Genotypes (v, s, 2) of 0/1 with missing calls and half-missing calls, as in a VCF."""
    alleles = (rng.random((n_variants, n_samples, 2)) < rng.uniform(0.05, 0.6)).astype(np.int8)
    alleles[rng.random((n_variants, n_samples)) < 0.1] = MISSING  # ./.
    half = rng.random((n_variants, n_samples, 2)) < 0.03
    alleles[half] = MISSING  # ./1 and 1/.
    return alleles


@pytest.mark.parametrize(
    "seed, n_variants, n_samples",
    [(0, 1, 1), (1, 5, 3), (2, 50, 20), (3, 200, 101), (4, 1000, 7), (5, 20, 500)],
)
def test_raw_counts_match_scikit_allel(seed, n_variants, n_samples):
    rng = np.random.default_rng(seed)
    sexes = list(rng.choice(SEXES, n_samples))
    populations = list(rng.choice(POPULATIONS, n_samples))
    samples = sample_sheet(sexes, populations)
    alleles = random_diploid_matrix(rng, n_variants, n_samples)

    block = Block.empty(n_variants, n_samples)
    block.alleles[:] = alleles
    block.ploidy_class[:] = AUTOSOMAL
    groups = cohort_groups(samples)
    result = count_block(
        block,
        expected_ploidy(samples["sex"].to_numpy()),
        group_membership(samples, groups),
        GNOMAD_ADJ,
    )

    # scikit-allel counts each called allele of a half-missing genotype; DESIGN §4 does not,
    # so half-missing calls become fully missing in allel's copy.
    allel_alleles = alleles.copy()
    allel_alleles[(alleles < 0).any(axis=2)] = MISSING
    subpops = {COHORT: list(range(n_samples))}
    for population in POPULATIONS:
        members = [i for i, p in enumerate(populations) if p == population]
        if members:
            subpops[population] = members
    allele_counts = allel.GenotypeArray(allel_alleles).count_alleles_subpops(subpops, max_allele=1)

    for group, counts in allele_counts.items():
        j = groups.index(group)
        np.testing.assert_array_equal(result[("raw", "AC")][:, j], counts[:, 1], err_msg=group)
        np.testing.assert_array_equal(
            result[("raw", "AN")][:, j], counts.sum(axis=1), err_msg=group
        )
