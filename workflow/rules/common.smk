# Configuration, sheets, chunks and input functions. No rules here.

import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

# This workflow's own folder: the one this file is in, not workflow.basedir (that is the
# user's Snakefile folder when this workflow runs as a module), symlinks resolved (a run
# folder may link to workflow/). The package next to it is the one parsed here and run
# by the rules, whatever europanel version the environment has installed.
WORKFLOW_DIR = (
    Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).resolve().parent
)
SCRIPTS_DIR = WORKFLOW_DIR.parent / "scripts"
sys.path.insert(0, str(SCRIPTS_DIR))

from europanel.blocksize import block_memory_mb
from europanel.cli import open_bundles
from europanel.regions import default_contigs, make_chunks, read_fai
from europanel.gdi import country_code_problems, country_codes
from europanel.sheets import (
    InputError,
    load_cohort_sheet,
    load_sample_sheet,
    read_sheet,
)
from europanel.sitestats import cohort_weights
from europanel.validate import config_schema_problems, problems_message
from europanel.validate import sheet_schema_problem, validate_inputs


# Validation runs here, while the Snakefile is parsed: before the DAG is built, so before
# any job, dry runs included. Every problem is reported at once; sys.exit (not an
# exception) keeps snakemake from adding a traceback or a location line.
def stop_on_problems(problems):
    if problems:
        print(problems_message(problems), file=sys.stderr)
        sys.exit(1)


def validate_sheet(path, schema):
    """The sheet against its JSON schema (after validate_inputs, which reports the same
    rules with more context; this keeps the schema the enforced contract)."""
    sheet, _ = read_sheet(path)
    try:
        validate(sheet.frame, schema=schema)
    except WorkflowError as error:
        stop_on_problems([sheet_schema_problem(sheet, error, schema)])


# Every schema violation at once, in plain words; then snakemake's validate fills in defaults.
CONFIG_SCHEMA = Path(workflow.source_path("../schemas/config.schema.yaml"))
stop_on_problems(
    config_schema_problems(
        config,
        yaml.safe_load(CONFIG_SCHEMA.read_text()),
        ", ".join(os.path.relpath(path) for path in workflow.configfiles)
        or "the config",
    )
)
validate(config, schema="../schemas/config.schema.yaml")

OUTDIR = config["outdir"]
# Central merge from country bundles alone: no sheet, no genotype, no FASTA needed.
BUNDLE_MODE = bool(config["bundles"])

if BUNDLE_MODE:
    BUNDLES = config["bundles"]
    try:
        # Settings only: hashing every counts file here would repeat in every cluster job
        # (each parses the workflow); the verify_bundles rule does it once per run.
        MANIFESTS = [
            bundle.manifest for bundle in open_bundles(BUNDLES, checksums=False)
        ]
    except InputError as error:
        sys.exit(f"europanel: the bundles cannot be merged; nothing was run.\n{error}")
    COHORTS = sorted(manifest["cohort"] for manifest in MANIFESTS)
    COHORT_WEIGHTS = {}  # the bundles carry their cohorts' weights
    CONTIG_LENGTHS = MANIFESTS[0]["contigs"]
    CONTIGS = config["contigs"] or list(CONTIG_LENGTHS)
else:
    # Only in the process the user started: a cluster job parses this file again, and
    # its inputs were checked when the run began.
    if workflow.is_main_process:
        stop_on_problems(validate_inputs(config))
    validate_sheet(config["cohorts"], "../schemas/cohorts.schema.yaml")
    validate_sheet(config["samples"], "../schemas/samples.schema.yaml")
    COHORT_SHEET = load_cohort_sheet(config["cohorts"])
    COHORT_SHEET_FRAME = read_sheet(config["cohorts"])[0].frame
    SAMPLE_SHEET = load_sample_sheet(
        config["samples"], sorted(set(COHORT_SHEET["cohort"]))
    )
    COHORTS = SAMPLE_SHEET.cohorts
    BUNDLES = [f"{OUTDIR}/bundles/{cohort}" for cohort in COHORTS]
    COHORT_WEIGHTS = cohort_weights(COHORT_SHEET_FRAME)
    FASTA = config["reference"]["fasta"]
    CONTIG_LENGTHS = read_fai(FASTA)
    CONTIGS = config["contigs"] or default_contigs(CONTIG_LENGTHS)

CHUNKS = [
    chunk.name for chunk in make_chunks(CONTIG_LENGTHS, CONTIGS, config["chunk_size"])
]


