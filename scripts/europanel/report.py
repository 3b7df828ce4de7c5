"""QC report: tables and figures from the pipeline's aggregate outputs (DESIGN §2.6, §6).

Everything here reads aggregates only: the bundles (manifest group sizes and per-record
counts per group), the per-(cohort, chunk) stats of normalise and count, the merge
summaries and the published panel. No sample sheet and no genotype is read, so no
figure or table can name a sample.

Privacy: a group with fewer than `privacy.min_group_size` samples is never plotted and
none of its counts or frequencies is shown: per-cohort figures leave a withheld cohort
out, population figures a withheld population (pooled, unnamed, in the sample counts).
`withheld_groups_text` names them, with their sizes, for the summary table: the one
place the report names them.

Large inputs are streamed: the panel in record batches, the bundles one contig at a
time, and the concordance plots are drawn from a fixed grid of counts, so memory does
not grow with the number of sites.

Pure functions compute the tables (`samples_by_cohort`, `site_fates`, `cohort_tables`,
`panel_spectra`, `panel_chromosomes`, ...); `plot_*` functions draw them with
matplotlib's object API (a Figure renders PNG with Agg, no pyplot state); `write_*`
functions are what the `qc-figures` CLI calls.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from europanel.bundle import Bundle
from europanel.core.regions import PloidyMap, bare_name
from europanel.io.sheets import SEXES, InputError
from europanel.merge import PanelGroups

DPI = 110
WITHHELD_POPULATIONS = "withheld populations"
SEX_REST = "NA or withheld"
TRANSITIONS = ("AG", "GA", "CT", "TC")
VARIANT_TYPES = ("SNV", "indel", "other")
AF_GRID = 500  # cells per axis of the accumulated AF-vs-AF counts (AF resolution 0.002)
BATCH_ROWS = 200_000  # panel records per streamed batch
WINDOW_BP = 5_000_000  # bundle counts are read this many bp of all cohorts at a time
COLOURS = matplotlib.colormaps["tab10"].colors


# ---------------------------------------------------------------------------- privacy


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


# ---------------------------------------------------------------------------- samples


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


# ---------------------------------------------------------------------------- site fates


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


# ---------------------------------------------------------------------------- cohorts


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
        for pair in pairs:
            both = sites[pair.a].merge(sites[pair.b], on=key, suffixes=("_a", "_b"))
            both = both[(both["an_a"] > 0) & (both["an_b"] > 0)]
            pair.add(
                (both["ac_a"] / both["an_a"]).to_numpy(dtype=np.float64),
                (both["ac_b"] / both["an_b"]).to_numpy(dtype=np.float64),
            )
    table = pd.DataFrame(
        [q.row() for q in qc.values()], columns=list(CohortQC("").row())
    ).set_index("cohort")
    return table, pairs


def concordance_table(pairs: list[PairConcordance]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"cohort_a": p.a, "cohort_b": p.b, "shared_sites": p.n, "pearson_r": p.r} for p in pairs],
        columns=["cohort_a", "cohort_b", "shared_sites", "pearson_r"],
    )


# ---------------------------------------------------------------------------- panel


def ac_bins(max_ac: int) -> list[tuple[int, int]]:
    """Allele-count bins 1, 2, 3-5, 6-10, 11-20, 21-50, ... (a 1-2-5 series) covering max_ac."""
    uppers: list[int] = []
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            uppers.append(mantissa * 10**exponent)
            if uppers[-1] >= max_ac:
                lows = [1] + [u + 1 for u in uppers[:-1]]
                return list(zip(lows, uppers))
    raise AssertionError("unreachable")


def ac_bin_labels(bins: list[tuple[int, int]]) -> list[str]:
    return [str(low) if low == high else f"{low}–{high}" for low, high in bins]


def iter_panel(parquet: str, columns: list[str]):
    """Record batches of some panel columns (as DataFrames)."""
    source = pq.ParquetFile(parquet)
    present = [c for c in columns if c in source.schema_arrow.names]
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=present):
        yield batch.to_pandas()


def variant_types(ref: pd.Series, alt: pd.Series) -> np.ndarray:
    ref_len, alt_len = ref.str.len().to_numpy(), alt.str.len().to_numpy()
    return np.where(
        (ref_len == 1) & (alt_len == 1), "SNV", np.where(ref_len != alt_len, "indel", "other")
    )


@dataclass
class PanelSpectra:
    """Streamed distributions of the published panel."""

    populations: list[str]
    ac_bins: list[tuple[int, int]]
    sfs: pd.DataFrame  # AC bin x population: sites with AC_pop > 0
    log_edges: np.ndarray  # log10 AF bin edges
    log_af: pd.DataFrame  # log10 AF bin x type: PASS records
    linear_af: pd.DataFrame  # AF bin (0-1, 20 bins) x type: PASS records
    ac0: int = 0
    records: int = 0


def panel_spectra(parquet: str, publication: Publication) -> PanelSpectra:
    """Site frequency spectrum per published population (adj AC, sites with AC > 0) and
    the distribution of AF (adj, all samples) over PASS records. A population is shown
    only if both the report's and the panel's min_group_size published it."""
    columns = set(pq.read_schema(parquet).names)
    populations = [p for p in publication.populations if f"AC_{p}" in columns]
    bins = ac_bins(max([2 * publication.size(p) for p in populations] + [1]))
    lows = np.array([low for low, _ in bins])
    total = sum(publication.size(c) for c in publication.groups.cohorts)
    low = math.floor(math.log10(1 / max(2 * total, 2)))
    log_edges = np.linspace(low, 0, 4 * -low + 1)
    linear_edges = np.linspace(0, 1, 21)
    sfs = np.zeros((len(bins), len(populations)), dtype=np.int64)
    log_af = np.zeros((len(log_edges) - 1, len(VARIANT_TYPES)), dtype=np.int64)
    linear_af = np.zeros((len(linear_edges) - 1, len(VARIANT_TYPES)), dtype=np.int64)
    ac0 = records = 0
    columns = ["REF", "ALT", "FILTER", "AF", *(f"AC_{p}" for p in populations)]
    for batch in iter_panel(parquet, columns):
        records += len(batch)
        for j, population in enumerate(populations):
            ac = batch[f"AC_{population}"].to_numpy(dtype=np.int64)
            ac = ac[ac > 0]
            which = np.clip(np.searchsorted(lows, ac, side="right") - 1, 0, len(bins) - 1)
            sfs[:, j] += np.bincount(which, minlength=len(bins))
        passed = (batch["FILTER"] == "PASS").to_numpy()
        ac0 += int((batch["FILTER"] == "AC0").sum())
        af = batch["AF"].to_numpy(dtype=np.float64)
        kinds = variant_types(batch["REF"].astype(str), batch["ALT"].astype(str))
        for k, kind in enumerate(VARIANT_TYPES):
            chosen = af[passed & (kinds == kind) & (af > 0)]
            log_af[:, k] += np.histogram(np.log10(chosen), bins=log_edges)[0]
            linear_af[:, k] += np.histogram(chosen, bins=linear_edges)[0]
    log_labels = [f"{a:.2f}" for a in log_edges[:-1]]
    linear_labels = [f"{a:.2f}" for a in linear_edges[:-1]]
    return PanelSpectra(
        populations=populations,
        ac_bins=bins,
        sfs=pd.DataFrame(sfs, index=ac_bin_labels(bins), columns=populations),
        log_edges=log_edges,
        log_af=pd.DataFrame(log_af, index=log_labels, columns=list(VARIANT_TYPES)),
        linear_af=pd.DataFrame(linear_af, index=linear_labels, columns=list(VARIANT_TYPES)),
        ac0=ac0,
        records=records,
    )


def panel_chromosomes(parquet: str) -> pd.DataFrame:
    """Records per chromosome: total, PASS, AC0 and by type, plus an `all` row."""
    parts = []
    for batch in iter_panel(parquet, ["CHROM", "REF", "ALT", "FILTER"]):
        frame = pd.DataFrame(
            {
                "chromosome": batch["CHROM"].astype(str),
                "records": 1,
                "PASS": (batch["FILTER"] == "PASS").astype(int),
                "AC0": (batch["FILTER"] == "AC0").astype(int),
            }
        )
        kinds = variant_types(batch["REF"].astype(str), batch["ALT"].astype(str))
        for kind in VARIANT_TYPES:
            frame[kind] = (kinds == kind).astype(int)
        parts.append(frame.groupby("chromosome", sort=False).sum())
    columns = ["records", "PASS", "AC0", *VARIANT_TYPES]
    if not parts:
        return pd.DataFrame([[0] * len(columns)], index=["all"], columns=columns)
    table = pd.concat(parts).groupby(level=0, sort=False).sum()[columns]
    table.loc["all"] = table.sum()
    table.index.name = "chromosome"
    return table


def merge_totals(summaries: list[str]) -> dict[str, int]:
    """Sums of the per-chunk merge summaries (sites, raw_ac0, withheld_min_carriers, ...)."""
    totals: dict[str, int] = {}
    for path in summaries:
        for key, value in json.loads(Path(path).read_text()).items():
            totals[key] = totals.get(key, 0) + int(value)
    return totals


# ---------------------------------------------------------------------------- plots


def new_figure(rows: int = 1, columns: int = 1, **options):
    """A figure (constrained layout) and its axes, as pyplot.subplots gives them."""
    figure = Figure(layout="constrained", figsize=options.pop("figsize"))
    return figure, figure.subplots(rows, columns, **options)


def save(figure, path: str) -> None:
    """Write the PNG aside, then rename: a partial figure never sits at its final path."""
    partial = f"{path}.partial.png"
    figure.savefig(partial, dpi=DPI, metadata={"Software": None})
    os.replace(partial, path)


def stacked_bars(ax, table: pd.DataFrame, title: str, ylabel: str) -> None:
    """Stacked bars of a table's columns per row, each segment labelled with its value."""
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for k, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        colour = "0.75" if column in (WITHHELD_POPULATIONS, SEX_REST, "NA") else COLOURS[k % 10]
        bars = ax.bar(positions, values, 0.7, bottom, label=column, color=colour)
        ax.bar_label(
            bars, labels=[f"{int(v)}" if v else "" for v in values], label_type="center", fontsize=8
        )
        bottom += values
    ax.set_xticks(positions, table.index)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(bottom.max(), 1) * 1.08)
    below_legend(ax, len(table.columns))


