# Resources: mem_mb and runtime (minutes) of each rule, as input functions. The models
# are in europanel/resources.py (pure functions, unit tested); here, the numbers they
# take, from the sheets and the inputs' indexes, or in the central merge from the manifests.


import functools


def verify_bundles_runtime(wildcards, attempt):
    sizes = [
        os.path.getsize(path)
        for path in all_bundle_counts(wildcards)
        if os.path.exists(path)
    ]
    return resources.verify_bundles_runtime(sum(sizes), attempt)


@functools.cache
def cohort_input_records(cohort):
    """Records per reference contig in the cohort's inputs (None: no index statistics)."""
    if BUNDLE_MODE:
        manifest = next(m for m in MANIFESTS if m["cohort"] == cohort)
        return {
            contig: entry["records"] for contig, entry in manifest["counts"].items()
        }
    records = {}
    for vcf in cohort_files(cohort, "vcf"):
        in_vcf = resources.index_records(vcf, set(CONTIG_LENGTHS))
        if in_vcf is None:
            return None
        for contig, n_records in in_vcf.items():
            records[contig] = records.get(contig, 0) + n_records
    return records


@functools.cache
def cohort_input_samples(cohort):
    """Samples bcftools decodes per record: the largest input's, not only the sheet's."""
    if BUNDLE_MODE:
        return next(m for m in MANIFESTS if m["cohort"] == cohort)["samples"]
    in_headers = [resources.header_samples(vcf) for vcf in cohort_files(cohort, "vcf")]
    return max([len(cohort_samples(cohort))] + [n for n in in_headers if n is not None])


def contig_records(cohort, contig):
    records = cohort_input_records(cohort)
    if records is None:
        return resources.unknown_density_records(CONTIG_LENGTHS[contig])
    return records.get(contig, 0)


def region_records(cohort, chunk, flank=0):
    """Records expected in a chunk widened by `flank` bp."""
    region = chunk_by_name(chunk, CONTIG_LENGTHS, config["chunk_size"])
    return resources.span_records(
        contig_records(cohort, region.contig),
        CONTIG_LENGTHS[region.contig],
        region.start,
        region.end,
        flank,
    )


@functools.cache
def cohort_group_count(cohort):
    if BUNDLE_MODE:
        return len(next(m for m in MANIFESTS if m["cohort"] == cohort)["groups"])
    return len(cohort_groups(cohort_samples(cohort)))


@functools.cache
def panel_group_count():
    if BUNDLE_MODE:
        return len(PanelGroups.from_manifests(MANIFESTS).ordered())
    return len(SAMPLE_SHEET.panel_groups())


def panel_records():
    """At most the sum of the cohorts' records (a site shared by cohorts is one record)."""
    return sum(contig_records(c, contig) for c in COHORTS for contig in CONTIGS)


def chunk_panel_records(chunk):
    """At most the records the cohorts hold in the chunk (a site seen twice is one record)."""
    return sum(region_records(cohort, chunk) for cohort in COHORTS)


def largest_contig_records(cohorts):
    return max(
        sum(contig_records(cohort, contig) for cohort in cohorts) for contig in CONTIGS
    )


def count_mem_mb(wildcards, attempt):
    return resources.count_mem_mb(
        cohort_input_samples(wildcards.cohort),
        len(cohort_samples(wildcards.cohort)),
        config["block_size"],
        region_records(wildcards.cohort, wildcards.chunk),
        cohort_group_count(wildcards.cohort),
        attempt,
    )


def count_runtime(wildcards, attempt):
    flank = config["normalise"]["realign_window"]
    return resources.count_runtime(
        region_records(wildcards.cohort, wildcards.chunk, flank),
        region_records(wildcards.cohort, wildcards.chunk),
        cohort_input_samples(wildcards.cohort),
        len(cohort_samples(wildcards.cohort)),
        attempt,
    )


def bundle_mem_mb(wildcards, attempt):
    return resources.bundle_mem_mb(
        largest_contig_records([wildcards.cohort]),
        cohort_group_count(wildcards.cohort),
        attempt,
    )


def bundle_runtime(wildcards, attempt):
    vcfs = [Path(vcf) for vcf in cohort_files(wildcards.cohort, "vcf")]
    return resources.bundle_runtime(
        sum(vcf.stat().st_size for vcf in vcfs if vcf.exists()),
        sum(contig_records(wildcards.cohort, contig) for contig in CONTIGS),
        attempt,
    )


def merge_mem_mb(wildcards, attempt):
    cohort_rows = [
        (region_records(cohort, wildcards.chunk), cohort_group_count(cohort))
        for cohort in COHORTS
    ]
    return resources.merge_mem_mb(
        cohort_rows, chunk_panel_records(wildcards.chunk), panel_group_count(), attempt
    )


def merge_runtime(wildcards, attempt):
    return resources.merge_runtime(
        chunk_panel_records(wildcards.chunk),
        len(COHORTS),
        panel_group_count(),
        bool(VRS_FASTA),
        attempt,
    )


def largest_chunk_records():
    """Panel records of a chunk at the densest contig's records per bp."""
    records_per_bp = max(
        sum(contig_records(c, contig) for c in COHORTS) / CONTIG_LENGTHS[contig]
        for contig in CONTIGS
    )
    return records_per_bp * config["chunk_size"]


def publish_mem_mb(wildcards, attempt):
    return resources.publish_mem_mb(
        len(CHUNKS), largest_chunk_records(), panel_group_count(), attempt
    )


def publish_runtime(wildcards, attempt):
    return resources.publish_runtime(panel_records(), attempt)


def gdi_part_runtime(wildcards, attempt):
    return resources.gdi_part_runtime(
        chunk_panel_records(wildcards.chunk), panel_group_count(), attempt
    )


def report_cohorts_mem_mb(wildcards, attempt):
    return resources.report_cohorts_mem_mb(largest_contig_records(COHORTS), attempt)


def report_cohorts_runtime(wildcards, attempt):
    return resources.report_cohorts_runtime(panel_records(), len(COHORTS), attempt)
