"""Sample and cohort sheets, and the groups counts are reported for (DESIGN §3, §4).

A group is a named set of samples: each cohort, each population, each karyotypic
sex (XX, XY) and each population x sex. Group names are the labels themselves
(``NL``, ``NWE``, ``XX``, ``NWE_XX``), which is why labels must be unique across
cohorts and populations and may not be a reserved word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where a DataFrame is made (Rows.frame): the count jobs
    import pandas as pd  # (thousands per run) take their samples as Rows, without its ~0.2 s

SEXES = ("XX", "XY")
UNKNOWN_SEX = "NA"
# Field-name parts: `AF_weighted` must not read as the AF of a population "weighted".
RESERVED_LABELS = {"xx", "xy", "raw", "adj", "joint", "grpmax", "weighted"}
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


class InputError(Exception):
    """A problem with the user's input, told as what is wrong and how to fix it."""


@dataclass(frozen=True)
class Rows:
    """A sheet's values as strings, one list per row in file order, without pandas.

    `rows["sample"]` is a column's values (a list); `len(rows)` the number of rows. What
    the count jobs take as a cohort's samples; `frame()` is the same table as a DataFrame.
    """

    columns: list[str]
    values: list[list[str]]

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, column: str) -> list[str]:
        if column not in self.columns:
            raise KeyError(column)
        index = self.columns.index(column)
        return [row[index] for row in self.values]

    def take(self, rows) -> Rows:
        """The rows at the given positions, in that order."""
        return Rows(self.columns, [self.values[row] for row in rows])

    def where(self, column: str, value: str) -> Rows:
        """The rows whose `column` holds `value`."""
        return self.take([row for row, v in enumerate(self[column]) if v == value])

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.values, columns=self.columns, dtype=str)

    def write_tsv(self, path: str) -> None:
        """The rows as a TSV with a header line: the bytes of `frame().to_csv(path,
        sep="\t", index=False)` (pandas writes through the csv module the same way),
        without importing pandas (~0.35 CPU s for a job that writes a few lines)."""
        import csv

        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(self.columns)
            writer.writerows(self.values)


@dataclass(frozen=True)
class Sheet:
    """A tab-separated sheet as strings, with the file line number of each row."""

    path: str
    frame: pd.DataFrame
    lines: list[int]  # line in the file of each row of `frame` (the header is line 1)

    def where(self, row: int) -> str:
        return f"{self.path} line {self.lines[row]}"

    def where_rows(self, rows) -> str:
        numbers = [str(self.lines[row]) for row in rows]
        return f"{self.path} line{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


def read_sheet(path: str) -> tuple[Sheet | None, list[str]]:
    """Read a tab-separated sheet; return it (None if unreadable) and its format problems
    (see `read_rows`)."""
    rows, lines, problems = read_rows(path)
    if rows is None:
        return None, problems
    return Sheet(path, rows.frame(), lines), problems