def empty_panel(ax, title: str, text: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_samples(
    by_cohort: dict[str, pd.DataFrame],
    by_population: pd.DataFrame,
    publication: Publication,
    path: str,
) -> None:
    figure, axes = new_figure(1, 3, figsize=(15, 4.8))
    panels = (
        (
            axes[0],
            by_cohort["population"],
            "Samples per cohort, by population",
            "no published cohort",
        ),
        (axes[1], by_cohort["sex"], "Samples per cohort, by sex", "no published cohort"),
        (
            axes[2],
            by_population,
            "Samples per published population, by sex",
            "no published population",
        ),
    )
    for ax, table, title, nothing in panels:
        if len(table):
            stacked_bars(ax, table, title, "samples")
        else:
            empty_panel(ax, title, nothing)
    total = sum(publication.size(c) for c in publication.groups.cohorts)
    hidden = total - int(by_cohort["sex"].to_numpy().sum())
    note = f"; {hidden} samples of withheld cohorts not shown" if hidden else ""
    figure.suptitle(
        f"{total} samples in {len(publication.groups.cohorts)} cohorts{note}\n"
        f"{len(publication.withheld)} group(s) below min_group_size = "
        f"{publication.min_group_size} withheld (named in the summary table only; withheld "
        "populations pooled in grey)",
        fontsize=11,
    )
    save(figure, path)


def plot_sites(fates: pd.DataFrame, path: str) -> None:
    figure, axes = new_figure(1, 3, figsize=(16, 4.8))
    if fates.empty:
        for ax in axes:
            empty_panel(ax, "Sites", "no published cohort")
        save(figure, path)
        return
    stacked_bars(
        axes[0], fates[list(VARIANT_TYPES)], "Counted records per cohort, by type", "records"
    )
    exact = fates[["counted", "filtered", "symbolic", "ref_mismatch"]].rename(
        columns={
            "filtered": "filtered (FILTER failed)",
            "symbolic": "symbolic (not counted)",
            "ref_mismatch": "REF mismatch (dropped)",
        }
    )
    grouped_bars(axes[1], exact, "Records per cohort, by fate", "records (log scale)", log=True)
    rates = fates[["split_pct", "realigned_pct", "duplicates_pct"]].rename(
        columns={
            "split_pct": "split (multiallelic)",
            "realigned_pct": "realigned (left-aligned)",
            "duplicates_pct": "deduplicated (exact duplicates removed)",
        }
    )
    grouped_bars(axes[2], rates, "Normalisation, per cohort", "% of input lines", fmt="{:.2f}")
    figure.suptitle("Sites per cohort by type and by fate", fontsize=11)
    save(figure, path)


def grouped_bars(ax, table: pd.DataFrame, title: str, ylabel: str, log=False, fmt="{:.0f}") -> None:
    """Bars of each column side by side per row, labelled with their values."""
    n = len(table.columns)
    if log and not (table.to_numpy(dtype=float) > 0).any():
        # Nothing to draw on a log scale (every value 0): say so instead.
        empty_panel(ax, title, "none: every value is 0")
        return
    width = 0.8 / max(n, 1)
    positions = np.arange(len(table))
    zeros = []
    for k, column in enumerate(table.columns):
        values = table[column].to_numpy(dtype=float)
        shown = np.where(values > 0, values, np.nan) if log else values
        x = positions + (k - (n - 1) / 2) * width
        bars = ax.bar(x, shown, width, label=column, color=COLOURS[k % 10])
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7, padding=1)
        zeros += [xi for xi, v in zip(x, values) if log and v == 0]
    if log:
        ax.set_yscale("log")
        bottom = ax.get_ylim()[0]
        for xi in zeros:  # no bar on a log scale: say 0
            ax.text(xi, bottom * 1.15, "0", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(positions, table.index)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.15)
    below_legend(ax, n)


