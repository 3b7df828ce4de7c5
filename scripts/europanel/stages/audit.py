"""`europanel audit`: prove from the published files alone that no small group leaks.

Reads only what leaves a node or is published (panel VCF and Parquet, the bundles'
manifests and counts, the report's HTML, the previous release) and the group sizes
the manifests state. Per record it re-derives which group counts are present from
the files themselves (not from the suppression code), groups records by pattern
(ploidy class, cohorts_called, present groups) and runs the exact check of
europanel.core.disclosure on each pattern once.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from europanel.core.disclosure import (
    TOTAL,
    atoms_from_groups,
    effective_weights,
    find_leak,
    group_of_label,
    release_problems,
)
from europanel.core.regions import PloidyMap, bare_name

PANEL_PREFIXES = ("AC_", "AN_", "AF_", "nhomalt_", "nhemi_", "faf95_", "faf99_")
NOT_GROUPS = {"raw", "grpmax", "weighted"}  # AC_raw, AC_grpmax, AF_weighted: not groups


class Lattice:
    """Atoms and groups of a set of bundles, from their manifests only."""

    def __init__(self, manifests: list[dict]):
        self.sizes_by_cohort = {m["cohort"]: m["groups"] for m in manifests}
        self.atoms = atoms_from_groups(self.sizes_by_cohort)
        self.cohorts = {m["cohort"] for m in manifests}
        self.populations = {a[1] for a in self.atoms}
        par = manifests[0]["par"]
        self.ploidy = PloidyMap(
            {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in par.items()}
        )

    def leak(self, ploidy_class, called, labels, k, atoms=None, cohorts=None):
        """The leak of one pattern of present group labels, or None."""
        atoms = self.atoms if atoms is None else atoms
        cohorts = self.cohorts if cohorts is None else cohorts
        weights = effective_weights(atoms, ploidy_class, called)
        groups = [group_of_label(g, cohorts, self.populations) for g in sorted(labels)]
        rows = [frozenset(a for a in weights if g.contains(a)) for g in groups]
        return find_leak(rows, weights, k)


def describe(leak, where: str, k: int) -> str:
    cells = ", ".join("/".join(a) for a in leak.atoms)
    return (
        f"{where}: published counts combine to {leak.samples} sample(s) (fewer than k = {k}): "
        f"{cells}"
    )


def audit_patterns(lattice, patterns: dict, k: int, where: str, **kw) -> list[str]:
    """patterns: (ploidy class, called cohorts or None, present labels) -> first record."""
    problems = []
    for (cls, called, labels), first in patterns.items():
        leak = lattice.leak(cls, called, labels, k, **kw)
        if leak is not None:
            problems.append(describe(leak, f"{where} {first}", k))
    return problems


def panel_groups_present(columns: list[str], row: dict) -> frozenset[str]:
    labels = {TOTAL}
    for column in columns:
        for prefix in PANEL_PREFIXES:
            if column.startswith(prefix):
                label = column[len(prefix) :]
                if label not in NOT_GROUPS and row.get(column) is not None:
                    labels.add(label)
    return frozenset(labels)


def parquet_patterns(lattice: Lattice, parquet: str) -> dict:
    patterns: dict = {}
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=50_000):
        table = batch.to_pandas()
        table = table.astype(object).where(table.notna(), None)
        columns = list(table.columns)
        for contig, part in table.groupby("CHROM", sort=False):
            classes = lattice.ploidy.classes(contig, part["POS"].to_numpy())
            for cls, row in zip(classes, part.to_dict("records")):
                called = frozenset((row["cohorts_called"] or "").split(",")) - {""}
                key = (int(cls), called, panel_groups_present(columns, row))
                patterns.setdefault(key, f"{contig}:{row['POS']}")
    return patterns


def vcf_patterns(lattice: Lattice, vcf: str) -> dict:
    patterns: dict = {}
    with gzip.open(vcf, "rt") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            contig, pos, _, _, _, _, _, info = line.rstrip("\n").split("\t")[:8]
            fields = dict(item.split("=", 1) for item in info.split(";") if "=" in item)
            called = frozenset(fields.get("cohorts_called", "").split(",")) - {""}
            cls = int(lattice.ploidy.classes(contig, np.array([int(pos)]))[0])
            key = (cls, called, panel_groups_present(list(fields), fields))
            patterns.setdefault(key, f"{contig}:{pos}")
    return patterns


def bundle_patterns(folder: Path, manifest: dict, lattice: Lattice) -> dict:
    patterns: dict = {}
    cohort = manifest["cohort"]
    for contig, entry in manifest["counts"].items():
        table = pd.read_parquet(folder / entry["file"])
        if table.empty:
            continue
        classes = lattice.ploidy.classes(contig, table["pos"].to_numpy())
        count_columns = [c for c in table.columns if c.count("_") >= 2]
        present = table[count_columns].notna().to_numpy()
        labels = [c.split("_", 2)[2] for c in count_columns]
        for i, cls in enumerate(classes):
            shown = {labels[j] for j in np.flatnonzero(present[i])}
            shown = frozenset(TOTAL if g == cohort else g for g in shown)
            patterns.setdefault((int(cls), None, shown), f"{contig}:{table['pos'].iloc[i]}")
    return patterns


def report_problems(report: str, lattice: Lattice, k: int) -> list[str]:
    """A small group named as a column or row of a table of the report would show its
    counts; naming it with its size in the withheld list is allowed (sizes are public)."""
    text = Path(report).read_text()
    sizes: dict[str, int] = {}
    for groups in lattice.sizes_by_cohort.values():
        for cohort_label, n in groups.items():
            sizes[cohort_label] = sizes.get(cohort_label, 0) + n
    problems = []
    for label, n in sorted(sizes.items()):
        if 0 < n < k and re.search(rf"<t[hd][^>]*>\s*{re.escape(label)}\s*</t[hd]>", text):
            problems.append(f"{report}: a table shows group {label} ({n} samples, under k = {k})")
    return problems


def read_release(path: str) -> dict:
    """Group label -> {samples, digest} of a release JSON or a panel VCF's header."""
    if path.endswith(".json"):
        return json.loads(Path(path).read_text())["groups"]
    groups = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as lines:
        for line in lines:
            if not line.startswith("##"):
                break
            if line.startswith("##europanel_release_group=<"):
                fields = dict(
                    item.split("=", 1)
                    for item in line.strip()[len("##europanel_release_group=<") : -1].split(",")
                )
                label = "" if fields["ID"] == "." else fields["ID"]
                digest = None if fields.get("Digest", ".") == "." else fields["Digest"]
                groups[label] = {"samples": int(fields["Samples"]), "digest": digest}
    return groups


