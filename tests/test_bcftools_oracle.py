"""bcftools +fill-tags as an independent oracle for the raw counts on the demo's normalised BCFs.

`+fill-tags -S groups -t AN,AC` counts called alleles per group with htslib.
DESIGN §4 counts a half-missing diploid genotype (`./1`) as missing, where
fill-tags counts its called allele, so `+setGT -t ./x -n .` first turns
half-missing genotypes into missing ones. Compared on the autosome (chr20),
where ploidy plays no part, for every record that passed FILTER.
"""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

BCFTOOLS = shutil.which("bcftools")
pytestmark = pytest.mark.skipif(
    BCFTOOLS is None,
    reason="the bcftools command is not installed (apt-get install bcftools); "
    "the +fill-tags oracle needs its plugins",
)


def sample_groups(samples: pd.DataFrame) -> str:
    """fill-tags' -S file: sample, then its comma-separated groups (written out independently)."""
    lines = []
    for row in samples.itertuples(index=False):
        groups = [row.cohort, row.population]
        if row.sex != "NA":
            groups += [row.sex, f"{row.population}_{row.sex}"]
        lines.append(f"{row.sample}\t{','.join(groups)}")
    return "\n".join(lines) + "\n"


def fill_tags_counts(bcf, groups_file, groups: list[str]) -> pd.DataFrame:
    set_missing = subprocess.run(
        [BCFTOOLS, "+setGT", str(bcf), "-Ou", "--", "-t", "./x", "-n", "."],
        capture_output=True,
        check=True,
    )
    filled = subprocess.run(
        [BCFTOOLS, "+fill-tags", "-Ou", "-", "--", "-S", str(groups_file), "-t", "AN,AC"],
        input=set_missing.stdout,
        capture_output=True,
        check=True,
    )
    fields = "".join(f"\\t%INFO/AC_{g}\\t%INFO/AN_{g}" for g in groups)
    query = subprocess.run(
        [
            BCFTOOLS,
            "query",
            "-f",
            f"%POS\\t%REF\\t%ALT\\t%FILTER\\t%INFO/AC\\t%INFO/AN{fields}\\n",
            "-",
        ],
        input=filled.stdout,
        capture_output=True,
        check=True,
    )
    columns = ["pos", "ref", "alt", "FILTER", "AC", "AN"]
    columns += [f"{stat}_{g}" for g in groups for stat in ("AC", "AN")]
    rows = [line.split("\t") for line in query.stdout.decode().splitlines()]
    table = pd.DataFrame(rows, columns=columns)
    table["pos"] = table["pos"].astype(int)
    return table


@pytest.mark.parametrize("cohort", ["NL", "EE", "IT"])
def test_raw_counts_equal_bcftools_fill_tags_on_autosome(
    demo_run, demo_normalised, cohort, tmp_path
):
    samples = pd.read_csv(
        demo_run / "config/samples.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    samples = samples[samples["cohort"] == cohort]
    groups_file = tmp_path / "groups.txt"
    groups_file.write_text(sample_groups(samples))
    groups = sorted(
        {g for line in groups_file.read_text().splitlines() for g in line.split("\t")[1].split(",")}
    )
    compared = 0
    for bcf in sorted((demo_normalised / cohort).glob("chr20-*.bcf")):
        oracle = fill_tags_counts(bcf, groups_file, groups)
        oracle = oracle[oracle["FILTER"] == "PASS"]
        ours = pd.read_parquet(demo_run / f"results/counts/{cohort}/{bcf.stem}.parquet")
        ours = ours[~ours["filtered"]]
        assert list(zip(ours["pos"], ours["ref"], ours["alt"])) == list(
            zip(oracle["pos"], oracle["ref"], oracle["alt"])
        ), f"{bcf.name}: different records"
        assert ours[f"AC_raw_{cohort}"].tolist() == oracle["AC"].astype(int).tolist()
        assert ours[f"AN_raw_{cohort}"].tolist() == oracle["AN"].astype(int).tolist()
        for g in groups:
            assert ours[f"AC_raw_{g}"].tolist() == oracle[f"AC_{g}"].astype(int).tolist(), g
            assert ours[f"AN_raw_{g}"].tolist() == oracle[f"AN_{g}"].astype(int).tolist(), g
        compared += len(ours)
    assert compared > 100, f"only {compared} records compared for {cohort}"