def below_legend(ax, entries: int) -> None:
    ax.legend(
        fontsize=8,
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        ncols=min(entries, 2),
    )


def plot_concordance(pairs: list[PairConcordance], path: str) -> None:
    columns = min(max(len(pairs), 1), 4)
    rows = max(1, math.ceil(len(pairs) / columns))
    figure, axes = new_figure(
        rows, columns, figsize=(max(4.4 * columns, 8), 4.2 * rows), squeeze=False
    )
    cells = np.arange(AF_GRID + 1) / AF_GRID
    for ax in axes.flat[len(pairs) :]:
        ax.set_axis_off()
    if not pairs:
        empty_panel(axes[0, 0], "AF concordance", "fewer than two published cohorts")
    for ax, pair in zip(axes.flat, pairs):
        ix, iy = np.nonzero(pair.grid)
        if len(ix):
            image = ax.hexbin(
                cells[ix],
                cells[iy],
                C=pair.grid[ix, iy],
                gridsize=25,
                reduce_C_function=np.sum,
                bins="log",
                cmap="viridis",
                extent=(0, 1, 0, 1),
                mincnt=1,
            )
            figure.colorbar(image, ax=ax, label="sites", shrink=0.8)
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel(f"AF {pair.a} (adj)")
        ax.set_ylabel(f"AF {pair.b} (adj)")
        r = "n/a" if math.isnan(pair.r) else f"{pair.r:.3f}"
        ax.set_title(f"{pair.a} vs {pair.b}: Pearson r = {r} (n = {pair.n})", fontsize=10)
    figure.suptitle("Allele-frequency concordance on sites called in both cohorts", fontsize=11)
    save(figure, path)


