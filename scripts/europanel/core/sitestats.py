"""Site annotations summable across countries (issue 15): inbreeding coefficient and
Hardy-Weinberg tests, cross-country heterogeneity, population-weighted AF, and the INFO
definitions of these and of the quality histograms (europanel.core.histograms).

Everything here is a pure numpy/scipy function of summed counts, computed by the merge, so
that a bundle carries only sums and the merge of bundles equals counting all genotypes
together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from europanel.core.histograms import HIST_BINS, HIST_EDGES, HISTOGRAMS
from europanel.core.regions import AUTOSOMAL, X_NONPAR, Y_NONPAR

# --- genotype counts, inbreeding coefficient, Hardy-Weinberg -------------------------------


def diploid_genotype_counts(ac, an, nhomalt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hom-ref, het, hom-alt) genotype counts of a group whose calls are all diploid
    (autosomes and PAR; XX samples on non-PAR X), from its AC, AN and nhomalt."""
    ac, an, nhomalt = (np.asarray(a, dtype=np.int64) for a in (ac, an, nhomalt))
    het = ac - 2 * nhomalt
    return an // 2 - het - nhomalt, het, nhomalt


def inbreeding_coefficient(hom_ref, het, hom_alt) -> np.ndarray:
    """F = 1 - observed het / expected het (2pqn), as gnomAD's bi_allelic_site_inbreeding_expr;
    NaN where no genotype is called or the site is monomorphic among them."""
    hom_ref, het, hom_alt = (np.asarray(a, dtype=np.float64) for a in (hom_ref, het, hom_alt))
    n = hom_ref + het + hom_alt
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (2 * hom_ref + het) / (2 * n)
        expected = 2 * p * (1 - p) * n
        return np.where(expected > 0, 1 - het / expected, np.nan)


_LOG_FACTORIALS = np.zeros(0)  # log(m!) = gammaln(m + 1) for m < len, grown on demand


def log_factorials(top: int) -> np.ndarray:
    """A table of log(m!) for m = 0..top at least (gammaln(m + 1), the same floats): the
    merge's exact tests ask for the same few thousand values ~10^5 times per chunk, and a
    scipy call per value was most of their time."""
    global _LOG_FACTORIALS
    if top >= len(_LOG_FACTORIALS):
        from scipy.special import gammaln

        size = max(int(top) + 1, 2 * len(_LOG_FACTORIALS), 1024)
        _LOG_FACTORIALS = gammaln(np.arange(size, dtype=np.int64) + 1)
    return _LOG_FACTORIALS


# Het-count probabilities at once: ~12 arrays of 8 bytes each, small enough to stay in
# the CPU cache between the steps (2x faster than 1 << 20 values at once).
HWE_BATCH_VALUES = 1 << 16


