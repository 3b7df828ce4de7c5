"""The panel's groups (cohorts, populations, sexes, population x sex) and, per record
pattern, which of them the disclosure policy lets a chunk publish (DESIGN §6).

Pure and light (no scipy, no pyarrow): the workflow imports PanelGroups while it parses,
and the merge, publish, report and all-sites stages share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from europanel.core.disclosure import (
    TOTAL,
    PatternPolicy,
    atoms_from_groups,
    group_of_label,
    make_groups,
)
from europanel.io.sheets import SEXES


@dataclass(frozen=True)
class PanelGroups:
    """The panel's groups and their sample numbers, summed over cohorts."""

    cohorts: list[str]
    populations: list[str]
    sizes: dict[str, int]

    @classmethod
    def from_manifests(cls, manifests: list[dict]) -> PanelGroups:
        sizes: dict[str, int] = {}
        for manifest in manifests:
            for group, n in manifest["groups"].items():
                sizes[group] = sizes.get(group, 0) + n
        cohorts = sorted(m["cohort"] for m in manifests)
        populations = sorted({p for m in manifests for p in m["populations"]})
        return cls(cohorts, populations, sizes)

    def ordered(self) -> list[str]:
        """Every group of the panel, in publication order."""
        pop_sex = [f"{p}_{s}" for p in self.populations for s in SEXES]
        return self.cohorts + self.populations + list(SEXES) + pop_sex

    def published(self, min_group_size: int) -> list[str]:
        return [g for g in self.ordered() if self.sizes.get(g, 0) >= max(min_group_size, 1)]

    def withheld(self, min_group_size: int) -> dict[str, int]:
        """Groups too small to publish on their own, with their sizes (for the report only)."""
        return {g: n for g in self.ordered() if 0 < (n := self.sizes.get(g, 0)) < min_group_size}

    def disclosure_policy(
        self, sizes_by_cohort: dict[str, dict[str, int]], min_group_size: int
    ) -> PatternPolicy:
        """Which groups each record pattern may publish (europanel.disclosure)."""
        atoms = atoms_from_groups(sizes_by_cohort)
        return PatternPolicy(atoms, make_groups(self.cohorts, self.populations), min_group_size)


def record_patterns(
    ploidy_class: np.ndarray, called_by: list[list[str]]
) -> tuple[list[tuple[int, frozenset[str]]], np.ndarray]:
    """The distinct disclosure patterns (ploidy class, calling cohorts) of a chunk's
    records, and each record's pattern index: decisions are made once per pattern."""
    index: dict[tuple[int, frozenset[str]], int] = {}
    which = np.array(
        [
            index.setdefault((int(cls), frozenset(called)), len(index))
            for cls, called in zip(ploidy_class, called_by)
        ],
        dtype=np.int64,
    )
    return list(index), which


def published_groups(
    policy: PatternPolicy,
    groups: list[str],
    patterns: list[tuple[int, frozenset[str]]],
    which: np.ndarray,
    unknown: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per record, which panel groups are published, and whether the total is.

    A group is published where the record's pattern (ploidy class, calling cohorts)
    allows it and every calling cohort's bundle carried its piece (`unknown` marks
    pieces a bundle withheld). Withholding more than the pattern asks never opens a
    leak: fewer published rows span a smaller space."""
    cohorts, populations = policy_labels(policy)
    as_group = {g: group_of_label(g, cohorts, populations) for g in groups}
    by_pattern = np.zeros((len(patterns), len(groups)), dtype=bool)
    total_by_pattern = np.zeros(len(patterns), dtype=bool)
    for i, key in enumerate(patterns):
        allowed = policy.published(*key)
        by_pattern[i] = [as_group[g] in allowed for g in groups]
        total_by_pattern[i] = any(g.label == TOTAL for g in allowed)
    shown = by_pattern[which].reshape(len(which), len(groups))
    total = total_by_pattern[which]
    cohort_columns = [j for j, g in enumerate(groups) if g in cohorts]
    total &= ~unknown[:, cohort_columns].any(axis=1)
    return shown & ~unknown, total


def policy_labels(policy: PatternPolicy) -> tuple[set[str], set[str]]:
    cohorts = {g.label for g in policy.groups if g.family == "cohort"}
    populations = {g.label for g in policy.groups if g.family == "population"}
    return cohorts, populations