def audit(
    manifests_by_folder: dict[str, dict],
    k: int,
    parquet: str | None = None,
    vcf: str | None = None,
    report: str | None = None,
    release: str | None = None,
    previous_release: str | None = None,
    bundle_k: int | None = None,
) -> tuple[list[str], dict]:
    """Every leak found in the published files, and what was checked."""
    manifests = list(manifests_by_folder.values())
    lattice = Lattice(manifests)
    problems: list[str] = []
    checked: dict[str, int] = {}
    if parquet:
        patterns = parquet_patterns(lattice, parquet)
        checked["panel Parquet patterns"] = len(patterns)
        problems += audit_patterns(lattice, patterns, k, parquet)
    if vcf:
        patterns = vcf_patterns(lattice, vcf)
        checked["panel VCF patterns"] = len(patterns)
        problems += audit_patterns(lattice, patterns, k, vcf)
    for folder, manifest in manifests_by_folder.items():
        own_k = max(manifest.get("privacy", {}).get("min_group_size", 0), bundle_k or 0)
        cohort = manifest["cohort"]
        atoms = {a: n for a, n in lattice.atoms.items() if a[0] == cohort}
        patterns = bundle_patterns(Path(folder), manifest, lattice)
        checked[f"bundle {cohort} patterns"] = len(patterns)
        problems += audit_patterns(
            lattice, patterns, own_k, f"bundle {folder}", atoms=atoms, cohorts=set()
        )
    if report:
        problems += report_problems(report, lattice, k)
        checked["report"] = 1
    if previous_release and release:
        problems += release_problems(read_release(previous_release), read_release(release), k)
        checked["release difference"] = 1
    return problems, checked
