"""Disclosure control (DESIGN §6, docs/PRIVACY.md): the exact leak check against a
brute-force twin, the audit on hand-built leaky publications, suppression on random
sheets, release differences, and the demo panel end to end."""

from __future__ import annotations

import gzip
import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import demo_settings
from europanel.core.disclosure import (
    TOTAL,
    PatternPolicy,
    effective_weights,
    find_leak,
    group_of_label,
    make_groups,
    release_problems,
)
from europanel.core.regions import AUTOSOMAL, X_NONPAR, Y_NONPAR
from europanel.stages.audit import Lattice, audit, decode_patterns


def naive_rank(rows: list[list[int]]) -> int:
    """Rank by plain Fraction Gaussian elimination (independent of disclosure._rref)."""
    matrix = [[Fraction(x) for x in r] for r in rows]
    rank = 0
    columns = len(matrix[0]) if matrix else 0
    for col in range(columns):
        pivot = next((i for i in range(rank, len(matrix)) if matrix[i][col] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for i in range(rank + 1, len(matrix)):
            factor = matrix[i][col] / matrix[rank][col]
            matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[rank])]
        rank += 1
    return rank


def naive_leaks(rows: list[frozenset], weights: dict, k: int) -> list[tuple]:
    """Every atom set S of 1..k-1 samples such that dropping its columns lowers the rank
    (a non-zero combination of published counts lives on S alone)."""
    atoms = sorted(a for a, n in weights.items() if n > 0)
    matrix = [[int(a in r) for a in atoms] for r in rows]
    full = naive_rank(matrix) if matrix else 0
    leaks = []
    for size in range(1, len(atoms) + 1):
        for subset in itertools.combinations(range(len(atoms)), size):
            weight = sum(weights[atoms[j]] for j in subset)
            if weight >= k:
                continue
            kept = [[row[j] for j in range(len(atoms)) if j not in subset] for row in matrix]
            if naive_rank(kept) < full if kept and kept[0] else full > 0:
                leaks.append(tuple(atoms[j] for j in subset))
    return leaks


def rows_of(atoms, labels, ploidy_class=AUTOSOMAL, called=None):
    cohorts = {a[0] for a in atoms}
    populations = {a[1] for a in atoms}
    weights = effective_weights(atoms, ploidy_class, called)
    groups = [group_of_label(g, cohorts, populations) for g in labels]
    return [frozenset(a for a in weights if g.contains(a)) for g in groups], weights


def leak_of(atoms, labels, k=5, ploidy_class=AUTOSOMAL, called=None):
    rows, weights = rows_of(atoms, labels, ploidy_class, called)
    found = find_leak(rows, weights, k)
    assert (found is None) == (not naive_leaks(rows, weights, k))
    return found


# The demo's EE cohort alone: FIN is 1 XX + 2 XY, SEU 2 + 2, NWE 9 + 8.
EE = {
    ("EE", "FIN", "XX"): 1,
    ("EE", "FIN", "XY"): 2,
    ("EE", "NWE", "XX"): 9,
    ("EE", "NWE", "XY"): 8,
    ("EE", "SEU", "XX"): 6,
    ("EE", "SEU", "XY"): 6,
}


def test_sex_family_leak_is_caught():
    # AC_XX - AC_NWE_XX - AC_SEU_XX is the FIN XX sample.
    leak = leak_of(EE, [TOTAL, "XX", "NWE_XX", "SEU_XX"])
    assert leak.atoms == (("EE", "FIN", "XX"),) and leak.samples == 1


def test_population_family_leak_is_caught():
    leak = leak_of(EE, [TOTAL, "NWE", "SEU"])
    assert set(leak.atoms) == {("EE", "FIN", "XX"), ("EE", "FIN", "XY")}
    assert leak_of(EE, [TOTAL, "NWE", "SEU", "FIN"]) is not None