def hardy_weinberg_p(
    hom_ref, het, hom_alt, batch_values: int = HWE_BATCH_VALUES
) -> tuple[np.ndarray, np.ndarray]:
    """Exact HWE p-values (two-sided, and one-sided for excess heterozygosity) per site.

    Wigginton, Cutler & Abecasis (2005): given n genotypes and the rare allele count,
    the het count h has P(h) = n! / (n_AA! h! n_aa!) 2^h n_A! n_a! / (2n)!. Two-sided:
    the sum of P(h) over h at most as likely as observed; excess het: P(H >= h_obs).
    One computation per distinct (hom-ref, het, hom-alt) triple (most sites share their
    counts with others, rare variants above all), all triples at once in batches.
    NaN where no genotype is called.
    """
    triples = np.column_stack([np.asarray(a, dtype=np.int64) for a in (hom_ref, het, hom_alt)])
    two_sided = np.full(len(triples), np.nan)
    excess = np.full(len(triples), np.nan)
    if not len(triples):
        return two_sided, excess
    unique, inverse = distinct_rows(triples)
    unique_two, unique_excess = np.full(len(unique), np.nan), np.full(len(unique), np.nan)
    called = np.flatnonzero(unique.sum(axis=1) > 0)
    rare = 2 * np.minimum(unique[called, 0], unique[called, 2]) + unique[called, 1]
    # Triples by number of het counts: each batch's rows are then in order of length, so
    # `_row_sums` sums the probabilities in place (a p-value does not depend on its batch).
    by_length = np.argsort(rare // 2, kind="stable")
    called, rare = called[by_length], rare[by_length]
    values = np.cumsum(rare // 2 + 1)  # probabilities up to and including each triple's
    start = 0
    while start < len(called):
        # At least one triple per batch, however many het counts it has.
        stop = max(start + 1, int(np.searchsorted(values, values[start] + batch_values)))
        batch = called[start:stop]
        unique_two[batch], unique_excess[batch] = _hwe_exact(*unique[batch].T)
        start = stop
    return unique_two[inverse], unique_excess[inverse]


def distinct_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an integer matrix and each row's index among them, as
    `np.unique(matrix, axis=0, return_inverse=True)` (same order): each row as one int64
    (mixed radix, first column most significant) when the values allow, which numpy
    sorts several times faster than rows."""
    matrix = np.asarray(matrix, dtype=np.int64)
    if len(matrix) and matrix.shape[1]:
        low = matrix.min(axis=0)
        radix = matrix.max(axis=0) - low + 1
        if float(np.prod(radix.astype(np.float64))) < 2.0**62:
            codes = np.zeros(len(matrix), np.int64)
            for column, size, offset in zip(matrix.T, radix.tolist(), low.tolist()):
                codes = codes * size + (column - offset)
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
            return matrix[first], inverse.reshape(-1)
    unique, inverse = np.unique(matrix, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


def _hwe_exact(hom_ref, het, hom_alt) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided, excess-het) exact HWE p-values of genotype count triples with n > 0.

    The probabilities of all triples sit in one flat array, a triple's het counts h =
    rare % 2, rare % 2 + 2, ..., rare in order. Each float is what a per-triple loop
    computes: the same element-wise operations, and every sum is over one triple's
    values in order (`_row_sums`), so the p-values are the same to the last bit.
    """
    n = hom_ref + het + hom_alt
    rare = 2 * np.minimum(hom_ref, hom_alt) + het
    common = 2 * n - rare
    lengths = rare // 2 + 1
    row = np.repeat(np.arange(len(n)), lengths)
    starts = np.cumsum(lengths) - lengths
    place = np.arange(len(row)) - starts[row]  # h = rare % 2 + 2 * place
    h = (rare % 2)[row] + 2 * place
    log_fact = log_factorials(2 * int(n.max()))
    # log P(h), its terms added in the order of the formula (the same floats), per-triple
    # terms taken per triple then spread; (rare - h) / 2 = rare // 2 - place and
    # (common - h) / 2 = (common - rare % 2) // 2 - place (common and rare have one parity).
    log_p = log_fact[n][row]
    log_p -= log_fact[(rare // 2)[row] - place]
    log_p -= log_fact[h]
    log_p -= log_fact[((common - rare % 2) // 2)[row] - place]
    log_p += h * math.log(2)
    log_p += log_fact[rare][row]
    log_p += log_fact[common][row]
    log_p -= log_fact[2 * n][row]
    log_p -= np.maximum.reduceat(log_p, starts)[row]
    p = np.exp(log_p, out=log_p)
    p /= _row_sums(p, row, len(n))[row]  # exact up to rounding; removes the log-gamma error
    observed_place = (het - rare % 2) // 2
    at_most_as_likely = p <= (p[starts + observed_place] * (1 + 1e-7))[row]
    two_sided = _row_sums(p[at_most_as_likely], row[at_most_as_likely], len(n))
    at_least_observed = place >= observed_place[row]  # h >= het
    excess = _row_sums(p[at_least_observed], row[at_least_observed], len(n))
    return np.minimum(1.0, two_sided), np.minimum(1.0, excess)


def _row_sums(values: np.ndarray, row: np.ndarray, rows: int) -> np.ndarray:
    """Per row, the sum of its values (`row`: each value's row, rows in order, a row's
    values contiguous), summed as numpy sums a 1-D array: rows of one length are stacked
    into a matrix and summed along axis 1, which numpy does row by row with the same
    pairwise summation (a plain cumulative sum would round differently)."""
    lengths = np.bincount(row, minlength=rows)
    if (lengths[1:] >= lengths[:-1]).all():  # rows already by length (hardy_weinberg_p)
        by_length, ordered = np.arange(rows), values
    else:
        by_length = np.argsort(lengths, kind="stable")
        # Each value's place once rows are ordered by length (a stable order of the rows,
        # not a sort of the values): the row's new start plus the value's place in its row.
        starts = np.cumsum(lengths) - lengths
        new_starts = np.empty(rows, np.int64)
        new_starts[by_length] = np.cumsum(lengths[by_length]) - lengths[by_length]
        ordered = np.empty_like(values)
        ordered[np.arange(len(values)) + (new_starts - starts)[row]] = values
    sums = np.zeros(rows)
    first_row = first_value = 0
    for length, count in zip(*np.unique(lengths[by_length], return_counts=True)):
        block = ordered[first_value : first_value + length * count].reshape(count, length)
        sums[by_length[first_row : first_row + count]] = block.sum(axis=1)
        first_row += count
        first_value += length * count
    return sums


# --- cross-country heterogeneity ----------------------------------------------------------

EXACT_MAX_TABLES = 200_000  # beyond this many tables, the chi-square approximation
MIN_EXPECTED = 5.0  # Cochran's rule: below this expected count, the exact test


def _log_choose(n, k, log_fact: np.ndarray):
    """log(n choose k) for 0 <= k <= n, from a `log_factorials` table covering n."""
    return log_fact[n] - log_fact[k] - log_fact[np.subtract(n, k)]


def exact_table_p(ac: tuple[int, ...], an: tuple[int, ...]) -> float | None:
    """Exact conditional test of equal allele frequency across cohorts (a 2 x m table with
    fixed margins: the cohorts' AN and the total AC): the probability of tables at most as
    likely as the observed one (Fisher-Freeman-Halton). None if too many tables."""
    p = exact_table_ps(np.asarray([ac], dtype=np.int64), np.asarray([an], dtype=np.int64))[0]
    return None if np.isnan(p) else float(p)


def exact_table_ps(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """`exact_table_p` of each row of `ac` and `an` (tables x cohorts), NaN where a row has
    too many tables. The tables of a row depend only on its AN and minor-allele total, so
    they are enumerated once per distinct (AN, total) and shared by the rows that have
    them; each row's p is the same float a row-by-row computation gives (its sum over its
    own tables in enumeration order, by `_row_sums`)."""
    ac, an = np.asarray(ac, dtype=np.int64), np.asarray(an, dtype=np.int64)
    bad = np.flatnonzero(((ac < 0) | (ac > an)).any(axis=1))
    if len(bad):
        raise ValueError(f"allele counts {tuple(ac[bad[0]])} outside 0..AN {tuple(an[bad[0]])}")
    p = np.full(len(ac), np.nan)
    if not len(ac):
        return p
    total, n = ac.sum(axis=1), an.sum(axis=1)
    flip = 2 * total > n  # the minor allele has fewer tables; P is the same
    ac = np.where(flip[:, None], an - ac, ac)
    total = np.where(flip, n - total, total)
    log_fact = log_factorials(int(n.max()))
    log_observed = _log_choose(an, ac, log_fact).sum(axis=1)
    margins, which = distinct_rows(np.column_stack([an, total]))
    order = np.argsort(which, kind="stable")
    members_of = np.split(order, np.cumsum(np.bincount(which, minlength=len(margins)))[:-1])
    for (*margin_an, margin_total), members in zip(margins.tolist(), members_of):
        log_p = _table_log_probabilities(np.asarray(margin_an), margin_total, log_fact)
        if log_p is None:
            continue
        norm = float(_log_choose(sum(margin_an), margin_total, log_fact))
        probabilities = np.exp(log_p - norm)
        # Each row sums the probabilities of the tables at most as likely as its own.
        for row, threshold in zip(members.tolist(), (log_observed[members] + 1e-7).tolist()):
            p[row] = min(1.0, probabilities[log_p <= threshold].sum())
    return p


def _table_log_probabilities(an: np.ndarray, total: int, log_fact: np.ndarray):
    """log P (up to the normalising constant) of every 2 x m table with column sums `an`
    and first-row sum `total`, in lexicographic order of the first row; None beyond
    EXACT_MAX_TABLES tables."""
    sums, log_p = np.zeros(1, np.int64), np.zeros(1)
    for size in an[:-1]:
        a = np.arange(min(int(size), total) + 1)
        sums = (sums[:, None] + a[None, :]).ravel()
        log_p = (log_p[:, None] + _log_choose(size, a, log_fact)[None, :]).ravel()
        keep = sums <= total
        sums, log_p = sums[keep], log_p[keep]
        if len(sums) > EXACT_MAX_TABLES:
            return None
    last = total - sums
    ok = last <= an[-1]
    return log_p[ok] + _log_choose(an[-1], last[ok], log_fact)


def drift_deflated(ac: np.ndarray, an: np.ndarray, fst: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts deflated by the design effect of drift between cohorts, 1 + (AN - 1) Fst
    (Balding-Nichols: a cohort's AC has variance AN p q (1 + (AN - 1) Fst) around the shared
    AF), rounded to whole alleles: a test on them asks for a difference beyond that drift."""
    if fst <= 0:
        return ac, an
    deff = 1 + np.maximum(an - 1, 0) * fst
    an_eff = np.rint(an / deff).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ac_eff = np.where(an > 0, np.rint(ac * an_eff / np.where(an > 0, an, 1)), 0)
    return ac_eff.astype(np.int64), an_eff


def heterogeneity_p(ac: np.ndarray, an: np.ndarray, fst: float = 0.0) -> np.ndarray:
    """Per site, the p-value of equal allele frequency across cohorts (columns) beyond the
    drift `fst` allows (counts deflated by `drift_deflated`; fst 0: the plain test): exact
    where an expected count is below 5 (and the tables are few enough), Pearson's
    chi-square (df = cohorts - 1) otherwise. Cohorts with AN 0 are left out; NaN where
    fewer than two cohorts remain or the site is monomorphic among them."""
    # chi2.sf is special.chdtrc for x > 0 and 1 at x <= 0; scipy.stats alone takes ~1 s to import.
    from scipy.special import chdtrc

    ac, an = np.asarray(ac, dtype=np.int64), np.asarray(an, dtype=np.int64)
    if ac.ndim == 2:
        ac, an = drift_deflated(ac, an, fst)
    p = np.full(len(ac), np.nan)
    if ac.ndim != 2 or ac.shape[1] < 2:
        return p
    present = an > 0
    total_ac = np.where(present, ac, 0).sum(axis=1)
    total_an = np.where(present, an, 0).sum(axis=1)
    testable = (present.sum(axis=1) >= 2) & (total_ac > 0) & (total_ac < total_an)
    with np.errstate(divide="ignore", invalid="ignore"):
        af = total_ac / total_an
        exp_alt = an * af[:, None]
        exp_ref = an * (1 - af[:, None])
        terms = np.where(
            present,
            (ac - exp_alt) ** 2 / np.where(present, exp_alt, 1)
            + ((an - ac) - exp_ref) ** 2 / np.where(present, exp_ref, 1),
            0.0,
        )
        small = (np.where(present, np.minimum(exp_alt, exp_ref), np.inf) < MIN_EXPECTED).any(axis=1)
    df = present.sum(axis=1) - 1
    statistic, dof = terms.sum(axis=1)[testable], df[testable]
    p[testable] = np.where(statistic <= 0, 1.0, chdtrc(dof, statistic))
    exact = np.flatnonzero(testable & small)
    if len(exact):
        # One exact test per distinct table: a row's key is its present cohorts' counts
        # (absent cohorts -1), and rows of one set of present cohorts are tested together.
        cells = present[exact]
        keys = np.column_stack([np.where(cells, ac[exact], -1), np.where(cells, an[exact], -1)])
        tables, inverse = distinct_rows(keys)
        cohorts = ac.shape[1]
        exact_p = np.full(len(tables), np.nan)
        in_table = tables[:, cohorts:] >= 0
        patterns, pattern_of = np.unique(in_table, axis=0, return_inverse=True)
        for j, columns in enumerate(patterns):
            rows = np.flatnonzero(pattern_of.reshape(-1) == j)
            exact_p[rows] = exact_table_ps(
                tables[rows][:, :cohorts][:, columns], tables[rows][:, cohorts:][:, columns]
            )
        exact_p = exact_p[inverse]
        # Too many tables (NaN): the chi-square p stays.
        done = ~np.isnan(exact_p)
        p[exact[done]] = exact_p[done]
    return p


def combine_min_bonferroni(p_by_population: np.ndarray) -> np.ndarray:
    """Sites x populations -> one p per site: the smallest p times the number of populations
    tested there (Bonferroni), NaN where none was. An artefact of one country shows in the
    populations that country has, so the smallest p keeps the power Fisher's method would
    spread over the populations that agree."""
    p_by_population = np.asarray(p_by_population, dtype=np.float64)
    if p_by_population.ndim != 2 or p_by_population.shape[1] == 0:
        return np.full(len(p_by_population), np.nan)
    tested = (~np.isnan(p_by_population)).sum(axis=1)
    smallest = np.nanmin(np.where(tested[:, None] > 0, p_by_population, 1.0), axis=1)
    return np.where(tested > 0, np.minimum(1.0, smallest * np.maximum(tested, 1)), np.nan)


# --- population-weighted AF ---------------------------------------------------------------


def weighted_allele_frequency(ac: np.ndarray, an: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c w_c AF_c / sum_c w_c over the cohorts (columns) with AN > 0 at the site;
    NaN where there is none."""
    ac, an = np.asarray(ac, dtype=np.float64), np.asarray(an, dtype=np.float64)
    w = np.where(an > 0, np.asarray(weights, dtype=np.float64)[None, :], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(an > 0, ac / np.where(an > 0, an, 1), 0.0)
        total = w.sum(axis=1)
        return np.where(total > 0, (w * af).sum(axis=1) / np.where(total > 0, total, 1), np.nan)


# --- the merge's settings -----------------------------------------------------------------


@dataclass(frozen=True)
class SiteAnnotationPolicy:
    """What the merge adds per site, and its thresholds (config `site_annotations`)."""

    histograms: bool = True  # sum and publish the bundles' quality histograms
    inbreeding_coeff_filter: float | None = -0.3  # gnomAD's InbreedingCoeff FILTER
    country_het_p: float = 1e-8
    # Drift allowed between cohorts of one population (Fst); neighbouring European
    # countries are at ~0.001-0.005, so only differences beyond that are flagged.
    country_het_fst: float = 0.005
    weights: dict[str, float] = field(default_factory=dict)  # cohort -> weight; {} = no AF_weighted
    # (cohort, population) -> samples: only cells of at least min_cell_size enter the test
    cell_sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    min_cell_size: int = 0


def diploid_counts_of(group: str, ploidy_class: np.ndarray, adj) -> tuple[np.ndarray, ...]:
    """(hom-ref, het, hom-alt) of `group` where its calls are diploid: the group itself on
    autosomes and PAR, its XX samples (`<group>_XX`, or `XX` for all samples) on non-PAR X,
    nothing on non-PAR Y. `adj(stat, group)` gives a group's adj counts (None if withheld)."""
    n = len(ploidy_class)
    counts = [np.zeros(n, np.int64) for _ in range(3)]
    xx = "XX" if group == "" else f"{group}_XX"
    for ploidy, source in ((AUTOSOMAL, group), (X_NONPAR, xx)):
        stats = [adj(stat, source) for stat in ("AC", "AN", "nhomalt")]
        if any(s is None for s in stats):
            continue
        where = ploidy_class == ploidy
        for out, value in zip(counts, diploid_genotype_counts(*stats)):
            out[where] = value[where]
    return tuple(counts)


def site_annotation_columns(
    ploidy_class: np.ndarray,
    adj,
    populations: list[str],
    cohort_adj: dict[str, dict[tuple[str, str], np.ndarray]],
    published_cohorts: list[str],
    histograms: np.ndarray | None,
    policy: SiteAnnotationPolicy,
    published_at=None,
    heterogeneity_allowed: dict[str, np.ndarray] | None = None,
) -> dict[str, object]:
    """The merge's site-annotation columns of one chunk.

    `adj(stat, group)`: the panel's adj counts of a published group (group "" = all samples),
    None for a withheld group. `populations`: the populations published at these records
    (F and HWE are given for those only). `cohort_adj[cohort][(stat, group)]`: each cohort's
    own adj AC and AN per group, as it contributed them (called or reference). `histograms`:
    the summed histogram columns (sites x histogram_columns()), None when switched off.
    `published_at(group)`: per record, whether the group is published there (a disclosure
    control that withholds groups record by record); None: everywhere. Per-group values
    are left out where their group is not published, so they disclose nothing more.
    `heterogeneity_allowed[population]`: per record, whether that population's cohort x
    population cells may enter the cross-country test (None: everywhere).
    """

    def shown(group: str) -> np.ndarray:
        if published_at is None or group == "":
            return np.ones(len(ploidy_class), bool)
        return np.asarray(published_at(group), bool)

    n = len(ploidy_class)
    out: dict[str, object] = {}
    if histograms is not None:
        start = 0
        for name, has_larger in HISTOGRAMS:
            bins = histograms[:, start : start + HIST_BINS]
            out[f"{name}_raw_bin_freq"] = list(np.ascontiguousarray(bins, dtype=np.int64))
            start += HIST_BINS
            if has_larger:
                out[f"{name}_raw_n_larger"] = histograms[:, start].astype(np.int64)
                start += 1
    has_diploid = ploidy_class != Y_NONPAR
    for label, group in [("", "")] + [(f"_{p}", p) for p in populations]:
        genotypes = diploid_counts_of(group, ploidy_class, adj)
        f = inbreeding_coefficient(*genotypes)
        two_sided, excess = hardy_weinberg_p(*genotypes)
        called = (genotypes[0] + genotypes[1] + genotypes[2] > 0) & has_diploid
        xx = "XX" if group == "" else f"{group}_XX"
        called &= np.where(ploidy_class == X_NONPAR, shown(xx), shown(group))
        out[f"inbreeding_coeff{label}"] = np.where(called, f, np.nan)
        out[f"hwe_p{label}"] = np.where(called, two_sided, np.nan)
        out[f"excess_het_p{label}"] = np.where(called, excess, np.nan)
    # Heterogeneity per population shared by >= 2 cohorts; only cohort x population cells
    # large enough to be carried in a bundle enter, so the p-value is a function of
    # counts of groups that are allowed to leave their node.
    by_population = []
    cohorts = sorted(cohort_adj)
    for population in sorted({p for (_, p) in policy.cell_sizes} | set(populations)):
        members = [
            c
            for c in cohorts
            if policy.cell_sizes.get((c, population), 0) >= max(policy.min_cell_size, 1)
            and ("AC", population) in cohort_adj[c]
        ]
        if len(members) < 2:
            continue
        ac = np.column_stack([cohort_adj[c][("AC", population)] for c in members])
        an = np.column_stack([cohort_adj[c][("AN", population)] for c in members])
        p_population = heterogeneity_p(ac, an, policy.country_het_fst)
        if heterogeneity_allowed is not None:
            allowed = heterogeneity_allowed.get(population, np.zeros(n, bool))
            p_population = np.where(allowed, p_population, np.nan)
        by_population.append(p_population)
    p = combine_min_bonferroni(
        np.column_stack(by_population) if by_population else np.empty((n, 0))
    )
    out["country_het_p"] = p
    out["country_het"] = np.nan_to_num(p, nan=1.0) < policy.country_het_p
    weighted = [c for c in published_cohorts if c in policy.weights and c in cohort_adj]
    if weighted:
        ac = np.column_stack([cohort_adj[c][("AC", c)] for c in weighted])
        an = np.column_stack([cohort_adj[c][("AN", c)] * shown(c) for c in weighted])
        out["AF_weighted"] = weighted_allele_frequency(
            ac, an, np.array([policy.weights[c] for c in weighted])
        )
    return out


INBREEDING_FILTER_LINE = (
    '##FILTER=<ID=InbreedingCoeff,Description="Excess heterozygosity: inbreeding coefficient '
    'below site_annotations.inbreeding_coeff_filter (gnomAD: < -0.3)">'
)


def annotation_filter(inbreeding_coeff: np.ndarray, policy: SiteAnnotationPolicy) -> np.ndarray:
    """Sites gnomAD's InbreedingCoeff FILTER fails (excess heterozygosity: F below the
    threshold)."""
    if policy.inbreeding_coeff_filter is None:
        return np.zeros(len(inbreeding_coeff), bool)
    return np.nan_to_num(inbreeding_coeff, nan=0.0) < policy.inbreeding_coeff_filter


def info_definition(column: str):
    """(Number, Type, Description) of a site-annotation INFO field, None if not one."""
    for name, has_larger in HISTOGRAMS:
        metric, _, whom = name.split("_")
        what = {"gq": "GQ", "dp": "DP", "ab": "allele balance AD(alt)/DP"}[metric]
        who = (
            "het samples"
            if metric == "ab"
            else "all samples with a call"
            if whom == "all"
            else "samples carrying the alt allele (het, hom-alt, hemizygous)"
        )
        edges = "|".join(str(e) for e in HIST_EDGES[metric])
        if column == f"{name}_raw_bin_freq":
            return (
                "A",
                "String",
                f"Histogram for {what} in {who}, before genotype QC (raw), summed over "
                f"cohorts; pipe-separated counts of bins [lo,hi), the last closed; "
                f"bin edges are: {edges}",
            )
        if has_larger and column == f"{name}_raw_n_larger":
            return ("A", "Integer", f"Count of {what} values above 100 in {who}, raw")
    for prefix, text in (
        ("inbreeding_coeff", "Inbreeding coefficient F = 1 - observed/expected (2pqn) hets"),
        ("hwe_p", "Exact two-sided Hardy-Weinberg p-value (Wigginton et al. 2005)"),
        ("excess_het_p", "Exact one-sided Hardy-Weinberg p-value for excess heterozygosity"),
    ):
        if column == prefix or column.startswith(f"{prefix}_"):
            population = column[len(prefix) + 1 :]
            whom = f"population {population}" if population else "all samples"
            return (
                "A",
                "Float",
                f"{text}, {whom}, from adj diploid genotype counts (XX only on non-PAR X; "
                "absent on non-PAR Y)",
            )
    if column == "country_het_p":
        return (
            "A",
            "Float",
            "Cross-country heterogeneity: per population shared by >= 2 cohorts, p-value of "
            "equal AF across cohorts beyond drift (counts deflated by 1 + (AN - 1) * "
            "site_annotations.country_het_fst; exact 2 x cohorts test if an expected count "
            "< 5, else chi-square), smallest over populations times their number "
            "(Bonferroni); adj",
        )
    if column == "country_het":
        return ("0", "Flag", "country_het_p is below site_annotations.country_het_p")
    if column == "AF_weighted":
        return (
            "A",
            "Float",
            "Population-weighted European AF: sum of w_c * AF_c / sum of w_c over the "
            "published cohorts c with AN > 0 at the site, adj; w_c: the cohorts sheet's "
            "weight column, listed in the ##AF_weighted_weights header line",
        )
    return None


# --- the cohorts sheet's optional weight column -------------------------------------------


def weight_problems(sheet) -> list[str]:
    """Problems of the cohorts sheet's optional `weight` column (a `sheets.Sheet`)."""
    frame = sheet.frame
    if "weight" not in frame.columns:
        return []
    problems = []
    for row, text in enumerate(frame["weight"]):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            problems.append(
                f"{sheet.where(row)}: weight {text!r} is not a positive number; give every "
                "cohort its weight for AF_weighted (e.g. its country's population share), "
                "or remove the weight column"
            )
    if not problems:
        for cohort, rows in frame.groupby("cohort"):
            if len({float(w) for w in rows["weight"]}) > 1:
                problems.append(
                    f"{sheet.where_rows(rows.index)}: cohort {cohort!r} has different weights "
                    "on its rows; give the same weight on every row of the cohort"
                )
    return problems


def cohort_weights(frame) -> dict[str, float]:
    """cohort -> weight from a validated cohorts sheet ({} without a weight column)."""
    if "weight" not in frame.columns:
        return {}
    return {c: float(w) for c, w in zip(frame["cohort"], frame["weight"])}
