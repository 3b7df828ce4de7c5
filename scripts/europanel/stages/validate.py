"""Check sheets, config and every input's header before any job runs (DESIGN §2.1).

Every check returns a list of problems, each one line: ``"<file>[ line N]: <what is
wrong>; <the fix>"``, so a user sees every problem of the input at once instead of
one per run. `validate_inputs` runs them all; the workflow calls it at parse time
(`workflow/rules/common.smk`), before the DAG is built. The checks of each input
VCF/BCF are in europanel.stages.vcf_checks.
"""

from __future__ import annotations

import re
from pathlib import Path

from europanel.core.regions import read_fai
from europanel.io.sheets import (
    COHORT_COLUMNS,
    SAMPLE_COLUMNS,
    Sheet,
    cohort_sheet_problems,
    has_columns,
    read_sheet,
    sample_sheet_problems,
    with_callable_column,
)
from europanel.stages.vcf_checks import existence_problems, input_problems, shown

# --- sheets, reference and config -----------------------------------------------------


def reference_problems(config: dict) -> tuple[dict[str, int] | None, list[str]]:
    """The FASTA and its index; the configured contigs must be in it."""
    fasta = config["reference"]["fasta"]
    problems = existence_problems(fasta, "reference FASTA", "the config (reference.fasta)")
    if problems:
        return None, problems
    if not Path(f"{fasta}.fai").is_file():
        return None, [
            f"{fasta}: no FASTA index ({fasta}.fai); index it: `samtools faidx "
            f"{fasta}` (or `python -c \"import pysam; pysam.faidx('{fasta}')\"`)"
        ]
    try:
        reference = read_fai(fasta)
    except (ValueError, OSError) as error:
        return None, [
            f"{fasta}.fai: not a FASTA index ({error}); rebuild it: `samtools faidx {fasta}`"
        ]
    unknown = [c for c in config["contigs"] or [] if c not in reference]
    if unknown:
        problems.append(
            f"config contigs: {shown(unknown)} not in {fasta} (its contigs: "
            f"{shown(list(reference))}); use the reference's names"
        )
    return reference, problems


def bed_problems(path: str, what: str, listed_in: str) -> list[str]:
    """A BED must exist and its first lines be `contig<TAB>start<TAB>end`."""
    problems = existence_problems(path, what, listed_in)
    if problems:
        return problems
    with open(path, errors="replace") as bed:
        for number, line in enumerate(bed, start=1):
            if number > 1000:
                break
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if (
                len(fields) < 3
                or not fields[1].isdigit()
                or not fields[2].isdigit()
                or int(fields[1]) > int(fields[2])
            ):
                return [
                    f"{path} line {number}: not a BED line (contig, start, end separated "
                    "by tabs, start <= end); fix the file"
                ]
    return []


def cross_sheet_problems(cohorts: Sheet, samples: Sheet) -> list[str]:
    """A cohort of the cohorts sheet without any sample would silently contribute nothing."""
    with_samples = set(samples.frame["cohort"])
    problems = []
    for cohort, rows in cohorts.frame.groupby("cohort"):
        if cohort and cohort not in with_samples:
            problems.append(
                f"{cohorts.where_rows(rows.index)}: cohort {cohort!r} has no sample in "
                f"{samples.path}; add its samples there or remove its rows here"
            )
    return problems


def validate_inputs(config: dict) -> list[str]:
    """Every problem of the sheets, the reference and every input file (config with the
    schema's defaults filled in)."""
    cohorts, problems = read_sheet(config["cohorts"])
    if cohorts is not None:
        problems += cohort_sheet_problems(cohorts)
        if has_columns(cohorts, COHORT_COLUMNS[:2]):
            cohorts = Sheet(cohorts.path, with_callable_column(cohorts.frame), cohorts.lines)
        else:
            cohorts = None
    samples, sample_sheet_read_problems = read_sheet(config["samples"])
    problems += sample_sheet_read_problems
    if samples is not None:
        labels = sorted(set(cohorts.frame["cohort"])) if cohorts is not None else None
        problems += sample_sheet_problems(samples, labels)
        if not has_columns(samples, SAMPLE_COLUMNS):
            samples = None
    if cohorts is not None and samples is not None:
        problems += cross_sheet_problems(cohorts, samples)

    reference, fasta_problems = reference_problems(config)
    problems += fasta_problems
    par = config["reference"]["par"]
    if par:
        problems += bed_problems(par, "PAR BED", "the config (reference.par)")
    if cohorts is None:
        return problems
    for callable_bed in sorted(set(cohorts.frame["callable"]) - {""}):
        problems += bed_problems(callable_bed, "callable BED", cohorts.path)
    for cohort, vcf in zip(cohorts.frame["cohort"], cohorts.frame["vcf"]):
        if vcf:
            problems += input_problems(
                vcf,
                reference,
                config["reference"]["fasta"],
                cohort,
                samples,
                config["genotype_qc"],
                cohorts.path,
            )
    return problems


def config_schema_problems(config: dict, schema: dict, source: str) -> list[str]:
    """Every place the config breaks its JSON schema, as `source: key: what; fix` lines."""
    from jsonschema import Draft202012Validator

    problems = []
    for error in sorted(Draft202012Validator(schema).iter_errors(config), key=str):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(
            f"{source}: {key}: {error.message}; set it as the configuration "
            "table in README.md describes"
        )
    return problems


def sheet_schema_problem(sheet: Sheet, error: Exception, schema: str) -> str:
    """snakemake's `validate` failure on a sheet row (`Error validating row i`), as one line."""
    cause = error.__context__  # the jsonschema ValidationError it was raised from
    detail = getattr(cause, "message", None) or str(error).splitlines()[0]
    row = re.search(r"row (\d+)", str(error))
    where = sheet.where(int(row.group(1))) if row else sheet.path
    return f"{where}: {detail}; fix the row as {Path(schema).name} describes"


def problems_message(problems: list[str]) -> str:
    """The message a user sees: how many problems, then one line each."""
    lines = [f"europanel: {len(problems)} problem(s) in the input; nothing was run."]
    return "\n".join(lines + [f"- {problem}" for problem in problems])
