"""Site annotations (europanel.core.sitestats) against naive twins written from their definitions:
quality histograms (per-genotype loop), inbreeding coefficient, exact HWE (exact fractions),
the cross-country heterogeneity test (enumeration of every table), the weighted AF; the
merge of two cohorts' histograms against counting both together; a drift simulation with
one injected artefact."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from conftest import gnomad_adj
from europanel.core import histograms
from europanel.core.counting import (
    HEMI_ALT,
    HEMI_REF,
    HET,
    HIST_STATE,
    HOM_ALT,
    HOM_REF,
    Block,
    count_block,
    count_columns,
    expected_ploidy,
)
from europanel.core.histograms import HIST_BINS, block_histograms, histogram_columns
from europanel.core.panel_groups import PanelGroups
from europanel.core.regions import AUTOSOMAL, X_NONPAR, PloidyMap
from europanel.core.sitestats import (
    SiteAnnotationPolicy,
    combine_min_bonferroni,
    diploid_genotype_counts,
    exact_table_p,
    hardy_weinberg_p,
    heterogeneity_p,
    inbreeding_coefficient,
    weighted_allele_frequency,
)
from europanel.io.sheets import cohort_groups, group_membership
from europanel.stages.bundle import cohort_summary
from europanel.stages.merge import CohortCounts, PanelPolicy, merge_chunk

GNOMAD_ADJ = gnomad_adj()  # the schema's genotype-QC defaults

# ------------------------------------------------------------------ histograms: naive twin


def naive_histograms(genotypes) -> dict[str, list[int]]:
    """gnomAD's histograms from a list of per-genotype dicts (called, alt, het, gq, dp,
    ad_ref, ad_alt; None = missing), one genotype at a time, from the definitions."""

    def value_bin(value):  # [0,5), [5,10), ... [95,100]; above 100: n_larger (index 20)
        if value is None:
            return None
        if value > 100:
            return HIST_BINS
        return min(value // 5, HIST_BINS - 1)

    out = {
        name: [0] * (HIST_BINS + 1)
        for name in ("gq_hist_all", "dp_hist_all", "gq_hist_alt", "dp_hist_alt")
    }
    out["ab_hist_alt"] = [0] * HIST_BINS
    for g in genotypes:
        if not g["called"]:
            continue
        whom = ["all"] + (["alt"] if g["alt"] else [])
        for metric in ("gq", "dp"):
            b = value_bin(g[metric])
            if b is not None:
                for w in whom:
                    out[f"{metric}_hist_{w}"][b] += 1
        if g["het"] and g["ad_alt"] is not None:
            depth = (
                g["dp"]
                if g["dp"] is not None
                else (g["ad_ref"] + g["ad_alt"] if g["ad_ref"] is not None else None)
            )
            if depth is not None and depth > 0 and g["ad_alt"] <= depth:
                ab = Fraction(g["ad_alt"], depth)
                out["ab_hist_alt"][min(math.floor(ab * HIST_BINS), HIST_BINS - 1)] += 1
    return out


def flatten(hist: dict[str, list[int]]) -> list[int]:
    """In histogram_columns() order."""
    columns = histogram_columns()
    values = []
    for column in columns:
        name = column[len("hist_") :]
        if name.endswith("_n_larger"):
            values.append(hist[name[: -len("_n_larger")]][HIST_BINS])
        else:
            base, b = name.rsplit("_", 1)
            values.append(hist[base][int(b)])
    return values


values_with_edges = st.one_of(
    st.integers(-1, 130),
    # bin edges, the last bin's closed edge, n_larger, and the BCF reader's int16 missing
    # and vector-end sentinels
    st.sampled_from([-32768, -32767, -1, 0, 4, 5, 99, 100, 101, 255, 32767]),
)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda s: st.lists(
            st.tuples(
                st.integers(0, 6),  # genotype class
                values_with_edges,  # GQ
                values_with_edges,  # DP
                st.integers(-1, 60),  # AD ref
                st.integers(-1, 60),  # AD alt
            ),
            min_size=s,
            max_size=s * 4,
        ).map(lambda cells: (s, cells))
    ),
    st.sampled_from([np.int16, np.int32]),  # the BCF reader gives either
    st.integers(1, 9),  # genotypes per bincount sub-pass: several passes, a partial last one
)
def test_block_histograms_match_naive_loop(shape, dtype, subpass):
    n_samples, cells = shape
    n_variants = len(cells) // n_samples
    if n_variants == 0:
        return
    cells = np.array(cells[: n_variants * n_samples]).reshape(n_variants, n_samples, 5)
    classes = np.minimum(cells[..., 0], 5).astype(np.uint8)  # no BAD_ALLELE here
    gq, dp, ad_ref, ad_alt = (cells[..., i].astype(dtype) for i in range(1, 5))
    whole_passes = block_histograms(HIST_STATE[classes], gq, dp, ad_ref, ad_alt)
    default = histograms.SUBPASS_GENOTYPES
    try:
        histograms.SUBPASS_GENOTYPES = subpass
        got = block_histograms(HIST_STATE[classes], gq, dp, ad_ref, ad_alt)
    finally:
        histograms.SUBPASS_GENOTYPES = default
    assert np.array_equal(got, whole_passes)
    for v in range(n_variants):
        genotypes = [
            {
                "called": classes[v, s] in (HOM_REF, HET, HOM_ALT, HEMI_REF, HEMI_ALT),
                "alt": classes[v, s] in (HET, HOM_ALT, HEMI_ALT),
                "het": classes[v, s] == HET,
                **{
                    name: (None if array[v, s] < 0 else int(array[v, s]))
                    for name, array in (
                        ("gq", gq),
                        ("dp", dp),
                        ("ad_ref", ad_ref),
                        ("ad_alt", ad_alt),
                    )
                },
            }
            for s in range(n_samples)
        ]
        assert got[v].tolist() == flatten(naive_histograms(genotypes))


def test_value_bins_of_every_int16_value_and_int32_extremes():
    def naive(value):  # [0,5), ... [95,100]; above 100: n_larger; negative: missing
        if value < 0:
            return histograms.NO_VALUE
        return histograms.N_LARGER if value > 100 else min(value // 5, HIST_BINS - 1)

    every_int16 = np.arange(-(2**15), 2**15).astype(np.int16)
    assert histograms.value_bins(every_int16).tolist() == [naive(int(v)) for v in every_int16]
    extremes = np.array([-(2**31), -(2**31) + 1, -1, 0, 100, 101, 2**15, 2**31 - 1], np.int32)
    assert histograms.value_bins(extremes).tolist() == [naive(int(v)) for v in extremes]


def test_allele_balance_exactly_on_and_just_below_every_bin_edge():
    # AD(alt)/DP = k/20 is in bin k (AB = 1 in bin 19); one read less is in bin k - 1; also
    # at depths where float division of the ratio alone would round (k/20 * 60 and 2**31 - 1).
    cases = []
    for depth in (20, 60, 2**31 - 1):
        for k in range(HIST_BINS + 1):
            on_edge = k * depth // HIST_BINS
            exact = on_edge * HIST_BINS == k * depth
            cases.append((on_edge, depth, min(k, HIST_BINS - 1) if exact else None))
            if k and exact:
                cases.append((on_edge - 1, depth, k - 1))
    cases = [(a, d, b) for a, d, b in cases if b is not None]
    for a_alt, depth, expected in cases:
        state = np.full((1, 1), histograms.HET_CARRIER, np.uint8)
        dp = np.array([[depth]], np.int32)
        hist = block_histograms(state, dp, dp, np.full((1, 1), -1, np.int32), dp * 0 + a_alt)
        ab = dict(zip(histogram_columns(), hist[0]))
        assert ab[f"hist_ab_hist_alt_{expected:02d}"] == 1, (a_alt, depth)
        assert sum(v for c, v in ab.items() if c.startswith("hist_ab_")) == 1


def test_allele_balance_uses_the_sum_of_ad_where_dp_is_missing():
    state = np.full((1, 4), histograms.HET_CARRIER, np.uint8)
    dp = np.array([[-1, -1, -1, 10]], np.int16)  # missing, missing, missing, present
    ad_ref = np.array([[15, -1, 0, 90]], np.int16)  # DP stands in only where it is missing
    ad_alt = np.array([[5, 5, 0, 5]], np.int16)
    hist = dict(zip(histogram_columns(), block_histograms(state, dp, dp, ad_ref, ad_alt)[0]))
    assert hist["hist_ab_hist_alt_05"] == 1  # 5 / (15 + 5)
    assert hist["hist_ab_hist_alt_10"] == 1  # 5 / 10: DP, not 5 / 95
    # no depth at all (AD(ref) missing too) and AD sum 0: in no bin
    assert sum(v for c, v in hist.items() if c.startswith("hist_ab_")) == 2
    assert hist["hist_dp_hist_all_02"] == 1 and hist["hist_dp_hist_alt_02"] == 1  # DP 10
    assert sum(v for c, v in hist.items() if c.startswith("hist_dp_hist_all")) == 1


def test_histogram_edges_follow_hail():
    # GQ 100 is in the last bin (closed), 101 in n_larger; AB exactly 0.05 in bin 1, 1.0 in
    # bin 19; AD(alt) > DP is in no bin.
    state = np.full((1, 6), 3, np.uint8)  # hets
    gq = np.array([[0, 4, 5, 100, 101, -1]], np.int32)
    dp = np.array([[20, 20, 20, 20, 10, 5]], np.int32)
    ad_alt = np.array([[1, 20, 21, 0, 5, 3]], np.int32)
    ad_ref = np.full((1, 6), -1, np.int32)
    hist = dict(zip(histogram_columns(), block_histograms(state, gq, dp, ad_ref, ad_alt)[0]))
    assert hist["hist_gq_hist_all_00"] == 2
    assert hist["hist_gq_hist_all_01"] == 1
    assert hist["hist_gq_hist_all_19"] == 1
    assert hist["hist_gq_hist_all_n_larger"] == 1
    assert hist["hist_ab_hist_alt_01"] == 1  # 1/20
    assert hist["hist_ab_hist_alt_19"] == 1  # 20/20
    assert hist["hist_ab_hist_alt_00"] == 1  # 0/20
    assert hist["hist_ab_hist_alt_10"] == 1  # 5/10
    assert hist["hist_ab_hist_alt_12"] == 1  # 3/5
    ab_total = sum(v for k, v in hist.items() if k.startswith("hist_ab_"))
    assert ab_total == 5  # 21/20 left out


# ------------------------------------------- histograms: two cohorts summed == counted together


def random_block(rng, n_variants, n_samples) -> Block:
    block = Block.empty(n_variants, n_samples)
    block.alleles[...] = rng.choice([-1, 0, 0, 0, 1], size=block.alleles.shape)
    for array, high in ((block.gq, 110), (block.dp, 120), (block.ad_ref, 40), (block.ad_alt, 40)):
        array[...] = rng.integers(-1, high, size=array.shape)
    block.ploidy_class[...] = rng.choice([AUTOSOMAL, X_NONPAR], size=n_variants)
    return block


def cohort_table(block, samples, keys, qc) -> pd.DataFrame:
    """A cohort's count table (as in its bundle) of the block's records."""
    groups = cohort_groups(samples)
    counts = count_block(
        block,
        expected_ploidy(samples["sex"].to_numpy()),
        group_membership(samples, groups),
        qc,
        histograms=True,
    )
    table = keys.copy()
    table["chrom"], table["filtered"] = "chrZ", False
    columns = count_columns(groups)
    values = np.concatenate(
        [
            counts[(lvl, st)]
            for lvl in ("raw", "adj")
            for st in ("AC", "AN", "nhomalt", "nhemi", "ncarrier")
        ],
        axis=1,
    )
    table = pd.concat([table, pd.DataFrame(values, columns=columns)], axis=1)
    return pd.concat(
        [table, pd.DataFrame(counts[("raw", "hist")], columns=histogram_columns())], axis=1
    )


def test_merged_histograms_equal_counting_both_cohorts_together():
    rng = np.random.default_rng(7)
    n_variants = 40
    sizes = {"AA": 9, "BB": 13}
    sheets = {
        c: pd.DataFrame(
            {
                "sample": [f"{c}{i}" for i in range(n)],
                "cohort": c,
                "population": rng.choice(["POPA", "POPB"], n),
                "sex": rng.choice(["XX", "XY"], n),
            }
        )
        for c, n in sizes.items()
    }
    together = random_block(rng, n_variants, sum(sizes.values()))
    keys = pd.DataFrame({"pos": np.arange(1, n_variants + 1) * 10, "ref": "A", "alt": "C"})
    qc = GNOMAD_ADJ
    contributions, start = [], 0
    for cohort, n in sizes.items():
        part = Block(
            together.alleles[:, start : start + n],
            together.dp[:, start : start + n],
            together.gq[:, start : start + n],
            together.ad_ref[:, start : start + n],
            together.ad_alt[:, start : start + n],
            together.ploidy_class,
        )
        start += n
        summary = cohort_summary(sheets[cohort])
        contributions.append(
            CohortCounts(
                cohort,
                cohort_table(part, sheets[cohort], keys, qc),
                None,
                summary["reference_an"],
                summary["groups"],
            )
        )
    everyone = pd.concat(list(sheets.values()), ignore_index=True)
    expected = count_block(
        together,
        expected_ploidy(everyone["sex"].to_numpy()),
        group_membership(everyone, cohort_groups(everyone)),
        qc,
        histograms=True,
    )[("raw", "hist")]
    manifests = [{"cohort": c, **cohort_summary(s)} for c, s in sheets.items()]
    # The block's ploidy classes shaped the counts; the merge's map only shapes F and HWE.
    records, _ = merge_chunk(
        "chrZ",
        contributions,
        PanelGroups.from_manifests(manifests),
        PloidyMap({}),
        PanelPolicy(absent_sites="missing"),
        SiteAnnotationPolicy(histograms=True),
    )
    raw_ac = sum(c.table[f"AC_raw_{c.label}"].to_numpy() for c in contributions)
    expected = expected[raw_ac > 0]  # the panel keeps sites with a raw alt allele
    assert len(expected) > 10
    got = np.column_stack(
        [
            np.stack(records[f"{name}_raw_bin_freq"].to_numpy())
            if suffix == "bins"
            else records[f"{name}_raw_n_larger"].to_numpy()[:, None]
            for name, suffix in _layout()
        ]
    )
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def _layout():
    for name, has_larger in (
        ("gq_hist_all", True),
        ("dp_hist_all", True),
        ("gq_hist_alt", True),
        ("dp_hist_alt", True),
        ("ab_hist_alt", False),
    ):
        yield name, "bins"
        if has_larger:
            yield name, "n_larger"


# ---------------------------------------------------------------- F and HWE: naive twins


def naive_hwe(hom_ref: int, het: int, hom_alt: int) -> tuple[float, float]:
    """Two-sided and excess-het exact HWE p from exact fractions: P(h) = C(n, h)
    C(n - h, n_AA) 2^h / C(2n, n_a) (which genotypes are het, which of the rest hom-ref,
    the hets' two allele orders, over every placement of the alt alleles)."""
    n = hom_ref + het + hom_alt
    n_alt = 2 * hom_alt + het
    total = math.comb(2 * n, n_alt)
    probs = {}
    for h in range(n_alt % 2, min(n_alt, 2 * n - n_alt) + 1, 2):
        aa = (n_alt - h) // 2
        rr = n - h - aa
        if rr < 0:
            continue
        probs[h] = Fraction(math.comb(n, h) * math.comb(n - h, rr) * 2**h, total)
    assert sum(probs.values()) == 1
    observed = probs[het]
    two_sided = sum(p for p in probs.values() if p <= observed)
    excess = sum(p for h, p in probs.items() if h >= het)
    return float(two_sided), float(excess)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_hwe_matches_exact_fractions(hom_ref, het, hom_alt):
    if hom_ref + het + hom_alt == 0:
        return
    two_sided, excess = hardy_weinberg_p([hom_ref], [het], [hom_alt])
    want_two, want_excess = naive_hwe(hom_ref, het, hom_alt)
    assert two_sided[0] == pytest.approx(want_two, rel=1e-9, abs=1e-300)
    assert excess[0] == pytest.approx(want_excess, rel=1e-9, abs=1e-300)


def per_triple_hwe(hom_ref: int, het: int, hom_alt: int) -> tuple[float, float]:
    """The exact HWE test of one triple, one numpy array per triple: the loop the merge ran
    before the computation went flat over all triples (the twin it must equal bit for bit)."""
    from europanel.core.sitestats import log_factorials

    n = hom_ref + het + hom_alt
    rare = 2 * min(hom_ref, hom_alt) + het
    if n == 0:
        return math.nan, math.nan
    common = 2 * n - rare
    h = np.arange(rare % 2, rare + 1, 2)
    log_fact = log_factorials(2 * n)
    log_p = (
        log_fact[n]
        - log_fact[(rare - h) // 2]
        - log_fact[h]
        - log_fact[(common - h) // 2]
        + h * math.log(2)
        + log_fact[rare]
        + log_fact[common]
        - log_fact[2 * n]
    )
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    observed = p[(het - rare % 2) // 2]
    two_sided = min(1.0, float(p[p <= observed * (1 + 1e-7)].sum()))
    excess = min(1.0, float(p[h >= het].sum()))
    return two_sided, excess


triples = st.tuples(st.integers(0, 1500), st.integers(0, 1500), st.integers(0, 1500))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(triples, triples.map(lambda t: (t[0], t[1] % 9, t[2] % 5))), max_size=60))
def test_hwe_equals_the_per_triple_loop_bit_for_bit(counts):
    """All triples at once (and in batches of a few het counts) give the same floats."""
    counts = counts + [(0, 0, 0), (1000, 0, 0), (3, 2, 1)]
    want = np.array([per_triple_hwe(*t) for t in counts])
    for batch_values in (1 << 22, 7):
        got = np.column_stack(hardy_weinberg_p(*np.array(counts).T, batch_values=batch_values))
        assert got.tobytes() == want.tobytes()


def test_hwe_known_value():
    # Wigginton et al. (2005) two-sided exact test; R LDtests::HWE2sided(c(20, 73, 7)) gives
    # pval.H = 0.007101873 for 20 hets, 73 and 7 homozygotes.
    two_sided, excess = hardy_weinberg_p([73], [20], [7])
    assert two_sided[0] == pytest.approx(0.007101873, rel=1e-6)
    assert excess[0] > 0.99  # a het deficit (LDtests pval.inbreed 0.0071): no excess


def naive_inbreeding(genotypes: list[int]) -> float:
    """F from a list of genotypes (0, 1, 2 alt alleles)."""
    n = len(genotypes)
    p_alt = Fraction(sum(genotypes), 2 * n)
    expected = 2 * p_alt * (1 - p_alt) * n
    return float(1 - Fraction(sum(g == 1 for g in genotypes)) / expected) if expected else math.nan


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=60))
def test_inbreeding_coefficient_matches_naive(genotypes):
    ac = sum(genotypes)
    an = 2 * len(genotypes)
    nhomalt = sum(g == 2 for g in genotypes)
    counts = diploid_genotype_counts([ac], [an], [nhomalt])
    assert [int(c[0]) for c in counts] == [genotypes.count(0), genotypes.count(1), nhomalt]
    got = inbreeding_coefficient(*counts)[0]
    want = naive_inbreeding(genotypes)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


