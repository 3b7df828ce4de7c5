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

from europanel import __version__
from europanel.regions import (
    PloidyMap,
    bare_name,
    builtin_par_bed,
    chunk_by_name,
    read_bed,
    read_fai,
)
from europanel.sheets import InputError, read_tsv

# Stage modules are imported inside their subcommands: each rule's environment then
# needs only its own stage's dependencies (isal for count, scipy for merge, ...).


def threshold(text: str) -> float | None:
    """A genotype-QC threshold; `off` (or null/none) switches the criterion off."""
    return None if text.lower() in ("off", "null", "none") else float(text)


def genotype_qc(args):
    from europanel.count import GenotypeQC

    def as_int(value):
        return None if value is None else int(value)

    return GenotypeQC(
        as_int(args.min_gq), as_int(args.min_dp), as_int(args.min_dp_haploid), args.min_het_ab
    )


def cohort_samples(args):
    """The cohort's rows of the sample sheet (written per cohort by the workflow)."""
    samples = read_tsv(args.samples)
    return samples[samples["cohort"] == args.cohort].reset_index(drop=True)


def ploidy_map(args) -> PloidyMap:
    return PloidyMap.from_bed(args.par or builtin_par_bed(args.build))


def open_bundles(folders: list[str], verified: str | None = None, checksums: bool = True):
    """The bundles, refused when they cannot be summed. Counts files are hashed unless
    `verified` (the `verify-bundles` record of this run) vouches for them, or
    `checksums` is False (parse time: the verify_bundles rule does it once per run)."""
    from europanel.bundle import Bundle, check_compatible, check_verified

    bundles = [Bundle.open(folder) for folder in folders]
    check_compatible(bundles, checksums=checksums and verified is None)
    if verified:
        check_verified(bundles, verified)
    return bundles


def cmd_verify_bundles(args) -> None:
    from europanel.bundle import manifest_digests

    bundles = open_bundles(args.bundles)
    partial = f"{args.output}.partial"
    Path(partial).write_text(json.dumps(manifest_digests(bundles), indent=1, sort_keys=True))
    Path(partial).replace(args.output)
    print(f"{len(bundles)} bundles verified", file=sys.stderr)


def cmd_cohort_sheet(args) -> None:
    """Write one cohort's rows of the sample sheet (the per-cohort input of its jobs)."""
    rows = cohort_samples(args)
    partial = f"{args.output}.partial"
    rows.to_csv(partial, sep="\t", index=False)
    Path(partial).replace(args.output)
    print(f"{args.cohort}: {len(rows)} samples", file=sys.stderr)


def cmd_normalise(args) -> None:
    from europanel.normalise import input_contigs, normalise_chunk

    reference = set(read_fai(args.fasta))
    inputs = [input_contigs(path, reference) for path in args.vcf]
    chunk = chunk_by_name(args.chunk, read_fai(args.fasta), args.chunk_size)
    samples = cohort_samples(args)["sample"].tolist()
    stats = normalise_chunk(
        inputs,
        chunk,
        samples,
        args.fasta,
        args.output,
        realign_window=args.realign_window,
        ref_mismatch=args.ref_mismatch,
    )
    Path(args.stats).write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    print(f"{args.cohort} {chunk.region}: {stats}", file=sys.stderr)


def cmd_count(args) -> None:
    from europanel.count import count_bcf_to_parquet

    # Streamed: one Parquet row group per block, so memory does not grow with the chunk.
    stats = count_bcf_to_parquet(
        args.bcf,
        cohort_samples(args),
        ploidy_map(args),
        genotype_qc(args),
        args.output,
        args.stats,
        block_size=args.block_size,
        histograms=args.histograms,
    )
    print(f"{args.cohort} {args.bcf}: {stats}", file=sys.stderr)


def cmd_bundle(args) -> None:
    from europanel.bundle import write_bundle

    lengths = read_fai(args.fasta)
    chunk_counts = {contig: [] for contig in args.contigs}
    for path in args.counts:
        chunk_counts[Path(path).stem.rsplit("-", 1)[0]].append(path)
    qc = genotype_qc(args)
    settings = {
        "reference_build": args.build,
        "reference_fasta": Path(args.fasta).name,
        "par": read_bed(args.par or builtin_par_bed(args.build)),
        "genotype_qc": {
            k: getattr(qc, k) for k in ("min_gq", "min_dp", "min_dp_haploid", "min_het_ab")
        },
        "normalise": {"realign_window": args.realign_window, "ref_mismatch": args.ref_mismatch},
        "config_sha256": args.config_digest,
        # Site annotations (issue 15): whether the counts carry the quality histograms, and
        # the cohort's weight in AF_weighted (the cohorts sheet's weight column), if any.
        "histograms": args.histograms,
        **({"weight": args.weight} if args.weight is not None else {}),
    }
    manifest = write_bundle(
        args.output,
        args.cohort,
        cohort_samples(args),
        {c: sorted(p) for c, p in chunk_counts.items()},
        {c: lengths[c] for c in args.contigs},
        settings,
        args.callable,
        args.vcf,
        min_group_size=args.min_group_size,
        release_salt=Path(args.release_salt_file).read_bytes() if args.release_salt_file else None,
    )
    print(
        f"bundle {args.output}: {manifest['samples']} samples, "
        f"{sum(c['records'] for c in manifest['counts'].values())} records",
        file=sys.stderr,
    )


