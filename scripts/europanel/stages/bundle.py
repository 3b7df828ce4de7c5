"""Cohort bundles: what a national node hands over (DESIGN §2.4).

A bundle is a folder with the cohort's counts per contig (Parquet, no sample
ID, no genotype) and `manifest.json`: sample numbers per group, the AN the
cohort contributes where it is reference (per ploidy class), the reference
contigs and build, callable regions, genotype-QC settings, tool versions and
checksums. The merge reads bundles only, so a central node never sees a sheet.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from europanel import __version__
from europanel.core.disclosure import (
    TOTAL,
    PatternPolicy,
    make_groups,
    sample_set_digest,
)
from europanel.core.regions import (
    PLOIDY_CLASS_NAMES,
    PLOIDY_CLASSES,
    PloidyMap,
    bare_name,
    read_bed,
)
from europanel.io.sheets import InputError, cohort_groups, group_membership
from europanel.stages.count import QC_LEVELS, STATS, expected_ploidy

if TYPE_CHECKING:
    import pandas as pd
# pandas (~0.2 CPU s to import) is imported by the functions that make or return tables:
# opening and checking bundles, what every panel-side job does first, goes without it.

BUNDLE_FORMAT = "europanel-bundle/2"  # /2: small groups withheld (europanel.disclosure)
COUNTS_ROW_GROUP = 20_000  # records per row group of a bundle's counts file
# Settings that must agree between bundles for their counts to be summed.
MUST_AGREE = ("reference_build", "contigs", "par", "genotype_qc")


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tool_versions() -> dict[str, str]:
    versions = {"europanel": __version__}
    # The libraries the counts are made with (cyvcf2 is only the tests' reference reader).
    for package in ("pysam", "numpy", "pandas", "pyarrow"):
        versions[package] = metadata.version(package)
    return versions


def input_provenance(paths: list[str]) -> list[dict]:
    """Name, size and header digest of each input file (the header names samples: digest only)."""
    import pysam

    described = []
    for path in paths:
        with pysam.VariantFile(path) as vcf:
            header = str(vcf.header).encode()
        described.append(
            {
                "file": Path(path).name,
                "bytes": Path(path).stat().st_size,
                "header_sha256": hashlib.sha256(header).hexdigest(),
            }
        )
    return described


def cohort_summary(samples: pd.DataFrame) -> dict:
    """Group sizes and reference AN per ploidy class, from the cohort's sheet rows."""
    groups = cohort_groups(samples)
    membership = group_membership(samples, groups).astype(np.int64)
    ploidy = expected_ploidy(samples["sex"].to_numpy()).astype(np.int64)
    reference_an = ploidy @ membership  # (classes, groups)
    return {
        "groups": {g: int(n) for g, n in zip(groups, membership.sum(axis=0))},
        "populations": sorted(set(samples["population"])),
        "reference_an": {
            g: [int(reference_an[c, j]) for c in PLOIDY_CLASSES] for j, g in enumerate(groups)
        },
    }


def bundle_policy(samples: pd.DataFrame, min_group_size: int) -> PatternPolicy:
    """Which of the cohort's groups its bundle may carry, per ploidy class: the same
    disclosure model as the panel, on the cohort's atoms, with the node's threshold."""
    atoms: dict = {}
    for cohort, population, sex in zip(samples["cohort"], samples["population"], samples["sex"]):
        atoms[(cohort, population, sex)] = atoms.get((cohort, population, sex), 0) + 1
    groups = make_groups([], sorted(set(samples["population"])), with_cohorts=False)
    return PatternPolicy(atoms, groups, min_group_size)


def column_label(group, cohort: str) -> str:
    """The count-table group name of a disclosure Group (the total is the cohort)."""
    return cohort if group.label == TOTAL else group.label


def withheld_by_class(policy: PatternPolicy, cohort: str) -> dict[int, list[dict]]:
    """Per ploidy class, the groups the bundle withholds: label, family, size, reason."""
    out = {}
    for cls in PLOIDY_CLASSES:
        _, reasons = policy.decide(cls, None)
        out[cls] = [
            {
                "group": column_label(g, cohort),
                "family": "cohort" if g.label == TOTAL else g.family,
                "size": policy.sizes[g],
                "reason": reason,
            }
            for g, reason in reasons
        ]
    return out


