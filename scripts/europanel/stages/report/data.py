"""QC report data: tables computed from aggregates only (DESIGN §2.6, §6).

What the report may show (`Publication`: groups under privacy.min_group_size are never
plotted; `withheld_groups_text` names them, with their sizes, for the summary table: the
one place the report names them), samples per cohort and population (bundle manifests),
record fates (normalise and count stats JSON) and per-cohort Ti/Tv, call rate and AF
concordance (bundle counts, read one window of all cohorts at a time).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from europanel.core.panel_groups import PanelGroups
from europanel.core.regions import PloidyMap, bare_name
from europanel.io.sheets import SEXES
from europanel.stages.bundle import Bundle

WITHHELD_POPULATIONS = "withheld populations"
SEX_REST = "NA or withheld"
TRANSITIONS = ("AG", "GA", "CT", "TC")
VARIANT_TYPES = ("SNV", "indel", "other")
AF_GRID = 500  # cells per axis of the accumulated AF-vs-AF counts (AF resolution 0.002)
WINDOW_BP = 5_000_000  # bundle counts are read this many bp of all cohorts at a time


@dataclass(frozen=True)
class Publication:
    """The panel's groups and which of them the report may show (privacy.min_group_size)."""

    groups: PanelGroups
    min_group_size: int
    shown: frozenset[str] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "shown", frozenset(self.groups.published(self.min_group_size)))

    @classmethod
    def from_manifests(cls, manifests: list[dict], min_group_size: int) -> Publication:
        return cls(PanelGroups.from_manifests(manifests), min_group_size)

    @property
    def cohorts(self) -> list[str]:
        return [c for c in self.groups.cohorts if c in self.shown]

    @property
    def populations(self) -> list[str]:
        return [p for p in self.groups.populations if p in self.shown]

    @property
    def withheld(self) -> dict[str, int]:
        return self.groups.withheld(self.min_group_size)

    def size(self, group: str) -> int:
        return self.groups.sizes.get(group, 0)


def withheld_groups_text(publication: Publication) -> str:
    """'FIN (3 samples), FIN_XX (1 sample)', or 'none'."""
    withheld = publication.withheld
    if not withheld:
        return "none"
    return ", ".join(f"{g} ({n} sample{'s' if n != 1 else ''})" for g, n in withheld.items())


def open_bundles(folders: list[str]) -> list[Bundle]:
    return sorted((Bundle.open(f) for f in folders), key=lambda b: b.cohort)


def samples_by_cohort(manifests: list[dict], publication: Publication) -> dict[str, pd.DataFrame]:
    """Samples per published cohort by population and by sex.

    Populations below min_group_size are pooled into one unnamed column; withheld cohorts
    are left out (their sizes are in the summary table only).
    """
    populations = publication.populations
    by_population, by_sex = {}, {}
    for manifest in sorted(manifests, key=lambda m: m["cohort"]):
        cohort = manifest["cohort"]
        if cohort not in publication.shown:
            continue
        groups = manifest["groups"]
        row = {p: groups.get(p, 0) for p in populations}
        row[WITHHELD_POPULATIONS] = sum(
            groups.get(p, 0) for p in manifest["populations"] if p not in populations
        )
        by_population[cohort] = row
        xx, xy = groups.get("XX", 0), groups.get("XY", 0)
        by_sex[cohort] = {"XX": xx, "XY": xy, "NA": manifest["samples"] - xx - xy}
    population_table = pd.DataFrame.from_dict(
        by_population, orient="index", columns=[*populations, WITHHELD_POPULATIONS]
    )
    if not population_table[WITHHELD_POPULATIONS].any():
        population_table = population_table.drop(columns=WITHHELD_POPULATIONS)
    return {
        "population": population_table.astype(int),
        "sex": pd.DataFrame.from_dict(by_sex, orient="index", columns=["XX", "XY", "NA"]).astype(
            int
        ),
    }


def samples_by_population(publication: Publication) -> pd.DataFrame:
    """Samples per published population by sex; a withheld population-x-sex group is pooled
    with the samples of unknown sex."""
    rows = {}
    for population in publication.populations:
        total = publication.size(population)
        row = {
            sex: publication.size(f"{population}_{sex}")
            if f"{population}_{sex}" in publication.shown
            else 0
            for sex in SEXES
        }
        row[SEX_REST] = total - sum(row.values())
        rows[population] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*SEXES, SEX_REST]).astype(int)