def read_rows(path: str) -> tuple[Rows | None, list[int], list[str]]:
    """Read a tab-separated sheet as strings: its rows (None if unreadable), the file line
    of each row (the header is line 1) and its format problems.

    A byte-order mark, Windows line endings, blank lines and surrounding spaces are
    tolerated; a row with more fields than the header is not (a tab inside a value, or
    a space-separated sheet), because its values would land in the wrong columns.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return None, [], [f"{path}: file not found; check the path in the config"]
    except IsADirectoryError:
        return None, [], [f"{path}: is a directory; give the sheet's file path in the config"]
    except UnicodeDecodeError as error:
        line = text_line_of_offset(Path(path).read_bytes(), error.start)
        problem = (
            f"{path} line {line}: not UTF-8 text; save the sheet as UTF-8 (tab-separated text)"
        )
        return None, [], [problem]
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        problem = f"{path}: the sheet is empty; it needs a header line and one row per entry"
        return None, [], [problem]
    (_, header_line), rows = numbered[0], numbered[1:]
    columns = [name.strip() for name in header_line.split("\t")]
    problems = []
    duplicated = sorted({c for c in columns if columns.count(c) > 1 and c})
    if duplicated:
        problems.append(
            f"{path} line {numbered[0][0]}: column(s) {', '.join(duplicated)} "
            "appear more than once; keep one of each"
        )
    values, lines = [], []
    for number, line in rows:
        fields = [field.strip() for field in line.split("\t")]
        extra = fields[len(columns) :]
        if any(extra):
            problems.append(
                f"{path} line {number}: {len(fields)} tab-separated fields but the header has "
                f"{len(columns)}; remove the extra tab(s) or add the missing column name(s)"
            )
            continue
        fields = fields[: len(columns)]
        values.append(fields + [""] * (len(columns) - len(fields)))
        lines.append(number)
    if duplicated:
        return None, [], problems
    return Rows(columns, values), lines, problems


def text_line_of_offset(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def read_tsv(path: str) -> Rows:
    """Read a sheet as strings (see `read_rows`); raise InputError if it cannot be read."""
    rows, _, problems = read_rows(path)
    if problems:
        raise InputError("\n".join(problems))
    return rows


def has_columns(sheet: Sheet, required: list[str]) -> bool:
    return all(column in sheet.frame.columns for column in required)


def missing_columns_problem(
    sheet: Sheet, required: list[str], what: str, optional: tuple[str, ...] = ()
) -> list[str]:
    """The sheet lacks required columns: say which, and what was found instead."""
    missing = [c for c in required if c not in sheet.frame.columns]
    if not missing:
        return []
    found = list(sheet.frame.columns)
    hint = ""
    if len(found) == 1 and (" " in found[0] or "," in found[0]):
        hint = " (the header has no tab: is the sheet separated by spaces or commas?)"
    return [
        f"{sheet.path} line 1: missing column(s) {', '.join(missing)}; {what} needs the "
        f"tab-separated columns {', '.join(required)}"
        f"{''.join(f' and optionally {column}' for column in optional)} "
        f"(found: {', '.join(found) or 'none'}){hint}"
    ]


def label_problems(sheet: Sheet, column: str, what: str) -> list[str]:
    """Labels breaking the naming rule or reserved, at the first line each appears on."""
    problems = []
    first_rows = sheet.frame.reset_index(drop=True).groupby(column, sort=True).head(1)
    for row, label in zip(first_rows.index, first_rows[column]):
        where = sheet.where(row)
        if not label:
            problems.append(f"{where}: empty {what} label; fill it in")
        elif not LABEL_PATTERN.match(label):
            problems.append(
                f"{where}: {what} label {label!r} breaks the naming rule; use letters and "
                "digits only ([A-Za-z0-9]+)"
            )
        elif label.lower() in RESERVED_LABELS:
            problems.append(
                f"{where}: {what} label {label!r} is a reserved word (XX, XY, raw, adj, joint, "
                "grpmax, weighted); rename it"
            )
    return problems


def case_clash_problems(sheet: Sheet, column: str, what: str) -> list[str]:
    """Labels that differ only in case name the same group (INFO keys are case-blind)."""
    problems = []
    labels = sheet.frame[column]
    for _, spellings in labels.groupby(labels.str.lower()):
        if spellings.nunique() > 1:
            problems.append(
                f"{sheet.where_rows(spellings.index)}: {what} labels "
                f"{', '.join(sorted(set(spellings)))} differ only in case; labels are compared "
                "case-insensitively, so use one spelling"
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


def group_membership(samples: pd.DataFrame | Rows, groups: list[str]) -> np.ndarray:
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


def cohort_groups(samples: pd.DataFrame | Rows) -> list[str]:
    """Groups a cohort's samples fall into, sorted: the cohort first, then the rest."""
    names: set[str] = set()
    for cohort, population, sex in zip(samples["cohort"], samples["population"], samples["sex"]):
        names.update(groups_of_sample(cohort, population, sex))
    cohort = next(iter(samples["cohort"]), None)
    return [cohort] + sorted(names - {cohort}) if cohort else []


SAMPLE_COLUMNS = ["sample", "cohort", "population", "sex"]
COHORT_COLUMNS = ["cohort", "vcf", "callable"]


