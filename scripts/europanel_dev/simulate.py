"""Simulated country cohorts at real sizes, for the benchmark (`europanel-dev simulate`).

A European-like coalescent history (msprime): countries split off a common
ancestral population between 2,000 and 1,000 generations ago, each with
Ne = 10,000, exchanging a few migrants (5e-5 per generation) since; mutation
rate 1.25e-8 and recombination rate 1e-8 per bp per generation. Each cohort
samples `n_samples` diploid individuals, mostly from its own country and 5%
from a neighbouring one (so a cohort holds more than one ancestry group).

Written, all on one autosome (`chr20` by default, so ploidy plays no part):

- `reference.fa` (+ `.fai`): random sequence, 41% GC, whose bases are the REF alleles;
- `vcf/<cohort>.vcf.gz` (+ `.tbi`): one joint-called-like VCF per cohort with
  the sites that cohort carries, FORMAT GT:AD:DP:GQ drawn from ~30x sequencing
  (per-sample and per-site depth variation, read errors, GQ from genotype
  likelihoods, so low-depth genotypes fail gnomAD's adj), about 1% missing
  genotypes, ~8% of sites turned into indels (some not left-aligned) and ~3%
  into multiallelic SNVs;
- `cohorts.tsv`, `samples.tsv` (populations = ancestry groups, sexes XX/XY),
  `config.yaml` for the real pipeline, and `simulation.json` (what was made).

Deterministic: the same arguments give the same bytes.

    europanel-dev simulate --outdir bench/data --cohorts 5 --samples 400 --length 20000000
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

COUNTRIES = ("NL", "IT", "FI", "ES", "DE", "PL", "SE", "FR", "PT", "EE", "HU", "GR", "DK", "CZ")
ANCESTRY = {
    "NL": "NWE",
    "DE": "NWE",
    "FR": "NWE",
    "IT": "SEU",
    "ES": "SEU",
    "PT": "SEU",
    "GR": "SEU",
    "FI": "FIN",
    "PL": "EEU",
    "EE": "EEU",
    "HU": "EEU",
    "CZ": "EEU",
    "SE": "NEU",
    "DK": "NEU",
}
NE, MU, RHO = 10_000, 1.25e-8, 1e-8
OLDEST_SPLIT, YOUNGEST_SPLIT, MIGRATION = 2_000, 1_000, 5e-5
MIGRANT_FRACTION = 0.05
MEAN_DEPTH, MAX_DEPTH, READ_ERROR = 30, 99, 0.01
INDEL_FRACTION, MULTIALLELIC_FRACTION = 0.08, 0.03
MAX_INDEL = 6
SITE_BLOCK = 2_000  # sites formatted at a time


def demography(countries: list[str]):
    """Countries splitting one by one off the first country's lineage,
    2,000 to 1,000 generations ago."""
    import msprime

    model = msprime.Demography()
    for country in countries:
        # The first country is also the ancestral lineage: active from the start.
        model.add_population(name=country, initial_size=NE, initially_active=True)
    if len(countries) > 1:
        model.set_symmetric_migration_rate(countries, MIGRATION)
        for k, country in enumerate(countries[1:], 1):
            t = OLDEST_SPLIT - (OLDEST_SPLIT - YOUNGEST_SPLIT) * (k - 1) / max(
                1, len(countries) - 2
            )
            model.add_population_split(time=t, derived=[country], ancestral=countries[0])
        model.sort_events()
    return model


def sample_plan(countries: list[str], n_samples: int, rng) -> list[dict]:
    """Per sample: id, cohort, the country (deme) its genome comes from, population, sex."""
    plan = []
    n_migrants = round(n_samples * MIGRANT_FRACTION) if len(countries) > 1 else 0
    for c, cohort in enumerate(countries):
        origins = [cohort] * (n_samples - n_migrants)
        origins += [countries[(c + 1) % len(countries)]] * n_migrants
        sexes = rng.choice(["XX", "XY"], size=n_samples)
        for i, (origin, sex) in enumerate(zip(origins, sexes), 1):
            plan.append(
                {
                    "sample": f"{cohort}{i:05d}",
                    "cohort": cohort,
                    "deme": origin,
                    "population": ANCESTRY.get(origin, f"G{origin}"),
                    "sex": str(sex),
                }
            )
    return plan


def random_reference(length: int, rng) -> bytes:
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    gc = 0.41
    codes = rng.choice(4, size=length, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return bases[codes].tobytes()


def write_fasta(path: Path, contig: str, sequence: bytes) -> None:
    import pysam

    with open(path, "wb") as out:
        out.write(f">{contig}\n".encode())
        for start in range(0, len(sequence), 60):
            out.write(sequence[start : start + 60] + b"\n")
    pysam.faidx(str(path))


def genotype_table() -> tuple[list[str], int]:
    """FORMAT text of every biallelic (genotype, AD ref, AD alt); the last entry is missing.

    GQ comes from genotype likelihoods with a read error rate: the PL gap from
    the written genotype to the next best, capped at 99.
    """
    d = MAX_DEPTH + 1
    ref, alt = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    e = READ_ERROR
    loglik = np.stack(
        [
            ref * math.log10(1 - e) + alt * math.log10(e),
            (ref + alt) * math.log10(0.5),
            ref * math.log10(e) + alt * math.log10(1 - e),
        ]
    )
    pl = -10 * (loglik - loglik.max(axis=0))
    entries = []
    for g, gt in enumerate(("0/0", "0/1", "1/1")):
        others = np.delete(pl, g, axis=0).min(axis=0)
        gq = np.clip(np.rint(others - pl[g]), 0, 99).astype(int)
        for r in range(d):
            for a in range(d):
                entries.append(f"{gt}:{r},{a}:{r + a}:{gq[r, a]}")
    entries.append("./.:.:.:.")
    return entries, len(entries) - 1


class RowFormatter:
    """Sample columns of many VCF lines at once: a gather from a table of FORMAT strings."""

    def __init__(self, entries: list[str]):
        encoded = [e.encode() + b"\t" for e in entries]
        self.lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.data = np.frombuffer(b"".join(encoded), dtype=np.uint8)

    def rows(self, codes: np.ndarray) -> list[bytes]:
        """One `\\t`-joined, newline-ended byte string per row of `codes` (sites x samples)."""
        flat = codes.ravel()
        lengths = self.lengths[flat]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        index = np.arange(ends[-1]) + np.repeat(self.offsets[flat] - starts, lengths)
        out = self.data[index]
        row_ends = ends[codes.shape[1] - 1 :: codes.shape[1]]
        out[row_ends - 1] = ord("\n")
        buffer = out.tobytes()
        row_starts = np.concatenate([[0], row_ends[:-1]])
        return [buffer[s:e] for s, e in zip(row_starts.tolist(), row_ends.tolist())]


def site_alleles(
    positions: np.ndarray, reference: bytes, rng
) -> tuple[list[str], list[str], np.ndarray]:
    """REF and ALT (comma-joined when multiallelic) of each site; which sites are multiallelic.

    Indels are planted where the next site is far enough away, at random
    places: where the deleted or inserted bases repeat the base before them
    (about a quarter of them) they are not left-aligned, and `bcftools norm`
    has something to do.
    """
    n = len(positions)
    kind = rng.random(n)
    gap = np.diff(np.append(positions, positions[-1] + 100)) if n else positions
    refs, alts = [], []
    multi = np.zeros(n, dtype=bool)
    for i, pos in enumerate(positions.tolist()):
        base = chr(reference[pos - 1])
        others = [b for b in "ACGT" if b != base]
        if kind[i] < INDEL_FRACTION and gap[i] > MAX_INDEL + 2 and pos > 2:
            size = int(rng.integers(1, MAX_INDEL + 1))
            if rng.random() < 0.5:
                ref = reference[pos - 1 : pos + size].decode()
                alt = ref[0]
            else:
                ref = base
                alt = base + "".join(rng.choice(list("ACGT"), size=size))
        elif kind[i] < INDEL_FRACTION + MULTIALLELIC_FRACTION:
            ref, picked = base, rng.choice(others, size=2, replace=False)
            alt = ",".join(picked)
            multi[i] = True
        else:
            ref, alt = base, others[int(rng.integers(3))]
        refs.append(ref)
        alts.append(alt)
    return refs, alts, multi


def draw_format(haps: np.ndarray, mean_factor: np.ndarray, rng):
    """Allele pair, AD and missingness of a block (sites x samples) from ~30x reads."""
    first, second = np.minimum(haps[..., 0], haps[..., 1]), np.maximum(haps[..., 0], haps[..., 1])
    n_sites, n_samples = first.shape
    site_factor = rng.gamma(20, 1 / 20, size=(n_sites, 1))
    depth = rng.poisson(MEAN_DEPTH * site_factor * mean_factor[None, :])
    depth = np.minimum(depth, MAX_DEPTH)
    het = first != second
    p_second = np.where(het, 0.48, np.where(first == 0, 0.005, 0.995))
    reads_second = rng.binomial(depth, p_second)
    missing_rate = rng.beta(0.4, 40, size=(n_sites, 1))
    missing = (rng.random((n_sites, n_samples)) < missing_rate) | (depth == 0)
    return first, second, depth - reads_second, reads_second, missing


def cohort_vcf(job: dict) -> dict:
    """Write one cohort's VCF (a worker process: reads the shared haplotype matrix)."""
    rng = np.random.default_rng([job["seed"], 7, job["index"]])
    haps_all = np.load(job["haplotypes"], mmap_mode="r")
    columns = np.array(job["columns"])  # haplotype columns, 2 per sample
    positions = np.load(job["positions"])
    sites = json.loads(Path(job["sites"]).read_text())
    refs, alts, multi = sites["ref"], sites["alt"], np.array(sites["multi"], dtype=bool)
    entries, missing_code = genotype_table()
    formatter = RowFormatter(entries)
    d = MAX_DEPTH + 1
    n_samples = len(columns) // 2
    mean_factor = np.clip(rng.normal(1, 0.12, size=n_samples), 0.6, 1.4)
    header = vcf_header(job["contig"], job["length"], job["reference"], job["samples"])
    written = 0
    out_path = Path(job["vcf"])
    with bgzip_writer(out_path, job["threads"]) as out:
        out.write(header.encode())
        for start in range(0, len(positions), SITE_BLOCK):
            stop = min(start + SITE_BLOCK, len(positions))
            haps = np.asarray(haps_all[start:stop][:, columns]).reshape(stop - start, n_samples, 2)
            first, second, ad_ref, ad_alt, missing = draw_format(haps, mean_factor, rng)
            carried = ((first > 0) | (second > 0)) & ~missing
            keep = carried.any(axis=1)
            gt_class = (first > 0).astype(np.int64) + (second > 0)
            codes = (gt_class * d + ad_ref) * d + ad_alt
            codes[missing] = missing_code
            rows = formatter.rows(codes)
            lines = []
            for i in np.flatnonzero(keep).tolist():
                site = start + i
                body = rows[i]
                if multi[site]:
                    body = multiallelic_row(
                        first[i], second[i], ad_ref[i], ad_alt[i], missing[i], entries, codes[i]
                    )
                lines.append(
                    f"{job['contig']}\t{positions[site]}\t.\t{refs[site]}\t"
                    f"{alts[site]}\t50\tPASS\t.\tGT:AD:DP:GQ\t".encode()
                    + body
                )
            out.write(b"".join(lines))
            written += len(lines)
    import pysam

    pysam.tabix_index(str(out_path), preset="vcf", force=True)
    return {"cohort": job["cohort"], "records": written}


