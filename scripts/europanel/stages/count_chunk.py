"""Normalise and count one cohort's records of one chunk in one process (DESIGN §2.2-2.3).

The workflow's per-(cohort, chunk) job. bcftools (through pysam, in this
process) writes the chunk's normalised records as uncompressed BCF into the
job's temp folder, and the numpy counter reads them from there: one interpreter
start per cohort x chunk, no BCF compressed, indexed and handed to another job.
Both steps' statistics are written as before (normalised/ and counts/ stats JSON).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from europanel.core.counting import GenotypeQC
from europanel.core.regions import Chunk, PloidyMap
from europanel.io.sheets import Rows
from europanel.stages.count import CountStats, count_bcf_to_parquet
from europanel.stages.normalise import InputContigs, normalise_to_bcf

if TYPE_CHECKING:  # the job never imports pandas (tests/test_count_startup.py)
    import pandas as pd


def normalise_and_count(
    inputs: list[InputContigs],
    chunk: Chunk,
    samples: Rows | pd.DataFrame,
    fasta: str,
    ploidy_map: PloidyMap,
    qc: GenotypeQC,
    outputs: dict[str, str],
    block_size: int,
    normalise: dict,
    histograms: bool,
    log=sys.stderr,
) -> tuple[dict[str, int], CountStats]:
    """Normalise (`normalise` holds realign_window and ref_mismatch) and count `chunk`.

    `outputs`: `counts` (Parquet), `count_stats` and `normalise_stats` (JSON); each
    appears at its path only when complete. Returns (normalise stats, count stats).
    """
    with tempfile.TemporaryDirectory(dir=Path(outputs["counts"]).parent) as tmp:
        normalised = Path(tmp) / "chunk.bcf"
        normalise_stats = normalise_to_bcf(
            Path(tmp),
            inputs,
            chunk,
            list(samples["sample"]),
            fasta,
            normalised,
            realign_window=normalise["realign_window"],
            ref_mismatch=normalise["ref_mismatch"],
            chunk_only=False,  # the reader keeps the chunk's records (view -t's)
        )
        count_stats = count_bcf_to_parquet(
            str(normalised),
            samples,
            ploidy_map,
            qc,
            outputs["counts"],
            outputs["count_stats"],
            block_size=block_size,
            log=log,
            histograms=histograms,
            region=(chunk.contig, chunk.start, chunk.end),
        )
    partial = f"{outputs['normalise_stats']}.partial"
    Path(partial).write_text(json.dumps(normalise_stats, indent=1, sort_keys=True) + "\n")
    os.replace(partial, outputs["normalise_stats"])
    return normalise_stats, count_stats
