"""Sample and cohort sheets, and the groups counts are reported for (DESIGN §3, §4).

A group is a named set of samples: each cohort, each population, each karyotypic
sex (XX, XY) and each population x sex. Group names are the labels themselves
(``NL``, ``NWE``, ``XX``, ``NWE_XX``), which is why labels must be unique across
cohorts and populations and may not be a reserved word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

SEXES = ("XX", "XY")
UNKNOWN_SEX = "NA"
RESERVED_LABELS = {"xx", "xy", "raw", "adj", "joint", "grpmax"}
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


class InputError(Exception):
    """A problem with the user's input, told as what is wrong and how to fix it."""


def read_tsv(path: str) -> pd.DataFrame:
    """Read a sheet as strings; tolerate a byte-order mark and Windows line endings."""
    frame = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig", comment=None
    )
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def label_problems(labels: list[str], what: str) -> list[str]:
    """Problems with cohort/population labels: naming rule and reserved words."""
    problems = []
    for label in labels:
        if not LABEL_PATTERN.match(label):
            problems.append(
                f"{what} label {label!r} breaks the naming rule: use letters and digits only "
                "([A-Za-z0-9]+)"
            )
        elif label.lower() in RESERVED_LABELS:
            problems.append(
                f"{what} label {label!r} is a reserved word (XX, XY, raw, adj, joint, grpmax): "
                "rename it"
            )
    return problems


@dataclass(frozen=True)
class SampleSheet:
    """The validated sample sheet: one row per sample."""

    samples: pd.DataFrame  # columns sample, cohort, population, sex

    @property
    def cohorts(self) -> list[str]:
        return sorted(self.samples["cohort"].unique())

    @property
    def populations(self) -> list[str]:
        return sorted(self.samples["population"].unique())

    def of_cohort(self, cohort: str) -> pd.DataFrame:
        return self.samples[self.samples["cohort"] == cohort].reset_index(drop=True)

    def panel_groups(self) -> list[str]:
        """Every group of the panel, in publication order."""
        pop_sex = [f"{p}_{s}" for p in self.populations for s in SEXES]
        return self.cohorts + self.populations + list(SEXES) + pop_sex

    def group_sizes(self) -> dict[str, int]:
        """Number of sheet samples in each panel group (the unit of `min_group_size`)."""
        sizes = {g: 0 for g in self.panel_groups()}
        for g in sizes:
            sizes[g] = int(group_membership(self.samples, [g]).sum())
        return sizes


def groups_of_sample(cohort: str, population: str, sex: str) -> list[str]:
    """The groups one sample counts in (besides the panel total)."""
    groups = [cohort, population]
    if sex in SEXES:
        groups += [sex, f"{population}_{sex}"]
    return groups


def group_membership(samples: pd.DataFrame, groups: list[str]) -> np.ndarray:
    """0/1 matrix (n_samples x n_groups): whether each sample belongs to each group."""
    index = {g: j for j, g in enumerate(groups)}
    membership = np.zeros((len(samples), len(groups)), dtype=np.float32)
    for i, (cohort, population, sex) in enumerate(
        zip(samples["cohort"], samples["population"], samples["sex"])
    ):
        for g in groups_of_sample(cohort, population, sex):
            if g in index:
                membership[i, index[g]] = 1.0
    return membership


def cohort_groups(samples: pd.DataFrame) -> list[str]:
    """Groups a cohort's samples fall into, sorted: the cohort first, then the rest."""
    names: set[str] = set()
    for cohort, population, sex in zip(samples["cohort"], samples["population"], samples["sex"]):
        names.update(groups_of_sample(cohort, population, sex))
    cohort = samples["cohort"].iloc[0] if len(samples) else None
    return [cohort] + sorted(names - {cohort}) if cohort else []


def load_sample_sheet(path: str, cohort_labels: list[str]) -> SampleSheet:
    """Read and validate the sample sheet; raise InputError listing every problem found."""
    frame = read_tsv(path)
    required = ["sample", "cohort", "population", "sex"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the sample sheet needs the tab-separated "
            f"columns {', '.join(required)} (found: {', '.join(frame.columns)})"
        )
    problems = []
    for row_number, row in enumerate(frame.itertuples(index=False), start=2):
        where = f"{path} line {row_number}"
        if not row.sample:
            problems.append(f"{where}: empty sample ID")
        if row.sex not in (*SEXES, UNKNOWN_SEX):
            problems.append(f"{where}: sex {row.sex!r} must be XX, XY or NA")
        if row.cohort not in cohort_labels:
            problems.append(
                f"{where}: cohort {row.cohort!r} of sample {row.sample!r} is not in the cohorts "
                "sheet; add it there or fix the label"
            )
    duplicated = frame[frame["sample"].duplicated(keep=False)]
    for sample, rows in duplicated.groupby("sample"):
        lines = ", ".join(str(i + 2) for i in rows.index)
        cohorts = sorted(set(rows["cohort"]))
        if len(cohorts) > 1:
            problems.append(
                f"{path} lines {lines}: sample {sample!r} is listed in cohorts {', '.join(cohorts)}; "
                "a sample may belong to one cohort only"
            )
        else:
            problems.append(
                f"{path} lines {lines}: sample {sample!r} is listed more than once; keep one row"
            )
    populations = sorted(set(frame["population"]) - {""})
    problems += label_problems(populations, "population")
    clashes = {p.lower() for p in populations} & {c.lower() for c in cohort_labels}
    for clash in sorted(clashes):
        problems.append(
            f"{path}: label {clash!r} is used both as a cohort and as a population; labels must be "
            "unique across both columns (case-insensitive)"
        )
    if problems:
        raise InputError("\n".join(problems))
    return SampleSheet(frame[required].reset_index(drop=True))


def load_cohort_sheet(path: str) -> pd.DataFrame:
    """Read and validate the cohorts sheet (cohort, vcf, optional callable)."""
    frame = read_tsv(path)
    missing = [c for c in ("cohort", "vcf") if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the cohorts sheet needs the "
            "tab-separated columns cohort, vcf and optionally callable"
        )
    if "callable" not in frame.columns:
        frame["callable"] = ""
    problems = label_problems(sorted(set(frame["cohort"])), "cohort")
    for _, spellings in frame.groupby(frame["cohort"].str.lower())["cohort"]:
        if spellings.nunique() > 1:
            problems.append(
                f"{path}: cohort labels {', '.join(sorted(set(spellings)))} differ only in case; "
                "labels are compared case-insensitively"
            )
    for cohort, rows in frame.groupby("cohort"):
        callables = set(rows["callable"]) - {""}
        if len(callables) > 1:
            problems.append(f"{path}: cohort {cohort!r} has more than one callable BED; give one")
    duplicated = frame[frame.duplicated(["cohort", "vcf"], keep=False)]
    for (cohort, vcf), rows in duplicated.groupby(["cohort", "vcf"]):
        lines = ", ".join(str(i + 2) for i in rows.index)
        problems.append(f"{path} lines {lines}: {vcf} is listed twice for cohort {cohort!r}")
    if problems:
        raise InputError("\n".join(sorted(set(problems))))
    return frame[["cohort", "vcf", "callable"]].reset_index(drop=True)