def multiallelic_row(first, second, ad_ref, ad_alt, missing, entries, codes) -> bytes:
    """A three-allele site: derived haplotypes carry allele 1 or 2 by sample parity."""
    cells = []
    for s in range(len(first)):
        if missing[s]:
            cells.append(entries[-1])
            continue
        alt = 1 + s % 2
        a, b = (alt if first[s] else 0), (alt if second[s] else 0)
        ad = [ad_ref[s], 0, 0]
        ad[alt] = ad_alt[s]
        gq = entries[codes[s]].rsplit(":", 1)[1]
        cells.append(f"{a}/{b}:{ad[0]},{ad[1]},{ad[2]}:{ad_ref[s] + ad_alt[s]}:{gq}")
    return ("\t".join(cells) + "\n").encode()


def vcf_header(contig: str, length: int, reference: str, samples: list[str]) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        f"##contig=<ID={contig},length={length}>",
        f"##reference=file://{reference}",
        "##source=europanel simulate (msprime)",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    return "\n".join(lines) + "\n"


class bgzip_writer:
    """A BGZF output stream: the `bgzip` command (threaded) when present, else pysam's."""

    def __init__(self, path: Path, threads: int):
        self.path, self.threads = path, threads

    def __enter__(self):
        if shutil.which("bgzip"):
            self.file = open(self.path, "wb")
            self.process = subprocess.Popen(
                ["bgzip", "-c", "-@", str(self.threads)], stdin=subprocess.PIPE, stdout=self.file
            )
            return self.process.stdin
        import pysam

        self.process = None
        self.file = pysam.BGZFile(str(self.path), "wb")
        return self.file

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.stdin.close()
            if self.process.wait() != 0:
                raise RuntimeError(f"bgzip failed writing {self.path}")
        self.file.close()