wildcard_constraints:
    cohort="|".join(COHORTS),
    chunk=r"[^/]+-\d{5}",


class PackageCommand:
    """The command line that runs the package, `{params.europanel} <subcommand> ...`.

    The package comes from this workflow's scripts/ folder (absolute path: runs from any
    directory, as a module too). The interpreter is the one running snakemake, by its
    path, so a job with a bare environment (cron, a SLURM job) finds the same one; with
    --sdm conda it is the rule's env's `python`. Not a str on purpose: snakemake leaves
    a parameter it cannot represent out of its params rerun trigger, so moving the
    project or starting snakemake another way reruns nothing.
    """

    def __init__(self, python, scripts):
        self.command = f"{python} -m europanel.cli"
        if (scripts / "europanel").is_dir():
            self.command = f"PYTHONPATH={shlex.quote(str(scripts))} {self.command}"

    def __str__(self):
        return self.command

    def __repr__(self):
        return f"PackageCommand({self.command!r})"


# Rules running the package have `europanel=EUROPANEL` in params and a conda env, which
# tests/test_envs.py checks holds what the subcommand imports.
EUROPANEL = PackageCommand(
    (
        "python"
        if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
        else shlex.quote(sys.executable)
    ),
    SCRIPTS_DIR,
)
# Digest of the effective config (defaults filled in), stamped into bundles and the panel.
CONFIG_DIGEST = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def cohort_files(cohort, column):
    rows = COHORT_SHEET[COHORT_SHEET["cohort"] == cohort]
    return [path for path in rows[column] if path]


def cohort_vcfs(wildcards):
    return cohort_files(wildcards.cohort, "vcf")


def cohort_vcf_indexes(wildcards):
    """The inputs' indexes, so snakemake notices when one is rebuilt."""
    return [
        f"{vcf}{ext}"
        for vcf in cohort_vcfs(wildcards)
        for ext in (".tbi", ".csi")
        if Path(f"{vcf}{ext}").exists()
    ]


def cohort_callable(wildcards):
    return sorted(set(cohort_files(wildcards.cohort, "callable")))


def cohort_rows(cohort):
    """The cohort's sample-sheet rows as TSV text (a rule parameter)."""
    return SAMPLE_SHEET.of_cohort(cohort).to_csv(sep="\t", index=False)


def cohort_samples(cohort):
    return SAMPLE_SHEET.of_cohort(cohort)


def cohort_chunk_counts(wildcards):
    return [f"{OUTDIR}/counts/{wildcards.cohort}/{chunk}.parquet" for chunk in CHUNKS]


def bundle_manifests(wildcards):
    return [f"{folder}/manifest.json" for folder in BUNDLES]


# Every job that reads bundle counts waits for their checksums (the verify_bundles job).
VERIFIED_BUNDLES = f"{OUTDIR}/bundles.verified.json"


def all_bundle_counts(wildcards):
    return [
        f"{folder}/counts/{contig}.parquet" for folder in BUNDLES for contig in CONTIGS
    ]


def verify_bundles_runtime(wildcards, attempt):
    """sha256 at ~500 MB/s of every counts file (bundle sizes: docs/SCALING.md)."""
    sizes = [
        os.path.getsize(path)
        for path in all_bundle_counts(wildcards)
        if os.path.exists(path)
    ]
    return minutes(sum(sizes) / 5e8, attempt)


def bundle_contig_counts(wildcards):
    contig = wildcards.chunk.rsplit("-", 1)[0]
    return [f"{folder}/counts/{contig}.parquet" for folder in BUNDLES]


def bundle_annotation_options(wildcards):
    """What a bundle records for the site annotations: histograms, the cohort's weight."""
    weight = COHORT_WEIGHTS.get(wildcards.cohort)
    return ("--histograms" if config["site_annotations"]["histograms"] else "") + (
        f" --weight {weight!r}" if weight is not None else ""
    )


def site_annotation_options():
    """The merge's site-annotation settings as the CLI takes them."""
    settings = config["site_annotations"]
    threshold = settings["inbreeding_coeff_filter"]
    return (
        f"--inbreeding-coeff-filter {'off' if threshold is None else threshold}"
        + f" --country-het-p {settings['country_het_p']}"
        + f" --country-het-fst {settings['country_het_fst']}"
    )


def ploidy_options():
    par = config["reference"]["par"]
    build = f"--build {config['reference']['build']}"
    return f"{build} --par {par}" if par else build


