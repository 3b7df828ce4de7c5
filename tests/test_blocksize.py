"""block_size from the count job's mem_mb when the config leaves it unset (issue 12 item 5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from europanel.resources import (
    BLOCK_BASE_MB,
    GENOTYPE_BYTES,
    MAX_BLOCK_SIZE,
    MIB,
    block_memory_mb,
    block_size_for_memory,
)


def test_hand_computed_sizes():
    # 1,000 MIB at 400 samples: (1000 - 300) MIB / (50 B x 400) = 36,700 records -> the cap.
    assert block_size_for_memory(1000, 400) == MAX_BLOCK_SIZE
    # 20,000 samples: 700 MIB / 1,000,000 B per record = 734 records.
    assert block_size_for_memory(1000, 20_000) == (700 * MIB) // (50 * 20_000) == 734
    assert block_size_for_memory(BLOCK_BASE_MB + 1, 1) == MAX_BLOCK_SIZE


@given(st.integers(1, 200_000), st.integers(BLOCK_BASE_MB + 1, 500_000))
def test_the_derived_block_fits_in_the_memory_it_came_from(n_samples, mem_mb):
    try:
        size = block_size_for_memory(mem_mb, n_samples)
    except ValueError:
        assert (mem_mb - BLOCK_BASE_MB) * MIB < GENOTYPE_BYTES * n_samples
        return
    assert 1 <= size <= MAX_BLOCK_SIZE
    assert block_memory_mb(n_samples, size) <= mem_mb
    # The largest such block: one more record would not fit (unless capped).
    assert size == MAX_BLOCK_SIZE or block_memory_mb(n_samples, size + 1) > mem_mb


@given(st.integers(1, 200_000))
def test_the_declared_default_memory_gives_a_block(n_samples):
    """What the workflow declares for a null block_size is enough for a block of at least
    the default budget's size, and it never asks for more than base + that budget."""
    declared = block_memory_mb(n_samples, None)
    size = block_size_for_memory(declared, n_samples)
    assert size >= min(MAX_BLOCK_SIZE, (2000 * MIB) // (GENOTYPE_BYTES * n_samples))
    assert declared <= BLOCK_BASE_MB + 2000 + 1


def test_too_little_memory_is_one_clear_message():
    with pytest.raises(ValueError, match=r"mem_mb 300 leaves no room .* 20000 samples .*"):
        block_size_for_memory(300, 20_000)
    with pytest.raises(ValueError, match="set block_size in the config"):
        block_size_for_memory(100, 1)