# --------------------------------------------------------- heterogeneity: naive twins


def naive_table_p(ac, an) -> float:
    """Exact conditional p of a 2 x m table by enumerating every table with its margins."""
    total = sum(ac)
    n = sum(an)
    denominator = math.comb(n, total)

    def prob(table):
        return Fraction(math.prod(math.comb(a, x) for a, x in zip(an, table)), denominator)

    observed = prob(ac)
    tables = [t for t in itertools.product(*(range(a + 1) for a in an)) if sum(t) == total]
    return float(sum(p for t in tables if (p := prob(t)) <= observed))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=2, max_size=4).flatmap(
        lambda an: st.tuples(st.just(an), st.tuples(*(st.integers(0, a) for a in an)))
    )
)
def test_exact_table_p_matches_enumeration(table):
    an, ac = table
    if sum(ac) == 0 or sum(ac) == sum(an):
        return
    assert exact_table_p(tuple(ac), tuple(an)) == pytest.approx(naive_table_p(ac, an), rel=1e-9)


def per_table_exact_p(ac: tuple[int, ...], an: tuple[int, ...]) -> float | None:
    """The exact test of one table, one enumeration per table: the loop the merge ran
    before tables of equal margins shared theirs (the twin it must equal bit for bit)."""
    from europanel.core.sitestats import EXACT_MAX_TABLES, _log_choose, log_factorials

    ac_arr, an_arr = np.asarray(ac, dtype=np.int64), np.asarray(an, dtype=np.int64)
    total, n = int(ac_arr.sum()), int(an_arr.sum())
    log_fact = log_factorials(n)
    if 2 * total > n:
        ac_arr, total = an_arr - ac_arr, n - total
    log_observed = float(_log_choose(an_arr, ac_arr, log_fact).sum())
    sums, log_p = np.zeros(1, np.int64), np.zeros(1)
    for size in an_arr[:-1]:
        a = np.arange(min(int(size), total) + 1)
        sums = (sums[:, None] + a[None, :]).ravel()
        log_p = (log_p[:, None] + _log_choose(size, a, log_fact)[None, :]).ravel()
        keep = sums <= total
        sums, log_p = sums[keep], log_p[keep]
        if len(sums) > EXACT_MAX_TABLES:
            return None
    last = total - sums
    ok = last <= an_arr[-1]
    log_p = log_p[ok] + _log_choose(an_arr[-1], last[ok], log_fact)
    norm = float(_log_choose(n, total, log_fact))
    return float(min(1.0, np.exp(log_p[log_p <= log_observed + 1e-7] - norm).sum()))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda m: st.lists(
            st.lists(
                st.tuples(st.integers(0, 12), st.sampled_from([0, 40, 41, 120, 400])),
                min_size=m,
                max_size=m,
            ),
            min_size=1,
            max_size=40,
        )
    )
)
def test_heterogeneity_equals_the_per_table_loop_bit_for_bit(sites):
    """Tables sharing their margins (and the rows of one set of present cohorts) are
    tested together: the p-values are those of one test per table, to the last bit."""
    ac = np.array([[min(c, a) for c, a in site] for site in sites])
    an = np.array([[a for _, a in site] for site in sites])
    ac, an = np.vstack([ac, ac[:3]]), np.vstack([an, an[:3]])  # repeated tables
    got = heterogeneity_p(ac, an)
    for i in range(len(ac)):
        present = an[i] > 0
        table = (tuple(ac[i, present]), tuple(an[i, present]))
        total, n = sum(table[0]), sum(table[1])
        if present.sum() < 2 or total in (0, n):
            assert math.isnan(got[i])
            continue
        af = total / n
        if min(min(a * af, a * (1 - af)) for a in table[1]) >= 5:
            continue  # the chi-square test
        want = per_table_exact_p(*table)
        if want is not None:  # (too many tables: the chi-square test)
            assert np.float64(want).tobytes() == got[i].tobytes()


