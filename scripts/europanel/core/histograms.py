"""Per-site quality histograms (issue 15), counted from one block's genotypes next to the
allele counts, carried in bundles and summed by the merge.

Histograms follow gnomAD (gnomad_methods `qual_hist_expr` and the release VCF's
`make_hist_dict`, v3.1/v4): 20 bins from 0 to 100 (GQ, DP) or 0 to 1 (allele balance),
each bin [lo, hi) except the last, which is closed (Hail's `hl.agg.hist`); a value above the
top edge counts in `n_larger`. `all`: every sample with a counted call at the site; `alt`:
the samples carrying the alt allele (het, hom-alt, hemizygous alt); allele balance: hets
only, AD(alt)/DP (the sum of AD where DP is missing), as in this project's adj rule. They are
computed on raw genotypes (before adj), which gnomAD names with a `_raw` suffix.
"""

from __future__ import annotations

import numpy as np

HIST_BINS = 20
HIST_EDGES = {
    "gq": [5 * i for i in range(HIST_BINS + 1)],
    "dp": [5 * i for i in range(HIST_BINS + 1)],
    "ab": [round(0.05 * i, 2) for i in range(HIST_BINS + 1)],
}
# (histogram, has n_larger). GQ and DP keep the count above 100; AB cannot exceed 1
# (AD(alt) > DP is left out of the allele-balance histogram, as Hail's hist does).
HISTOGRAMS = (
    ("gq_hist_all", True),
    ("dp_hist_all", True),
    ("gq_hist_alt", True),
    ("dp_hist_alt", True),
    ("ab_hist_alt", False),
)
HIST_PREFIX = "hist_"  # count-table columns of the histograms (never a group count)
# Value bins for GQ and DP: 0..19, N_LARGER for > 100, NO_VALUE for missing (negative).
N_LARGER, NO_VALUE = HIST_BINS, HIST_BINS + 1
VALUE_SLOTS = HIST_BINS + 2
_VALUE_BIN = np.array(
    [NO_VALUE] + [min(v // 5, HIST_BINS - 1) for v in range(101)] + [N_LARGER], dtype=np.uint8
)
# The bin of every int16 value, indexed by its bits read as uint16: one table lookup per
# genotype instead of a clip, a shift and a division.
_BIN_OF_INT16 = _VALUE_BIN[
    np.clip(np.arange(1 << 16, dtype=np.uint16).view(np.int16), -1, 101).astype(np.int64) + 1
]
# Genotypes per bincount pass: its int64 keys (256 kB) and counts stay in the L2 cache,
# which halves the cost per genotype against one pass over a whole 2**18-genotype block.
SUBPASS_GENOTYPES = 1 << 15


def histogram_columns() -> list[str]:
    """Count-table columns of the histograms, in the order `block_histograms` returns them."""
    columns = []
    for name, has_larger in HISTOGRAMS:
        columns += [f"{HIST_PREFIX}{name}_{b:02d}" for b in range(HIST_BINS)]
        if has_larger:
            columns.append(f"{HIST_PREFIX}{name}_n_larger")
    return columns


def is_histogram_column(column: str) -> bool:
    return column.startswith(HIST_PREFIX)


def value_bins(values: np.ndarray) -> np.ndarray:
    """GQ/DP bin of each value (uint8): 0..19, N_LARGER above 100, NO_VALUE if missing
    (negative). Any integer dtype; int16 (what the BCF reader gives for 8- and 16-bit
    values) without a copy."""
    values = np.asarray(values)
    if values.dtype != np.int16:
        values = np.clip(values, -1, 101).astype(np.int16)
    return np.take(_BIN_OF_INT16, values.view(np.uint16))


# Genotype states of the histograms: not a counted call, a call without the alt allele, an
# alt carrier that is not het (hom-alt, hemizygous alt), a het.
NOT_CALLED, CALLED, ALT_CARRIER, HET_CARRIER = 0, 1, 2, 3


def _every_genotype_counts(bins: np.ndarray) -> np.ndarray:
    """(variants x samples) value bins -> int64 (variants x VALUE_SLOTS): per variant, how
    many genotypes have each bin. One bincount over (variant, bin) keys per sub-pass of
    SUBPASS_GENOTYPES genotypes."""
    n_variants, n_samples = bins.shape
    step = max(1, SUBPASS_GENOTYPES // max(n_samples, 1))
    row_base = (np.arange(min(step, n_variants), dtype=np.int64) * VALUE_SLOTS)[:, None]
    keys = np.empty((len(row_base), n_samples), np.int64)
    counts = np.empty((n_variants, VALUE_SLOTS), np.int64)
    for start in range(0, n_variants, step):
        stop = min(start + step, n_variants)
        part = keys[: stop - start]
        np.add(bins[start:stop], row_base[: stop - start], out=part)
        counts[start:stop] = np.bincount(
            part.reshape(-1), minlength=(stop - start) * VALUE_SLOTS
        ).reshape(-1, VALUE_SLOTS)
    return counts


def block_histograms(
    state: np.ndarray,
    gq: np.ndarray,
    dp: np.ndarray,
    ad_ref: np.ndarray,
    ad_alt: np.ndarray,
) -> np.ndarray:
    """Histograms of a block's genotypes: int64 (variants x len(histogram_columns())).

    Inputs are variants x samples: each genotype's state (NOT_CALLED, CALLED, ALT_CARRIER,
    HET_CARRIER; uint8); GQ, DP, AD(ref), AD(alt) with negative values missing. Each GQ and
    DP value is mapped to its bin by a table lookup; most genotypes are hom-ref calls, so
    every genotype's bins are counted per variant in cache-sized bincount passes (the
    not-called genotypes moved to the NO_VALUE slot first); the few genotypes in another
    state are found once (`np.flatnonzero`), and the alt carriers and the hets' allele
    balance are counted from their flat indices.
    """
    n_variants, n_samples = state.shape
    flat_state = state.reshape(-1)
    others = np.flatnonzero(flat_state != CALLED)
    other_state = flat_state[others]
    not_called = others[other_state == NOT_CALLED]
    carriers = others[other_state >= ALT_CARRIER]
    carrier_row = carriers // max(n_samples, 1)
    size = n_variants * VALUE_SLOTS
    out_all, out_alt = [], []
    for values in (gq, dp):
        bins = value_bins(values)
        alt_keys = carrier_row * VALUE_SLOTS + np.take(bins.reshape(-1), carriers)
        alt = np.bincount(alt_keys, minlength=size)
        # A genotype that is not a counted call goes in the NO_VALUE slot, dropped below.
        bins.reshape(-1)[not_called] = NO_VALUE
        every = _every_genotype_counts(bins)
        # Bins, then n_larger; the NO_VALUE slot is dropped.
        out_all.append(every[:, : VALUE_SLOTS - 1])
        out_alt.append(alt.reshape(n_variants, VALUE_SLOTS)[:, : VALUE_SLOTS - 1])
    out = out_all + out_alt  # gq_all, dp_all, gq_alt, dp_alt
    hets = others[other_state == HET_CARRIER]
    het_row = hets // max(n_samples, 1)
    a_alt = np.take(ad_alt.reshape(-1), hets).astype(np.int64)
    depth = np.take(dp.reshape(-1), hets).astype(np.int64)
    if (depth < 0).any():  # DP missing: the sum of AD stands in (only then read AD(ref))
        a_ref = np.take(ad_ref.reshape(-1), hets).astype(np.int64)
        depth = np.where(depth >= 0, depth, np.where(a_ref >= 0, a_ref + a_alt, -1))
    valid = (a_alt >= 0) & (depth > 0) & (a_alt <= depth)
    if not valid.all():
        a_alt, depth, het_row = a_alt[valid], depth[valid], het_row[valid]
    # floor(20 AD/DP), AB = 1 in the last bin. In float64 (vectorised, unlike integer
    # division) and still exact: 20 AD and DP are exact below 2**53, a quotient equal to
    # a bin edge k is computed as exactly k, and one below k is below it by at least 1/DP,
    # far more than the rounding error.
    ab_bin = np.minimum((HIST_BINS * a_alt) / depth, HIST_BINS - 1).astype(np.int64)
    ab = np.bincount(het_row * HIST_BINS + ab_bin, minlength=n_variants * HIST_BINS)
    out.append(ab.reshape(n_variants, HIST_BINS))
    return np.concatenate(out, axis=1)