def cmd_merge(args) -> None:
    # Imported here: merge needs scipy, which every other job would pay ~0.1 s to load.
    from europanel.merge import (
        CohortCounts,
        PanelGroups,
        PanelPolicy,
        merge_chunk,
        merged_columns,
    )
    from europanel.sitestats import SiteAnnotationPolicy

    bundles = open_bundles(args.bundles, verified=args.verified)
    panel = PanelGroups.from_manifests([b.manifest for b in bundles])
    chunk_size = args.chunk_size
    chunk = chunk_by_name(args.chunk, bundles[0].manifest["contigs"], chunk_size)
    histograms = all(b.manifest.get("histograms", False) for b in bundles)
    contributions = [
        CohortCounts(
            b.cohort,
            b.counts(
                chunk.contig,
                chunk.start,
                chunk.end,
                columns=lambda names: merged_columns(names, histograms),
            ),
            b.callable_spans(chunk.contig),
            b.manifest["reference_an"],
            b.manifest["groups"],
        )
        for b in bundles
    ]
    policy = PanelPolicy(
        args.absent_sites, tuple(args.faf_exclude), args.min_group_size, args.min_carriers
    )
    par = bundles[0].manifest["par"]
    ploidy = PloidyMap(
        {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in par.items()}
    )
    manifests = [b.manifest for b in bundles]
    annotations = SiteAnnotationPolicy(
        histograms=histograms,
        inbreeding_coeff_filter=threshold(args.inbreeding_coeff_filter),
        country_het_p=args.country_het_p,
        country_het_fst=args.country_het_fst,
        weights=bundle_weights(manifests),
        cell_sizes={
            (b.cohort, p): b.manifest["groups"].get(p, 0)
            for b in bundles
            for p in b.manifest["populations"]
        },
        min_cell_size=args.min_group_size,
    )
    records, summary = merge_chunk(chunk.contig, contributions, panel, ploidy, policy, annotations)
    records.to_parquet(args.output, index=False)
    Path(args.summary).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"{args.chunk}: {summary}", file=sys.stderr)


def bundle_weights(manifests: list[dict]) -> dict[str, float]:
    """cohort -> weight in AF_weighted, from the bundles; {} (no AF_weighted) unless every
    bundle has one: renormalising over some cohorts only would misrepresent Europe."""
    if not manifests or not all("weight" in m for m in manifests):
        return {}
    return {m["cohort"]: float(m["weight"]) for m in manifests}


def provenance_lines(bundles, config_digest: str) -> list[tuple[str, str]]:
    """Header lines saying what the panel was built from (DESIGN §7, no sample names)."""
    lines = [("europanel_config_sha256", config_digest)]
    for bundle in sorted(bundles, key=lambda b: b.cohort):
        m = bundle.manifest
        files = ",".join(f"{i['file']}:{i['bytes']}:{i['header_sha256'][:16]}" for i in m["inputs"])
        lines.append(
            (
                "europanel_cohort",
                f"<ID={m['cohort']},Samples={m['samples']},"
                f'Config_sha256={m["config_sha256"]},Inputs="{files}",'
                f"Europanel={m['tools']['europanel']}>",
            )
        )
    return lines


def cmd_publish_part(args) -> None:
    from europanel.publish import write_part

    records = write_part(args.chunk_table, args.vcf_part, args.parquet_part, args.fasta)
    print(f"{args.chunk_table}: {records} records", file=sys.stderr)


