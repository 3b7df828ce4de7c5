"""Disclosure control that survives subtraction (DESIGN §6, docs/PRIVACY.md).

Model. The finest cells of a sheet are *atoms*: (cohort, population, sex) with sex
XX, XY or NA. Every group that can be published (the total, each cohort, each
population, XX, XY, population_XX, population_XY) is a union of atoms, a 0/1 row
over them. A published count of a group at a record is the sum of its atoms'
contributions, so any sum and difference of published counts at one record is
sum_a v_a * count_a for a vector v in the row space of the published rows.

Contributions a reader already knows are constants, not unknowns: atoms not
counted in the record's ploidy class (`counted_sexes`) and atoms of cohorts that
did not call the record (absent = reference AN from the group sizes, missing, or
FILTERed: `cohorts_called` says which). The *effective* atoms of a record are the
counted atoms of the cohorts that called it, weighted by their sample numbers.

Criterion (exact). With M the published rows restricted to the effective atoms,
a leak is a non-zero v in rowspace(M) whose support holds 1 to k-1 samples. Any
leak is zero on the "big" atoms (weight >= k), so it lies in
V0 = {l^T M : l^T M_big = 0}; when V0 = {0} (the common case) there is none,
otherwise a depth-first search over small-atom sets S of weight < k tests whether
a non-zero vector of V0 vanishes outside S (rank drop). Arithmetic is exact
(Fractions on 0/1 matrices). Atoms with identical columns are merged first: a
row-space vector is constant on them.

Suppression: start from every group of at least k samples (overall and at the
record), and while a leak exists withhold the smallest published group touching
its support (ties: family order, then label): complementary suppression iterated
to a fixed point. Deterministic, and memoised per record pattern (ploidy class,
set of calling cohorts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from europanel.core.regions import PLOIDY_BY_CLASS_AND_SEX

SEX_LABELS = ("XX", "XY", "NA")
FAMILIES = ("total", "cohort", "population", "sex", "population_sex")
TOTAL = ""  # label of the total group (fields AC, AN, ... without a suffix)

Atom = tuple[str, str, str]  # (cohort, population, sex)


def counted_sexes(ploidy_class: int) -> frozenset[str]:
    """Sexes whose samples are counted at a site of this ploidy class (the one rule)."""
    return frozenset(s for s, n in PLOIDY_BY_CLASS_AND_SEX[int(ploidy_class)].items() if n > 0)


@dataclass(frozen=True, order=True)
class Group:
    """A publishable group: its family and label (population_sex labels are `P_XX`)."""

    family_rank: int
    label: str

    @property
    def family(self) -> str:
        return FAMILIES[self.family_rank]

    def contains(self, atom: Atom) -> bool:
        cohort, population, sex = atom
        family = self.family
        if family == "total":
            return True
        if family == "cohort":
            return cohort == self.label
        if family == "population":
            return population == self.label
        if family == "sex":
            return sex == self.label
        p, s = self.label.rsplit("_", 1)
        return population == p and sex == s


def make_groups(cohorts, populations, with_cohorts: bool = True) -> list[Group]:
    """Every publishable group in family order (bundles: with_cohorts=False, their total
    is the cohort)."""
    groups = [Group(0, TOTAL)]
    if with_cohorts:
        groups += [Group(1, c) for c in sorted(cohorts)]
    groups += [Group(2, p) for p in sorted(populations)]
    groups += [Group(3, s) for s in ("XX", "XY")]
    groups += [Group(4, f"{p}_{s}") for p in sorted(populations) for s in ("XX", "XY")]
    return groups


def group_of_label(label: str, cohorts, populations) -> Group:
    """The Group of a published field suffix ('' for the total)."""
    if label == TOTAL:
        return Group(0, TOTAL)
    if label in cohorts:
        return Group(1, label)
    if label in populations:
        return Group(2, label)
    if label in ("XX", "XY"):
        return Group(3, label)
    return Group(4, label)


def atoms_from_groups(sizes_by_cohort: dict[str, dict[str, int]]) -> dict[Atom, int]:
    """Atom sizes from each cohort's group sizes (a bundle manifest's `groups`): the NA
    atom of a population is the population minus its XX and XY."""
    atoms: dict[Atom, int] = {}
    for cohort, sizes in sizes_by_cohort.items():
        populations = [g for g in sizes if g != cohort and g not in ("XX", "XY") and "_" not in g]
        for p in populations:
            xx, xy = sizes.get(f"{p}_XX", 0), sizes.get(f"{p}_XY", 0)
            for sex, n in (("XX", xx), ("XY", xy), ("NA", sizes[p] - xx - xy)):
                if n:
                    atoms[(cohort, p, sex)] = n
    return atoms


def effective_weights(
    atoms: dict[Atom, int], ploidy_class: int, called: frozenset[str] | None
) -> dict[Atom, int]:
    """Atoms whose contribution at a record is unknown to a reader, with their sizes.

    `called`: the cohorts that called the record (None: every cohort, as in a bundle)."""
    sexes = counted_sexes(ploidy_class)
    return {
        a: n
        for a, n in atoms.items()
        if n > 0 and a[2] in sexes and (called is None or a[0] in called)
    }


# Exact linear algebra on small integer matrices (lists of rows).


def _rref(rows: list[list[Fraction]]) -> list[list[Fraction]]:
    """Reduced row echelon form, zero rows dropped."""
    rows = [list(r) for r in rows]
    if not rows:
        return []
    width = len(rows[0])
    pivot_row = 0
    for col in range(width):
        pivot = next((i for i in range(pivot_row, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[pivot_row], rows[pivot] = rows[pivot], rows[pivot_row]
        lead = rows[pivot_row][col]
        rows[pivot_row] = [x / lead for x in rows[pivot_row]]
        for i in range(len(rows)):
            if i != pivot_row and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [x - factor * y for x, y in zip(rows[i], rows[pivot_row])]
        pivot_row += 1
        if pivot_row == len(rows):
            break
    return [r for r in rows if any(x != 0 for x in r)]


def rank(rows) -> int:
    return len(_rref([[Fraction(x) for x in r] for r in rows]))


def _null_space(rows: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """Basis of {x : rows @ x = 0}."""
    reduced = _rref(rows)
    pivots = []
    for r in reduced:
        pivots.append(next(j for j, x in enumerate(r) if x != 0))
    free = [j for j in range(width) if j not in pivots]
    basis = []
    for f in free:
        x = [Fraction(0)] * width
        x[f] = Fraction(1)
        for r, p in zip(reduced, pivots):
            x[p] = -r[f]
        basis.append(x)
    return basis


@dataclass(frozen=True)
class Leak:
    """A linear combination of published counts that isolates fewer than k samples."""

    atoms: tuple[Atom, ...]  # the support
    samples: int
    rows: tuple[int, ...] = ()  # indices of the published rows the combination uses


def find_leak(rows: list[frozenset[Atom]], weights: dict[Atom, int], k: int) -> Leak | None:
    """A non-zero vector of the row space with support weight in 1..k-1, or None.

    rows: the published groups as sets of effective atoms; weights: effective atom sizes."""
    if k <= 1:
        return None
    # Merge atoms with identical columns (same set of rows); drop atoms in no row.
    signature: dict[tuple[int, ...], list[Atom]] = {}
    for atom in sorted(weights):
        if weights[atom] <= 0:
            continue
        sig = tuple(i for i, r in enumerate(rows) if atom in r)
        if sig:
            signature.setdefault(sig, []).append(atom)
    columns = sorted(signature.items())
    if not columns:
        return None
    members = [atoms for _, atoms in columns]
    weight = [sum(weights[a] for a in atoms) for atoms in members]
    matrix = [[Fraction(1 if i in sig else 0) for sig, _ in columns] for i in range(len(rows))]
    big = [j for j, w in enumerate(weight) if w >= k]
    small = [j for j, w in enumerate(weight) if w < k]
    if not small:
        return None
    # Combinations l with l^T M_big = 0 (left null space of M_big), each kept next to
    # the vector it makes on the small atoms, so a leak can name the counts it uses.
    if big:
        lambdas = _null_space([[matrix[i][j] for i in range(len(rows))] for j in big], len(rows))
    else:
        lambdas = [[Fraction(int(i == r)) for i in range(len(rows))] for r in range(len(rows))]
    tracked = _rref(
        [
            [sum(lam[i] * matrix[i][j] for i in range(len(rows))) for j in small] + lam
            for lam in lambdas
        ]
    )
    v0 = [r[: len(small)] for r in tracked if any(x != 0 for x in r[: len(small)])]
    combos = [r[len(small) :] for r in tracked if any(x != 0 for x in r[: len(small)])]
    if not v0:
        return None
    d = len(v0)
    # Columns that are zero in every V0 vector never belong to a support.
    candidates = [c for c in range(len(small)) if any(r[c] != 0 for r in v0)]
    candidates.sort(key=lambda c: (weight[small[c]], c))
    found = _search_support(v0, d, candidates, [weight[small[c]] for c in range(len(small))], k)
    if found is None:
        return None
    # The vector of span(v0) vanishing outside `found`, and the counts combined into it.
    rest = [c for c in range(len(small)) if c not in found]
    coefficients = _null_space([[r[c] for r in v0] for c in rest], d)[0]
    vector = [sum(x * r[c] for x, r in zip(coefficients, v0)) for c in range(len(small))]
    combination = [sum(x * r[i] for x, r in zip(coefficients, combos)) for i in range(len(rows))]
    support = tuple(
        sorted(a for c in range(len(small)) if vector[c] != 0 for a in members[small[c]])
    )
    return Leak(
        support,
        sum(weights[a] for a in support),
        tuple(i for i, x in enumerate(combination) if x != 0),
    )


PRIME = (1 << 61) - 1  # a Mersenne prime for the fast pass of the search


def _search_support(v0, d, candidates, col_weight, k):
    """Smallest-first depth-first search: a column set S of weight < k on which some
    non-zero vector of W = span(v0) lives.

    With N a basis of W's orthogonal complement (the null space of v0), w in W is
    supported on S exactly when N[:, S] w_S = 0: such a w exists iff the columns S of
    N are linearly dependent. So the search grows S one column at a time, keeping the
    chosen columns of N reduced, and stops at the first column that reduces to zero.
    The reduction runs modulo a prime (independence there implies independence over
    the rationals); a dependence it finds is confirmed with exact Fractions, and in the
    (astronomically rare) case it is not, the search is redone in Fractions."""
    width = len(v0[0])
    complement = _null_space(v0, width)  # (width - d) vectors of length width
    exact_columns = {c: [n[c] for n in complement] for c in candidates}
    scaled = []
    for n in complement:  # scaling a row of N keeps every column dependence
        scale = 1
        for x in n:
            scale = scale * x.denominator // gcd(scale, x.denominator)
        scaled.append([int(x * scale) % PRIME for x in n])
    modular_columns = {c: [n[c] for n in scaled] for c in candidates}
    found = _grow(candidates, col_weight, k, modular_columns, _reduce_mod_prime)
    if found is None:
        return None
    if rank([[exact_columns[c][i] for c in found] for i in range(len(complement))]) < len(found):
        return found
    return _grow(candidates, col_weight, k, exact_columns, _reduce_exact)


def _reduce_mod_prime(vector, basis):
    vector = list(vector)
    for pivot, row in basis:  # rows are normalised: row[pivot] == 1
        if vector[pivot]:
            factor = vector[pivot]
            vector = [(x - factor * y) % PRIME for x, y in zip(vector, row)]
    pivot = next((i for i, x in enumerate(vector) if x), None)
    if pivot is not None:
        inverse = pow(vector[pivot], PRIME - 2, PRIME)
        vector = [(x * inverse) % PRIME for x in vector]
    return pivot, vector


def _reduce_exact(vector, basis):
    vector = list(vector)
    for pivot, row in basis:
        if vector[pivot] != 0:
            factor = vector[pivot]
            vector = [x - factor * y for x, y in zip(vector, row)]
    pivot = next((i for i, x in enumerate(vector) if x != 0), None)
    if pivot is not None:
        lead = vector[pivot]
        vector = [x / lead for x in vector]
    return pivot, vector


def _grow(candidates, col_weight, k, columns, reduce):
    def extend(chosen, basis, start, total):
        for position in range(start, len(candidates)):
            column = candidates[position]
            w = total + col_weight[column]
            if w >= k:
                break  # candidates are sorted by weight: every later one is heavier
            pivot, reduced = reduce(columns[column], basis)
            if pivot is None:
                return chosen + [column]
            hit = extend(chosen + [column], basis + [(pivot, reduced)], position + 1, w)
            if hit is not None:
                return hit
        return None

    return extend([], [], 0, 0)


def publishable(
    groups: list[Group],
    sizes: dict[Group, int],
    weights: dict[Atom, int],
    k: int,
) -> tuple[frozenset[Group], list[tuple[Group, str]]]:
    """The groups published at a record pattern, and why each other group is withheld.

    sizes: each group's sample number over the whole sheet (or bundle); weights: the
    pattern's effective atoms. Reasons: 'small' (fewer than k samples overall or at
    the record) or 'complementary' (withheld so that no small group can be derived)."""
    rows = {g: frozenset(a for a in weights if g.contains(a)) for g in groups}
    at_record = {g: sum(weights[a] for a in rows[g]) for g in groups}
    reasons: list[tuple[Group, str]] = []
    published = []
    for g in groups:
        if sizes.get(g, 0) >= max(k, 1) and (at_record[g] == 0 or at_record[g] >= k):
            published.append(g)
        elif sizes.get(g, 0) > 0:
            reasons.append((g, "small"))
    while True:
        leak = find_leak([rows[g] for g in published], weights, k)
        if leak is None:
            break
        # Withhold one count the combination uses: the finest family first (a
        # population_sex before a sex or population, the total last: coarse groups are
        # what users and the central merge need most), the smallest within it.
        used = [published[i] for i in leak.rows]
        victim = min(used, key=lambda g: (g.family_rank == 0, -g.family_rank, at_record[g], g))
        published.remove(victim)
        reasons.append((victim, "complementary"))
    # Give back, largest first, every complementary suppression that is not needed.
    for victim, reason in sorted(
        [r for r in reasons if r[1] == "complementary"],
        key=lambda r: (r[0].family_rank, -at_record[r[0]], r[0]),
    ):
        trial = sorted([*published, victim])
        if find_leak([rows[g] for g in trial], weights, k) is None:
            published = trial
            reasons.remove((victim, reason))
    return frozenset(published), reasons


class PatternPolicy:
    """Memoised `publishable` per record pattern (ploidy class, calling cohorts)."""

    def __init__(self, atoms: dict[Atom, int], groups: list[Group], k: int):
        self.atoms = atoms
        self.groups = groups
        self.k = k
        self.sizes = {g: sum(n for a, n in atoms.items() if g.contains(a)) for g in groups}
        self._cache: dict = {}

    def decide(self, ploidy_class: int, called: frozenset[str] | None):
        key = (int(ploidy_class), called)
        if key not in self._cache:
            weights = effective_weights(self.atoms, ploidy_class, called)
            self._cache[key] = publishable(self.groups, self.sizes, weights, self.k)
        return self._cache[key]

    def safe_cells(
        self, ploidy_class: int, called: frozenset[str] | None, candidates: dict[str, list[str]]
    ) -> list[str]:
        """Populations whose cohort x population cells can be published on top of this
        pattern's groups without a leak (greedily, in label order). A statistic computed
        from such cells (the cross-country heterogeneity p-value) may be published."""
        key = ("cells", int(ploidy_class), called)
        if key not in self._cache:
            weights = effective_weights(self.atoms, ploidy_class, called)
            rows = [
                frozenset(a for a in weights if g.contains(a))
                for g in self.published(ploidy_class, called)
            ]
            accepted = []
            for population in sorted(candidates):
                cells = [
                    frozenset(a for a in weights if a[0] == c and a[1] == population)
                    for c in candidates[population]
                ]
                cells = [cell for cell in cells if cell]  # a cohort not calling: known
                if not cells or find_leak(rows + cells, weights, self.k) is None:
                    rows += cells
                    accepted.append(population)
            self._cache[key] = accepted
        return self._cache[key]

    def published(self, ploidy_class: int, called: frozenset[str] | None) -> frozenset[Group]:
        return self.decide(ploidy_class, called)[0]

    def patterns(self):
        return {k: v for k, v in self._cache.items() if k[0] != "cells"}


# Releases: sample counts and salted digests of sample sets (docs/PRIVACY.md).


def sample_set_digest(samples, salt: bytes) -> str:
    """Salted SHA-256 of a sorted sample set: comparable across releases made with the
    same secret salt, not reversible without it."""
    digest = hashlib.sha256(salt)
    for sample in sorted(samples):
        digest.update(b"\0" + str(sample).encode())
    return digest.hexdigest()


def combined_digest(digests) -> str:
    """A panel group's digest: the digest of its cohorts' sorted digests."""
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def release_problems(previous: dict, current: dict, k: int) -> list[str]:
    """Why the current release may not follow the previous one.

    Both map group label -> {"samples": n, "digest": hex or None}. A published group
    that changed by 1..k-1 samples would let the difference of the two releases read
    those samples' genotypes; the same count with another digest is a change of
    unknown size (members swapped), refused as well."""
    problems = []
    for label in sorted(set(previous) & set(current)):
        before, now = previous[label], current[label]
        change = abs(now["samples"] - before["samples"])
        name = label or "all samples"
        if 0 < change < k:
            problems.append(
                f"group {name}: {before['samples']} samples in the previous release, "
                f"{now['samples']} now ({change} changed, fewer than k = {k}); batch "
                f"withdrawals and additions until at least {k} samples of the group change, "
                "or keep the previous sample set for this release"
            )
        elif change == 0 and before.get("digest") and now.get("digest"):
            if before["digest"] != now["digest"]:
                problems.append(
                    f"group {name}: same sample number ({now['samples']}) as the previous "
                    "release but another sample set (digest differs), a change of unknown "
                    f"size; batch withdrawals until at least {k} samples of the group change"
                )
    return problems