def plot_cohort_qc(table: pd.DataFrame, path: str) -> None:
    figure, axes = new_figure(1, 2, figsize=(12, 4.6))
    if table.empty:
        empty_panel(axes[0], "Ti/Tv", "no published cohort")
        empty_panel(axes[1], "Call rate", "no published cohort")
        save(figure, path)
        return
    positions = np.arange(len(table))
    bars = axes[0].bar(positions, table["ti_tv"].fillna(0), 0.6, color=COLOURS[0])
    axes[0].bar_label(
        bars,
        labels=[f"{t:.2f}\n({n} SNVs)" for t, n in zip(table["ti_tv"], table["snvs_ac_gt_0"])],
        fontsize=8,
    )
    axes[0].set_xticks(positions, table.index)
    axes[0].set_ylabel("transitions / transversions")
    axes[0].set_title("Ti/Tv per cohort (called SNVs with adj AC > 0)", fontsize=10)
    axes[0].margins(y=0.2)
    rates = table[["call_rate", "adj_rate"]].rename(
        columns={
            "call_rate": "call rate (AN_raw / expected AN)",
            "adj_rate": "adj (AN_adj / expected AN)",
        }
    )
    grouped_bars(
        axes[1],
        rates,
        "Call rate per cohort, at its called sites",
        "fraction of alleles",
        fmt="{:.3f}",
    )
    axes[1].set_ylim(0, 1.1)
    figure.suptitle("Cohort QC: Ti/Tv and call rate", fontsize=11)
    save(figure, path)