def test_heterogeneity_uses_chi_square_for_large_counts():
    ac = np.array([[300, 420, 350]])
    an = np.array([[2000, 2200, 1900]])
    table = np.array([ac[0], an[0] - ac[0]])
    want = chi2_contingency(table, correction=False)[1]
    assert heterogeneity_p(ac, an)[0] == pytest.approx(want, rel=1e-9)


def test_heterogeneity_leaves_out_uncalled_cohorts_and_monomorphic_sites():
    ac = np.array([[1, 0, 3], [0, 0, 0], [3, 9, 0]])
    an = np.array([[100, 0, 90], [100, 100, 100], [0, 0, 50]])
    p = heterogeneity_p(ac, an)  # expected alt counts < 5: the exact test
    assert p[0] == pytest.approx(naive_table_p([1, 3], [100, 90]), rel=1e-9)
    assert math.isnan(p[1]) and math.isnan(p[2])


def test_combine_min_bonferroni():
    p = combine_min_bonferroni(np.array([[0.01, 0.5], [np.nan, 0.2], [np.nan, np.nan]]))
    assert p[0] == pytest.approx(0.02) and p[1] == pytest.approx(0.2) and math.isnan(p[2])


def test_weighted_af_matches_naive():
    ac = np.array([[1, 10, 0], [2, 0, 5]])
    an = np.array([[10, 100, 0], [20, 0, 50]])
    weights = np.array([2.0, 3.0, 5.0])
    got = weighted_allele_frequency(ac, an, weights)
    assert got[0] == pytest.approx((2 * 0.1 + 3 * 0.1) / 5)  # cohort 3 not callable
    assert got[1] == pytest.approx((2 * 0.1 + 5 * 0.1) / 7)