def sample_sheet_problems(sheet: Sheet, cohort_labels: list[str] | None) -> list[str]:
    """Every problem of the sample sheet, each with its file and line and the fix.

    `cohort_labels`: the cohorts sheet's labels, or None when that sheet is unreadable
    (then cohorts are not cross-checked, rather than every row being reported).
    """
    problems = missing_columns_problem(sheet, SAMPLE_COLUMNS, "the sample sheet")
    if problems:
        return problems
    frame = sheet.frame
    if frame.empty:
        return [f"{sheet.path}: no samples; add one row per sample"]
    known = {c.lower() for c in cohort_labels or []}
    for row, record in enumerate(frame.itertuples(index=False)):
        where = sheet.where(row)
        if not record.sample:
            problems.append(f"{where}: empty sample ID; fill it in or remove the row")
        if record.sex not in (*SEXES, UNKNOWN_SEX):
            problems.append(f"{where}: sex {record.sex!r} must be XX, XY or NA (unknown)")
        if cohort_labels is not None and record.cohort not in cohort_labels:
            hint = " (labels are case-sensitive)" if record.cohort.lower() in known else ""
            problems.append(
                f"{where}: cohort {record.cohort!r} of sample {record.sample!r} is not in the "
                f"cohorts sheet{hint}; add it there or fix the label"
            )
    for sample, rows in frame[frame["sample"].duplicated(keep=False)].groupby("sample"):
        if not sample:
            continue
        cohorts = sorted(set(rows["cohort"]))
        if len(cohorts) > 1:
            problems.append(
                f"{sheet.where_rows(rows.index)}: sample {sample!r} is listed in cohorts "
                f"{', '.join(cohorts)}; a sample may belong to one cohort only, keep the "
                "right row"
            )
        else:
            problems.append(
                f"{sheet.where_rows(rows.index)}: sample {sample!r} is listed more than once; "
                "keep one row"
            )
    problems += label_problems(sheet, "population", "population")
    problems += case_clash_problems(sheet, "population", "population")
    populations = frame["population"].str.lower()
    for clash in sorted(set(populations) & known):
        rows = frame.index[populations == clash][:1]
        problems.append(
            f"{sheet.where_rows(rows)}: label {clash!r} is used both as a cohort and as a "
            "population; labels must be unique across both columns (case-insensitive), rename "
            "one"
        )
    return problems


def load_sample_sheet(path: str, cohort_labels: list[str]) -> SampleSheet:
    """Read and validate the sample sheet; raise InputError listing every problem found."""
    sheet, problems = read_sheet(path)
    if sheet is not None:
        problems += sample_sheet_problems(sheet, cohort_labels)
    if problems:
        raise InputError("\n".join(problems))
    return SampleSheet(sheet.frame[SAMPLE_COLUMNS].reset_index(drop=True))


def cohort_sheet_problems(sheet: Sheet) -> list[str]:
    from europanel.core.sitestats import weight_problems

    """Every problem of the cohorts sheet, each with its file and line and the fix."""
    problems = missing_columns_problem(
        sheet, COHORT_COLUMNS[:2], "the cohorts sheet", optional=("callable",)
    )
    if problems:
        return problems
    frame = with_callable_column(sheet.frame)
    if frame.empty:
        return [f"{sheet.path}: no cohorts; add one row per input file (cohort, vcf)"]
    for row, vcf in enumerate(frame["vcf"]):
        if not vcf:
            problems.append(f"{sheet.where(row)}: empty vcf path; give the cohort's VCF/BCF")
    problems += label_problems(sheet, "cohort", "cohort")
    problems += case_clash_problems(sheet, "cohort", "cohort")
    for cohort, rows in frame.groupby("cohort"):
        callables = set(rows["callable"]) - {""}
        if len(callables) > 1:
            problems.append(
                f"{sheet.where_rows(rows.index)}: cohort {cohort!r} has more than one callable "
                "BED; merge them into one and give it on every row of the cohort"
            )
    problems += weight_problems(sheet)
    duplicated = frame[frame.duplicated(["cohort", "vcf"], keep=False)]
    for (cohort, vcf), rows in duplicated.groupby(["cohort", "vcf"]):
        problems.append(
            f"{sheet.where_rows(rows.index)}: {vcf} is listed more than once for cohort "
            f"{cohort!r}; keep one row"
        )
    return problems


def with_callable_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if "callable" in frame.columns else frame.assign(callable="")


def load_cohort_sheet(path: str) -> pd.DataFrame:
    """Read and validate the cohorts sheet (cohort, vcf, optional callable)."""
    sheet, problems = read_sheet(path)
    if sheet is not None:
        problems += cohort_sheet_problems(sheet)
    if problems:
        raise InputError("\n".join(problems))
    return with_callable_column(sheet.frame)[COHORT_COLUMNS].reset_index(drop=True)
