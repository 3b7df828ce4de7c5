"""AF, filtering allele frequency (faf95/faf99) and grpmax against their definitions (DESIGN §4).

faf is checked against a value derived here from the definition alone, by
root-finding on the Poisson CDF (not the package's closed form), and by
checking the Poisson quantile on either side of it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import lambertw
from scipy.stats import poisson

from europanel.core.frequencies import allele_frequency, filtering_allele_frequency, grpmax

CONFIDENCES = (0.95, 0.99)


def faf_by_root_finding(ac: int, an: int, confidence: float) -> float:
    """The largest AF whose Poisson(AN*AF) upper `confidence` quantile is still below AC.

    poisson.ppf(confidence, lam) <= AC-1 exactly when P(X <= AC-1 | lam) >= confidence, and
    that probability falls as lam grows, so the boundary is the root of
    P(X <= AC-1 | lam) = confidence.
    """
    if ac <= 1 or an == 0:
        return 0.0
    upper = ac + 50 * math.sqrt(ac) + 50  # far beyond the root: the CDF there is ~0
    lam = brentq(
        lambda lam: poisson.cdf(ac - 1, lam) - confidence,
        1e-12,
        upper,
        xtol=1e-300,
        rtol=1e-15,
        maxiter=500,
    )
    return lam / an


def faf(ac, an, confidence) -> float:
    return float(filtering_allele_frequency(np.array([ac]), np.array([an]), confidence)[0])


GRID = [(ac, an) for ac in (2, 3, 5, 10, 100, 1000) for an in (100, 2000, 200_000) if ac <= an]


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("ac, an", GRID)
def test_faf_matches_root_finding(ac, an, confidence):
    expected = faf_by_root_finding(ac, an, confidence)
    assert faf(ac, an, confidence) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("ac, an", GRID)
def test_faf_is_the_boundary_of_the_poisson_quantile(ac, an, confidence):
    value = faf(ac, an, confidence)
    # Just below faf the upper quantile is still below AC; just above it, it reaches AC.
    assert poisson.ppf(confidence, an * value * (1 - 1e-6)) <= ac - 1
    assert poisson.ppf(confidence, an * value * (1 + 1e-6)) >= ac


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("ac, an", [(0, 100), (1, 100), (1, 2), (0, 0), (1, 0), (5, 0)])
def test_faf_is_zero_for_singletons_and_empty_groups(ac, an, confidence):
    assert faf(ac, an, confidence) == 0.0


def test_faf_is_vectorised_and_keeps_shape():
    ac = np.array([[0, 1, 2], [3, 10, 100]])
    an = np.array([[0, 100, 100], [0, 2000, 200_000]])
    result = filtering_allele_frequency(ac, an, 0.95)
    assert result.shape == ac.shape
    expected = [
        [faf_by_root_finding(c, n, 0.95) for c, n in zip(r_ac, r_an)] for r_ac, r_an in zip(ac, an)
    ]
    np.testing.assert_allclose(result, expected, rtol=1e-6)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_faf_for_two_alleles_has_a_closed_form(confidence):
    # Hand check for AC = 2: P(X <= 1 | lam) = (1 + lam) e^-lam = c. With u = 1 + lam,
    # -u e^-u = -c/e, so u = -W_{-1}(-c/e) (the lower branch of Lambert's W: u > 1).
    lam = -lambertw(-confidence / math.e, -1).real - 1
    assert faf(2, 1000, confidence) == pytest.approx(lam / 1000, rel=1e-9)


def test_faf_hand_checked_numbers():
    # (1 + lam) e^-lam = 0.95 at lam = 0.355362; = 0.99 at lam = 0.148554.
    assert faf(2, 1000, 0.95) == pytest.approx(0.355362 / 1000, rel=1e-5)
    assert faf(2, 1000, 0.99) == pytest.approx(0.148554 / 1000, rel=1e-5)
    # faf is below AF and faf99 below faf95.
    for ac, an in GRID:
        assert 0 < faf(ac, an, 0.99) < faf(ac, an, 0.95) < ac / an


def test_allele_frequency_is_nan_where_an_is_zero():
    af = allele_frequency(np.array([[0, 1, 0], [3, 0, 2]]), np.array([[0, 4, 10], [6, 0, 2]]))
    assert np.isnan(af[0, 0]) and np.isnan(af[1, 1])
    np.testing.assert_array_equal(af[0, 1:], [0.25, 0.0])
    np.testing.assert_array_equal(af[1, [0, 2]], [0.5, 1.0])


POPS = ["AFR", "EAS", "NFE"]


def test_grpmax_picks_highest_af():
    index, has_any = grpmax(np.array([[1, 5, 2]]), np.array([[100, 100, 10]]), POPS)
    assert has_any.tolist() == [True]
    assert index.tolist() == [2]  # 2/10 beats 5/100


def test_grpmax_ties_go_to_the_earlier_population():
    index, has_any = grpmax(np.array([[0, 2, 4]]), np.array([[10, 20, 40]]), POPS)
    assert (index.tolist(), has_any.tolist()) == ([1], [True])
    index, _ = grpmax(np.array([[1, 1, 1]]), np.array([[10, 10, 10]]), POPS)
    assert index.tolist() == [0]


def test_grpmax_ignores_populations_without_carriers_or_alleles():
    # AFR has AC 0; EAS has AN 0; only NFE is eligible.
    index, has_any = grpmax(np.array([[0, 0, 1]]), np.array([[10, 0, 1000]]), POPS)
    assert (index.tolist(), has_any.tolist()) == ([2], [True])


def test_grpmax_none_eligible():
    index, has_any = grpmax(
        np.array([[0, 0, 0], [0, 0, 0]]), np.array([[10, 0, 4], [0, 0, 0]]), POPS
    )
    assert has_any.tolist() == [False, False]


def test_grpmax_without_populations():
    index, has_any = grpmax(np.zeros((3, 0), dtype=int), np.zeros((3, 0), dtype=int), [])
    assert has_any.tolist() == [False, False, False]
    assert len(index) == 3


def test_grpmax_per_site():
    ac = np.array([[3, 0, 1], [0, 0, 0], [2, 2, 0]])
    an = np.array([[10, 10, 2], [10, 10, 10], [8, 4, 0]])
    index, has_any = grpmax(ac, an, POPS)
    assert has_any.tolist() == [True, False, True]
    assert index[[0, 2]].tolist() == [2, 1]  # 1/2 beats 3/10; 2/4 beats 2/8