# ------------------------------------------------------ simulation: drift vs an artefact

DRIFT_SITES = 20_000
STATED_FALSE_FLAG_RATE = 1e-3  # at the default threshold, on drift with Fst = 0.005


def test_country_het_flags_an_artefact_and_not_drift():
    """Five cohorts of one population (1000 genomes each) drawn from a shared AF with
    Balding-Nichols drift (Fst 0.005, ~ neighbouring European countries); at one site one
    cohort's caller is wrong (its AF forced to 0.5 where the others are at 0.05)."""
    rng = np.random.default_rng(2026)
    fst = 0.005
    cohorts, an_per_cohort = 5, 2000
    base = rng.uniform(0.001, 0.5, DRIFT_SITES)
    shape = (1 - fst) / fst
    af = rng.beta(base[:, None] * shape, (1 - base[:, None]) * shape, size=(DRIFT_SITES, cohorts))
    an = np.full((DRIFT_SITES + 1, cohorts), an_per_cohort)
    ac = np.empty_like(an)
    ac[:-1] = rng.binomial(an_per_cohort, af)
    ac[-1] = rng.binomial(an_per_cohort, [0.05, 0.05, 0.5, 0.05, 0.05])  # the artefact
    policy = SiteAnnotationPolicy()
    assert policy.country_het_fst == fst  # the default allows this much drift
    p = combine_min_bonferroni(heterogeneity_p(ac, an, policy.country_het_fst)[:, None])
    flagged = np.nan_to_num(p, nan=1.0) < policy.country_het_p
    assert flagged[-1], p[-1]
    false_rate = flagged[:-1].mean()
    print(f"false-flag rate on drift: {false_rate:.2e} ({flagged[:-1].sum()} / {DRIFT_SITES})")
    assert false_rate <= STATED_FALSE_FLAG_RATE


