"""Per cohort and chunk, at the node holding the genotypes: `cohort-sheet`, `count-chunk`
(and `count` of a normalised BCF), `bundle` (the bundle is what leaves the node)."""

from __future__ import annotations

import sys
from pathlib import Path

from europanel.commands.common import (
    add_cohort_options,
    add_settings_option,
    cohort_samples,
    ploidy_map,
)
from europanel.core.regions import builtin_par_bed, chunk_by_name, read_bed, read_fai
from europanel.io.sheets import InputError
from europanel.settings import bundle_min_group_size, load_settings

# Stage modules are imported inside their subcommands: each rule's environment then
# needs only its own stage's dependencies (isal for count, scipy for merge, ...).


def cmd_cohort_sheet(args) -> None:
    """Write one cohort's rows of the sample sheet (the per-cohort input of its jobs)."""
    rows = cohort_samples(args)
    partial = f"{args.output}.partial"
    rows.write_tsv(partial)
    Path(partial).replace(args.output)
    print(f"{args.cohort}: {len(rows)} samples", file=sys.stderr)


def cmd_count_chunk(args) -> None:
    """Normalise and count one cohort's records of one chunk in one process."""
    from europanel.core.counting import GenotypeQC
    from europanel.resources import block_size_for_memory
    from europanel.stages.count_chunk import normalise_and_count
    from europanel.stages.normalise import input_contigs

    settings = load_settings(args.settings, "count")
    lengths = read_fai(args.fasta)
    inputs = [input_contigs(path, set(lengths)) for path in args.vcf]
    chunk = chunk_by_name(args.chunk, lengths, settings["chunk_size"])
    samples = cohort_samples(args)
    block_size = settings["block_size"]
    if block_size is None:  # follows from the memory the job was given
        if args.mem_mb is None:
            raise InputError("block_size is null in the settings: pass --mem-mb to derive it")
        try:
            block_size = block_size_for_memory(args.mem_mb, len(samples))
        except ValueError as error:
            raise InputError(f"cohort {args.cohort}: {error}") from None
        print(f"block_size {block_size} (from mem_mb {args.mem_mb})", file=sys.stderr)
    normalised, counted = normalise_and_count(
        inputs,
        chunk,
        samples,
        args.fasta,
        ploidy_map(settings["reference"]),
        GenotypeQC(**settings["genotype_qc"]),
        {
            "counts": args.output,
            "count_stats": args.stats,
            "normalise_stats": args.normalise_stats,
        },
        block_size=block_size,
        normalise=settings["normalise"],
        histograms=settings["site_annotations"]["histograms"],
    )
    print(f"{args.cohort} {chunk.region}: {normalised}; {counted}", file=sys.stderr)


def cmd_count(args) -> None:
    """Count an already normalised BCF (what the benchmark times against htslib)."""
    from europanel.core.counting import GenotypeQC
    from europanel.stages.count import count_bcf_to_parquet

    settings = load_settings(args.settings, "count")
    # Streamed: one Parquet row group per block, so memory does not grow with the chunk.
    stats = count_bcf_to_parquet(
        args.bcf,
        cohort_samples(args),
        ploidy_map(settings["reference"]),
        GenotypeQC(**settings["genotype_qc"]),
        args.output,
        args.stats,
        block_size=settings["block_size"] or 10_000,
        histograms=settings["site_annotations"]["histograms"],
    )
    print(f"{args.cohort} {args.bcf}: {stats}", file=sys.stderr)


def cmd_bundle(args) -> None:
    from europanel.core.counting import GenotypeQC
    from europanel.stages.bundle import write_bundle

    given = load_settings(args.settings, "bundle")
    reference, privacy = given["reference"], given["privacy"]
    lengths = read_fai(args.fasta)
    chunk_counts = {contig: [] for contig in args.contigs}
    for path in args.counts:
        chunk_counts[Path(path).stem.rsplit("-", 1)[0]].append(path)
    qc = GenotypeQC(**given["genotype_qc"])
    weight = given["weight"]  # the cohorts sheet's weight column, if it has one
    settings = {
        "reference_build": reference["build"],
        "reference_fasta": Path(args.fasta).name,
        "par": read_bed(reference["par"] or builtin_par_bed(reference["build"])),
        "genotype_qc": {
            k: getattr(qc, k) for k in ("min_gq", "min_dp", "min_dp_haploid", "min_het_ab")
        },
        "normalise": given["normalise"],
        "config_sha256": args.config_digest,
        # Site annotations (issue 15): whether the counts carry the quality histograms, and
        # the cohort's weight in AF_weighted (the cohorts sheet's weight column), if any.
        "histograms": given["site_annotations"]["histograms"],
        **({"weight": weight} if weight is not None else {}),
    }
    salt_file = privacy["release_salt_file"]
    manifest = write_bundle(
        args.output,
        args.cohort,
        cohort_samples(args).frame(),
        {c: sorted(p) for c, p in chunk_counts.items()},
        {c: lengths[c] for c in args.contigs},
        settings,
        args.callable,
        args.vcf,
        min_group_size=bundle_min_group_size(privacy),
        release_salt=Path(salt_file).read_bytes() if salt_file else None,
    )
    print(
        f"bundle {args.output}: {manifest['samples']} samples, "
        f"{sum(c['records'] for c in manifest['counts'].values())} records",
        file=sys.stderr,
    )


def register(sub) -> None:
    p = sub.add_parser("cohort-sheet", help="write one cohort's rows of the sample sheet")
    add_cohort_options(p)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_cohort_sheet)

    p = sub.add_parser(
        "count-chunk", help="normalise and count one cohort's records of one chunk (one pass)"
    )
    add_cohort_options(p)
    add_settings_option(p, "count")
    p.add_argument("--vcf", nargs="+", required=True, help="the cohort's input files")
    p.add_argument("--chunk", required=True, help="chunk name, e.g. chr20-00003")
    p.add_argument("--fasta", required=True)
    p.add_argument(
        "--mem-mb", type=int, default=None, help="the job's memory (sets a null block_size)"
    )
    p.add_argument("--output", required=True, help="counts (Parquet)")
    p.add_argument("--stats", required=True, help="count statistics (JSON)")
    p.add_argument("--normalise-stats", required=True, help="normalise statistics (JSON)")
    p.set_defaults(func=cmd_count_chunk)

    p = sub.add_parser(
        "count", help="count a normalised BCF (benchmarks; the workflow runs count-chunk)"
    )
    add_cohort_options(p)
    add_settings_option(p, "count")
    p.add_argument("--bcf", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("bundle", help="gather one cohort's counts into a portable bundle")
    add_cohort_options(p)
    add_settings_option(p, "bundle")
    p.add_argument("--counts", nargs="+", required=True, help="the cohort's chunk count tables")
    p.add_argument("--contigs", nargs="+", required=True)
    p.add_argument("--fasta", required=True)
    p.add_argument("--callable", default=None, help="BED of regions the cohort could call")
    p.add_argument("--vcf", nargs="+", required=True, help="the cohort's input files")
    p.add_argument("--config-digest", required=True, help="sha256 of the effective config")
    p.add_argument("--output", required=True, help="bundle folder")
    p.set_defaults(func=cmd_bundle)
