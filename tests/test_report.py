"""The QC report (`snakemake --report`) of the demo: every figure and table with its caption,
numbers that agree with the panel, no sample ID, withheld groups named in the summary only,
and the report renders in headless Chromium (screenshots kept in the test's folder)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DEMO_PANEL, run_snakemake

# Report item -> (category, words of its caption).
ITEMS = {
    "samples.png": ("Samples", "Samples per cohort, population and sex"),
    "sites.png": ("Sites", "Sites per cohort by type and by fate"),
    "cohort_qc.png": ("Cohort QC", "Ti/Tv and call rate per cohort"),
    "cohort_qc.tsv": ("Cohort QC", "Cohort QC table"),
    "concordance.png": ("Frequencies", "Allele-frequency concordance between cohorts"),
    "concordance.tsv": ("Frequencies", "Allele-frequency concordance table"),
    "sfs.png": ("Frequencies", "Site frequency spectrum per population"),
    "af_distribution.png": ("Panel", "Distribution of AF in the published panel"),
    "country_het.png": ("Frequencies", "Cross-country heterogeneity by cohort pair"),
    "summary.html": ("Summary", "Summary table"),
}
COHORTS = ["EE", "IT", "NL"]
WITHHELD = {"FIN": 3, "FIN_XX": 1, "FIN_XY": 2}  # EE22-EE24: below min_group_size 5


@pytest.fixture(scope="module")
def report_html(demo_run, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    run_snakemake(demo_run, "--report", str(path))
    return path


def script_value(text: str, name: str):
    """The JSON the report assigns to `var <name>` in its own <script id=...> block."""
    block = name.replace("_", "-")
    match = re.search(rf'<script id="{block}">\s*var {name} = (.*?);\s*</script>', text, re.S)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


def decode(data_uri: str) -> bytes:
    header, payload = data_uri.split(",", 1)
    assert header.endswith(";base64"), header
    return base64.b64decode(payload)


@pytest.fixture(scope="module")
def report(report_html) -> dict:
    text = report_html.read_text()
    results = script_value(text, "results")
    return {
        "text": text,
        "results": {item["name"]: item for item in results.values()},
        "categories": script_value(text, "categories"),
        "description": script_value(text, "workflow_desc"),
    }


def item_text(report, name: str) -> str:
    return decode(report["results"][name]["data_uri"]).decode()


def test_every_figure_and_table_is_in_the_report_with_its_caption(report):
    from PIL import Image

    assert set(report["results"]) == set(ITEMS)
    for name, (category, caption) in ITEMS.items():
        item = report["results"][name]
        assert caption in item["caption"], name
        assert any(name in path for path in sum(report["categories"][category].values(), [])), (
            name,
            category,
        )
        data = decode(item["data_uri"])
        if name.endswith(".png"):
            assert item["mime_type"] == "image/png"
            image = Image.open(BytesIO(data))
            assert image.width >= 800 and image.height >= 400, name
            assert len(image.getcolors(1 << 24)) > 20, f"{name} is (nearly) blank"
    assert "europanel QC report" in report["description"]


def test_tables_agree_with_the_panel(report, demo_run):
    panel = pd.read_parquet(demo_run / f"{DEMO_PANEL}.parquet")
    summary = item_text(report, "summary.html")
    cells = re.findall(r"<t[hd]>([^<]*)</t[hd]>", summary)

    def row(label: str) -> list[str]:
        start = cells.index(label)
        return cells[start + 1 : start + 7]

    n = len(panel)
    assert row("records")[0] == f"{n:,}"
    assert row("PASS")[0] == f"{(panel['FILTER'] == 'PASS').sum():,}"
    assert row("AC0 (adj AC 0)")[0] == f"{(panel['FILTER'] == 'AC0').sum():,}" != "0"
    for chrom, records in panel.groupby("CHROM", sort=False):
        passed, ac0 = (records["FILTER"] == "PASS").sum(), (records["FILTER"] == "AC0").sum()
        assert row(chrom)[:3] == [f"{len(records):,}", f"{passed:,}", f"{ac0:,}"], chrom
    assert row("all")[:3] == [
        f"{n:,}",
        f"{(panel['FILTER'] == 'PASS').sum():,}",
        f"{(panel['FILTER'] == 'AC0').sum():,}",
    ]

    concordance = pd.read_csv(
        BytesIO(decode(report["results"]["concordance.tsv"]["data_uri"])), sep="\t"
    )
    assert [tuple(p) for p in concordance[["cohort_a", "cohort_b"]].to_numpy()] == [
        ("EE", "IT"),
        ("EE", "NL"),
        ("IT", "NL"),
    ]
    assert (concordance["shared_sites"] > 300).all()
    assert concordance["pearson_r"].between(0.5, 1).all()

    qc = pd.read_csv(
        BytesIO(decode(report["results"]["cohort_qc.tsv"]["data_uri"])), sep="\t", index_col=0
    )
    assert list(qc.index) == COHORTS
    assert (qc["ti_tv"] > 0).all()
    assert qc["call_rate"].between(0.5, 1).all()
    assert (qc["adj_rate"] <= qc["call_rate"]).all()


def test_withheld_groups_are_named_in_the_summary_and_nowhere_else(report):
    summary = item_text(report, "summary.html")
    paragraph = re.search(r"<p id='withheld-groups'>(.*?)</p>", summary, re.S).group(1)
    for group, size in WITHHELD.items():
        assert f"{group} ({size} sample" in paragraph
    assert len(re.findall(r"\bFIN", summary)) == len(WITHHELD)
    # Nothing else the report shows as text names them: captions, tables, description.
    texts = [report["description"]]
    for name, item in report["results"].items():
        texts += [item["caption"], item["job_properties"]["params"]]
        if name.endswith(".tsv"):
            texts.append(item_text(report, name))
    assert not [t for t in texts if re.search(r"\bFIN", t)]


def test_no_sample_id_in_the_report(report, demo_run):
    from PIL import Image

    sheet = pd.read_csv(demo_run / "config/samples.tsv", sep="\t", dtype=str)
    ids = [*sheet["sample"], "NL99"]
    # Embedded files are searched decoded (base64 text can hold any 4 letters by chance).
    page = re.sub(r'data:[^,"]*;base64,[A-Za-z0-9+/=]+', "", report["text"])
    assert len(page) < len(report["text"]) - 300_000  # the embedded files are gone
    texts = {"report page": page}
    for name, item in report["results"].items():
        data = decode(item["data_uri"])
        if name.endswith(".png"):
            texts[name] = json.dumps(Image.open(BytesIO(data)).info, default=str)
        else:
            texts[name] = data.decode()
    any_id = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")
    leaks = {name: sorted(set(any_id.findall(text))) for name, text in texts.items()}
    assert not {name: found for name, found in leaks.items() if found}


def cohort_sites(workdir: Path, cohort: str) -> pd.DataFrame:
    """A cohort's called (PASS) records of every contig, straight from its bundle."""
    tables = [
        pd.read_parquet(path)
        for path in sorted((workdir / f"results/bundles/{cohort}/counts").glob("*.parquet"))
    ]
    table = pd.concat(tables, ignore_index=True)
    return table[~table["filtered"]]


