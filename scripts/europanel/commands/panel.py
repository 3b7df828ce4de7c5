"""From the bundles alone, per chunk then once: `verify-bundles`, `merge` (which writes the
chunk's piece of the panel), `publish`, `audit`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from europanel.commands.common import add_settings_option, add_verified_option, open_bundles
from europanel.core.regions import PloidyMap, bare_name, chunk_by_name, read_fai
from europanel.io.sheets import InputError
from europanel.settings import bundle_min_group_size, load_settings

PIECE_CPU = "CPU s writing the panel's piece: "


def cmd_verify_bundles(args) -> None:
    from europanel.stages.bundle import manifest_digests

    bundles = open_bundles(args.bundles)
    partial = f"{args.output}.partial"
    Path(partial).write_text(json.dumps(manifest_digests(bundles), indent=1, sort_keys=True))
    Path(partial).replace(args.output)
    print(f"{len(bundles)} bundles verified", file=sys.stderr)


def cmd_merge(args) -> None:
    # Imported here: merge needs scipy, which every other job would pay ~0.1 s to load.
    from europanel.core.panel_groups import PanelGroups
    from europanel.core.sitestats import SiteAnnotationPolicy
    from europanel.stages.merge import CohortCounts, PanelPolicy, merge_chunk, merged_columns

    settings = load_settings(args.settings, "merge")
    privacy = settings["privacy"]
    bundles = open_bundles(args.bundles, verified=args.verified)
    panel = PanelGroups.from_manifests([b.manifest for b in bundles])
    chunk = chunk_by_name(args.chunk, bundles[0].manifest["contigs"], settings["chunk_size"])
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
        absent_sites=settings["merge"]["absent_sites"],
        faf_exclude=tuple(settings["frequencies"]["faf_exclude"]),
        min_group_size=privacy["min_group_size"],
        min_carriers=privacy["min_carriers"],
    )
    par = bundles[0].manifest["par"]
    ploidy = PloidyMap(
        {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in par.items()}
    )
    manifests = [b.manifest for b in bundles]
    annotations = SiteAnnotationPolicy(
        **settings["site_annotations"],
        histograms=histograms,
        weights=bundle_weights(manifests),
        cell_sizes={
            (b.cohort, p): b.manifest["groups"].get(p, 0)
            for b in bundles
            for p in b.manifest["populations"]
        },
        min_cell_size=privacy["min_group_size"],
    )
    records, summary = merge_chunk(chunk.contig, contributions, panel, ploidy, policy, annotations)
    merged = time.process_time()
    # The piece's modules (pysam, zlib-ng, VRS) are loaded in the time `make bench` prices
    # as publishing, per panel record, not as merging, per site x cohort.
    import pyarrow as pa

    from europanel.stages.publish import write_part

    # One thread, as the job has: Arrow's pool would spend more CPU handing the columns
    # over than converting them (0.17-0.25 -> 0.09 s on a benchmark chunk).
    table = pa.Table.from_pandas(records, preserve_index=False, nthreads=1)
    del records
    written = write_part(table, args.vcf_part, args.parquet_part, args.fasta)
    Path(args.summary).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"{args.chunk}: {summary}; {written} records in the panel's piece", file=sys.stderr)
    # Read by `make bench`, which prices the two halves per site x cohort and per record.
    print(f"{PIECE_CPU}{time.process_time() - merged:.3f}", file=sys.stderr)


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


def release_record(bundles, panel, min_group_size: int) -> dict:
    """Per published group: sample number and the digest of its sample set (from the
    bundles' salted per-cohort digests; None when a node gave none)."""
    from europanel.core.disclosure import TOTAL, combined_digest

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
    from europanel.core.disclosure import release_problems
    from europanel.core.panel_groups import PanelGroups
    from europanel.stages.audit import read_release
    from europanel.stages.publish import join_panel

    privacy = load_settings(args.settings, "publish")["privacy"]
    k, previous = privacy["min_group_size"], privacy["previous_release"]
    bundles = open_bundles(args.bundles)
    first = bundles[0].manifest
    panel = PanelGroups.from_manifests([b.manifest for b in bundles])
    release = release_record(bundles, panel, k)
    if previous:
        problems = release_problems(read_release(previous), release["groups"], k)
        if problems:
            raise InputError(
                f"this release differs from {previous} by fewer than "
                f"k = {k} samples in some groups; the difference of the two "
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
    from europanel.stages.audit import audit
    from europanel.stages.bundle import Bundle

    privacy = load_settings(args.settings, "audit")["privacy"]
    manifests = {folder: Bundle.open(folder).manifest for folder in args.bundles}
    problems, checked = audit(
        manifests,
        privacy["min_group_size"],
        parquet=args.parquet,
        vcf=args.vcf,
        report=args.report,
        release=args.release,
        previous_release=privacy["previous_release"],
        bundle_k=bundle_min_group_size(privacy),
        region_files=args.chunk_patterns,
    )
    if problems:
        raise InputError(
            f"the published files let {len(problems)} small group(s) be derived "
            f"(k = {privacy['min_group_size']}); do not release them. Report this as a bug of "
            "europanel's disclosure control, with this message:\n" + "\n".join(problems)
        )
    text = json.dumps({"passed": True, "checked": checked}, indent=1, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(f"audit passed: {checked}", file=sys.stderr)


def cmd_audit_chunk(args) -> None:
    from europanel.stages.audit import Lattice, region_patterns
    from europanel.stages.bundle import Bundle

    lattice = Lattice([Bundle.open(folder).manifest for folder in args.bundles])
    found = region_patterns(lattice, args.vcf, args.parquet, args.region)
    partial = f"{args.output}.partial"
    Path(partial).write_text(json.dumps(found) + "\n")
    os.replace(partial, args.output)
    print(
        f"{args.region}: {found['vcf']['records']} VCF and {found['parquet']['records']} "
        f"Parquet records, {len(found['vcf']['patterns'])} and "
        f"{len(found['parquet']['patterns'])} patterns",
        file=sys.stderr,
    )


def register(sub) -> None:
    p = sub.add_parser("verify-bundles", help="check the bundles' checksums (once per run)")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--output", required=True, help="record of the verified manifests (JSON)")
    p.set_defaults(func=cmd_verify_bundles)

    p = sub.add_parser(
        "merge", help="merge the bundles' counts of one chunk into its piece of the panel"
    )
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    add_verified_option(p)
    p.add_argument("--chunk", required=True)
    add_settings_option(p, "merge")
    p.add_argument("--vcf-part", required=True, help="the chunk's VCF records (BGZF, no header)")
    p.add_argument("--parquet-part", required=True, help="the chunk's Parquet rows")
    p.add_argument("--fasta", default=None, help="reference FASTA: adds VRS Allele IDs")
    p.add_argument("--summary", required=True)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("publish", help="join the chunks' pieces into the panel VCF + Parquet")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument(
        "--vcf-parts", nargs="+", required=True, help="the merge jobs' VCF pieces, in order"
    )
    p.add_argument(
        "--parquet-parts", nargs="+", required=True, help="the merge jobs' Parquet pieces"
    )
    p.add_argument("--config-digest", required=True, help="sha256 of the effective config")
    p.add_argument("--vcf", required=True)
    p.add_argument("--parquet", required=True)
    p.add_argument("--release", required=True, help="release record (JSON) to write")
    add_settings_option(p, "publish")
    p.add_argument("--fasta", default=None, help="reference FASTA of the VRS IDs (checked)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("audit", help="check that no small group is derivable from published files")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    add_settings_option(p, "audit")
    p.add_argument("--vcf", default=None, help="panel VCF")
    p.add_argument("--parquet", default=None, help="panel Parquet")
    p.add_argument("--report", default=None, help="report summary HTML")
    p.add_argument("--release", default=None, help="this release's JSON")
    p.add_argument("--output", default=None, help="audit result (JSON) to write")
    p.add_argument(
        "--chunk-patterns",
        nargs="+",
        default=None,
        help="audit-chunk outputs, in genome order: the VCF's and Parquet's patterns",
    )
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("audit-chunk", help="the panel's record patterns in one chunk")
    p.add_argument("--bundles", nargs="+", required=True, help="bundle folders")
    p.add_argument("--vcf", required=True, help="panel VCF (bgzipped, tabix-indexed)")
    p.add_argument("--parquet", required=True, help="panel Parquet")
    p.add_argument("--region", required=True, help="the chunk, contig:start-end")
    p.add_argument("--output", required=True, help="patterns (JSON) for `audit`")
    p.set_defaults(func=cmd_audit_chunk)
