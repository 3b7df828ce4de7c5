"""A naive reference implementation of DESIGN §4's counts: the independent oracle for count.py.

Written from the DESIGN text, one genotype at a time with plain loops and ifs,
so that it is obviously right rather than fast. It shares no code with the
package: ploidy rules, genotype interpretation and gnomAD's adj criteria are
spelled out here again.

Inputs, per site:
- the site's ploidy class: "autosomal" (autosomes and PAR), "x_nonpar", "y_nonpar";
- per sample: its sex ("XX", "XY" or "NA") and the names of the groups it counts in;
- per sample: a `Call` with the genotype as a tuple of allele indices
  (`None` for a missing allele; a haploid call is a 1-tuple; `None` for the whole
  genotype means `./.`), and DP, GQ, AD(ref), AD(alt), each `None` when missing.

Output: counts[(level, stat)][group] for level in ("raw", "adj") and stat in
("AC", "AN", "nhomalt", "nhemi", "ncarrier").
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("raw", "adj")
STATS = ("AC", "AN", "nhomalt", "nhemi", "ncarrier")

AUTOSOMAL = "autosomal"
X_NONPAR = "x_nonpar"
Y_NONPAR = "y_nonpar"
Y_PAR = "y_par"


@dataclass(frozen=True)
class Call:
    """One sample's FORMAT values at one site."""

    gt: tuple | None
    dp: int | None = None
    gq: int | None = None
    ad_ref: int | None = None
    ad_alt: int | None = None


@dataclass(frozen=True)
class Thresholds:
    """gnomAD's adj thresholds; None switches a criterion off."""

    min_gq: int | None = 20
    min_dp: int | None = 10
    min_dp_haploid: int | None = 5
    min_het_ab: float | None = 0.2


def expected_ploidy(sex: str, site_class: str) -> int:
    """How many alleles a sample of this sex carries at a site of this class (0 = not counted)."""
    if site_class == AUTOSOMAL:
        return 2  # everyone, including unknown sex
    if site_class == X_NONPAR:
        if sex == "XX":
            return 2
        if sex == "XY":
            return 1
        return 0  # unknown sex: not counted on non-PAR X
    if site_class == Y_NONPAR:
        if sex == "XY":
            return 1
        return 0  # XX and unknown sex: not counted on chrY
    if site_class == Y_PAR:
        if sex == "XX":
            return 0  # an XX sample has no Y: not counted anywhere on chrY (gnomAD too)
        return 2  # XY, and unknown sex (counted on PAR)
    raise ValueError(f"unknown ploidy class {site_class!r}")


def called_alleles(gt: tuple | None, ploidy: int) -> tuple | None:
    """The alleles this genotype counts with at the expected ploidy, or None if it is missing."""
    if ploidy == 0 or gt is None:
        return None
    if ploidy == 2:
        if len(gt) != 2:
            return None  # a haploid-written call where diploid is expected
        first, second = gt
        if first is None or second is None:
            return None  # `./.`, and also `./1`: half-missing is missing
        return (first, second)
    # ploidy 1: an XY sample on non-PAR X or Y
    if len(gt) == 1:
        (allele,) = gt
        if allele is None:
            return None
        return (allele,)
    first, second = gt
    if first is None or second is None:
        return None
    if first != second:
        return None  # an XY het on non-PAR X/Y is impossible: missing
    return (first,)  # `1/1` written where haploid is expected is the haploid call `1`


def passes_adj(call: Call, alleles: tuple, qc: Thresholds) -> bool:
    """gnomAD's adj for a called genotype; a missing value fails a criterion that needs it."""
    haploid = len(alleles) == 1

    if qc.min_gq is not None:
        if call.gq is None or call.gq < qc.min_gq:
            return False

    if haploid:
        min_depth = qc.min_dp_haploid
    else:
        min_depth = qc.min_dp
    if min_depth is not None:
        if call.dp is None or call.dp < min_depth:
            return False

    is_het = (not haploid) and alleles[0] != alleles[1]
    if is_het and qc.min_het_ab is not None:
        if call.ad_alt is None:
            return False
        if call.dp is not None:
            depth = call.dp
        elif call.ad_ref is not None:
            depth = call.ad_ref + call.ad_alt  # DP absent: the sum of AD stands in
        else:
            return False
        if depth == 0:
            return False  # no reads: the allele balance is undefined
        if call.ad_alt / depth < qc.min_het_ab:
            return False

    return True


def count_site(
    site_class: str,
    sexes: list[str],
    sample_groups: list[list[str]],
    calls: list[Call],
    qc: Thresholds,
    groups: list[str],
) -> dict[tuple[str, str], dict[str, int]]:
    """counts[(level, stat)][group] at one site."""
    counts = {(level, stat): {g: 0 for g in groups} for level in LEVELS for stat in STATS}
    for sex, my_groups, call in zip(sexes, sample_groups, calls):
        ploidy = expected_ploidy(sex, site_class)
        alleles = called_alleles(call.gt, ploidy)
        if alleles is None:
            continue
        levels = ["raw"]
        if passes_adj(call, alleles, qc):
            levels.append("adj")

        n_alt = 0
        for allele in alleles:
            if allele != 0:
                n_alt += 1
        contribution = {
            "AC": n_alt,
            "AN": len(alleles),
            "nhomalt": 1 if (len(alleles) == 2 and n_alt == 2) else 0,
            "nhemi": 1 if (len(alleles) == 1 and n_alt == 1) else 0,
            "ncarrier": 1 if n_alt >= 1 else 0,
        }
        for level in levels:
            for group in my_groups:
                if group not in groups:
                    continue
                for stat in STATS:
                    counts[(level, stat)][group] += contribution[stat]
    return counts


def count_sites(
    site_classes: list[str],
    sexes: list[str],
    sample_groups: list[list[str]],
    calls_by_site: list[list[Call]],
    qc: Thresholds,
    groups: list[str],
) -> list[dict[tuple[str, str], dict[str, int]]]:
    """count_site for each site in turn."""
    return [
        count_site(site_class, sexes, sample_groups, calls, qc, groups)
        for site_class, calls in zip(site_classes, calls_by_site)
    ]