def test_ti_tv_call_rate_and_concordance_equal_a_direct_computation(demo_run):
    """The report's cohort tables against pandas on the bundles and the sample sheet."""
    report_dir = demo_run / "results/report"
    qc = pd.read_csv(report_dir / "cohort_qc.tsv", sep="\t", index_col=0)
    concordance = pd.read_csv(report_dir / "concordance.tsv", sep="\t")
    sheet = pd.read_csv(demo_run / "config/samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    par_end = 5000  # resources/demo/par.bed: chrX and chrY 1-5000
    sites = {}
    for cohort in COHORTS:
        table = cohort_sites(demo_run, cohort)
        sites[cohort] = table
        snv = table[
            (table["ref"].str.len() == 1)
            & (table["alt"].str.len() == 1)
            & (table[f"AC_adj_{cohort}"] > 0)
        ]
        transitions = (snv["ref"] + snv["alt"]).isin(["AG", "GA", "CT", "TC"]).sum()
        assert qc.loc[cohort, "transitions"] == transitions
        assert qc.loc[cohort, "transversions"] == len(snv) - transitions
        sexes = sheet[sheet["cohort"] == cohort]["sex"].value_counts()
        xx, xy, n = sexes.get("XX", 0), sexes.get("XY", 0), sexes.sum()
        nonpar = table["chrom"].isin(["chrX", "chrY"]) & (table["pos"] > par_end)
        expected = pd.Series(2 * n, index=table.index)
        expected[nonpar & (table["chrom"] == "chrX")] = 2 * xx + xy
        expected[nonpar & (table["chrom"] == "chrY")] = xy
        counted = expected > 0
        rate = table[f"AN_raw_{cohort}"][counted].sum() / expected[counted].sum()
        assert qc.loc[cohort, "call_rate"] == pytest.approx(rate, rel=1e-5)
    for a, b, shared, r in concordance.itertuples(index=False):
        both = sites[a].merge(sites[b], on=["chrom", "pos", "ref", "alt"])
        both = both[(both[f"AN_adj_{a}"] > 0) & (both[f"AN_adj_{b}"] > 0)]
        af_a = both[f"AC_adj_{a}"] / both[f"AN_adj_{a}"]
        af_b = both[f"AC_adj_{b}"] / both[f"AN_adj_{b}"]
        assert shared == len(both)
        assert r == pytest.approx(np.corrcoef(af_a, af_b)[0, 1], rel=1e-5)


def test_site_matcher_equals_the_pandas_merge():
    """The concordance's shared sites: the same AFs, in the same order, as an inner merge
    on (pos, ref, alt), with and without a site given twice, and with AN = 0 sites."""
    from europanel.stages.report.data import SiteMatcher

    rng = np.random.default_rng(11)

    def cohort_table(n, twice=False):
        pos = np.sort(rng.integers(1, 400, n))
        table = pd.DataFrame(
            {
                "pos": pos,
                "ref": rng.choice(["A", "C", "GT"], n),
                "alt": rng.choice(["G", "T", "CA", "A"], n),
            }
        ).drop_duplicates(["pos", "ref", "alt"])
        if twice:
            table = pd.concat([table, table.iloc[:5]])
        table["an"] = rng.integers(0, 4, len(table)) * 100
        table["ac"] = np.minimum(rng.integers(0, 150, len(table)), table["an"])
        return table.astype({"ref": str, "alt": str}).reset_index(drop=True)

    sites = {"a": cohort_table(300), "b": cohort_table(250), "c": cohort_table(200, twice=True)}
    sites["empty"] = sites["a"].iloc[:0]
    matcher = SiteMatcher(sites, ["pos", "ref", "alt"])
    for a in sites:
        for b in sites:
            if a == b:
                continue
            both = sites[a].merge(sites[b], on=["pos", "ref", "alt"], suffixes=("_a", "_b"))
            both = both[(both["an_a"] > 0) & (both["an_b"] > 0)]
            x, y = matcher.shared_afs(a, b)
            assert np.array_equal(x, (both["ac_a"] / both["an_a"]).to_numpy(np.float64))
            assert np.array_equal(y, (both["ac_b"] / both["an_b"]).to_numpy(np.float64))


# ---------------------------------------------------------------- rendering in a browser


def chromium() -> str:
    """Debian's chromium; installed with apt-get when running as root (CI), else skip."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium is not installed (apt-get install chromium) and this is not "
            "root: the report is not rendered"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"chromium could not be installed: {result.stderr[-500:]}")
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("apt-get installed chromium but there is no `chromium` command")
    return path


def run_chromium(browser: str, folder: Path, url: str, *args: str) -> str:
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={folder / 'profile'}",
            "--window-size=1400,1000",
            "--virtual-time-budget=20000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def assert_real_screenshot(path: Path) -> None:
    from PIL import Image

    assert path.exists(), f"chromium wrote no screenshot {path}"
    assert path.stat().st_size > 20_000, f"{path} is only {path.stat().st_size} bytes"
    image = Image.open(path).convert("RGB")
    assert image.size == (1400, 1000)
    colours = image.getcolors(1 << 24)
    assert len(colours) > 50, f"{path} is (nearly) one colour"


# Appended to a copy of the report: once the app has started, open one figure in its
# viewer (for the screenshot) and decode every embedded image (for the DOM check).
HARNESS = """
<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    const key = Object.keys(results).find(k => results[k].name === "concordance.png");
    app.setView({content: "img", contentPath: results[key].data_uri,
                 navbarMode: "resultinfo", resultPath: key});
    const images = Object.values(results).filter(r => r.mime_type === "image/png");
    let done = 0;
    const sizes = {};
    images.forEach(function (item) {
      const img = new Image();
      img.onload = function () {
        sizes[item.name] = [img.naturalWidth, img.naturalHeight];
        finish();
      };
      img.onerror = function () { sizes[item.name] = [0, 0]; finish(); };
      img.src = item.data_uri;
    });
    function finish() {
      if (++done < images.length) return;
      const out = document.createElement("pre");
      out.id = "figure-check";
      out.textContent = JSON.stringify(sizes);
      document.body.appendChild(out);
    }
  }, 200);
});
</script>
"""


def test_report_renders_in_headless_chromium(report_html, report):
    browser = chromium()
    folder = report_html.parent

    # The main page: the app has replaced its loading screen with the workflow description.
    main_png = folder / "report.png"
    run_chromium(browser, folder, report_html.as_uri(), f"--screenshot={main_png}")
    assert_real_screenshot(main_png)
    dom = run_chromium(browser, folder, report_html.as_uri(), "--dump-dom")
    app = dom[dom.index('<div id="app">') :]
    assert "europanel QC report" in app, "the report's app did not render its main page"
    for category in {category for category, _ in ITEMS.values()}:
        assert category in app, f"category {category} is not in the rendered menu"

    # Every embedded figure decodes in the browser, and one is shown in the viewer.
    harness = folder / "report_figure.html"
    page, body_end, tail = report_html.read_text().rpartition("</body>")
    assert body_end, "the report has no </body>"
    harness.write_text(page + HARNESS + body_end + tail)
    dom = run_chromium(browser, folder, harness.as_uri(), "--dump-dom")
    match = re.search(r'<pre id="figure-check">(.*?)</pre>', dom)
    assert match, "the figures were not decoded in the browser"
    sizes = json.loads(match.group(1).replace("&quot;", '"'))
    assert set(sizes) == {name for name in ITEMS if name.endswith(".png")}
    assert all(width >= 800 and height >= 400 for width, height in sizes.values()), sizes
    figure_png = folder / "report_figure.png"
    run_chromium(browser, folder, harness.as_uri(), f"--screenshot={figure_png}")
    assert_real_screenshot(figure_png)