def test_unknown_sex_leak_is_caught():
    atoms = {("NL", "SEU", "XX"): 6, ("NL", "SEU", "XY"): 6, ("NL", "SEU", "NA"): 2}
    leak = leak_of(atoms, ["SEU", "SEU_XX", "SEU_XY"])
    assert leak.atoms == (("NL", "SEU", "NA"),)
    # NA is not counted on non-PAR X: the same publication is safe there.
    assert leak_of(atoms, ["SEU", "SEU_XX", "SEU_XY"], ploidy_class=X_NONPAR) is None


def test_two_small_groups_together_leak():
    # FIN (2) and SEU (2) are each withheld, but total - NWE is the 4 of them.
    atoms = {("A", "FIN", "XX"): 2, ("A", "SEU", "XX"): 2, ("A", "NWE", "XX"): 20}
    leak = leak_of(atoms, [TOTAL, "NWE"])
    assert leak.samples == 4
    assert leak_of(atoms, [TOTAL, "NWE"], k=4) is None


def test_record_called_by_one_small_cohort_leaks_its_population():
    atoms = {("A", "NWE", "XX"): 40, ("B", "NWE", "XX"): 2, ("B", "SEU", "XX"): 30}
    assert leak_of(atoms, [TOTAL, "NWE"], called=frozenset({"A", "B"})) is None
    leak = leak_of(atoms, [TOTAL, "NWE"], called=frozenset({"B"}))
    assert leak.atoms == (("B", "NWE", "XX"),)


def test_chry_population_is_its_xy_samples():
    atoms = {("A", "NWE", "XX"): 20, ("A", "NWE", "XY"): 3, ("A", "SEU", "XY"): 30}
    assert leak_of(atoms, [TOTAL, "NWE"]) is None
    leak = leak_of(atoms, [TOTAL, "NWE"], ploidy_class=Y_NONPAR)
    assert leak.atoms == (("A", "NWE", "XY"),)


def test_release_difference_of_two_samples_is_refused_and_of_ten_is_not():
    previous = {"": {"samples": 91, "digest": "a"}, "NWE": {"samples": 51, "digest": "b"}}
    two_fewer = {"": {"samples": 89, "digest": "c"}, "NWE": {"samples": 49, "digest": "d"}}
    problems = release_problems(previous, two_fewer, 5)
    assert len(problems) == 2 and "group NWE" in problems[1]
    assert "batch withdrawals" in problems[1]
    ten_fewer = {"": {"samples": 81, "digest": "c"}, "NWE": {"samples": 41, "digest": "d"}}
    assert release_problems(previous, ten_fewer, 5) == []
    swapped = {"": {"samples": 91, "digest": "z"}, "NWE": {"samples": 51, "digest": "b"}}
    assert "unknown size" in release_problems(previous, swapped, 5)[0]