# ------------------------------------------------------------------- the demo panel


def pysam_histograms(normalised) -> dict[tuple[int, str, str], dict[str, list[int]]]:
    """chr20 histograms summed over the cohorts' normalised BCFs (`demo_normalised`), read
    with pysam: an oracle that shares no code with the counting core."""
    import pysam

    genotypes: dict[tuple[int, str, str], list[dict]] = {}
    for bcf in sorted(normalised.glob("*/chr20-*.bcf")):
        with pysam.VariantFile(str(bcf)) as vcf:
            for rec in vcf:
                alt = rec.alts[0] if rec.alts else "."
                if list(rec.filter) not in ([], ["PASS"]) or alt.startswith("<") or alt == "*":
                    continue
                calls = genotypes.setdefault((rec.pos, rec.ref, alt), [])
                for sample in rec.samples.values():
                    gt = sample["GT"]
                    called = gt is not None and len(gt) == 2 and None not in gt
                    ad = sample.get("AD") if "AD" in sample else None
                    calls.append(
                        {
                            "called": called,
                            "alt": called and 1 in gt,
                            "het": called and gt[0] != gt[1],
                            "gq": sample.get("GQ") if "GQ" in sample else None,
                            "dp": sample.get("DP") if "DP" in sample else None,
                            "ad_ref": ad[0] if ad and len(ad) > 1 else None,
                            "ad_alt": ad[1] if ad and len(ad) > 1 else None,
                        }
                    )
    return {key: naive_histograms(calls) for key, calls in genotypes.items()}