def read_stats(paths: list[str]) -> pd.DataFrame:
    """One row per stats JSON (`<stage>/<cohort>/<chunk>.stats.json`), nested counts flattened."""
    rows = []
    for path in paths:
        stats = json.loads(Path(path).read_text())
        row = {"cohort": Path(path).parent.name, "chunk": Path(path).name.split(".")[0]}
        for key, value in stats.items():
            if isinstance(value, dict):
                row.update(value)
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def site_fates(
    normalise_stats: list[str], count_stats: list[str], publication: Publication
) -> pd.DataFrame:
    """Per published cohort: its records by type and by fate.

    `records` (after normalisation, in the cohort's chunks) are either counted, filtered
    (failed the input's FILTER) or symbolic (not counted); `ref_mismatch` records were
    dropped by normalisation (chunk-owned counts). bcftools' split/realigned/duplicate
    counts are window-wide (each chunk's window overlaps its neighbours'), so they are
    given as a share of the input lines read in the same windows (`*_pct`), which the
    overlap does not bias.
    """
    counted = read_stats(count_stats).groupby("cohort").sum(numeric_only=True)
    normalised = read_stats(normalise_stats).groupby("cohort").sum(numeric_only=True)
    table = pd.DataFrame(index=pd.Index(publication.cohorts, name="cohort"))
    for column in (
        "records",
        "counted",
        "filtered",
        "symbolic",
        "reference_only",
        "haploid_in_diploid",
        *VARIANT_TYPES,
    ):
        # Count statistics written before a counter existed lack it: 0.
        values = counted.reindex(table.index).get(column, pd.Series(0, index=table.index))
        table[column] = values.fillna(0).astype(int)
    table["ref_mismatch"] = normalised.reindex(table.index)["ref_mismatch"].fillna(0).astype(int)
    window = normalised.reindex(table.index)
    table["window_input_lines"] = window["input_records"].fillna(0).astype(int)
    for column in ("split", "realigned", "duplicates"):
        table[f"window_{column}"] = window[column].fillna(0).astype(int)
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"{column}_pct"] = np.where(
                table["window_input_lines"] > 0,
                100.0 * table[f"window_{column}"] / table["window_input_lines"],
                0.0,
            )
    return table