def suppress_table(
    table: pd.DataFrame, classes: np.ndarray, withheld: dict[int, list[dict]]
) -> pd.DataFrame:
    """Null every count of a withheld group at the records of the classes withholding it."""
    import pandas as pd

    for cls, entries in withheld.items():
        rows = classes == cls
        if not rows.any():
            continue
        for entry in entries:
            for level in QC_LEVELS:
                for stat in STATS:
                    column = f"{stat}_{level}_{entry['group']}"
                    if column in table:
                        table[column] = table[column].astype("Int64")
                        table.loc[rows, column] = pd.NA
    return table


def release_digests(samples: pd.DataFrame, groups: list[str], salt: bytes) -> dict[str, str]:
    """Salted digest of each group's sample set (for the next release's check)."""
    membership = group_membership(samples, groups)
    ids = samples["sample"].to_numpy()
    return {g: sample_set_digest(ids[membership[:, j] > 0], salt) for j, g in enumerate(groups)}


def read_chunk_counts(paths: list[str]) -> pd.DataFrame:
    """The chunks' count tables of one contig, in order, as one DataFrame: joined by
    Arrow and converted once (a pandas concat of per-chunk frames cost 2.5x as much),
    or by pandas when the chunks' schemas differ."""
    import pandas as pd

    if not paths:
        return pd.DataFrame()
    tables = [pq.read_table(p) for p in paths]
    try:
        return pa.concat_tables(tables).to_pandas()
    except pa.ArrowInvalid:
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def write_bundle(
    folder: str,
    cohort: str,
    samples: pd.DataFrame,
    chunk_counts: dict[str, list[str]],
    contig_lengths: dict[str, int],
    settings: dict,
    callable_bed: str | None,
    inputs: list[str],
    min_group_size: int = 0,
    release_salt: bytes | None = None,
) -> dict:
    """Write the bundle; each counts file appears complete or not at all, the manifest last.

    Groups under `min_group_size` (the node's threshold), and the complementary groups
    that would give them back, are nulled per ploidy class (europanel.disclosure)."""
    folder = Path(folder)
    (folder / "counts").mkdir(parents=True, exist_ok=True)
    policy = bundle_policy(samples, min_group_size)
    withheld = withheld_by_class(policy, cohort)
    # Where the cohort as a whole is under the threshold (say, 3 XY samples on chrY), even
    # a row with every count withheld would say that one of them carries the allele: the
    # bundle carries no row there and no reference AN, as if the cohort could not call it.
    silent = [c for c, entries in withheld.items() if any(e["group"] == cohort for e in entries)]
    ploidy_map = PloidyMap(
        {bare_name(c).upper(): [tuple(s) for s in spans] for c, spans in settings["par"].items()}
    )
    counts = {}
    for contig, paths in chunk_counts.items():
        target = folder / "counts" / f"{contig}.parquet"
        table = read_chunk_counts(paths)
        if len(table):
            classes = ploidy_map.classes(contig, table["pos"].to_numpy())
            keep = ~np.isin(classes, silent)
            table = suppress_table(table[keep].reset_index(drop=True), classes[keep], withheld)
        partial = target.with_suffix(".parquet.partial")
        # Row groups in genome order: a merge job's POS filter reads only its chunk's groups.
        table.to_parquet(partial, index=False, row_group_size=COUNTS_ROW_GROUP)
        os.replace(partial, target)
        counts[contig] = {
            "file": f"counts/{contig}.parquet",
            "records": len(table),
            "sha256": sha256(target),
        }
    callable_spans = None
    if callable_bed:
        callable_spans = {
            c: [list(s) for s in spans] for c, spans in read_bed(callable_bed).items()
        }
    summary = cohort_summary(samples)
    for by_class in summary["reference_an"].values():
        for c in silent:
            by_class[c] = 0
    manifest = {
        "format": BUNDLE_FORMAT,
        "cohort": cohort,
        "samples": len(samples),
        **summary,
        "privacy": {
            "min_group_size": min_group_size,
            "withheld": {PLOIDY_CLASS_NAMES[c]: e for c, e in withheld.items()},
            "silent_classes": [PLOIDY_CLASS_NAMES[c] for c in silent],
        },
        # Salted digests of each group's sample set: the next release checks against
        # them; without the node's secret salt they are not reversible (no digest without).
        "release_digests": (
            release_digests(samples, list(summary["groups"]), release_salt)
            if release_salt
            else None
        ),
        "contigs": contig_lengths,
        "callable": callable_spans,
        "inputs": input_provenance(inputs),
        "counts": counts,
        "tools": tool_versions(),
        **settings,
    }
    partial = folder / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(partial, folder / "manifest.json")
    return manifest


