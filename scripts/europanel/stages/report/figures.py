"""QC report figures: matplotlib's object API (a Figure renders PNG with Agg, no pyplot
state), drawn from the tables of `europanel.stages.report.data` and `europanel.stages.report.panel`.
The concordance plots are drawn from a fixed grid of counts, so memory does not grow with
the number of sites."""

from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from europanel.stages.report.data import (
    AF_GRID,
    SEX_REST,
    VARIANT_TYPES,
    WITHHELD_POPULATIONS,
    PairConcordance,
    Publication,
)
from europanel.stages.report.panel import PanelSpectra

DPI = 110
COLOURS = matplotlib.colormaps["tab10"].colors


def new_figure(rows: int = 1, columns: int = 1, layout: str | None = "constrained", **options):
    """A figure (constrained layout unless told otherwise) and its axes, as
    pyplot.subplots gives them."""
    figure = Figure(layout=layout, figsize=options.pop("figsize"))
    return figure, figure.subplots(rows, columns, **options)


def save(figure, path: str) -> None:
    """Write the PNG aside, then rename: a partial figure never sits at its final path."""
    partial = f"{path}.partial.png"
    figure.savefig(partial, dpi=DPI, metadata={"Software": None})
    os.replace(partial, path)


def stacked_bars(ax, table: pd.DataFrame, title: str, ylabel: str) -> None:
    """Stacked bars of a table's columns per row, each segment labelled with its value."""
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for k, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        colour = "0.75" if column in (WITHHELD_POPULATIONS, SEX_REST, "NA") else COLOURS[k % 10]
        bars = ax.bar(positions, values, 0.7, bottom, label=column, color=colour)
        ax.bar_label(
            bars, labels=[f"{int(v)}" if v else "" for v in values], label_type="center", fontsize=8
        )
        bottom += values
    ax.set_xticks(positions, table.index)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(bottom.max(), 1) * 1.08)
    below_legend(ax, len(table.columns))


def empty_panel(ax, title: str, text: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_samples(
    by_cohort: dict[str, pd.DataFrame],
    by_population: pd.DataFrame,
    publication: Publication,
    path: str,
) -> None:
    figure, axes = new_figure(1, 3, figsize=(15, 4.8))
    panels = (
        (
            axes[0],
            by_cohort["population"],
            "Samples per cohort, by population",
            "no published cohort",
        ),
        (axes[1], by_cohort["sex"], "Samples per cohort, by sex", "no published cohort"),
        (
            axes[2],
            by_population,
            "Samples per published population, by sex",
            "no published population",
        ),
    )
    for ax, table, title, nothing in panels:
        if len(table):
            stacked_bars(ax, table, title, "samples")
        else:
            empty_panel(ax, title, nothing)
    total = sum(publication.size(c) for c in publication.groups.cohorts)
    hidden = total - int(by_cohort["sex"].to_numpy().sum())
    note = f"; {hidden} samples of withheld cohorts not shown" if hidden else ""
    figure.suptitle(
        f"{total} samples in {len(publication.groups.cohorts)} cohorts{note}\n"
        f"{len(publication.withheld)} group(s) below min_group_size = "
        f"{publication.min_group_size} withheld (named in the summary table only; withheld "
        "populations pooled in grey)",
        fontsize=11,
    )
    save(figure, path)


def plot_sites(fates: pd.DataFrame, path: str) -> None:
    figure, axes = new_figure(1, 3, figsize=(16, 4.8))
    if fates.empty:
        for ax in axes:
            empty_panel(ax, "Sites", "no published cohort")
        save(figure, path)
        return
    stacked_bars(
        axes[0], fates[list(VARIANT_TYPES)], "Counted records per cohort, by type", "records"
    )
    exact = fates[["counted", "filtered", "symbolic", "ref_mismatch"]].rename(
        columns={
            "filtered": "filtered (FILTER failed)",
            "symbolic": "symbolic (not counted)",
            "ref_mismatch": "REF mismatch (dropped)",
        }
    )
    grouped_bars(axes[1], exact, "Records per cohort, by fate", "records (log scale)", log=True)
    rates = fates[["split_pct", "realigned_pct", "duplicates_pct"]].rename(
        columns={
            "split_pct": "split (multiallelic)",
            "realigned_pct": "realigned (left-aligned)",
            "duplicates_pct": "deduplicated (exact duplicates removed)",
        }
    )
    grouped_bars(axes[2], rates, "Normalisation, per cohort", "% of input lines", fmt="{:.2f}")
    figure.suptitle("Sites per cohort by type and by fate", fontsize=11)
    save(figure, path)


def grouped_bars(ax, table: pd.DataFrame, title: str, ylabel: str, log=False, fmt="{:.0f}") -> None:
    """Bars of each column side by side per row, labelled with their values."""
    n = len(table.columns)
    if log and not (table.to_numpy(dtype=float) > 0).any():
        # Nothing to draw on a log scale (every value 0): say so instead.
        empty_panel(ax, title, "none: every value is 0")
        return
    width = 0.8 / max(n, 1)
    positions = np.arange(len(table))
    zeros = []
    for k, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        shown = np.where(values > 0, values, np.nan) if log else values
        x = positions + (k - (n - 1) / 2) * width
        bars = ax.bar(x, shown, width, label=column, color=COLOURS[k % 10])
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7, padding=1)
        zeros += [xi for xi, v in zip(x, values) if log and v == 0]
    if log:
        ax.set_yscale("log")
        bottom = ax.get_ylim()[0]
        for xi in zeros:  # no bar on a log scale: say 0
            ax.text(xi, bottom * 1.15, "0", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(positions, table.index)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.15)
    below_legend(ax, n)


