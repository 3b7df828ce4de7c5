"""Golden demo outputs: the sha256 of every file a default demo run publishes or hands over
(panel VCF + index, Parquet, all-sites AN, bundles, report, GDI export, release and audit
records, merge summaries, bundle verification), recorded in `demo_outputs.json`. The demo
is deterministic (same bytes whatever the directory it runs in or `--cores`), so a change
in any of these bytes is a change of behaviour: `tests/test_golden_outputs.py` fails on it,
and `make golden` (`python -m tests.golden.update`) rewrites the record after an intended
change.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

GOLDEN = Path(__file__).with_name("demo_outputs.json")
# Under results/, not compared: run records that are not outputs (times, hosts, snakemake's
# logs), and the per-job intermediates of normalise and count (their BCFs and count tables
# are temp(), their stats files are job bookkeeping whose layout follows the job plan; what
# they count reaches the bundles, the panel and the report, which are compared).
NOT_OUTPUTS = ("logs/", "benchmarks/", "normalised/", "counts/")
# Other intermediates the workflow deletes (temp() in workflow/rules) after a default run,
# present when a run keeps them (--notemp, as the test session's demo run does).
TEMPORARY = (("panel_parts/", ("",)),)
# Directories whose every file is golden: a new file there must be added on purpose.
PUBLISHED = ("panel/", "bundles/", "report/", "gdi/")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_golden(relative: str) -> bool:
    """Whether a path under results/ is compared: a file a default demo run keeps that is
    not a log, a benchmark record or a per-job intermediate."""
    if relative.startswith(NOT_OUTPUTS):
        return False
    return not any(
        relative.startswith(folder) and relative.endswith(suffixes)
        for folder, suffixes in TEMPORARY
    )


def output_files(results: Path) -> list[str]:
    """The golden files present under `results`, as paths relative to its parent
    (`results/panel/...`), sorted."""
    return sorted(
        f"results/{relative}"
        for relative in (p.relative_to(results).as_posix() for p in results.rglob("*"))
        if (results / relative).is_file() and is_golden(relative)
    )


def digests(workdir: Path, files: list[str]) -> dict[str, dict[str, str]]:
    """{"files": path -> sha256 of its bytes, "decompressed": path -> sha256 of the
    decompressed bytes (gzip/BGZF files only)}: a change of compression alone shows as a
    changed file whose content is the same."""
    out: dict[str, dict[str, str]] = {"files": {}, "decompressed": {}}
    for relative in files:
        data = (workdir / relative).read_bytes()
        out["files"][relative] = sha256(data)
        if relative.endswith(".gz"):
            out["decompressed"][relative] = sha256(gzip.decompress(data))
    return out


def load() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text())


def write(record: dict[str, dict[str, str]]) -> None:
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