def bundle_min_group_size():
    """privacy.bundle_min_group_size, defaulting to privacy.min_group_size."""
    own = config["privacy"]["bundle_min_group_size"]
    return config["privacy"]["min_group_size"] if own is None else own


def release_salt_option():
    salt = config["privacy"]["release_salt_file"]
    return f"--release-salt-file {salt}" if salt else ""


def previous_release_option():
    previous = config["privacy"]["previous_release"]
    return f"--previous-release {previous}" if previous else ""


def qc_options():
    """Genotype-QC thresholds as the CLI takes them: a number, or 'off' for null."""
    return " ".join(
        f"--{name.replace('_', '-')} {'off' if value is None else value}"
        for name, value in config["genotype_qc"].items()
    )


def panel_outputs():
    stem = f"{OUTDIR}/panel/{config['panel_name']}"
    return [f"{stem}.sites.vcf.gz", f"{stem}.sites.vcf.gz.tbi", f"{stem}.sites.parquet"]


# GDI export, all-sites AN and VRS IDs (rules/gdi.smk, docs/GDI.md).
PANEL_STEM = f"{OUTDIR}/panel/{config['panel_name']}"
# VRS IDs need the sequences: a bundles-only merge has them only if a FASTA is configured.
VRS_FASTA = (config.get("reference") or {}).get("fasta")


def gdi_country_codes():
    """Cohort -> ISO 3166-1 alpha-2 code; refuses (before any job) a code that is not one."""
    sheet_countries = []
    if not BUNDLE_MODE:
        sheet, _ = read_sheet(config["cohorts"])
        if "country" in sheet.frame.columns:
            sheet_countries = [
                (cohort, country.strip(), sheet.lines[row])
                for row, (cohort, country) in enumerate(
                    zip(sheet.frame["cohort"], sheet.frame["country"])
                )
            ]
    codes = country_codes(
        COHORTS,
        None if BUNDLE_MODE else config["cohorts"],
        sheet_countries,
        config["gdi"]["countries"],
    )
    stop_on_problems(
        country_code_problems(COHORTS, codes, config["gdi"]["panel_label"])
    )
    return {cohort: code for cohort, (code, _) in codes.items()}


GDI_COUNTRIES = gdi_country_codes() if config["gdi"]["export"] else {}


def gdi_outputs():
    outputs = [f"{PANEL_STEM}.allsites_an.tsv.gz", f"{PANEL_STEM}.allsites_an.parquet"]
    if config["gdi"]["export"]:
        outputs.append(f"{OUTDIR}/gdi/summary.json")
    return outputs


# QC report (rules/report.smk): what `rule all` requests, so `snakemake --report` finds it.
# Normalise and count stats exist only when this run built the bundles from the sheets.
def report_outputs():
    names = [
        "samples.png",
        "concordance.png",
        "concordance.tsv",
        "cohort_qc.png",
        "cohort_qc.tsv",
        "sfs.png",
        "af_distribution.png",
        "country_het.png",
        "summary.html",
    ]
    if not BUNDLE_MODE:
        names.append("sites.png")
    return [f"{OUTDIR}/report/{name}" for name in names]


def report_sites_table(wildcards):
    return [] if BUNDLE_MODE else [f"{OUTDIR}/report/sites.tsv"]


def report_bundle_counts(wildcards):
    return [
        f"{folder}/counts/{contig}.parquet" for folder in BUNDLES for contig in CONTIGS
    ]


# ---------------------------------------------------------------------------------------
# Resources: mem_mb and runtime (minutes) of each rule, estimated from the inputs.
#
# Records per contig come from the inputs' index statistics (`bcftools index --stats` of
# the cohort VCFs) or, in the central merge, from the bundle manifests. Costs measured on
# one core with synthetic cohorts (1000 samples x 20k records; 20 samples x 400k records;
# 3 cohorts of 100-300 samples x 100-150k records through the whole workflow):
#   normalise  3-8 us per record + 0.3-0.6 us per genotype; 130-150 MB at any size
#   count      ~12 us per record + ~0.05 us per genotype; ~27 bytes per genotype of one
#              block plus ~180 bytes per record of the chunk (9 groups), over ~270 MB
#   bundle, merge: 45-70% of the memory estimated below; publish: see publish_mem_mb
# Per-record and per-genotype costs below are set about twice the measured ones; runtimes
# get a further margin of 3 (slower nodes, shared file systems) and a 10-minute floor.
# A retry (`retries` in profiles/slurm) asks for `attempt` times as much of both.

