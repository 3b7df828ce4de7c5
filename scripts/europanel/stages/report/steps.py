"""The `europanel qc-figures` steps: each reads its inputs, computes its tables
(data, panel), draws its figures (figures) or writes the summary page (page).

`figures` (matplotlib, ~0.4 CPU s to import) is imported by the steps that draw only:
the summary writes HTML and does without it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from europanel.io.sheets import InputError
from europanel.settings import load_settings
from europanel.stages.bundle import Bundle
from europanel.stages.report.data import (
    StatsFiles,
    cohort_summary,
    cohort_tables,
    concordance_table,
    open_bundles,
    publication_of,
    read_table,
    samples_by_cohort,
    samples_by_population,
    site_fates,
    write_table,
)
from europanel.stages.report.page import bundle_withheld_text, summary_html
from europanel.stages.report.panel import (
    country_het_pairs,
    merge_totals,
    panel_chromosomes,
    panel_spectra,
    tested_pairs,
)


def write_samples(bundles: list[Bundle], min_group_size: int, figure: str) -> str:
    from europanel.stages.report.figures import plot_samples

    publication = publication_of(bundles, min_group_size)
    manifests = [b.manifest for b in bundles]
    plot_samples(
        samples_by_cohort(manifests, publication),
        samples_by_population(publication),
        publication,
        figure,
    )
    return (
        f"{sum(m['samples'] for m in manifests)} samples, {len(publication.withheld)} "
        "group(s) withheld"
    )


def write_sites(
    bundles: list[Bundle], min_group_size: int, stats: StatsFiles, figure: str, table: str
) -> str:
    from europanel.stages.report.figures import plot_sites

    fates = site_fates(
        stats.of("normalised"), stats.of("counts"), publication_of(bundles, min_group_size)
    )
    write_table(fates, table)
    plot_sites(fates, figure)
    return f"{int(fates['records'].sum())} records in {len(fates)} published cohort(s)"


def write_cohorts(
    bundles: list[Bundle],
    min_group_size: int,
    contigs: list[str],
    concordance_figure: str,
    concordance_tsv: str,
    qc_figure: str,
    qc_tsv: str,
) -> str:
    from europanel.stages.report.figures import plot_cohort_qc, plot_concordance

    qc, pairs = cohort_tables(bundles, contigs, publication_of(bundles, min_group_size))
    write_table(qc, qc_tsv)
    write_table(concordance_table(pairs), concordance_tsv, index=False)
    plot_cohort_qc(qc, qc_figure)
    plot_concordance(pairs, concordance_figure)
    return "; ".join(f"{p.a}-{p.b} r={p.r:.3f} (n={p.n})" for p in pairs)


def write_panel_figures(
    bundles: list[Bundle],
    min_group_size: int,
    panel: str,
    sfs_figure: str,
    af_figure: str,
    country_het_figure: str | None = None,
) -> str:
    from europanel.stages.report.figures import plot_af_distribution, plot_country_het, plot_sfs

    spectra = panel_spectra(panel, publication_of(bundles, min_group_size))
    plot_sfs(spectra, sfs_figure)
    plot_af_distribution(spectra, af_figure)
    if country_het_figure:
        pairs = country_het_pairs(panel, tested_pairs(bundles, min_group_size))
        plot_country_het(pairs, country_het_figure)
    return f"{spectra.records} records, SFS of {', '.join(spectra.populations) or 'no population'}"


def write_summary(
    bundles: list[Bundle],
    min_group_size: int,
    min_carriers: int,
    panel: str,
    stats: StatsFiles,
    sites_tsv: str | None,
    cohort_tsv: str,
    concordance_tsv: str,
    output: str,
) -> str:
    publication = publication_of(bundles, min_group_size)
    chromosomes = panel_chromosomes(panel)
    fates = read_table(sites_tsv) if sites_tsv else None
    cohorts = cohort_summary(fates, read_table(cohort_tsv), publication)
    concordance = pd.read_csv(concordance_tsv, sep="\t")
    name = Path(panel).name.removesuffix(".parquet").removesuffix(".sites")
    text = summary_html(
        name,
        chromosomes,
        merge_totals(stats.merged()),
        sum(b.manifest["samples"] for b in bundles),
        cohorts,
        concordance,
        publication,
        min_carriers,
        bundle_withheld_text(bundles),
    )
    partial = f"{output}.partial"
    Path(partial).write_text(text)
    os.replace(partial, output)
    overall = chromosomes.loc["all"]
    return f"{overall['records']} records ({overall['PASS']} PASS, {overall['AC0']} AC0)"


REQUIRED = {
    "samples": ("samples_figure",),
    "sites": ("stats_root", "chunks", "sites_figure", "sites_table"),
    "cohorts": (
        "contigs",
        "concordance_figure",
        "concordance_table",
        "cohort_figure",
        "cohort_table",
    ),
    "panel": ("panel", "sfs_figure", "af_figure"),
    "summary": ("panel", "stats_root", "chunks", "cohort_table", "concordance_table", "summary"),
}


def run(args) -> str:
    """The `europanel qc-figures` subcommand: one step of the report; returns a log line."""
    missing = [
        f"--{name.replace('_', '-')}" for name in REQUIRED[args.what] if not getattr(args, name)
    ]
    if missing:
        raise InputError(f"qc-figures {args.what} needs {', '.join(missing)}")
    # The figures need privacy.min_group_size; the summary states min_carriers too.
    stage = "report_summary" if args.what == "summary" else "report"
    privacy = load_settings(args.settings, stage)["privacy"]
    bundles = open_bundles(args.bundles)
    size = privacy["min_group_size"]
    stats = StatsFiles(args.stats_root, [b.cohort for b in bundles], args.chunks)
    if args.what == "samples":
        return write_samples(bundles, size, args.samples_figure)
    if args.what == "sites":
        return write_sites(bundles, size, stats, args.sites_figure, args.sites_table)
    if args.what == "cohorts":
        return write_cohorts(
            bundles,
            size,
            args.contigs,
            args.concordance_figure,
            args.concordance_table,
            args.cohort_figure,
            args.cohort_table,
        )
    if args.what == "panel":
        return write_panel_figures(
            bundles, size, args.panel, args.sfs_figure, args.af_figure, args.country_het_figure
        )
    return write_summary(
        bundles,
        size,
        privacy["min_carriers"],
        args.panel,
        stats,
        args.sites_table,
        args.cohort_table,
        args.concordance_table,
        args.summary,
    )
