"""QC report summary page: the self-contained HTML of `summary.html`."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from europanel.stages.bundle import Bundle
from europanel.stages.report.data import VARIANT_TYPES, Publication, withheld_groups_text


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
