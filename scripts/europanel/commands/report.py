"""The QC report: `qc-figures` (figures, tables and the HTML page; aggregates only)."""

from __future__ import annotations

import sys

from europanel.commands.common import add_settings_option


# QC report (europanel.stages.report; matplotlib is imported only by this subcommand).
def cmd_qc_figures(args) -> None:
    from europanel.stages.report import steps

    print(f"qc-figures {args.what}: {steps.run(args)}", file=sys.stderr)


def register(sub) -> None:
    p = sub.add_parser("qc-figures", help="figures and tables of the QC report (aggregates only)")
    p.add_argument(
        "what",
        choices=["samples", "sites", "cohorts", "panel", "summary"],
        help="which part of the report to make",
    )
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    add_settings_option(p, "report_summary")
    p.add_argument("--contigs", nargs="+", help="contigs of the panel (cohorts)")
    p.add_argument("--stats-root", help="outdir holding normalised/, counts/ and merged/ stats")
    p.add_argument("--chunks", nargs="+", help="chunk names (sites, summary)")
    p.add_argument("--panel", help="the panel's Parquet table (panel, summary)")
    for name, what in (
        ("samples-figure", "PNG"),
        ("sites-figure", "PNG"),
        ("concordance-figure", "PNG"),
        ("cohort-figure", "PNG"),
        ("sfs-figure", "PNG"),
        ("af-figure", "PNG"),
        ("country-het-figure", "PNG"),
        ("summary", "HTML"),
    ):
        p.add_argument(f"--{name}", help=f"{what} to write")
    for name in ("sites-table", "concordance-table", "cohort-table"):
        p.add_argument(f"--{name}", help="TSV written by its step, read by `summary`")
    p.set_defaults(func=cmd_qc_figures)