def plot_sfs(spectra: PanelSpectra, path: str) -> None:
    figure, ax = new_figure(figsize=(10, 4.8))
    if not spectra.populations:
        empty_panel(ax, "Site frequency spectrum", "no published population")
        save(figure, path)
        return
    totals = spectra.sfs.sum()
    shares = spectra.sfs / totals.where(totals > 0, 1)
    shares.columns = [f"{p} ({int(totals[p])} sites)" for p in spectra.populations]
    grouped_bars(
        ax,
        shares,
        "Site frequency spectrum per published population",
        "share of the population's variant sites",
        fmt="{:.2f}",
    )
    ax.set_xlabel("alternate allele count in the population (adj)")
    save(figure, path)


def plot_af_distribution(spectra: PanelSpectra, path: str) -> None:
    figure, axes = new_figure(1, 2, figsize=(13, 4.6))
    passed = int(spectra.log_af.to_numpy().sum())
    for ax, table, edges, xlabel in (
        (axes[0], spectra.linear_af, np.linspace(0, 1, 21), "AF (adj, all samples)"),
        (axes[1], spectra.log_af, spectra.log_edges, "log10 AF (adj, all samples)"),
    ):
        bottom = np.zeros(len(table))
        widths = np.diff(edges)
        for k, kind in enumerate(VARIANT_TYPES):
            values = table[kind].to_numpy(dtype=float)
            if values.any():
                ax.bar(
                    edges[:-1],
                    values,
                    widths,
                    bottom=bottom,
                    align="edge",
                    label=kind,
                    color=COLOURS[k],
                    edgecolor="white",
                    linewidth=0.4,
                )
            bottom += values
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PASS records")
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_title("AF distribution of the published panel", fontsize=10)
    axes[1].set_title("AF distribution, log scale", fontsize=10)
    figure.suptitle(
        f"{spectra.records} records: {passed} PASS, {spectra.ac0} AC0 "
        "(no AF: no high-quality carrier)",
        fontsize=11,
    )
    save(figure, path)


# ---------------------------------------------------------------------------- summary