def below_legend(ax, entries: int) -> None:
    ax.legend(
        fontsize=8,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        ncols=min(entries, 2),
    )


def plot_concordance(pairs: list[PairConcordance], path: str) -> None:
    columns = min(max(len(pairs), 1), 4)
    rows = max(1, math.ceil(len(pairs) / columns))
    width, height = max(4.4 * columns, 8), 4.2 * rows
    # Panels of one shape on a grid: fixed margins in inches. Constrained layout measured
    # every tick label of every panel (2.2 of 3.8 s with 10 pairs; 325 at 26 cohorts).
    figure, axes = new_figure(rows, columns, layout=None, figsize=(width, height), squeeze=False)
    figure.subplots_adjust(
        left=0.55 / width,
        right=1 - 0.3 / width,
        bottom=0.55 / height,
        top=1 - 0.75 / height,
        wspace=0.3,
        hspace=0.3,
    )
    cells = np.arange(AF_GRID + 1) / AF_GRID
    for ax in axes.flat[len(pairs) :]:
        ax.set_axis_off()
    if not pairs:
        empty_panel(axes[0, 0], "AF concordance", "fewer than two published cohorts")
    for ax, pair in zip(axes.flat, pairs):
        ix, iy = np.nonzero(pair.grid)
        if len(ix):
            image = ax.hexbin(
                cells[ix],
                cells[iy],
                C=pair.grid[ix, iy],
                gridsize=25,
                reduce_C_function=np.sum,
                bins="log",
                cmap="viridis",
                extent=(0, 1, 0, 1),
                mincnt=1,
            )
            figure.colorbar(image, ax=ax, label="sites", shrink=0.8)
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel(f"AF {pair.a} (adj)")
        ax.set_ylabel(f"AF {pair.b} (adj)")
        r = "n/a" if math.isnan(pair.r) else f"{pair.r:.3f}"
        ax.set_title(f"{pair.a} vs {pair.b}: Pearson r = {r} (n = {pair.n})", fontsize=10)
    figure.suptitle("Allele-frequency concordance on sites called in both cohorts", fontsize=11)
    save(figure, path)


