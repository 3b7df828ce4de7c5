"""Derived frequencies: AF, filtering allele frequency (faf) and grpmax (DESIGN §4)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammainccinv


def allele_frequency(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """AC/AN, NaN where AN is 0 (published as absent)."""
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(an > 0, ac / np.where(an > 0, an, 1), np.nan)


def filtering_allele_frequency(ac: np.ndarray, an: np.ndarray, confidence: float) -> np.ndarray:
    """The largest AF whose Poisson(AN*AF) upper `confidence` quantile is below AC.

    Hail's filtering_allele_frequency finds it by root-finding on qpois; the
    boundary is where P(X <= AC-1 | lambda) = confidence, i.e. lambda is the
    inverse of the regularised upper incomplete gamma Q(AC, lambda), so it has a
    closed form. 0 where AC <= 1 or AN is 0 (faf is not computed on singletons).
    """
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    defined = (ac > 1) & (an > 0)
    # The quantile depends on AC alone, and a chunk has few distinct ACs: one call each.
    distinct, inverse = np.unique(np.where(defined, ac, 2.0), return_inverse=True)
    lam = gammainccinv(distinct, confidence)[inverse.reshape(ac.shape)]
    return np.where(defined, lam / np.where(an > 0, an, 1.0), 0.0)


def grpmax(ac: np.ndarray, an: np.ndarray, populations: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per site, the index of the population with the highest AF among those with AC > 0.

    `ac`, `an`: (sites x populations). Returns (index, has_any); ties go to the
    earlier population in `populations` (sorted labels), so the choice is stable.
    """
    if not populations:
        n = len(ac)
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    af = allele_frequency(ac, an)
    eligible = (np.asarray(ac) > 0) & ~np.isnan(af)
    scored = np.where(eligible, af, -1.0)
    return scored.argmax(axis=1), eligible.any(axis=1)