def release_record(bundles, panel, min_group_size: int) -> dict:
    """Per published group: sample number and the digest of its sample set (from the
    bundles' salted per-cohort digests; None when a node gave none)."""
    from europanel.disclosure import TOTAL, combined_digest

    digests = [b.manifest.get("release_digests") for b in bundles]
    groups = {}
    for g in [TOTAL, *panel.published(min_group_size)]:
        pieces = []
        for bundle, own in zip(bundles, digests):
            if own is None:
                pieces = None
                break
            key = bundle.cohort if g == TOTAL else g
            if key in own:
                pieces.append(own[key])
        size = sum(panel.sizes[c] for c in panel.cohorts) if g == TOTAL else panel.sizes[g]
        groups[g] = {"samples": size, "digest": combined_digest(pieces) if pieces else None}
    return {"min_group_size": min_group_size, "groups": groups}


def release_lines(release: dict) -> list[tuple[str, str]]:
    return [
        (
            "europanel_release_group",
            f"<ID={g or '.'},Samples={v['samples']},Digest={v['digest'] or '.'}>",
        )
        for g, v in release["groups"].items()
    ]


def cmd_publish(args) -> None:
    from europanel.audit import read_release
    from europanel.disclosure import release_problems
    from europanel.merge import PanelGroups
    from europanel.publish import join_panel

    bundles = open_bundles(args.bundles)
    first = bundles[0].manifest
    panel = PanelGroups.from_manifests([b.manifest for b in bundles])
    release = release_record(bundles, panel, args.min_group_size)
    if args.previous_release:
        problems = release_problems(
            read_release(args.previous_release), release["groups"], args.min_group_size
        )
        if problems:
            raise InputError(
                f"this release differs from {args.previous_release} by fewer than "
                f"k = {args.min_group_size} samples in some groups; the difference of the two "
                "releases would be those samples' genotypes. Nothing was published.\n"
                + "\n".join(problems)
            )
    header = {
        "reference": first["reference_fasta"],
        "build": first["reference_build"],
        "extra": provenance_lines(bundles, args.config_digest) + release_lines(release),
    }
    weights = bundle_weights([b.manifest for b in bundles])
    if weights:  # the definition of AF_weighted's w_c
        shares = ",".join(f"{c}={w:g}" for c, w in sorted(weights.items()))
        header["extra"].append(("AF_weighted_weights", shares))
    if args.fasta:  # VRS IDs: the FASTA must be the bundles' reference
        lengths = read_fai(args.fasta)
        differ = [c for c, n in first["contigs"].items() if lengths.get(c) != n]
        if differ:
            raise InputError(
                f"{args.fasta}: contig lengths differ from the bundles' reference "
                f"({', '.join(differ[:5])}); give the FASTA the bundles were built on"
            )
    records = join_panel(
        args.vcf_parts,
        args.parquet_parts,
        args.vcf,
        args.parquet,
        first["contigs"],
        header,
        panel.cohorts,
    )
    partial = f"{args.release}.partial"
    Path(partial).write_text(json.dumps(release, indent=1, sort_keys=True) + "\n")
    Path(partial).replace(args.release)
    print(f"published {records} records to {args.vcf}", file=sys.stderr)