def plot_cohort_qc(table: pd.DataFrame, path: str) -> None:
    figure, axes = new_figure(1, 2, figsize=(12, 4.6))
    if table.empty:
        empty_panel(axes[0], "Ti/Tv", "no published cohort")
        empty_panel(axes[1], "Call rate", "no published cohort")
        save(figure, path)
        return
    positions = np.arange(len(table))
    bars = axes[0].bar(positions, table["ti_tv"].fillna(0), 0.6, color=COLOURS[0])
    axes[0].bar_label(
        bars,
        labels=[f"{t:.2f}\n({n} SNVs)" for t, n in zip(table["ti_tv"], table["snvs_ac_gt_0"])],
        fontsize=8,
    )
    axes[0].set_xticks(positions, table.index)
    axes[0].set_ylabel("transitions / transversions")
    axes[0].set_title("Ti/Tv per cohort (called SNVs with adj AC > 0)", fontsize=10)
    axes[0].margins(y=0.2)
    rates = table[["call_rate", "adj_rate"]].rename(
        columns={
            "call_rate": "call rate (AN_raw / expected AN)",
            "adj_rate": "adj (AN_adj / expected AN)",
        }
    )
    grouped_bars(
        axes[1],
        rates,
        "Call rate per cohort, at its called sites",
        "fraction of alleles",
        fmt="{:.3f}",
    )
    axes[1].set_ylim(0, 1.1)
    figure.suptitle("Cohort QC: Ti/Tv and call rate", fontsize=11)
    save(figure, path)


def plot_sfs(spectra: PanelSpectra, path: str) -> None:
    figure, ax = new_figure(figsize=(10, 4.8))
    if not spectra.populations:
        empty_panel(ax, "Site frequency spectrum", "no published population")
        save(figure, path)
        return
    totals = spectra.sfs.sum()
    shares = spectra.sfs / totals.where(totals > 0, 1)
    shares.columns = [f"{p} ({int(totals[p])} sites)" for p in spectra.populations]
    grouped_bars(
        ax,
        shares,
        "Site frequency spectrum per published population",
        "share of the population's variant sites",
        fmt="{:.2f}",
    )
    ax.set_xlabel("alternate allele count in the population (adj)")
    save(figure, path)


def plot_af_distribution(spectra: PanelSpectra, path: str) -> None:
    figure, axes = new_figure(1, 2, figsize=(13, 4.6))
    passed = int(spectra.log_af.to_numpy().sum())
    for ax, table, edges, xlabel in (
        (axes[0], spectra.linear_af, np.linspace(0, 1, 21), "AF (adj, all samples)"),
        (axes[1], spectra.log_af, spectra.log_edges, "log10 AF (adj, all samples)"),
    ):
        bottom = np.zeros(len(table))
        widths = np.diff(edges)
        for k, kind in enumerate(VARIANT_TYPES):
            values = table[kind].to_numpy(dtype=float)
            if values.any():
                ax.bar(
                    edges[:-1],
                    values,
                    widths,
                    bottom=bottom,
                    align="edge",
                    label=kind,
                    color=COLOURS[k],
                    edgecolor="white",
                    linewidth=0.4,
                )
            bottom += values
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PASS records")
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_title("AF distribution of the published panel", fontsize=10)
    axes[1].set_title("AF distribution, log scale", fontsize=10)
    figure.suptitle(
        f"{spectra.records} records: {passed} PASS, {spectra.ac0} AC0 "
        "(no AF: no high-quality carrier)",
        fontsize=11,
    )
    save(figure, path)


def plot_country_het(pairs: pd.DataFrame, path: str) -> None:
    figure, ax = new_figure(figsize=(8, 4.8))
    title = "Cross-country heterogeneity (country_het) by cohort pair"
    if pairs.empty:
        empty_panel(ax, title, "no two cohorts share a population, or no country_het")
        save(figure, path)
        return
    labels = [f"{a}–{b}" for a, b in zip(pairs["a"], pairs["b"])]
    bars = ax.bar(np.arange(len(pairs)), 100 * pairs["rate"], 0.6, color=COLOURS[3])
    ax.bar_label(
        bars,
        labels=[f"{f} / {n}" for f, n in zip(pairs["flagged"], pairs["both_called"])],
        fontsize=8,
    )
    ax.set_xticks(np.arange(len(pairs)), labels)
    ax.set_ylabel("% of the sites both called that are flagged")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(100 * pairs["rate"].max(), 1) * 1.15)
    save(figure, path)