def test_demo_panel_histograms_match_pysam(demo_run, demo_normalised):
    table = pd.read_parquet(demo_run / "results" / "panel" / "demo.sites.parquet")
    chr20 = table[table["CHROM"] == "chr20"]
    oracle = pysam_histograms(demo_normalised)
    assert len(chr20) > 100
    problems = []
    for row in chr20.itertuples(index=False):
        want = oracle[(row.POS, row.REF, row.ALT)]
        for name in ("gq_hist_all", "dp_hist_all", "gq_hist_alt", "dp_hist_alt", "ab_hist_alt"):
            got = list(getattr(row, f"{name}_raw_bin_freq"))
            if got != want[name][:HIST_BINS]:
                problems.append(f"{row.POS} {row.REF}>{row.ALT} {name}: {got} vs {want[name]}")
        if row.dp_hist_all_raw_n_larger != want["dp_hist_all"][HIST_BINS]:
            problems.append(f"{row.POS} dp_hist_all_raw_n_larger")
    assert not problems, problems[:5]


def test_demo_panel_carries_site_annotations(demo_run, demo_vcf):
    import pysam

    table = pd.read_parquet(demo_run / "results" / "panel" / "demo.sites.parquet")
    with pysam.VariantFile(str(demo_vcf)) as vcf:
        header = vcf.header
        info = set(header.info.keys())
        weights_line = [r.value for r in header.records if r.key == "AF_weighted_weights"]
    for field in (
        "gq_hist_all_raw_bin_freq",
        "dp_hist_alt_raw_n_larger",
        "ab_hist_alt_raw_bin_freq",
        "inbreeding_coeff",
        "hwe_p",
        "excess_het_p",
        "inbreeding_coeff_NWE",
        "country_het_p",
        "country_het",
        "AF_weighted",
    ):
        assert field in info and field in table.columns, field
    assert header.info["gq_hist_all_raw_bin_freq"].number == "A"
    assert header.info["country_het"].type == "Flag"
    assert "InbreedingCoeff" in header.filters
    assert table["gq_hist_all_raw_bin_freq"].map(len).eq(HIST_BINS).all()
    # AF_weighted recomputed from the published cohort AFs and the header's weights.
    weights = dict(item.split("=") for item in weights_line[0].split(","))
    cohorts = sorted(weights)
    ac = table[[f"AC_{c}" for c in cohorts]].to_numpy()
    an = table[[f"AN_{c}" for c in cohorts]].to_numpy()
    w = np.array([float(weights[c]) for c in cohorts])
    want = [
        sum(w[i] * ac[r, i] / an[r, i] for i in range(len(cohorts)) if an[r, i] > 0)
        / sum(w[i] for i in range(len(cohorts)) if an[r, i] > 0)
        for r in range(len(table))
    ]
    np.testing.assert_allclose(table["AF_weighted"].to_numpy(), want, rtol=1e-12)
    # F and HWE on chr20 from the published genotype counts (autosomal: every sample).
    chr20 = table[table["CHROM"] == "chr20"]
    hom_ref, het, hom_alt = diploid_genotype_counts(chr20["AC"], chr20["AN"], chr20["nhomalt"])
    for i in range(0, len(chr20), 25):
        counts = (int(hom_ref[i]), int(het[i]), int(hom_alt[i]))
        want_two, want_excess = naive_hwe(*counts)
        assert chr20["hwe_p"].iloc[i] == pytest.approx(want_two, rel=1e-9)
        assert chr20["excess_het_p"].iloc[i] == pytest.approx(want_excess, rel=1e-9)
    # The report's figure of the flag by cohort pair.
    assert (demo_run / "results" / "report" / "country_het.png").stat().st_size > 0