def simulate(
    outdir: Path,
    n_cohorts: int = 5,
    n_samples: int = 400,
    length: int = 20_000_000,
    seed: int = 1,
    contig: str = "chr20",
    chunk_size: int = 10_000_000,
    block_size: int = 10_000,
    threads: int = 2,
    log=print,
) -> dict:
    """Write the dataset (see the module docstring); returns what was made."""
    import msprime

    if not 1 <= n_cohorts <= len(COUNTRIES):
        raise ValueError(f"--cohorts must be 1 to {len(COUNTRIES)}")
    started = time.monotonic()
    outdir = Path(outdir)
    (outdir / "vcf").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    countries = list(COUNTRIES[:n_cohorts])
    plan = sample_plan(countries, n_samples, rng)

    reference = random_reference(length, np.random.default_rng([seed, 2]))
    fasta = outdir / "reference.fa"
    write_fasta(fasta, contig, reference)

    demes = {c: sum(p["deme"] == c for p in plan) for c in countries}
    ts = msprime.sim_ancestry(
        samples={c: n for c, n in demes.items() if n},
        demography=demography(countries),
        sequence_length=length,
        recombination_rate=RHO,
        random_seed=seed,
    )
    ts = msprime.sim_mutations(ts, rate=MU, model=msprime.BinaryMutationModel(), random_seed=seed)
    log(
        f"simulated {ts.num_sites} sites, {ts.num_samples} haplotypes "
        f"({time.monotonic() - started:.0f} s)"
    )

    # Haplotype columns of each sample: individuals of each deme in order of the plan.
    individuals = {c: [] for c in countries}
    for ind in range(ts.num_individuals):
        pop = ts.individuals_population[ind]
        individuals[countries[pop]].append(ind)
    nodes = ts.individuals_nodes
    next_of = {c: 0 for c in countries}
    columns = []
    for p in plan:
        ind = individuals[p["deme"]][next_of[p["deme"]]]
        next_of[p["deme"]] += 1
        columns.append(nodes[ind].tolist())

    # Sites: 1-based positions, away from the contig ends (room for indels and REF context).
    positions = ts.tables.sites.position.astype(np.int64) + 1
    keep = (positions > 10) & (positions < length - 20)
    work = outdir / "tmp"
    work.mkdir(exist_ok=True)
    haps_path = work / "haplotypes.npy"
    haps = np.lib.format.open_memmap(
        haps_path, mode="w+", dtype=np.int8, shape=(int(keep.sum()), ts.num_samples)
    )
    row = 0
    for variant, kept in zip(ts.variants(copy=False), keep):
        if kept:
            haps[row] = variant.genotypes
            row += 1
    haps.flush()
    del haps
    positions = positions[keep]
    refs, alts, multi = site_alleles(positions, reference, np.random.default_rng([seed, 3]))
    np.save(work / "positions.npy", positions)
    (work / "sites.json").write_text(
        json.dumps({"ref": refs, "alt": alts, "multi": multi.tolist()})
    )
    log(f"site table written ({time.monotonic() - started:.0f} s)")

    jobs = []
    for c, cohort in enumerate(countries):
        rows = [i for i, p in enumerate(plan) if p["cohort"] == cohort]
        jobs.append(
            {
                "index": c,
                "cohort": cohort,
                "seed": seed,
                "contig": contig,
                "length": length,
                "reference": str(fasta.resolve()),
                "haplotypes": str(haps_path),
                "positions": str(work / "positions.npy"),
                "sites": str(work / "sites.json"),
                "columns": [h for i in rows for h in columns[i]],
                "samples": [plan[i]["sample"] for i in rows],
                "vcf": str(outdir / "vcf" / f"{cohort}.vcf.gz"),
                "threads": 1,
            }
        )
    with ProcessPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(cohort_vcf, jobs))
    shutil.rmtree(work)
    log(f"VCFs written ({time.monotonic() - started:.0f} s)")

    write_sheets(outdir, countries, plan, contig, chunk_size, block_size)
    summary = {
        "cohorts": countries,
        "samples_per_cohort": n_samples,
        "length": length,
        "contig": contig,
        "seed": seed,
        "sites_simulated": int(len(positions)),
        "indels": int(sum(len(r) != len(a) for r, a in zip(refs, alts) if "," not in a)),
        "multiallelic": int(multi.sum()),
        "records_per_cohort": {r["cohort"]: r["records"] for r in results},
        "genotypes": int(sum(r["records"] for r in results) * n_samples),
        "demography": {
            "Ne": NE,
            "mu": MU,
            "r": RHO,
            "splits_generations": [OLDEST_SPLIT, YOUNGEST_SPLIT],
            "migration": MIGRATION,
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    (outdir / "simulation.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def write_sheets(
    outdir: Path,
    countries: list[str],
    plan: list[dict],
    contig: str,
    chunk_size: int,
    block_size: int,
) -> None:
    """Sheets and config with paths relative to `outdir` (run snakemake with --directory there)."""
    with open(outdir / "cohorts.tsv", "w") as out:
        out.write("cohort\tvcf\tcallable\n")
        for cohort in countries:
            out.write(f"{cohort}\tvcf/{cohort}.vcf.gz\t\n")
    with open(outdir / "samples.tsv", "w") as out:
        out.write("sample\tcohort\tpopulation\tsex\n")
        for p in plan:
            out.write(f"{p['sample']}\t{p['cohort']}\t{p['population']}\t{p['sex']}\n")
    config = f"""\
# Simulated benchmark dataset (europanel simulate); paths are relative to this folder.
panel_name: bench
outdir: results
cohorts: cohorts.tsv
samples: samples.tsv
reference:
  fasta: reference.fa
  build: GRCh38
contigs: [{contig}]
chunk_size: {chunk_size}
block_size: {block_size}
genotype_qc:
  min_gq: 20
  min_dp: 10
  min_dp_haploid: 5
  min_het_ab: 0.2
merge:
  absent_sites: reference
privacy:
  min_group_size: 5
  min_carriers: 0
"""
    (outdir / "config.yaml").write_text(config)


def add_arguments(parser) -> None:
    parser.add_argument("--outdir", type=Path, required=True)
    parser.add_argument("--cohorts", type=int, default=5, help="number of cohorts (countries)")
    parser.add_argument("--samples", type=int, default=400, help="samples per cohort")
    parser.add_argument("--length", type=int, default=20_000_000, help="bp of the contig")
    parser.add_argument("--contig", default="chr20")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=10_000_000)
    parser.add_argument("--block-size", type=int, default=10_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="cohort VCFs written in parallel",
    )


def run(args) -> None:
    summary = simulate(
        args.outdir,
        args.cohorts,
        args.samples,
        args.length,
        args.seed,
        args.contig,
        args.chunk_size,
        args.block_size,
        args.threads,
    )
    print(json.dumps(summary, indent=1))