def html_table(table: pd.DataFrame, index=True) -> str:
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "n/a" if math.isnan(value) else f"{value:,.3f}"
        if isinstance(value, (int, np.integer)):
            return f"{value:,}"
        return html.escape(str(value))

    head = ([html.escape(str(table.index.name or ""))] if index else []) + [
        html.escape(str(c)) for c in table.columns
    ]
    rows = []
    for label, *values in table.itertuples(name=None):  # keeps each column's type
        cells = ([f"<th>{html.escape(str(label))}</th>"] if index else []) + [
            f"<td>{cell(v)}</td>" for v in values
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
thead th { background: #eef; } tbody th { text-align: left; background: #f7f7f7; }
p.note { color: #555; font-size: 0.85em; max-width: 60em; }
"""


def summary_html(
    panel_name: str,
    chromosomes: pd.DataFrame,
    totals: dict[str, int],
    samples: int,
    cohorts: pd.DataFrame,
    concordance: pd.DataFrame,
    publication: Publication,
    min_carriers: int,
    bundle_withheld: list[str] | None = None,
) -> str:
    """The report's summary table (self-contained HTML)."""
    overall = chromosomes.loc["all"]
    panel = pd.DataFrame(
        {
            "value": [
                samples,
                len(publication.groups.cohorts),
                int(overall["records"]),
                int(overall["PASS"]),
                int(overall["AC0"]),
                *(int(overall[k]) for k in VARIANT_TYPES),
                totals.get("sites", 0),
                totals.get("raw_ac0", 0),
            ]
        },
        index=pd.Index(
            [
                "samples",
                "cohorts",
                "records",
                "PASS",
                "AC0 (adj AC 0)",
                "SNV records",
                "indel records",
                "other records",
                "sites in the merged inputs",
                "sites no sheet sample carries or only filtered (raw AC 0: not published)",
            ],
            name="",
        ),
    )
    if min_carriers > 0:
        panel.loc[f"sites with fewer than {min_carriers} carriers (withheld)"] = totals.get(
            "withheld_min_carriers", 0
        )
    for key, label in (  # site annotations (issue 15), when the merge made them
        ("InbreedingCoeff", "FILTER InbreedingCoeff (excess heterozygosity)"),
        ("country_het", "records flagged country_het (cohorts' AFs disagree)"),
    ):
        if key in totals:
            panel.loc[label] = totals[key]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(panel_name)}: QC summary</title><style>{STYLE}</style></head><body>",
        f"<h1>Panel {html.escape(panel_name)}: QC summary</h1>",
        "<h2>Panel</h2>",
        *(
            [
                "<p id='empty-panel'>The panel has no record: no site of the inputs was "
                "counted (every record was symbolic, reference-only, filtered, or carried "
                "by no sheet sample). The published VCF and table are valid and empty; "
                "see the per-cohort record fates below.</p>"
            ]
            if int(overall["records"]) == 0
            else []
        ),
        html_table(panel),
        "<h2>Records per chromosome</h2>",
        html_table(chromosomes),
        "<h2>Per cohort</h2>",
        html_table(cohorts),
        "<p class='note'>records: the cohort's records after normalisation; counted: PASS, "
        "not symbolic; filtered: failed the input's FILTER (not counted, listed in "
        "cohorts_filtered); reference_only: counted records with ALT . (reference calls: "
        "they add AN to the panel's variants at their position, never a site); "
        "haploid_in_diploid: genotypes written haploid where a diploid call is expected "
        "(autosomes, PAR, XX on chrX), counted as missing; Ti/Tv over called SNVs with "
        "adj AC &gt; 0; call rate: AN_raw / expected AN at the cohort's called sites; "
        "adj rate: AN_adj / expected AN.</p>",
        "<h2>Allele-frequency concordance between cohorts</h2>",
        html_table(concordance, index=False),
        "<h2>Privacy</h2>",
        f"<p id='withheld-groups'>Withheld groups (fewer than min_group_size = "
        f"{publication.min_group_size} samples; counted in every larger group and in the "
        f"totals, not published on their own): "
        f"{html.escape(withheld_groups_text(publication))}.</p>",
        *disclosure_html(totals, bundle_withheld or []),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def disclosure_html(totals: dict[str, int], bundle_withheld: list[str]) -> list[str]:
    """What complementary suppression withheld, and why (docs/PRIVACY.md)."""
    complementary = {
        key.split(":", 1)[1]: n for key, n in totals.items() if key.startswith("withheld_group:")
    }
    table = pd.DataFrame(
        {"records where withheld": list(complementary.values())},
        index=pd.Index(list(complementary), name="group"),
    )
    parts = [
        "<p id='disclosure-records'>Records not published because their total would "
        "isolate fewer than min_group_size samples (for example, called by one small "
        f"cohort only): {totals.get('withheld_disclosure', 0)}.</p>",
        "<p class='note'>Complementary suppression: at each record, a group that is large "
        "enough on its own is still withheld where, together with the other published "
        "counts of the record, it would let a smaller group be computed by adding and "
        "subtracting (for example XX minus NWE_XX minus SEU_XX), or where a calling "
        "cohort's bundle withheld its share. Published counts are exact.</p>",
        html_table(table),
    ]
    if bundle_withheld:
        parts.append(
            "<p id='bundle-withheld'>Withheld in the bundles ('small': groups under the "
            "node's threshold, by family and size; 'complementary': groups that would give "
            "a small one back, with their size): "
            + html.escape("; ".join(bundle_withheld))
            + ".</p>"
        )
    return parts


def bundle_withheld_text(bundles: list[Bundle]) -> list[str]:
    """Per bundle and ploidy class: the small groups by family and size (named once, in
    the withheld-groups paragraph), the complementary ones by label (all >= k)."""
    lines = []
    for bundle in sorted(bundles, key=lambda b: b.cohort):
        for ploidy_class, entries in bundle.manifest.get("privacy", {}).get("withheld", {}).items():
            small: dict[str, list[int]] = {}
            for e in entries:
                if e["reason"] == "small":
                    small.setdefault(e["family"], []).append(e["size"])
            complementary = [
                f"{e['group']} ({e['size']})" for e in entries if e["reason"] != "small"
            ]
            parts = [
                f"{family} of {', '.join(map(str, sorted(sizes)))}"
                for family, sizes in small.items()
            ]
            if complementary:
                parts.append("complementary " + ", ".join(complementary))
            if parts:
                lines.append(f"{bundle.cohort} on {ploidy_class}: small " + "; ".join(parts))
    return lines


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


# ---------------------------------------------------------------------------- CLI entry points


def write_table(table: pd.DataFrame, path: str, index=True) -> None:
    partial = f"{path}.partial"
    table.to_csv(partial, sep="\t", index=index, float_format="%.6g")
    os.replace(partial, path)


def read_table(path: str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", index_col=0)


def publication_of(bundles: list[Bundle], min_group_size: int) -> Publication:
    return Publication.from_manifests([b.manifest for b in bundles], min_group_size)


def write_samples(bundles: list[Bundle], min_group_size: int, figure: str) -> str:
    publication = publication_of(bundles, min_group_size)
    manifests = [b.manifest for b in bundles]
    plot_samples(
        samples_by_cohort(manifests, publication),
        samples_by_population(publication),
        publication,
        figure,
    )
    return (
        f"{sum(m['samples'] for m in manifests)} samples, {len(publication.withheld)} "
        "group(s) withheld"
    )


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


def write_sites(
    bundles: list[Bundle], min_group_size: int, stats: StatsFiles, figure: str, table: str
) -> str:
    fates = site_fates(
        stats.of("normalised"), stats.of("counts"), publication_of(bundles, min_group_size)
    )
    write_table(fates, table)
    plot_sites(fates, figure)
    return f"{int(fates['records'].sum())} records in {len(fates)} published cohort(s)"


def write_cohorts(
    bundles: list[Bundle],
    min_group_size: int,
    contigs: list[str],
    concordance_figure: str,
    concordance_tsv: str,
    qc_figure: str,
    qc_tsv: str,
) -> str:
    qc, pairs = cohort_tables(bundles, contigs, publication_of(bundles, min_group_size))
    write_table(qc, qc_tsv)
    write_table(concordance_table(pairs), concordance_tsv, index=False)
    plot_cohort_qc(qc, qc_figure)
    plot_concordance(pairs, concordance_figure)
    return "; ".join(f"{p.a}-{p.b} r={p.r:.3f} (n={p.n})" for p in pairs)


def write_panel_figures(
    bundles: list[Bundle],
    min_group_size: int,
    panel: str,
    sfs_figure: str,
    af_figure: str,
    country_het_figure: str | None = None,
) -> str:
    spectra = panel_spectra(panel, publication_of(bundles, min_group_size))
    plot_sfs(spectra, sfs_figure)
    plot_af_distribution(spectra, af_figure)
    if country_het_figure:
        pairs = country_het_pairs(panel, tested_pairs(bundles, min_group_size))
        plot_country_het(pairs, country_het_figure)
    return f"{spectra.records} records, SFS of {', '.join(spectra.populations) or 'no population'}"


def tested_pairs(bundles: list[Bundle], min_group_size: int) -> set[tuple[str, str]]:
    """Pairs of cohorts that the heterogeneity test compares: both have a population with at
    least min_group_size samples (the merge's cells)."""
    pairs = set()
    populations = {p for b in bundles for p in b.manifest["populations"]}
    for population in populations:
        members = sorted(
            b.cohort
            for b in bundles
            if b.manifest["groups"].get(population, 0) >= max(min_group_size, 1)
        )
        pairs.update(itertools.combinations(members, 2))
    return pairs


def country_het_pairs(parquet: str, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """Per pair of cohorts the test compares (`pairs`): records both called
    (`cohorts_called`), and how many of them carry the country_het flag (issue 15)."""
    both: dict[tuple[str, str], int] = {}
    flagged: dict[tuple[str, str], int] = {}
    for batch in iter_panel(parquet, ["cohorts_called", "country_het"]):
        if "country_het" not in batch:
            break
        for called, flag in zip(batch["cohorts_called"], batch["country_het"]):
            cohorts = sorted(str(called).split(",")) if isinstance(called, str) else []
            for pair in itertools.combinations(cohorts, 2):
                if pair not in pairs:
                    continue
                both[pair] = both.get(pair, 0) + 1
                flagged[pair] = flagged.get(pair, 0) + bool(flag)
    rows = [
        {"a": a, "b": b, "both_called": n, "flagged": flagged[(a, b)], "rate": flagged[(a, b)] / n}
        for (a, b), n in sorted(both.items())
    ]
    return pd.DataFrame(rows, columns=["a", "b", "both_called", "flagged", "rate"])


def plot_country_het(pairs: pd.DataFrame, path: str) -> None:
    figure, ax = new_figure(figsize=(8, 4.8))
    title = "Cross-country heterogeneity (country_het) by cohort pair"
    if pairs.empty:
        empty_panel(ax, title, "no two cohorts share a population, or no country_het")
        save(figure, path)
        return
    labels = [f"{a}–{b}" for a, b in zip(pairs["a"], pairs["b"])]
    bars = ax.bar(np.arange(len(pairs)), 100 * pairs["rate"], 0.6, color=COLOURS[3])
    ax.bar_label(
        bars,
        labels=[f"{f} / {n}" for f, n in zip(pairs["flagged"], pairs["both_called"])],
        fontsize=8,
    )
    ax.set_xticks(np.arange(len(pairs)), labels)
    ax.set_ylabel("% of the sites both called that are flagged")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(100 * pairs["rate"].max(), 1) * 1.15)
    save(figure, path)


def write_summary(
    bundles: list[Bundle],
    min_group_size: int,
    min_carriers: int,
    panel: str,
    stats: StatsFiles,
    sites_tsv: str | None,
    cohort_tsv: str,
    concordance_tsv: str,
    output: str,
) -> str:
    publication = publication_of(bundles, min_group_size)
    chromosomes = panel_chromosomes(panel)
    fates = read_table(sites_tsv) if sites_tsv else None
    cohorts = cohort_summary(fates, read_table(cohort_tsv), publication)
    concordance = pd.read_csv(concordance_tsv, sep="\t")
    name = Path(panel).name.removesuffix(".parquet").removesuffix(".sites")
    text = summary_html(
        name,
        chromosomes,
        merge_totals(stats.merged()),
        sum(b.manifest["samples"] for b in bundles),
        cohorts,
        concordance,
        publication,
        min_carriers,
        bundle_withheld_text(bundles),
    )
    partial = f"{output}.partial"
    Path(partial).write_text(text)
    os.replace(partial, output)
    overall = chromosomes.loc["all"]
    return f"{overall['records']} records ({overall['PASS']} PASS, {overall['AC0']} AC0)"


REQUIRED = {
    "samples": ("samples_figure",),
    "sites": ("stats_root", "chunks", "sites_figure", "sites_table"),
    "cohorts": (
        "contigs",
        "concordance_figure",
        "concordance_table",
        "cohort_figure",
        "cohort_table",
    ),
    "panel": ("panel", "sfs_figure", "af_figure"),
    "summary": ("panel", "stats_root", "chunks", "cohort_table", "concordance_table", "summary"),
}


def run(args) -> str:
    """The `europanel qc-figures` subcommand: one step of the report; returns a log line."""
    missing = [
        f"--{name.replace('_', '-')}" for name in REQUIRED[args.what] if not getattr(args, name)
    ]
    if missing:
        raise InputError(f"qc-figures {args.what} needs {', '.join(missing)}")
    bundles = open_bundles(args.bundles)
    size = args.min_group_size
    stats = StatsFiles(args.stats_root, [b.cohort for b in bundles], args.chunks)
    if args.what == "samples":
        return write_samples(bundles, size, args.samples_figure)
    if args.what == "sites":
        return write_sites(bundles, size, stats, args.sites_figure, args.sites_table)
    if args.what == "cohorts":
        return write_cohorts(
            bundles,
            size,
            args.contigs,
            args.concordance_figure,
            args.concordance_table,
            args.cohort_figure,
            args.cohort_table,
        )
    if args.what == "panel":
        return write_panel_figures(
            bundles, size, args.panel, args.sfs_figure, args.af_figure, args.country_het_figure
        )
    return write_summary(
        bundles,
        size,
        args.min_carriers,
        args.panel,
        stats,
        args.sites_table,
        args.cohort_table,
        args.concordance_table,
        args.summary,
    )