def cmd_audit(args) -> None:
    from europanel.audit import audit
    from europanel.bundle import Bundle

    manifests = {folder: Bundle.open(folder).manifest for folder in args.bundles}
    problems, checked = audit(
        manifests,
        args.min_group_size,
        parquet=args.parquet,
        vcf=args.vcf,
        report=args.report,
        release=args.release,
        previous_release=args.previous_release,
        bundle_k=args.bundle_min_group_size,
    )
    if problems:
        raise InputError(
            f"the published files let {len(problems)} small group(s) be derived "
            f"(k = {args.min_group_size}); do not release them. Report this as a bug of "
            "europanel's disclosure control, with this message:\n" + "\n".join(problems)
        )
    text = json.dumps({"passed": True, "checked": checked}, indent=1, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(f"audit passed: {checked}", file=sys.stderr)


def cmd_allsites(args) -> None:
    from europanel.allsites import published_groups, write_allsites
    from europanel.merge import PanelGroups

    bundles = open_bundles(args.bundles)
    manifests = [b.manifest for b in bundles]
    groups = published_groups(args.panel, PanelGroups.from_manifests(manifests).ordered())
    lengths = manifests[0]["contigs"]
    rows = write_allsites(
        manifests,
        {c: lengths[c] for c in args.contigs},
        groups,
        args.absent_sites,
        args.output,
        args.parquet,
    )
    print(f"all-sites AN: {rows} intervals, {len(groups)} groups", file=sys.stderr)


def cmd_gdi_export(args) -> None:
    from europanel.gdi import export_gdi, require_codes, write_summary

    bundles = open_bundles(args.bundles)
    first = bundles[0].manifest
    countries = dict(pair.split("=", 1) for pair in args.countries)
    require_codes(countries, args.panel_label)
    outdir = str(Path(args.summary).parent)
    for stale in Path(outdir).glob("*.sites.vcf.gz*"):  # a cohort withheld since last run
        stale.unlink()
    lengths = first["contigs"]
    written = export_gdi(
        args.panel,
        outdir,
        countries,
        args.panel_label,
        {c: lengths[c] for c in args.contigs},
        args.panel_name,
        first["reference_fasta"],
    )
    write_summary(args.summary, written, countries, args.panel_label)
    print(f"GDI export: {written}", file=sys.stderr)


def cmd_lookup(args) -> None:
    from europanel.lookup import Panel, check_files, iter_answers, write_answers

    allsites = args.allsites or args.panel.replace(".sites.vcf.gz", ".allsites_an.tsv.gz")
    check_files(args.panel, allsites, args.fasta, f"{args.fasta}.fai")
    answers = iter_answers(args.variants, args.panel, allsites, args.fasta)
    write_answers(answers, Panel(args.panel, allsites).groups, args.format)


# QC report (europanel.report; matplotlib is imported only by this subcommand).
def cmd_qc_figures(args) -> None:
    from europanel import report

    print(f"qc-figures {args.what}: {report.run(args)}", file=sys.stderr)


def add_qc_figures_parser(sub) -> None:
    p = sub.add_parser("qc-figures", help="figures and tables of the QC report (aggregates only)")
    p.add_argument(
        "what",
        choices=["samples", "sites", "cohorts", "panel", "summary"],
        help="which part of the report to make",
    )
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument(
        "--min-group-size",
        type=int,
        required=True,
        help="privacy.min_group_size: smaller groups are never plotted",
    )
    p.add_argument("--min-carriers", type=int, default=0, help="privacy.min_carriers")
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


def add_cohort_options(parser) -> None:
    parser.add_argument("--cohort", required=True)
    parser.add_argument(
        "--samples", required=True, help="sample sheet (TSV) with the cohort's rows"
    )


def add_ploidy_options(parser) -> None:
    parser.add_argument("--build", default="GRCh38", choices=["GRCh38", "GRCh37"])
    parser.add_argument("--par", default=None, help="BED of PAR regions (overrides --build)")


def add_qc_options(parser) -> None:
    for name, default in (
        ("min-gq", "20"),
        ("min-dp", "10"),
        ("min-dp-haploid", "5"),
        ("min-het-ab", "0.2"),
    ):
        parser.add_argument(
            f"--{name}",
            type=threshold,
            default=threshold(default),
            help=f"genotype QC threshold, or 'off' (default {default})",
        )


def add_normalise_options(parser) -> None:
    parser.add_argument("--realign-window", type=int, default=1000)
    parser.add_argument("--ref-mismatch", choices=["error", "drop"], default="error")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="europanel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"europanel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("cohort-sheet", help="write one cohort's rows of the sample sheet")
    add_cohort_options(p)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_cohort_sheet)

    p = sub.add_parser("normalise", help="normalise one cohort's records of one chunk")
    add_cohort_options(p)
    add_normalise_options(p)
    p.add_argument("--vcf", nargs="+", required=True, help="the cohort's input files")
    p.add_argument("--chunk", required=True, help="chunk name, e.g. chr20-00003")
    p.add_argument("--chunk-size", type=int, required=True)
    p.add_argument("--fasta", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    p.set_defaults(func=cmd_normalise)

    p = sub.add_parser("count", help="count one cohort's normalised BCF of one chunk")
    add_cohort_options(p)
    add_ploidy_options(p)
    add_qc_options(p)
    p.add_argument("--bcf", required=True)
    p.add_argument("--block-size", type=int, default=10_000)
    p.add_argument("--histograms", action="store_true", help="add GQ/DP/allele-balance histograms")
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("bundle", help="gather one cohort's counts into a portable bundle")
    add_cohort_options(p)
    add_ploidy_options(p)
    add_qc_options(p)
    add_normalise_options(p)
    p.add_argument("--counts", nargs="+", required=True, help="the cohort's chunk count tables")
    p.add_argument("--contigs", nargs="+", required=True)
    p.add_argument("--fasta", required=True)
    p.add_argument("--callable", default=None, help="BED of regions the cohort could call")
    p.add_argument("--vcf", nargs="+", required=True, help="the cohort's input files")
    p.add_argument("--config-digest", required=True, help="sha256 of the effective config")
    p.add_argument(
        "--min-group-size",
        type=int,
        default=0,
        help="privacy.bundle_min_group_size: smaller groups never leave the node",
    )
    p.add_argument(
        "--release-salt-file",
        default=None,
        help="secret salt for the sample-set digests of release checks (never published)",
    )
    p.add_argument("--output", required=True, help="bundle folder")
    p.add_argument("--histograms", action="store_true", help="the counts carry histograms")
    p.add_argument("--weight", type=float, default=None, help="the cohort's AF_weighted weight")
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("verify-bundles", help="check the bundles' checksums (once per run)")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--output", required=True, help="record of the verified manifests (JSON)")
    p.set_defaults(func=cmd_verify_bundles)

    p = sub.add_parser("merge", help="merge the bundles' counts of one chunk")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument(
        "--verified", default=None, help="verify-bundles record: skip hashing counts files"
    )
    p.add_argument("--chunk", required=True)
    p.add_argument("--chunk-size", type=int, required=True)
    p.add_argument("--absent-sites", choices=["reference", "missing"], default="reference")
    p.add_argument("--faf-exclude", nargs="*", default=[])
    p.add_argument("--min-group-size", type=int, default=0)
    p.add_argument("--min-carriers", type=int, default=0)
    p.add_argument("--inbreeding-coeff-filter", default="-0.3", help="F below: FILTER; or off")
    p.add_argument("--country-het-p", type=float, default=1e-8)
    p.add_argument("--country-het-fst", type=float, default=0.005, help="drift allowed")
    p.add_argument("--output", required=True)
    p.add_argument("--summary", required=True)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("publish-part", help="one merged chunk as VCF records (BGZF) + Parquet")
    p.add_argument("--chunk-table", required=True, help="merged chunk table (merge's output)")
    p.add_argument("--vcf-part", required=True, help="BGZF records, no header")
    p.add_argument("--parquet-part", required=True)
    p.add_argument("--fasta", default=None, help="reference FASTA: adds VRS Allele IDs")
    p.set_defaults(func=cmd_publish_part)

    p = sub.add_parser("publish", help="join the chunks' pieces into the panel VCF + Parquet")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--vcf-parts", nargs="+", required=True, help="publish-part VCFs, in order")
    p.add_argument("--parquet-parts", nargs="+", required=True, help="publish-part Parquets")
    p.add_argument("--config-digest", required=True, help="sha256 of the effective config")
    p.add_argument("--vcf", required=True)
    p.add_argument("--parquet", required=True)
    p.add_argument("--release", required=True, help="release record (JSON) to write")
    p.add_argument("--min-group-size", type=int, default=0, help="privacy.min_group_size")
    p.add_argument(
        "--previous-release", default=None, help="the previous release's JSON or panel VCF"
    )
    p.add_argument("--fasta", default=None, help="reference FASTA of the VRS IDs (checked)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("audit", help="check that no small group is derivable from published files")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--min-group-size", type=int, required=True, help="privacy.min_group_size")
    p.add_argument("--bundle-min-group-size", type=int, default=None)
    p.add_argument("--vcf", default=None, help="panel VCF")
    p.add_argument("--parquet", default=None, help="panel Parquet")
    p.add_argument("--report", default=None, help="report summary HTML")
    p.add_argument("--release", default=None, help="this release's JSON")
    p.add_argument("--previous-release", default=None, help="the previous release's JSON or VCF")
    p.add_argument("--output", default=None, help="audit result (JSON) to write")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("allsites", help="all-sites AN of the published groups (RLE, tabix)")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--panel", required=True, help="the panel's Parquet (its published groups)")
    p.add_argument("--contigs", nargs="+", required=True)
    p.add_argument("--absent-sites", choices=["reference", "missing"], default="reference")
    p.add_argument("--output", required=True, help="bgzipped TSV (.tsv.gz), tabix-indexed")
    p.add_argument("--parquet", required=True)
    p.set_defaults(func=cmd_allsites)

    p = sub.add_parser("gdi-export", help="GDI / Beacon v2 allele-frequency VCFs per country")
    p.add_argument("--panel", required=True, help="the panel's Parquet")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--contigs", nargs="+", required=True)
    p.add_argument("--countries", nargs="*", default=[], help="cohort=CC pairs")
    p.add_argument("--panel-label", default="EU")
    p.add_argument("--panel-name", required=True)
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

    # Benchmark tooling (simulate.py, bench.py): imported only when used.
    p = sub.add_parser("simulate", help="simulate country cohorts at real sizes (msprime)")
    from europanel import simulate

    simulate.add_arguments(p)
    p.set_defaults(func=simulate.run)
    p = sub.add_parser("bench", help="benchmark against bcftools, plink2 and scikit-allel")
    from europanel import bench

    bench.add_arguments(p)
    p.set_defaults(func=bench.run)
    add_qc_figures_parser(sub)
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