import functools
import math

from pysam import VariantFile
from pysam import bcftools as pysam_bcftools

from europanel.merge import PanelGroups
from europanel.regions import chunk_by_name, harmonised_name
from europanel.sheets import cohort_groups

# An input without index statistics is assumed as dense as a large WGS call set.
RECORDS_PER_BP_UNKNOWN = 0.25
MB = 1_000_000


def megabytes(n_bytes, attempt, floor):
    return math.ceil(floor + n_bytes / MB) * attempt


def minutes(seconds, attempt):
    return max(10, math.ceil(3 * seconds / 60)) * attempt


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
        try:
            stats = pysam_bcftools.index("--stats", vcf)
        except (
            Exception
        ):  # no statistics in the index: the rules themselves report bad input
            return None
        for line in stats.splitlines():
            name, _length, n_records = line.split("\t")
            contig = harmonised_name(name, set(CONTIG_LENGTHS))
            if contig is not None:
                records[contig] = records.get(contig, 0) + int(n_records)
    return records


@functools.cache
def cohort_input_samples(cohort):
    """Samples bcftools decodes per record: the largest input's, not only the sheet's."""
    if BUNDLE_MODE:
        return next(m for m in MANIFESTS if m["cohort"] == cohort)["samples"]
    counts = [len(cohort_samples(cohort))]
    for vcf in cohort_files(cohort, "vcf"):
        try:
            with VariantFile(vcf) as handle:
                counts.append(len(handle.header.samples))
        except (OSError, ValueError):
            pass
    return max(counts)


def contig_records(cohort, contig):
    records = cohort_input_records(cohort)
    if records is None:
        return int(RECORDS_PER_BP_UNKNOWN * CONTIG_LENGTHS[contig])
    return records.get(contig, 0)


def region_records(cohort, chunk, flank=0):
    """Records expected in a chunk widened by `flank` bp (records spread evenly)."""
    region = chunk_by_name(chunk, CONTIG_LENGTHS, config["chunk_size"])
    length = CONTIG_LENGTHS[region.contig]
    span = min(region.end - region.start + 1 + 2 * flank, length)
    return math.ceil(contig_records(cohort, region.contig) * span / length)


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


def count_row_bytes(groups):
    """A counts-table row in memory: the site, then AC/AN/... (int32) x 2 QC levels per group."""
    return 200 + 40 * groups


def panel_row_bytes(groups):
    """A panel record in memory (demo: ~630 bytes with 75 columns)."""
    return 300 + 50 * groups


def panel_records():
    """At most the sum of the cohorts' records (a site shared by cohorts is one record)."""
    return sum(contig_records(c, contig) for c in COHORTS for contig in CONTIGS)


def count_mem_mb(wildcards, attempt):
    """bcftools' steps (its sort, several files per contig, takes up to 768 MB; a few
    hundred buffered records of ~20 bytes per sample), then the counter: its base, one
    genotype block (samples x block_size; a null block_size gets the default budget, and
    the job derives its block from this mem_mb) and the chunk's table of counts."""
    bcftools = megabytes(6_000 * cohort_input_samples(wildcards.cohort), 1, floor=1000)
    n_samples = len(cohort_samples(wildcards.cohort))
    table = region_records(wildcards.cohort, wildcards.chunk) * count_row_bytes(
        cohort_group_count(wildcards.cohort)
    )
    counter = block_memory_mb(n_samples, config["block_size"]) + math.ceil(table / MB)
    return max(bcftools, counter) * attempt


def count_runtime(wildcards, attempt):
    window = region_records(
        wildcards.cohort, wildcards.chunk, config["normalise"]["realign_window"]
    )
    records = region_records(wildcards.cohort, wildcards.chunk)
    normalise = 15e-6 * window + 1e-6 * window * cohort_input_samples(wildcards.cohort)
    count = 25e-6 * records + 0.1e-6 * records * len(cohort_samples(wildcards.cohort))
    return minutes(normalise + count, attempt)


def count_settings():
    """The count-chunk job's config sections, as one JSON object (schema defaults filled)."""
    return json.dumps(
        {
            "chunk_size": config["chunk_size"],
            "block_size": config["block_size"],
            "normalise": config["normalise"],
            "genotype_qc": config["genotype_qc"],
            "reference": {
                "build": config["reference"]["build"],
                "par": config["reference"]["par"],
            },
            "site_annotations": {
                "histograms": config["site_annotations"]["histograms"]
            },
        },
        sort_keys=True,
    )