def test_per_record_withheld_groups_get_no_annotation():
    """With a per-record disclosure mask, F/HWE of a population and a cohort's share of
    AF_weighted are left out where that group is withheld."""
    from europanel.core.sitestats import site_annotation_columns

    n = 4
    counts = {"AC": np.array([10, 10, 10, 10]), "AN": np.full(n, 100), "nhomalt": np.ones(n)}

    def adj(stat, group):
        return counts[stat]

    cohort_adj = {
        c: {("AC", c): np.array([5, 5, 5, 5]), ("AN", c): np.full(n, 50)} for c in ("AA", "BB")
    }
    cohort_adj["BB"][("AC", "BB")] = np.array([0, 0, 0, 0])
    withheld_at = {"POPA": np.array([True, False, True, True]), "BB": np.array([1, 1, 0, 1])}
    out = site_annotation_columns(
        np.zeros(n, np.int8),
        adj,
        ["POPA"],
        cohort_adj,
        ["AA", "BB"],
        None,
        SiteAnnotationPolicy(weights={"AA": 1.0, "BB": 3.0}),
        published_at=lambda g: withheld_at.get(g, np.ones(n, bool)).astype(bool),
    )
    assert np.isnan(out["inbreeding_coeff_POPA"]).tolist() == [False, True, False, False]
    assert not np.isnan(out["inbreeding_coeff"]).any()
    # BB (AF 0, weight 3) withheld at record 2: AF_weighted there is AA's AF alone.
    np.testing.assert_allclose(out["AF_weighted"], [0.025, 0.025, 0.1, 0.025])


