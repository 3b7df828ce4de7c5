"""Command-line entry points used by the Snakemake rules: one subcommand per stage.

Each subcommand parses its arguments, calls the package's pure functions and
writes its outputs. Input errors end with one readable message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from europanel import __version__
from europanel.count import GenotypeQC, count_bcf, write_counts
from europanel.merge import CohortCounts, PanelPolicy, merge_chunk, withheld_groups
from europanel.normalise import input_contigs, normalise_chunk
from europanel.publish import concat_records, write_panel
from europanel.regions import PloidyMap, builtin_par_bed, chunk_by_name, read_bed, read_fai
from europanel.sheets import InputError, load_cohort_sheet, load_sample_sheet


def threshold(text: str) -> float | None:
    """A genotype-QC threshold; `off` (or null/none) switches the criterion off."""
    return None if text.lower() in ("off", "null", "none") else float(text)


def genotype_qc(args) -> GenotypeQC:
    def as_int(value):
        return None if value is None else int(value)

    return GenotypeQC(as_int(args.min_gq), as_int(args.min_dp), as_int(args.min_dp_haploid),
                      args.min_het_ab)


def load_sheets(args):
    cohorts = load_cohort_sheet(args.cohorts)
    return cohorts, load_sample_sheet(args.samples, sorted(set(cohorts["cohort"])))


def ploidy_map(args) -> PloidyMap:
    return PloidyMap.from_bed(args.par or builtin_par_bed(args.build))


def cmd_normalise(args) -> None:
    cohorts, sheet = load_sheets(args)
    reference = set(read_fai(args.fasta))
    vcfs = cohorts.loc[cohorts["cohort"] == args.cohort, "vcf"].tolist()
    inputs = [input_contigs(path, reference) for path in vcfs]
    chunk = chunk_by_name(args.chunk, read_fai(args.fasta), args.chunk_size)
    samples = sheet.of_cohort(args.cohort)["sample"].tolist()
    stats = normalise_chunk(inputs, chunk, samples, args.fasta, args.output,
                            realign_window=args.realign_window, ref_mismatch=args.ref_mismatch)
    Path(args.stats).write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    print(f"{args.cohort} {chunk.region}: {stats}", file=sys.stderr)


def cmd_count(args) -> None:
    cohorts, sheet = load_sheets(args)
    table, stats = count_bcf(args.bcf, sheet.of_cohort(args.cohort), ploidy_map(args),
                             genotype_qc(args), block_size=args.block_size)
    write_counts(table, stats, args.output, args.stats)
    print(f"{args.cohort} {args.bcf}: {stats}", file=sys.stderr)


def cmd_merge(args) -> None:
    cohorts, sheet = load_sheets(args)
    contig = args.chunk.rsplit("-", 1)[0]
    contributions = []
    for item in args.counts:
        label, path = item.split("=", 1)
        bed = cohorts.loc[cohorts["cohort"] == label, "callable"].iloc[0]
        spans = read_bed(bed).get(contig, []) if bed else None
        contributions.append(CohortCounts(label, pd.read_parquet(path), spans))
    policy = PanelPolicy(args.absent_sites, tuple(args.faf_exclude), args.min_group_size,
                         args.min_carriers)
    records, summary = merge_chunk(contig, contributions, sheet, ploidy_map(args), policy)
    records.to_parquet(args.output, index=False)
    Path(args.summary).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"{args.chunk}: {summary}", file=sys.stderr)


def cmd_publish(args) -> None:
    cohorts, sheet = load_sheets(args)
    records = concat_records([pd.read_parquet(p) for p in args.chunks])
    lengths = read_fai(args.fasta)
    panel = {
        "reference": Path(args.fasta).name,
        "build": args.build,
        "extra": {"europanel_withheld_groups": ",".join(withheld_groups(sheet, args.min_group_size))
                  or "none"},
    }
    write_panel(records, args.vcf, args.parquet, {c: lengths[c] for c in args.contigs}, panel,
                sheet.cohorts)
    print(f"published {len(records)} records to {args.vcf}", file=sys.stderr)


def add_sheet_options(parser) -> None:
    parser.add_argument("--cohorts", required=True, help="cohorts sheet (TSV)")
    parser.add_argument("--samples", required=True, help="sample sheet (TSV)")


def add_ploidy_options(parser) -> None:
    parser.add_argument("--build", default="GRCh38", choices=["GRCh38", "GRCh37"])
    parser.add_argument("--par", default=None, help="BED of PAR regions (overrides --build)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="europanel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"europanel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("normalise", help="normalise one cohort's records of one chunk")
    add_sheet_options(p)
    p.add_argument("--cohort", required=True)
    p.add_argument("--chunk", required=True, help="chunk name, e.g. chr20-00003")
    p.add_argument("--chunk-size", type=int, required=True)
    p.add_argument("--fasta", required=True)
    p.add_argument("--realign-window", type=int, default=1000)
    p.add_argument("--ref-mismatch", choices=["error", "drop"], default="error")
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    p.set_defaults(func=cmd_normalise)

    p = sub.add_parser("count", help="count one cohort's normalised BCF of one chunk")
    add_sheet_options(p)
    add_ploidy_options(p)
    p.add_argument("--cohort", required=True)
    p.add_argument("--bcf", required=True)
    p.add_argument("--block-size", type=int, default=10_000)
    for name, default in (("min-gq", "20"), ("min-dp", "10"), ("min-dp-haploid", "5"),
                          ("min-het-ab", "0.2")):
        p.add_argument(f"--{name}", type=threshold, default=threshold(default),
                       help=f"genotype QC threshold, or 'off' (default {default})")
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("merge", help="merge cohorts' counts of one chunk")
    add_sheet_options(p)
    add_ploidy_options(p)
    p.add_argument("--chunk", required=True)
    p.add_argument("--counts", nargs="+", required=True, help="COHORT=counts.parquet ...")
    p.add_argument("--absent-sites", choices=["reference", "missing"], default="reference")
    p.add_argument("--faf-exclude", nargs="*", default=[])
    p.add_argument("--min-group-size", type=int, default=0)
    p.add_argument("--min-carriers", type=int, default=0)
    p.add_argument("--output", required=True)
    p.add_argument("--summary", required=True)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("publish", help="concatenate merged chunks into the panel VCF + Parquet")
    add_sheet_options(p)
    p.add_argument("--chunks", nargs="+", required=True, help="merged chunk tables, in order")
    p.add_argument("--fasta", required=True)
    p.add_argument("--build", default="GRCh38")
    p.add_argument("--contigs", nargs="+", required=True)
    p.add_argument("--min-group-size", type=int, default=0)
    p.add_argument("--vcf", required=True)
    p.add_argument("--parquet", required=True)
    p.set_defaults(func=cmd_publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as error:
        print(f"europanel {args.command}: input error:\n{error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