sheets = st.fixed_dictionaries(
    {
        "sizes": st.lists(st.integers(0, 30), min_size=12, max_size=12),
        "k": st.integers(2, 10),
        "ploidy_class": st.sampled_from([AUTOSOMAL, X_NONPAR, Y_NONPAR]),
        "called": st.sets(st.sampled_from(["A", "B"]), min_size=1),
    }
)
CELLS = list(itertools.product(["A", "B"], ["P", "Q"], ["XX", "XY", "NA"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets)
def test_suppression_leaves_no_leak_by_the_brute_force_twin(sheet):
    atoms = {cell: n for cell, n in zip(CELLS, sheet["sizes"]) if n}
    if not atoms:
        return
    groups = make_groups(["A", "B"], ["P", "Q"])
    policy = PatternPolicy(atoms, groups, sheet["k"])
    called = frozenset(sheet["called"])
    published, reasons = policy.decide(sheet["ploidy_class"], called)
    weights = effective_weights(atoms, sheet["ploidy_class"], called)
    rows = [frozenset(a for a in weights if g.contains(a)) for g in sorted(published)]
    assert find_leak(rows, weights, sheet["k"]) is None
    assert naive_leaks(rows, weights, sheet["k"]) == []
    # Every group of the sheet is either published or withheld with a reason.
    sized = {g for g in groups if policy.sizes[g] > 0}
    assert sized <= set(published) | {g for g, _ in reasons}
    # Deterministic: the same sheet gives the same suppressions.
    again = PatternPolicy(atoms, groups, sheet["k"]).decide(sheet["ploidy_class"], called)
    assert again == (published, reasons)


@settings(max_examples=60, deadline=None)
@given(sheets, st.lists(st.booleans(), min_size=13, max_size=13))
def test_exact_check_agrees_with_brute_force(sheet, chosen):
    atoms = {cell: n for cell, n in zip(CELLS, sheet["sizes"]) if n}
    groups = [g for g, keep in zip(make_groups(["A", "B"], ["P", "Q"]), chosen) if keep]
    weights = effective_weights(atoms, sheet["ploidy_class"], frozenset(sheet["called"]))
    rows = [frozenset(a for a in weights if g.contains(a)) for g in groups]
    found = find_leak(rows, weights, sheet["k"])
    brute = naive_leaks(rows, weights, sheet["k"])
    assert (found is None) == (not brute)
    if found is not None:
        assert 0 < found.samples < sheet["k"]
        assert set(found.atoms) in [set(s) for s in brute] or any(
            set(s) <= set(found.atoms) for s in brute
        )


def small_strata_sheet() -> dict:
    """Groups of 1-4 samples in several strata and several cohorts."""
    sizes = {}
    for c, cohort in enumerate(["A", "B", "C"]):
        for p, population in enumerate(["P", "Q", "R"]):
            for s, sex in enumerate(["XX", "XY", "NA"]):
                sizes[(cohort, population, sex)] = 1 + (c + 2 * p + 3 * s) % 4
    sizes[("A", "P", "XX")] = 25
    sizes[("B", "Q", "XY")] = 30
    return sizes


@pytest.mark.parametrize("k", [3, 5, 10])
def test_sheet_with_small_strata_publishes_nothing_derivable(k):
    atoms = small_strata_sheet()
    groups = make_groups(["A", "B", "C"], ["P", "Q", "R"])
    policy = PatternPolicy(atoms, groups, k)
    for ploidy_class in (AUTOSOMAL, X_NONPAR, Y_NONPAR):
        for n in (1, 2, 3):
            for called in itertools.combinations(["A", "B", "C"], n):
                published = policy.published(ploidy_class, frozenset(called))
                weights = effective_weights(atoms, ploidy_class, frozenset(called))
                rows = [frozenset(a for a in weights if g.contains(a)) for g in published]
                assert find_leak(rows, weights, k) is None
                for g, row in zip(published, rows):
                    assert (
                        sum(weights[a] for a in row) in (0,) or sum(weights[a] for a in row) >= k
                    ), g


# End to end on the demo run (one snakemake run, shared with the other demo tests).


def demo_manifests(workdir) -> dict:
    return {
        str(p.parent): json.loads(p.read_text())
        for p in sorted((workdir / "results/bundles").glob("*/manifest.json"))
    }


def test_demo_passes_the_audit_on_every_published_file(demo_run):
    panel = demo_run / "results/panel"
    assert json.loads((panel / "demo.audit.json").read_text())["passed"]
    problems, checked = audit(
        demo_manifests(demo_run),
        5,
        parquet=str(panel / "demo.sites.parquet"),
        vcf=str(panel / "demo.sites.vcf.gz"),
        report=str(demo_run / "results/report/summary.html"),
    )
    assert problems == []
    assert checked["panel VCF patterns"] == checked["panel Parquet patterns"] > 3


def test_the_issue_leaks_are_not_derivable_on_the_demo(demo_run):
    table = pd.read_parquet(demo_run / "results/panel/demo.sites.parquet")
    chr20 = table[table["CHROM"] == "chr20"]
    assert len(chr20) > 300
    # FIN XX = XX - NWE_XX - SEU_XX: never all three at one record.
    assert not (chr20[["AC_XX", "AC_NWE_XX", "AC_SEU_XX"]].notna().all(axis=1)).any()
    # FIN = total - NWE - SEU: never NWE and SEU together where EE (the FIN cohort) called.
    ee = chr20["cohorts_called"].fillna("").str.contains("EE")
    assert not (chr20.loc[ee, ["AC_NWE", "AC_SEU"]].notna().all(axis=1)).any()
    # SEU's NA samples = SEU - SEU_XX - SEU_XY: never all three.
    assert not (chr20[["AC_SEU", "AC_SEU_XX", "AC_SEU_XY"]].notna().all(axis=1)).any()
    # The bundles carry no group under k: EE's FIN_XX (1 sample) is null everywhere.
    counts = pd.read_parquet(demo_run / "results/bundles/EE/counts/chr20.parquet")
    assert counts["AC_adj_FIN_XX"].isna().all() and counts["AC_adj_EE"].notna().all()
    # And the exact audit agrees, per pattern.
    lattice = Lattice(list(demo_manifests(demo_run).values()))
    assert lattice.leak(AUTOSOMAL, frozenset({"EE"}), {TOTAL, "XX", "NWE_XX", "SEU_XX"}, 5)


def test_audit_catches_a_leak_put_into_the_demo_panel(demo_run, tmp_path, capsys):
    table = pd.read_parquet(demo_run / "results/panel/demo.sites.parquet")
    # Publish every withheld population and sex count at one record called by all.
    row = table.index[table["cohorts_called"] == "EE,IT,NL"][0]
    for g in ("NWE", "SEU", "XX", "XY", "NWE_XX", "NWE_XY", "SEU_XX", "SEU_XY"):
        table.loc[row, f"AC_{g}"] = 1
    leaky = tmp_path / "leaky.parquet"
    table.to_parquet(leaky, index=False)
    problems, _ = audit(demo_manifests(demo_run), 5, parquet=str(leaky))
    assert problems and "fewer than k = 5" in problems[0]
    # The CLI (the audit rule) fails with one readable message, no traceback.
    from europanel.cli import main

    bundles = list(demo_manifests(demo_run))
    status = main(
        ["audit", "--bundles", *bundles, "--settings", demo_settings("audit")]
        + ["--parquet", str(leaky)]
    )
    message = capsys.readouterr().err
    assert status == 2 and "Traceback" not in message
    assert "small group(s) be derived" in message and "do not release them" in message


def test_chunked_audit_equals_the_whole_file_audit_and_misses_no_record(demo_run, tmp_path):
    """The workflow audits the panel chunk by chunk (audit-chunk jobs) and joins their
    patterns: the same patterns, first records and problems as reading each file whole,
    and a record no chunk covers is reported."""
    from europanel.cli import main
    from europanel.stages.audit import parquet_patterns, region_patterns, vcf_patterns

    panel = demo_run / "results/panel"
    vcf, parquet = str(panel / "demo.sites.vcf.gz"), str(panel / "demo.sites.parquet")
    manifests = demo_manifests(demo_run)
    lattice = Lattice(list(manifests.values()))
    table = pd.read_parquet(parquet, columns=["CHROM", "POS"])
    # Regions that cut contigs between records, in genome (file) order.
    regions = []
    for contig, positions in table.groupby("CHROM", sort=False)["POS"]:
        middle = int(positions.iloc[len(positions) // 2])
        regions += [f"{contig}:1-{middle}", f"{contig}:{middle + 1}-300000000"]
    files = []
    for i, region in enumerate(regions):
        out = tmp_path / f"chunk{i}.json"
        args = ["audit-chunk", "--bundles", *manifests, "--vcf", vcf, "--parquet", parquet]
        assert main(args + ["--region", region, "--output", str(out)]) == 0
        files.append(str(out))
    joined = {"vcf": {}, "parquet": {}}
    for region in regions:
        found = region_patterns(lattice, vcf, parquet, region)
        for kind in joined:
            for key, first in decode_patterns(found[kind]["patterns"]).items():
                joined[kind].setdefault(key, first)
    assert list(joined["vcf"].items()) == list(vcf_patterns(lattice, vcf).items())
    assert list(joined["parquet"].items()) == list(parquet_patterns(lattice, parquet).items())
    whole = audit(manifests, 5, parquet=parquet, vcf=vcf)
    assert audit(manifests, 5, parquet=parquet, vcf=vcf, region_files=files) == whole
    # One chunk left out: its records were not audited, and the audit says so.
    problems, _ = audit(manifests, 5, parquet=parquet, vcf=vcf, region_files=files[1:])
    assert len(problems) == 2 and all("records outside the chunks" in p for p in problems)
    # A leak in the Parquet is found through the chunks too.
    leaky_table = pd.read_parquet(parquet)
    row = leaky_table.index[leaky_table["cohorts_called"] == "EE,IT,NL"][0]
    for g in ("NWE", "SEU", "XX", "XY", "NWE_XX", "NWE_XY", "SEU_XX", "SEU_XY"):
        leaky_table.loc[row, f"AC_{g}"] = 1
    leaky = tmp_path / "leaky.parquet"
    leaky_table.to_parquet(leaky, index=False)
    leaky_files = []
    for i, region in enumerate(regions):
        out = tmp_path / f"leaky{i}.json"
        out.write_text(json.dumps(region_patterns(lattice, vcf, str(leaky), region)))
        leaky_files.append(str(out))
    problems, _ = audit(manifests, 5, parquet=str(leaky), region_files=leaky_files)
    assert problems == audit(manifests, 5, parquet=str(leaky))[0] != []


# The audit's pattern readers (column-wise, Arrow) against naive record-by-record twins.

PANEL_PREFIXES = ("AC_", "AN_", "AF_", "nhomalt_", "nhemi_", "faf95_", "faf99_")


def naive_present(columns, row: dict) -> frozenset[str]:
    labels = {TOTAL}
    for column in columns:
        for prefix in PANEL_PREFIXES:
            label = column[len(prefix) :]
            if column.startswith(prefix) and label not in {"raw", "grpmax", "weighted"}:
                if row.get(column) is not None:
                    labels.add(label)
    return frozenset(labels)


def naive_parquet_patterns(lattice, parquet) -> dict:
    table = pd.read_parquet(parquet)
    table = table.astype(object).where(table.notna(), None)
    patterns: dict = {}
    for row in table.to_dict("records"):
        cls = int(lattice.ploidy.classes(row["CHROM"], np.array([row["POS"]]))[0])
        called = frozenset((row["cohorts_called"] or "").split(",")) - {""}
        key = (cls, called, naive_present(list(table.columns), row))
        patterns.setdefault(key, f"{row['CHROM']}:{row['POS']}")
    return patterns


def naive_vcf_patterns(lattice, vcf) -> dict:
    patterns: dict = {}
    with gzip.open(vcf, "rt") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            contig, pos, _, _, _, _, _, info = line.rstrip("\n").split("\t")[:8]
            fields = dict(item.split("=", 1) for item in info.split(";") if "=" in item)
            called = frozenset(fields.get("cohorts_called", "").split(",")) - {""}
            cls = int(lattice.ploidy.classes(contig, np.array([int(pos)]))[0])
            patterns.setdefault(
                (cls, called, naive_present(list(fields), fields)), f"{contig}:{pos}"
            )
    return patterns


def naive_bundle_patterns(folder, manifest, lattice) -> dict:
    patterns: dict = {}
    cohort = manifest["cohort"]
    for contig, entry in manifest["counts"].items():
        table = pd.read_parquet(folder / entry["file"])
        count_columns = [c for c in table.columns if c.count("_") >= 2]
        present = table[count_columns].notna().to_numpy()
        labels = [c.split("_", 2)[2] for c in count_columns]
        for i, pos in enumerate(table["pos"]):
            cls = int(lattice.ploidy.classes(contig, np.array([pos]))[0])
            shown = {labels[j] for j in np.flatnonzero(present[i])}
            shown = frozenset(TOTAL if g == cohort else g for g in shown)
            patterns.setdefault((cls, None, shown), f"{contig}:{pos}")
    return patterns


def test_pattern_readers_equal_their_naive_twins_on_the_demo_and_a_leaky_panel(demo_run, tmp_path):
    from europanel.stages.audit import bundle_patterns, parquet_patterns, vcf_patterns

    panel = demo_run / "results/panel"
    manifests = demo_manifests(demo_run)
    lattice = Lattice(list(manifests.values()))
    for folder, manifest in manifests.items():
        got = bundle_patterns(Path(folder), manifest, lattice)
        assert list(got.items()) == list(
            naive_bundle_patterns(Path(folder), manifest, lattice).items()
        )
    parquet, vcf = panel / "demo.sites.parquet", panel / "demo.sites.vcf.gz"
    assert parquet_patterns(lattice, str(parquet)) == naive_parquet_patterns(lattice, parquet)
    expected = naive_vcf_patterns(lattice, vcf)
    assert list(vcf_patterns(lattice, str(vcf)).items()) == list(expected.items())
    # Small batches: patterns first seen in a later batch keep their first record.
    small = vcf_patterns(lattice, str(vcf), batch_bytes=1 << 12)
    assert list(small.items()) == list(expected.items())
    # Values published where they should not be, a NaN, a record with no INFO value.
    table = pd.read_parquet(parquet)
    table.loc[table.index[3], "AC_NWE"] = 1
    table.loc[table.index[5], "AF_SEU"] = float("nan")
    table.loc[table.index[7], ["cohorts_called", "AC", "AN"]] = [None, None, None]
    leaky = tmp_path / "leaky.parquet"
    table.to_parquet(leaky, index=False)
    assert list(parquet_patterns(lattice, str(leaky)).items()) == list(
        naive_parquet_patterns(lattice, leaky).items()
    )
    lines = gzip.open(vcf, "rt").read().splitlines()
    data = [i for i, line in enumerate(lines) if not line.startswith("#")]
    fields = lines[data[2]].split("\t")
    lines[data[2]] = "\t".join(fields[:7] + ["."])
    lines[data[4]] += ";AC_NWE_XX=1;country_het"
    edited = tmp_path / "edited.vcf.gz"
    with gzip.open(edited, "wt") as out:
        out.write("\n".join(lines) + "\n")
    assert list(vcf_patterns(lattice, str(edited)).items()) == list(
        naive_vcf_patterns(lattice, edited).items()
    )


def test_release_of_the_demo_is_recorded_and_checked(demo_run, tmp_path):
    release = json.loads((demo_run / "results/panel/demo.release.json").read_text())
    assert release["groups"][""]["samples"] == 90  # the sheet's samples (NL99 is not in it)
    assert all(v["samples"] >= 5 for v in release["groups"].values())
    previous = tmp_path / "previous.json"
    bigger = {g: dict(v, samples=v["samples"] + 2) for g, v in release["groups"].items()}
    previous.write_text(json.dumps({"groups": bigger}))
    problems, _ = audit(
        demo_manifests(demo_run),
        5,
        release=str(demo_run / "results/panel/demo.release.json"),
        previous_release=str(previous),
    )
    assert len(problems) == len(release["groups"])


def publish_against(demo_run, tmp_path, previous_groups: dict) -> tuple[int, str]:
    """Merge one demo chunk from the bundles and publish it against a previous release."""
    from europanel.cli import main

    tmp_path.mkdir(parents=True, exist_ok=True)
    bundles = sorted(str(p.parent) for p in (demo_run / "results/bundles").glob("*/manifest.json"))
    part_vcf, part_parquet = tmp_path / "part.vcf.gz", tmp_path / "part.parquet"
    merged = ["merge", "--bundles", *bundles, "--chunk", "chr20-00000"]
    merged += ["--settings", demo_settings("merge")]
    merged += ["--vcf-part", str(part_vcf), "--parquet-part", str(part_parquet)]
    assert main(merged + ["--summary", str(tmp_path / "s")]) == 0
    previous = tmp_path / "previous.release.json"
    previous.write_text(json.dumps({"groups": previous_groups}))
    prior = str(previous)
    return main(
        ["publish", "--bundles", *bundles, "--vcf-parts", str(part_vcf), "--config-digest", "x"]
        + ["--parquet-parts", str(part_parquet)]
        + ["--vcf", str(tmp_path / "p.vcf.gz"), "--parquet", str(tmp_path / "p.parquet")]
        + ["--release", str(tmp_path / "p.release.json")]
        + ["--settings", json.dumps({"privacy": {"min_group_size": 5, "previous_release": prior}})]
    ), str(tmp_path / "p.vcf.gz")


def test_publish_refuses_a_release_two_samples_away_and_accepts_ten(demo_run, tmp_path, capsys):
    release = json.loads((demo_run / "results/panel/demo.release.json").read_text())["groups"]
    # The previous release had 2 more samples in EE and NWE: 2 were withdrawn since.
    two = {g: dict(v) for g, v in release.items()}
    for g in ("", "EE", "NWE"):
        two[g]["samples"] += 2
    status, vcf = publish_against(demo_run, tmp_path / "two", two)
    message = capsys.readouterr().err
    assert status == 2 and "Traceback" not in message
    assert "group EE: 26 samples in the previous release, 24 now" in message
    assert "batch withdrawals" in message and not (tmp_path / "two/p.vcf.gz").exists()
    ten = {g: dict(v) for g, v in release.items()}
    for g in ("", "EE", "NWE"):
        ten[g]["samples"] += 10
    status, vcf = publish_against(demo_run, tmp_path / "ten", ten)
    assert status == 0 and (tmp_path / "ten/p.vcf.gz").exists()


def test_published_counts_equal_the_unsuppressed_ones(demo_run, unsuppressed_demo_panel):
    published = pd.read_parquet(demo_run / "results/panel/demo.sites.parquet")
    key = ["CHROM", "POS", "REF", "ALT"]
    twin = unsuppressed_demo_panel.set_index(key)
    published = published.set_index(key)
    # Records: the same, less those withheld whole (none on the demo).
    assert published.index.isin(twin.index).all()
    twin = twin.loc[published.index]
    compared = withheld = 0
    for column in published.columns:
        if not column.startswith(("AC", "AN", "nhomalt", "nhemi", "AF", "faf")):
            continue
        if column not in twin:
            continue  # AF_weighted: a site annotation, not a group count (twin has none)
        shown = published[column].notna()
        if column.startswith("fafmax") or column.endswith("_grpmax"):
            continue  # grpmax and fafmax choose among the published populations only
        mine, theirs = published.loc[shown, column], twin.loc[shown, column]
        assert (mine.astype(float) - theirs.astype(float)).abs().max() < 1e-9 or not len(mine), (
            column
        )
        compared += int(shown.sum())
        withheld += int((~shown & twin[column].notna()).sum())
    assert compared > 10_000 and withheld > 0


def test_release_digests_are_salted_and_follow_the_sample_set():
    from europanel.core.disclosure import combined_digest
    from europanel.stages.bundle import release_digests

    sheet = pd.DataFrame(
        {
            "sample": ["s1", "s2", "s3", "s4"],
            "cohort": ["A"] * 4,
            "population": ["P", "P", "Q", "Q"],
            "sex": ["XX", "XY", "XX", "NA"],
        }
    )
    digests = release_digests(sheet, ["A", "P", "Q", "XX"], b"secret")
    assert digests == release_digests(
        sheet.iloc[::-1].reset_index(drop=True), list(digests), b"secret"
    )
    assert digests != release_digests(sheet, list(digests), b"other salt")
    swapped = sheet.assign(sample=["s1", "s2", "s3", "s5"])
    changed = release_digests(swapped, list(digests), b"secret")
    assert changed["P"] == digests["P"] and changed["Q"] != digests["Q"]
    assert not any("s1" in d for d in digests.values())
    assert combined_digest(["b", "a"]) == combined_digest(["a", "b"])


def test_a_bundle_of_the_old_format_is_refused_with_the_fix(tmp_path):
    from europanel.io.sheets import InputError
    from europanel.stages.bundle import Bundle

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "europanel-bundle/1"}))
    with pytest.raises(InputError, match="rebuild the bundle with this europanel version"):
        Bundle.open(str(tmp_path))


def test_a_bundle_carries_no_row_where_its_whole_cohort_is_under_the_threshold(tmp_path):
    """3 XY samples on chrY (k = 5): even a row with every count withheld would say that
    one of the 3 carries the allele. The bundle has no chrY row there and contributes no
    reference AN on chrY (PAR too: XX samples are not counted there), as if the cohort
    could not call it; chr1 and chrX keep theirs."""
    from europanel.core.counting import SITE_COLUMNS, count_columns
    from europanel.io.sheets import cohort_groups
    from europanel.stages.bundle import write_bundle

    samples = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(10)],
            "cohort": ["C"] * 10,
            "population": ["P"] * 10,
            "sex": ["XX"] * 7 + ["XY"] * 3,
        }
    )
    columns = count_columns(cohort_groups(samples))
    counts = {}
    for contig, pos in (("chr1", 100), ("chrY", 5000)):
        row = {"chrom": contig, "pos": pos, "ref": "A", "alt": "G", "filtered": False}
        table = pd.DataFrame([{**row, **dict.fromkeys(columns, 1)}])[SITE_COLUMNS + columns]
        counts[contig] = [str(tmp_path / f"{contig}.parquet")]
        table.to_parquet(counts[contig][0], index=False)
    settings = {"par": {"chrX": [(1, 100)], "chrY": [(1, 100)]}, "reference_build": "GRCh38"}
    manifest = write_bundle(
        str(tmp_path / "bundle"),
        "C",
        samples,
        counts,
        {"chr1": 10_000, "chrY": 10_000},
        settings,
        None,
        [],
        min_group_size=5,
    )
    assert manifest["privacy"]["silent_classes"] == ["Y_nonPAR", "Y_PAR"]
    assert manifest["reference_an"]["C"] == [20, 7 * 2 + 3, 0, 0]
    assert len(pd.read_parquet(tmp_path / "bundle/counts/chrY.parquet")) == 0
    assert len(pd.read_parquet(tmp_path / "bundle/counts/chr1.parquet")) == 1


