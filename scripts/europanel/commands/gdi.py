"""Beside the panel: `allsites` (all-sites AN), `gdi-export-part` and `gdi-export` (GDI /
Beacon v2 files per country: each chunk's pieces, then their join) and `lookup` (what the
panel says about given variants)."""

from __future__ import annotations

import sys
from pathlib import Path

from europanel.commands.common import add_settings_option, add_verified_option, open_bundles
from europanel.settings import load_settings


def cmd_allsites(args) -> None:
    from europanel.core.panel_groups import PanelGroups
    from europanel.stages.allsites import published_groups, write_allsites

    settings = load_settings(args.settings, "allsites")
    bundles = open_bundles(args.bundles, verified=args.verified)
    manifests = [b.manifest for b in bundles]
    groups = published_groups(args.panel, PanelGroups.from_manifests(manifests).ordered())
    lengths = manifests[0]["contigs"]
    rows = write_allsites(
        manifests,
        {c: lengths[c] for c in args.contigs},
        groups,
        settings["merge"]["absent_sites"],
        args.output,
        args.parquet,
    )
    print(f"all-sites AN: {rows} intervals, {len(groups)} groups", file=sys.stderr)


def cmd_gdi_export_part(args) -> None:
    from europanel.stages.gdi import export_gdi_part, require_codes

    settings = load_settings(args.settings, "gdi_export")
    label = settings["gdi"]["panel_label"]
    require_codes(settings["countries"], label)
    records = export_gdi_part(args.panel, args.output, settings["countries"], label, args.region)
    print(f"GDI export of {args.region}: {records}", file=sys.stderr)


def cmd_gdi_export(args) -> None:
    from europanel.stages.gdi import join_gdi, require_codes, write_summary

    settings = load_settings(args.settings, "gdi_export")
    label = settings["gdi"]["panel_label"]
    # cohort -> ISO 3166-1 alpha-2 code, as the workflow resolved it (sheet and config)
    countries = settings["countries"]
    bundles = open_bundles(args.bundles, verified=args.verified)
    first = bundles[0].manifest
    require_codes(countries, label)
    outdir = str(Path(args.summary).parent)
    for stale in Path(outdir).glob("*.sites.vcf.gz*"):  # a cohort withheld since last run
        stale.unlink()
    lengths = first["contigs"]
    written = join_gdi(
        args.parts,
        outdir,
        countries,
        label,
        {c: lengths[c] for c in args.contigs},
        settings["panel_name"],
        first["reference_fasta"],
    )
    write_summary(args.summary, written, countries, label)
    print(f"GDI export: {written}", file=sys.stderr)


def cmd_lookup(args) -> None:
    from europanel.stages.lookup import Panel, check_files, iter_answers, write_answers

    allsites = args.allsites or args.panel.replace(".sites.vcf.gz", ".allsites_an.tsv.gz")
    check_files(args.panel, allsites, args.fasta, f"{args.fasta}.fai")
    answers = iter_answers(args.variants, args.panel, allsites, args.fasta)
    write_answers(answers, Panel(args.panel, allsites).groups, args.format)


def register(sub) -> None:
    p = sub.add_parser("allsites", help="all-sites AN of the published groups (RLE, tabix)")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--panel", required=True, help="the panel's Parquet (its published groups)")
    add_verified_option(p)
    p.add_argument("--contigs", nargs="+", required=True)
    add_settings_option(p, "allsites")
    p.add_argument("--output", required=True, help="bgzipped TSV (.tsv.gz), tabix-indexed")
    p.add_argument("--parquet", required=True)
    p.set_defaults(func=cmd_allsites)

    p = sub.add_parser(
        "gdi-export-part", help="one chunk's piece of every GDI / Beacon v2 file (gdi-export)"
    )
    p.add_argument("--panel", required=True, help="the panel's Parquet")
    p.add_argument("--region", required=True, help="the chunk: contig:start-end (POS in it)")
    add_settings_option(p, "gdi_export")
    p.add_argument("--output", required=True, help="folder of the chunk's pieces")
    p.set_defaults(func=cmd_gdi_export_part)

    p = sub.add_parser("gdi-export", help="GDI / Beacon v2 allele-frequency VCFs per country")
    p.add_argument(
        "--parts", nargs="+", required=True, help="the chunks' gdi-export-part folders, in order"
    )
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    add_verified_option(p)
    p.add_argument("--contigs", nargs="+", required=True)
    add_settings_option(p, "gdi_export")
    p.add_argument("--summary", required=True, help="summary.json; files are written beside it")
    p.set_defaults(func=cmd_gdi_export)

    p = sub.add_parser("lookup", help="what the panel says about variants (found/absent/no data)")
    p.add_argument(
        "variants", nargs="+", help="chr:pos:ref:alt strings, VCF files, or files of such lines"
    )
    p.add_argument("--panel", required=True, help="the panel VCF (.sites.vcf.gz)")
    p.add_argument("--allsites", default=None, help="all-sites AN (default: beside the panel)")
    p.add_argument("--fasta", required=True, help="the reference FASTA the panel was built on")
    p.add_argument("--format", choices=["tsv", "json"], default="tsv")
    p.set_defaults(func=cmd_lookup)
