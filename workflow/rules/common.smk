# Configuration, sheets, chunks and input functions. No rules here.

from pathlib import Path

from snakemake.utils import validate

from europanel.regions import default_contigs, make_chunks, read_fai
from europanel.sheets import load_cohort_sheet, load_sample_sheet, read_tsv


validate(config, schema="../schemas/config.schema.yaml")

validate(read_tsv(config["cohorts"]), schema="../schemas/cohorts.schema.yaml")
validate(read_tsv(config["samples"]), schema="../schemas/samples.schema.yaml")
COHORT_SHEET = load_cohort_sheet(config["cohorts"])
SAMPLE_SHEET = load_sample_sheet(config["samples"], sorted(set(COHORT_SHEET["cohort"])))
COHORTS = SAMPLE_SHEET.cohorts

OUTDIR = config["outdir"]
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


def cohort_vcfs(wildcards):
    """The cohort's input files and their indexes (so snakemake tracks both)."""
    paths = []
    for vcf in COHORT_SHEET.loc[COHORT_SHEET["cohort"] == wildcards.cohort, "vcf"]:
        paths.append(vcf)
        paths += [f"{vcf}{ext}" for ext in (".tbi", ".csi") if Path(f"{vcf}{ext}").exists()]
    return paths


def cohort_samples(cohort):
    return SAMPLE_SHEET.of_cohort(cohort)


def qc_threshold(name):
    """A genotype-QC threshold as the CLI takes it: a number or 'off'."""
    value = config["genotype_qc"][name]
    return "off" if value is None else value


def par_option():
    par = config["reference"]["par"]
    return f"--par {par}" if par else ""


def chunk_counts(wildcards):
    return {
        cohort: f"{OUTDIR}/counts/{cohort}/{wildcards.chunk}.parquet"
        for cohort in COHORTS
    }


def count_mem_mb(wildcards):
    """Counting memory: about 100 bytes per genotype of one block, plus the interpreter."""
    n_samples = len(cohort_samples(wildcards.cohort))
    return 600 + n_samples * config["block_size"] * 100 // 1_000_000


def panel_outputs():
    stem = f"{OUTDIR}/panel/{config['panel_name']}"
    return [f"{stem}.sites.vcf.gz", f"{stem}.sites.vcf.gz.tbi", f"{stem}.sites.parquet"]
