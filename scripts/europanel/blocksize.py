"""How many records a counting block holds when the config leaves `block_size` unset.

The count job's memory (docs/BENCHMARKS.md) is a fixed base (interpreter,
numpy/pandas/pyarrow, pysam, the BGZF read buffer) plus a cost per genotype of
the block: the inflated record bytes, the Block's int8 alleles and 16- or 32-bit
DP, GQ and AD, and the kernel's per-pass temporaries. No numpy here: the workflow
imports this at parse time to declare `mem_mb`.
"""

from __future__ import annotations

MB = 1 << 20
# Interpreter, imports, BGZF read buffer and bcftools' state in the same process.
BASE_MB = 300
# Bytes per genotype of a block, 32-bit DP/GQ/AD (the widest case), with headroom.
GENOTYPE_BYTES = 50
# Beyond this a larger block saves nothing measurable (per-block costs are amortised).
MAX_BLOCK_SIZE = 10_000
# Block memory the workflow declares when block_size is unset: a large cohort gets
# smaller blocks, not a job no node can run.
DEFAULT_BLOCK_MB = 2_000


def block_size_for_memory(mem_mb: int, n_samples: int) -> int:
    """The largest block (records) whose genotypes fit in `mem_mb` beside the base,
    at most MAX_BLOCK_SIZE. Refuses a budget too small for even one small block."""
    usable = (mem_mb - BASE_MB) * MB
    size = min(MAX_BLOCK_SIZE, usable // (GENOTYPE_BYTES * max(n_samples, 1)))
    if size < 1:
        needed = BASE_MB + -(-GENOTYPE_BYTES * max(n_samples, 1) // MB)
        raise ValueError(
            f"mem_mb {mem_mb} leaves no room for a counting block of {n_samples} samples "
            f"(needs at least {needed} MB): give the count rule more memory "
            "(--set-resources count:mem_mb=...) or set block_size in the config"
        )
    return int(size)


def block_memory_mb(n_samples: int, block_size: int | None) -> int:
    """MB a count job needs for its base and one block (`block_size` None: the default
    budget's block)."""
    if block_size is None:
        block_bytes = min(GENOTYPE_BYTES * n_samples * MAX_BLOCK_SIZE, DEFAULT_BLOCK_MB * MB)
    else:
        block_bytes = GENOTYPE_BYTES * n_samples * block_size
    return BASE_MB + -(-block_bytes // MB)
