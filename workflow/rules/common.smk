# Configuration, sheets, chunks and input functions. No rules here.

import hashlib
import json
import sys
from pathlib import Path

from snakemake.utils import validate

from europanel.cli import open_bundles
from europanel.regions import default_contigs, make_chunks, read_fai
from europanel.sheets import InputError, load_cohort_sheet, load_sample_sheet, read_tsv


validate(config, schema="../schemas/config.schema.yaml")

OUTDIR = config["outdir"]
# Central merge from country bundles alone: no sheet, no genotype, no FASTA needed.
BUNDLE_MODE = bool(config["bundles"])

if BUNDLE_MODE:
    BUNDLES = config["bundles"]
    try:
        MANIFESTS = [bundle.manifest for bundle in open_bundles(BUNDLES)]
    except InputError as error:
        sys.exit(f"europanel: the bundles cannot be merged; nothing was run.\n{error}")
    COHORTS = sorted(manifest["cohort"] for manifest in MANIFESTS)
    CONTIG_LENGTHS = MANIFESTS[0]["contigs"]
    CONTIGS = config["contigs"] or list(CONTIG_LENGTHS)
else:
    validate(read_tsv(config["cohorts"]), schema="../schemas/cohorts.schema.yaml")
    validate(read_tsv(config["samples"]), schema="../schemas/samples.schema.yaml")
    COHORT_SHEET = load_cohort_sheet(config["cohorts"])
    SAMPLE_SHEET = load_sample_sheet(
        config["samples"], sorted(set(COHORT_SHEET["cohort"]))
    )
    COHORTS = SAMPLE_SHEET.cohorts
    BUNDLES = [f"{OUTDIR}/bundles/{cohort}" for cohort in COHORTS]
    FASTA = config["reference"]["fasta"]
    CONTIG_LENGTHS = read_fai(FASTA)
    CONTIGS = config["contigs"] or default_contigs(CONTIG_LENGTHS)

CHUNKS = [
    chunk.name
    for chunk in make_chunks(CONTIG_LENGTHS, CONTIGS, config["chunk_size"])
]


wildcard_constraints:
    cohort="|".join(COHORTS),
    chunk=r"[^/]+-\d{5}",


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


def bundle_contig_counts(wildcards):
    contig = wildcards.chunk.rsplit("-", 1)[0]
    return [f"{folder}/counts/{contig}.parquet" for folder in BUNDLES]


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


def count_mem_mb(wildcards):
    """Counting memory: about 100 bytes per genotype of one block, plus the interpreter."""
    n_samples = len(cohort_samples(wildcards.cohort))
    return 600 + n_samples * config["block_size"] * 100 // 1_000_000


def panel_outputs():
    stem = f"{OUTDIR}/panel/{config['panel_name']}"
    return [f"{stem}.sites.vcf.gz", f"{stem}.sites.vcf.gz.tbi", f"{stem}.sites.parquet"]
