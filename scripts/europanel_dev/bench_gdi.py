"""Benchmark of the all-sites AN file size and `europanel lookup` throughput (docs/BENCHMARKS.md).

    python -m europanel_dev.bench_gdi --outdir /tmp/bench_gdi [--length 20000000]

A simulated panel at the default bench preset's size (5 cohorts x 400 samples, one
20 Mb contig, 5 populations, no sample data needed): a random reference, callable
BEDs as dense as a WGS callability mask (a gap of 50-500 bp every ~4 kb on average,
independently per cohort: real masks have ~1 interval per 4 kb), the panel VCF with
the pipeline's per-group fields at ~1 record per 50 bp, then
- the all-sites AN written by `allsites.write_allsites`: bytes per Mb;
- lookup of N queries (half panel records, half random SNVs): queries per second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import pysam
from pysam.libcbgzf import BGZFile

from europanel.stages.allsites import write_allsites
from europanel.stages.lookup import iter_answers

POPULATIONS = ["NWE", "SEU", "EEU", "NEU", "FIN"]


def simulate(outdir: Path, length: int, cohorts: int, samples: int, seed: int):
    rng = random.Random(seed)
    contig = "chr20"
    fasta = outdir / "reference.fa"
    sequence = "".join(rng.choice("ACGT") for _ in range(length))
    with open(fasta, "w") as out:
        out.write(f">{contig}\n")
        out.writelines(sequence[i : i + 60] + "\n" for i in range(0, length, 60))
    pysam.faidx(str(fasta))
    labels = [f"C{i}" for i in range(cohorts)]
    groups = (
        labels
        + POPULATIONS
        + ["XX", "XY"]
        + [f"{p}_{s}" for p in POPULATIONS for s in ("XX", "XY")]
    )
    manifests = []
    for label in labels:
        spans, pos = [], 1
        while pos <= length:
            end = min(length, pos + int(rng.expovariate(1 / 4000)))
            spans.append([pos, end])
            pos = end + 1 + rng.randint(50, 500)
        per_pop = samples // len(POPULATIONS)
        # Reference AN per ploidy class (autosomal, X non-PAR, Y non-PAR, Y PAR); the one
        # simulated contig is autosomal, so the Y classes never apply.
        an = {label: [2 * samples, 2 * samples, 0, 0]}
        for p in POPULATIONS:
            an[p] = [2 * per_pop] * 2 + [0, 0]
            an[f"{p}_XX"] = [per_pop, per_pop, 0, 0]
            an[f"{p}_XY"] = [per_pop, per_pop // 2, 0, 0]
        an["XX"] = [samples, samples, 0, 0]
        an["XY"] = [samples, samples // 2, 0, 0]
        manifests.append(
            {"cohort": label, "callable": {contig: spans}, "reference_an": an, "par": {}}
        )
    panel = outdir / "panel.sites.vcf.gz"
    records = []
    with BGZFile(str(panel), "wb") as out:
        out.write(b"##fileformat=VCFv4.2\n")
        out.write(f"##contig=<ID={contig},length={length}>\n".encode())
        for name, number, kind in (
            ("AC", "A", "Integer"),
            ("AN", "1", "Integer"),
            ("AF", "A", "Float"),
        ):
            for g in ["", *groups]:
                field = f"{name}_{g}" if g else name
                out.write(
                    f'##INFO=<ID={field},Number={number},Type={kind},Description="x">\n'.encode()
                )
        out.write(b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        pos = 1
        lines = []
        while True:
            pos += rng.randint(1, 100)
            if pos > length:
                break
            ref = sequence[pos - 1]
            alt = rng.choice([b for b in "ACGT" if b != ref])
            info = ";".join(
                f"AC{'_' + g if g else ''}={rng.randint(0, 20)};AN{'_' + g if g else ''}=800;"
                f"AF{'_' + g if g else ''}=0.01"
                for g in ["", *groups]
            )
            lines.append(f"{contig}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t{info}\n")
            records.append((pos, ref, alt))
        out.write("".join(lines).encode())
    pysam.tabix_index(str(panel), preset="vcf", force=True)
    return fasta, panel, manifests, groups, records, sequence


def run(args) -> dict:
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fasta, panel, manifests, groups, records, sequence = simulate(
        outdir, args.length, args.cohorts, args.samples, args.seed
    )
    allsites = outdir / "panel.allsites_an.tsv.gz"
    started = time.perf_counter()
    rows = write_allsites(
        manifests, {"chr20": args.length}, groups, "reference", str(allsites),
        str(outdir / "panel.allsites_an.parquet"),
    )  # fmt: skip
    allsites_seconds = time.perf_counter() - started
    rng = random.Random(args.seed + 1)
    queries = []
    for _ in range(args.queries // 2):
        pos, ref, alt = rng.choice(records)
        queries.append(f"chr20:{pos}:{ref}:{alt}")
        other = rng.randint(1, args.length)
        ref = sequence[other - 1]
        queries.append(f"chr20:{other}:{ref}:{'A' if ref != 'A' else 'C'}")
    query_file = outdir / "queries.txt"
    query_file.write_text("\n".join(queries) + "\n")
    started = time.perf_counter()
    statuses = {}
    for a in iter_answers([str(query_file)], str(panel), str(allsites), str(fasta)):
        statuses[a.status] = statuses.get(a.status, 0) + 1
    lookup_seconds = time.perf_counter() - started
    size = os.path.getsize(allsites) + os.path.getsize(f"{allsites}.tbi")
    return {
        "length_bp": args.length,
        "cohorts": args.cohorts,
        "groups": len(groups) + 1,
        "panel_records": len(records),
        "callable_intervals_per_cohort": len(manifests[0]["callable"]["chr20"]),
        "allsites_rows": rows,
        "allsites_bytes_with_index": size,
        "allsites_bytes_per_mb": round(size / (args.length / 1e6)),
        "allsites_seconds": round(allsites_seconds, 2),
        "queries": len(queries),
        "lookup_seconds": round(lookup_seconds, 2),
        "queries_per_second": round(len(queries) / lookup_seconds),
        "answers": statuses,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--length", type=int, default=20_000_000)
    parser.add_argument("--cohorts", type=int, default=5)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    print(json.dumps(run(parser.parse_args(argv)), indent=1))


if __name__ == "__main__":
    main()