def bundle_mem_mb(wildcards, attempt):
    """The largest contig's counts, read as chunk tables and concatenated (twice)."""
    largest = max(contig_records(wildcards.cohort, contig) for contig in CONTIGS)
    row = count_row_bytes(cohort_group_count(wildcards.cohort))
    return megabytes(2 * largest * row, attempt, floor=500)


def bundle_runtime(wildcards, attempt):
    """Checksums of the input VCFs (~200 MB/s) and ~1 us per record of counts."""
    vcfs = [Path(vcf) for vcf in cohort_files(wildcards.cohort, "vcf")]
    vcf_bytes = sum(vcf.stat().st_size for vcf in vcfs if vcf.exists())
    records = sum(contig_records(wildcards.cohort, contig) for contig in CONTIGS)
    return minutes(vcf_bytes / (200 * MB) + 1e-6 * records, attempt)


def merge_mem_mb(wildcards, attempt):
    """Per cohort row of the chunk: its table and its join on the chunk's sites; per site:
    the int64 totals of every panel group and the published record."""
    groups = panel_group_count()
    total = 0
    for cohort in COHORTS:
        rows = region_records(cohort, wildcards.chunk)
        total += rows * (
            2 * count_row_bytes(cohort_group_count(cohort))
            + 80 * groups
            + panel_row_bytes(groups)
        )
    return megabytes(total, attempt, floor=500)


def merge_runtime(wildcards, attempt):
    """A join per cohort over the chunk's sites: ~10 us per site, cohort and 10 groups
    (measured: 47k sites, 3 cohorts, 23 groups in 2.7 s)."""
    sites = sum(region_records(cohort, wildcards.chunk) for cohort in COHORTS)
    return minutes(1e-6 * sites * len(COHORTS) * max(10, panel_group_count()), attempt)


def chunk_panel_records(chunk):
    """At most the records the cohorts hold in the chunk (a site seen twice is one record)."""
    return sum(region_records(cohort, chunk) for cohort in COHORTS)


def publish_part_mem_mb(wildcards, attempt):
    """The chunk's merged table, its Arrow and pandas copies and its VCF text: about four
    times the table."""
    records = chunk_panel_records(wildcards.chunk)
    return megabytes(
        4 * records * panel_row_bytes(panel_group_count()), attempt, floor=500
    )


def publish_part_runtime(wildcards, attempt):
    """VCF text in Python: ~1 us per INFO value; VRS IDs ~0.2 ms per record (measured on
    the demo)."""
    records = chunk_panel_records(wildcards.chunk)
    values = records * (20 + 4 * panel_group_count())
    vrs = 2e-4 * records if VRS_FASTA else 0
    return minutes(1e-6 * values + vrs, attempt)


def publish_mem_mb(wildcards, attempt):
    """VCF pieces are copied block by block; the Parquet pieces are read one at a time:
    about twice the table of the largest chunk (chunks of equal length: the largest
    contig's records per bp)."""
    per_bp = max(
        sum(contig_records(c, contig) for c in COHORTS) / CONTIG_LENGTHS[contig]
        for contig in CONTIGS
    )
    largest_chunk = per_bp * config["chunk_size"]
    return megabytes(
        2 * largest_chunk * panel_row_bytes(panel_group_count()), attempt, floor=1000
    )


def publish_runtime(wildcards, attempt):
    """Copying compressed bytes, the tabix index (~2 us per record) and rewriting the
    Parquet row groups (~0.05 us per value)."""
    records = panel_records()
    return minutes(records * (2e-6 + 5e-8 * (20 + 4 * panel_group_count())), attempt)


def report_cohorts_mem_mb(wildcards, attempt):
    """The largest contig's sites, AC and AN of every cohort at once (for the concordance;
    measured: 250 MB for 370k records)."""
    largest = max(
        sum(contig_records(cohort, contig) for cohort in COHORTS) for contig in CONTIGS
    )
    return megabytes(200 * largest, attempt, floor=1000)


def report_cohorts_runtime(wildcards, attempt):
    return minutes(2e-6 * panel_records() * len(COHORTS), attempt)


def stats_root(stats_file):
    """The output folder holding a stage's stats: <outdir>/<stage>/[<cohort>/]<chunk>.json."""
    parts = Path(stats_file).parts
    stage = next(
        i for i, part in enumerate(parts) if part in ("normalised", "counts", "merged")
    )
    return str(Path(*parts[:stage])) if stage else "."