@dataclass(frozen=True)
class Bundle:
    folder: Path
    manifest: dict

    @classmethod
    def open(cls, folder: str) -> Bundle:
        path = Path(folder) / "manifest.json"
        if not path.exists():
            raise InputError(
                f"{folder}: no manifest.json; is this a europanel bundle folder? "
                "Build one with `snakemake all_bundles`"
            )
        manifest = json.loads(path.read_text())
        if manifest.get("format") != BUNDLE_FORMAT:
            raise InputError(
                f"{path}: format {manifest.get('format')!r} is not "
                f"{BUNDLE_FORMAT}; rebuild the bundle with this europanel version"
            )
        return cls(Path(folder), manifest)

    @property
    def cohort(self) -> str:
        return self.manifest["cohort"]

    def counts(self, contig: str, start: int, end: int, columns=None) -> pd.DataFrame:
        """Count rows of one contig with start <= POS <= end (only the row groups that hold
        them are read). `columns`: a function choosing, from the file's column names, the
        ones to read (None: all)."""
        import pandas as pd

        entry = self.manifest["counts"].get(contig)
        if entry is None:
            return pd.DataFrame(columns=["pos", "ref", "alt", "filtered"])
        path = self.folder / entry["file"]
        names = None if columns is None else columns(pq.read_schema(path).names)
        return pq.read_table(
            path, columns=names, filters=[("pos", ">=", start), ("pos", "<=", end)]
        ).to_pandas()

    def callable_spans(self, contig: str) -> list[tuple[int, int]] | None:
        spans = self.manifest["callable"]
        return None if spans is None else [tuple(s) for s in spans.get(contig, [])]

    def verify(self) -> list[str]:
        """Checksum problems of the counts files."""
        problems = []
        for entry in self.manifest["counts"].values():
            path = self.folder / entry["file"]
            if not path.exists():
                problems.append(f"{path}: missing; copy the whole bundle folder")
            elif sha256(path) != entry["sha256"]:
                problems.append(
                    f"{path}: checksum differs from manifest.json; the file was "
                    "changed or damaged in transfer, copy it again"
                )
        return problems


def check_compatible(bundles: list[Bundle], checksums: bool = True) -> None:
    """Refuse bundles whose counts cannot be summed; one message listing every problem.
    `checksums`: also hash every counts file (once per run: the `verify_bundles` rule)."""
    problems = []
    cohorts = [b.cohort for b in bundles]
    for cohort in sorted({c for c in cohorts if cohorts.count(c) > 1}):
        folders = ", ".join(str(b.folder) for b in bundles if b.cohort == cohort)
        problems.append(
            f"cohort {cohort} appears in more than one bundle ({folders}); give each cohort once"
        )
    first = bundles[0]
    for bundle in bundles[1:]:
        for key in MUST_AGREE:
            if bundle.manifest.get(key) != first.manifest.get(key):
                problems.append(
                    f"{bundle.folder}: {key} differs from {first.folder} "
                    f"({json.dumps(bundle.manifest.get(key))[:120]} vs "
                    f"{json.dumps(first.manifest.get(key))[:120]}); rebuild the bundles with "
                    "the same reference, build and genotype_qc settings"
                )
    if checksums:
        for bundle in bundles:
            problems += bundle.verify()
    if problems:
        raise InputError("\n".join(problems))


def manifest_digests(bundles: list[Bundle]) -> dict[str, str]:
    """sha256 of each bundle's manifest (which holds its counts files' checksums)."""
    return {str(b.folder): sha256(b.folder / "manifest.json") for b in bundles}


def check_verified(bundles: list[Bundle], verified: str) -> None:
    """The bundles are the ones `verify-bundles` hashed: their manifests are unchanged."""
    recorded = json.loads(Path(verified).read_text())
    changed = [
        folder
        for folder, digest in manifest_digests(bundles).items()
        if recorded.get(folder) != digest
    ]
    if changed:
        raise InputError(
            f"{', '.join(changed)}: manifest.json changed since the bundles were verified "
            f"({verified}); run snakemake again so that they are verified anew"
        )
