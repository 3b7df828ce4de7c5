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

from europanel import resources
from europanel import settings as europanel_settings
from europanel.commands.common import open_bundles
from europanel.core.regions import chunk_by_name, default_contigs, make_chunks, read_fai
from europanel.stages.gdi import country_code_problems, country_codes
from europanel.io.sheets import (
    InputError,
    cohort_groups,
    load_cohort_sheet,
    load_sample_sheet,
    read_sheet,
)
from europanel.core.panel_groups import PanelGroups
from europanel.core.sitestats import cohort_weights
from europanel.stages.validate import config_schema_problems, problems_message
from europanel.stages.validate import sheet_schema_problem, validate_inputs


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


# Every schema violation at once, in plain words; then snakemake's validate fills in the
# schema's defaults: the one place they are written (rules pass them on: stage_settings).
CONFIG_SCHEMA = Path(workflow.source_path("../schemas/config.schema.yaml"))
stop_on_problems(
    config_schema_problems(
        config,
        yaml.safe_load(CONFIG_SCHEMA.read_text()),
        ", ".join(os.path.relpath(path) for path in workflow.configfiles)
        or "the config",
    )
)
validate(config, schema="../schemas/config.schema.yaml", set_default=True)

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
    # its inputs were checked when the run began (the schema check is row by row: ~0.05 ms
    # per sample: ~5 s per cluster job at 100,000 samples).
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

CHUNK_REGIONS = {
    chunk.name: chunk.region
    for chunk in make_chunks(CONTIG_LENGTHS, CONTIGS, config["chunk_size"])
}
CHUNKS = list(CHUNK_REGIONS)


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


def bundle_contig_counts(wildcards):
    contig = wildcards.chunk.rsplit("-", 1)[0]
    return [f"{folder}/counts/{contig}.parquet" for folder in BUNDLES]


def stage_settings(stage, **derived):
    """A rule's `--settings` parameter: the keys of the validated config its stage reads
    (europanel/settings.py, STAGE_KEYS) as one JSON object. Stage-specific, so the params
    rerun trigger reruns only the jobs whose settings changed."""
    return europanel_settings.settings_json(
        europanel_settings.stage_settings(config, stage, **derived)
    )


def bundle_settings(wildcards):
    """The bundle's settings and the cohort's AF_weighted weight (null: no weight column)."""
    return stage_settings("bundle", weight=COHORT_WEIGHTS.get(wildcards.cohort))


def ploidy_options():
    par = config["reference"]["par"]
    build = f"--build {config['reference']['build']}"
    return f"{build} --par {par}" if par else build


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


def stats_root(stats_file):
    """The output folder holding a stage's stats: <outdir>/<stage>/[<cohort>/]<chunk>.json."""
    parts = Path(stats_file).parts
    stage = next(
        i for i, part in enumerate(parts) if part in ("normalised", "counts", "merged")
    )
    return str(Path(*parts[:stage])) if stage else "."