@pytest.mark.parametrize(
    "b_in_q, expected",
    [
        # B has 2 samples of Q: B - cell(B, P) would be them, and cell(B, Q) is them.
        (2, []),
        # Every cell is large: the cross-country test may use both populations.
        (10, ["P", "Q"]),
    ],
)
def test_heterogeneity_cells_enter_only_where_they_open_no_leak(b_in_q, expected):
    """The cross-country p-value is a function of cohort x population counts, so they are
    treated as published. The margins alone (A, B, P, Q of a 2 x 2 table) isolate no cell:
    a*A + b*B + c*P is a+c on A/P, a on A/Q, b+c on B/P, b on B/Q, never B/Q alone."""
    atoms = {("A", "P", "XX"): 10, ("A", "Q", "XX"): 10, ("B", "P", "XX"): 10}
    atoms[("B", "Q", "XX")] = b_in_q
    policy = PatternPolicy(atoms, make_groups({"A", "B"}, {"P", "Q"}), 5)
    candidates = {"P": ["A", "B"], "Q": ["A", "B"]}
    assert policy.safe_cells(AUTOSOMAL, frozenset({"A", "B"}), candidates) == expected
    # A record that only B called: A's cells are known constants there, B's are not.
    only_b = policy.safe_cells(AUTOSOMAL, frozenset({"B"}), candidates)
    assert only_b == ([] if b_in_q < 5 else ["P", "Q"])