def test_cohort_weight_must_be_a_positive_number_given_once_per_cohort(tmp_path):
    from europanel.core.sitestats import cohort_weights
    from europanel.io.sheets import InputError, load_cohort_sheet

    sheet = tmp_path / "cohorts.tsv"
    sheet.write_text(
        "cohort\tvcf\tweight\nNL\tnl.vcf.gz\t17.9\nEE\tee.vcf.gz\t-1\nIT\tit.vcf.gz\tmany\n"
    )
    with pytest.raises(InputError) as error:
        load_cohort_sheet(str(sheet))
    message = str(error.value)
    assert "line 3" in message and "'-1' is not a positive number" in message
    assert "line 4" in message and "'many'" in message
    sheet.write_text("cohort\tvcf\tweight\nNL\ta.vcf.gz\t1\nNL\tb.vcf.gz\t2\n")
    with pytest.raises(InputError, match="different weights"):
        load_cohort_sheet(str(sheet))
    sheet.write_text("cohort\tvcf\tweight\nNL\ta.vcf.gz\t17.9\nEE\tb.vcf.gz\t1.37\n")
    load_cohort_sheet(str(sheet))
    frame = pd.read_csv(sheet, sep="\t", dtype=str)
    assert cohort_weights(frame) == {"NL": 17.9, "EE": 1.37}
