"""`make bench`: europanel against bcftools, plink2 and scikit-allel on simulated cohorts.

One run, on the same files, side by side:

1. simulate the dataset (`europanel-dev simulate`; timed, reused when it exists);
2. end to end on 2 cores: `snakemake --cores 2` on the simulated config,
   against the bcftools pipeline a user would otherwise script (per cohort
   `norm -m -any -f | norm -d exact | +fill-tags -S | view -G`, two cohorts
   at a time, then `merge -i AC:sum,AN:sum,...`);
3. the count stage on one core, on every normalised BCF of the pipeline run
   (kept with `--notemp`): `europanel count` against `bcftools view` (decoding
   only), `bcftools +fill-AN-AC` (htslib decoding every genotype: the floor),
   `bcftools +fill-tags -S` with the same groups, `plink2 --bcf --freq` per
   population (import included), and scikit-allel (`read_vcf` +
   `count_alleles_subpops` on the same records as VCF.gz);
4. the count stage's peak memory at two block sizes and two region lengths;
5. where time goes: cProfile of one count job, the bcftools steps of one
   normalise job, and the pipeline's per-rule totals;

and writes `docs/BENCHMARKS.md`. Every measured command runs as a child
process: wall time, CPU time (user + system, from `getrusage`) and peak
memory (resident memory of the process tree, sampled every 20 ms); each is
run `--runs` times (tools interleaved) and the median is reported.
Nothing here is a test: no timing is ever asserted.

    europanel-dev bench            # the issue's size: 5 cohorts x 400 samples x 20 Mb
    europanel-dev bench --quick    # a small dataset for development
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PRESETS = {
    "default": {
        "cohorts": 5,
        "samples": 400,
        "length": 20_000_000,
        "chunk_size": 10_000_000,  # the workflow's default
        "block_size": 10_000,
    },
    "quick": {
        "cohorts": 3,
        "samples": 100,
        "length": 2_000_000,
        "chunk_size": 1_000_000,
        "block_size": 2_000,
    },
}
# Five cohorts at a national programme's sample size (Genome of Europe averages ~3,850
# genomes a country; the default preset has 400): per-genotype work grows with it, the
# panel's per-site work does not. End to end only, at the workflow's default chunking.
NATIONAL = {
    "default": {"cohorts": 5, "samples": 2_000, "length": 4_000_000},
    "quick": {"cohorts": 3, "samples": 200, "length": 400_000},
}
# One simulated cohort at Genome-of-Europe size: count's peak memory against its mem_mb.
BIG_COHORT = {"samples": 20_000, "length": 200_000, "quick_length": 50_000}
# docs/SCALING.md's model of Genome of Europe: what the job plan and CPU-hours are for.
SCALE_MODEL = {
    "cohorts": 26,
    "genomes": 100_000,
    "records_per_cohort": 120_000_000,
    "panel_records": 650_000_000,
    "groups": 60,
}
SCALE_CHUNK_SIZES = (5_000_000, 10_000_000, 20_000_000, 30_000_000, 50_000_000)
MAX_JOBS = 10_000  # issue 12: the plan at that scale has at most this many jobs
# GRCh38 primary chromosomes (bp): chunks are cut per contig, as the workflow cuts them.
GRCH38_LENGTHS = {
    "chr1": 248_956_422,
    "chr2": 242_193_529,
    "chr3": 198_295_559,
    "chr4": 190_214_555,
    "chr5": 181_538_259,
    "chr6": 170_805_979,
    "chr7": 159_345_973,
    "chr8": 145_138_636,
    "chr9": 138_394_717,
    "chr10": 133_797_422,
    "chr11": 135_086_622,
    "chr12": 133_275_309,
    "chr13": 114_364_328,
    "chr14": 107_043_718,
    "chr15": 101_991_189,
    "chr16": 90_338_345,
    "chr17": 83_257_441,
    "chr18": 80_373_285,
    "chr19": 58_617_616,
    "chr20": 64_444_167,
    "chr21": 46_709_983,
    "chr22": 50_818_468,
    "chrX": 156_040_895,
    "chrY": 57_227_415,
}
APT_HINT = "apt-get update && apt-get install -y bcftools plink2"
REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.02


# ---------------------------------------------------------------------------
# Measuring one command
# ---------------------------------------------------------------------------


@dataclass
class Measure:
    wall: float = 0.0  # seconds
    cpu: float = 0.0  # user + system seconds of the command and its children
    peak_mb: float = 0.0  # largest resident memory of the process tree at one time

    def __add__(self, other: Measure) -> Measure:  # commands run one after another
        return Measure(
            self.wall + other.wall, self.cpu + other.cpu, max(self.peak_mb, other.peak_mb)
        )


def measure(
    command: str, cwd: Path | None = None, env: dict | None = None, tries: int = 2
) -> Measure:
    """Run a shell command (bash, pipefail); its wall time, CPU time and peak tree RSS.

    A command that fails is run once more (a shared machine can hiccup; a file being
    edited, a full /tmp) and the retry is logged; a second failure stops the bench.
    """
    import tempfile

    import psutil

    with tempfile.TemporaryFile() as errors:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        process = subprocess.Popen(
            ["bash", "-c", f"set -euo pipefail; {command}"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        peak = 0
        try:
            root = psutil.Process(process.pid)
            while process.poll() is None:
                try:
                    tree = [root, *root.children(recursive=True)]
                    peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
                except psutil.Error:
                    pass
                time.sleep(POLL_SECONDS)
        except psutil.Error:
            pass
        process.wait()
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0:
            errors.seek(0)
            message = (
                f"benchmark command failed ({process.returncode}):\n{command}\n"
                f"{errors.read().decode(errors='replace')[-3000:]}"
            )
            if tries > 1:
                print(f"{message}\n... running it once more", file=sys.stderr, flush=True)
                RETRIED.append(command)
                return measure(command, cwd, env, tries - 1)
            raise RuntimeError(message)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(wall, cpu, peak / 2**20)


RETRIED: list[str] = []  # commands that failed once and were run again


@dataclass
class Result:
    """Repeated runs of one benchmark line: the medians and the largest peak."""

    name: str
    command: str
    runs: list[Measure] = field(default_factory=list)
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(m.wall for m in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(m.cpu for m in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(m.peak_mb for m in self.runs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def write_group_files(data: Path, aux: Path) -> tuple[list[str], dict[str, dict[str, list[str]]]]:
    """Per cohort of a bench dataset, into `aux`: fill-tags' -S file, plink2's --pheno file,
    and the groups of each sample. Returns the cohorts and, per cohort, its groups' samples."""
    import pandas as pd

    aux.mkdir(parents=True, exist_ok=True)
    samples = pd.read_csv(data / "samples.tsv", sep="\t", dtype=str)
    cohorts = list(dict.fromkeys(samples["cohort"]))
    all_groups: dict[str, dict[str, list[str]]] = {}
    for cohort in cohorts:
        rows = samples[samples["cohort"] == cohort]
        groups: dict[str, list[str]] = {}
        lines = []
        for row in rows.itertuples(index=False):
            names = [row.cohort, row.population, row.sex, f"{row.population}_{row.sex}"]
            lines.append(f"{row.sample}\t{','.join(names)}")
            for name in names:
                groups.setdefault(name, []).append(row.sample)
        all_groups[cohort] = groups
        (aux / f"{cohort}.groups.txt").write_text("\n".join(lines) + "\n")
        pheno = ["#IID\tpopulation"] + [
            f"{s}\t{p}" for s, p in zip(rows["sample"], rows["population"])
        ]
        (aux / f"{cohort}.pheno.txt").write_text("\n".join(pheno) + "\n")
        (aux / f"{cohort}.subpops.json").write_text(json.dumps(groups))
    return cohorts, all_groups


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.preset = dict(PRESETS["quick" if args.quick else "default"])
        self.runs = args.runs
        self.workdir = Path(args.workdir).resolve()
        self.data = self.workdir / "data"
        self.aux = self.workdir / "aux"
        self.env = dict(os.environ)
        self.env["PATH"] = f"{Path(sys.executable).parent}:{self.env.get('PATH', '')}"
        self.python = sys.executable
        self.loads: dict[str, str] = {}
        self.notes: dict[str, object] = {}
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:6.0f} s, load {load()}] {text}", file=sys.stderr, flush=True)

    # -- set-up ---------------------------------------------------------------

    def check_tools(self) -> None:
        missing = [tool for tool in ("bcftools", "plink2") if shutil.which(tool) is None]
        if missing:
            raise SystemExit(
                f"europanel-dev bench needs {' and '.join(missing)} (Debian packages): {APT_HINT}"
            )
        try:
            import allel  # noqa: F401
            import msprime  # noqa: F401
            import psutil  # noqa: F401
        except ImportError as error:
            raise SystemExit(
                f"europanel-dev bench needs {error.name}: pip install -r requirements-bench.txt"
            ) from None

    def simulate(self) -> None:
        self.summary = self.dataset(self.data, self.preset)

    def dataset(self, data: Path, preset: dict) -> dict:
        """A simulated dataset in `data` (cohorts x samples x length of `preset`, the
        workflow's chunking of the default preset): reused when one with the same
        parameters is there, unless --resimulate. Returns its simulation summary."""
        from europanel_dev.simulate import simulate

        wanted = {
            "cohorts": preset["cohorts"],
            "samples": preset["samples"],
            "length": preset["length"],
            "seed": self.args.seed,
        }
        summary_path = data / "simulation.json"
        if summary_path.exists() and not self.args.resimulate:
            summary = json.loads(summary_path.read_text())
            same = (
                len(summary["cohorts"]) == wanted["cohorts"]
                and summary["samples_per_cohort"] == wanted["samples"]
                and summary["length"] == wanted["length"]
                and summary["seed"] == wanted["seed"]
            )
            if same:
                self.log(f"reusing the simulated dataset in {data}")
                self.set_chunking(data / "config.yaml")
                if data == self.data:
                    self.notes["simulation_reused"] = True
                return summary
        shutil.rmtree(data, ignore_errors=True)
        self.log(f"simulating {data}")
        self.loads[f"simulate {data.name}"] = load()
        summary = simulate(
            data,
            wanted["cohorts"],
            wanted["samples"],
            wanted["length"],
            wanted["seed"],
            chunk_size=self.preset["chunk_size"],
            block_size=self.preset["block_size"],
            threads=2,
            log=self.log,
        )
        if data == self.data:
            self.notes["simulation_reused"] = False
        return summary

    def set_chunking(self, config_path: Path) -> None:
        """A reused dataset runs with the preset's chunk and block sizes, whatever the
        config it was simulated with said (the genotypes do not depend on them)."""
        import re

        text = config_path.read_text()
        for key in ("chunk_size", "block_size"):
            text = re.sub(rf"(?m)^{key}: .*$", f"{key}: {self.preset[key]}", text)
        config_path.write_text(text)

    def write_group_files(self) -> None:
        self.cohorts, self.groups = write_group_files(self.data, self.aux)

    # -- end to end -------------------------------------------------------------

    def snakemake_command(
        self,
        data: Path | None = None,
        cores: int = 2,
        targets: str = "",
        options: str = "",
        quiet: bool = True,
    ) -> str:
        """The workflow on a bench dataset. Targets come first: `--quiet` and `--forcerun`
        take lists and would swallow targets written after them."""
        data = data or self.data
        first = f"snakemake {targets}".rstrip()
        return (
            f"{first} -s {REPO / 'workflow' / 'Snakefile'} --directory {data} "
            f"--configfile {data / 'config.yaml'} --cores {cores} --notemp"
            + (f" {options}" if options else "")
            + (" --quiet" if quiet else "")
        )

    def bcftools_pipeline_script(
        self, data: Path, aux: Path, cohorts: list[str], all_groups: dict, name: str
    ) -> Path:
        """The per-cohort bcftools pipeline (2 cohorts at a time), then the merge, on a bench
        dataset whose group files `write_group_files` wrote into `aux`."""
        out = self.workdir / name
        tags = sorted(
            {
                f"{stat}{'' if g is None else '_' + g}"
                for groups in all_groups.values()
                for g in [None, *groups]
                for stat in ("AC", "AN", "AC_Hom")
            }
        )
        info = ",".join(f"{t}:sum" for t in tags)
        per_cohort = (
            f"bcftools norm --threads 0 -m -any -f {data}/reference.fa -Ou "
            f"{data}/vcf/$1.vcf.gz"
            " 2>/dev/null | bcftools norm -d exact -Ou 2>/dev/null"
            f" | bcftools +fill-tags -Ou -- -S {aux}/$1.groups.txt -t AN,AC,AC_Hom"
            f" | bcftools view -G -Ob -o {out}/$1.sites.bcf && bcftools index -f {out}/$1.sites.bcf"
        )
        script = self.workdir / f"{name}.sh"
        script.write_text(
            "#!/bin/bash\n"
            "# The bcftools pipeline a user would otherwise script"
            " (written by europanel-dev bench).\n"
            "set -euo pipefail\n"
            f"rm -rf {out} && mkdir -p {out}\n"
            f"cohort() {{ set -euo pipefail; {per_cohort}; }}\n"
            "export -f cohort\n"
            f"printf '%s\\n' {' '.join(cohorts)} | xargs -P 2 -I{{}} bash -c 'cohort {{}}'\n"
            f"bcftools merge -m none -i {info} -Oz -o {out}/merged.sites.vcf.gz "
            + " ".join(f"{out}/{c}.sites.bcf" for c in cohorts)
            + "\n"
            f"bcftools index -t {out}/merged.sites.vcf.gz\n"
        )
        return script

    def race(self, data: Path, script: Path, runs: int) -> tuple[Result, Result]:
        """`snakemake --cores 2` on a bench dataset against the bcftools pipeline script,
        interleaved run by run; each of our runs starts from no results."""
        ours = Result(
            "europanel: `snakemake --cores 2` (count = normalise + count per cohort x chunk, "
            "bundle, merge, publish, report)",
            self.snakemake_command(data),
        )
        theirs = Result(
            "bcftools pipeline, 2 cohorts at a time (norm, norm -d, +fill-tags -S, view -G; merge)",
            f"bash {script}",
        )
        for run in range(runs):
            for result in (ours, theirs):
                if result is ours:
                    shutil.rmtree(data / "results", ignore_errors=True)
                    shutil.rmtree(data / ".snakemake", ignore_errors=True)
                result.runs.append(measure(result.command, cwd=data, env=self.env))
                self.log(f"  run {run + 1}: {result.name[:40]}: {result.runs[-1].wall:.1f} s")
        return ours, theirs

    def end_to_end(self) -> None:
        self.log("end to end: snakemake --cores 2 vs the bcftools pipeline")
        script = self.bcftools_pipeline_script(
            self.data, self.aux, self.cohorts, self.groups, "bcftools_pipeline"
        )
        self.loads["end_to_end (start)"] = load()
        self.e2e = list(self.race(self.data, script, self.runs))
        self.loads["end_to_end (end)"] = load()
        self.rule_totals = self.per_rule_totals()
        self.piece_cpu = merge_piece_cpu(self.data)

    def national_end_to_end(self) -> None:
        """The same race on cohorts of a national programme's size (NATIONAL)."""
        preset = NATIONAL["quick" if self.args.quick else "default"]
        data = self.workdir / "national"
        self.national_summary = self.dataset(data, preset)
        self.log(
            f"end to end at {preset['samples']:,} samples per cohort: snakemake --cores 2 "
            "vs the bcftools pipeline"
        )
        aux = self.aux / "national"
        cohorts, all_groups = write_group_files(data, aux)
        script = self.bcftools_pipeline_script(data, aux, cohorts, all_groups, "bcftools_national")
        self.loads["national end_to_end (start)"] = load()
        self.national = list(self.race(data, script, self.runs))
        self.loads["national end_to_end (end)"] = load()
        self.national_rules = self.per_rule_totals(data)

    def per_rule_totals(self, data: Path | None = None) -> dict[str, dict[str, float]]:
        """Seconds and peak MB per rule, from the last run's snakemake benchmark files:
        whatever rules wrote one (a rule renamed or merged into another is picked up)."""
        data = data or self.data
        totals: dict[str, dict[str, float]] = {}
        for tsv in sorted((data / "results" / "benchmarks").rglob("*.tsv")):
            rule = tsv.relative_to(data / "results" / "benchmarks").parts[0]
            rule = rule.removesuffix(".tsv")
            lines = tsv.read_text().splitlines()
            header, values = lines[0].split("\t"), lines[-1].split("\t")
            row = dict(zip(header, values))
            entry = totals.setdefault(rule, {"jobs": 0, "seconds": 0.0, "cpu": 0.0, "max_rss": 0.0})
            entry["jobs"] += 1
            entry["seconds"] += float(row["s"])
            entry["cpu"] += float(row.get("cpu_time", 0) or 0)
            entry["max_rss"] = max(entry["max_rss"], float(row.get("max_rss", 0) or 0))
        return totals

    def job_plan(self, data: Path | None = None, target: str = "all") -> dict[str, int]:
        """Jobs per rule of a whole run (snakemake's dry-run job stats)."""
        data = data or self.data
        dry = subprocess.run(
            self.snakemake_command(
                data, targets=target, options="--dry-run --forceall", quiet=False
            ),
            shell=True,
            cwd=data,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return parse_job_stats(dry)

    # -- merge and publish ------------------------------------------------------

    def merge_cost(self) -> None:
        """Merge CPU per site x cohort, from the merge jobs of the end-to-end run: their CPU
        (snakemake's benchmark files) less what they spent writing the panel's pieces (their
        logs), which is publishing, priced per panel record."""
        summaries = sorted((self.data / "results" / "merged").glob("*.summary.json"))
        sites = sum(json.loads(p.read_text())["sites"] for p in summaries)
        merge = split_merge(self.rule_totals, self.piece_cpu).get("merge", {"cpu": 0.0, "jobs": 0})
        self.merge = {
            "jobs": merge["jobs"],
            "cpu": merge["cpu"],
            "piece_cpu": self.piece_cpu,
            "sites": sites,
            "cohorts": len(self.cohorts),
            "us_per_site_cohort": 1e6 * merge["cpu"] / max(1, sites * len(self.cohorts)),
        }

    def publish_stage(self) -> None:
        """The publish stage (each chunk's merge job writing its piece of the panel, publish
        joining them) run again on the bundles of the end-to-end run: 2 cores vs 1 core. The
        old serial publish (one job writing the whole panel) no longer exists; its
        equivalent is the same jobs one after another (--cores 1): the same work without the
        parallelism."""
        self.log("publish stage: merge (with the pieces) + publish on 2 cores vs 1 core")
        panel = next((self.data / "results" / "panel").glob("*.sites.vcf.gz"))
        target = panel.relative_to(self.data)
        results = {}
        for cores in (2, 1):
            results[cores] = Result(
                f"merge + piece (per chunk) + publish (join), --cores {cores}",
                f"snakemake ... --cores {cores} --forcerun merge {target}",
            )
        overhead = Result("snakemake start-up (the same command, --dry-run)", "")
        self.loads["publish stage (start)"] = load()
        for _ in range(self.runs):
            for cores, result in results.items():
                command = self.snakemake_command(
                    cores=cores, targets=str(target), options="--forcerun merge"
                )
                result.runs.append(measure(command, cwd=self.data, env=self.env))
            dry = self.snakemake_command(targets=str(target), options="--forcerun merge --dry-run")
            overhead.runs.append(measure(dry, cwd=self.data, env=self.env))
        self.loads["publish stage (end)"] = load()
        self.publish = results
        self.publish_overhead = overhead

    # -- count stage ----------------------------------------------------------

    def count_inputs(self) -> None:
        """The chunks normalised as BCFs, whole-contig BCFs, VCF.gz copies."""
        # The count job keeps no normalised BCF (it normalises and counts in one process):
        # the count-stage tools get the same chunks normalised by bcftools.
        self.log("normalising the chunks with bcftools for the count-stage tools")
        self.bcfs = self.bcftools_chunks()
        self.vcfs = {}
        for bcf in self.bcfs:
            vcf = self.aux / "vcf" / bcf.parent.name / f"{bcf.stem}.vcf.gz"
            vcf.parent.mkdir(parents=True, exist_ok=True)
            if not vcf.exists():
                subprocess.run(["bcftools", "view", "-Oz", "-o", str(vcf), str(bcf)], check=True)
            self.vcfs[bcf] = vcf
        self.whole = {}
        for cohort in self.cohorts:
            parts = [bcf for bcf in self.bcfs if bcf.parent.name == cohort]
            whole = self.aux / "whole" / f"{cohort}.bcf"
            whole.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["bcftools", "concat", "--no-version", "-Ob", "-o", str(whole), *map(str, parts)],
                check=True,
            )
            subprocess.run(["bcftools", "index", "-f", str(whole)], check=True)
            self.whole[cohort] = whole
        self.notes["records"] = {
            c: int(
                subprocess.run(
                    ["bcftools", "index", "-n", str(w)], capture_output=True, text=True, check=True
                ).stdout
            )
            for c, w in self.whole.items()
        }

    def bcftools_chunks(self) -> list[Path]:
        """Each cohort's chunks as normalised BCFs (split, left-aligned, exact duplicates
        removed; records by their input POS), named like the pipeline's."""
        contig, length = self.summary["contig"], self.summary["length"]
        size = self.preset["chunk_size"]
        bcfs = []
        for cohort in self.cohorts:
            folder = self.aux / "normalised" / cohort
            folder.mkdir(parents=True, exist_ok=True)
            for index, start in enumerate(range(1, length + 1, size)):
                region = f"{contig}:{start}-{min(start + size - 1, length)}"
                out = folder / f"{contig}-{index:05d}.bcf"
                subprocess.run(
                    f"bcftools view -t {region} -Ou {self.data}/vcf/{cohort}.vcf.gz"
                    f" | bcftools norm -m -any -f {self.data}/reference.fa -Ou 2>/dev/null"
                    f" | bcftools norm -d exact -Ou -o {out} 2>/dev/null"
                    f" && bcftools index -f {out}",
                    shell=True,
                    check=True,
                    executable="/bin/bash",
                )
                bcfs.append(out)
        return sorted(bcfs)

    def cohort_of(self, bcf: Path) -> str:
        """A chunk's BCF is in its cohort's folder; a whole-contig BCF is named after it."""
        return bcf.parent.name if bcf.parent.name in self.cohorts else bcf.stem

    def count_command(
        self,
        bcf: Path,
        block_size: int | None = None,
        out: str = "count",
        histograms: bool | None = None,
        gt_only: bool = False,
    ) -> str:
        """`europanel count` of one normalised BCF with the run's count settings (the
        bench config, schema defaults filled), changed only where asked."""
        settings = self.settings_file(block_size, histograms, gt_only)
        return (
            f"europanel count --cohort {self.cohort_of(bcf)} --samples {self.data}/samples.tsv "
            f"--bcf {bcf} --settings {settings} --output {self.aux}/{out}.parquet "
            f"--stats {self.aux}/{out}.json"
        )

    def settings_file(
        self, block_size: int | None = None, histograms: bool | None = None, gt_only: bool = False
    ) -> Path:
        """The count stage's --settings file, as the workflow builds it from the bench's
        config (count_settings), with block_size, histograms or genotype QC changed."""
        settings = count_settings(self.data / "config.yaml")
        settings["block_size"] = block_size or settings["block_size"] or self.preset["block_size"]
        if histograms is not None:
            settings["site_annotations"]["histograms"] = histograms
        if gt_only:  # every adj criterion off: counting reads GT alone
            settings["genotype_qc"] = {name: None for name in settings["genotype_qc"]}
        name = f"count_b{settings['block_size']}_h{int(settings['site_annotations']['histograms'])}"
        path = self.aux / f"{name}{'_gt' if gt_only else ''}.settings.json"
        path.write_text(json.dumps(settings, sort_keys=True))
        return path

    def count_tools(self) -> list[tuple[Result, callable]]:
        aux = self.aux
        cohort = self.cohort_of

        tools = [
            (
                Result(
                    "europanel count (CLI per BCF: raw + adj, every group, histograms off)",
                    "europanel count --cohort <C> --samples samples.tsv --bcf <BCF> "
                    "--settings <count settings: the config's, histograms false> "
                    "--output <out>.parquet --stats <out>.json",
                ),
                lambda b: self.count_command(b, histograms=False),
            ),
            (
                Result(
                    "bcftools view (decode and re-encode, no counting)",
                    "bcftools view -Ou -o /dev/null <BCF>",
                ),
                lambda b: f"bcftools view -Ou -o /dev/null {b}",
            ),
            (
                Result(
                    "bcftools +fill-AN-AC (htslib decoding every genotype)",
                    "bcftools +fill-AN-AC -Ou -o /dev/null <BCF>",
                ),
                lambda b: f"bcftools +fill-AN-AC -Ou -o /dev/null {b}",
            ),
            (
                Result(
                    "bcftools +fill-tags -S (same groups: cohort, population, sex, "
                    "population x sex)",
                    "bcftools +fill-tags -Ou -o /dev/null <BCF> -- -S <C>.groups.txt "
                    "-t AN,AC,AC_Hom",
                ),
                lambda b: (
                    f"bcftools +fill-tags -Ou -o /dev/null {b} -- "
                    f"-S {aux}/{cohort(b)}.groups.txt -t AN,AC,AC_Hom"
                ),
            ),
            (
                Result(
                    "plink2 --bcf --freq per population (import included)",
                    "plink2 --bcf <BCF> --freq counts --pheno <C>.pheno.txt --loop-cats population "
                    "--vcf-half-call m --threads 1 --memory 2000 --out <tmp>",
                ),
                lambda b: (
                    f"plink2 --bcf {b} --freq counts --pheno {aux}/{cohort(b)}.pheno.txt "
                    f"--loop-cats population --vcf-half-call m --threads 1 --memory 2000 "
                    f"--out {aux}/plink/{cohort(b)}_{b.stem} > /dev/null"
                ),
            ),
            (
                Result(
                    "scikit-allel read_vcf + count_alleles_subpops (same records, VCF.gz, GT)",
                    f"{Path(self.python).name} -m europanel_dev.bench allel"
                    " <VCF.gz> <C>.subpops.json",
                ),
                lambda b: (
                    f"{self.python} -m europanel_dev.bench allel {self.vcfs[b]} "
                    f"{aux}/{cohort(b)}.subpops.json"
                ),
            ),
        ]
        tools.append(
            (
                Result(
                    "europanel count, GT only (genotype_qc all null: raw counts, every group)",
                    "europanel count ... --settings <genotype_qc criteria null, histograms false>",
                ),
                lambda b: self.count_command(b, out="gt_only", histograms=False, gt_only=True),
            )
        )
        (aux / "plink").mkdir(exist_ok=True)
        return tools

    def count_stage(self) -> None:
        self.log(f"count stage: {len(self.bcfs)} normalised BCFs, one core")
        tools = self.count_tools()
        inprocess = Result(
            "europanel count_bcf in one process, all BCFs (no interpreter start-up per BCF)",
            f"{Path(self.python).name} -m europanel_dev.bench count-many <BCFs>",
        )
        self.inprocess_work: list[float] = []
        # The same tools on one BCF per cohort (the chunks concatenated): start-up amortised.
        whole = [
            (Result(result.name, result.command), command_of)
            for result, command_of in (tools[i] for i in (0, 1, 2, 4))
        ]
        self.loads["count stage (start)"] = load()
        for run in range(self.runs):
            for result, command_of in tools:
                total = Measure()
                for bcf in self.bcfs:
                    total = total + measure(command_of(bcf), env=self.env)
                result.runs.append(total)
                self.log(f"  run {run + 1}: {result.name[:40]}: {total.wall:.1f} s")
            for result, command_of in whole:
                total = Measure()
                for bcf in self.whole.values():
                    total = total + measure(command_of(bcf), env=self.env)
                result.runs.append(total)
            report = self.aux / "count_many.json"
            inprocess.runs.append(
                measure(
                    f"{self.python} -m europanel_dev.bench count-many "
                    f"--samples {self.data}/samples.tsv "
                    f"--settings {self.settings_file(histograms=False)} --report {report} "
                    + " ".join(map(str, self.bcfs)),
                    env=self.env,
                )
            )
            self.inprocess_work.append(json.loads(report.read_text())["seconds"])
        self.loads["count stage (end)"] = load()
        self.count_results = [t[0] for t in tools] + [inprocess]
        self.whole_results = [w[0] for w in whole]
        self.startup = statistics.median(
            measure(f"{self.python} -c 'import europanel.cli'", env=self.env).cpu for _ in range(5)
        )

    def histogram_cost(self) -> None:
        """The count CLI on every chunk BCF with the quality histograms off and on
        (issue 15: on at most 1.3x off), interleaved run by run."""
        self.log("count stage: site_annotations.histograms off vs on")
        results = {
            False: Result("europanel count, histograms off", "europanel count ... (as above)"),
            True: Result(
                "europanel count, histograms on",
                "europanel count ... (settings: site_annotations.histograms true)",
            ),
        }
        for _ in range(self.runs):
            for on, result in results.items():
                total = Measure()
                for bcf in self.bcfs:
                    command = self.count_command(bcf, out="histograms", histograms=on)
                    total = total + measure(command, env=self.env)
                result.runs.append(total)
        self.histograms = results

    def big_cohort(self) -> None:
        """One simulated cohort of 20,000 samples on a short region through the workflow's
        count stage: count's peak RSS (snakemake's benchmark file) against the mem_mb the
        job declares (the dry run's resources), block_size left to the workflow."""
        from europanel_dev.simulate import simulate

        samples = BIG_COHORT["samples"]
        length = BIG_COHORT["quick_length" if self.args.quick else "length"]
        data = self.workdir / "big_cohort"
        summary_path = data / "simulation.json"
        reuse = summary_path.exists() and not self.args.resimulate
        if reuse:
            summary = json.loads(summary_path.read_text())
            reuse = summary["samples_per_cohort"] == samples and summary["length"] == length
        if not reuse:
            shutil.rmtree(data, ignore_errors=True)
            self.log(f"big cohort: simulating 1 cohort x {samples:,} samples x {length:,} bp")
            simulate(
                data, 1, samples, length, self.args.seed, chunk_size=length, threads=2, log=self.log
            )
        config = data / "config.yaml"
        text = config.read_text()
        # block_size from the job's mem_mb where the schema allows it (null), else the default.
        if "block_size:" in text and schema_allows_null_block_size():
            text = "\n".join(
                "block_size: null" if line.startswith("block_size:") else line
                for line in text.splitlines()
            )
            config.write_text(text + "\n")
        block = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in text.splitlines()
                if ln.startswith("block_size")
            ),
            "schema default",
        )
        self.log("big cohort: counting (snakemake, 1 core)")
        shutil.rmtree(data / "results", ignore_errors=True)
        command = self.snakemake_command(data, cores=1, targets="all_bundles")
        dry = subprocess.run(
            self.snakemake_command(
                data, cores=1, targets="all_bundles", options="--dry-run", quiet=False
            ),
            shell=True,
            cwd=data,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        declared = declared_mem_mb(dry)
        run = measure(command, cwd=data, env=self.env)
        totals = self.per_rule_totals(data)
        records = json.loads(summary_path.read_text())["records_per_cohort"]
        self.big = {
            "samples": samples,
            "length": length,
            "records": sum(records.values()),
            "block_size": block,
            "used_block_size": used_block_size(data / "results" / "logs" / "count"),
            "declared_mem_mb": declared,
            "rules": totals,
            "wall": run.wall,
        }

    def scaling(self) -> None:
        """Per-unit costs measured above, applied to the SCALING.md model (SCALE_MODEL)."""
        plan = self.job_plan()
        n_chunks = len(list((self.data / "results" / "merged").glob("*.summary.json")))
        self.scale = scale_plan(
            plan,
            split_merge(self.rule_totals, self.piece_cpu),
            n_cohorts=len(self.cohorts),
            n_chunks=n_chunks,
            genotypes=self.summary["genotypes"],
            cohort_records=sum(self.summary["records_per_cohort"].values()),
            panel_records=panel_records(self.data),
            merge_us=self.merge["us_per_site_cohort"],
            groups=panel_group_count(self.data / "samples.tsv"),
            bcftools_cpu=self.e2e[1].cpu,
        )

    def memory_grid(self) -> None:
        """Exact peak memory (the process's own maximum resident set, from getrusage) of
        `europanel count` at two block sizes on three region lengths: one chunk, the whole
        contig, and the whole contig three times over (one BCF, 12x a chunk's records)."""
        self.log("count-stage peak memory: block sizes x region lengths")
        cohort = self.cohorts[0]
        chunk_bcf = next(bcf for bcf in self.bcfs if bcf.parent.name == cohort)
        thrice = self.aux / "whole_x3" / f"{cohort}.bcf"
        thrice.parent.mkdir(exist_ok=True)
        subprocess.run(
            [
                "bcftools",
                "concat",
                "--no-version",
                "-Ou",
                "-o",
                str(thrice),
                *[str(self.whole[cohort])] * 3,
            ],
            check=True,
            capture_output=True,
        )
        whole_records = self.notes["records"][cohort]
        blocks = [self.preset["block_size"] // 5, self.preset["block_size"]]
        length = self.preset["length"] / 1e6
        regions = [
            (f"one chunk ({self.preset['chunk_size'] / 1e6:g} Mb)", chunk_bcf, None),
            (f"whole contig ({length:g} Mb)", self.whole[cohort], whole_records),
            (
                f"whole contig three times over ({3 * length:g} Mb of records)",
                thrice,
                3 * whole_records,
            ),
        ]
        self.grid = []
        for label, bcf, records in regions:
            if records is None:
                records = int(
                    subprocess.run(
                        ["bcftools", "index", "-n", str(bcf)],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
            for block in blocks:
                runs = [
                    self.exact_peak(self.count_command(bcf, block, out="grid"))
                    for _ in range(self.runs)
                ]
                self.grid.append(
                    {
                        "region": label,
                        "records": records,
                        "block": block,
                        "peak_mb": max(m.peak_mb for m in runs),
                        "wall": statistics.median(m.wall for m in runs),
                    }
                )
        self.grid_samples = self.preset["samples"]
        # Baseline: the interpreter with the count stage's modules loaded, counting nothing.
        self.baseline_mb = self.exact_peak(
            f"{self.python} -c "
            "'import europanel.cli, europanel.stages.count, pyarrow.parquet, isal'"
        ).peak_mb

    def exact_peak(self, command: str) -> Measure:
        """`measure`, with the peak taken from getrusage (exact) instead of sampling."""
        report = self.aux / "maxrss.txt"
        wrapper = (
            "import resource, subprocess, sys; "
            "code = subprocess.call(['bash', '-c', sys.argv[1]]); "
            "open(sys.argv[2], 'w').write(str(resource.getrusage("
            "resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)"
        )
        result = measure(
            f"{self.python} -S -c {shlex.quote(wrapper)} {shlex.quote(command)} {report}",
            env=self.env,
        )
        result.peak_mb = int(report.read_text()) / 1024  # KiB on Linux
        return result

    # -- profiles -------------------------------------------------------------

    def profiles(self) -> None:
        import pstats

        self.log("profiles: count of one BCF (cProfile), one workflow count job (its steps)")
        bcf = self.bcfs[0]
        profile = self.aux / "count.prof"
        command = self.count_command(bcf).replace(
            "europanel count", f"{self.python} -m cProfile -o {profile} -m europanel.cli count"
        )
        measure(command, env=self.env)
        stats = pstats.Stats(str(profile))
        self.count_profile = profile_summary(stats)
        report = self.aux / "count_job_steps.json"
        measure(
            f"{self.python} -m europanel_dev.bench count-job-steps --data {self.data} "
            f"--cohort {bcf.parent.name} --chunk {bcf.stem} "
            f"--settings {self.settings_file()} --report {report}",
            env=self.env,
        )
        self.job_steps = json.loads(report.read_text())

    # -- the report -----------------------------------------------------------

    def run(self) -> None:
        self.check_tools()
        self.log(
            f"workdir {self.workdir}; preset {'quick' if self.args.quick else 'default'}; "
            f"{self.runs} runs"
        )
        self.loads["start"] = load()
        self.simulate()
        self.write_group_files()
        self.end_to_end()
        self.national_end_to_end()
        self.merge_cost()
        self.publish_stage()
        self.scaling()
        self.count_inputs()
        self.count_stage()
        self.histogram_cost()
        self.memory_grid()
        self.big_cohort()
        self.profiles()
        self.total = time.monotonic() - self.started
        self.loads["end"] = load()
        text = render(self)
        output = Path(self.args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        self.log(f"wrote {output} ({self.total:.0f} s in all)")


# ---------------------------------------------------------------------------
# Job plan and the Genome-of-Europe model (pure functions)
# ---------------------------------------------------------------------------


PANEL_PIECE = "merge (panel piece)"


def merge_piece_cpu(data: Path) -> float:
    """CPU s the merge jobs spent writing the panel's pieces (each job logs it)."""
    from europanel.commands.panel import PIECE_CPU

    total = 0.0
    for log in (data / "results" / "logs" / "merge").glob("*.log"):
        for line in log.read_text().splitlines():
            if line.startswith(PIECE_CPU):
                total += float(line.removeprefix(PIECE_CPU))
    return total


def split_merge(rule_totals: dict, piece_cpu: float) -> dict:
    """Rule totals with the merge jobs' CPU split in two: merging (per site x cohort) and
    writing the panel's pieces (publishing, per panel record) under PANEL_PIECE."""
    if "merge" not in rule_totals or not piece_cpu:
        return rule_totals
    merge = rule_totals["merge"]
    split = dict(rule_totals)
    split["merge"] = merge | {"cpu": merge["cpu"] - piece_cpu}
    split[PANEL_PIECE] = merge | {"cpu": piece_cpu, "seconds": piece_cpu}
    return split


def parse_job_stats(dry_run: str) -> dict[str, int]:
    """Jobs per rule from snakemake's dry-run 'Job stats' table."""
    jobs: dict[str, int] = {}
    lines = dry_run.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Job stats")), None)
    if start is None:
        return jobs
    for line in lines[start + 1 :]:
        fields = line.split()
        if not fields:
            if jobs:
                break
            continue
        if len(fields) == 2 and fields[1].isdigit() and fields[0] not in ("job", "total"):
            jobs[fields[0]] = int(fields[1])
    return jobs


def declared_mem_mb(dry_run: str, rule: str = "count") -> int | None:
    """The largest mem_mb a rule's jobs declare in a dry run (`resources: ... mem_mb=N`)."""
    found, in_rule = [], False
    for line in dry_run.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")):
            in_rule = stripped.split()[1].rstrip(":") == rule
        elif in_rule and stripped.startswith("resources:"):
            for item in stripped.removeprefix("resources:").split(","):
                key, _, value = item.strip().partition("=")
                if key == "mem_mb" and value.isdigit():
                    found.append(int(value))
    return max(found) if found else None


def count_settings(config_path: Path) -> dict:
    """The count stage's settings for a config file, as the workflow builds them: the
    config validated with the schema's defaults filled in, then stage_settings."""
    import yaml
    from snakemake.utils import validate

    from europanel.settings import stage_settings

    config = yaml.safe_load(Path(config_path).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return stage_settings(config, "count")


def used_block_size(count_logs: Path) -> int | None:
    """The block size a count job derived from its mem_mb (its log's first line, when
    block_size is null), or None."""
    for log in sorted(count_logs.rglob("*.log")):
        for line in log.read_text().splitlines():
            if line.startswith("block_size ") and "from mem_mb" in line:
                return int(line.split()[1])
    return None


def schema_allows_null_block_size() -> bool:
    """Whether config block_size may be null (block size then follows from mem_mb)."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    kind = schema["properties"].get("block_size", {}).get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def panel_records(data: Path) -> int:
    """Records of the published panel (the merge summaries' `records`)."""
    return sum(
        json.loads(p.read_text())["records"]
        for p in (data / "results" / "merged").glob("*.summary.json")
    )


def panel_group_count(samples_tsv: Path) -> int:
    """Groups of the panel: cohorts, populations, 2 sexes, populations x sexes."""
    import pandas as pd

    samples = pd.read_csv(samples_tsv, sep="\t", dtype=str)
    populations = samples["population"].nunique()
    return samples["cohort"].nunique() + populations + 2 + 2 * populations


def chunks_of(lengths: dict[str, int], chunk_size: int) -> int:
    """Chunks the workflow cuts: per contig, ceil(length / chunk_size)."""
    return sum(-(-length // chunk_size) for length in lengths.values())


def rule_kinds(plan: dict[str, int], n_cohorts: int, n_chunks: int) -> dict[str, str]:
    """Each rule's unit of work, from its job count in the bench's plan: one job per
    cohort x chunk, per chunk, per cohort, or a fixed number."""
    kinds = {}
    for rule, jobs in plan.items():
        if rule == "all":
            continue
        if jobs == n_cohorts * n_chunks:
            kinds[rule] = "cohort x chunk"
        elif jobs == n_chunks:
            kinds[rule] = "chunk"
        elif jobs == n_cohorts:
            kinds[rule] = "cohort"
        else:
            kinds[rule] = "fixed"
    return kinds


def scale_jobs(kinds: dict[str, str], plan: dict[str, int], cohorts: int, chunks: int) -> int:
    """Jobs of the whole run at another scale (rule kinds from `rule_kinds`)."""
    per = {"cohort x chunk": cohorts * chunks, "chunk": chunks, "cohort": cohorts}
    return sum(per.get(kind, plan[rule]) for rule, kind in kinds.items())


def scale_plan(
    plan,
    rule_totals,
    n_cohorts,
    n_chunks,
    genotypes,
    cohort_records,
    panel_records,
    merge_us,
    groups,
    bcftools_cpu,
) -> dict:
    """The SCALING.md model priced with the bench's measured costs.

    CPU: rules run per cohort x chunk cost per input genotype; per-cohort rules per cohort
    record; merge per site x cohort, times the model's groups / the bench's (its work per
    site is linear in the groups); every other rule per panel record, also times the groups
    ratio (publish writes a field per group). The bcftools pipeline: its CPU per genotype.
    The bench's small jobs carry more start-up per genotype than the model's, so the
    per-genotype costs are upper bounds."""
    m = SCALE_MODEL
    kinds = rule_kinds(plan, n_cohorts, n_chunks)
    group_ratio = m["groups"] / max(1, groups)
    model_genotypes = m["cohorts"] * m["records_per_cohort"] * m["genomes"] / m["cohorts"]
    units = {
        "cohort x chunk": ("input genotype", genotypes, model_genotypes, 1.0),
        "cohort": ("cohort record", cohort_records, m["cohorts"] * m["records_per_cohort"], 1.0),
    }
    rows = []
    for rule, total in sorted(rule_totals.items()):
        # The panel's pieces are written by the merge jobs: one per chunk.
        kind = kinds.get("merge" if rule == PANEL_PIECE else rule, "fixed")
        if rule == "merge":
            unit, per_unit = "site x cohort", merge_us * 1e-6 * group_ratio
            cpu_h = per_unit * m["panel_records"] * m["cohorts"] / 3600
        else:
            unit, measured_units, model_units, ratio_ = units.get(
                kind, ("panel record", panel_records, m["panel_records"], group_ratio)
            )
            per_unit = total["cpu"] / max(1, measured_units) * ratio_
            cpu_h = per_unit * model_units / 3600
        rows.append(
            {"rule": rule, "kind": kind, "unit": unit, "us": 1e6 * per_unit, "cpu_h": cpu_h}
        )
    bcftools_us = 1e6 * bcftools_cpu / max(1, genotypes)
    plans = []
    for chunk_size in SCALE_CHUNK_SIZES:
        chunks = chunks_of(GRCH38_LENGTHS, chunk_size)
        plans.append(
            {
                "chunk_size": chunk_size,
                "chunks": chunks,
                "jobs": scale_jobs(kinds, plan, m["cohorts"], chunks),
                "records_per_job": m["records_per_cohort"]
                * chunk_size
                / sum(GRCH38_LENGTHS.values()),
            }
        )
    return {
        "rows": rows,
        "kinds": kinds,
        "cpu_h": sum(r["cpu_h"] for r in rows),
        "bcftools_us": bcftools_us,
        "bcftools_cpu_h": bcftools_us * 1e-6 * model_genotypes / 3600,
        "genotypes": model_genotypes,
        "plans": plans,
        "group_ratio": group_ratio,
    }


# ---------------------------------------------------------------------------
# Helpers run as child processes (`python -m europanel_dev.bench ...`)
# ---------------------------------------------------------------------------


def allel_counts(vcf: str, subpops_json: str) -> None:
    """scikit-allel: read GT from a VCF.gz, allele counts per group."""
    import allel

    groups = json.loads(Path(subpops_json).read_text())
    callset = allel.read_vcf(vcf, fields=["samples", "calldata/GT"])
    if callset is None:
        return
    index = {s: i for i, s in enumerate(callset["samples"])}
    subpops = {g: [index[s] for s in members if s in index] for g, members in groups.items()}
    genotypes = allel.GenotypeArray(callset["calldata/GT"])
    genotypes.count_alleles_subpops(subpops, max_allele=1)


def count_many(bcfs: list[str], samples_tsv: str, settings_path: str, report: str) -> None:
    """Count several BCFs in one process; report the seconds spent counting (no start-up)."""
    import pandas as pd

    from europanel.commands.common import ploidy_map
    from europanel.core.counting import GenotypeQC
    from europanel.settings import load_settings
    from europanel.stages.count import count_bcf_to_parquet

    settings = load_settings(settings_path, "count")
    samples = pd.read_csv(samples_tsv, sep="\t", dtype=str)
    ploidy = ploidy_map(settings["reference"])
    sink = open(os.devnull, "w")
    start = time.monotonic()
    for bcf in bcfs:
        cohort = Path(bcf).parent.name
        rows = samples[samples["cohort"] == cohort].reset_index(drop=True)
        out = Path(report).with_suffix(".parquet")
        count_bcf_to_parquet(
            bcf,
            rows,
            ploidy,
            GenotypeQC(**settings["genotype_qc"]),
            str(out),
            f"{out}.json",
            block_size=settings["block_size"],
            log=sink,
            histograms=settings["site_annotations"]["histograms"],
        )
    Path(report).write_text(json.dumps({"seconds": time.monotonic() - start}))


def count_job_steps(
    data: str, cohort: str, chunk_name: str, settings_path: str, report: str
) -> None:
    """Run one workflow count job (`normalise_and_count`) in-process, timing each bcftools
    step of its normalisation (pysam, in-process htslib) and its counting."""
    import tempfile

    import pandas as pd

    from europanel.commands.common import ploidy_map
    from europanel.core.counting import GenotypeQC
    from europanel.core.regions import chunk_by_name, read_fai
    from europanel.settings import load_settings
    from europanel.stages import count_chunk, normalise

    settings = load_settings(settings_path, "count")
    data_path = Path(data)
    fasta = str(data_path / "reference.fa")
    samples = pd.read_csv(data_path / "samples.tsv", sep="\t", dtype=str)
    rows = samples[samples["cohort"] == cohort].reset_index(drop=True)
    lengths = read_fai(fasta)
    inputs = [normalise.input_contigs(str(data_path / "vcf" / f"{cohort}.vcf.gz"), set(lengths))]
    chunk = chunk_by_name(chunk_name, lengths, settings["chunk_size"])
    steps: dict[str, float] = {}
    original_bcftools = normalise.run_bcftools
    original_count = count_chunk.count_bcf_to_parquet
    original_window = normalise.annotate_window

    def cpu() -> float:
        """This process's CPU and its waited-for children's (region_text inflates the
        window's text in a second process)."""
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    in_window = []  # non-empty while annotate_window runs: its bcftools call is timed there

    def timed_window(*args, **kwargs):
        start = cpu()
        in_window.append(True)
        try:
            return original_window(*args, **kwargs)
        finally:
            in_window.pop()
            name = "bcftools annotate --rename-chrs -Ou (the window's text inflated by region_text)"
            steps[name] = steps.get(name, 0.0) + cpu() - start

    def timed_bcftools(command, *args):
        start = cpu()
        try:
            return original_bcftools(command, *args)
        finally:
            flags = [
                a
                for a in args
                if a in ("-d", "-m", "-r", "-t", "--rename-chrs", "--write-index")
                or a.startswith("-O")
            ]
            name = "bcftools " + " ".join([getattr(command, "dispatch", str(command)), *flags])
            if not in_window:
                steps[name] = steps.get(name, 0.0) + cpu() - start

    def timed_count(*args, **kwargs):
        start = cpu()
        try:
            return original_count(*args, **kwargs)
        finally:
            steps["count (numpy core, Parquet)"] = cpu() - start

    normalise.run_bcftools = timed_bcftools
    normalise.annotate_window = timed_window
    count_chunk.count_bcf_to_parquet = timed_count
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = cpu()
            count_chunk.normalise_and_count(
                inputs,
                chunk,
                rows,
                fasta,
                ploidy_map(settings["reference"]),
                GenotypeQC(**settings["genotype_qc"]),
                {
                    "counts": f"{tmp}/counts.parquet",
                    "count_stats": f"{tmp}/counts.json",
                    "normalise_stats": f"{tmp}/normalise.json",
                },
                block_size=settings["block_size"],
                normalise=settings["normalise"],
                histograms=settings["site_annotations"]["histograms"],
                log=open(os.devnull, "w"),
            )
            total = cpu() - start
    finally:
        normalise.run_bcftools = original_bcftools
        normalise.annotate_window = original_window
        count_chunk.count_bcf_to_parquet = original_count
    steps["the rest (sheet, header checks, stats)"] = total - sum(steps.values())
    Path(report).write_text(json.dumps({"steps": steps, "total": total}))


def profile_summary(stats) -> dict:
    """Seconds per part of a count job, from cProfile's cumulative times of its functions."""

    def cumulative(filename: str, function: str) -> float:
        return sum(
            ct
            for (f, _, name), (_, _, _, ct, _) in stats.stats.items()
            if f.endswith(filename) and name == function
        )

    total = sum(value[2] for value in stats.stats.values())  # own times add up to the whole
    counting = cumulative("count.py", "count_bcf_to_parquet")
    reading = cumulative("bcf.py", "blocks")
    inflate = cumulative("bcf.py", "inflate_bgzf")
    decode = cumulative("bcf.py", "_decode") + cumulative("bcf.py", "join_blocks")
    parts = {
        "start-up: imports, arguments, sample sheet (outside the counting call)": total - counting,
        "inflate BGZF (ISA-L)": inflate,
        "decode records: sites, FORMAT bytes copied out (bcf.py)": decode,
        "find records, join the inflated data (bcf.py)": reading - inflate - decode,
        "fill the block: GT codes, widen DP/GQ/AD (count.py)": cumulative("count.py", "fill_block"),
        "count: classes, adj, bincount, groups (count_block)": cumulative(
            "count.py", "count_block"
        ),
        "output: Arrow table, Parquet row groups": (
            cumulative("count.py", "site_table") + cumulative("core.py", "write_table")
        ),
    }
    parts["the rest of the counting call"] = counting - sum(list(parts.values())[1:])
    top = sorted(
        (
            (tt, f"{Path(f).name}:{name}" if f != "~" else name)
            for (f, _, name), (_, _, tt, _, _) in stats.stats.items()
        ),
        reverse=True,
    )
    return {"parts": parts, "top": top[:12], "total": total, "counting": counting}


# ---------------------------------------------------------------------------
# Writing BENCHMARKS.md
# ---------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for package in (
        "europanel",
        "snakemake",
        "numpy",
        "pandas",
        "pyarrow",
        "pysam",
        "cyvcf2",
        "isal",
        "scikit-allel",
        "msprime",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    import pysam

    found["htslib (pysam)"] = pysam.version.__htslib_version__
    found["bcftools (Debian)"] = subprocess.run(
        ["bcftools", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    found["plink2 (Debian)"] = subprocess.run(
        ["plink2", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return found


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(
            line
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{int(mem.split()[1]) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def verdict(value: float, limit: float) -> str:
    return "**met**" if value <= limit else "not met"


def render(bench: Bench) -> str:
    ours_e2e, bcftools_e2e = bench.e2e
    count_cli = bench.count_results[0]
    view, an_ac, fill_tags, plink, allel_, gt_only = bench.count_results[1:7]
    inprocess = bench.count_results[7]
    work = statistics.median(bench.inprocess_work)
    s = bench.summary
    preset = "quick" if bench.args.quick else "default"
    out = []
    w = out.append
    w("# Benchmarks\n")
    w(
        f"Written by `make bench` (`europanel-dev bench{' --quick' if bench.args.quick else ''}`); "
        "every number below comes from that one run. Medians of "
        f"{bench.runs} runs (tools interleaved run by run); peak memory is the largest "
        "resident memory of the command's process tree, sampled every 20 ms. CPU is user + "
        "system time of the command and its children. No test asserts any of these numbers.\n"
    )
    if RETRIED:
        w(f"Commands that failed once and were run again: {len(RETRIED)} (see the log).\n")
    w(
        f"**The whole `make bench` took {bench.total / 60:.1f} min** "
        f"({bench.total:.0f} s, of which simulating the dataset "
        f"{'(reused from an earlier run)' if bench.notes.get('simulation_reused') else ''}"
        f"{s['seconds']:.0f} s when it was made).\n"
    )

    w("## Machine and versions\n")
    for key, value in machine().items():
        w(f"- {key}: {value}")
    w(
        "- load average (1 / 5 / 15 min) at each step: "
        + "; ".join(f"{k}: {v}" for k, v in bench.loads.items())
    )
    w(
        "- other jobs may have been running: see the load averages; CPU seconds are less "
        "affected by a busy machine than wall seconds"
    )
    w("")
    for key, value in versions().items():
        w(f"- {key}: {value}")
    w("")

    w("## Dataset\n")
    w(
        f"`europanel-dev simulate` (msprime; preset `{preset}`): {len(s['cohorts'])} cohorts "
        f"({', '.join(s['cohorts'])}) x {s['samples_per_cohort']} samples, "
        f"{s['length'] / 1e6:g} Mb of `{s['contig']}`, seed {s['seed']}. Countries split off a "
        "common ancestor 2,000 to 1,000 generations ago, Ne 10,000 each, migration 5e-5, "
        "mu 1.25e-8, r 1e-8; 5% of each cohort sampled from a neighbouring country. "
        f"{s['sites_simulated']:,} segregating sites ({s['indels']:,} made indels, "
        f"{s['multiallelic']:,} made multiallelic); each cohort's VCF holds the sites it carries "
        f"({', '.join(f'{c}: {n:,}' for c, n in s['records_per_cohort'].items())} records), "
        f"{s['genotypes']:,} genotypes with GT:AD:DP:GQ in all (the panel's sites x samples "
        f"matrix is {s['sites_simulated'] * s['samples_per_cohort'] * len(s['cohorts']):,}). "
        f"Pipeline config: chunk_size {bench.preset['chunk_size']:,}, block_size "
        f"{bench.preset['block_size']:,}, so {len(bench.bcfs)} normalised BCFs.\n"
    )

    w("## End to end, 2 cores\n")
    out += race_table(ours_e2e, bcftools_e2e)
    w("")
    w("Commands:\n")
    w(f"```\n{ours_e2e.command}\nbash bcftools_pipeline.sh\n```\n")
    w("`bcftools_pipeline.sh` (written by the bench):\n")
    w("```bash\n" + (bench.workdir / "bcftools_pipeline.sh").read_text() + "```\n")
    w(
        "What europanel does that the bcftools pipeline does not: chunks (the unit of "
        "parallelism), REF checked against the FASTA, records owned by their normalised "
        "position, raw and adj (GQ, DP, allele balance) counts, nhomalt, nhemi, ploidy by sex, "
        "absent-site policy, AF, faf95/faf99, grpmax, privacy rules, portable bundles, a "
        "Parquet copy and the QC report.\n"
    )
    w(render_national(bench))
    w(
        "Where the time goes (last run, from snakemake's per-job benchmark files; seconds "
        "summed over jobs, two jobs at a time):\n"
    )
    w("| rule | jobs | job seconds | CPU s | largest job MB |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for rule, t in sorted(bench.rule_totals.items(), key=lambda kv: -kv[1]["seconds"]):
        w(f"| {rule} | {t['jobs']} | {t['seconds']:.1f} | {t['cpu']:.1f} | {t['max_rss']:.0f} |")
    w("")
    w(render_merge_publish(bench))
    w(render_count_job_steps(bench))

    w("## Count stage, one core\n")
    w(
        f"Every tool on the same {len(bench.bcfs)} normalised BCFs of the pipeline run "
        "(GT:AD:DP:GQ), one process per BCF, one after another; seconds are the sum over "
        "BCFs. scikit-allel reads the same records as VCF.gz (it cannot read BCF; converted "
        "beforehand, not timed).\n"
    )
    w("| tool | wall s | CPU s | peak MB | europanel count / tool (wall) |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for r in [count_cli, gt_only, view, an_ac, fill_tags, plink, allel_, inprocess]:
        w(
            f"| {r.name} | {r.wall:.2f} | {r.cpu:.2f} | {r.peak_mb:.0f} | "
            f"{ratio(count_cli.wall, r.wall)} |"
        )
    w("")
    w(
        f"The same on one BCF per cohort ({len(bench.whole)} BCFs of "
        f"{bench.preset['length'] / 1e6:g} Mb: the chunks concatenated, as with chunk_size = "
        "the contig), where each process has 4x more to do:\n"
    )
    w("| tool | wall s | CPU s | peak MB | europanel count / tool (wall) |")
    w("| --- | ---: | ---: | ---: | ---: |")
    ours_whole = bench.whole_results[0]
    for r in bench.whole_results:
        w(
            f"| {r.name} | {r.wall:.2f} | {r.cpu:.2f} | {r.peak_mb:.0f} | "
            f"{ratio(ours_whole.wall, r.wall)} |"
        )
    w("")
    w(
        f"- counting alone, inside one process (time spent in `count_bcf_to_parquet`, no "
        f"interpreter start-up): **{work:.2f} s** for all {len(bench.bcfs)} BCFs: "
        f"{ratio(work, an_ac.wall)} `+fill-AN-AC`, {ratio(work, view.wall)} `bcftools view`"
    )
    w(
        f"- interpreter start-up (`import europanel.cli`: Python, numpy, pyarrow): "
        f"{bench.startup:.2f} CPU s per process, x {len(bench.bcfs)} BCFs = "
        f"{bench.startup * len(bench.bcfs):.1f} s of the CLI's total"
    )
    w("")
    w("Commands (`<BCF>` each normalised BCF, `<C>` its cohort):\n")
    w("```")
    for r in [count_cli, gt_only, view, an_ac, fill_tags, plink, allel_, inprocess]:
        w(r.command)
    w("```\n")

    w("### Targets\n")
    whole_ours, whole_view, whole_an_ac, whole_plink = bench.whole_results
    targets = [
        (
            "count GT only <= 1.5x `+fill-AN-AC`: CLI, one process per chunk BCF",
            gt_only.wall / an_ac.wall,
            1.5,
        ),
        (
            "count raw + adj <= 1.5x `+fill-AN-AC`: CLI, one process per chunk BCF",
            count_cli.wall / an_ac.wall,
            1.5,
        ),
        (
            "count <= 1.5x `+fill-AN-AC`: CLI, one process per cohort BCF",
            whole_ours.wall / whole_an_ac.wall,
            1.5,
        ),
        (
            "count <= 1.5x `+fill-AN-AC`: counting alone (one process, all chunk BCFs)",
            work / an_ac.wall,
            1.5,
        ),
        ("count <= plink2 import + freq: per chunk BCF", count_cli.wall / plink.wall, 1.0),
        ("count <= plink2 import + freq: per cohort BCF", whole_ours.wall / whole_plink.wall, 1.0),
        (
            "count raw + adj <= 0.25x `+fill-tags -S` (per chunk BCF)",
            count_cli.wall / fill_tags.wall,
            0.25,
        ),
        ("count <= 0.1x scikit-allel (per chunk BCF)", count_cli.wall / allel_.wall, 0.1),
        (
            "end to end <= 0.8x the bcftools pipeline (goal 0.7x)",
            ours_e2e.wall / bcftools_e2e.wall,
            0.8,
        ),
        *issue_12_targets(bench),
    ]
    bench.targets = targets
    w("| target | measured | verdict |")
    w("| --- | ---: | --- |")
    for name, value, limit in targets:
        w(f"| {name} | {value:.2f}x | {verdict(value, limit)} |")
    w("")

    w(render_histograms(bench))
    w("## Count-stage peak memory\n")
    w(
        f"`europanel count` on cohort {bench.cohorts[0]} ({bench.grid_samples} samples): one "
        "chunk's BCF, the whole contig's (the chunks concatenated) and that three times over in "
        "one BCF, at two block sizes. Peak = the process's maximum resident set (getrusage), "
        "exact.\n"
    )
    w("| region | records | block_size | peak MB | wall s |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for g in bench.grid:
        w(
            f"| {g['region']} | {g['records']:,} | {g['block']:,} | {g['peak_mb']:.0f} | "
            f"{g['wall']:.2f} |"
        )
    w("")
    small, large = bench.grid[0], bench.grid[1]
    per_genotype = (
        (large["peak_mb"] - small["peak_mb"])
        * 2**20
        / max(1, (large["block"] - small["block"]) * bench.grid_samples)
    )
    # grid rows: (region 0..2) x (small, large block)
    tripled = max(
        (bench.grid[4 + i]["peak_mb"] - bench.grid[2 + i]["peak_mb"]) / bench.grid[2 + i]["peak_mb"]
        for i in range(2)
    )
    extra = max((bench.grid[2 + i]["peak_mb"] - bench.grid[i]["peak_mb"]) for i in range(2))
    more = bench.grid[2]["records"] / bench.grid[0]["records"]
    w(
        f"Region length: from one chunk to the whole contig ({more:.1f}x the records) the peak "
        f"rises by at most {extra:.0f} MB, "
        f"and tripling the records again adds {tripled:.0%} "
        f"({verdict(tripled, 0.10).strip('*')}: flat if under 10%). No genotype data is kept: "
        "the reader holds one block and one read of the file, and each block's counts are "
        "written out as a Parquet row group before the next is read. What rises is the "
        "allocator's high-water mark settling (buffers of varying sizes freed and reused) and "
        "the Parquet footer, which keeps each row group's column statistics until the file is "
        "closed (~10 KB serialized per block of ~100 count columns).\n"
    )
    w(
        f"From the two block sizes: about **{per_genotype:.0f} bytes per genotype of a block** "
        f"on top of a fixed ~{bench.baseline_mb:.0f} MB (the interpreter with numpy, pandas and "
        "pyarrow loaded):\n"
    )
    w(
        f"    peak ≈ base (~{bench.baseline_mb:.0f} MB) + {per_genotype:.0f} B x samples"
        " x block_size + inflate buffer (~40 MB)\n"
    )
    w(
        "The region length does not enter the formula. The per-genotype "
        "bytes are the block's arrays (2 B of alleles and 4 x 2 B of DP, GQ, AD ref/alt, "
        "16-bit unless a record stores a value that needs 32) plus the stored FORMAT bytes of "
        "the decoded records and the temporaries of one counting "
        "pass, which are bounded separately (2^18 genotypes at a time).\n"
    )

    w(render_big_cohort(bench))
    w("## Where the count stage's time goes\n")
    p = bench.count_profile
    w(
        f"cProfile of one `europanel count` job ({bench.bcfs[0].parent.name} "
        f"{bench.bcfs[0].stem}; profiled, so slower than above): time per part, from the "
        f"cumulative times of the functions doing it (total {p['total']:.2f} s, of which the "
        f"counting call {p['counting']:.2f} s):\n"
    )
    w("| part | seconds | share |")
    w("| --- | ---: | ---: |")
    for name, sec in sorted(p["parts"].items(), key=lambda kv: -kv[1]):
        w(f"| {name} | {sec:.3f} | {sec / p['total']:.0%} |")
    w("")
    w("Top functions by own time:\n")
    w("| seconds | function |")
    w("| ---: | --- |")
    for sec, label in p["top"]:
        w(f"| {sec:.3f} | `{label}` |")
    w("")

    w(render_scaling(bench))
    w("## Closing note\n")
    w(closing_note(bench, targets, work, per_genotype))
    return "\n".join(out) + "\n"


def issue_12_targets(bench) -> list[tuple[str, float, float]]:
    """Issue 12's other "done when" lines, as (name, measured ratio, limit)."""
    targets = []
    two, one = bench.publish[2], bench.publish[1]
    start = bench.publish_overhead.wall
    if one.wall - start > 0:
        targets.append(
            (
                "publish on 2 cores <= 0.6x the same jobs serially (snakemake start-up out)",
                max(0.0, two.wall - start) / (one.wall - start),
                0.6,
            )
        )
    targets.append(
        (
            "merge CPU per site x cohort <= 1/4 of the old ~19 µs (job start-up included)",
            bench.merge["us_per_site_cohort"] / 19.0,
            0.25,
        )
    )
    peak = bench.big["rules"].get("count", {}).get("max_rss")
    if peak and bench.big["declared_mem_mb"]:
        targets.append(
            (
                f"count peak RSS at {bench.big['samples']:,} samples / its declared mem_mb",
                peak / bench.big["declared_mem_mb"],
                1.0,
            )
        )
    scale = bench.scale
    targets.append(
        (
            "Genome-of-Europe CPU-h <= the bcftools pipeline's (docs/SCALING.md model)",
            scale["cpu_h"] / scale["bcftools_cpu_h"],
            1.0,
        )
    )
    return targets


def race_table(ours, theirs) -> list[str]:
    """The end-to-end race as a table: wall and CPU of both, the wall ratio to bcftools."""
    return [
        "| pipeline | wall s | CPU s | peak MB | ratio (wall) to bcftools |",
        "| --- | ---: | ---: | ---: | ---: |",
    ] + [
        f"| {r.name} | {r.wall:.1f} | {r.cpu:.1f} | {r.peak_mb:.0f} | "
        f"{ratio(r.wall, theirs.wall)} |"
        for r in (ours, theirs)
    ]


def render_national(bench) -> str:
    """The end-to-end race on cohorts of a national programme's sample size."""
    ours, theirs = bench.national
    s = bench.national_summary
    rules = bench.national_rules
    count_cpu = rules.get("count", {}).get("cpu", 0.0)
    rest_cpu = sum(t["cpu"] for rule, t in rules.items() if rule != "count")
    lines = [
        f"### At a national programme's sample size: {s['samples_per_cohort']:,} samples "
        "per cohort\n",
        f"The same two commands on {len(s['cohorts'])} cohorts x {s['samples_per_cohort']:,} "
        f"samples, {s['length'] / 1e6:g} Mb of `{s['contig']}` (`NATIONAL` in "
        f"europanel_dev/bench.py; same simulation model and seed, {s['sites_simulated']:,} "
        f"segregating sites, {s['genotypes']:,} genotypes; the workflow's default chunking). "
        "Genome of Europe averages ~3,850 genomes a country; the default preset's 400 "
        "samples make the panel's per-site work (merge, publish, audit, report), which does "
        "not grow with samples, weigh more than it will at any national programme's size.\n",
        *race_table(ours, theirs),
        "",
    ]
    lines.append(
        f"europanel's last run, from snakemake's benchmark files: count {count_cpu:.1f} CPU s "
        f"({rules.get('count', {}).get('jobs', 0)} jobs), everything after it "
        f"{rest_cpu:.1f} CPU s. CPU ratio to the bcftools pipeline: "
        f"{ratio(ours.cpu, theirs.cpu)}.\n"
    )
    return "\n".join(lines) + "\n"


def render_count_job_steps(bench) -> str:
    """Where one workflow count job (normalise + count, one process) spends its CPU."""
    steps = bench.job_steps
    lines = [
        f"One workflow count job ({bench.bcfs[0].parent.name} {bench.bcfs[0].stem}, in-process: "
        f"`normalise_and_count`), CPU seconds per step (bcftools is htslib in-process via "
        f"pysam; total {steps['total']:.2f} s, interpreter start-up not included):\n",
        "| step | CPU s |",
        "| --- | ---: |",
        *(
            f"| {name} | {sec:.2f} |"
            for name, sec in sorted(steps["steps"].items(), key=lambda kv: -kv[1])
        ),
        "",
    ]
    return "\n".join(lines)


def render_merge_publish(bench) -> str:
    m = bench.merge
    two, one = bench.publish[2], bench.publish[1]
    start = bench.publish_overhead.wall
    jobs_two, jobs_one = max(0.0, two.wall - start), max(0.0, one.wall - start)
    return "\n".join(
        [
            "### Merge and publish\n",
            f"Merge: {m['jobs']} jobs, {m['cpu'] + m['piece_cpu']:.2f} CPU s (snakemake's "
            f"benchmark files), of which {m['piece_cpu']:.2f} writing the chunks' pieces of "
            f"the panel (the jobs' logs; publishing, priced per record below). Merging: "
            f"{m['cpu']:.2f} CPU s for {m['sites']:,} sites x {m['cohorts']} cohorts: "
            f"**{m['us_per_site_cohort']:.1f} µs CPU per site x cohort**, each job's "
            "interpreter start-up (~1 s) included, which dominates small chunks. For "
            "comparison (docs/SCALING.md): `merge_chunk` alone on 5 cohorts x 42,239 sites "
            "took 45 µs per site x cohort before issue 12 and 23 µs after.\n",
            "Publish, run again on the same bundles (`snakemake --forcerun merge <panel VCF>`: "
            "each chunk's merge job writes its piece of the panel, publish joins them; "
            "snakemake's own start-up, measured as the same command's `--dry-run`, "
            "is subtracted below: an approximation of its share of a real run). The old "
            "serial publish "
            "(one job writing the whole panel) no longer exists; its equivalent is the same "
            "jobs run one after another (`--cores 1`).\n",
            "| publish stage | wall s | CPU s |",
            "| --- | ---: | ---: |",
            f"| {two.name} | {two.wall:.1f} | {two.cpu:.1f} |",
            f"| {one.name} | {one.wall:.1f} | {one.cpu:.1f} |",
            "",
            f"snakemake's own start-up (the same command with `--dry-run`): {start:.1f} s. "
            f"Without it: {jobs_two:.1f} s on 2 cores, {jobs_one:.1f} s serially, "
            f"**{ratio(jobs_two, jobs_one)}** (target <= 0.6x: "
            f"{verdict(jobs_two / max(jobs_one, 1e-9), 0.6)}); with it "
            f"{ratio(two.wall, one.wall)}.\n",
        ]
    )


def render_histograms(bench) -> str:
    off, on = bench.histograms[False], bench.histograms[True]
    return "\n".join(
        [
            "### Count with the quality histograms off and on\n",
            f"`europanel count` on the same {len(bench.bcfs)} chunk BCFs (summed, medians of "
            f"{bench.runs} runs, interleaved), without and with the histograms "
            "(`site_annotations.histograms`):\n",
            "| count | wall s | CPU s | peak MB |",
            "| --- | ---: | ---: | ---: |",
            *(f"| {r.name} | {r.wall:.2f} | {r.cpu:.2f} | {r.peak_mb:.0f} |" for r in (off, on)),
            "",
            f"on / off (CPU): **{ratio(on.cpu, off.cpu)}** (issue 15: at most 1.3x; "
            f"{verdict(on.cpu / off.cpu, 1.3)}).\n",
        ]
    )


def render_big_cohort(bench) -> str:
    b = bench.big
    lines = [
        f"## Count at {b['samples']:,} samples\n",
        f"One simulated cohort of {b['samples']:,} samples ({b['length'] / 1e3:g} kb, "
        f"{b['records']:,} records, GT:AD:DP:GQ) through the workflow up to its bundle "
        f"(`snakemake --cores 1 all_bundles`), config block_size: {b['block_size']}. Peak = "
        "snakemake's benchmark max_rss of each rule's largest job; declared = the count job's "
        "`mem_mb` in the dry run.\n",
        "| rule | jobs | CPU s | peak MB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for rule, t in sorted(b["rules"].items()):
        lines.append(f"| {rule} | {t['jobs']} | {t['cpu']:.1f} | {t['max_rss']:.0f} |")
    block = b.get("used_block_size") or b["block_size"]
    if str(block).isdigit() and b["records"] < int(block):
        lines.insert(
            2,
            f"The region holds fewer records ({b['records']:,}) than one block "
            f"({block}, as the count job logged it): the block never fills, so this shows "
            "the declared mem_mb is not exceeded, not that a full block fits in it. A longer "
            "region fills it "
            "(`BIG_COHORT` in europanel_dev/bench.py; ~5 min and ~7 GB to simulate per 200 kb "
            "at 20,000 samples).\n",
        )
    count_peak = b["rules"].get("count", {}).get("max_rss")
    declared = b["declared_mem_mb"]
    lines.append("")
    if count_peak is not None and declared:
        lines.append(
            f"count peak **{count_peak:.0f} MB** against a declared mem_mb of **{declared} MB** "
            f"({count_peak / declared:.0%}; {'under' if count_peak < declared else 'OVER'} it).\n"
        )
    else:
        lines.append("count's peak or declared mem_mb was not found in this run.\n")
    return "\n".join(lines)


def render_scaling(bench) -> str:
    sc = bench.scale
    m = SCALE_MODEL
    measured = {r["rule"] for r in sc["rows"]}
    # A rule's benchmark files may sit in a folder named by its prefix (report/ for report_*).
    unmeasured = sorted(
        r
        for r in sc["kinds"]
        if not r.startswith("all") and not any(r == m or r.startswith(f"{m}_") for m in measured)
    )
    lines = [
        "## Scaling to Genome of Europe (docs/SCALING.md's model)\n",
        f"{m['cohorts']} cohorts, {m['genomes']:,} genomes, 3.1 Gb (GRCh38 chr1-22, X, Y), "
        f"{m['records_per_cohort'] / 1e6:g} M records per cohort VCF, "
        f"{m['panel_records'] / 1e6:g} M panel records, {m['groups']} published groups: "
        f"{sc['genotypes']:.2g} input genotypes. CPU per unit is this run's (rule CPU s from "
        "snakemake's benchmark files / the run's units); each rule's unit follows from its "
        "job count in the dry run (one job per cohort x chunk: per input genotype; per "
        "cohort: per cohort record; merge: per site x cohort; the rest: per panel record), "
        f"and per-site costs are scaled by the groups ({sc['group_ratio']:.1f}x this run's). "
        "Formula: CPU-h = CPU per unit x the model's units / 3600. "
        + (
            f"Rules that write no benchmark file ({', '.join(unmeasured)}) are not in the sum. "
            if unmeasured
            else ""
        )
        + "The quick preset's jobs are mostly interpreter start-up: only the "
        "default preset's per-unit costs mean anything at scale.\n",
        "| rule | jobs per | unit | CPU µs per unit | model CPU-h |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for r in sc["rows"]:
        lines.append(
            f"| {r['rule']} | {r['kind']} | {r['unit']} | {r['us']:.4g} | {r['cpu_h']:,.0f} |"
        )
    lines += [
        f"| **europanel, all rules** | | | | **{sc['cpu_h']:,.0f}** |",
        f"| bcftools pipeline (norm, norm -d, +fill-tags -S, merge) | | input genotype | "
        f"{sc['bcftools_us']:.4g} | {sc['bcftools_cpu_h']:,.0f} |",
        "",
        f"europanel / bcftools pipeline (CPU-h): **{ratio(sc['cpu_h'], sc['bcftools_cpu_h'])}** "
        f"({verdict(sc['cpu_h'] / sc['bcftools_cpu_h'], 1.0)}).\n",
        "Jobs by chunk_size (chunks cut per contig; job counts per rule kind from this run's "
        "plan; at most 10,000 wanted):\n",
        "| chunk_size | chunks | jobs | records per cohort x chunk job |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for p in sc["plans"]:
        mark = "" if p["jobs"] <= MAX_JOBS else " (over 10,000)"
        lines.append(
            f"| {p['chunk_size'] / 1e6:g} Mb | {p['chunks']:,} | {p['jobs']:,}{mark} | "
            f"{p['records_per_job']:,.0f} |"
        )
    lines.append("")
    return "\n".join(lines)


def closing_note(bench, targets, work, per_genotype) -> str:
    ours_e2e, bcftools_e2e = bench.e2e
    count_cli, view, an_ac = bench.count_results[:3]
    n = len(bench.bcfs)
    met = [name for name, value, limit in targets if value <= limit]
    lines = [
        "Ratios (wall, medians): "
        + "; ".join(
            f"{name}: {value:.2f}x ({verdict(value, limit)})" for name, value, limit in targets
        )
        + "."
    ]
    lines.append(f"\nMet: {', '.join(met) if met else 'none'}.")

    parts = dict(bench.count_profile["parts"])
    startup = [k for k in parts if k.startswith("start-up")][0]
    startup_share = parts.pop(startup) / bench.count_profile["total"]
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    work_total = bench.count_profile["counting"]
    lines.append(
        f"\n**What bounds the count stage.** Interpreter start-up: each `europanel count` "
        f"process spends ~{bench.startup:.2f} CPU s importing Python, numpy and pyarrow "
        f"before it reads a record, {startup_share:.0%} of the profiled job; over {n} chunk BCFs "
        f"that is ~{bench.startup * n:.1f} s of the CLI's {count_cli.wall:.1f} s, where a C tool "
        f"starts in milliseconds. With one BCF per cohort the start-up is paid "
        f"{len(bench.whole)} times instead of {n} (second table). Counting itself, in one "
        f"process, takes {work:.2f} s: {ratio(work, an_ac.wall)} `+fill-AN-AC` and "
        f"{ratio(work, view.wall)} `bcftools view`, which only inflates, decodes and re-encodes. "
        "Of the counting work in the profile, the largest parts are "
        + ", ".join(f"{name} ({sec / work_total:.0%})" for name, sec in largest)
        + ". Reading and inflating the BGZF blocks is work htslib does too (ISA-L here, "
        "libdeflate in Debian's bcftools; the normalised BCFs are written uncompressed, so it "
        "is mostly a copy); the rest is copying each record's FORMAT bytes out of the stream "
        "and a few vectorised passes over four FORMAT fields (GT, and AD, DP, GQ for adj), "
        "where `+fill-AN-AC` reads GT only."
    )

    rules = sorted(bench.rule_totals.items(), key=lambda kv: -kv[1]["seconds"])
    steps = bench.job_steps["steps"]
    by_cost = sorted(steps.items(), key=lambda kv: -kv[1])
    lines.append(
        f"\n**What bounds end to end.** europanel takes {ours_e2e.wall:.0f} s "
        f"({ours_e2e.cpu:.0f} CPU s) against {bcftools_e2e.wall:.0f} s ({bcftools_e2e.cpu:.0f} "
        f"CPU s) for the bcftools pipeline. By rule (job seconds summed): "
        + ", ".join(
            f"{rule} {t['seconds']:.0f} s ({t['jobs']} jobs, {t['cpu']:.0f} CPU s)"
            for rule, t in rules
        )
        + ". Within a count job (normalise and count in one process) the costliest steps "
        "are "
        + ", ".join(f"`{name}` ({sec:.2f} s)" for name, sec in by_cost[:3])
        + f" of {bench.job_steps['total']:.2f} CPU s. publish joins per-chunk pieces at "
        "the end, and each of the pipeline's jobs pays "
        "the interpreter start-up; the bcftools pipeline runs four processes per cohort at "
        "once and writes only sites."
    )
    lines.append(
        f"\n**Memory.** Count-stage peak memory grows by ~{per_genotype:.0f} B x samples x "
        f"block_size with the block size, on a base of ~{bench.baseline_mb:.0f} MB; in region "
        "length it settles: "
        + ", ".join(
            f"{g['records']:,} records {g['peak_mb']:.0f} MB"
            for g in bench.grid
            if g["block"] == bench.preset["block_size"]
        )
        + f" at block_size {bench.preset['block_size']:,}."
    )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small dataset for development (3 cohorts x 100 samples x 2 Mb)",
    )
    parser.add_argument(
        "--workdir",
        default="results/bench",
        help="where the dataset and tool outputs go (reused across runs)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--resimulate", action="store_true", help="simulate again even if the dataset exists"
    )
    parser.add_argument("--output", default="docs/BENCHMARKS.md")


def run(args) -> None:
    Bench(args).run()


def main(argv: list[str] | None = None) -> None:
    """Helpers the benchmark runs as child processes."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m europanel_dev.bench")
    sub = parser.add_subparsers(dest="helper", required=True)
    p = sub.add_parser("allel")
    p.add_argument("vcf")
    p.add_argument("subpops")
    p = sub.add_parser("count-many")
    p.add_argument("bcfs", nargs="+")
    p.add_argument("--samples", required=True)
    p.add_argument("--settings", required=True)
    p.add_argument("--report", required=True)
    p = sub.add_parser("count-job-steps")
    p.add_argument("--data", required=True)
    p.add_argument("--cohort", required=True)
    p.add_argument("--chunk", required=True)
    p.add_argument("--settings", required=True)
    p.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    if args.helper == "allel":
        allel_counts(args.vcf, args.subpops)
    elif args.helper == "count-many":
        count_many(args.bcfs, args.samples, args.settings, args.report)
    else:
        count_job_steps(args.data, args.cohort, args.chunk, args.settings, args.report)


if __name__ == "__main__":
    main()