def read_counts(
    bundle: Bundle, contig: str, start: int, end: int, columns: list[str]
) -> pd.DataFrame:
    """Some columns of a bundle's counts with start <= POS <= end on one contig (empty when
    it has none). Counts are sorted by POS, so Parquet statistics skip the other rows."""
    entry = bundle.manifest["counts"].get(contig)
    if entry is not None:
        path = bundle.folder / entry["file"]
        if set(columns) <= set(pq.read_schema(path).names):
            return pq.read_table(
                path, columns=columns, filters=[("pos", ">=", start), ("pos", "<=", end)]
            ).to_pandas()
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class PairConcordance:
    """AF_adj of cohort a vs cohort b on sites called in both: streaming Pearson sums and a
    fixed grid of counts for the hexbin."""

    a: str
    b: str
    n: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(5))  # x, y, xx, yy, xy
    grid: np.ndarray = field(
        default_factory=lambda: np.zeros((AF_GRID + 1, AF_GRID + 1), dtype=np.int64)
    )

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.n += len(x)
        self.sums += [x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
        cells_x = np.rint(x * AF_GRID).astype(np.int64)
        cells_y = np.rint(y * AF_GRID).astype(np.int64)
        np.add.at(self.grid, (cells_x, cells_y), 1)

    @property
    def r(self) -> float:
        """Pearson r; NaN for fewer than two sites or a constant AF."""
        if self.n < 2:
            return math.nan
        sx, sy, sxx, syy, sxy = self.sums
        var_x, var_y = self.n * sxx - sx * sx, self.n * syy - sy * sy
        if var_x <= 0 or var_y <= 0:
            return math.nan
        return float((self.n * sxy - sx * sy) / math.sqrt(var_x * var_y))


@dataclass
class CohortQC:
    """Ti/Tv and call rate of one cohort, summed over contigs."""

    cohort: str
    snvs: int = 0
    transitions: int = 0
    transversions: int = 0
    called_sites: int = 0
    expected_alleles: int = 0
    an_raw: int = 0
    an_adj: int = 0

    def row(self) -> dict:
        return {
            "cohort": self.cohort,
            "snvs_ac_gt_0": self.snvs,
            "transitions": self.transitions,
            "transversions": self.transversions,
            "ti_tv": self.transitions / self.transversions if self.transversions else math.nan,
            "called_sites": self.called_sites,
            "expected_alleles": self.expected_alleles,
            "an_raw": self.an_raw,
            "an_adj": self.an_adj,
            "call_rate": self.an_raw / self.expected_alleles if self.expected_alleles else math.nan,
            "adj_rate": self.an_adj / self.expected_alleles if self.expected_alleles else math.nan,
        }


def called_sites(bundle: Bundle, contig: str, start: int, end: int) -> pd.DataFrame:
    """The cohort's called (not filtered) records of a window with its AC/AN, raw and adj."""
    c = bundle.cohort
    columns = ["pos", "ref", "alt", "filtered", f"AC_adj_{c}", f"AN_adj_{c}", f"AN_raw_{c}"]
    table = read_counts(bundle, contig, start, end, columns)
    # Reference-only records (ALT `.`) are calls, not sites of the cohort.
    table = table[~table["filtered"].astype(bool) & (table["alt"] != ".")]
    table = table.rename(
        columns={f"AC_adj_{c}": "ac", f"AN_adj_{c}": "an", f"AN_raw_{c}": "an_raw"}
    ).drop(columns="filtered")
    # Typed even when empty, so windows without records merge like the others.
    return table.astype(
        {
            "pos": np.int64,
            "ref": str,
            "alt": str,
            "ac": np.int64,
            "an": np.int64,
            "an_raw": np.int64,
        }
    )


class SiteMatcher:
    """The sites of one window that two cohorts share, for every pair of cohorts: the
    (pos, ref, alt) keys are numbered once for all cohorts, so a pair is an integer
    lookup rather than a three-column join (what `DataFrame.merge` did, 10 times per
    window with 5 cohorts, 45 with 10)."""

    def __init__(self, sites: dict[str, pd.DataFrame], key: list[str]) -> None:
        self.sites, self.key = sites, key
        cohorts = list(sites)
        sizes = [len(sites[c]) for c in cohorts]
        pos, ref, alt = (
            pd.concat([sites[c][column] for c in cohorts], ignore_index=True) for column in key
        )
        # Nulls get a code of their own: they match each other, as in a pandas merge.
        ref_codes, _ = pd.factorize(ref, use_na_sentinel=False)
        alt_codes, alt_names = pd.factorize(alt, use_na_sentinel=False)
        alleles, distinct = pd.factorize(ref_codes.astype(np.int64) * len(alt_names) + alt_codes)
        site_codes, site_keys = pd.factorize(pos.to_numpy(dtype=np.int64) * len(distinct) + alleles)
        self.number_of_sites = len(site_keys)
        bounds = np.cumsum([0, *sizes])
        self.codes = {c: site_codes[bounds[i] : bounds[i + 1]] for i, c in enumerate(cohorts)}
        self.unique = {
            c: len(codes) == 0 or np.bincount(codes).max() == 1 for c, codes in self.codes.items()
        }
        # AF = AC_adj / AN_adj where AN_adj > 0 (float64 division, as pandas divides).
        self.afs = {}
        for cohort in cohorts:
            ac = sites[cohort]["ac"].to_numpy(dtype=np.int64)
            an = sites[cohort]["an"].to_numpy(dtype=np.int64)
            with np.errstate(divide="ignore", invalid="ignore"):
                self.afs[cohort] = (ac / an, an > 0)

    def shared_afs(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        """AF of a and of b at the sites both called with AN_adj > 0 in both, in a's
        order (the order of an inner merge, so the Pearson sums are the same)."""
        codes_a, codes_b = self.codes[a], self.codes[b]
        if not self.unique[b]:  # a site twice in b: join as pandas does
            return self.merged_afs(a, b)
        row_in_b = np.full(self.number_of_sites, -1, dtype=np.int64)
        row_in_b[codes_b] = np.arange(len(codes_b))
        rows_b = row_in_b[codes_a]
        rows_a = np.flatnonzero(rows_b >= 0)
        rows_b = rows_b[rows_a]
        (af_a, called_a), (af_b, called_b) = self.afs[a], self.afs[b]
        kept = called_a[rows_a] & called_b[rows_b]
        return af_a[rows_a[kept]], af_b[rows_b[kept]]

    def merged_afs(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        both = self.sites[a].merge(self.sites[b], on=self.key, suffixes=("_a", "_b"))
        both = both[(both["an_a"] > 0) & (both["an_b"] > 0)]
        return (
            (both["ac_a"] / both["an_a"]).to_numpy(dtype=np.float64),
            (both["ac_b"] / both["an_b"]).to_numpy(dtype=np.float64),
        )


def windows(lengths: dict[str, int], contigs: list[str]):
    """(contig, start, end) of consecutive WINDOW_BP windows covering each contig."""
    for contig in contigs:
        for start in range(1, lengths[contig] + 1, WINDOW_BP):
            yield contig, start, min(start + WINDOW_BP - 1, lengths[contig])


def cohort_tables(
    bundles: list[Bundle], contigs: list[str], publication: Publication
) -> tuple[pd.DataFrame, list[PairConcordance]]:
    """Ti/Tv and call rate per published cohort, and AF concordance per pair of them.

    Ti/Tv: SNVs the cohort called (PASS in its input) with adj AC > 0.
    Call rate: AN_raw summed over the cohort's called sites / the alleles its samples
    would give there (the manifest's reference AN for the site's ploidy class), over the
    sites where that is above 0; `adj_rate` is the same with AN_adj.
    Concordance: sites called in both cohorts with AN_adj > 0 in both; AF = AC_adj/AN_adj.
    """
    shown = [b for b in bundles if b.cohort in publication.shown]
    qc = {b.cohort: CohortQC(b.cohort) for b in shown}
    pairs = [PairConcordance(a.cohort, b.cohort) for a, b in itertools.combinations(shown, 2)]
    key = ["pos", "ref", "alt"]
    lengths = bundles[0].manifest["contigs"] if bundles else {}
    for contig, start, end in windows(lengths, contigs):  # all cohorts, one window at a time
        sites = {}
        for bundle in shown:
            table = called_sites(bundle, contig, start, end)
            sites[bundle.cohort] = table
            stats = qc[bundle.cohort]
            ref, alt = table["ref"].astype(str), table["alt"].astype(str)
            snv = (ref.str.len() == 1) & (alt.str.len() == 1) & (table["ac"] > 0)
            transition = snv & (ref.str.upper() + alt.str.upper()).isin(TRANSITIONS)
            stats.snvs += int(snv.sum())
            stats.transitions += int(transition.sum())
            stats.transversions += int(snv.sum() - transition.sum())
            par = bundle.manifest["par"]
            ploidy = PloidyMap(
                {bare_name(k).upper(): [tuple(s) for s in v] for k, v in par.items()}
            )
            classes = ploidy.classes(contig, table["pos"].to_numpy(dtype=np.int64))
            per_class = np.array(bundle.manifest["reference_an"][bundle.cohort], dtype=np.int64)
            expected = per_class[classes]
            known = expected > 0
            stats.called_sites += int(known.sum())
            stats.expected_alleles += int(expected[known].sum())
            stats.an_raw += int(table["an_raw"].to_numpy(dtype=np.int64)[known].sum())
            stats.an_adj += int(table["an"].to_numpy(dtype=np.int64)[known].sum())
        matcher = SiteMatcher(sites, key)
        for pair in pairs:
            pair.add(*matcher.shared_afs(pair.a, pair.b))
    table = pd.DataFrame(
        [q.row() for q in qc.values()], columns=list(CohortQC("").row())
    ).set_index("cohort")
    return table, pairs


def concordance_table(pairs: list[PairConcordance]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"cohort_a": p.a, "cohort_b": p.b, "shared_sites": p.n, "pearson_r": p.r} for p in pairs],
        columns=["cohort_a", "cohort_b", "shared_sites", "pearson_r"],
    )


def cohort_summary(
    fates: pd.DataFrame | None, qc: pd.DataFrame, publication: Publication
) -> pd.DataFrame:
    """Per published cohort: samples, record fates (when known), Ti/Tv and call rates."""
    table = pd.DataFrame(index=pd.Index(publication.cohorts, name="cohort"))
    table["samples"] = [publication.size(c) for c in table.index]
    if fates is not None:
        fates = fates.reindex(table.index)
        for column, label in (
            ("records", "records"),
            ("counted", "counted"),
            ("filtered", "filtered"),
            ("symbolic", "symbolic"),
            ("ref_mismatch", "REF mismatch"),
            ("reference_only", "reference-only (ALT .)"),
            ("haploid_in_diploid", "haploid calls where diploid expected"),
            ("SNV", "SNV"),
            ("indel", "indel"),
        ):
            if column in fates:
                table[label] = fates[column].fillna(0).astype(int)
    qc = qc.reindex(table.index)
    table["Ti/Tv"] = qc["ti_tv"].astype(float)
    table["call rate"] = qc["call_rate"].astype(float)
    table["adj rate"] = qc["adj_rate"].astype(float)
    return table


def write_table(table: pd.DataFrame, path: str, index=True) -> None:
    partial = f"{path}.partial"
    table.to_csv(partial, sep="\t", index=index, float_format="%.6g")
    os.replace(partial, path)


def read_table(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", index_col=0)


def publication_of(bundles: list[Bundle], min_group_size: int) -> Publication:
    return Publication.from_manifests([b.manifest for b in bundles], min_group_size)


@dataclass(frozen=True)
class StatsFiles:
    """Where the per-(cohort, chunk) and per-chunk JSON files of a run are (paths are built
    here, not passed one by one: a genome-wide run has too many for a command line)."""

    root: str
    cohorts: list[str]
    chunks: list[str]

    def of(self, stage: str) -> list[str]:
        return [
            f"{self.root}/{stage}/{c}/{k}.stats.json" for c in self.cohorts for k in self.chunks
        ]

    def merged(self) -> list[str]:
        return [f"{self.root}/merged/{k}.summary.json" for k in self.chunks]
