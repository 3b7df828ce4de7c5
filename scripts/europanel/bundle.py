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

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from europanel import __version__
from europanel.count import expected_ploidy
from europanel.regions import PLOIDY_CLASSES, read_bed
from europanel.sheets import InputError, cohort_groups, group_membership

BUNDLE_FORMAT = "europanel-bundle/1"
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


def write_bundle(
    folder: str,
    cohort: str,
    samples: pd.DataFrame,
    chunk_counts: dict[str, list[str]],
    contig_lengths: dict[str, int],
    settings: dict,
    callable_bed: str | None,
    inputs: list[str],
) -> dict:
    """Write the bundle; each counts file appears complete or not at all, the manifest last."""
    folder = Path(folder)
    (folder / "counts").mkdir(parents=True, exist_ok=True)
    counts = {}
    for contig, paths in chunk_counts.items():
        target = folder / "counts" / f"{contig}.parquet"
        tables = [pd.read_parquet(p) for p in paths]
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        partial = target.with_suffix(".parquet.partial")
        table.to_parquet(partial, index=False)
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
    manifest = {
        "format": BUNDLE_FORMAT,
        "cohort": cohort,
        "samples": len(samples),
        **cohort_summary(samples),
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

    def counts(self, contig: str, start: int, end: int) -> pd.DataFrame:
        """Count rows of one contig with start <= POS <= end."""
        entry = self.manifest["counts"].get(contig)
        if entry is None:
            return pd.DataFrame(columns=["pos", "ref", "alt", "filtered"])
        return pq.read_table(
            self.folder / entry["file"], filters=[("pos", ">=", start), ("pos", "<=", end)]
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


def check_compatible(bundles: list[Bundle]) -> None:
    """Refuse bundles whose counts cannot be summed; one message listing every problem."""
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
    for bundle in bundles:
        problems += bundle.verify()
    if problems:
        raise InputError("\n".join(problems))
